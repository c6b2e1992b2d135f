"""Fit -> LOO and WAIC through ArviZ, and :func:`compare` for several fits.

The pointwise log-likelihood is stored with every fit (``idata.log_likelihood["y"]``, one value per row
of the data: per observation, for binomial models per row of successes/trials, weighted rows counted
``w`` times). For random-effect models it is conditional on the random effects (brms's default), so
observations of small groups can be influential: Pareto k above 0.7 means PSIS-LOO is unreliable for them
(Vehtari, Gelman and Gabry 2017; the loo package's threshold); the warning says how many and what to do.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..errors import BayesMMError, BayesMMWarning
from .evidence import AnswerTable

__all__ = ["loo", "waic", "compare", "K_THRESHOLD"]

K_THRESHOLD = 0.7


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def _check_log_likelihood(fit, what: str) -> None:
    if "log_likelihood" not in fit.idata.groups() or "y" not in fit.idata.log_likelihood:
        raise BayesMMError(f"{what} needs the pointwise log-likelihood (idata.log_likelihood['y']), which this fit "
                           "lacks: bayesmm does not keep it above 200 million draws x rows (memory). Refit with "
                           "fewer draws (draws x chains x rows <= 2e8), or on a subset of the rows.")
    values = fit.idata.log_likelihood["y"].values
    if not np.all(np.isfinite(values)):
        raise BayesMMError(f"{what}: the pointwise log-likelihood is not finite for some draws and observations; "
                           "check the fit's convergence (fit.diagnose()) before comparing models.")


def loo(fit, pointwise: bool = True):
    """PSIS-LOO (ArviZ's ``az.loo``): ``elpd_loo``, its SE, ``p_loo`` and, with ``pointwise``, the Pareto
    k of every observation. Warns (:class:`BayesMMWarning`) when some k exceed 0.7, naming the rows."""
    def compute():
        _check_log_likelihood(fit, "loo()")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _az().loo(fit.idata, pointwise=True)

    result = fit.memo(("loo", pointwise), compute)
    k = np.asarray(result.pareto_k)
    bad = np.flatnonzero(k > K_THRESHOLD)
    if bad.size:
        labels = fit.design.row_labels
        rows = [labels[i] if labels is not None else i for i in bad[:10]]
        warnings.warn(f"PSIS-LOO: {bad.size} of {k.size} observations have Pareto k > {K_THRESHOLD} (rows {rows}"
                      f"{', ...' if bad.size > 10 else ''}); their LOO estimates are unreliable. These are usually "
                      "observations with much influence (an outlier, a small group); consider a more robust "
                      "family or exact leave-one-out refits for those rows.", BayesMMWarning, stacklevel=3)
    return result


def waic(fit, pointwise: bool = True):
    """WAIC (ArviZ's ``az.waic``): ``elpd_waic``, its SE and ``p_waic``. PSIS-LOO is preferred (Vehtari et
    al. 2017); ArviZ warns when the WAIC variance of some observation exceeds 0.4."""
    def compute():
        _check_log_likelihood(fit, "waic()")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _az().waic(fit.idata, pointwise=True)
        if any("posterior variance of the log predictive" in str(w.message) for w in caught):
            warnings.warn("WAIC: some observations have a posterior variance of the log predictive density above "
                          "0.4, so WAIC may be unreliable; use loo() instead.", BayesMMWarning, stacklevel=4)
        return result

    return fit.memo(("waic", pointwise), compute)


def compare(fits: dict, ic: str = "loo", method: str = "stacking") -> pd.DataFrame:
    """ArviZ's ``az.compare`` table for ``{"name": fit, ...}``: ranked by ``elpd_<ic>``, with ``elpd_diff``
    and its SE ``dse`` against the best model, ``weight`` (stacking by default) and ``warning``. The fits
    must be of the same observations (same response values, in the same order)."""
    if not isinstance(fits, dict) or len(fits) < 2:
        raise BayesMMError("compare() takes a dict of at least two fits, e.g. {'m1': fit1, 'm2': fit2}.")
    if ic not in ("loo", "waic"):
        raise BayesMMError(f"ic must be 'loo' or 'waic', not {ic!r}.")
    for name, fit in fits.items():
        if not hasattr(fit, "idata") or not hasattr(fit, "memo"):
            raise BayesMMError(f"compare(): '{name}' is a {type(fit).__name__}, not a bayesmm Fit.")
        _check_log_likelihood(fit, "compare()")
    names = list(fits)
    first = fits[names[0]].idata.observed_data["y"].values
    for name in names[1:]:
        other = fits[name].idata.observed_data["y"].values
        if other.shape != first.shape or not np.array_equal(other, first):
            raise BayesMMError(f"compare(): '{name}' and '{names[0]}' were fitted to different observations "
                               f"({other.size} and {first.size} rows, or other values or order); LOO and WAIC "
                               "only compare models of the same data. Drop missing rows before fitting both.")
    scale_fn = loo if ic == "loo" else waic
    for fit in fits.values():
        scale_fn(fit)  # warns about Pareto k once per fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = _az().compare({name: fit.idata for name, fit in fits.items()}, ic=ic, method=method)
    return AnswerTable(table)
