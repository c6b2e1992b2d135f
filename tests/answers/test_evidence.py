"""fit.intervals and fit.pvalues (bayesmm.answers.evidence): values against the draws, closed-form priors and
a simulated null effect (short NUTS runs, shared through answers_fits.py; fit.hypothesis, which reads the
same tables, in tests/answers/test_hypothesis.py)."""
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from answers_fits import SLEEP, null_data, null_fit, sleep_fit
from bayesmm.answers.evidence import log_density_at


@pytest.fixture(scope="module")
def sleep():
    return sleep_fit()


@pytest.fixture(scope="module")
def null():
    return null_fit(0)


def days(fit):
    return fit.idata.posterior["b"].sel(coef="Days").values.ravel()


# ------------------------------------------------------------------------------------------ intervals
def test_intervals_are_the_quantiles_and_agree_with_tidy(sleep):
    table = sleep.intervals(prob=0.9)
    draws = days(sleep)
    row = table.loc["Days"]
    assert row["estimate"] == pytest.approx(draws.mean())
    assert row["median"] == pytest.approx(np.median(draws))
    assert (row["conf_low"], row["conf_high"]) == pytest.approx(tuple(np.quantile(draws, [0.05, 0.95])))
    tidy = sleep.tidy(prob=0.9)
    # the same parameters in the same order, under their evidence names
    assert list(table.index) == ["Intercept", "Days", "sd_Subject__Intercept", "sd_Subject__Days",
                                 "cor_Subject__Intercept__Days", "sigma"]
    np.testing.assert_allclose(table["conf_low"], tidy["conf_low"])
    np.testing.assert_allclose(table["estimate"], tidy["estimate"])


def test_intervals_of_random_effects_and_hdi(sleep):
    ranef = sleep.ranef().query("term == 'Days'")
    table = sleep.intervals("r_Subject")
    assert len(table) == 36
    days_rows = table[table.index.str.endswith(",Days]")]
    np.testing.assert_allclose(days_rows["estimate"], ranef["estimate"])
    one = sleep.intervals(["r_Subject[308,Days]", "Days"], interval="hdi", prob=0.8)
    draws = days(sleep)
    low, high = one.loc["Days", ["conf_low", "conf_high"]]
    # the shortest interval with 80% of the draws: no shorter than any 80% window, and it holds 80%
    assert np.mean((draws >= low) & (draws <= high)) == pytest.approx(0.8, abs=0.002)
    ordered = np.sort(draws)
    k = int(np.floor(0.8 * len(draws)))
    assert high - low <= np.min(ordered[k:] - ordered[:-k]) + 1e-9


def test_unknown_parameter_is_a_bayesmm_error_listing_valid_names(sleep):
    with pytest.raises(bmm.BayesMMError, match=r"Did you mean 'Days'.*Valid names: Intercept, Days"):
        sleep.intervals("Dayz")
    with pytest.raises(bmm.BayesMMError, match="between 0 and 1"):
        sleep.intervals(prob=95)


# ------------------------------------------------------------------------------------------- pvalues
def test_pvalues_sleepstudy_days(sleep):
    table = sleep.pvalues()
    assert list(table.index) == ["Intercept", "Days"]
    row = table.loc["Days"]
    draws = days(sleep)
    assert row["pd"] > 0.999
    assert row["pd"] == pytest.approx(np.mean(draws > 0))
    assert row["p_direction"] == pytest.approx(2 * (1 - row["pd"]))
    # bayestestR's default ROPE for a linear model: +/- 0.1 SD of the response
    half = 0.1 * SLEEP["Reaction"].std()
    assert (row["rope_low"], row["rope_high"]) == pytest.approx((-half, half))
    assert row["in_rope"] == pytest.approx(np.mean(np.abs(draws) <= half))
    assert row["p_map"] < 1e-6 and row["bf10"] > 1e6
    assert "beyond the posterior draws" in row["bf_note"]
    # the reported Intercept's prior is not the sampled (centred) one: no BF, and it says why
    assert np.isnan(table.loc["Intercept", "bf10"]) and "centred" not in table.loc["Intercept", "bf_note"]
    assert "predictors' means" in table.loc["Intercept", "bf_note"]


def test_user_rope(sleep):
    draws = days(sleep)
    table = sleep.pvalues(rope={"Days": (9, 12)})
    assert table.loc["Days", "in_rope"] == pytest.approx(np.mean((draws >= 9) & (draws <= 12)))
    assert table.loc["Days", "rope_low"] == 9
    assert sleep.pvalues(rope=2.0).loc["Days", "rope_high"] == 2.0
    with pytest.raises(bmm.BayesMMError, match="rope for 'Days'"):
        sleep.pvalues(rope={"Days": (3, 1)})
    with pytest.raises(bmm.BayesMMError, match="rope for 'Intercept'"):
        sleep.pvalues(rope=("a", "b"))


def test_null_effect_pd_bf_and_p_map(null):
    row = null.pvalues().loc["x"]
    assert 0.5 <= row["pd"] < 0.975
    assert row["bf10"] < 1
    draws = null.idata.posterior["b"].sel(coef="x").values.ravel()
    # Savage-Dickey against a normal approximation of the posterior and the actual prior normal(0, 2.5 s_y/s_x)
    prior = next(e.prior for e in null.prior_entries if e.cls == "b" and e.coef == "x")
    assert prior.dist == "normal"
    expected = stats.norm(0, prior.args[1]).pdf(0) / stats.norm(draws.mean(), draws.std()).pdf(0)
    assert row["bf10"] == pytest.approx(expected, rel=0.15)
    # p_map: density at 0 over density at the mode, about exp(-z^2/2) for a near-normal posterior
    z = draws.mean() / draws.std()
    assert row["p_map"] == pytest.approx(np.exp(-z**2 / 2), abs=0.1)


def test_bf10_scales_with_the_prior_density_at_zero(null):
    """Only the prior part of Savage-Dickey changes with the prior: exact ratio of closed-form densities."""
    data = null_data(0)
    base = null.pvalues().loc["x", "bf10"]
    for prior, density in [("student_t(3, 0, 1)", stats.t(3).pdf(0)), ("cauchy(0, 0.5)", stats.cauchy(0, 0.5).pdf(0)),
                           ("uniform(-4, 6)", 0.1), ("laplace(0, 2)", stats.laplace(0, 2).pdf(0))]:
        model = bmm.Model("y ~ x + f + (1 | g)", data, priors={"b": {"x": prior}})
        other = dataclasses.replace(null, prior_entries=model.prior_entries)
        default = next(e.prior for e in null.prior_entries if e.coef == "x")
        ratio = density / stats.norm(0, default.args[1]).pdf(0)
        assert other.pvalues().loc["x", "bf10"] == pytest.approx(base * ratio, rel=1e-9)


def test_flat_prior_bf_is_refused_with_a_message(null):
    model = bmm.Model("y ~ x + f + (1 | g)", null_data(0), priors={"b": {"x": "flat"}})
    flat = dataclasses.replace(null, prior_entries=model.prior_entries)
    with pytest.warns(bmm.BayesMMWarning, match="No Bayes factor for x: a flat prior"):
        table = flat.pvalues()
    assert np.isnan(table.loc["x", "bf10"]) and "flat prior" in table.loc["x", "bf_note"]
    assert np.isfinite(table.loc["f[b]", "bf10"])


def test_pvalues_of_other_parameters_on_request(sleep):
    table = sleep.pvalues(["cor_Subject__Intercept__Days", "sd_Subject__Days"])
    cor = sleep.idata.posterior["cor_Subject"].values[..., 0, 1].ravel()
    assert table.loc["cor_Subject__Intercept__Days", "rope_high"] == 0.05
    assert table.loc["cor_Subject__Intercept__Days", "pd"] == pytest.approx(max(np.mean(cor > 0), np.mean(cor < 0)))
    assert np.isnan(table.loc["sd_Subject__Days", "bf10"])


@pytest.mark.slow
def test_null_effect_over_seeds():
    """A simulated null effect: pd inside (0.5, 0.975) and BF10 < 1 in most of 5 data sets."""
    rows = [null_fit(seed).pvalues().loc["x"] for seed in range(5)]
    assert sum(0.5 <= r["pd"] < 0.975 for r in rows) >= 4
    assert sum(r["bf10"] < 1 for r in rows) >= 4


def test_kernel_density_matches_a_normal():
    draws = np.random.default_rng(1).normal(2.0, 1.5, size=4000)
    np.testing.assert_allclose(np.exp(log_density_at(draws, [0.0, 2.0, 4.0])),
                               stats.norm(2.0, 1.5).pdf([0.0, 2.0, 4.0]), rtol=0.06)


def test_tables_have_a_readable_repr(sleep):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = repr(sleep.hypothesis("Days > 5")) + repr(sleep.pvalues()) + repr(sleep.intervals())
    assert "Evid.Ratio" in text and "bf10" in text and "conf_low" in text
    assert isinstance(sleep.pvalues(), pd.DataFrame)
