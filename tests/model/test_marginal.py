"""The marginalised gaussian likelihood (random effects integrated out by Woodbury) and the exact
conditional draws of the random effects, checked against dense linear algebra by hand (scipy); the per-level
algebra of a block of few columns against the dense one; and the gaussian model with one block integrated
out (the others sampled): its likelihood on cells against the rows, against a dense multivariate normal,
and a NUTS fit against the truth."""
from bayesmm.model.backend import use_float64

import re

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density
from scipy import linalg, stats

import bayesmm as bmm
from bayesmm.model import compile_model, make_model
from bayesmm.model.marginal import (
    cell_statistics,
    conditional_effects,
    dense_woodbury,
    marginal_log_likelihood,
    one_block_data,
    one_block_effects,
    one_block_log_likelihood,
    level_kinds,
)
from bayesmm.sampler.nuts import _one_chain, compiled, shapes_key
from bayesmm.sampler.potential import initial_values

use_float64()  # as every fit does, before jax arrays are made here


@pytest.fixture(scope="module")
def crossed():
    """Correlated (x | g) crossed with (1 | h), an offset, 80 rows."""
    rng = np.random.default_rng(3)
    n = 80
    df = pd.DataFrame({"g": rng.choice(list("abcdef"), n), "h": rng.choice(["p", "q", "r", "s"], n),
                       "x": rng.normal(1, 2, n), "e": rng.uniform(0.5, 2, n)})
    df["y"] = 1 + 0.5 * df.x + np.log(df.e) + rng.normal(0, 1, n)
    model = bmm.Model("y ~ x + offset(log(e)) + (x | g) + (1 | h)", df)
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    assert structure.marginal
    return df, model, structure, data


def _theta():
    chol = np.linalg.cholesky(np.array([[1.0, -0.4], [-0.4, 1.0]]))
    return {"Intercept_c": 1.7, "b": np.array([0.45]), "sd_0": np.array([0.8, 0.3]), "L_0": chol,
            "sd_1": np.array([0.6]), "sigma": 0.9}


def _dense(df, model, theta):
    """Z (n x Q), D (Q x Q), the fixed mean, by hand from the data frame."""
    g_levels, g_idx = np.unique(df.g, return_inverse=True)
    h_levels, h_idx = np.unique(df.h, return_inverse=True)
    n = len(df)
    Zg = np.zeros((n, 2 * len(g_levels)))
    Zg[np.arange(n), 2 * g_idx] = 1.0
    Zg[np.arange(n), 2 * g_idx + 1] = df.x
    Zh = np.zeros((n, len(h_levels)))
    Zh[np.arange(n), h_idx] = 1.0
    S = np.diag(theta["sd_0"]) @ theta["L_0"]
    D = linalg.block_diag(np.kron(np.eye(len(g_levels)), S @ S.T), np.eye(len(h_levels)) * theta["sd_1"][0] ** 2)
    x_mean = df.x.mean()
    mean = theta["Intercept_c"] + (df.x - x_mean) * theta["b"][0] + np.log(df.e)
    return np.hstack([Zg, Zh]), D, mean.to_numpy()


def _factors(theta):
    return [jnp.asarray(np.diag(theta["sd_0"]) @ theta["L_0"]), jnp.diag(jnp.asarray(theta["sd_1"]))]


def test_marginal_log_likelihood_equals_dense_multivariate_normal(crossed):
    df, model, structure, data = crossed
    theta = _theta()
    Z, D, mean = _dense(df, model, theta)
    V = theta["sigma"] ** 2 * np.eye(len(df)) + Z @ D @ Z.T
    expected = stats.multivariate_normal(mean, V).logpdf(df.y)
    beta = jnp.asarray([theta["Intercept_c"], theta["b"][0]])
    got = marginal_log_likelihood(structure.blocks, _factors(theta), beta, theta["sigma"], data.marginal)
    assert float(got) == pytest.approx(expected, rel=1e-10)


def test_joint_density_is_priors_plus_marginal_likelihood(crossed):
    df, model, structure, data = crossed
    theta = _theta()
    Z, D, mean = _dense(df, model, theta)
    V = theta["sigma"] ** 2 * np.eye(len(df)) + Z @ D @ Z.T
    params = {k: jnp.asarray(v) for k, v in theta.items()}
    joint, trace = log_density(make_model(structure), (data,), {}, params)
    priors = sum(float(jnp.sum(site["fn"].log_prob(site["value"]))) for name, site in trace.items()
                 if site["type"] == "sample" and not site["is_observed"])
    assert float(joint) == pytest.approx(priors + stats.multivariate_normal(mean, V).logpdf(df.y), rel=1e-10)
    assert not any(name.startswith("z_") for name in trace)  # no random effects are sampled


def test_conditional_effects_have_the_exact_gaussian_conditional(crossed):
    """r | y, theta ~ N(C Z'(y - m) / sigma^2, C) with C = (Z'Z / sigma^2 + D^-1)^-1."""
    df, model, structure, data = crossed
    theta = _theta()
    Z, D, mean = _dense(df, model, theta)
    s2 = theta["sigma"] ** 2
    C = np.linalg.inv(Z.T @ Z / s2 + np.linalg.inv(D))
    expected_mean = C @ Z.T @ (df.y.to_numpy() - mean) / s2
    beta = jnp.asarray([theta["Intercept_c"], theta["b"][0]])
    Q = Z.shape[1]

    def draw(noise):
        parts = conditional_effects(structure.blocks, _factors(theta), beta, theta["sigma"], data.marginal, noise)
        return jnp.concatenate([p.reshape(-1) for p in parts])

    centre = np.asarray(draw(jnp.zeros(Q)))
    np.testing.assert_allclose(centre, expected_mean, rtol=1e-9, atol=1e-12)
    # unit noise vectors give the columns of the conditional's square root: their outer product is C
    deviations = np.stack([np.asarray(draw(jnp.eye(Q)[i])) - centre for i in range(Q)], axis=1)
    np.testing.assert_allclose(deviations @ deviations.T, C, rtol=1e-8, atol=1e-12)


def test_marginalize_false_samples_the_effects_and_errors_for_non_gaussian(crossed):
    df, model, _, _ = crossed
    structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize=False)
    assert not structure.marginal and data.marginal is None
    counts = df.assign(y=np.random.default_rng(0).poisson(3, len(df)))
    poisson = bmm.Model("y ~ x + (1 | g)", counts, family="poisson")
    with pytest.raises(bmm.BayesMMError, match="marginalize=True needs a gaussian"):
        compile_model(poisson.design, poisson.family, poisson.prior_entries, marginalize=True)
    assert not compile_model(poisson.design, poisson.family, poisson.prior_entries)[0].marginal


def test_dense_marginal_programs_make_only_unbatched_lapack_calls():
    """jaxlib 0.10's CPU LAPACK kernels split a batch of matrices over XLA's thread pool and block on it: two
    such calls at once can deadlock (``benchmarks/lapack_deadlock.py``; pastes ``(1 | batch/cask)`` hung in
    notebook 01). The sampler and the conditional draws of a model with two integrated-out blocks must
    make their LAPACK calls (Cholesky, triangular solves) one matrix at a time."""
    model = bmm.Model("strength ~ 1 + (1 | batch/cask)", bmm.datasets.load("pastes"))
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    assert structure.marginal and dense_woodbury(data.marginal)
    shapes = shapes_key(data)
    centre, jitter = initial_values(structure, data, compiled(structure, shapes).sites, np.random.default_rng(0), 1)
    sampler = jax.jit(_one_chain(structure, shapes, 10, 300, 0.8, 10))
    text = sampler.lower({k: v[0] for k, v in jitter.items()}, jax.random.PRNGKey(1), centre, data).as_text()
    calls = re.findall(r"custom_call @(lapack_\w+)\(.*?num_batch_dims = \"(\d+)\"", text)
    assert {name for name, _ in calls} >= {"lapack_dpotrf_ffi", "lapack_dtrsm_ffi"}
    assert all(batch == "0" for _, batch in calls), calls


@pytest.fixture(scope="module")
def crossed_gaussian():
    """450 levels of `a` crossed with 12 of `b`: 462 coefficients, too many for the dense marginal."""
    rng = np.random.default_rng(11)
    n = 2400
    a, b = rng.integers(0, 450, n), rng.integers(0, 12, n)
    x = rng.normal(size=n)
    truth = {"a": rng.normal(0, 0.8, 450), "b": rng.normal(0, 0.5, 12)}
    y = 2.0 + 0.7 * x + truth["a"][a] + truth["b"][b] + rng.normal(0, 1.0, n)
    df = pd.DataFrame({"y": y, "x": x, "a": [f"a{i:03d}" for i in a], "b": [f"b{i:02d}" for i in b]})
    return bmm.Model("y ~ x + (1 | a) + (1 | b)", df), truth


def test_one_block_likelihood_on_cells_equals_the_rows():
    """Rows sharing every sampled term (InstEval: 1,790 lecturer x department x service cells for 73,421 rows)
    are summed into cells; the log density and its gradient must not change, weights and offset included."""
    rng = np.random.default_rng(5)
    n = 1600
    df = pd.DataFrame({"s": rng.integers(0, 450, n).astype(str), "d": rng.integers(0, 20, n).astype(str),
                       "t": rng.integers(0, 2, n).astype(str), "w": rng.integers(1, 4, n).astype(float),
                       "off": np.repeat([0.0, 0.5], n // 2)})
    df["y"] = rng.normal(size=n) + df["t"].astype(float)
    model = bmm.Model("y ~ t + offset(off) + (1 | s) + (1 | d)", df, weights="w")
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    assert structure.marginal_block == 0 and data.cells is not None
    assert data.cells.y.shape[0] == len(df.groupby(["d", "t", "off"]))  # 20 x 2 x 2 cells, not 1,600 rows
    rows = data._replace(cells=None, one_block=one_block_data(model.design.blocks[0], model.design.y,
                                                              model.design.weights, None))
    model_fn = make_model(structure)
    params = {"Intercept_c": 0.3, "b": jnp.asarray([0.2]), "sd_0": jnp.asarray([0.7]), "sd_1": jnp.asarray([0.4]),
              "z_1": jnp.asarray(rng.normal(size=(20, 1))), "sigma": 1.3}

    def density(point, d):
        return log_density(model_fn, (d,), {}, point)[0]

    on_cells, on_rows = jax.value_and_grad(density)(params, data), jax.value_and_grad(density)(params, rows)
    assert float(on_cells[0]) == pytest.approx(float(on_rows[0]), rel=1e-12)
    for name in params:
        np.testing.assert_allclose(np.asarray(on_cells[1][name]), np.asarray(on_rows[1][name]), rtol=1e-9, atol=1e-12)


def test_one_block_likelihood_per_distinct_cross_product_equals_per_level():
    """Levels sharing their Z_l'Z_l (an intercept's row counts; a slope measured at the same values in every level)
    take the marginal's per-level factor once per distinct matrix: the same log-likelihood and gradient as one
    factor per level, for one column and for two correlated ones."""
    rng = np.random.default_rng(11)
    for Z, group in ((np.ones((300, 1)), rng.integers(0, 60, 300)),
                     (np.column_stack([np.ones(240), np.tile([0.0, 1.0, 2.0, 3.0], 60)]), np.repeat(np.arange(60), 4))):
        levels, q = 60, Z.shape[1]
        ZtZ = np.stack([Z[group == lv].T @ Z[group == lv] for lv in range(levels)])
        kinds = level_kinds(ZtZ)
        assert kinds is not None and kinds[0].shape[0] < levels / 4
        Zte = jnp.asarray(rng.normal(size=(levels, q)) * 3.0)
        factor = jnp.asarray(np.linalg.cholesky(np.array([[0.8, 0.3], [0.3, 0.5]])[:q, :q]))

        def log_lik(f, sigma, with_kinds):
            return one_block_log_likelihood(f, sigma, jnp.asarray(ZtZ), Zte, 400.0, float(len(group)),
                                            kinds if with_kinds else None)

        by_kind = jax.value_and_grad(log_lik, argnums=(0, 1))(factor, 1.3, True)
        by_level = jax.value_and_grad(log_lik, argnums=(0, 1))(factor, 1.3, False)
        assert float(by_kind[0]) == pytest.approx(float(by_level[0]), rel=1e-13)
        for a, b in zip(by_kind[1], by_level[1]):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-11, atol=1e-12)
    assert level_kinds(np.arange(10.0).reshape(10, 1, 1)) is None  # every level its own: per level as before


def test_one_block_marginal_equals_dense_multivariate_normal(crossed_gaussian):
    model, _ = crossed_gaussian
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    assert not structure.marginal and structure.marginal_block == 0  # `a` has the most coefficients
    block = model.design.blocks[0]
    rng = np.random.default_rng(2)
    e = rng.normal(size=model.design.n_obs)
    sd, sigma = 0.8, 1.1
    Z = np.zeros((len(e), block.n_levels))
    Z[np.arange(len(e)), block.group_index] = 1.0
    expected = stats.multivariate_normal(np.zeros(len(e)), sigma**2 * np.eye(len(e)) + sd**2 * Z @ Z.T).logpdf(e)
    by_row = one_block_data(block, e, None, None)  # every row its own cell, linear predictor 0: residuals e
    Zte, ete = cell_statistics(by_row, jnp.zeros(len(e)))
    args = (jnp.diag(jnp.asarray([sd])), sigma, by_row.ZtZ, Zte)
    got = one_block_log_likelihood(*args, ete, float(len(e)))
    assert float(got) == pytest.approx(expected, rel=1e-10)
    # the conditional draw: mean (noise 0) and covariance (unit noise vectors) of r | e
    C = np.linalg.inv(Z.T @ Z / sigma**2 + np.eye(block.n_levels) / sd**2)
    centre = np.asarray(one_block_effects(*args, jnp.zeros(block.n_levels)))[:, 0]
    np.testing.assert_allclose(centre, C @ Z.T @ e / sigma**2, rtol=1e-9, atol=1e-12)
    draw = np.asarray(one_block_effects(*args, jnp.ones(block.n_levels)))[:, 0] - centre
    np.testing.assert_allclose(draw ** 2, np.diag(C), rtol=1e-9)  # levels independent given e: C is diagonal


def test_joint_density_with_one_block_integrated_out(crossed_gaussian):
    """log joint = priors + log N(y - X b - Z_b r_b | 0, sigma^2 I + sd_a^2 Z_a Z_a')."""
    model, _ = crossed_gaussian
    structure, data = compile_model(model.design, model.family, model.prior_entries, centred=False)
    design = model.design
    rng = np.random.default_rng(4)
    params = {"Intercept_c": jnp.asarray(2.1), "b": jnp.asarray([0.6]), "sd_0": jnp.asarray([0.7]),
              "sd_1": jnp.asarray([0.4]), "z_1": jnp.asarray(rng.normal(size=(12, 1))), "sigma": jnp.asarray(0.95)}
    joint, trace = log_density(make_model(structure), (data,), {}, params)
    priors = sum(float(jnp.sum(site["fn"].log_prob(site["value"]))) for site in trace.values()
                 if site["type"] == "sample" and not site["is_observed"])
    x = design.X[:, list(design.fixed_names).index("x")]
    r_b = 0.4 * np.asarray(params["z_1"])[:, 0]
    e = design.y - 2.1 - 0.6 * (x - x.mean()) - r_b[design.blocks[1].group_index]
    Z = np.zeros((len(e), 450))
    Z[np.arange(len(e)), design.blocks[0].group_index] = 1.0
    expected = stats.multivariate_normal(np.zeros(len(e)), 0.95**2 * np.eye(len(e)) + 0.49 * Z @ Z.T).logpdf(e)
    assert float(joint) == pytest.approx(priors + expected, rel=1e-9)
    assert "z_0" not in trace


def test_fit_with_one_block_integrated_out_recovers_the_truth(crossed_gaussian):
    model, truth = crossed_gaussian
    fit = model.fit(chains=2, draws=400, warmup=400, seed=3)
    assert fit.idata.posterior.attrs["marginalized"] == 1
    table = fit.tidy().set_index(["group", "term"])
    for (group, term), value in {("a", "sd__Intercept"): 0.8, ("b", "sd__Intercept"): 0.5,
                                 ("Residual", "sd__Observation"): 1.0, ("", "x"): 0.7}.items():
        row = table.loc[(group, term)]
        assert row.conf_low < value < row.conf_high, (group, term, row.estimate)
    assert table.rhat.max() < 1.02
    # the integrated-out effects, drawn afterwards, track the simulated ones
    ranef = fit.ranef()
    a = ranef[ranef.group == "a"]
    simulated = truth["a"][[int(level[1:]) for level in a.level]]
    assert np.corrcoef(a.estimate, simulated)[0, 1] > 0.8
    assert int(fit.idata.sample_stats.diverging.sum()) == 0


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (1 | Subject)"])
def test_per_level_marginal_equals_dense(formula):
    """One block of few columns: the per-level Woodbury algebra (unrolled q x q Cholesky) gives the dense
    algebra's log-likelihood and conditional random effects, for weights too."""
    sleepstudy = bmm.datasets.load("sleepstudy")
    model = bmm.Model(formula, sleepstudy.assign(w=np.arange(len(sleepstudy)) % 3 + 1), weights="w")
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    md = data.marginal
    assert md.level_ZtZ is not None
    dense = md._replace(level_ZtZ=None, level_ZtX=None, level_Zty=None)
    q = structure.blocks[0].n_columns
    factor = np.array([[20.0, 0.0], [1.5, 5.0]])[:q, :q]
    beta, sigma = np.array([250.0, 10.0]), 25.0
    noise = jax.random.normal(jax.random.PRNGKey(0), (md.ZtZ.shape[0],))
    assert np.isclose(marginal_log_likelihood(structure.blocks, [factor], beta, sigma, md),
                      marginal_log_likelihood(structure.blocks, [factor], beta, sigma, dense), rtol=1e-12)
    a = conditional_effects(structure.blocks, [factor], beta, sigma, md, noise)[0]
    b = conditional_effects(structure.blocks, [factor], beta, sigma, dense, noise)[0]
    assert np.allclose(a, b, atol=1e-9)


def test_indicator_block_statistics_equal_the_dense_products():
    """A block whose Z holds one 1 per row (a positional structure's columns) takes its per-level sums from one
    nonzero per row at ``level * q + column``: the same Z_l'WZ_l, Z_l'W e_l and e'We as the dense products, with
    weights and cells."""
    from types import SimpleNamespace

    rng = np.random.default_rng(9)
    rows, levels, q = 60, 5, 4
    group, column = rng.integers(0, levels, rows), rng.integers(0, q, rows)
    Z = np.eye(q)[column]
    weights, y = rng.uniform(0.5, 2.0, rows), rng.normal(size=rows)
    cells = rng.integers(0, 12, rows)
    eta = rng.normal(size=12)
    block = SimpleNamespace(Z=Z, group_index=group, n_levels=levels)
    data = one_block_data(block, y, weights, cells)
    assert data.sums.forward.order.shape == (levels * q,)  # one sum per level and column
    Zte, ete = cell_statistics(data, jnp.asarray(eta))
    e = y - eta[cells]
    expected = np.stack([(Z[group == lv] * (weights * e)[group == lv, None]).sum(0) for lv in range(levels)])
    assert np.allclose(np.asarray(Zte), expected) and np.isclose(float(ete), np.sum(weights * e * e))
    ZtZ = np.stack([Z[group == lv].T @ (Z[group == lv] * weights[group == lv, None]) for lv in range(levels)])
    assert np.allclose(np.asarray(data.ZtZ), ZtZ)
