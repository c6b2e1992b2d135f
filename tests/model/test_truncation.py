"""Predictions of truncated responses (bayesmm.model.truncation): the truncated mean against closed forms (the
truncated normal's, scipy's truncnorm) and, for every family that takes trunc(), against the mean of the
untruncated family's draws kept inside the bounds; inverse-CDF draws inside the bounds with that same mean; the far
tails without loss of precision."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayesmm.censoring import CENSORABLE
from bayesmm.model.backend import use_float64
from bayesmm.model.likelihoods import likelihood
from bayesmm.model.truncation import TRUNCATABLE, truncated_quantity

use_float64()

#: family -> (link, eta, family parameters, (lb, ub))
CASES = {
    "gaussian": ("identity", 1.0, {"sigma": 2.0}, (0.5, 4.0)),
    "student_t": ("identity", 1.0, {"sigma": 1.5, "nu": 4.0}, (-1.0, np.inf)),
    "lognormal": ("identity", 0.3, {"sigma": 0.8}, (0.5, 3.0)),
    "gamma": ("log", 0.5, {"shape": 2.5}, (1.0, np.inf)),
    "weibull": ("log", 0.5, {"shape": 1.7}, (0.2, 2.0)),
    "exponential": ("log", 0.2, {}, (-np.inf, 1.5)),
    "poisson": ("log", 1.2, {}, (1, 5)),
    "negbinomial": ("log", 1.5, {"phi": 2.0}, (2, np.inf)),
    "nbinom1": ("log", 1.5, {"alpha": 1.5}, (0, 6)),
}


def _law(family: str, n: int = 1):
    link, eta, aux, _ = CASES[family]
    return likelihood(family, link, jnp.full((n, 1), eta), {k: jnp.full((n, 1), v) for k, v in aux.items()}, None)


def test_every_censorable_family_predicts_truncated():
    assert set(TRUNCATABLE) == set(CENSORABLE) == set(CASES)


def test_gaussian_mean_is_the_truncated_normal_mean():
    """mu + sigma (phi(alpha) - phi(beta)) / (Phi(beta) - Phi(alpha)), here against scipy's truncnorm."""
    mu, sigma = np.array([[1.0, -2.0, 0.0]]), np.array([[2.0, 0.5, 1.0]])
    lb, ub = np.array([0.5, -np.inf, -1.0]), np.array([4.0, -1.5, np.inf])
    law = likelihood("gaussian", "identity", jnp.asarray(mu), {"sigma": jnp.asarray(sigma)}, None)
    expected = stats.truncnorm.mean((lb - mu) / sigma, (ub - mu) / sigma, loc=mu, scale=sigma)
    np.testing.assert_allclose(truncated_quantity("gaussian", law, lb, ub, "mean"), expected, rtol=1e-12)


def test_far_tails_keep_their_precision():
    """Truncated 12 SDs above the mean, where 1 - Phi(12) is 2e-33: the mean is still the truncated normal's (the
    inverse Mills ratio), and draws lie just above the bound."""
    law = likelihood("gaussian", "identity", jnp.zeros((2000, 1)), {"sigma": jnp.ones((2000, 1))}, None)
    mean = truncated_quantity("gaussian", law, np.array([12.0]), np.array([np.inf]), "mean")
    np.testing.assert_allclose(mean, stats.norm.pdf(12.0) / stats.norm.sf(12.0), rtol=1e-10)
    draws = truncated_quantity("gaussian", law, np.array([12.0]), np.array([np.inf]), "response", seed=1)
    assert draws.min() >= 12.0 and abs(draws.mean() - mean[0, 0]) < 0.01


@pytest.mark.parametrize("family", list(CASES))
def test_mean_and_draws_match_the_kept_draws_of_the_family(family):
    """The closed-form mean within 4 Monte Carlo SEs of the mean of 200,000 untruncated draws kept inside the bounds;
    100,000 inverse-CDF draws all inside, with the same mean."""
    lb, ub = CASES[family][3]
    law = _law(family)
    raw = np.asarray(law.sample(jax.random.PRNGKey(0), (200_000,))).ravel()
    kept = raw[(raw >= lb) & (raw <= ub)]
    standard_error = kept.std() / np.sqrt(kept.size)
    mean = truncated_quantity(family, law, np.array([lb]), np.array([ub]), "mean")[0, 0]
    assert abs(mean - kept.mean()) < 4 * standard_error, (mean, kept.mean())
    draws = truncated_quantity(family, _law(family, 100_000), np.array([lb]), np.array([ub]), "response", seed=3)
    assert draws.min() >= lb and draws.max() <= ub
    assert abs(draws.mean() - mean) < 4 * draws.std() / np.sqrt(draws.size)
    if family in ("poisson", "negbinomial", "nbinom1"):
        assert np.all(draws == np.round(draws))


def test_counts_are_truncated_to_whole_numbers_inclusive():
    """trunc(lb = 1, ub = 3) of a poisson(2): the mean over 1, 2, 3 by hand."""
    law = likelihood("poisson", "log", jnp.full((1, 1), np.log(2.0)), {}, None)
    k = np.arange(1, 4)
    expected = np.sum(k * stats.poisson.pmf(k, 2.0)) / np.sum(stats.poisson.pmf(k, 2.0))
    mean = truncated_quantity("poisson", law, np.array([1.0]), np.array([3.0]), "mean")[0, 0]
    assert mean == pytest.approx(expected, rel=1e-12)
