"""Figures of a fit's scalar parameters, each panel titled with the parameter's one name
(:func:`bayesmm.naming.canonical`: ``Days``, ``sd_Subject__Intercept``, ``sigma``), the name every table,
message and ``fit.intervals()`` use.

* :func:`plot_trace`: one row per parameter: the draws of each chain against the draw index, and beside it
  the rank plot of Vehtari et al. (2021, "Rank-normalization, folding, and localization", *Bayesian Analysis*
  16(2), section 4.2; bayesplot's ``mcmc_rank_overlay``): the draws of all chains are ranked together and each
  chain's ranks are binned. When the chains agree, every chain's histogram is flat; a chain stuck high or low
  shows as a slope. Rank plots show a mixing problem that overlapping trace lines hide.
* :func:`plot_intervals`: bayesplot's ``mcmc_intervals``: per parameter its posterior median, a 50% and a
  ``prob`` interval, in panels of one scale each (intercepts, other fixed effects, standard deviations,
  correlations, family parameters).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from .arguments import check_prob
from .evidence import draws_of, select

__all__ = ["plot_trace", "plot_intervals"]

#: inches per row of the trace figure and per parameter of the interval figure
ROW_HEIGHT, INTERVAL_HEIGHT = 1.55, 0.32


def _chain_colors(n_chains: int) -> list[str]:
    return [f"C{c % 10}" for c in range(n_chains)]


def rank_histograms(draws: np.ndarray, bins: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(counts per chain and bin, bin edges) of the ranks of ``draws`` (chain, draw) among all chains' draws
    (ties share their mean rank). ``bins`` defaults to about 5 draws per chain and bin, at most 20."""
    chains, n_draws = draws.shape
    bins = bins or int(np.clip(n_draws // 5, 1, 20))
    ranks = stats.rankdata(draws.ravel()).reshape(chains, n_draws)
    edges = np.linspace(0.5, chains * n_draws + 0.5, bins + 1)
    return np.stack([np.histogram(ranks[c], edges)[0] for c in range(chains)]), edges


def plot_trace(fit, var_names=None):
    """Trace and rank plot per parameter (default: the summary's fixed effects, SDs, correlations and family
    parameters; ``var_names`` takes the names ``fit.intervals()`` takes, or a whole posterior variable such
    as ``"b"`` or ``"sd_Subject"``). One colour per chain, shared by both columns; the legend is at the top."""
    import matplotlib.pyplot as plt

    parameters = select(fit, var_names)
    n_chains = fit.idata.posterior.sizes["chain"]
    colors = _chain_colors(n_chains)
    fig, axes = plt.subplots(len(parameters), 2, figsize=(10, ROW_HEIGHT * len(parameters) + 0.9), squeeze=False,
                             sharex="col", layout="constrained", gridspec_kw={"width_ratios": [3, 2]})
    for (trace, rank), parameter in zip(axes, parameters):
        draws = draws_of(fit, parameter)
        for chain, color in enumerate(colors):
            trace.plot(draws[chain], color=color, lw=0.7, alpha=0.85, label=f"chain {chain + 1}")
        counts, edges = rank_histograms(draws)
        for chain, color in enumerate(colors):
            rank.stairs(counts[chain], edges, color=color, lw=1.2, baseline=None)
        rank.axhline(draws.shape[1] / counts.shape[1], color="grey", ls="--", lw=0.8)
        rank.set_ylim(0, 1.15 * counts.max())
        rank.set_yticks([])
        trace.set_title(parameter.name, loc="left", fontsize=10, fontweight="bold")
    axes[-1, 0].set_xlabel("draw (after warmup)")
    axes[-1, 1].set_xlabel("rank among all chains' draws (flat when the chains agree)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=min(n_chains, 8), frameon=False)
    return fig


def _panel(parameter) -> str:
    """The panel of the interval plot a parameter belongs to: one scale per panel."""
    if parameter.kind == "fixed":
        part = "" if parameter.component == "cond" else f" ({parameter.component})"
        intercept = parameter.term == "Intercept" or parameter.term.startswith("Intercept[")
        return ("Intercepts" if intercept else "Fixed effects") + part
    if parameter.kind == "sd" or (parameter.kind == "family" and parameter.name == "sigma"):
        return "Standard deviations"
    return {"cor": "Correlations"}.get(parameter.kind, "Family parameters")


def plot_intervals(fit, parameters=None, prob: float = 0.95):
    """Posterior median (dot), 50% interval (thick) and ``prob`` interval (thin), equal-tailed, per parameter
    (default: fixed effects, SDs, correlations, family parameters), one panel per scale. Intercepts get a panel
    of their own when the model has other fixed effects: an intercept of 250 would squash slopes of 10."""
    import matplotlib.pyplot as plt

    prob = check_prob(prob)
    chosen = select(fit, parameters)
    panels: dict[str, list] = {}
    for parameter in chosen:
        panels.setdefault(_panel(parameter), []).append(parameter)
    if "Intercepts" in panels and "Fixed effects" not in panels:
        panels = {("Fixed effects" if k == "Intercepts" else k): v for k, v in panels.items()}
    heights = [len(members) + 1.2 for members in panels.values()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, INTERVAL_HEIGHT * sum(heights) + 0.6), squeeze=False,
                             layout="constrained", gridspec_kw={"height_ratios": heights})
    tail = (1 - prob) / 2
    for ax, (title, members) in zip(axes[:, 0], panels.items()):
        flat = [draws_of(fit, p).ravel() for p in members]
        low, q25, median, q75, high = np.array([np.quantile(x, [tail, 0.25, 0.5, 0.75, 1 - tail]) for x in flat]).T
        position = np.arange(len(members))[::-1]
        ax.hlines(position, low, high, color="C0", lw=1.2)
        ax.hlines(position, q25, q75, color="C0", lw=4)
        ax.plot(median, position, "o", color="white", mec="C0", ms=5)
        if title.startswith(("Fixed effects", "Correlations")):
            ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(position, [p.name for p in members])
        ax.set_ylim(-0.7, len(members) - 0.3)
        ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    axes[-1, 0].set_xlabel(f"posterior median, 50% and {prob:.0%} intervals")
    return fig
