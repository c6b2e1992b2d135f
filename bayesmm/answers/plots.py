"""Figures of a fit (matplotlib, through ArviZ where it fits). Each function returns the figure.

* :func:`plot_trace`, :func:`plot_posterior`: ArviZ's trace and posterior plots of the reported parameters;
* :func:`plot_ppc`: posterior predictive check (Gabry et al. 2019, *JRSS A* 182, "Visualization in Bayesian
  workflow"): overlaid densities for continuous responses (ArviZ's ``plot_ppc``); for discrete responses
  bayesplot's ``ppc_bars`` (observed frequency of each value, with the replicates' mean and interval) beside
  the replicated share of zeros against the observed share;
* :func:`plot_ranef`: caterpillar plot of the random effects per group and term, levels sorted;
* :func:`plot_effects`: brms's ``conditional_effects`` (one predictor, by a second one), from
  :mod:`bayesmm.answers.effects`.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import naming
from ..errors import BayesMMError, closest
from ..posterior import scalar_parameters
from .arguments import check_prob
from .effects import plot_effects
from .probabilities import category_ppc
from .predict import draw_quantities

__all__ = ["plot_trace", "plot_posterior", "plot_ppc", "plot_ranef", "plot_effects", "default_var_names"]


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def _figure(axes):
    return np.ravel(axes)[0].figure


def default_var_names(fit) -> list[str]:
    """Fixed effects, random-effect SDs and family parameters (the parameters a summary reports)."""
    post = fit.idata.posterior
    kinds = {naming.variable(name): name.kind for name, _ in scalar_parameters(post, fit.design, fit.family)}
    return ([n for n in post.data_vars if kinds.get(n) in ("fixed", "sd")]
            + [n for n in post.data_vars if kinds.get(n) == "family"])


def _var_names(fit, var_names):
    valid = list(fit.idata.posterior.data_vars)
    names = default_var_names(fit) if var_names is None else [var_names] if isinstance(var_names, str) else var_names
    for name in names:
        if name not in valid:
            raise BayesMMError(f"No posterior variable '{name}'.{closest(name, valid)} Valid: {valid}.")
    return list(names)


def plot_trace(fit, var_names=None):
    """Trace and density per chain (ArviZ's ``plot_trace``) of ``var_names`` (default: fixed effects, SDs,
    family parameters)."""
    axes = _az().plot_trace(fit.idata, var_names=_var_names(fit, var_names), compact=True)
    return _figure(axes)


def plot_posterior(fit, var_names=None, prob: float = 0.95):
    """Posterior densities with the ``prob`` HDI (ArviZ's ``plot_posterior``); default: fixed effects."""
    prob = check_prob(prob)
    default = [naming.variable("fixed")]
    axes = _az().plot_posterior(fit.idata, var_names=_var_names(fit, var_names or default), hdi_prob=prob)
    return _figure(axes)


def _discrete_ppc(y: np.ndarray, y_rep: np.ndarray, prob: float, max_value: int = 30):
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
    bars.set_xlabel(f"response (values of {cap} or more pooled)" if np.max(y) > cap else "response")
    bars.set_ylabel("rows")
    bars.legend()
    share = np.mean(y_rep == 0, axis=1)
    zeros.hist(share, bins=30, color="C1", alpha=0.7, label="replicated")
    zeros.axvline(np.mean(y == 0), color="k", label="observed")
    zeros.set_xlabel("proportion of zeros")
    zeros.legend()
    fig.tight_layout()
    return fig


def plot_ppc(fit, draws: int = 100, prob: float = 0.9, seed: int = 0):
    """Posterior predictive check: densities of ``draws`` replicated data sets over the observed one
    (continuous responses), or bars of counts with the replicated proportion of zeros (discrete), or bars per
    category (ordinal)."""
    prob = check_prob(prob)
    if fit.design.response_levels:  # ordinal: bars per category (bayesmm.answers.probabilities)
        y_rep, _ = draw_quantities(fit, kind="response", seed=seed)
        return category_ppc(fit.design.y, y_rep, fit.design.response_levels, prob, fit.design.response_name)
    if fit.family.response in ("count", "binomial", "binary"):
        y_rep, _ = draw_quantities(fit, kind="response", seed=seed)
        return _discrete_ppc(fit.design.y, y_rep, prob)
    if "posterior_predictive" not in fit.idata.groups():
        fit.posterior_predictive(seed=seed)
    axes = _az().plot_ppc(fit.idata, num_pp_samples=draws, random_seed=seed)
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
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), max(3, 0.18 * table["level"].nunique())),
                             squeeze=False)
    for ax, (component, name, term) in zip(axes[0], panels):
        rows = table[(table["component"] == component) & (table["group"] == name)
                     & (table["term"] == term)].sort_values("estimate")
        position = np.arange(len(rows))
        estimate, low, high = (rows[c].to_numpy(dtype=float) for c in ("estimate", "conf_low", "conf_high"))
        ax.errorbar(estimate, position, xerr=[estimate - low, high - estimate], fmt="o", ms=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(position if len(rows) <= 60 else [])
        ax.set_yticklabels(list(rows["level"]) if len(rows) <= 60 else [])
        ax.set_title(f"{name}: {term}" if component == "cond" else f"{name}: {component}_{term}")
    fig.tight_layout()
    return fig
