"""Observation-level effects integrated out by adaptive Gauss-Hermite quadrature (bayesmm.model.quadrature): the
integral against brute force, its gradient, the conditional draws of the effects, and a grouseticks fit. (The
level pairs sampled as sum and split: tests/plan/test_centring.py and tests/model/test_effects.py.)"""
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from jax.scipy.special import logsumexp
from scipy import stats

import bayesmm as bmm
from bayesmm.model import compile_model, likelihood
from bayesmm.model.quadrature import RowIntegrated

numpyro.enable_x64()  # as bayesmm.sampler.run does for every fit
GRID = np.linspace(-30.0, 30.0, 600_001)


def _brute_force(family, eta, s, y, aux, trials=None):
    """log int f(y | eta + s u) N(u; 0, 1) du on a fine grid, row by row."""
    out = []
    for i in range(len(y)):
        n = None if trials is None else trials[i]
        law = likelihood(family, "log" if family in ("poisson", "negbinomial") else "logit",
                         jnp.asarray(eta[i] + s * GRID), aux, n)
        log_f = law.log_prob(jnp.asarray(y[i])) + stats.norm.logpdf(GRID)
        out.append(float(logsumexp(log_f)) + np.log(GRID[1] - GRID[0]))
    return np.array(out)


CASES = {
    "poisson": (np.array([0.0, 1.0, 3.0, 10.0, 40.0, 85.0]), None, {}),
    "negbinomial": (np.array([0.0, 2.0, 7.0, 30.0, 60.0, 1.0]), None, {"phi": jnp.asarray(2.5)}),
    "binomial": (np.array([0.0, 1.0, 5.0, 9.0, 20.0, 3.0]), np.array([1.0, 4.0, 10.0, 10.0, 20.0, 30.0]), {}),
    "bernoulli": (np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0]), None, {}),
}


@pytest.mark.parametrize("family", list(CASES))
@pytest.mark.parametrize("s", [0.05, 0.5, 1.2])
def test_quadrature_matches_brute_force_integration(family, s):
    y, trials, aux = CASES[family]
    rng = np.random.default_rng(1)
    centre = (np.log(y + 0.5) if trials is None and family != "bernoulli" else
              np.log((y + 0.5) / ((1.0 if trials is None else trials) - y + 0.5)))
    eta = centre + rng.normal(0, 1.0, y.size)
    law = RowIntegrated(family, "log" if family in ("poisson", "negbinomial") else "logit", jnp.asarray(eta), s, aux,
                        None if trials is None else jnp.asarray(trials))
    got = np.asarray(law.log_prob(jnp.asarray(y)))
    np.testing.assert_allclose(got, _brute_force(family, eta, s, y, aux, trials), atol=2e-4)


def test_quadrature_gradient_is_the_derivative_of_its_value():
    """The mode is found without differentiating the Newton steps; one more step carries the exact gradient
    (checked against central differences, in eta and in the SD)."""
    y = jnp.asarray(CASES["poisson"][0])
    rng = np.random.default_rng(2)

    def total(eta, s):
        return RowIntegrated("poisson", "log", eta, s, {}).log_prob(y).sum()

    grad = jax.jit(jax.grad(total, argnums=(0, 1)))
    for s in (0.1, 0.6, 2.0):
        eta = jnp.log(y + 0.5) + rng.normal(0, 1.5, y.size)
        g_eta, g_s = grad(eta, s)
        direction = jnp.asarray(rng.normal(size=y.size))
        h = 1e-5
        numeric = (total(eta + h * direction, s) - total(eta - h * direction, s)) / (2 * h)
        assert float(g_eta @ direction) == pytest.approx(float(numeric), rel=1e-6, abs=1e-8)
        numeric_s = (total(eta, s + h) - total(eta, s - h)) / (2 * h)
        assert float(g_s) == pytest.approx(float(numeric_s), rel=1e-6, abs=1e-8)


def test_conditional_draws_have_the_posterior_moments_of_the_effect():
    """u | y, eta, s: the draws' mean and SD match those of the exact one-dimensional posterior."""
    y, eta, s = jnp.asarray([0.0, 4.0, 40.0]), jnp.asarray([0.5, 0.5, 2.0]), 0.8
    law = RowIntegrated("poisson", "log", eta, s, {})
    draws = np.asarray(jax.vmap(lambda key: law.conditional(y, key))(jax.random.split(jax.random.PRNGKey(0), 40_000)))
    for i in range(3):
        log_post = np.asarray(likelihood("poisson", "log", eta[i] + s * jnp.asarray(GRID), {}).log_prob(y[i]))
        weight = np.exp(log_post + stats.norm.logpdf(GRID) - np.max(log_post + stats.norm.logpdf(GRID)))
        weight /= weight.sum()
        mean = weight @ GRID
        sd = np.sqrt(weight @ (GRID - mean) ** 2)
        assert draws[:, i].mean() == pytest.approx(mean, abs=4 * sd / np.sqrt(40_000))
        assert draws[:, i].std() == pytest.approx(sd, rel=0.02)


def test_response_draws_come_from_the_marginal_distribution():
    """E[y] = exp(eta + s^2 / 2) for a poisson row with a normal effect on the log scale."""
    law = RowIntegrated("poisson", "log", jnp.full(200_000, 1.0), 0.7, {})
    y = np.asarray(law.sample(jax.random.PRNGKey(3)))
    assert y.mean() == pytest.approx(np.exp(1.0 + 0.7 ** 2 / 2), rel=0.01)


@pytest.fixture(scope="module")
def ticks():
    return bmm.Model("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                     bmm.datasets.load("grouseticks"), family="poisson")


def test_observation_level_block_is_integrated_unless_marginalize_is_false(ticks):
    groups = [b.group for b in ticks.design.blocks]
    structure, _ = compile_model(ticks.design, ticks.family, ticks.prior_entries)
    assert structure.row_block == groups.index("INDEX")
    sampled, _ = compile_model(ticks.design, ticks.family, ticks.prior_entries, marginalize=False)
    assert sampled.row_block == -1
    # not for a family without a quadrature here, nor for a block with two rows in a level
    gamma = bmm.Model("TICKS + 1 ~ YEAR + (1 | INDEX)", ticks.data, family="gamma")
    assert compile_model(gamma.design, gamma.family, gamma.prior_entries)[0].row_block == -1
    pairs = bmm.Model("TICKS ~ YEAR + (1 | BROOD)", ticks.data, family="poisson")
    assert compile_model(pairs.design, pairs.family, pairs.prior_entries)[0].row_block == -1
    with pytest.raises(bmm.BayesMMError, match="observation-level effect"):
        compile_model(pairs.design, pairs.family, pairs.prior_entries, marginalize=True)


@pytest.mark.slow  # a grouseticks fit
def test_grouseticks_fit_draws_every_effect_and_keeps_the_integrated_log_likelihood(ticks):
    """A short fit: the observation-level effects come back per row (drawn from their conditional), with
    posterior means that track each row's residual; ``log_lik`` is the integrated one (finite, one per row)."""
    fit = ticks.fit(chains=2, draws=300, warmup=300, seed=3)
    r_index = fit.idata.posterior["r_INDEX"].values
    draws = fit.settings.draws  # 300, or 600 where the safeguard ran the chains longer
    assert r_index.shape == (2, draws, 403, 1) and draws in (300, 600)
    log_lik = fit.idata.log_likelihood["y"].values
    assert log_lik.shape == (2, draws, 403) and np.all(np.isfinite(log_lik))
    # rows with many more ticks than their brood's others get positive effects, and the other way round
    block = ticks.design.blocks[[b.group for b in ticks.design.blocks].index("INDEX")]
    frame = ticks.data.assign(effect=r_index.mean(axis=(0, 1))[np.asarray(block.group_index), 0])
    brood_mean = frame.groupby("BROOD").TICKS.transform("mean")
    frame["excess"] = np.log(frame.TICKS + 0.5) - np.log(brood_mean + 0.5)
    assert np.corrcoef(frame.effect, frame.excess)[0, 1] > 0.7
    sd = fit.tidy().set_index(["group", "term"]).loc[("INDEX", "sd__Intercept"), "estimate"]
    assert sd == pytest.approx(0.55, abs=0.1)  # lme4 0.54, brms 0.55
