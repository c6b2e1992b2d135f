"""Predictions of the training rows of a model with autocorrelated residuals (``autocor=``, :mod:`bayesmm.autocor`).

A training row's expected response given the data before it is its mean plus the AR(1) residual's conditional mean,
``mu_t + sigma_t phi_t (y_p - mu_p) / sigma_p`` with ``phi_t = rho^d`` (``d`` the time step to its predecessor
``p``; a series' first row keeps ``mu_t``), and its response draws scatter around that with SD
``sigma_t sqrt(1 - phi_t^2)``: brms's default for ``ar()`` (``incl_autocor = TRUE``). nlme's ``predict`` leaves the
residual out: the same rows passed as ``newdata`` give those means, as do new rows (whose residuals are unknown).
"""
from __future__ import annotations

import numpy as np

from .group_effects import flat_draws

__all__ = ["conditional_on_previous", "autocor_findings", "EDGE"]

#: ``diagnose()`` flags the correlation of successive rows when its 95% interval reaches this close to +/-1
EDGE = 0.97


def conditional_on_previous(fit, mean: np.ndarray, sigma, index, kind: str, seed: int) -> np.ndarray:
    """(draws x rows) expected responses (``kind="mean"``) or response draws (``"response"``) of the training rows
    given each row's predecessor; ``mean`` and ``sigma`` (per draw, or per draw and row) without the residual's
    autocorrelation."""
    autocor = fit.design.autocor
    rho = flat_draws(fit, autocor.parameter, index)[:, None]
    has = autocor.previous >= 0
    previous = np.where(has, autocor.previous, np.arange(has.size))
    phi = np.where(has, np.power(rho, np.where(has, autocor.step, 1.0)), 0.0)
    sigma = np.broadcast_to(np.asarray(sigma)[:, None] if np.ndim(sigma) == 1 else sigma, mean.shape)
    residual = (fit.design.y[previous] - mean[:, previous]) / sigma[:, previous]
    conditional = mean + sigma * phi * residual
    if kind == "mean":
        return conditional
    noise = np.random.default_rng([seed, 24]).standard_normal(mean.shape)
    return conditional + sigma * np.sqrt(1.0 - phi * phi) * noise


def autocor_findings(fit) -> list[dict]:
    """A finding when the 95% interval of the correlation between successive rows (rho to the power of the median
    time step) reaches within ``1 - EDGE`` of +1 or -1: a non-stationary residual (a random walk, or a trend the
    fixed part lacks)."""
    autocor = fit.design.autocor
    if autocor is None:
        return []
    draws = fit.idata.posterior[autocor.parameter].values.ravel()
    step = float(np.median(autocor.step[autocor.previous >= 0])) if np.any(autocor.previous >= 0) else 1.0
    low, median, high = np.quantile(np.power(draws, step), [0.025, 0.5, 0.975])  # at the typical step
    if -EDGE < low and high < EDGE:
        return []
    side = "+1" if high >= EDGE else "-1"
    cause = ("residuals that hardly revert to the mean: a trend over time or a covariate the fixed part lacks, or a "
             "random walk" if side == "+1" else "residuals that flip sign from one time to the next: an "
             "over-differenced or alternating series")
    advice = (f"Add the time trend or the missing covariate to the formula (e.g. '+ {autocor.time or 'time'}'); "
              "or model the series' own level with a random effect.")
    return [{"kind": "autocor_edge", "parameter": autocor.parameter,
             "message": f"{autocor.parameter} is near {side} (the correlation of successive rows"
                        f"{f' {step:g} time units apart' if step != 1 else ''}: posterior median {median:.3f}, 95% interval "
                        f"[{low:.3f}, {high:.3f}]): {cause}; the residual SD and the fixed effects' intervals then "
                        "depend strongly on rho.", "advice": advice}]
