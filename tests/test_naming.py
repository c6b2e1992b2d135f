"""bayesmm.naming: one name per parameter, written in each output's layout and read back."""
from __future__ import annotations

import doctest
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesmm as bmm
from bayesmm import naming
from bayesmm.answers import arguments

#: canonical name -> identity (brms's variable names, without the b_ of fixed effects)
CANONICAL = {
    "Days": naming.fixed("Days"),
    "Intercept": naming.fixed("Intercept"),
    "period[2]": naming.fixed("period[2]"),
    "year:z": naming.fixed("year:z"),
    "zi_Intercept": naming.fixed("Intercept", "zi"),
    "hu_x": naming.fixed("x", "hu"),
    "disp_x": naming.fixed("x", "disp"),
    "sd_Subject__Days": naming.sd("Subject", "Days"),
    "sd_batch:cask__Intercept": naming.sd("batch:cask", "Intercept"),
    "cor_Subject__Intercept__Days": naming.cor("Subject", "Intercept", "Days"),
    "sigma": naming.family_parameter("sigma"),
    "phi": naming.family_parameter("phi"),
    "zi": naming.family_parameter("zi"),
    "r_Subject[308,Intercept]": naming.random_effect("Subject", "308", "Intercept"),
    "r_herd[Smith, J,period[2]]": naming.random_effect("herd", "Smith, J", "period[2]"),
    "r_g[a,poly(x, 2)1]": naming.random_effect("g", "a", "poly(x, 2)1"),
    # random effects of a family parameter's formula, as brms names them (dpar zi, sigma)
    "sd_site__zi_Intercept": naming.sd("site", "Intercept", "zi"),
    "sd_g__disp_x": naming.sd("g", "x", "disp"),
    "cor_site__hu_Intercept__hu_x": naming.cor("site", "Intercept", "x", "hu"),
    "r_site__zi[R-1,Intercept]": naming.random_effect("site", "R-1", "Intercept", "zi"),
    "r_a:b__disp[1:2,x]": naming.random_effect("a:b", "1:2", "x", "disp"),
    # covariance structures' parameters: ar1's rho, toep's correlation at lag 2
    "ar1_g__rho": naming.structure_parameter("g", "ar1__rho"),
    "toep_Subject__rho2": naming.structure_parameter("Subject", "toep__rho2"),
}

#: identity -> broom.mixed's (effect, component, group, term)
TIDY = {
    naming.fixed("Days"): ("fixed", "cond", "", "Days"),
    naming.fixed("Intercept", "zi"): ("fixed", "zi", "", "Intercept"),
    naming.sd("Subject", "Days"): ("ran_pars", "cond", "Subject", "sd__Days"),
    naming.cor("Subject", "Intercept", "Days"): ("ran_pars", "cond", "Subject", "cor__Intercept.Days"),
    naming.family_parameter("phi"): ("family", "cond", "", "phi"),
    naming.sd("site", "Intercept", "zi"): ("ran_pars", "zi", "site", "sd__Intercept"),
    naming.cor("g", "Intercept", "x", "disp"): ("ran_pars", "disp", "g", "cor__Intercept.x"),
    naming.structure_parameter("g", "toep__rho3"): ("ran_pars", "cond", "g", "toep__rho3"),
}

#: identity -> lme4's as.data.frame(VarCorr()) (grp, var1, var2)
VARCORR = {
    naming.sd("Subject", "Days"): ("Subject", "Days", None),
    naming.cor("Subject", "Intercept", "Days"): ("Subject", "Intercept", "Days"),
    naming.family_parameter("sigma"): ("Residual", None, None),
    naming.structure_parameter("g", "toep__rho1"): ("g", "toep__rho1", None),
}

#: identity -> brms's summary row label (SDs and correlations under their ~group heading)
SUMMARY = {
    naming.fixed("Days"): "Days",
    naming.fixed("Intercept", "zi"): "zi_Intercept",
    naming.sd("Subject", "Days"): "sd(Days)",
    naming.cor("Subject", "Intercept", "Days"): "cor(Intercept,Days)",
    naming.family_parameter("sigma"): "sigma",
    naming.sd("site", "Intercept", "zi"): "sd(zi_Intercept)",
    naming.cor("g", "Intercept", "x", "disp"): "cor(disp_Intercept,disp_x)",
    naming.structure_parameter("g", "toep__rho1"): "toep(rho1)",
}


@pytest.mark.parametrize("text", list(CANONICAL))
def test_canonical_names_round_trip(text):
    name = CANONICAL[text]
    assert naming.canonical(name) == text == str(name)
    assert naming.parse(text) == name


@pytest.mark.parametrize("name", list(TIDY), ids=str)
def test_tidy_rows_round_trip(name):
    assert naming.tidy_row(name) == TIDY[name]
    assert naming.from_tidy(*TIDY[name]) == name


def test_the_gaussian_residual_is_broom_mixeds_observation_sd():
    sigma = naming.family_parameter("sigma")
    assert naming.tidy_row(sigma, residual=True) == ("ran_pars", "cond", "Residual", "sd__Observation")
    assert naming.tidy_row(sigma) == ("family", "cond", "", "sigma")
    assert naming.from_tidy("ran_pars", "cond", "Residual", "sd__Observation") == sigma


@pytest.mark.parametrize("name", list(VARCORR), ids=str)
def test_varcorr_rows_round_trip(name):
    assert naming.varcorr_row(name) == VARCORR[name]
    assert naming.from_varcorr(*VARCORR[name]) == name


@pytest.mark.parametrize("name", list(SUMMARY), ids=str)
def test_summary_labels_round_trip(name):
    label = naming.summary_label(name)
    assert label == SUMMARY[name]
    assert naming.from_summary_label(label, name.group) == name


def test_a_parts_varcorr_row_is_the_means_with_its_component():
    """varcorr() keeps lme4's grp/var1/var2 and says whose SD it is in its component column (glmmTMB's VarCorr
    lists each component's)."""
    zi = naming.sd("site", "Intercept", "zi")
    assert naming.varcorr_row(zi) == naming.varcorr_row(naming.sd("site", "Intercept")) == ("site", "Intercept", None)
    assert naming.from_varcorr("site", "Intercept", None, "zi") == zi
    assert naming.from_varcorr("g", "Intercept", "x", "disp") == naming.cor("g", "Intercept", "x", "disp")


def test_a_parts_random_effects_are_parsed_only_for_the_fits_parts():
    assert naming.parse("sd_site__zi_Intercept", parts=[]) == naming.sd("site", "zi_Intercept")
    assert naming.parse("r_site__zi[1,Intercept]", parts=[]) == naming.random_effect("site__zi", "1", "Intercept")
    assert naming.parse("cor_g__zi_a__b", parts=["zi"]) == naming.cor("g", "zi_a", "b")  # not both in zi


def test_dotted_terms_of_a_correlation_are_split_by_the_groups_terms():
    name = naming.cor("g", "Sepal.Length", "Petal.Width")
    row = naming.tidy_row(name)
    assert row[3] == "cor__Sepal.Length.Petal.Width"
    assert naming.from_tidy(*row, terms=["Intercept", "Sepal.Length", "Petal.Width"]) == name


def test_the_fits_own_parameters_decide_ambiguous_names():
    assert naming.parse("sigma", family=[]) == naming.fixed("sigma")  # a column named sigma
    assert naming.parse("zi_x", parts=[]) == naming.fixed("zi_x")
    assert naming.parse("sd_x") == naming.fixed("sd_x")  # no group: a column


def test_posterior_variables_and_dimensions():
    assert naming.variable(naming.fixed("Days")) == naming.variable("fixed") == "b"
    assert naming.variable(naming.fixed("x", "zi")) == naming.variable("fixed", part="zi") == "b_zi"
    assert naming.variable(naming.sd("Subject", "Days")) == naming.variable("sd", "Subject") == "sd_Subject"
    assert naming.variable(naming.cor("Subject", "Intercept", "Days")) == "cor_Subject"
    assert naming.variable(naming.random_effect("Subject", 308, "Days")) == "r_Subject"
    assert naming.variable(naming.family_parameter("phi")) == "phi"
    assert (naming.level_dim("g"), naming.term_dim("g"), naming.term_bis_dim("g")) == ("g__level", "g__term",
                                                                                          "g__term_bis")
    assert (naming.coef_dim(), naming.coef_dim("zi")) == ("coef", "zi_coef")
    zi = naming.sd("site", "Intercept", "zi")
    assert naming.variable(zi) == naming.variable("sd", "site", "zi") == "sd_site__zi"
    assert naming.variable(naming.random_effect("site", "a", "Intercept", "zi")) == "r_site__zi"
    assert naming.variable(naming.cor("g", "a", "b", "disp")) == "cor_g__disp"
    assert (naming.level_dim("site", "zi"), naming.term_dim("site", "zi"), naming.term_bis_dim("site", "zi")) == (
        "site__zi__level", "site__zi__term", "site__zi__term_bis")


def test_layouts_without_a_row_and_malformed_names_are_refused():
    with pytest.raises(ValueError, match="random effect"):
        naming.tidy_row(naming.random_effect("g", "a", "Intercept"))
    with pytest.raises(ValueError, match="VarCorr"):
        naming.varcorr_row(naming.fixed("Days"))
    with pytest.raises(ValueError, match="2 term"):
        naming.Name("cor", ("Intercept",), "g")
    with pytest.raises(ValueError, match="tidy"):
        naming.from_tidy("ran_vals", "cond", "g", "Intercept")


def test_docstring_examples_run():
    assert doctest.testmod(naming).failed == 0
    assert doctest.testmod(arguments).failed == 0


# ------------------------------------------------------------------------------------------ prob
def test_one_prob_message_names_the_argument_and_the_value():
    assert arguments.check_prob(np.float32(0.5)) == 0.5
    for bad, shown in [(95, "95"), (1.0, "1.0"), (0, "0"), (float("nan"), "nan"), (True, "True"), ("0.9", "'0.9'")]:
        with pytest.raises(bmm.BayesMMError) as error:
            arguments.check_prob(bad)
        assert str(error.value) == f"prob must be a number strictly between 0 and 1 (e.g. 0.95), not {shown}."
    with pytest.raises(bmm.BayesMMError, match="^level must be"):
        arguments.check_prob(2, "level")


# ------------------------------------------------------------------------------------- real fits
@pytest.fixture(scope="module")
def short_sleep():
    """Too few draws for 400 effective ones: every SD is named by the checks. No refit, so the run stays short."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), chains=2, draws=100,
                      warmup=200, seed=1, refit=False)
    return fit, [str(w.message) for w in caught if issubclass(w.category, bmm.BayesMMWarning)]


def test_the_name_in_diagnose_status_and_warnings_is_the_one_intervals_takes(short_sleep):
    fit, caught = short_sleep
    findings = fit.diagnose()
    named = findings[findings["kind"].isin(["rhat", "ess_bulk", "ess_tail"])]
    assert "sd_Subject__Days" in set(named["parameter"])
    interval = fit.intervals(["sd_Subject__Days"])
    row = fit.tidy().query("group == 'Subject' and term == 'sd__Days'").iloc[0]
    assert interval.loc["sd_Subject__Days", "estimate"] == pytest.approx(row["estimate"], rel=1e-12)
    assert interval.loc["sd_Subject__Days", "conf_low"] == pytest.approx(row["conf_low"], rel=1e-12)
    # every parameter a convergence finding names (a whole variable for a group's levels) is a valid selection
    for parameter in named["parameter"]:
        assert len(fit.intervals([parameter]))
    # the status line (the fit's one warning) and the summary's warning lines name parameters the same way
    status = fit.status()
    assert caught == [status]
    for name in re.findall(r" for (\S+?)(?: \(|;)", status):
        assert len(fit.intervals([name])) == 1, name
    lines = [line for line in str(fit).splitlines() if line.startswith("Warning: ")]
    assert any("sd_Subject__Days" in line for line in lines), lines
    assert ") of Subject" not in status + "\n".join(lines)  # not the summary's sd(Days) with its group


def test_the_summary_keeps_brms_labels_and_tidy_broom_mixeds(short_sleep):
    fit, _ = short_sleep
    text = str(fit)
    group = text.split("~Subject (Number of levels: 18)")[1].split("Population-Level Effects:")[0]
    assert [line.split()[0] for line in group.strip().splitlines()[1:]] == ["sd(Intercept)", "sd(Days)",
                                                                             "cor(Intercept,Days)"]
    assert list(fit.tidy()["term"]) == ["Intercept", "Days", "sd__Intercept", "sd__Days", "cor__Intercept.Days",
                                        "sd__Observation"]
    varcorr = fit.varcorr()
    assert [tuple(None if pd.isna(v) else v for v in row) for row in varcorr[["grp", "var1", "var2"]].to_numpy()] == [
        ("Subject", "Intercept", None), ("Subject", "Days", None), ("Subject", "Intercept", "Days"),
        ("Residual", None, None)]


def _zinb_data(seed=2, n=300):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 15, n)
    x = rng.integers(0, 2, n)
    mu = np.exp(1.0 + 0.4 * rng.normal(size=15)[g])
    counts = rng.negative_binomial(2.0, 2.0 / (2.0 + mu))
    y = np.where(rng.uniform(size=n) < special.expit(-1.0 + 1.2 * x), 0, counts)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


def test_a_zero_inflated_fits_names_are_its_tidy_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("y ~ 1 + (1 | g)", _zinb_data(), family="zero_inflated_negbinomial", zi="~ x", chains=2,
                      draws=200, warmup=200, seed=1)
    table = fit.intervals()
    assert list(table.index) == ["Intercept", "sd_g__Intercept", "phi", "zi_Intercept", "zi_x"]
    tidy = fit.tidy()
    for name, row in zip(table.index, tidy.itertuples()):
        assert naming.from_tidy(row.effect, row.component, row.group, row.term) == naming.parse(name)
        assert table.loc[name, "estimate"] == pytest.approx(row.estimate, rel=1e-12)
    assert "zi_x" in str(fit).split("Population-Level Effects:")[1]
    assert list(fit.check_prior_conflict().index) == ["phi", "sd_g__Intercept"]
