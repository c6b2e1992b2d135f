"""The Hilbert-space approximation of spatial blocks: spectral densities against the kernels they transform, the
approximate covariance against the exact kernel within the error docs/formulas.md states, how a term selects it,
predictions through the basis, and a fitted field of 3,000 locations recovering its length scale and SD."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import bayesmm as bmm
from bayesmm.errors import BayesMMWarning, DataError
from bayesmm.hsgp import LSCALE_FLOOR, make_basis, spectral_density
from bayesmm.structures import correlation, inverse_gamma_tails


@pytest.mark.parametrize("kind", ["gau", "mat", "exp"])
def test_spectral_density_transforms_back_to_the_kernel(kind):
    lscale = 0.7
    for distance in (0.0, 0.3, 1.1):
        value, _ = integrate.quad(lambda w: spectral_density(kind, lscale, np.array([[w]]))[0] / np.pi,
                                  0.0, np.inf, weight="cos", wvar=distance) if distance else integrate.quad(
            lambda w: spectral_density(kind, lscale, np.array([[w]]))[0] / np.pi, 0.0, np.inf)
        exact = correlation(kind, lscale, np.array([[0.0]]), other=np.array([[distance]]))[0, 0]
        assert value == pytest.approx(exact, abs=1e-6)


def _prior_quantiles(dims):
    largest = np.sqrt(dims)
    shape, scale = inverse_gamma_tails(LSCALE_FLOOR * largest, largest)
    return [float(stats.invgamma.ppf(q, shape, scale=scale)) for q in (0.01, 0.5)]


#: the largest error docs/formulas.md states for the defaults, length scales from the prior's 1% to 50% quantile
STATED = {"gau": 0.05, "mat": 0.05}


@pytest.mark.parametrize("kind", ["gau", "mat"])
@pytest.mark.parametrize("dims", [1, 2])
def test_default_approximation_is_within_the_stated_error(kind, dims):
    grid = np.linspace(0.0, 1.0, 25 if dims == 2 else 200)
    positions = np.stack(np.meshgrid(*[grid] * dims), axis=-1).reshape(-1, dims)
    low, median = _prior_quantiles(dims)
    basis = make_basis(kind, positions, low, median)
    phi = basis.basis(positions)
    for lscale in (low, median):
        approx = (phi * spectral_density(kind, lscale, basis.frequencies())) @ phi.T
        assert np.max(np.abs(approx - correlation(kind, lscale, positions))) < STATED[kind]


def _field(n, seed, kind="gau", lscale=0.2, sd=1.0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.0, 1.0, (n, 2))
    effect = sd * np.linalg.cholesky(correlation(kind, lscale, xy) + 1e-6 * np.eye(n)) @ rng.standard_normal(n)
    return pd.DataFrame({"x": xy[:, 0], "y2": xy[:, 1], "g": "field", "effect": effect}), rng


def _basis_of(model):
    return model.design.blocks[0].structure.basis


def test_the_term_selects_the_approximation():
    frame, rng = _field(2100, 1)
    frame["resp"] = frame.effect + rng.normal(size=len(frame))
    with pytest.warns(BayesMMWarning, match=r"Hilbert-space approximation \(m = \d+ basis functions"):
        automatic = bmm.Model("resp ~ 1 + mat(x + y2 + 0 | g)", frame)
    assert _basis_of(automatic).n_functions <= 1024
    assert automatic.design.blocks[0].n_columns == _basis_of(automatic).n_functions
    assert automatic.plan.kinds == ("dense",)  # a gaussian model integrates the basis weights out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forced = bmm.Model("resp ~ 1 + gau(x + y2 + 0 | g, k = 12, c = 2)", frame.iloc[:300])
        assert _basis_of(forced).m == (12, 12) and _basis_of(forced).c == 2.0
        exact = bmm.Model("resp ~ 1 + gau(x + y2 + 0 | g, hsgp = FALSE)", frame)
    assert _basis_of(exact) is None and exact.design.blocks[0].n_columns == 2100
    with pytest.warns(BayesMMWarning, match="exact exponential kernel"):
        slow = bmm.Model("resp ~ 1 + exp(x + y2 + 0 | g)", frame)
    assert _basis_of(slow) is None
    # the approximated block's length-scale prior keeps 1% below a tenth of the largest distance
    row = automatic.priors[automatic.priors["class"] == "lscale"].iloc[0]
    shape, scale = (float(v) for v in row.prior[len("inverse_gamma("):-1].split(","))
    largest = automatic.design.blocks[0].structure.distance_range()[1]
    assert stats.invgamma.cdf(LSCALE_FLOOR * largest, shape, scale=scale) == pytest.approx(0.01, abs=2e-3)


@pytest.mark.slow
def test_fitted_field_of_3000_locations_recovers_its_length_scale_and_sd():
    frame, rng = _field(3000, 7, lscale=0.15, sd=1.0)
    frame["resp"] = 1.0 + frame.effect + 0.5 * rng.normal(size=len(frame))
    held = frame.iloc[:40]
    with pytest.warns(BayesMMWarning, match="Hilbert-space approximation"):
        fit = bmm.fit("resp ~ 1 + gau(x + y2 + 0 | g)", frame.iloc[40:], chains=2, draws=500, warmup=300, seed=1)
    table = fit.tidy().set_index("term")
    for term, truth in (("sd__x.y2", 1.0), ("sd__Observation", 0.5), ("Intercept", 1.0)):
        assert table.loc[term, "conf_low"] < truth < table.loc[term, "conf_high"], (term, table.loc[term])
    # the length scale's posterior SD is about 8% of it: a bias of the truncated basis shows, bounded here
    assert table.loc["gau__lscale", "estimate"] == pytest.approx(0.15, rel=0.2)
    assert table.loc["gau__lscale", "conf_low"] < 0.15 * 1.25 and table.loc["gau__lscale", "conf_high"] > 0.15 * 0.8
    predicted = fit.predict(newdata=held, kind="link")
    truth = 1.0 + held.effect
    assert ((predicted["Q2.5"] < truth) & (truth < predicted["Q97.5"])).mean() >= 0.85
    assert np.corrcoef(predicted.Estimate, truth)[0, 1] > 0.8
    with pytest.raises(DataError, match="outside the box"):
        fit.predict(newdata=held.assign(x=5.0))
