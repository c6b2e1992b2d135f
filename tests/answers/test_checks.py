"""Overdispersion and zero-inflation checks: grouseticks with and without the observation-level effect
(the GLMM FAQ's example), simulated zero-inflated against plain Poisson data."""
import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

TICKS = bmm.datasets.load("grouseticks")
SETTINGS = dict(chains=2, draws=400, warmup=400, seed=1)


def _simulated(zero_inflation: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, groups = 400, 20
    g = np.repeat(np.arange(groups), n // groups)
    x = rng.normal(size=n)
    mu = np.exp(1.0 + 0.4 * x + rng.normal(0, 0.3, groups)[g])
    y = rng.poisson(mu) * (rng.uniform(size=n) >= zero_inflation)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


@pytest.fixture(scope="module")
def plain_fit():
    return bmm.fit("y ~ x + (1 | g)", _simulated(0.0, 5), family="poisson", **SETTINGS)


@pytest.fixture(scope="module")
def zero_inflated_fit():
    return bmm.fit("y ~ x + (1 | g)", _simulated(0.3, 5), family="poisson", **SETTINGS)


def test_zero_inflated_simulation_is_flagged(zero_inflated_fit):
    table = zero_inflated_fit.check_zero_inflation()
    row = table.loc["zeros"]
    assert row["observed_zeros"] == int(np.sum(zero_inflated_fit.design.y == 0))
    assert row["ratio"] > 1.5 and row["p_value"] < 0.01 and bool(row["zero_inflated"])
    assert row["conf_high"] < row["observed_zeros"]


def test_plain_poisson_simulation_is_not_flagged(plain_fit):
    row = plain_fit.check_zero_inflation().loc["zeros"]
    assert row["conf_low"] <= row["observed_zeros"] <= row["conf_high"]
    assert 0.05 < row["p_value"] < 0.95 and not bool(row["zero_inflated"])
    # expected zeros: the posterior predictive mean of the number of zeros, by hand from the mean draws
    mu = plain_fit.predict(summary=False).to_numpy()
    assert row["expected_zeros"] == pytest.approx(np.exp(-mu).sum(axis=1).mean(), rel=0.05)


def test_plain_poisson_is_not_overdispersed(plain_fit):
    table = plain_fit.check_overdispersion()
    assert not table["overdispersed"].any()
    pearson = table.loc["pearson"]
    assert pearson["reference"] == 400 - 2 - 1  # rows - fixed effects - one variance parameter
    fitted = plain_fit.predict()["Estimate"].to_numpy()
    y = plain_fit.design.y
    assert pearson["statistic"] == pytest.approx(np.sum((y - fitted) ** 2 / fitted), rel=1e-10)
    assert 0.7 < pearson["ratio"] < 1.3


def _unfitted(formula, data, family):
    """A Fit without draws: the family checks refuse before any draw is read."""
    model = bmm.Model(formula, data, family=family)
    return bmm.Fit(None, model.design, model.family, model.prior_entries, None, model.call, data=data)


def test_families_without_the_check_say_why():
    sleep = _unfitted("Reaction ~ Days + (1 | Subject)", bmm.datasets.load("sleepstudy"), "gaussian")
    with pytest.raises(bmm.FamilyError, match="poisson and binomial"):
        sleep.check_overdispersion()
    with pytest.raises(bmm.FamilyError, match="count"):
        sleep.check_zero_inflation()
    negbin = _unfitted("y ~ x + (1 | g)", _simulated(0.0, 1), "negbinomial")
    with pytest.raises(bmm.FamilyError, match="phi|dispersion parameter"):
        negbin.check_overdispersion()
    binary = _simulated(0.0, 1).assign(y=lambda d: (d["y"] > 2).astype(int))
    with pytest.raises(bmm.FamilyError, match="binary"):
        _unfitted("y ~ x + (1 | g)", binary, "bernoulli").check_overdispersion()


@pytest.mark.slow
def test_grouseticks_overdispersed_without_observation_level_effect():
    base = "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)"
    without = bmm.fit(base, TICKS, family="poisson", **SETTINGS).check_overdispersion()
    assert without["overdispersed"].all()
    assert without.loc["pearson", "ratio"] > 1.5 and without.loc["pearson", "reference"] == 403 - 4 - 2
    with_olre = bmm.fit(base + " + (1 | INDEX)", TICKS, family="poisson", **SETTINGS).check_overdispersion()
    assert not with_olre["overdispersed"].any()
    # the FAQ's overdisp_fun on glmer's fit gives 0.33 (Pearson residuals shrink with an observation-level
    # effect); the posterior means give a ratio well below 1 too
    assert with_olre.loc["pearson", "ratio"] < 0.6
    assert with_olre.loc["posterior_predictive", "p_value"] > 0.1


@pytest.mark.parametrize("prior, q01, q99", [
    # R: 2.5 * qt(c(0.505, 0.995), 3)
    ("half_student_t(3, 2.5)", 0.03401, 14.602),
    # R: qgamma(c(0.01, 0.99), 2, 0.1)
    ("gamma(2, 0.1)", 1.4855, 66.384),
    # R: 1 / qgamma(c(0.99, 0.01), 0.5, 0.5)  (inverse gamma(shape 0.5, scale 0.5): 1 / phi ~ chi-square(1))
    ("inverse_gamma(0.5, 0.5)", 0.15072, 6365.9),
    # R: qnorm(c(0.505, 0.995), 0, 2)
    ("half_normal(2)", 0.025067, 5.1517),
    # R: qexp(c(0.01, 0.99), 0.5)
    ("exponential(0.5)", 0.020101, 9.2103),
])
def test_prior_quantiles_match_r(prior, q01, q99):
    from bayesmm.answers.checks import prior_distribution
    from bayesmm.priors import parse_prior

    distribution = prior_distribution(parse_prior(prior))
    assert distribution.ppf(0.01) == pytest.approx(q01, rel=1e-3)
    assert distribution.ppf(0.99) == pytest.approx(q99, rel=1e-3)
    assert distribution.cdf(distribution.ppf(0.99)) == pytest.approx(0.99)


def test_half_student_t_sd_matches_simulation():
    from bayesmm.answers.checks import prior_distribution
    from bayesmm.priors import parse_prior

    draws = np.abs(np.random.default_rng(1).standard_t(5, size=2_000_000)) * 3.0
    assert prior_distribution(parse_prior("half_student_t(5, 3)")).std() == pytest.approx(draws.std(), rel=0.01)
    assert prior_distribution(parse_prior("half_cauchy(1)")).std() == np.inf
