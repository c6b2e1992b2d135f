"""Autocorrelated residuals (``autocor=``) against nlme (tests/reference/autocor_reference.R -> autocor.json: REML fits
of lme/gls with corAR1 on Ovary and corCAR1 on BodyWeight) and a simulated truth; the outputs (tidy, varcorr,
print, predictions, log-likelihood, diagnose) and the errors of bad input."""
from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.answers.arguments import draw_index

REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "reference"
NLME = json.loads((REFERENCE / "autocor.json").read_text())
OVARY = "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)"


def _fit(formula, data, autocor, **settings):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit(formula, data, autocor=autocor, **dict(dict(chains=2, draws=500, warmup=500, seed=1),
                                                              **settings))


def _row(tidy, term, group=None):
    rows = tidy[(tidy.term == term) & ((tidy.group == group) if group is not None else True)]
    assert len(rows) == 1, term
    return rows.iloc[0]


def _agrees(fit, reference, names):
    """Fixed effects within 0.5 posterior SD of nlme's estimates; rho, the SDs and sigma inside the 95% intervals."""
    tidy = fit.tidy()
    for ours, theirs in names.items():
        row = _row(tidy, ours)
        assert abs(row.estimate - reference["fixef"][theirs]) < 0.5 * row.std_error, (ours, row.estimate)
    parameter = fit.design.autocor.parameter
    checks = [(parameter, "Residual", reference["phi"]), ("sd__Observation", "Residual", reference["sigma"])]
    if "sd_intercept" in reference:
        checks.append(("sd__Intercept", None, reference["sd_intercept"]))
    for term, group, value in checks:
        row = _row(tidy, term, group)
        assert row.conf_low < value < row.conf_high, (term, value, row.conf_low, row.conf_high)


OVARY_NAMES = {"Intercept": "(Intercept)", "sin(2 * pi * Time)": "sin(2 * pi * Time)",
               "cos(2 * pi * Time)": "cos(2 * pi * Time)"}


@pytest.fixture(scope="module")
def ovary():
    return pd.read_csv(REFERENCE / "autocor_ovary.csv", dtype={"Mare": str})


@pytest.fixture(scope="module")
def ovary_lme(ovary):
    return _fit(OVARY + " + (1 | Mare)", ovary, "ar1(~ 1 | Mare)")


def test_ovary_lme_agrees_with_nlme(ovary_lme):
    assert ovary_lme.plan.kinds == ("dense",)  # the random intercept integrated out with the AR(1) residuals
    _agrees(ovary_lme, NLME["ovary_lme"], OVARY_NAMES)


def test_ovary_gls_agrees_with_nlme(ovary):
    _agrees(_fit(OVARY, ovary, "ar1(~ 1 | Mare)"), NLME["ovary_gls"], OVARY_NAMES)


def test_bodyweight_continuous_times_agree_with_nlme():
    data = pd.read_csv(REFERENCE / "autocor_bodyweight.csv", dtype={"Rat": str, "Diet": str})
    fit = _fit("weight ~ Time * Diet + (1 | Rat)", data, "car1(Time | Rat)")
    assert fit.plan.kinds == ("dense",) and sorted(set(fit.design.autocor.steps)) == [1.0, 6.0, 7.0]
    names = {"Intercept": "(Intercept)", "Time": "Time", "Diet[2]": "Diet2", "Diet[3]": "Diet3",
             "Time:Diet[2]": "Time:Diet2", "Time:Diet[3]": "Time:Diet3"}
    _agrees(fit, NLME["bodyweight_lme"], names)


def test_outputs_name_rho(ovary_lme):
    tidy = ovary_lme.tidy()
    row = _row(tidy, "ar1__rho")
    assert (row.effect, row.component, row.group) == ("ran_pars", "autocor", "Residual")
    varcorr = ovary_lme.varcorr()
    lag1 = varcorr[varcorr.component == "autocor"].iloc[0]
    assert (lag1.grp, lag1.var1) == ("Residual", "ar1__rho") and lag1.sdcor == pytest.approx(row.estimate)
    text = str(ovary_lme)
    assert "Correlation Structures: ar1(~ 1 | Mare) (11 series)" in text and "ar1__rho" in text
    assert list(ovary_lme.intervals(["ar1__rho"]).index) == ["ar1__rho"]
    assert "ar" in set(ovary_lme.priors["class"])
    assert "autocor_edge" not in set(ovary_lme.diagnose()["kind"])


def test_predictions_condition_on_the_previous_row(ovary, ovary_lme):
    conditional = np.asarray(ovary_lme.predict(summary=False, draws=50))
    marginal = np.asarray(ovary_lme.predict(ovary, summary=False, draws=50))  # as new rows: nlme's predictions
    post = ovary_lme.idata.posterior
    rho = post["ar1__rho"].values.ravel()[draw_index(ovary_lme, 50)][:, None]
    autocor = ovary_lme.design.autocor
    has = autocor.previous >= 0
    y = ovary_lme.design.y
    expected = marginal.copy()
    expected[:, has] += rho * (y[autocor.previous[has]] - marginal[:, autocor.previous[has]])
    assert np.allclose(conditional, expected)  # sigma cancels: sigma_t / sigma_p = 1 without a dispersion formula
    assert np.allclose(conditional[:, ~has], marginal[:, ~has])


def test_pointwise_log_likelihood_is_conditional(ovary_lme):
    """The per-row values LOO reads: each row's density given its predecessor and the random effects."""
    log_lik = ovary_lme.idata.log_likelihood["y"].values.reshape(-1, ovary_lme.design.n_obs)[:5]
    post = ovary_lme.idata.posterior
    flat = {name: post[name].values.reshape((-1,) + post[name].shape[2:])[:5] for name in ("b", "r_Mare", "sigma",
                                                                                           "ar1__rho")}
    data = pd.read_csv(REFERENCE / "autocor_ovary.csv", dtype={"Mare": str})
    X = np.column_stack([np.ones(len(data)), np.sin(2 * np.pi * data.Time), np.cos(2 * np.pi * data.Time)])
    level = ovary_lme.design.blocks[0].group_index
    autocor = ovary_lme.design.autocor
    has = autocor.previous >= 0
    for d in range(5):
        residual = data.follicles.to_numpy() - X @ flat["b"][d] - flat["r_Mare"][d][level, 0]
        rho, sigma = flat["ar1__rho"][d], flat["sigma"][d]
        mean = np.where(has, rho * residual[np.where(has, autocor.previous, 0)], 0.0)
        sd = sigma * np.where(has, np.sqrt(1 - rho ** 2), 1.0)
        expected = -0.5 * np.log(2 * np.pi * sd ** 2) - 0.5 * ((residual - mean) / sd) ** 2
        assert np.allclose(log_lik[d], expected, atol=1e-5)


@pytest.mark.slow
def test_simulated_truth_is_recovered():
    """40 series of 25 whole-number times (a fifth of the steps skipped), a random intercept and AR(1) residuals."""
    rng = np.random.default_rng(11)
    rows = []
    for s in range(40):
        times = np.sort(rng.choice(np.arange(30), 25, replace=False))
        e, last = 0.0, None
        for t in times:
            if last is None:
                e = rng.normal(0, 1.5)
            else:
                phi = 0.6 ** (t - last)
                e = phi * e + rng.normal(0, 1.5 * np.sqrt(1 - phi ** 2))
            last = t
            x = rng.normal()
            rows.append({"g": f"s{s}", "t": t, "x": x, "e": e})
    df = pd.DataFrame(rows)
    u = rng.normal(0, 1.0, 40)
    df["y"] = 2.0 + 0.7 * df.x + u[df.g.str[1:].astype(int)] + df.e
    fit = _fit("y ~ x + (1 | g)", df, "ar1(t | g)", chains=4)
    tidy = fit.tidy()
    for term, group, truth in (("Intercept", None, 2.0), ("x", None, 0.7), ("ar1__rho", None, 0.6),
                               ("sd__Observation", "Residual", 1.5), ("sd__Intercept", "g", 1.0)):
        row = _row(tidy, term, group)
        assert row.conf_low < truth < row.conf_high, (term, row.conf_low, row.conf_high)


@pytest.mark.parametrize("formula, family, autocor, error, words", [
    ("follicles ~ 1", "poisson", "ar1(~ 1 | Mare)", bmm.FamilyError, ["only for the gaussian", "ar1(time + 0 | g)"]),
    ("follicles ~ 1", "gaussian", "ar1(~ 1 | Mear)", bmm.DataError, ["'Mear'", "Did you mean 'Mare'"]),
    ("follicles ~ 1", "gaussian", "ar1(Time | Mare)", bmm.DataError, ["whole-number times", "car1(Time"]),
    ("follicles ~ 1", "gaussian", "ar1(step)", bmm.DataError, ["same time", "rows"]),
    ("follicles ~ 1", "gaussian", "ar1(gap | Mare)", bmm.DataError, ["missing or infinite", "rows 3"]),
    ("follicles ~ 1", "gaussian", "ou(Time | Mare)", bmm.FormulaError, ["unknown residual structure", "car1"]),
    ("follicles ~ 1", "gaussian", "ar1(Time | Mare + x)", bmm.FormulaError, ["one column name"]),
])
def test_bad_input_is_named(ovary, formula, family, autocor, error, words):
    data = ovary.assign(step=ovary.groupby("Mare").cumcount(), gap=ovary.groupby("Mare").cumcount().astype(float))
    data.loc[3, "gap"] = np.nan
    with pytest.raises(error) as caught:
        bmm.Model(formula, data, family=family, autocor=autocor)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_rho_prior_is_a_uniform_inside_the_range(ovary):
    model = bmm.Model(OVARY, ovary, autocor="ar1(~ 1 | Mare)", priors={"ar": "uniform(0, 1)"})
    assert str(model.priors.set_index("class").loc["ar", "prior"]) == "uniform(0, 1)"
    with pytest.raises(bmm.PriorError, match="uniform"):
        bmm.Model(OVARY, ovary, autocor="ar1(~ 1 | Mare)", priors={"ar": "normal(0, 0.5)"})
    with pytest.raises(bmm.PriorError, match="no parameter class 'ar'"):
        bmm.Model(OVARY, ovary, priors={"ar": "uniform(0, 1)"})
