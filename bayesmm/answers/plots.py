"""Figures of a fit (matplotlib, through ArviZ where it fits). Each function returns the figure.

* :func:`plot_trace` (trace and rank plots), :func:`plot_intervals` (:mod:`bayesmm.answers.parameter_plots`),
  :func:`plot_posterior` (ArviZ's densities): one panel per parameter, titled with its name
  (:func:`bayesmm.naming.canonical`, as ``fit.intervals()`` takes it);
* :func:`plot_ppc`: posterior predictive check (Gabry et al. 2019, *JRSS A* 182, "Visualization in Bayesian
  workflow"): overlaid densities for continuous responses (ArviZ's ``plot_ppc``); for discrete responses
  bayesplot's ``ppc_bars`` (observed frequency of each value, with the replicates' mean and interval) beside
  the replicated share of zeros against the observed share;
* :func:`plot_ranef`: caterpillar plot of the random effects per group and term, levels sorted, each panel
  titled as its effects are named, with ``·`` for the level: ``r_Subject[·,Days]``;
* :func:`plot_effects`: brms's ``conditional_effects`` (one predictor, by a second one), from
  :mod:`bayesmm.answers.effects`.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import naming
from ..errors import BayesMMError
from .arguments import check_prob
from .effects import plot_effects
from .evidence import draws_of, select
from .parameter_plots import plot_intervals, plot_trace
from .probabilities import category_ppc
from .predict import draw_quantities

__all__ = ["plot_trace", "plot_intervals", "plot_posterior", "plot_ppc", "plot_ranef", "plot_effects", "response_label"]


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def _figure(axes):
    return np.ravel(axes)[0].figure


def plot_posterior(fit, var_names=None, prob: float = 0.95):
    """Posterior densities with the ``prob`` HDI (ArviZ's ``plot_posterior``), one panel per parameter titled
    with its name (``Days``, ``sd_Subject__Intercept``); default: the fixed effects. ``var_names`` takes the
    names ``fit.intervals()`` takes, or a whole posterior variable (``"b"``, ``"sd_Subject"``)."""
    prob = check_prob(prob)
    draws = {p.name: draws_of(fit, p) for p in select(fit, var_names, default="fixed")}
    return _figure(_az().plot_posterior(draws, hdi_prob=prob))


def _discrete_ppc(y: np.ndarray, y_rep: np.ndarray, prob: float, max_value: int = 30, response: str = "response"):
    import matplotlib.pyplot as plt

    cap = int(min(np.max(y), max_value))
    values = np.arange(cap + 1)
    observed = np.array([np.sum(np.minimum(y, cap) == v) for v in values])
    replicated = np.stack([np.sum(np.minimum(y_rep, cap) == v, axis=1) for v in values], axis=1)
    tail = (1 - prob) / 2
    low, high = np.quantile(replicated, [tail, 1 - tail], axis=0)
    mean = replicated.mean(axis=0)
    fig, (bars, zeros) = plt.subplots(1, 2, figsize=(10, 4))
    bars.bar(values, observed, color="C0", alpha=0.6, label="observed")
    # a skewed count's mean can lie outside its interval (rare large values): clip the bars at the mean
    bars.errorbar(values, mean, yerr=[np.maximum(mean - low, 0), np.maximum(high - mean, 0)], fmt="o", color="k",
                  label="replicated")
    bars.set_xlabel(f"{response} (values of {cap} or more pooled)" if np.max(y) > cap else response)
    bars.set_ylabel("rows")
    bars.legend()
    share = np.mean(y_rep == 0, axis=1)
    zeros.hist(share, bins=30, color="C1", alpha=0.7, label="replicated")
    zeros.axvline(np.mean(y == 0), color="k", label="observed")
    zeros.set_xlabel("proportion of zeros")
    zeros.legend()
    fig.tight_layout()
    return fig


def response_label(design) -> str:
    """The response as an axis names it: its column (``Reaction``), or the successes of a binomial's
    ``cbind(incidence, size - incidence)`` or ``p(s, n)`` (``incidence``), which ``y`` holds."""
    response = design.spec.response
    return response.exprs[0] if response.kind in ("cbind", "trials") else design.response_name


def plot_ppc(fit, draws: int = 100, prob: float = 0.9, seed: int = 0):
    """Posterior predictive check: densities of ``draws`` replicated data sets (at most as many as the fit has)
    over the observed one (continuous responses), or bars of counts with the replicated proportion of zeros (discrete), or bars per
    category (ordinal)."""
    prob = check_prob(prob)
    if fit.design.response_levels:  # ordinal: bars per category (bayesmm.answers.probabilities)
        y_rep, _ = draw_quantities(fit, kind="response", seed=seed)
        return category_ppc(fit.design.y, y_rep, fit.design.response_levels, prob, fit.design.response_name)
    if fit.family.response in ("count", "binomial", "binary"):
        y_rep, _ = draw_quantities(fit, kind="response", seed=seed)
        return _discrete_ppc(fit.design.y, y_rep, prob, response=response_label(fit.design))
    if "posterior_predictive" not in fit.idata.groups():
        fit.posterior_predictive(seed=seed)
    available = int(np.prod([size for dim, size in fit.idata.posterior_predictive.sizes.items()
                             if dim in ("chain", "draw")]))
    axes = _az().plot_ppc(fit.idata, num_pp_samples=max(1, min(int(draws), available)), random_seed=seed,
                          figsize=(8, 4.5), textsize=12)
    for ax in np.ravel(axes):
        ax.set_xlabel(response_label(fit.design))
    return _figure(axes)


def plot_ranef(fit, group: str | None = None, prob: float = 0.95):
    """Caterpillar plot: per group and term, each level's posterior mean with its ``prob`` interval, sorted."""
    import matplotlib.pyplot as plt

    table = fit.ranef(check_prob(prob))
    if table.empty:
        raise BayesMMError("The model has no random effects to plot.")
    if group is not None:
        if group not in set(table["group"]):
            raise BayesMMError(f"No grouping factor '{group}'. Valid: {sorted(set(table['group']))}.")
        table = table[table["group"] == group]
    panels = list(dict.fromkeys(zip(table["component"], table["group"], table["term"])))  # a zi= formula's: its own
    columns = min(3, len(panels))  # wrapped rows: a page is not wide enough for ten panels side by side
    rows_of_panels = -(-len(panels) // columns)
    levels = min(60, table.groupby(["component", "group", "term"]).size().max())  # beyond 60: no labels
    height = max(2.5, 0.17 * levels + 0.8)
    fig, axes = plt.subplots(rows_of_panels, columns, figsize=(3.6 * columns + 0.6, height * rows_of_panels),
                             squeeze=False, layout="constrained")
    for ax, (component, name, term) in zip(axes.ravel(), panels):
        rows = table[(table["component"] == component) & (table["group"] == name)
                     & (table["term"] == term)].sort_values("estimate")
        position = np.arange(len(rows))
        estimate, low, high = (rows[c].to_numpy(dtype=float) for c in ("estimate", "conf_low", "conf_high"))
        ax.errorbar(estimate, position, xerr=[estimate - low, high - estimate], fmt="o", ms=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(position if len(rows) <= 60 else [])
        ax.set_yticklabels(list(rows["level"]) if len(rows) <= 60 else [], fontsize=8)
        ax.set_ylabel(f"level of {name}")
        ax.set_title(naming.canonical(naming.random_effect(name, "·", term, component)), loc="left", fontsize=10,
                     fontweight="bold")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    return fig
