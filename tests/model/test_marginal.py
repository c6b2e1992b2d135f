"""The marginalised gaussian likelihood (random effects integrated out by Woodbury) and the exact
conditional draws of the random effects, checked against dense linear algebra by hand (scipy)."""
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
from bayesmm.model.marginal import conditional_effects, dense_woodbury, marginal_log_likelihood
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
