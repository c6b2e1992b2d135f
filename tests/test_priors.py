"""Priors: every preset resolves to its documented numbers on sleepstudy and cbpp, the three ways to give
priors agree, bad priors are refused with the valid names, and prior draws follow the priors."""
import warnings

import numpy as np
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm import PriorError
from bayesmm.prior_rules import preset_names

SLEEP = bmm.datasets.load("sleepstudy")
CBPP = bmm.datasets.load("cbpp")
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"
CBPP_FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"

Y = SLEEP["Reaction"].to_numpy(dtype=float)
DAYS = SLEEP["Days"].to_numpy(dtype=float)
S_Y, S_X, MEAN_Y = np.std(Y), np.std(DAYS), np.mean(Y)
P = (CBPP["incidence"] / CBPP["size"]).to_numpy()
LOGIT_MEAN = np.log(P.mean()) - np.log1p(-P.mean())
PERIOD_SX = {lvl: np.std((CBPP["period"] == lvl).to_numpy(dtype=float)) for lvl in "234"}


def _entries(model) -> dict:
    return {(e.cls, e.group, e.coef): (e.prior.dist, tuple(e.prior.args)) for e in model.prior_entries}


def _sleep(priors=None, **kwargs):
    return bmm.Model(SLEEP_FORMULA, SLEEP, priors=priors, **kwargs)


def _cbpp(priors=None):
    return bmm.Model(CBPP_FORMULA, CBPP, family="binomial", priors=priors)


# Documented numbers (docs/priors.md, "Presets", and each preset's description), computed from the data here.
# brms 2.18, get_prior(Reaction ~ Days + (Days | Subject), sleepstudy): student_t(3, 288.7, 59.3) on the
# intercept, SDs and sigma; get_prior on cbpp (binomial, logit): student_t(3, 0, 2.5).
SLEEP_EXPECTED = {
    "default": {("Intercept", "", ""): ("student_t", (3, MEAN_Y, 2.5 * S_Y)),
                ("b", "", "Days"): ("normal", (0, 2.5 * S_Y / S_X)),
                ("sd", "Subject", "Intercept"): ("half_student_t", (3, S_Y)),
                ("sd", "Subject", "Days"): ("half_student_t", (3, S_Y / S_X)),
                ("cor", "Subject", ""): ("lkj", (2,)), ("sigma", "", ""): ("half_student_t", (3, S_Y))},
    "boundary": {("sd", "Subject", "Intercept"): ("gamma", (2.5, 0.2 / S_Y)),
                 ("sd", "Subject", "Days"): ("gamma", (2.5, 0.2 * S_X / S_Y)), ("cor", "Subject", ""): ("lkj", (1.75,)),
                 ("b", "", "Days"): ("normal", (0, 2.5 * S_Y / S_X))},
    "separation": {("Intercept", "", ""): ("cauchy", (MEAN_Y, 10 * S_Y)),
                   ("b", "", "Days"): ("cauchy", (0, 2.5 * S_Y / (2 * S_X)))},
    "brms": {("Intercept", "", ""): ("student_t", (3, 288.7, 59.3)), ("b", "", "Days"): ("flat", ()),
             ("sd", "Subject", "Intercept"): ("half_student_t", (3, 59.3)),
             ("sd", "Subject", "Days"): ("half_student_t", (3, 59.3)), ("cor", "Subject", ""): ("lkj", (1,)),
             ("sigma", "", ""): ("half_student_t", (3, 59.3))},
    "rstanarm": {("Intercept", "", ""): ("normal", (MEAN_Y, 2.5 * S_Y)), ("b", "", "Days"): ("normal", (0, 2.5 * S_Y / S_X)),
                 ("sd", "Subject", "Days"): ("exponential", (1,)), ("cor", "Subject", ""): ("lkj", (1,)),
                 ("sigma", "", ""): ("exponential", (1 / S_Y,))},
    "vague": {("Intercept", "", ""): ("normal", (MEAN_Y, 250 * S_Y)), ("b", "", "Days"): ("normal", (0, 250 * S_Y / S_X)),
              ("sd", "Subject", "Days"): ("uniform", (0, 100 * S_Y / S_X)), ("sigma", "", ""): ("uniform", (0, 100 * S_Y))},
}
CBPP_EXPECTED = {
    "default": {("Intercept", "", ""): ("student_t", (3, LOGIT_MEAN, 2.5)),
                ("b", "", "period[4]"): ("normal", (0, 2.5 / PERIOD_SX["4"])),
                ("sd", "herd", "Intercept"): ("half_student_t", (3, 2.5))},
    "boundary": {("sd", "herd", "Intercept"): ("gamma", (2.5, 0.2))},
    "separation": {("Intercept", "", ""): ("cauchy", (0, 10)), ("b", "", "period[2]"): ("cauchy", (0, 2.5)),
                   ("sd", "herd", "Intercept"): ("half_student_t", (3, 2.5))},
    "brms": {("Intercept", "", ""): ("student_t", (3, 0, 2.5)), ("b", "", "period[3]"): ("flat", ()),
             ("sd", "herd", "Intercept"): ("half_student_t", (3, 2.5))},
    "rstanarm": {("Intercept", "", ""): ("normal", (0, 2.5)), ("b", "", "period[2]"): ("normal", (0, 2.5 / PERIOD_SX["2"])),
                 ("sd", "herd", "Intercept"): ("exponential", (1,))},
    "vague": {("b", "", "period[2]"): ("normal", (0, 250 / PERIOD_SX["2"])), ("sd", "herd", "Intercept"): ("uniform", (0, 100))},
}


def test_all_presets_ship():
    assert preset_names() == ["boundary", "brms", "default", "rstanarm", "separation", "vague"]


@pytest.mark.parametrize("preset", sorted(SLEEP_EXPECTED))
def test_preset_numbers_on_sleepstudy_and_cbpp(preset):
    for model, expected in ((_sleep(preset), SLEEP_EXPECTED[preset]), (_cbpp(preset), CBPP_EXPECTED[preset])):
        got = _entries(model)
        for key, (dist, args) in expected.items():
            assert got[key][0] == dist, (preset, key)
            np.testing.assert_allclose(got[key][1], args, rtol=1e-6, err_msg=f"{preset} {key}")


def test_named_preset_shows_its_rule_and_origin():
    table = _sleep("brms").priors.set_index(["class", "coef"])
    assert table.loc[("Intercept", ""), "prior"] == "student_t(3, 288.7, 59.3)"
    assert table.loc[("Intercept", ""), "source"] == "brms: student_t(3, median_y, max(2.5, mad_y))"
    boundary = _sleep("boundary").priors.set_index(["class", "coef"])
    assert boundary.loc[("sd", "Days"), "source"] == "boundary: gamma(2.5, 0.2 s_z / s_y)"
    assert boundary.loc[("sd", "Days"), "prior"] == f"gamma(2.5, {0.2 * S_X / S_Y:.4g})"


def test_three_ways_in_agree(tmp_path):
    as_dict = {"b": {"Days": "student_t(3, 0, 2.5)"}, "sd": {"Subject": {"Days": "gamma(2, 0.1)"}}, "cor": "lkj(1)"}
    as_list = [bmm.prior("student_t(3, 0, 2.5)", cls="b", coef="Days"),
               bmm.prior("gamma(2, 0.1)", cls="sd", group="Subject", coef="Days"), bmm.prior("lkj(1)", cls="cor")]
    path = tmp_path / "mine.toml"
    path.write_text('cor = "lkj(1)"\n[b]\nDays = "student_t(3, 0, 2.5)"\n[sd.Subject]\nDays = "gamma(2, 0.1)"\n')
    results = [_entries(_sleep(p)) for p in (as_dict, as_list, str(path), path)]
    assert results[0] == results[1] == results[2] == results[3]
    assert results[0][("sd", "Subject", "Days")] == ("gamma", (2.0, 0.1))
    assert results[0][("sd", "Subject", "Intercept")] == ("half_student_t", (3.0, pytest.approx(S_Y)))


def test_specific_priors_beat_class_wide_ones_whatever_the_order():
    specific_first = [bmm.prior("normal(1, 2)", cls="b", coef="Days"), bmm.prior("normal(0, 9)", cls="b")]
    got = _entries(_sleep(specific_first))
    assert got[("b", "", "Days")] == ("normal", (1.0, 2.0))
    # user priors go on top of a named preset
    got = _entries(_sleep(["brms", {"b": "normal(0, 10)"}]))
    assert got[("b", "", "Days")] == ("normal", (0.0, 10.0))
    assert got[("Intercept", "", "")] == ("student_t", (3.0, 288.7, 59.3))


def test_user_rules_autoscale_like_presets():
    model = _sleep({"b": "normal(0, 2.5 s_y / s_x)", "sd": {"Subject": "half_normal(max(1, 0.5 s_y / s_z))"}})
    got = _entries(model)
    np.testing.assert_allclose(got[("b", "", "Days")][1], (0, 2.5 * S_Y / S_X))
    np.testing.assert_allclose(got[("sd", "Subject", "Days")][1], (0.5 * S_Y / S_X,))
    np.testing.assert_allclose(got[("sd", "Subject", "Intercept")][1], (0.5 * S_Y,))
    table = model.priors.set_index(["class", "coef"])
    assert table.loc[("b", "Days"), "source"] == "user: normal(0, 2.5 s_y / s_x)"


@pytest.mark.parametrize("priors, pieces", [
    (lambda: bmm.prior("studnet_t(3, 0, 1)"), ("'studnet_t'", "Did you mean 'student_t'?", "Valid names")),
    (lambda: bmm.prior("gamma(2)", cls="sd"), ("'gamma' takes 2 argument(s)", "shape, rate")),
    (lambda: _sleep({"b": "normal(0, -2 s_y)"}), ("scale", "must be positive")),
    (lambda: _sleep({"b": "normal(0, 2.5 s_q)"}), ("'s_q' is not one", "s_y", "s_x", "link(mean(y))")),
    (lambda: _sleep("boundry"), ("Unknown prior preset 'boundry'", "Did you mean 'boundary'?", "rstanarm")),
    (lambda: _sleep(["normal(0, 1)"]), ("bare prior", "cls='b'")),
    (lambda: _sleep([bmm.prior("normal(0, 1)", cls="b", coef="Day")]), ("no coefficient 'Day'", "Valid: Days")),
    (lambda: _sleep([bmm.prior("half_normal(1)", cls="sd", group="Subjects")]), ("no group 'Subjects'", "Subject")),
    (lambda: _sleep([bmm.prior("half_normal(1)", cls="sigma", group="Subject")]), ("only sd and cor",)),
    (lambda: _sleep("/nonexistent/mine.toml"), ("does not exist",)),
    (lambda: _sleep({"sigma": "flat"}), ("flat", "improper")),
])
def test_bad_priors_are_refused_naming_the_culprit(priors, pieces):
    with pytest.raises(PriorError) as info:
        priors()
    for piece in pieces:
        assert piece in str(info.value), (piece, str(info.value))


def test_bad_toml_file_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("b = normal(0, 1)\n")
    with pytest.raises(PriorError, match="as TOML"):
        _sleep(str(path))
    path.write_text('[sd.Subject]\nDayz = "half_normal(1)"\n')
    with pytest.raises(PriorError, match="no term 'Dayz'.*Did you mean 'Days'"):
        _sleep(path)


def test_prior_draws_follow_the_priors():
    model = _sleep()
    prior = model.sample_prior(draws=4000, seed=3)
    assert set(prior.groups()) == {"prior", "prior_predictive", "observed_data"}
    days = prior.prior["b"].sel(coef="Days").values.ravel()
    scale = 2.5 * S_Y / S_X
    assert abs(days.mean()) < 4 * scale / np.sqrt(days.size)
    assert days.std() == pytest.approx(scale, rel=0.05)
    sd_int = prior.prior["sd_Subject"].sel(Subject__term="Intercept").values.ravel()
    assert np.median(sd_int) == pytest.approx(S_Y * stats.t.ppf(0.75, 3), rel=0.08)  # median of a half-t(3)
    sigma = prior.prior["sigma"].values.ravel()
    assert np.median(sigma) == pytest.approx(S_Y * stats.t.ppf(0.75, 3), rel=0.08)
    cor = prior.prior["cor_Subject"].values[..., 0, 1].ravel()
    assert np.var(cor) == pytest.approx(1 / 5, rel=0.1)  # lkj(2), 2 x 2: Beta(2, 2) on (rho + 1) / 2
    y = prior.prior_predictive["y"].values
    assert y.shape == (1, 4000, 180)
    assert np.median(y) == pytest.approx(MEAN_Y, abs=0.1 * S_Y)


def test_prior_predictive_binomial_counts_stay_within_trials():
    model = _cbpp()
    prior = model.sample_prior(draws=500, seed=1)
    y = prior.prior_predictive["y"].values
    assert np.all(y >= 0) and np.all(y <= model.design.trials) and np.all(y == np.round(y))
    # the intercept at the predictors' means ~ student_t(3, logit(mean p), 2.5): its median
    intercept_c = prior.prior["b"].values[..., 0] + prior.prior["b"].values[..., 1:] @ model.design.X[:, 1:].mean(axis=0)
    assert np.median(intercept_c) == pytest.approx(LOGIT_MEAN, abs=0.4)


def test_improper_priors_cannot_be_drawn_from():
    with pytest.raises(PriorError, match="flat"):
        _sleep("brms").sample_prior(draws=10)


def test_fit_uses_the_preset():
    """A quick fit on the brms preset: the flat coefficient prior and brms's intercept are in effect."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bmm.fit(SLEEP_FORMULA, SLEEP, priors="brms", chains=2, draws=300, warmup=300, seed=2)
    assert list(fit.priors["prior"])[:2] == ["student_t(3, 288.7, 59.3)", "flat()"]
    assert fit.fixef().loc["Days", "Estimate"] == pytest.approx(10.45, abs=0.6)  # brms 2.18: 10.45 (1.67)


BRMS_CASES = {
    "sleepstudy_corr": (SLEEP, SLEEP_FORMULA, "gaussian"),
    "cbpp_binomial": (CBPP, CBPP_FORMULA, "binomial"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BRMS_CASES))
def test_brms_preset_reproduces_brms(case):
    """Posterior means within 0.15 posterior SD of brms 2.18's with its default priors (tests/reference)."""
    from reference_tools import brms, tidy_key

    data, formula, family = BRMS_CASES[case]
    fit = bmm.fit(formula, data, family=family, priors="brms", chains=4, draws=1000, warmup=1000, seed=1)
    reference = brms(case)["rows"]
    table = fit.tidy()
    assert len(table) == len(reference)
    for _, row in table.iterrows():
        ref = reference[tidy_key(row, brms_names=True)]
        gap = abs(row["estimate"] - ref["mean"]) / ref["sd"]
        assert gap < 0.15, (row["term"], row["estimate"], ref["mean"], ref["sd"])
        assert row["std_error"] == pytest.approx(ref["sd"], rel=0.1), row["term"]


def test_own_preset_file_works_across_families(tmp_path):
    """A generic preset file may name family parameters the model lacks (sigma on a binomial model); its
    rules autoscale and show the file they came from."""
    path = tmp_path / "house.toml"
    path.write_text('description = "house style"\nb = "normal(0, 1.5 s_y / s_x)"\nsigma = "exponential(1 / s_y)"\n'
                    '[link_scale]\nb = "normal(0, 1 / g_x)"\n')
    sleep = _entries(_sleep(str(path)))
    assert sleep[("b", "", "Days")] == ("normal", (0.0, pytest.approx(1.5 * S_Y / S_X)))
    assert sleep[("sigma", "", "")] == ("exponential", (pytest.approx(1 / S_Y),))
    cbpp = _cbpp(path)
    assert _entries(cbpp)[("b", "", "period[2]")] == ("normal", (0.0, 1.0))
    assert cbpp.priors.set_index("coef").loc["period[2]", "source"] == "file house.toml: normal(0, 1 / g_x)"
    path.write_text('sigmaa = "exponential(1)"\n')
    with pytest.raises(PriorError, match="no parameter class 'sigmaa'"):
        _sleep(path)


def test_rstanarm_sds_are_in_units_of_sigma_in_gaussian_models_only():
    """rstanarm's decov scales a gaussian model's covariance by sigma^2 (make_theta_L multiplies by the
    residual SD): each SD is exponential(1) * sigma; on link scales the SD is exponential(1) itself."""
    sleep = {(e.cls, e.coef): e.prior for e in _sleep("rstanarm").prior_entries}
    assert sleep[("sd", "Intercept")].per == "sigma" and str(sleep[("sd", "Intercept")]) == "exponential(1) * sigma"
    cbpp = {(e.cls, e.coef): e.prior for e in _cbpp("rstanarm").prior_entries}
    assert cbpp[("sd", "Intercept")].per == "" and str(cbpp[("sd", "Intercept")]) == "exponential(1)"


@pytest.mark.parametrize("priors, message", [
    ({"sd": "uniform(0, 2) * sigma"}, "only exponential, gamma"),
    ({"b": "normal(0, 1) * sigma"}, "only random-effect SDs (class sd) can be set in units of sigma"),
])
def test_bad_priors_in_units_of_sigma(priors, message):
    with pytest.raises(PriorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _sleep(priors)


def test_priors_in_units_of_sigma_need_a_sigma():
    with pytest.raises(PriorError, match=r"has no residual SD \(sigma\); drop '\* sigma'"):
        _cbpp({"sd": "exponential(1) * sigma"})


def test_prior_draws_of_an_sd_in_units_of_sigma():
    """The prior draws see the same prior as the sampler: sd / sigma ~ exponential(1) (mean 1, median log 2)."""
    draws = _sleep({"sd": "exponential(1) * sigma"}).sample_prior(draws=4000, seed=1).prior
    ratio = draws["sd_Subject"].values[..., 0].ravel() / draws["sigma"].values.ravel()
    assert stats.kstest(ratio, stats.expon.cdf).pvalue > 0.01


@pytest.mark.slow
def test_rstanarm_preset_reproduces_rstanarm_on_a_nested_gaussian_model():
    """nlme's Machines, score ~ Machine + (1 | Worker/Machine), against rstanarm 2.21's stan_lmer at its
    defaults (validation/reference/rstanarm_machines.R): every posterior mean within 0.2 of rstanarm's posterior
    SD (measured: 0.06 at most, sigma; with the SD priors on the data's scale sigma was 0.6 SD off)."""
    import json
    import pathlib

    import pandas as pd

    root = pathlib.Path(__file__).resolve().parents[1]
    machines = pd.read_csv(root / "validation/corpus/data/machines.csv")
    reference = json.loads((root / "tests/reference/machines_nested.rstanarm.json").read_text())["summary"]
    table = bmm.fit("score ~ Machine + (1 | Worker/Machine)", machines, priors="rstanarm", seed=1).tidy()
    rows = {"Intercept": ("", "Intercept"), "Machine[B]": ("", "Machine[B]"), "Machine[C]": ("", "Machine[C]"),
            "sigma": ("Residual", "sd__Observation"), "sd(Worker)": ("Worker", "sd__Intercept"),
            "sd(Worker:Machine)": ("Worker:Machine", "sd__Intercept")}
    for name, (group, term) in rows.items():
        ours = table[(table["group"] == group) & (table["term"] == term)]["estimate"].item()
        assert abs(ours - reference[name]["mean"]) < 0.2 * reference[name]["sd"], (name, ours, reference[name])


# ---------------------------------------------------------- random effects of a family parameter's formula
SALAMANDERS = bmm.datasets.load("salamanders")


def _zip(priors=None):
    return bmm.Model("count ~ spp + (1 | site)", SALAMANDERS, family="zero_inflated_poisson",
                     zi="~ mined + (1 | site)", priors=priors)


def test_a_parts_sds_have_a_class_of_their_own():
    """brms's prior(..., class = sd, dpar = zi): class sd_zi, on the zi part's logit scale by default; a class-wide
    sd prior is the mean's only."""
    entries = _entries(_zip({"sd": "half_normal(1)"}))
    assert entries[("sd", "site", "Intercept")] == ("half_normal", (1.0,))
    assert entries[("sd_zi", "site", "Intercept")] == ("half_student_t", (3.0, 2.5))
    for priors in ({"sd_zi": {"site": "half_normal(0.5)"}}, [bmm.prior("half_normal(0.5)", cls="sd_zi", group="site")],
                   {"sd_zi": "normal(0, 0.5)"}):
        entries = _entries(_zip(priors))
        assert entries[("sd_zi", "site", "Intercept")] == ("half_normal", (0.5,))
        assert entries[("sd", "site", "Intercept")] == ("half_student_t", (3.0, 2.5))
    rng = np.random.default_rng(3)
    data = {"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)}
    entries = _entries(bmm.Model("y ~ x", data, dispersion="~ (x | g)"))
    s_x = np.std(data["x"])
    assert entries[("sd_sigma", "g", "x")] == ("half_student_t", (3.0, 2.5 / s_x))
    assert entries[("cor_sigma", "g", "")] == ("lkj", (2.0,))


@pytest.mark.parametrize("priors,pieces", [
    ({"sd_hu": "half_normal(1)"}, ["no parameter class 'sd_hu'", "drop the 'sd_hu' prior"]),
    ({"cor_zi": "lkj(2)"}, ["no parameter class 'cor_zi'", "two or more columns"]),
    ({"sd_zi": {"sitex": "half_normal(1)"}}, ["Class 'sd_zi' has no group 'sitex'", "Did you mean 'site'?"]),
    ({"sd_zi": {"site": {"x": "half_normal(1)"}}}, ["Group 'site' has no term 'x'"]),
    ({"sd_zi": "normal(1, 1)"}, ["needs location 0"]),
    ({"sd_zi": "half_normal(1) * sigma"}, ["class sd"]),
])
def test_bad_priors_on_a_parts_sds_are_refused(priors, pieces):
    with pytest.raises(PriorError) as caught:
        _zip(priors)
    for piece in pieces:
        assert piece in str(caught.value), (piece, str(caught.value))
