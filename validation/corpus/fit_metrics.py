"""What the corpus records about one fit: convergence numbers from the posterior and the distance of the
fixed effects from the R reference. Independent of bayesmm's own summaries: everything is read from
``fit.idata`` with ArviZ.

Posterior variables (bayesmm's naming): ``b`` (fixed effects, coordinate ``coef``), ``b_zi``/``b_hu``
(fixed effects of a zi=/hu= formula), ``sd_<group>``, ``cor_<group>`` (a full matrix: only the upper
triangle is a parameter), ``r_<group>`` (random effects), and the family parameters by name
(``sigma``, ``phi``, ``alpha``, ``shape``, ``nu``, ``zi``, ``hu``).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr

REFERENCE = Path(__file__).parent / "reference"
#: A fit is clean when max Rhat < RHAT_CLEAN, every hyperparameter's bulk and tail ESS >= ESS_CLEAN and no
#: transition diverged.
RHAT_CLEAN, ESS_CLEAN = 1.01, 400


def hyperparameters(posterior: xr.Dataset) -> tuple[list[str], np.ndarray]:
    """Names and draws (chain, draw, parameter) of the fixed effects, SDs, correlations and family
    parameters: every posterior variable except the random effects ``r_*``."""
    names, columns = [], []
    for var, data in posterior.data_vars.items():
        if var.startswith("r_"):
            continue
        values = data.values.reshape(data.shape[:2] + (-1,))
        coords = [data[d].values for d in data.dims[2:]]
        labels = [".".join(str(coords[k][i]) for k, i in enumerate(index)) for index in np.ndindex(*data.shape[2:])]
        keep = range(values.shape[-1])
        if var.startswith("cor_"):  # a q x q matrix: keep the upper triangle
            q = data.shape[2]
            keep = [i * q + j for i in range(q) for j in range(i + 1, q)]
        for k in keep:
            names.append(f"{var}[{labels[k]}]" if coords else var)
            columns.append(values[..., k])
    return names, np.stack(columns, axis=-1)


def _quietly(function, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def convergence(idata) -> dict:
    """Max Rhat over every posterior parameter (random effects included), min bulk/tail ESS over the
    hyperparameters, and the number of divergent transitions."""
    posterior = idata.posterior
    rhat = _quietly(az.rhat, posterior)
    worst_rhat, worst_name = -np.inf, ""
    for var, values in rhat.data_vars.items():
        array = np.array(values.values, dtype=float)
        if var.startswith("cor_"):  # the diagonal is constant; the lower triangle repeats the upper
            array[np.tril_indices(array.shape[0])] = np.nan
        if np.isfinite(array).any() and np.nanmax(array) > worst_rhat:
            index = np.unravel_index(np.nanargmax(array), array.shape)
            label = ".".join(str(values[d].values[i]) for d, i in zip(values.dims, index))
            worst_rhat, worst_name = float(np.nanmax(array)), f"{var}[{label}]" if label else var
    names, draws = hyperparameters(posterior)
    data = xr.Dataset({"x": (("chain", "draw", "p"), draws)})
    bulk = _quietly(az.ess, data, method="bulk")["x"].values
    tail = _quietly(az.ess, data, method="tail")["x"].values
    low = int(np.nanargmin(np.minimum(bulk, tail)))
    diverging = idata.sample_stats["diverging"].values if "diverging" in idata.sample_stats else np.zeros(1)
    return {"max_rhat": worst_rhat, "rhat_param": worst_name, "min_ess_bulk": float(np.nanmin(bulk)),
            "min_ess_tail": float(np.nanmin(tail)), "ess_param": names[low], "divergences": int(np.sum(diverging))}


def reference(name: str) -> dict | None:
    """The R fit of a model (reference/<name>.json), or None."""
    path = REFERENCE / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def ml_block(ref: dict) -> dict:
    """The maximum-likelihood estimates: the ML block of an lmer fit, else the whole record."""
    return ref.get("ML", ref)


def name_key(term: str) -> frozenset:
    """A fixed effect's name in a form both R and bayesmm names reduce to: bayesmm's ``trt[progabide]`` and
    R's ``trtprogabide`` -> 'trtprogabide'; interactions as the set of their parts (R and formulae may order
    the parts differently: ``cses:sectorPrivate`` vs ``sector[Private]:cses``)."""
    if term in ("Intercept", "(Intercept)"):
        return frozenset({"(Intercept)"})
    return frozenset(re.sub(r"\[([^\]]*)\]", r"\1", part) for part in term.split(":"))


def fixef_distance(posterior: xr.Dataset, ref: dict) -> tuple[float, str, int]:
    """Largest |posterior mean - ML estimate| / posterior SD over the fixed effects of the mean model, the
    worst term, and how many bayesmm terms found no R counterpart."""
    ml = {name_key(k): v for k, v in ml_block(ref)["fixef"].items()}
    draws = posterior["b"].values.reshape(-1, posterior["b"].shape[-1])
    worst, worst_term, unmatched = 0.0, "", 0
    for j, term in enumerate(posterior["coef"].values):
        key = name_key(str(term))
        if key not in ml:
            unmatched += 1
            continue
        z = abs(draws[:, j].mean() - ml[key]) / draws[:, j].std(ddof=1)
        if z > worst:
            worst, worst_term = float(z), str(term)
    return worst, worst_term, unmatched


def is_clean(row: dict) -> bool:
    return (row.get("error", "") == "" and row["max_rhat"] < RHAT_CLEAN and row["divergences"] == 0
            and min(row["min_ess_bulk"], row["min_ess_tail"]) >= ESS_CLEAN)


def reasons(row: dict) -> str:
    """Why a fit is not clean, in a few words."""
    if row.get("error"):
        return f"error: {row['error']}"
    out = []
    if not row["max_rhat"] < RHAT_CLEAN:
        out.append(f"Rhat {row['max_rhat']:.3f} ({row['rhat_param']})")
    if min(row["min_ess_bulk"], row["min_ess_tail"]) < ESS_CLEAN:
        out.append(f"ESS bulk {row['min_ess_bulk']:.0f} / tail {row['min_ess_tail']:.0f} ({row['ess_param']})")
    if row["divergences"]:
        out.append(f"{row['divergences']} divergences")
    return "; ".join(out)
