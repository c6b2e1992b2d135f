"""The LKJ prior built element by element (bayesmm.model.lkj) against numpyro's LKJCholesky and
CorrCholeskyTransform: the same factor, log-Jacobian, density and gradient, without a gather or scatter."""
from bayesmm.model.backend import use_float64

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from numpyro.distributions.transforms import CorrCholeskyTransform, biject_to

from bayesmm.model.lkj import ELEMENTWISE_MAX, ElementwiseCorrCholesky, lkj_cholesky

use_float64()


def _log_density(transform, law):
    """The sampler's view of the prior: the density of the factor plus the bijection's log-Jacobian."""
    return lambda x: jnp.sum(law.log_prob(transform(x)) + transform.log_abs_det_jacobian(x, transform(x)))


@pytest.mark.parametrize("d", [2, 4])
def test_the_factor_its_jacobian_and_density_are_numpyros(d):
    x = jnp.asarray(np.random.default_rng(d).normal(size=(7, d * (d - 1) // 2)) * 1.5)
    transform = biject_to(lkj_cholesky(d, 2.0).support)
    assert isinstance(transform, ElementwiseCorrCholesky)
    L = transform(x)
    np.testing.assert_allclose(L, CorrCholeskyTransform()(x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(jnp.sum(L * L, axis=-1), 1.0, rtol=1e-13)  # unit rows: a correlation matrix's factor
    np.testing.assert_allclose(transform.log_abs_det_jacobian(x, L),
                               CorrCholeskyTransform().log_abs_det_jacobian(x, L), rtol=1e-13, atol=1e-13)
    for eta in (1.0, 2.0, 4.5):
        np.testing.assert_allclose(lkj_cholesky(d, eta).log_prob(L), dist.LKJCholesky(d, eta).log_prob(L),
                                   rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(transform.inv(L), x, atol=1e-9)
    mine = _log_density(transform, lkj_cholesky(d, 2.0))
    numpyros = _log_density(CorrCholeskyTransform(), dist.LKJCholesky(d, 2.0))
    gradient = jax.jit(jax.grad(mine))
    np.testing.assert_allclose(gradient(x), jax.jit(jax.grad(numpyros))(x), rtol=1e-10, atol=1e-12)
    program = gradient.lower(x).as_text()
    assert "gather" not in program and "scatter" not in program


def test_prior_draws_and_large_blocks_are_numpyros():
    """Its draws are numpyro's (the same sampler), and a block above ELEMENTWISE_MAX columns keeps numpyro's law."""
    key = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(lkj_cholesky(3, 2.0).sample(key, (5,)), dist.LKJCholesky(3, 2.0).sample(key, (5,)))
    assert type(lkj_cholesky(ELEMENTWISE_MAX + 1, 2.0)) is dist.LKJCholesky
