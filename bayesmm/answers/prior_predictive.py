"""``Model.sample_prior``: what the priors imply, before seeing the data.

Draws every parameter from its prior and the response from the likelihood given those draws (the prior
predictive distribution, as brms's ``sample_prior = "only"`` and PyMC's ``sample_prior_predictive``). The
result is an InferenceData with groups ``prior`` (the same variables and coordinates as a fit's
``posterior``), ``prior_predictive`` (``y`` by ``obs_id``) and ``observed_data``, so that it can be merged
into a fit's ``idata`` and used for prior-vs-posterior comparisons and Bayes factors.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import PriorError, SamplerError

__all__ = ["sample_prior"]


def _fake_stats(draws: int) -> dict:
    """Sampler statistics build_idata expects; a prior draw has none (the group is dropped afterwards)."""
    zeros = np.zeros((1, draws))
    return {"diverging": zeros, "num_steps": zeros, "accept_prob": zeros, "energy": zeros,
            "potential_energy": zeros, "step_size": zeros}


def sample_prior(model, draws: int = 1000, seed: int = 0):
    """Prior and prior predictive draws of ``model`` (a :class:`~bayesmm.api.Model`) as InferenceData."""
    from ..sampler.run import Samples
    from ..model import compile_model
    from ..model.prior_draws import prior_draws
    from ..posterior import build_idata

    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise SamplerError(f"draws must be a whole number of at least 1, not {draws!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SamplerError(f"seed must be a non-negative whole number, not {seed!r}.")
    flat = [f"{e.cls} {e.coef}".strip() for e in model.prior_entries if e.prior.dist == "flat"]
    if flat:
        raise PriorError(f"Cannot draw from the prior: {', '.join(flat)} have flat (improper) priors. Give them "
                         "proper priors, e.g. priors={'b': 'normal(0, 2.5)'} or the default preset.")
    # non-centred: the effects' prior is the same either way, and the data-driven centring guess is not needed
    structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize=False, centred=False)
    out = prior_draws(structure, data, draws, seed)
    shaped = {name: value.reshape((1, draws) + value.shape[1:]) for name, value in out.items()}
    generated = dict(shaped, log_lik=np.zeros((1, draws, model.design.n_obs)))
    attrs = {"formula": model.spec.text, "family": model.family.name, "link": model.family.link, "seed": int(seed)}
    idata = build_idata(Samples(shaped, _fake_stats(draws), generated), model.design, model.family, attrs)
    prior = idata.posterior
    predictive = xr.Dataset({"y": (("chain", "draw", "obs_id"), shaped["y"])},
                            coords={"chain": prior["chain"].values, "draw": prior["draw"].values,
                                    "obs_id": np.arange(model.design.n_obs)}, attrs=attrs)
    import arviz as az

    return az.InferenceData(prior=prior, prior_predictive=predictive, observed_data=idata.observed_data)
