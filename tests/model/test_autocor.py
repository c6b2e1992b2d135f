"""Autocorrelated gaussian residuals (``autocor=``): the model's log density against a dense multivariate normal
``N(X b, sigma^2 R + Z D Z')`` built by hand (``R_ij = rho^|t_i - t_j|`` within a series), on every path (random
effects integrated out per level or densely, sampled, none), with gaps in the times and continuous times; the
per-row densities, the draws' lag correlations and the plan's choices."""
from bayesmm.model.backend import use_float64

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density
from scipy import stats

import bayesmm as bmm
from bayesmm.model import compile_model, make_model
from bayesmm.model.autocor import AR1Normal

use_float64()


def _frame(seed=4, series=6, length=9):
    """Series ``g`` with whole-number times ``t`` (some steps skipped), a crossed factor ``h`` and a covariate."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(series):
        times = np.sort(rng.choice(np.arange(1, 2 * length), length, replace=False))
        for t in times:
            rows.append({"g": f"s{s}", "t": int(t), "h": rng.choice(list("pqr")), "x": rng.normal()})
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)  # rows out of time order
    df["u"] = df.t + rng.uniform(0, 0.9, len(df))  # continuous times for car1
    df["y"] = 1 + 0.5 * df.x + rng.normal(0, 1, len(df))
    return df


def _residual_correlation(series, times, rho):
    same = series[:, None] == series[None, :]
    return np.where(same, rho ** np.abs(times[:, None] - times[None, :]), 0.0)


def _dummies(column) -> np.ndarray:
    levels, index = np.unique(column, return_inverse=True)
    return np.eye(len(levels))[index]


def _check(formula, autocor, time, rho, marginalize=None, sds=(0.7,)):
    df = _frame()
    model = bmm.Model(formula, df, autocor=autocor)
    structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize=marginalize,
                                    centred=False)
    params = {"Intercept_c": jnp.asarray(1.2), "b": jnp.asarray([0.4]), "sigma": jnp.asarray(0.9),
              structure.autocor: jnp.asarray(rho)}
    mean = 1.2 + 0.4 * (df.x - df.x.mean()).to_numpy()
    groups = [b.group for b in model.design.blocks]
    Zs = [_dummies(df[g]) for g in groups]
    rng = np.random.default_rng(0)
    for k, (sd, Z) in enumerate(zip(sds, Zs)):
        params[f"sd_{k}"] = jnp.asarray([sd])
        if structure.blocks[k].kind == "sampled":
            z = rng.normal(size=(Z.shape[1], 1))
            params[f"z_{k}"] = jnp.asarray(z)
            mean = mean + Z @ (sd * z[:, 0])
    V = 0.81 * _residual_correlation(df.g.to_numpy(), df[time].to_numpy(float), rho)
    for sd, Z, block in zip(sds, Zs, structure.blocks):
        if block.kind != "sampled":
            V = V + sd ** 2 * Z @ Z.T
    joint, trace = log_density(make_model(structure), (data,), {}, params)
    priors = sum(float(jnp.sum(site["fn"].log_prob(site["value"]))) for name, site in trace.items()
                 if site["type"] == "sample" and not site["is_observed"])
    expected = stats.multivariate_normal(mean, V).logpdf(df.y)
    assert float(joint) - priors == pytest.approx(expected, rel=1e-9)
    return structure, data


@pytest.mark.parametrize("rho", [0.6, -0.45])
def test_integrated_per_level_equals_dense_normal_with_gaps(rho):
    structure, data = _check("y ~ x + (1 | g)", "ar1(t | g)", "t", rho)
    assert structure.marginal and data.autocor.level_index is not None
    assert set(np.asarray(data.autocor.steps)) > {1.0}  # skipped steps: rho^2, rho^3, ...


def test_integrated_crossed_dense_path_equals_dense_normal():
    structure, data = _check("y ~ x + (1 | h) + (1 | g)", "ar1(t | g)", "t", 0.5, sds=(0.5, 0.8))
    assert structure.marginal and data.autocor.level_index is None


def test_series_crossing_levels_take_the_dense_algebra():
    structure, data = _check("y ~ x + (1 | h)", "ar1(t | g)", "t", -0.3, sds=(0.6,))
    assert structure.marginal and data.autocor.level_index is None  # a series' rows sit in several levels of h


def test_sampled_effects_and_no_effects_equal_dense_normal():
    structure, _ = _check("y ~ x + (1 | g)", "ar1(t | g)", "t", 0.7, marginalize=False)
    assert structure.blocks[0].kind == "sampled"
    _check("y ~ x", "ar1(t | g)", "t", -0.8)


def test_continuous_times_car1():
    _check("y ~ x + (1 | g)", "car1(u | g)", "u", 0.55, marginalize=False)
    structure, _ = _check("y ~ x", "car1(u | g)", "u", 0.3)
    assert structure.autocor == "car1__rho"


def test_row_order_within_series():
    df = _frame()
    model = bmm.Model("y ~ x", df, autocor="ar1(~ 1 | g)")
    autocor = model.design.autocor
    for g, rows in df.groupby("g").groups.items():
        rows = np.asarray(rows)
        assert autocor.previous[rows[0]] == -1 and list(autocor.previous[rows[1:]]) == list(rows[:-1])
    assert set(autocor.step[autocor.previous >= 0]) == {1.0}


def test_pointwise_densities_are_conditionals_and_draws_have_the_lag_correlation():
    df = _frame(series=1, length=4)
    model = bmm.Model("y ~ 1", df, autocor="ar1(t | g)")
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    loc, rho = jnp.zeros(len(df)), 0.6
    law = AR1Normal(loc, 1.3, rho, data.autocor)
    t = df.t.to_numpy(float)
    order = np.argsort(t)
    R = 1.69 * _residual_correlation(np.zeros(len(df)), t, rho)
    y = df.y.to_numpy()
    pointwise = np.asarray(law.log_prob(jnp.asarray(y)))
    for k in range(len(order)):  # each row given the earlier ones: the ratio of two marginal densities
        seen = order[:k + 1]
        full = stats.multivariate_normal(np.zeros(k + 1), R[np.ix_(seen, seen)]).logpdf(y[seen])
        before = stats.multivariate_normal(np.zeros(k), R[np.ix_(order[:k], order[:k])]).logpdf(y[order[:k]]) if k else 0
        assert pointwise[order[k]] == pytest.approx(full - before, rel=1e-9)
    draws = np.asarray(law.sample(jax.random.PRNGKey(1), (20000,)))
    empirical = np.cov(draws.T)
    assert np.max(np.abs(empirical - R)) < 0.1
