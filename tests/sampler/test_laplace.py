"""method="laplace": the mode against lme4's maximum likelihood, the draws' spread against NUTS, the labels."""
from __future__ import annotations

import bayesmm as bmm  # before jax: bmm sets the CPU device count, which jax fixes once imported  # noqa: I001
import numpy as np
import pytest

import jax
from bayesmm.model import build_model
from bayesmm.model.backend import use_float64
from bayesmm.plan import make_plan
from bayesmm.sampler.laplace import laplace_posterior
from bayesmm.sampler.laplace_effects import (draw_effects, effect_layout, factorize, hessian_parts, log_det,
                                             solve)
from reference_tools import lme4

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _mode(formula, data, family, priors=None):
    model = bmm.Model(formula, data, family=family, priors=priors)
    plan = make_plan(model.design, model.family, None, False)
    structure, arrays = build_model(plan, model.design, model.family, model.prior_entries)
    return laplace_posterior(structure, arrays, 2, 500, 1)


def _cbpp():
    data = bmm.datasets.load("cbpp")
    data["period"] = data["period"].astype(str)
    return data


@pytest.mark.parametrize("design", ["crossed", "nested", "any"])
def test_effects_hessian_parts_solve_and_draw_match_a_dense_matrix(design):
    """Two blocks (6 levels x 2 columns, and 4 levels): H recovered from the compressed products, its solve,
    log-determinant and draws' covariance against numpy on the dense matrix. Crossed (each level of the second
    block meets 3 of the first's): one product per level of the second block; nested (each level of the first
    block in one of the second's): the second block's levels share one product; without the rows' levels
    ("any"): one product each."""
    use_float64()
    rng = np.random.default_rng(0)
    rows = ([(a, b) for b in range(4) for a in rng.choice(6, 3, replace=False)] if design != "nested"
            else [(a, a % 4) for a in range(6)]) * 3
    indices = [np.array([a for a, _ in rows]), np.array([b for _, b in rows])]
    layout = effect_layout([(6, 2), (4, 1)], None if design == "any" else indices)
    assert layout.seeds.shape[0] == 2 + {"crossed": 4, "nested": 1, "any": 4}[design]
    pattern = np.zeros((16, 16), bool)
    for a, b in rows:
        touched = [2 * a, 2 * a + 1, 12 + b]
        pattern[np.ix_(touched, touched)] = True
    noise = rng.standard_normal((16, 16))
    dense = np.where(pattern, noise @ noise.T / 16 + 0.3, 0.0) + 3 * np.eye(16)
    parts = hessian_parts(lambda s: dense @ s, layout)
    factor = factorize(parts)
    g = rng.standard_normal(16)
    np.testing.assert_allclose(solve(layout, factor, g), np.linalg.solve(dense, g), rtol=1e-10)
    np.testing.assert_allclose(float(log_det(factor)), np.linalg.slogdet(dense)[1], rtol=1e-10)
    draws = np.asarray(jax.vmap(lambda e: draw_effects(layout, factor, e))(rng.standard_normal((20000, 16))))
    np.testing.assert_allclose(np.cov(draws.T), np.linalg.inv(dense), atol=0.02)


def test_sleepstudy_mode_is_lme4s_maximum_likelihood():
    """With vague priors the mode of the gaussian marginal posterior (exact: the effects are integrated out) is
    lme4's ML fit (lmer(REML = FALSE), tests/reference/sleepstudy_corr.lme4.json), except that the mode is taken
    in log-SD coordinates: there the Jacobian moves log sd up by about its posterior variance."""
    ml = lme4("sleepstudy_corr", "ML")
    result = _mode("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), "gaussian", "vague")
    mode = result.mode
    assert mode["b"][0] == pytest.approx(ml["fixef"]["Days"], abs=0.02 * ml["se"]["Days"])
    assert mode["sigma"] == pytest.approx(ml["sigma"], rel=0.01)
    sd = result.samples.draws["sd_0"].reshape(-1, 2)
    for j, term in enumerate(["Intercept", "Days"]):
        ml_sd = ml["sd"][(frozenset(["Subject"]), term)]
        variance = np.var(np.log(sd[:, j]))
        assert np.log(mode["sd_0"][j] / ml_sd) == pytest.approx(variance, abs=0.3 * variance)


def test_cbpp_binomial_is_close_to_glmer():
    """cbpp binomial: posterior means within 0.1 of glmer's SEs of its Laplace ML estimates, and SDs within
    15% of its standard errors (tests/reference/cbpp_binomial.lme4.json); the herd SD within 15%."""
    ref = lme4("cbpp_binomial")
    fit = bmm.fit(CBPP, _cbpp(), family="binomial", method="laplace", chains=2, draws=1000, seed=1)
    fixed = fit.fixef()
    for term, value in ref["fixef"].items():
        row = fixed.loc[term.replace("period", "period[") + "]" if term.startswith("period") else term]
        se = ref["se"]["(Intercept)" if term == "Intercept" else term]
        assert row["Estimate"] == pytest.approx(value, abs=0.1 * se)
        assert row["Est.Error"] == pytest.approx(se, rel=0.15)
    herd = fit.varcorr().query("grp == 'herd'")["sdcor"].iloc[0]
    assert herd == pytest.approx(ref["sd"][(frozenset(["herd"]), "Intercept")], rel=0.15)


def test_an_approximate_fit_says_so():
    fit = bmm.fit(CBPP, _cbpp(), family="binomial", method="laplace", chains=2, draws=200, seed=1)
    text = str(fit)
    assert fit.method == "laplace"
    assert text.startswith("NOTE: approximate (Laplace)") and "Method: approximate (Laplace)" in text
    assert fit.tidy()[["rhat", "ess_bulk", "ess_tail"]].isna().all().all()
    assert not fit.diagnose()["kind"].isin(["rhat", "ess_bulk", "ess_tail", "divergences"]).any()
    assert fit.ranef().shape[0] == 15 and np.isfinite(fit.predict()["Estimate"]).all()


def test_refusals_name_the_alternative():
    wine = bmm.datasets.load("wine")
    with pytest.raises(bmm.BayesMMError, match="method='nuts'"):
        bmm.fit("rating ~ temp + (1 | judge)", wine, family="cumulative", method="laplace")
    with pytest.raises(bmm.BayesMMError, match="target_accept"):
        bmm.fit(CBPP, _cbpp(), family="binomial", method="laplace", target_accept=0.9)
    with pytest.raises(bmm.BayesMMError, match="method must be one of"):
        bmm.fit(CBPP, _cbpp(), family="binomial", method="vb")
    with pytest.raises(bmm.BayesMMError, match="'metod'.*Did you mean 'method'"):  # a misspelt method= too
        bmm.fit(CBPP, _cbpp(), family="binomial", metod="laplace")


@pytest.mark.slow
def test_draws_spread_like_nuts_on_grouseticks():
    """Two crossed blocks (poisson): each fixed effect's approximate posterior mean within 0.25 of NUTS's
    posterior SD and each random-effect SD's within 0.75 (their posteriors are skewed; the Gaussian is in log
    SD, and the Laplace marginal of a group with few counts per level is biased), and the ratio of posterior SDs
    within a factor 1.5."""
    data = bmm.datasets.load("grouseticks")
    data["cHEIGHT"] = data["HEIGHT"] - data["HEIGHT"].mean()
    data["YEAR"] = data["YEAR"].astype(str)
    formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
    nuts = bmm.fit(formula, data, family="poisson", chains=2, draws=500, warmup=500, seed=1).tidy()
    laplace = bmm.fit(formula, data, family="poisson", method="laplace", seed=1).tidy()
    difference = (laplace["estimate"] - nuts["estimate"]) / nuts["std_error"]
    ratio = laplace["std_error"] / nuts["std_error"]
    fixed = laplace["effect"] == "fixed"
    assert difference[fixed].abs().max() < 0.25, difference
    assert difference[~fixed].abs().max() < 0.75, difference
    assert ratio.between(1 / 1.5, 1.5).all(), ratio


def test_command_line_method_laplace_saved_and_summarised(tmp_path, capsys):
    """--method laplace on the command line; a saved approximate fit stays labelled when read back."""
    from bayesmm.cli import main

    _cbpp().to_csv(tmp_path / "cbpp.csv", index=False)
    assert main(["fit", str(tmp_path / "cbpp.csv"), CBPP, "--family", "binomial", "--factors", "period",
                 "--method", "laplace", "--draws", "200", "--save", str(tmp_path / "fit.nc")]) == 0
    assert "Method: approximate (Laplace)" in capsys.readouterr().out
    assert main(["summary", str(tmp_path / "fit.nc")]) == 0
    assert capsys.readouterr().out.startswith("NOTE: approximate (Laplace)")


def test_update_keeps_the_method():
    fit = bmm.fit(CBPP, _cbpp(), family="binomial", method="laplace", chains=2, draws=200, seed=1)
    smaller = fit.update(formula=". ~ . - period", draws=100)
    assert smaller.method == "laplace" and smaller.settings.draws == 100
    assert list(smaller.fixef().index) == ["Intercept"]
