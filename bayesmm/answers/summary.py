"""The brms-like text summary printed by ``print(fit)``."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..phrasing import command_line
from .. import naming
from .convergence import ESS_LIMIT, RHAT_LIMIT, mixing_table, rhat_fails, status_line
from ..posterior import parameter_names

__all__ = ["summary_text"]

_HEADER = ["Estimate", "Est.Error", "l-95% CI", "u-95% CI", "Rhat", "Bulk_ESS", "Tail_ESS"]


def _section(table: pd.DataFrame, labels: list[str]) -> str:
    frame = pd.DataFrame({
        "Estimate": table["estimate"].map(_num), "Est.Error": table["std_error"].map(_num),
        "l-95% CI": table["conf_low"].map(_num), "u-95% CI": table["conf_high"].map(_num),
        "Rhat": table["rhat"].map(lambda v: "NA" if not np.isfinite(v) else f"{v:.2f}"),
        "Bulk_ESS": table["ess_bulk"].map(_ess), "Tail_ESS": table["ess_tail"].map(_ess)})
    frame.index = labels
    return frame.to_string() + "\n"


def _num(value: float) -> str:
    if not np.isfinite(value):
        return "NA"
    return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2e}"


def _ess(value: float) -> str:
    return "NA" if not np.isfinite(value) else f"{value:.0f}"


def _links(fit) -> str:
    from ..families import part_link

    parts = fit.design.parts
    links = [f"mu = {fit.family.link}"] + [f"{aux.name} = {part_link(aux.name) if aux.name in parts else 'identity'}"
                                           for aux in fit.family.aux]
    return "; ".join(links)


def summary_text(fit) -> str:
    """The status line when a check failed (:func:`bayesmm.answers.convergence.status_line`); family, links, formula,
    data size, draws; group-level, population-level and family sections; one warning line per finding of
    ``fit.diagnose()``."""
    table = fit.tidy(0.95)
    names = parameter_names(fit.idata, fit.design, fit.family)
    labels = pd.Series([naming.summary_label(name) for name in names], index=table.index)
    kinds = pd.Series([name.kind for name in names], index=table.index)
    s = fit.settings
    design = fit.design
    status = status_line(fit)
    lines = ([status, ""] if status else []) + [f" Family: {fit.family.name} ", f"  Links: {_links(fit)} ", f"Formula: {fit.formula} ",
             f"   Data: {fit.data_name} (Number of observations: {design.n_obs})"
             + (f"; {design.n_dropped} rows with missing values dropped" if design.n_dropped else ""),
             *(_draws_lines(s) if fit.method == "nuts" else
               [" Method: approximate (Laplace): posterior mode, random effects integrated by the Laplace "
                "approximation;", f"         {s.chains * s.draws} independent draws from the Gaussian around the mode"])]
    plan = fit.idata.posterior.attrs.get("plan")
    lines += ([f"   Plan: {plan}"] if plan else []) + [""]
    ran = table[kinds.isin(["sd", "cor", "structure"])]
    if len(ran):
        lines.append("Group-Level Effects: ")
        for group, rows in ran.groupby("group", sort=False):
            block = next(b for b in design.blocks if b.group == group)
            lines.append(f"~{group} (Number of levels: {block.n_levels}) ")
            lines.append(_section(rows, list(labels[rows.index])))
    autocor = table[kinds == "autocor"]
    if len(autocor):  # brms's heading for ar(); the structure as the call gave it
        lines.append(f"Correlation Structures: {design.autocor.text} ({design.autocor.n_series} series)")
        lines.append(_section(autocor, list(labels[autocor.index])))
    fixed = table[kinds == "fixed"]
    lines.append("Population-Level Effects: ")
    lines.append(_section(fixed, list(labels[fixed.index])))
    family_rows = table[kinds == "family"]
    if len(family_rows):
        lines.append("Family Specific Parameters: ")
        lines.append(_section(family_rows, list(labels[family_rows.index])))
    lines.append("Draws were sampled using NUTS (numpyro). For each parameter, Bulk_ESS and Tail_ESS are "
                 "effective sample size measures, and Rhat is the potential scale reduction factor on split "
                 "chains (at convergence, Rhat = 1)." if fit.method == "nuts" else
                 "Draws are from the Laplace approximation (approximate): a Gaussian around the posterior mode in "
                 "unconstrained coordinates; Rhat and ESS do not apply (NA).")
    lines += _warnings(fit, table)
    return "\n".join(lines)


def _draws_lines(s) -> list[str]:
    return [f"  Draws: {s.chains} chains, each with iter = {s.warmup + s.draws}; warmup = {s.warmup}; thin = 1;",
            f"         total post-warmup draws = {s.chains * s.draws}"]


def _warnings(fit, table: pd.DataFrame) -> list[str]:
    """Rhat and ESS problems one line per kind, listing the parameters (by the names ``fit.intervals()`` takes); then
    one line per other finding of ``fit.diagnose()``; then a pointer to the advice."""
    findings = fit.diagnose()
    if not len(findings):
        return []
    mixing = mixing_table(fit)
    summary = mixing[mixing["effect"] != "ranef"]
    out = []
    grouped = {f"Rhat > {RHAT_LIMIT}": mixing[rhat_fails(mixing)],
               f"bulk ESS < {ESS_LIMIT}": summary[summary["ess_bulk"] < ESS_LIMIT],
               f"tail ESS < {ESS_LIMIT}": summary[summary["ess_tail"] < ESS_LIMIT]}
    for label, rows in grouped.items():
        if len(rows):
            names = [f"{r.n_poor} effects of {r.group}'s levels{'' if r.component == 'cond' else ' in ' + r.component}"
                     + (f" at {r.rhat_limit:.3f} or more" if r.rhat_limit > RHAT_LIMIT else "")
                     if r.effect == "ranef" else r.label for r in rows.itertuples()]
            tail = (": the chains have not converged; run longer chains before using these results."
                    if label.startswith("Rhat") else ": estimates are imprecise; run more draws.")
            out.append(f"Warning: {int(rows['n_poor'].clip(lower=1).sum())} parameters have {label} "
                       f"({', '.join(names)}){tail}")
    convergence = ("rhat", "ess_bulk", "ess_tail")
    for row in findings[~findings["kind"].isin(convergence)].itertuples():
        out.append(f"Warning [{row.kind}]" + (f" {row.parameter}" if row.parameter else "") + f": {row.message}")
    if command_line() is None:
        out.append("See fit.diagnose() for advice on each warning.")
        return out
    # on the command line, the advice itself: commands to run, each line once
    advice = dict.fromkeys(line for text in findings["advice"] for line in str(text).split("\n") if line.strip())
    return out + ["Advice:"] + [f"  {line}" for line in advice]
