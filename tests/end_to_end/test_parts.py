"""Formulas for family parameters: zi=, hu=, dispersion= (glmmTMB's ziformula/dispformula)."""
from bayesmm.model.backend import use_float64

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density
from scipy import special, stats

import bayesmm as bmm
from bayesmm.model import compile_model, make_model

use_float64()  # as every fit does, before jax arrays are made here


def _zip_data(seed=4, n=600):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 25, n)
    x = rng.integers(0, 2, n)
    z = rng.normal(0, 1, n)
    u = rng.normal(0, 0.4, 25)[g]
    zi = special.expit(-1.0 + 1.5 * x)
    y = np.where(rng.uniform(size=n) < zi, 0, rng.poisson(np.exp(1.0 + 0.5 * z + u)))
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": g.astype(str)})


def test_zi_formula_log_density_matches_scipy():
    df = _zip_data()
    model = bmm.Model("y ~ z + (1 | g)", df, family="zero_inflated_poisson", zi="~ x")
    structure, data = compile_model(model.design, model.family, model.prior_entries, centred=False)
    params = {"Intercept_c": jnp.asarray(1.0), "b": jnp.asarray([0.5]), "sd_0": jnp.asarray([0.4]),
              "z_0": jnp.zeros((25, 1)), "b_zi_logistic": jnp.asarray([-1.0]), "b_zi_normal": jnp.asarray([1.5])}
    _, trace = log_density(make_model(structure), (data,), {}, params)
    y = df.y.to_numpy()
    mu = np.exp(1.0 + 0.5 * (df.z - df.z.mean()))
    zi = special.expit(-1.0 + 1.5 * df.x)
    expected = np.where(y == 0, np.log(zi + (1 - zi) * np.exp(-mu)), np.log1p(-zi) + stats.poisson.logpmf(y, mu))
    site = trace["y"]
    np.testing.assert_allclose(np.asarray(site["fn"].log_prob(site["value"])), expected, rtol=1e-9)
    priors = model.priors
    assert {"Intercept_zi", "b_zi"} <= set(priors["class"]) and "zi" not in set(priors["class"])


def test_zi_formula_recovers_the_truth():
    # 4 chains: with 2 x 500 draws the Rhat of sd(g) (bulk ESS about 220) scattered 1.00-1.025 over seeds
    fit = bmm.fit("y ~ z + (1 | g)", _zip_data(), family="zero_inflated_poisson", zi="~ x", chains=4, draws=500,
                  warmup=500, seed=3)
    table = fit.tidy()
    zi = table[table["component"] == "zi"].set_index("term")
    assert list(zi.index) == ["Intercept", "x"]
    for term, truth in {"Intercept": -1.0, "x": 1.5}.items():
        assert zi.loc[term, "conf_low"] < truth < zi.loc[term, "conf_high"], (term, zi.loc[term])
    assert table["rhat"].max() < 1.02
    assert "zi_Intercept" in str(fit) and "zi = logit" in str(fit)


def test_dispersion_formula_recovers_heteroscedastic_sigma():
    rng = np.random.default_rng(2)
    n = 400
    g = rng.integers(0, 20, n)
    x = rng.integers(0, 2, n)
    y = 3 + 0.5 * x + rng.normal(0, 0.5, 20)[g] + rng.normal(0, np.exp(-0.3 + 0.7 * x))
    df = pd.DataFrame({"y": y, "x": x, "g": g})
    model = bmm.Model("y ~ x + (1 | g)", df, dispersion="~ x")
    assert not compile_model(model.design, model.family, model.prior_entries)[0].marginal
    fit = model.fit(chains=2, draws=500, warmup=500, seed=5)
    disp = fit.tidy().query("component == 'disp'").set_index("term")
    for term, truth in {"Intercept": -0.3, "x": 0.7}.items():
        assert disp.loc[term, "conf_low"] < truth < disp.loc[term, "conf_high"], (term, disp.loc[term])


@pytest.mark.parametrize("family,kwargs,error,match", [
    ("poisson", {"zi": "~ x"}, bmm.FamilyError, "no 'zi' parameter"),
    ("zero_inflated_poisson", {"zi": "~ x + offset(z)"}, bmm.FormulaError, "offsets are supported in the main"),
    ("zero_inflated_poisson", {"zi": "x"}, bmm.FormulaError, "one-sided formula"),
    ("poisson", {"dispersion": "~ x"}, bmm.FamilyError, "no dispersion parameter"),
    ("zero_inflated_poisson", {"zi": "~ nothere"}, bmm.DataError, "Column 'nothere'"),
])
def test_part_formula_errors(family, kwargs, error, match):
    with pytest.raises(error, match=match):
        bmm.Model("y ~ z + (1 | g)", _zip_data(n=100), family=family, **kwargs)
