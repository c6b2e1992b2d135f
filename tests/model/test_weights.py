"""Frequency weights: a row with weight w counts exactly as w copies of it (brms's ``weights()``)."""
from bayesmm.model.backend import use_float64

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density

import bayesmm as bmm
from bayesmm.model import compile_model, generated, make_model

use_float64()  # as every fit does, before jax arrays are made here


def _frames(family):
    rng = np.random.default_rng(5)
    base = pd.DataFrame({"g": np.repeat(list("abcde"), 6), "x": rng.normal(0, 1, 30)})
    base["y"] = rng.poisson(3, 30) if family == "poisson" else rng.normal(2 + base.x, 1)
    base["w"] = rng.integers(1, 4, 30)
    replicated = base.loc[base.index.repeat(base.w)].reset_index(drop=True)
    return base, replicated


def _params(structure):
    p = {"Intercept_c": jnp.asarray(1.1), "b": jnp.asarray([0.4]), "sd_0": jnp.asarray([0.7])}
    if structure.family == "gaussian":
        p["sigma"] = jnp.asarray(0.9)
    if not structure.marginal:
        p["z_0"] = jnp.linspace(-1, 1, 5).reshape(5, 1)
    return p


@pytest.mark.parametrize("family,marginalize", [("poisson", None), ("gaussian", True), ("gaussian", False)])
def test_weights_equal_replicated_rows(family, marginalize):
    base, replicated = _frames(family)
    # same priors in both (the autoscaled defaults would differ: the data's SDs change with replication)
    priors = {"Intercept": "normal(0, 5)", "b": "normal(0, 2)", "sd": "half_normal(1)", "sigma": "half_normal(2)"}
    if family == "poisson":
        priors.pop("sigma")
    weighted = bmm.Model("y ~ x + (1 | g)", base, family=family, weights="w", priors=priors)
    copies = bmm.Model("y ~ x + (1 | g)", replicated, family=family, priors=priors)
    values = []
    for model in (weighted, copies):
        structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize, centred=False)
        # centring X differs between the two data sets; compare at the same uncentred intercept
        params = _params(structure)
        params["Intercept_c"] = params["Intercept_c"] + data.x_means @ params["b"]
        _, trace = log_density(make_model(structure), (data,), {}, params)
        # the likelihood part (observed sites, with their scale): priors sit at different centred intercepts
        values.append(sum(float(jnp.sum(site["fn"].log_prob(site["value"]) *
                                        (1.0 if site["scale"] is None else site["scale"])))
                          for site in trace.values() if site["type"] == "sample" and site["is_observed"]))
    assert values[0] == pytest.approx(values[1], rel=1e-10)


def test_weighted_pointwise_log_lik_scales_rows():
    base, _ = _frames("poisson")
    model = bmm.Model("y ~ x + (1 | g)", base, family="poisson", weights="w")
    plain = bmm.Model("y ~ x + (1 | g)", base, family="poisson")
    outs = []
    for m in (model, plain):
        structure, data = compile_model(m.design, m.family, m.prior_entries, centred=False)
        samples = {k: v[None] for k, v in _params(structure).items()}
        outs.append(np.asarray(generated(structure, data, samples)["log_lik"])[0])
    np.testing.assert_allclose(outs[0], outs[1] * base.w.to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("column,values,match", [
    ("w", -1, "negative or non-finite"),
    ("w", "a", "must be numeric"),
    ("w", 0, "All weights"),
    ("nope", None, "Column 'nope'"),
])
def test_bad_weights(column, values, match):
    base, _ = _frames("poisson")
    if values is not None:
        base["w"] = values
    with pytest.raises(bmm.DataError, match=match):
        bmm.Model("y ~ x + (1 | g)", base, family="poisson", weights=column)
