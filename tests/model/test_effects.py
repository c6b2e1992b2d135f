"""Random effects as the sampler sees them (bayesmm.model.effects): centred, non-centred and partly centred
levels, weights that move with the SDs, and level pairs holding the same rows sampled as sum and split.

Densities are checked against scipy by hand, prior draws against the block covariance, and every
reparameterisation against the effects' prior pushed through its full Jacobian.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesmm.model.backend import use_float64
from bayesmm.model.effects import SMALL_VARIANCE, BlockEffects, block_effects, dynamic_weights, split_aliased

use_float64()  # as every fit does, before jax arrays are made here


def _factor():
    chol = np.linalg.cholesky(np.array([[1.0, 0.6], [0.6, 1.0]]))
    return jnp.asarray(np.diag([1.5, 0.4]) @ chol)


def test_block_effects_density_mixes_standard_normal_and_multivariate_normal_levels():
    """Centred levels: z_j ~ N(loc, F F') with effects z_j - loc; non-centred: z_j ~ N(0, I), effects F z_j."""
    F, loc = _factor(), jnp.asarray([0.7, 0.0])
    centred = jnp.asarray([True, False, True, False, False])
    z = jnp.asarray(np.random.default_rng(1).normal(size=(5, 2)) * 2)
    mvn = stats.multivariate_normal(np.asarray(loc), np.asarray(F @ F.T))
    expected = sum(mvn.logpdf(np.asarray(z[j])) if centred[j] else stats.norm.logpdf(np.asarray(z[j])).sum()
                   for j in range(5))
    assert float(BlockEffects(F, centred, loc).log_prob(z)) == pytest.approx(expected, rel=1e-12)
    r = np.asarray(block_effects(z, F, centred, loc))
    np.testing.assert_allclose(r[[0, 2]], np.asarray(z)[[0, 2]] - np.asarray(loc))
    np.testing.assert_allclose(r[[1, 3, 4]], np.asarray(z)[[1, 3, 4]] @ np.asarray(F).T)


def test_block_effects_prior_draws_have_the_block_covariance_either_way():
    F = _factor()
    centred = jnp.asarray(np.arange(4000) % 2 == 0)
    loc = jnp.asarray([3.0, 0.0])
    z = BlockEffects(F, centred, loc).sample(jax.random.PRNGKey(0))
    r = np.asarray(block_effects(z, F, centred, loc))
    np.testing.assert_allclose(r.mean(axis=0), 0.0, atol=0.1)
    for part in (r[::2], r[1::2]):
        np.testing.assert_allclose(np.cov(part.T), np.asarray(F @ F.T), rtol=0.15, atol=0.03)  # 4 SE


def test_partly_centred_levels_have_the_density_and_prior_of_the_weighted_parameterisation():
    """Independent columns, weight w per level: z ~ N(w loc, sd^w) per column, effects sd^(1 - w) (z - w loc),
    and the effects' prior is N(0, sd^2) whatever the weight."""
    sd, loc = jnp.asarray([1.5, 0.4]), jnp.asarray([0.7, -0.2])
    weight = jnp.asarray(np.tile([0.0, 0.3, 0.75, 1.0], 2000))
    z = jnp.asarray(np.random.default_rng(2).normal(size=(8000, 2)))
    law = BlockEffects(jnp.diag(sd), weight, loc, diagonal=True)
    w = np.asarray(weight)[:, None]
    expected = stats.norm.logpdf(np.asarray(z), w * np.asarray(loc), np.asarray(sd)[None, :] ** w).sum()
    assert float(law.log_prob(z)) == pytest.approx(expected, rel=1e-12)
    r = np.asarray(block_effects(law.sample(jax.random.PRNGKey(1)), jnp.diag(sd), weight, loc, diagonal=True))
    for level in range(4):  # each weight: 2000 levels
        np.testing.assert_allclose(r[level::4].std(axis=0), np.asarray(sd), rtol=0.07)
        np.testing.assert_allclose(r[level::4].mean(axis=0), 0.0, atol=0.12)


def test_weights_follow_the_variance_below_the_guess_and_stay_near_it_above():
    x_guess = jnp.asarray([0.0, 0.5, 2.0, 40.0])
    at_guess = np.asarray(dynamic_weights(x_guess, 1.0))
    np.testing.assert_allclose(at_guess, np.asarray(x_guess) / (1.0 + np.asarray(x_guess)), rtol=1e-6)
    above = np.asarray(dynamic_weights(x_guess, 1e6))  # at most x (1 + c) / (1 + x (1 + c))
    top = np.asarray(x_guess) * (1 + SMALL_VARIANCE)
    np.testing.assert_allclose(above, top / (1.0 + top), rtol=1e-5)
    tiny = np.asarray(dynamic_weights(x_guess, 1e-4))  # a variance 10^4 below the guess: nearly non-centred
    assert tiny[0] == 0.0 and np.all(tiny <= np.asarray(x_guess) * 1e-4 * (1 + SMALL_VARIANCE) / SMALL_VARIANCE)
    assert tiny[-1] < 0.05  # x = 40 at the guess: weight 0.98 there
    assert np.all(np.diff(np.asarray([dynamic_weights(x_guess[2], r) for r in (1e-3, 0.1, 1.0, 10.0)])) > 0)


def _log_abs_det(f, u):
    return float(np.linalg.slogdet(np.asarray(jax.jacfwd(f)(u)))[1])


def test_weights_that_move_with_the_sd_keep_the_model_exact():
    """The raw draws' density with weights recomputed at each SD is the effects' prior pushed through the map
    (log sd, z) -> (log sd, r): p(z | sd) = N(r; 0, sd^2) |det dr/dz| with the full Jacobian (the weights'
    own dependence on the SD adds no term: the map is triangular)."""
    x_guess, loc = jnp.asarray([[0.2], [3.0], [25.0]]), jnp.asarray([[0.5], [-0.3], [0.1]])

    def to_effects(u):  # u = [log sd, z_1, z_2, z_3]
        sd = jnp.exp(u[:1])
        weight = dynamic_weights(x_guess, sd ** 2 / 0.36)
        r = block_effects(u[1:, None], jnp.diag(sd), weight, loc, diagonal=True)[:, 0]
        return jnp.concatenate([u[:1], r])

    for u in (jnp.asarray([np.log(0.9), 0.3, -1.2, 0.8]), jnp.asarray([np.log(0.01), 0.9, 0.02, -0.5])):
        sd = jnp.exp(u[:1])
        weight = dynamic_weights(x_guess, sd ** 2 / 0.36)
        model = float(BlockEffects(jnp.diag(sd), weight, loc, diagonal=True).log_prob(u[1:, None]))
        r = np.asarray(to_effects(u))[1:]
        target = stats.norm.logpdf(r, 0.0, float(sd[0])).sum()
        assert model == pytest.approx(target + _log_abs_det(to_effects, u), rel=1e-9, abs=1e-9)


def test_sum_weight_that_moves_with_the_sds_keeps_the_model_exact():
    """Sum and split with the sum's weight recomputed at each draw's SDs (as the model does): standard normal
    draws plus the correction equal the two effects' priors pushed through the full Jacobian."""
    def weight(u):
        return dynamic_weights(4.0, (jnp.exp(2 * u[0]) + jnp.exp(2 * u[1])) / 0.9)

    def to_effects(u):  # u = [log sd_a, log sd_b, z_a, z_b]
        r_a, r_b, _ = split_aliased(jnp.zeros((1, 1)), jnp.zeros((1, 1)), u[2:3, None], u[3:4, None],
                                    jnp.exp(u[0]), jnp.exp(u[1]), jnp.arange(1), jnp.arange(1), weight(u))
        return jnp.concatenate([u[:2], r_a[:, 0], r_b[:, 0]])

    for u in (jnp.asarray([np.log(0.7), np.log(0.5), 0.4, -1.1]), jnp.asarray([np.log(0.02), np.log(0.8), -0.6, 2.0])):
        _, _, correction = split_aliased(jnp.zeros((1, 1)), jnp.zeros((1, 1)), u[2:3, None], u[3:4, None],
                                         jnp.exp(u[0]), jnp.exp(u[1]), jnp.arange(1), jnp.arange(1), weight(u))
        model = stats.norm.logpdf(np.asarray(u[2:])).sum() + float(correction)
        r = np.asarray(to_effects(u))[2:]
        target = stats.norm.logpdf(r, 0.0, np.exp(np.asarray(u[:2]))).sum()
        assert model == pytest.approx(target + _log_abs_det(to_effects, u), rel=1e-9, abs=1e-9)


def test_gradient_stays_finite_for_non_centred_levels_when_an_sd_underflows():
    """A zero SD makes F singular; levels sampled non-centred must not get NaN gradients from the solve."""
    centred = jnp.asarray([False, False])

    def density(sd):
        return BlockEffects(jnp.diag(sd), centred).log_prob(jnp.ones((2, 2)))

    assert np.all(np.isfinite(np.asarray(jax.grad(density)(jnp.asarray([0.0, 1.0])))))


@pytest.mark.parametrize("weight", [0.0, 0.6])
def test_sum_and_split_keep_the_prior_of_the_effects(weight):
    """The sum coordinate drawn from N(0, s^(2w)) (standard normal times the returned density correction) and a
    standard normal split give independent effects with SDs sd_a and sd_b; the other levels pass through."""
    n, sd_a, sd_b = 200_000, 0.4, 1.3
    s = np.hypot(sd_a, sd_b)
    rng = np.random.default_rng(5)
    z_split, z_sum = rng.normal(size=(n, 1)), rng.normal(size=(n, 1)) * s ** weight
    r_a, r_b, correction = split_aliased(jnp.full((n + 1, 1), 7.0), jnp.full((n, 1), 7.0), jnp.asarray(z_split),
                                         jnp.asarray(z_sum), sd_a, sd_b, jnp.arange(n), jnp.arange(n), weight)
    expected = (stats.norm.logpdf(z_sum, 0.0, s ** weight) - stats.norm.logpdf(z_sum)).sum()
    assert float(correction) == pytest.approx(expected, rel=1e-10)
    r_a, r_b = np.asarray(r_a)[:, 0], np.asarray(r_b)[:, 0]
    assert r_a[-1] == 7.0
    assert np.std(r_a[:-1]) == pytest.approx(sd_a, rel=0.01)
    assert np.std(r_b) == pytest.approx(sd_b, rel=0.01)
    assert abs(np.corrcoef(r_a[:-1], r_b)[0, 1]) < 0.01
