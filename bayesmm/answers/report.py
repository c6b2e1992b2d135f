"""``fit.report("report.html")`` / ``fit.report("report.md")``: one self-contained file describing a fit.

The sections follow what a reader of a Bayesian mixed-model analysis needs to check it (Gelman et al. 2020,
"Bayesian workflow"; the WAMBS checklist of Depaoli and van de Schoot 2017): the model (formula, family,
data size, every prior in effect), the summary table, p-value analogues of the fixed effects (bayestestR's
pd, ROPE share, Savage-Dickey BF), random-effect SDs and correlations (lme4's ``VarCorr``), the factors'
marginal means and their pairwise comparisons (emmeans), marginal, conditional and Bayesian R², diagnostics
with the GLMM FAQ's advice, trace and posterior predictive plots, and the software versions, sampler
settings and seed that reproduce the draws. Plots are embedded as base64 PNGs, so the file opens in a
browser (or a Markdown viewer) with no network. A fit that failed a convergence check opens with its status
line (:func:`bayesmm.answers.convergence.status_line`), above the title.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import importlib.metadata
import io
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..phrasing import reading_code
from ..errors import BayesMMError

__all__ = ["report", "build_sections", "SECTIONS"]

#: Section ids and titles, in the order they appear (the tests check every one is present).
SECTIONS = {
    "model": "Model",
    "priors": "Priors",
    "summary": "Summary",
    "pvalues": "Fixed effects: p-value analogues",
    "varcorr": "Random-effect variances and correlations",
    "means": "Marginal means and comparisons",
    "r2": "Variance explained (R²)",
    "diagnostics": "Diagnostics",
    "plots": "Plots",
    "reproduce": "Reproducing this report",
}

_PACKAGES = ("bayesmm", "numpyro", "jax", "jaxlib", "arviz", "numpy", "scipy", "pandas", "formulae", "matplotlib")


@dataclass
class Section:
    """One section: an id (the HTML anchor), a title, and blocks ``(kind, content)`` where kind is
    ``text``, ``table`` (a DataFrame), ``pre`` (preformatted text) or ``image`` (PNG bytes, caption)."""

    id: str
    title: str
    blocks: list = field(default_factory=list)


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        return f"{value:.4g}"
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _model_section(fit) -> Section:
    design = fit.design
    rows = [("Formula", fit.formula), ("Family", fit.family.name), ("Link", fit.family.link),
            ("Data", fit.data_name), ("Observations", design.n_obs), ("Rows dropped (missing values)",
                                                                      design.n_dropped)]
    rows += [(f"{name}= formula", text) for name, text in (("zi", fit.call.zi), ("hu", fit.call.hu),
                                                           ("dispersion", fit.call.dispersion)) if text]
    rows += list(dict.fromkeys((f"Levels of {block.group}", block.n_levels) for block in design.blocks))
    if design.aliased:
        rows.append(("Aliased columns dropped", ", ".join(design.aliased)))
    table = pd.DataFrame(rows, columns=["", "value"]).set_index("")
    return Section("model", SECTIONS["model"], [("table", table)])


def _priors_section(fit) -> Section:
    text = "Every prior in effect, after autoscaling to the data; the source column gives the rule that set it."
    return Section("priors", SECTIONS["priors"], [("text", text), ("table", fit.priors)])


def _summary_section(fit) -> Section:
    table = fit.tidy().drop(columns=["component"], errors="ignore")
    text = ("Posterior mean (estimate), SD (std_error) and equal-tailed 95% credible interval per parameter, "
            "with Rhat and bulk/tail effective sample sizes (Vehtari et al. 2021).")
    return Section("summary", SECTIONS["summary"], [("text", text), ("pre", str(fit)), ("table", table)])


def _pvalues_section(fit) -> Section:
    text = ("pd: posterior probability of the estimate's sign; p_direction = 2 (1 - pd); in_rope: share of the "
            "posterior inside the region of practical equivalence; p_map: density at 0 over density at the "
            "mode; bf10: Savage-Dickey Bayes factor against 0, which depends on the prior (bayestestR, "
            "Makowski et al. 2019).")
    blocks = [("text", text)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = fit.pvalues()
        notes = table["bf_note"] if "bf_note" in table.columns else pd.Series(dtype=str)
        blocks.append(("table", pd.DataFrame(table.drop(columns=["bf_note"], errors="ignore"))))
        blocks += [("text", f"bf10 note, {name}: {note}") for name, note in notes.items() if note]
    except BayesMMError as err:
        blocks.append(("text", f"Not available: {err}"))
    return Section("pvalues", SECTIONS["pvalues"], blocks)


def _varcorr_section(fit) -> Section:
    table = fit.varcorr()
    text = ("Standard deviations and correlations of the random effects (posterior means and 95% intervals), "
            "in lme4's VarCorr layout; the residual SD of gaussian models is group Residual.")
    if not len(table):
        return Section("varcorr", SECTIONS["varcorr"], [("text", "The model has no random effects.")])
    return Section("varcorr", SECTIONS["varcorr"], [("text", text), ("table", table)])


def _factors(fit) -> list[str]:
    """The fixed part's factors (columns that are not numbers), in formula order."""
    from ..formula import expression_variables

    names = [v for t in fit.design.spec.fixed_terms for v in expression_variables(t.lstrip("- "))]
    return [v for v in dict.fromkeys(names) if v not in fit.design.numeric_columns]


def _means_section(fit) -> Section:
    factors = _factors(fit)
    if not factors:
        return Section("means", SECTIONS["means"], [("text", "The fixed part has no factor.")])
    blocks = [("text", "Estimated marginal means of each factor (emmeans): the expected response per level, "
                       "random effects at 0, other factors averaged with equal weights and numeric predictors at "
                       "their means; then every pairwise comparison (difference, ratio or odds ratio as the link "
                       "makes natural), with pd, the posterior probability of its sign.")]
    for factor in factors:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                blocks += [("text", f"{factor}:"), ("table", fit.means(factor)),
                           ("table", fit.comparisons(factor))]
        except BayesMMError as err:
            blocks.append(("text", f"{factor}: not available: {err}"))
    return Section("means", SECTIONS["means"], blocks)


def _r2_section(fit) -> Section:
    text = ("Marginal R² (the fixed effects' share of the variance) and conditional R² (fixed and random "
            "effects), as Nakagawa, Johnson and Schielzeth (2017), and the Bayesian R² of Gelman et al. (2019); "
            "posterior means with 95% intervals.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Section("r2", SECTIONS["r2"], [("text", text), ("table", fit.r2())])
    except BayesMMError as err:
        return Section("r2", SECTIONS["r2"], [("text", f"Not available: {err}")])


def _diagnostics_section(fit) -> Section:
    findings = fit.diagnose()
    divergent = fit.n_divergent
    blocks = [("text", f"Divergent transitions: {divergent}. Sampling took {fit.seconds:.1f} s.")]
    if len(findings):
        blocks.append(("text", "Each finding with its likely cause; the advice is code to paste."))
        blocks.append(("pre", repr(findings)))
    else:
        blocks.append(("text", "No problems found: convergence, singular fits, separation and group sizes "
                               "all look fine."))
    return Section("diagnostics", SECTIONS["diagnostics"], blocks)


def _plots_section(fit) -> Section:
    blocks = []
    replicates = min(100, fit.settings.chains * fit.settings.draws)  # a short run has fewer draws than 100
    for caption, draw in [("Trace plots: chains should overlap and look like noise.", fit.plot_trace),
                          ("Posterior predictive check: the observed data against data replicated from "
                           "the fitted model (Gabry et al. 2019).", lambda: fit.plot_ppc(draws=replicates))]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                blocks.append(("image", (_png(draw()), caption)))
        except BayesMMError as err:
            blocks.append(("text", f"{caption} Not available: {err}"))
    return Section("plots", SECTIONS["plots"], blocks)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _called(fit):
    """The settings of the call that made ``fit``: the kept fit's, but with the draws and ``target_accept`` the
    call asked for (the safeguard may have raised them; the same call raises them again)."""
    attrs = fit.idata.posterior.attrs
    return dataclasses.replace(fit.settings, draws=int(attrs.get("call_draws", fit.settings.draws)),
                               target_accept=float(attrs.get("call_target_accept", fit.settings.target_accept)))


def _call(fit) -> str:
    settings = _called(fit)
    arguments = fit.call.arguments()
    formula = arguments.pop("formula", fit.formula)
    defaults = {"family": "gaussian", "priors": None, "link": None, "na_action": "omit", "weights": None,
                "zi": None, "hu": None, "dispersion": None, "factors": None}
    extra = "".join(f", {k}={v!r}" for k, v in arguments.items() if k in defaults and v != defaults[k])
    return (f"import bayesmm as bmm\n{reading_code(fit)}\n\nfit = bmm.fit({formula!r}, data{extra},\n"
            f"              chains={settings.chains}, draws={settings.draws}, warmup={settings.warmup}, "
            f"seed={settings.seed},\n              target_accept={settings.target_accept}, "
            f"max_tree_depth={settings.max_tree_depth})")


def _reproduce_section(fit) -> Section:
    settings = _called(fit)
    rows = [("seed", settings.seed), ("chains", settings.chains), ("warmup", settings.warmup),
            ("draws", settings.draws), ("target_accept", settings.target_accept),
            ("max_tree_depth", settings.max_tree_depth), ("python", platform.python_version()),
            ("platform", platform.platform())]
    rows += [(package, _version(package)) for package in _PACKAGES]
    table = pd.DataFrame(rows, columns=["", "value"]).set_index("")
    text = (f"The same call, data ({fit.data_name}) and versions give the same draws on the same machine "
            "(chains in parallel on the CPU; other hardware may differ in the last digits).")
    return Section("reproduce", SECTIONS["reproduce"], [("text", text), ("pre", _call(fit)), ("table", table)])


def build_sections(fit) -> list[Section]:
    """The report's sections, in :data:`SECTIONS` order."""
    return [_model_section(fit), _priors_section(fit), _summary_section(fit), _pvalues_section(fit),
            _varcorr_section(fit), _means_section(fit), _r2_section(fit), _diagnostics_section(fit),
            _plots_section(fit), _reproduce_section(fit)]


# ------------------------------------------------------------------------------------------ rendering
_CSS = """body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:2px 6px}
td{text-align:right}th{background:#f2f2f2}pre{background:#f7f7f7;padding:0.6em;overflow-x:auto}
img{max-width:100%}nav a{margin-right:1em}.status{background:#fdecea;border-left:4px solid #c0392b;padding:0.5em}"""


def _html_table(table: pd.DataFrame) -> str:
    index = table.index.name is not None or not isinstance(table.index, pd.RangeIndex)
    head = ([html.escape(str(table.index.name or ""))] if index else []) + [html.escape(str(c)) for c in table]
    lines = ["<table>", "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>", "<tbody>"]
    for label, row in table.iterrows():
        cells = ([f"<th>{html.escape(_fmt(label))}</th>"] if index else [])
        cells += [f"<td>{html.escape(_fmt(v))}</td>" for v in row]
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(lines + ["</tbody>", "</table>"])


def _html(sections: list[Section], title: str, status: str = "") -> str:
    nav = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>"]
    if status:
        out.append(f'<p class="status"><strong>{html.escape(status)}</strong></p>')
    out += [f"<h1>{html.escape(title)}</h1>", f"<nav>{nav}</nav>"]
    for section in sections:
        out.append(f'<section id="{section.id}">')
        out.append(f"<h2>{html.escape(section.title)}</h2>")
        for kind, content in section.blocks:
            if kind == "text":
                out.append(f"<p>{html.escape(content)}</p>")
            elif kind == "pre":
                out.append(f"<pre>{html.escape(content)}</pre>")
            elif kind == "table":
                out.append(_html_table(content))
            else:
                png, caption = content
                encoded = base64.b64encode(png).decode("ascii")
                out.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{encoded}">'
                           f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        out.append("</section>")
    return "\n".join(out + ["</body>", "</html>", ""])


def _md_cell(value) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def _md_table(table: pd.DataFrame) -> str:
    index = table.index.name is not None or not isinstance(table.index, pd.RangeIndex)
    head = ([str(table.index.name or "")] if index else []) + [str(c) for c in table]
    lines = ["| " + " | ".join(_md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    for label, row in table.iterrows():
        cells = ([_md_cell(label)] if index else []) + [_md_cell(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _markdown(sections: list[Section], title: str, status: str = "") -> str:
    out = ([f"**{status}**", ""] if status else []) + [f"# {title}", ""]
    for section in sections:
        out += [f'<a id="{section.id}"></a>', "", f"## {section.title}", ""]
        for kind, content in section.blocks:
            if kind == "text":
                out += [content, ""]
            elif kind == "pre":
                out += ["```", content, "```", ""]
            elif kind == "table":
                out += [_md_table(content), ""]
            else:
                png, caption = content
                out += [f"![{caption}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})", "",
                        f"*{caption}*", ""]
    return "\n".join(out)


def report(fit, path) -> str:
    """Write the report of ``fit`` to ``path``: HTML for ``.html``/``.htm``, Markdown for ``.md``. Returns
    the path written."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".markdown"):
        raise BayesMMError(f"Cannot tell the report format from '{path}': name it .html or .md.")
    if not target.parent.exists():
        raise BayesMMError(f"Cannot write the report to '{path}': the folder '{target.parent}' does not exist.")
    title = f"bayesmm report: {fit.formula}"
    sections = build_sections(fit)
    status = fit.status()
    text = _html(sections, title, status) if suffix in (".html", ".htm") else _markdown(sections, title, status)
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as err:
        raise BayesMMError(f"Cannot write the report to '{path}': {err.strerror}.") from None
    return str(target)
