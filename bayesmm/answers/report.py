"""``fit.report("report.html")`` / ``fit.report("report.md")``: one file describing a fit, for a reader to check.

The sections follow what a reader of a Bayesian mixed-model analysis needs to check it (Gelman et al. 2020,
"Bayesian workflow"; the WAMBS checklist of Depaoli and van de Schoot 2017): the model (formula, family,
data size, every prior in effect), the summary table, p-value analogues of the fixed effects (bayestestR's
pd, ROPE share, Savage-Dickey BF), random-effect SDs and correlations (lme4's ``VarCorr``), the factors'
marginal means and their pairwise comparisons (emmeans), marginal, conditional and Bayesian R², diagnostics
with the GLMM FAQ's advice, plots (intervals of the parameters, trace and rank plots, the random effects'
caterpillar plot, the posterior predictive check) and the software versions, sampler settings and seed that
reproduce the draws. The page opens with a banner: converged or not, and why, in words
(:func:`bayesmm.answers.convergence.status_line`). Every parameter is written by its one name
(:func:`bayesmm.naming.canonical`): the summary and variance tables carry it in a ``parameter`` column, and
the plots' panels are titled with it. HTML embeds its plots (one file that opens with no network); Markdown
writes them as PNG files beside it (:mod:`bayesmm.answers.report_render`); ``embed=`` chooses.
"""
from __future__ import annotations

import dataclasses
import importlib.metadata
import io
import platform
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import naming
from ..errors import BayesMMError
from ..phrasing import reading_code
from ..posterior import parameter_names
from .convergence import ESS_LIMIT, RHAT_LIMIT, mixing_table, rhat_fails, status_line, tree_depth_hits
from .report_render import Banner, Figure, render_html, render_markdown, write_images

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
    ``text``, ``table`` (a DataFrame), ``pre`` (preformatted text) or ``image`` (a
    :class:`~bayesmm.answers.report_render.Figure`)."""

    id: str
    title: str
    blocks: list = field(default_factory=list)


def _titles(fig) -> list[str]:
    return [t for ax in fig.axes if ax.get_visible() for t in (ax.get_title(loc="left"), ax.get_title()) if t]


def _tick_labels(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.get_yticklabels() if t.get_text()]


def _figure(fig, caption: str, stem: str, names=()) -> Figure:
    """The PNG of ``fig`` (closed afterwards), at 96 dpi: a 10-inch figure fills the page's width."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return Figure(buffer.getvalue(), caption, stem, tuple(n for n in names if n))


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


def _named(fit, table: pd.DataFrame) -> pd.DataFrame:
    """``tidy()`` with each row's name (:func:`bayesmm.naming.canonical`) first, the name every other table,
    message and plot of the report uses; the component column only where a part has parameters."""
    table = table.copy()
    table.insert(0, "parameter", [naming.canonical(n) for n in parameter_names(fit.idata, fit.design, fit.family)])
    table[["ess_bulk", "ess_tail"]] = table[["ess_bulk", "ess_tail"]].round(0)  # whole draws read better
    return table.drop(columns=["component"]) if set(table["component"]) == {"cond"} else table


def _summary_section(fit) -> Section:
    table = _named(fit, fit.tidy())
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
    blank = table[["var1", "var2"]].astype(object).where(table[["var1", "var2"]].notna(), None)
    table.insert(0, "parameter", [naming.canonical(naming.from_varcorr(grp, var1, var2, component)) for grp, var1, var2,
                                  component in zip(table["grp"], blank["var1"], blank["var2"], table["component"])])
    table = table.drop(columns=["component"]) if set(table["component"]) == {"cond"} else table
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


#: at most this many rows in the report's trace plot (the worst-mixing parameters when there are more)
TRACE_ROWS = 24


def _trace_parameters(fit) -> tuple[list[str], int]:
    """(the parameters of the trace plot, how many the summary has): all of them, or the ``TRACE_ROWS`` with the
    largest Rhat, in the summary's order."""
    table = mixing_table(fit)
    table = table[table["effect"] != "ranef"]
    names = [p for p in table["parameter"] if naming.parse(p).kind in ("fixed", "sd", "cor", "family")]
    if len(names) <= TRACE_ROWS:
        return names, len(names)
    worst = set(table[table["parameter"].isin(names)].sort_values("rhat", ascending=False)["parameter"][:TRACE_ROWS])
    return [n for n in names if n in worst], len(names)


def _plots_section(fit) -> Section:
    names, total = _trace_parameters(fit)
    shown = "" if len(names) == total else f" Shown: the {len(names)} of {total} parameters with the largest Rhat."
    plots = [
        ("intervals", "Posterior medians with 50% (thick) and 95% (thin) intervals: fixed effects, standard "
                      "deviations, correlations and family parameters, one panel per scale.",
         lambda: fit.plot_intervals(), _tick_labels),
        ("trace", "Left, trace plots: each chain's draws, which should overlap and look like noise. Right, rank "
                  "plots: the draws of all chains ranked together and each chain's ranks binned, flat when the "
                  "chains agree (Vehtari et al. 2021)." + shown, lambda: fit.plot_trace(names), _titles),
        ("ranef", "Random effects: each level's posterior mean and 95% interval, sorted, per group and term.",
         lambda: fit.plot_ranef(), _titles),
        ("ppc", "Posterior predictive check: the observed data against data replicated from the fitted model "
                "(Gabry et al. 2019).", lambda: fit.plot_ppc(), lambda fig: [ax.get_xlabel() for ax in fig.axes]),
    ]
    blocks = []
    for stem, caption, draw, names_of in plots:
        if stem == "ranef" and not fit.design.blocks:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig = draw()
            blocks.append(("image", _figure(fig, caption, stem, names_of(fig))))
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


def banner(fit) -> Banner:
    """Converged or not, and why, in words: the status line of ``print(fit)`` and a sentence per failed check
    saying what it means for the numbers."""
    line = status_line(fit)
    if not line:
        return Banner("ok", f"Converged: every parameter has Rhat below {RHAT_LIMIT} and bulk and tail ESS of at "
                            f"least {ESS_LIMIT}; no transition diverged or hit the maximum tree depth.", _others(fit))
    if fit.method != "nuts":
        return Banner("note", line, "Approximate: the estimates and intervals come from a Gaussian around the "
                                    f"posterior mode, not from draws of the posterior. {_others(fit)}".strip())
    if line.startswith("NOTE"):
        return Banner("note", line, "The first run failed a convergence check; the refit passed them all, and its "
                                    f"draws are the ones reported here. {_others(fit)}".strip())
    return Banner("warning", line, " ".join([*_why(fit), _others(fit)]).strip())


#: fit.diagnose()'s kinds of finding that the status line already covers
_CONVERGENCE_KINDS = {"rhat", "ess_bulk", "ess_tail", "divergences", "treedepth"}


def _others(fit) -> str:
    """The findings that are not about convergence (``pareto_k``, ``singular_sd``, ...), pointed to."""
    kinds = [k for k in dict.fromkeys(fit.diagnose()["kind"]) if k not in _CONVERGENCE_KINDS]
    if not kinds:
        return ""
    return f"Other findings under Diagnostics: {', '.join(kinds)}."


def _why(fit) -> list[str]:
    table = mixing_table(fit)
    summary = table[table["effect"] != "ranef"]
    poor_rhat = int(table.loc[rhat_fails(table), "n_poor"].clip(lower=1).sum())
    divergent = int(fit.idata.sample_stats["diverging"].values.sum())
    hits, depth = tree_depth_hits(fit)
    words = []
    if poor_rhat:
        words.append(f"The chains disagree on {poor_rhat} parameter{'s' if poor_rhat > 1 else ''} (Rhat of "
                     f"{RHAT_LIMIT} or more): they have not settled on one posterior, so no estimate can be trusted "
                     "yet.")
    ess = summary[["ess_bulk", "ess_tail"]].min().min()
    if ess < ESS_LIMIT:
        words.append(f"Too few effective draws: as few as {ess:.0f} where {ESS_LIMIT} are wanted, so means and "
                     "interval ends are imprecise.")
    if divergent:
        words.append(f"{divergent} transition{'s' if divergent > 1 else ''} diverged: the sampler met a region it "
                     "could not explore (often the funnel of a small group SD), which can bias every estimate.")
    if hits:
        words.append(f"{hits} transitions hit the maximum tree depth ({depth}): the sampler stopped early and the "
                     "draws may be strongly correlated.")
    return words + ["Follow the advice under Diagnostics before using these numbers."]


def report(fit, path, embed: bool | None = None) -> str:
    """Write the report of ``fit`` to ``path``: HTML for ``.html``/``.htm``, Markdown for ``.md``. Returns the
    path written. ``embed``: plots inside the file as base64 PNGs (the HTML default: one file that opens with no
    network), or as PNG files in a folder beside it, ``report_files/`` for ``report.md`` (the Markdown
    default)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".markdown"):
        raise BayesMMError(f"Cannot tell the report format from '{path}': name it .html or .md.")
    if not target.parent.exists():
        raise BayesMMError(f"Cannot write the report to '{path}': the folder '{target.parent}' does not exist.")
    is_html = suffix in (".html", ".htm")
    embed = is_html if embed is None else bool(embed)
    title = f"bayesmm report: {fit.formula}"
    sections = build_sections(fit)
    try:
        paths = None if embed else write_images(sections, target)
        text = (render_html if is_html else render_markdown)(sections, title, banner(fit), paths)
        target.write_text(text, encoding="utf-8")
    except OSError as err:
        raise BayesMMError(f"Cannot write the report to '{path}': {err.strerror}.") from None
    return str(target)
