"""fit.means, fit.comparisons and fit.slopes (bayesmm/answers/means.py and grid.py) on short NUTS runs of real data:
against emmeans 1.8.4 on the lme4 fits of the same models (tests/reference/means.json, written by
tests/reference/means_reference.R), against the posterior draws by hand (random-effect levels, the population
average by an independent Monte Carlo integral, log-link averages in closed form) and against analytic derivatives.

Bayesian posterior means are compared with the ML estimates within 0.3 posterior SD. emmeans back-transforms a
contrast's log (odds) ratio estimate; the matching posterior summary is the median of the ratio's draws (the mean of
a skewed ratio lies above it), so ratios are compared by their medians."""
import functools
import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import bayesmm as bmm
from answers_fits import cbpp_fit, sleep_fit

REFERENCE = json.loads((pathlib.Path(__file__).parents[1] / "reference" / "means.json").read_text())
SHORT = dict(chains=2, draws=500, warmup=500, seed=1)


def _fit(formula, data, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit(formula, bmm.datasets.load(data), **SHORT, **options)


def cbpp_binomial():
    assert REFERENCE["cbpp_binomial"]["formula"] == "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    return cbpp_fit()  # the shared fit of the same model (chains=2, warmup=draws=500, seed 1)


@functools.lru_cache(maxsize=None)
def cbpp_poisson():
    return _fit(REFERENCE["cbpp_poisson"]["formula"], "cbpp", family="poisson")


@functools.lru_cache(maxsize=None)
def orthodont_slopes():
    return _fit(REFERENCE["orthodont_slopes"]["formula"], "orthodont")


@functools.lru_cache(maxsize=None)
def orthodont_factors():
    return _fit(REFERENCE["orthodont_factors"]["bayesmm_formula"], "orthodont")


@functools.lru_cache(maxsize=None)
def sleep(formula):
    return _fit(formula, "sleepstudy")


def _draws(fit, name):
    values = fit.idata.posterior[name].values
    return values.reshape((-1,) + values.shape[2:])


def _coef(fit, term):
    names = list(fit.idata.posterior["b"].coords["coef"].values)
    return _draws(fit, "b")[:, names.index(term)]


def _reference(entry, keys):
    """An emmeans table as a DataFrame, its key columns as strings (to merge with ours)."""
    frame = pd.DataFrame(entry)
    for key in keys:
        frame[key] = frame[key].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    return frame


def _merged(ours, entry, keys):
    ours = ours.copy()
    for key in keys:
        ours[key] = ours[key].map(lambda v: f"{v:g}" if isinstance(v, float) else str(v))
    merged = ours.merge(_reference(entry, keys), on=keys, suffixes=("", "_r"))
    assert len(merged) == len(ours) == len(entry[keys[0]]), (ours, entry)
    return merged


def _close(merged, tolerance=0.3):
    """Posterior means within ``tolerance`` posterior SDs of emmeans' estimates; SDs near the SEs."""
    gap = np.abs(merged["estimate"] - merged["estimate_r"]) / merged["std_error"]
    assert np.all(gap < tolerance), merged.assign(gap=gap)
    ratio = merged["std_error"] / merged["se"]
    assert np.all((ratio > 0.7) & (ratio < 1.5)), merged.assign(ratio=ratio)


# ----------------------------------------------------------------------------------- cbpp: binomial
def test_cbpp_means_on_both_scales_match_emmeans():
    fit, entry = cbpp_binomial(), REFERENCE["cbpp_binomial"]
    response = fit.means("period")
    assert list(response.columns) == ["period", "estimate", "std_error", "conf_low", "conf_high"]
    _close(_merged(response, entry["means_response"], ["period"]))
    _close(_merged(fit.means("period", scale="link"), entry["means_link"], ["period"]))
    # the response scale is the inverse logit of the link-scale draws, draw by draw
    link = fit.means("period", scale="link", summary=False)
    np.testing.assert_allclose(fit.means("period", summary=False).to_numpy(), expit(link.to_numpy()), rtol=1e-12)
    assert list(link.columns.get_level_values("period")) == ["1", "2", "3", "4"]


def test_cbpp_odds_ratios_and_log_odds_ratios_match_emmeans():
    fit, entry = cbpp_binomial(), REFERENCE["cbpp_binomial"]
    odds = fit.comparisons("period")  # logit link on the response scale: odds ratios, as emmeans' type="response"
    assert list(odds["contrast"]) == entry["pairs_response"]["contrast"]
    draws = fit.comparisons("period", summary=False)
    median = np.median(draws.to_numpy(), axis=0)
    gap = np.abs(median - np.array(entry["pairs_response"]["estimate"])) / odds["std_error"].to_numpy()
    assert np.all(gap < 0.3), gap
    link = fit.comparisons("period", scale="link")
    assert list(link["contrast"]) == entry["pairs_link"]["contrast"]
    _close(_merged(link, entry["pairs_link"], ["contrast"]))
    np.testing.assert_allclose(np.log(draws.to_numpy()), fit.comparisons("period", scale="link", summary=False),
                               rtol=1e-9)
    reverse = fit.comparisons("period", contrast="revpairwise", scale="link")
    _close(_merged(reverse, entry["revpairwise_link"], ["contrast"]))
    control = fit.comparisons("period", contrast="trt.vs.ctrl", summary=False)
    assert list(control.columns.get_level_values("contrast")) == entry["trt_vs_ctrl_response"]["contrast"]
    gap = np.abs(np.median(control, axis=0) - entry["trt_vs_ctrl_response"]["estimate"]) / control.std().to_numpy()
    assert np.all(gap < 0.3), gap


def test_pd_rope_and_custom_contrasts_are_those_of_the_draws():
    fit = cbpp_binomial()
    link = fit.means("period", scale="link", summary=False).to_numpy()
    table = fit.comparisons("period", scale="link", contrast={"first vs rest": [1, -1 / 3, -1 / 3, -1 / 3]},
                            rope=0.5)
    by_hand = link[:, 0] - link[:, 1:].mean(axis=1)
    assert table["contrast"].tolist() == ["first vs rest"]
    np.testing.assert_allclose(table["estimate"], by_hand.mean(), rtol=1e-12)
    assert table["pd"].iloc[0] == max(np.mean(by_hand > 0), np.mean(by_hand < 0))
    assert table["rope"].iloc[0] == np.mean(np.abs(by_hand) <= 0.5)
    ratios = fit.comparisons("period", contrast="trt.vs.ctrl", ref="period4", comparison="ratio", rope=(0.9, 1.1))
    assert ratios["contrast"].tolist() == ["period1 / period4", "period2 / period4", "period3 / period4"]
    p = fit.means("period", summary=False).to_numpy()
    np.testing.assert_allclose(ratios["estimate"], (p[:, :3] / p[:, [3]]).mean(axis=0), rtol=1e-9)
    assert np.all(ratios["pd"] > 0.5) and np.all((ratios["rope"] >= 0) & (ratios["rope"] < 0.5))


def test_a_chosen_herd_uses_its_fitted_effects():
    fit = cbpp_binomial()
    means = fit.means("period", re={"herd": "3"}, summary=False).to_numpy()
    herd = _draws(fit, "r_herd")[:, list(fit.idata.posterior["r_herd"].coords["herd__level"].values).index("3"), 0]
    intercept = _coef(fit, "Intercept")
    expected = np.column_stack([intercept] + [intercept + _coef(fit, f"period[{k}]") for k in (2, 3, 4)])
    np.testing.assert_allclose(means, expit(expected + herd[:, None]), rtol=1e-10)


def test_population_average_matches_a_monte_carlo_integral():
    fit = cbpp_binomial()
    average = fit.means("period", re="average", summary=False).to_numpy()
    none = fit.means("period", summary=False).to_numpy()
    intercept, sd = _coef(fit, "Intercept"), _draws(fit, "sd_herd")[:, 0]
    eta = np.column_stack([intercept] + [intercept + _coef(fit, f"period[{k}]") for k in (2, 3, 4)])
    effects = np.random.default_rng(7).standard_normal(4000)
    for column in range(4):
        simulated = expit(eta[:, [column]] + sd[:, None] * effects[None, :])  # draws x simulated herds
        error = simulated.std(axis=1) / np.sqrt(effects.size)
        assert np.all(np.abs(average[:, column] - simulated.mean(axis=1)) < 5 * error + 1e-12)
    # probabilities below 1/2: averaging over herds raises them (the logistic curve is convex there)
    assert np.all(average.mean(axis=0) > none.mean(axis=0) + 0.01)


# ------------------------------------------------------------------------------ cbpp: poisson, log(x)
def test_poisson_means_rate_ratios_average_and_slope_of_log_size():
    fit, entry = cbpp_poisson(), REFERENCE["cbpp_poisson"]
    _close(_merged(fit.means("period"), entry["means_response"], ["period"]))
    ratios = fit.comparisons("period", summary=False)  # log link: rate ratios
    assert list(ratios.columns.get_level_values("contrast")) == entry["pairs_response"]["contrast"]
    gap = np.abs(np.median(ratios, axis=0) - entry["pairs_response"]["estimate"]) / ratios.std().to_numpy()
    assert np.all(gap < 0.3), gap
    # log link: the population average is exp(eta + sd^2 / 2) exactly
    link = fit.means("period", scale="link", summary=False).to_numpy()
    sd = _draws(fit, "sd_herd")[:, 0]
    average = fit.means("period", re="average", summary=False).to_numpy()
    np.testing.assert_allclose(average, np.exp(link + sd[:, None] ** 2 / 2), rtol=1e-9)
    # d/dsize exp(... + b log(size)) = mean * b / size, averaged over the training rows
    data = bmm.datasets.load("cbpp")
    period = [_coef(fit, f"period[{k}]") if k != "1" else 0 * _coef(fit, "Intercept") for k in data["period"]]
    b = _coef(fit, "log(size)")
    eta = _coef(fit, "Intercept")[:, None] + np.column_stack(period) + b[:, None] * np.log(data["size"].to_numpy())
    expected = (np.exp(eta) * b[:, None] / data["size"].to_numpy()).mean(axis=1)
    slope = fit.slopes("size", summary=False).to_numpy()[:, 0]
    np.testing.assert_allclose(slope, expected, rtol=1e-6)


def test_zero_inflated_mean_is_the_family_mean_with_and_without_the_site_effects():
    fit = _fit("count ~ mined + (1 | site)", "salamanders", family="zero_inflated_poisson", zi="~ mined")
    b, zi = _draws(fit, "b"), _draws(fit, "b_zi")
    eta = np.column_stack([b[:, 0], b[:, 0] + b[:, 1]])  # mined: no, yes
    structural_zero = expit(np.column_stack([zi[:, 0], zi[:, 0] + zi[:, 1]]))
    np.testing.assert_allclose(fit.means("mined", summary=False).to_numpy(), (1 - structural_zero) * np.exp(eta),
                               rtol=1e-9)
    sd = _draws(fit, "sd_site")[:, [0]]
    np.testing.assert_allclose(fit.means("mined", re="average", summary=False).to_numpy(),
                               (1 - structural_zero) * np.exp(eta + sd ** 2 / 2), rtol=1e-9)


# ------------------------------------------------------------------------------------- orthodont
def test_orthodont_means_at_ages_contrasts_and_trends():
    fit, entry = orthodont_slopes(), REFERENCE["orthodont_slopes"]
    _close(_merged(fit.means("Sex"), entry["means"], ["Sex"]))
    at = fit.means("Sex", at={"age": [8, 14]})
    assert list(at.columns[:2]) == ["Sex", "age"]
    _close(_merged(at, entry["means_at"], ["Sex", "age"]))
    pairs = fit.comparisons("Sex", at={"age": [8, 14]})
    assert pairs["contrast"].tolist() == entry["pairs_at"]["contrast"]
    _close(_merged(pairs, entry["pairs_at"], ["contrast", "age"]))
    draws = fit.comparisons("Sex", at={"age": [8, 14]}, summary=False)
    assert list(draws.columns.names) == ["contrast", "age"] and draws.shape == (len(_coef(fit, "age")), 2)
    # the slope of age within each sex is the coefficient (identity link), draw by draw
    slopes = fit.slopes("age", by="Sex")
    draws = fit.slopes("age", by="Sex", summary=False).to_numpy()
    age, male = _coef(fit, "age"), _coef(fit, "age:Sex[Male]")
    np.testing.assert_allclose(draws, np.column_stack([age, age + male]), rtol=1e-6)
    np.testing.assert_allclose(fit.slopes("age", at={"Sex": ["Female", "Male"]}, summary=False), draws, rtol=1e-6)
    _close(_merged(slopes, entry["trends"], ["Sex"]))


def test_two_factors_equal_and_proportional_weights_and_by():
    fit, entry = orthodont_factors(), REFERENCE["orthodont_factors"]
    equal, proportional = fit.means("age"), fit.means("age", weights="proportional")
    _close(_merged(equal, entry["means_equal"], ["age"]))
    _close(_merged(proportional, entry["means_proportional"], ["age"]))
    # the two weightings differ by the sex difference times (share of boys - 1/2): their gap, draw by draw
    gap = (fit.means("age", summary=False) - fit.means("age", weights="proportional", summary=False)).to_numpy()
    r_gap = np.array(entry["means_equal"]["estimate"]) - np.array(entry["means_proportional"]["estimate"])
    assert np.all(np.abs(gap.mean(axis=0) - r_gap) < 0.3 * gap.std(axis=0)), (gap.mean(axis=0), r_gap)
    by = fit.means("age", by="Sex")
    assert list(by.columns[:2]) == ["age", "Sex"]
    _close(_merged(by, entry["means_by"], ["age", "Sex"]))
    pairs = fit.comparisons("Sex", by="age")
    _close(_merged(pairs, entry["pairs_by"], ["contrast", "age"]))
    both = fit.comparisons(["age", "Sex"])
    assert both["contrast"].tolist() == entry["pairs_two_specs"]["contrast"]
    _close(_merged(both, entry["pairs_two_specs"], ["contrast"]))


# ------------------------------------------------------------------------------- slopes, sleepstudy
def test_linear_slope_is_the_fixed_effect_and_with_each_subject_its_own():
    fit = sleep_fit()  # the shared fit of "Reaction ~ Days + (Days | Subject)"
    days = _coef(fit, "Days")
    np.testing.assert_allclose(fit.slopes("Days", summary=False).to_numpy()[:, 0], days, rtol=1e-7)
    np.testing.assert_allclose(fit.slopes("Days", scale="link", summary=False).to_numpy()[:, 0], days, rtol=1e-7)
    subjects = _draws(fit, "r_Subject")[:, :, 1]  # every subject has 10 rows: the row average is the level average
    np.testing.assert_allclose(fit.slopes("Days", re="all", summary=False).to_numpy()[:, 0],
                               days + subjects.mean(axis=1), rtol=1e-7)


def test_slopes_through_poly_and_scale_are_their_derivatives():
    fit = sleep("Reaction ~ poly(Days, 2) + (1 | Subject)")
    days = bmm.datasets.load("sleepstudy")["Days"].to_numpy(dtype=float)
    # each poly column is a quadratic in Days: recover it from the design, differentiate it by hand
    powers = np.column_stack([np.ones_like(days), days, days ** 2])
    columns = [list(fit.design.fixed_names).index(n) for n in ("poly(Days, 2)[0]", "poly(Days, 2)[1]")]
    quadratic, *_ = np.linalg.lstsq(powers, fit.design.X[:, columns], rcond=None)
    derivative = quadratic[1] + 2 * quadratic[2] * days[:, None]  # rows x 2
    b = np.column_stack([_coef(fit, "poly(Days, 2)[0]"), _coef(fit, "poly(Days, 2)[1]")])
    expected = (b @ derivative.T).mean(axis=1)
    np.testing.assert_allclose(fit.slopes("Days", summary=False).to_numpy()[:, 0], expected, rtol=1e-6)
    at = fit.slopes("Days", at={"Days": [0, 9]}, summary=False).to_numpy()
    np.testing.assert_allclose(at, b @ (quadratic[1] + 2 * quadratic[2] * np.array([0, 9])[:, None]).T, rtol=1e-6)
    scaled = sleep("Reaction ~ scale(Days) + (1 | Subject)")
    # formulae's scale() divides by the population SD (ddof 0)
    np.testing.assert_allclose(scaled.slopes("Days", summary=False).to_numpy()[:, 0],
                               _coef(scaled, "scale(Days)") / days.std(), rtol=1e-6)


# ------------------------------------------------------------------------------------- bad input
def test_bad_input_is_a_clear_error_naming_it():
    fit, ortho = cbpp_binomial(), orthodont_slopes()
    with pytest.raises(bmm.BayesMMError, match="'perod' is not a predictor.*Did you mean 'period'"):
        fit.means("perod")
    with pytest.raises(bmm.BayesMMError, match="'herd' is a grouping factor.*re="):
        fit.means("herd")
    with pytest.raises(bmm.BayesMMError, match="by: 'age' is numeric.*at="):
        ortho.means("Sex", by="age")
    with pytest.raises(bmm.BayesMMError, match="by: 'age' is numeric.*at="):
        ortho.slopes("age", by="age")
    with pytest.raises(bmm.BayesMMError, match="specs: 'age' is numeric.*at="):
        ortho.means("age")
    with pytest.warns(bmm.BayesMMWarning, match=r"at\['age'\].*\[30\] outside.*\[8, 14\]"):
        ortho.means("Sex", at={"age": [30]})
    with pytest.raises(bmm.BayesMMError, match=r"at\['Sex'\].*'Femal'.*Levels"):
        ortho.means("Sex", at={"Sex": ["Femal"]})
    with pytest.raises(bmm.BayesMMError, match=r"Contrast 'odd' needs 4 finite weights.*\['1', '2', '3', '4'\]"):
        fit.comparisons("period", contrast={"odd": [1, -1]})
    with pytest.raises(bmm.BayesMMError, match="contrast must be one of"):
        fit.comparisons("period", contrast="tukey")
    with pytest.raises(bmm.BayesMMError, match="re names 'hed'.*Did you mean 'herd'"):
        fit.means("period", re={"hed": "3"})
    with pytest.raises(bmm.BayesMMError, match="re: '99' is not a level of 'herd'"):
        fit.means("period", re={"herd": "99"})
    with pytest.raises(bmm.BayesMMError, match="re must be one of"):
        fit.means("period", re="all")
    with pytest.raises(bmm.BayesMMError, match="weights must be 'equal'.*'cells'"):
        fit.means("period", weights="cells")
    with pytest.raises(bmm.BayesMMError, match="scale must be 'response'.*'logit'"):
        fit.means("period", scale="logit")
    with pytest.raises(bmm.BayesMMError, match="'Sex' is a factor.*comparisons"):
        ortho.slopes("Sex")
    with pytest.raises(bmm.BayesMMError, match="'Days' is not a predictor"):
        ortho.slopes("Days")
    with pytest.raises(bmm.BayesMMError, match="comparison='ratio'.*scale='link'"):
        fit.comparisons("period", comparison="ratio", scale="link")
    with pytest.raises(bmm.BayesMMError, match="odds_ratio.*probabilities"):
        ortho.comparisons("Sex", comparison="odds_ratio")
    with pytest.raises(bmm.BayesMMError, match="ref='5' is not one of the levels"):
        fit.comparisons("period", contrast="trt.vs.ctrl", ref="5")
    with pytest.raises(bmm.BayesMMError, match="ref= names the control"):
        fit.comparisons("period", ref="1")
    with pytest.raises(bmm.BayesMMError, match="rope must be"):
        fit.comparisons("period", rope=(1, 0))
    with pytest.raises(bmm.BayesMMError, match="both specs and by"):
        fit.means("period", by="period")
    with pytest.raises(bmm.BayesMMError, match="prob must be"):
        fit.means("period", prob=95)
