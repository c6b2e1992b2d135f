"""Covariance structures of random-effect blocks: formulas, the correlation functions and their algebra, bad
input, priors, and fits that recover simulated truths."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.design import build_design
from bayesmm.errors import DataError, FormulaError, PriorError
from bayesmm.formula_structures import parse_model_formula
from bayesmm.structures import cholesky, correlation, lag_correlations, markov_precision, markov_steps, toeplitz

PARSED = {
    "y ~ ar1(time + 0 | g)": ["ar1(0 + time | g)"],
    "y ~ x + ou(0 + t | g) + (1 | g)": ["ou(0 + t | g)", "(1 | g)"],
    "y ~ exp(x + y2 + 0 | site)": ["exp(0 + x + y2 | site)"],
    "y ~ cs(0 + f | g)": ["cs(0 + f | g)"],
    "y ~ toep(0 + f | g)": ["toep(0 + f | g)"],
    "y ~ diag(x | g)": ["(1 + x || g)"],
    "y ~ us(x | g)": ["(1 + x | g)"],
    "y ~ exp(x) + (1 | g)": ["(1 | g)"],
}
REFUSED = {
    "y ~ ar1(time | g)": "has no intercept",
    "y ~ ou(a + b + 0 | g)": "one column of times",
    "y ~ ar1(log(t) + 0 | g)": "not a single column",
    "y ~ ar1(t + 0 || g)": "single '|'",
    "y ~ ar1(t + 0 | g) + ou(u + 0 | g)": "one structure per grouping factor",
}


@pytest.mark.parametrize("formula", PARSED)
def test_structure_terms_parse(formula):
    assert [str(t) for t in parse_model_formula(formula).random] == PARSED[formula]


@pytest.mark.parametrize("formula", REFUSED)
def test_bad_structure_terms_are_refused(formula):
    with pytest.raises(FormulaError, match=REFUSED[formula]):
        parse_model_formula(formula)


TIMES = np.array([[0.0], [0.4], [1.5], [1.7], [4.0]])


@pytest.mark.parametrize("kind,param,positions", [
    ("ar1", -0.6, np.arange(5.0)[:, None]), ("ar1", 0.8, np.arange(5.0)[:, None]), ("ou", 1.3, TIMES),
    ("exp", 2.0, np.random.default_rng(1).uniform(0, 5, (6, 2))), ("mat", 1.5, np.random.default_rng(2).uniform(0, 5, (6, 2))),
    ("gau", 0.7, np.random.default_rng(3).uniform(0, 5, (6, 2))), ("cs", 0.3, np.zeros((4, 1))),
    ("toep", np.array([0.5, -0.3, 0.2]), np.zeros((4, 1)))])
def test_cholesky_factor_reproduces_the_correlation(kind, param, positions):
    R = correlation(kind, param, positions)
    L = cholesky(kind, param, positions)
    assert np.allclose(np.diag(R), 1.0)
    assert np.allclose(L @ L.T, R, atol=1e-5)


@pytest.mark.parametrize("kind,param,positions", [("ar1", -0.6, np.arange(6.0)[:, None]), ("ou", 0.9, TIMES)])
def test_markov_precision_is_the_inverse(kind, param, positions):
    diagonal, off, logdet = markov_precision(markov_steps(kind, param, positions))
    precision = np.diag(diagonal) + np.diag(off, 1) + np.diag(off, -1)
    R = correlation(kind, param, positions)
    assert np.allclose(precision @ R, np.eye(len(R)), atol=1e-10)
    assert np.isclose(logdet, np.linalg.slogdet(R)[1])


def test_toeplitz_correlations_from_partial_autocorrelations():
    """Durbin-Levinson: an AR(1)'s partial autocorrelations (rho, 0, 0) give rho^lag; the last Yule-Walker
    coefficient of order k of the result is the k-th partial autocorrelation again; any partial autocorrelations in
    (-1, 1), near the edges too, give a positive definite matrix."""
    np.testing.assert_allclose(lag_correlations(np.array([0.7, 0.0, 0.0])), 0.7 ** np.arange(1, 4))
    rng = np.random.default_rng(5)
    partial = rng.uniform(-0.95, 0.95, 5)
    lags = lag_correlations(partial)
    R = toeplitz(lags)
    for k in range(1, 6):
        assert np.linalg.solve(R[:k, :k], lags[:k])[-1] == pytest.approx(partial[k - 1])
    edges = rng.choice([-0.999, 0.999], (200, 6)) * rng.uniform(0.9, 1.0, (200, 6))
    assert np.linalg.eigvalsh(toeplitz(lag_correlations(edges))).min() > 0


def test_markov_marginal_matches_the_dense_gaussian():
    """The tridiagonal per-level marginal and conditional mean against the dense multivariate normal."""
    from bayesmm.model.structured import markov_effects, markov_log_likelihood

    rng = np.random.default_rng(4)
    positions, sd, lscale, sigma = TIMES, 0.8, 1.1, 0.5
    q, levels = len(positions), 3
    rows = [(level, t) for level in range(levels) for t in range(q) if (level, t) != (1, 2)]  # one time missing
    level, time = np.array(rows).T
    e = rng.normal(size=len(rows))
    Z = np.zeros((len(rows), q)); Z[np.arange(len(rows)), time] = 1.0
    Sigma = sd**2 * correlation("ou", lscale, positions)
    expected, mean = 0.0, np.zeros((levels, q))
    ZtZ, Zte = np.zeros((levels, q, q)), np.zeros((levels, q))
    for lv in range(levels):
        Zl, el = Z[level == lv], e[level == lv]
        V = sigma**2 * np.eye(len(el)) + Zl @ Sigma @ Zl.T
        expected += stats.multivariate_normal(np.zeros(len(el)), V).logpdf(el)
        mean[lv] = Sigma @ Zl.T @ np.linalg.solve(V, el)
        ZtZ[lv], Zte[lv] = Zl.T @ Zl, Zl.T @ el
    got = markov_log_likelihood("ou", np.array([sd]), lscale, positions, sigma, ZtZ, Zte, e @ e, float(len(e)))
    assert np.isclose(float(got), expected, rtol=1e-6)  # float32 outside a fit
    draw = markov_effects("ou", np.array([sd]), lscale, positions, sigma, ZtZ, Zte, np.zeros(levels * q))
    assert np.allclose(np.asarray(draw), mean, atol=1e-5)


def _series(groups=40, times=6, rho=0.7, sd=1.0, seed=1):
    rng = np.random.default_rng(seed)
    R = rho ** np.abs(np.subtract.outer(np.arange(times), np.arange(times)))
    effects = rng.multivariate_normal(np.zeros(times), sd**2 * R, size=groups)
    frame = pd.DataFrame({"g": np.repeat(np.arange(groups), times), "t": np.tile(np.arange(times), groups)})
    return frame, effects[frame.g, frame.t], rng


def test_bad_input_names_the_column_and_rows():
    frame, _, rng = _series(groups=3)
    frame["y"], frame["u"] = rng.normal(size=len(frame)), np.tile([0, 1, 3, 4, 5, 6.5], 3)
    with pytest.raises(DataError, match=r"'u'.*not equally spaced.*ou\(u \+ 0 \| g\)"):
        build_design(parse_model_formula("y ~ ar1(u + 0 | g)"), frame)
    with pytest.raises(DataError, match=r"rows \[0, 18\].*same time"):
        build_design(parse_model_formula("y ~ ou(u + 0 | g)"), pd.concat([frame, frame.iloc[:1]], ignore_index=True))
    with pytest.raises(DataError, match=r"Column 'u'.*non-finite.*rows \[4\]"):
        build_design(parse_model_formula("y ~ exp(u + t + 0 | g)"), frame.assign(u=frame.u.where(frame.index != 4)))
    with pytest.raises(DataError, match="must hold numbers"):
        build_design(parse_model_formula("y ~ ou(u + 0 | g)"), frame.assign(u=frame.u.astype(str)))
    with pytest.raises(DataError, match=r"toep\(0 \+ u \| g\) has 1 column.*two or more"):
        build_design(parse_model_formula("y ~ toep(0 + u | g)"), frame)


def test_priors_show_rho_and_the_length_scale():
    frame, effects, rng = _series(groups=3)
    frame["y"], frame["u"] = effects + rng.normal(size=len(frame)), np.tile([0, 1, 3, 4, 8, 9.5], 3)
    table = bmm.Model("y ~ ar1(t + 0 | g)", frame).priors
    assert table.loc[table["class"] == "rho", "prior"].tolist() == ["uniform(-1, 1)"]
    assert table.loc[table["class"] == "sd", "coef"].tolist() == ["t"]
    table = bmm.Model("y ~ ou(u + 0 | g)", frame).priors
    shape, scale = table.loc[table["class"] == "lscale", "prior"].iloc[0][len("inverse_gamma("):-1].split(",")
    law = stats.invgamma(float(shape), scale=float(scale))
    assert law.cdf(1.0) == pytest.approx(0.01, abs=2e-3) and law.sf(9.5) == pytest.approx(0.01, abs=2e-3)
    with pytest.raises(PriorError, match="reaches outside"):
        bmm.Model("y ~ ar1(t + 0 | g)", frame, priors={"rho": "uniform(-2, 1)"}).priors
    table = bmm.Model("y ~ toep(0 + C(t) | g)", frame).priors  # one prior for each lag's partial autocorrelation
    assert table.loc[table["class"] == "rho", "prior"].tolist() == ["uniform(-1, 1)"]
    assert len(table[table["class"] == "sd"]) == 6


def _inside(table, term, truth):
    row = table[table.term == term].iloc[0]
    assert row.conf_low < truth < row.conf_high, (term, truth, row.conf_low, row.conf_high)


def test_gaussian_ar1_recovers_rho_integrated_out():
    frame, effects, rng = _series(groups=40, rho=0.7, sd=1.0, seed=1)
    frame["y"] = 1.0 + effects + 0.5 * rng.normal(size=len(frame))
    fit = bmm.fit("y ~ 1 + ar1(t + 0 | g)", frame, chains=2, draws=400, warmup=400, seed=1)
    assert fit.plan.kinds == ("by_level",)
    table = fit.tidy(prob=0.99)  # these 40 series put sd__t's 95% upper bound at 1.00-1.03 (seeds 1-3): at the truth
    for term, truth in (("Intercept", 1.0), ("sd__t", 1.0), ("ar1__rho", 0.7), ("sd__Observation", 0.5)):
        _inside(table, term, truth)
    assert fit.idata.posterior["r_g"].shape[-2:] == (40, 6)


def test_poisson_ar1_recovers_rho_sampled_whitened():
    frame, effects, rng = _series(groups=30, times=8, rho=0.6, sd=0.7, seed=2)
    frame["y"] = rng.poisson(np.exp(1.0 + effects))
    fit = bmm.fit("y ~ 1 + ar1(t + 0 | g)", frame, family="poisson", chains=2, draws=400, warmup=400, seed=2)
    assert fit.plan.kinds == ("sampled",)
    table = fit.tidy()
    for term, truth in (("Intercept", 1.0), ("sd__t", 0.7), ("ar1__rho", 0.6)):
        _inside(table, term, truth)
