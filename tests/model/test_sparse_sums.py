"""Sparse sums by gathers (bayesmm.model.sparse_sums) against the dense matrix: A x, its gradient (A' by the
transposed gathers), forward mode and Hessians (the curvature's products), vmap, and a stored (exported) program."""
from bayesmm.model.backend import use_float64

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesmm.model.sparse_sums import apply_sums, sparse_sums

use_float64()


def _case(valued: bool, seed: int = 0):
    """A 40 x 25 matrix from 300 nonzeros with repeated positions, skewed row counts and two empty rows and
    columns (a padded bucket and zero sums)."""
    rng = np.random.default_rng(seed)
    rows = np.minimum(rng.geometric(0.08, 300) - 1, 37)  # counts from 1 to dozens; rows 38 and 39 empty
    columns = rng.integers(0, 23, 300)  # columns 23 and 24 empty
    values = rng.normal(size=300) if valued else None
    dense = np.zeros((40, 25))
    np.add.at(dense, (rows, columns), 1.0 if values is None else values)
    return sparse_sums(rows, columns, values, 40, 25), jnp.asarray(dense), rng


@pytest.mark.parametrize("valued", [False, True])
def test_sums_and_their_derivatives_equal_the_dense_products(valued):
    sums, A, rng = _case(valued)
    assert len(sums.forward.index) > 3  # several buckets of rows
    x, v = jnp.asarray(rng.normal(size=25)), jnp.asarray(rng.normal(size=25))
    np.testing.assert_allclose(apply_sums(sums, x), A @ x, rtol=1e-12, atol=1e-12)

    def f(x, product):
        return jnp.sum(jnp.sin(product(x)) ** 2)

    gathered, dense = (lambda x: apply_sums(sums, x)), (lambda x: A @ x)
    for derivative in (jax.grad, jax.hessian, lambda g: jax.jit(jax.grad(g))):
        np.testing.assert_allclose(derivative(lambda x: f(x, gathered))(x), derivative(lambda x: f(x, dense))(x),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(jax.jvp(jax.grad(lambda x: f(x, gathered)), (x,), (v,))[1],
                               jax.jvp(jax.grad(lambda x: f(x, dense)), (x,), (v,))[1], rtol=1e-10, atol=1e-12)
    stacked = jnp.stack([x, v, x - v])
    np.testing.assert_allclose(jax.vmap(jax.grad(lambda x: f(x, gathered)))(stacked),
                               jax.vmap(jax.grad(lambda x: f(x, dense)))(stacked), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(apply_sums(sums, stacked), stacked @ A.T, rtol=1e-12, atol=1e-12)


def test_a_stored_program_applies_the_sums():
    """The sampler's programs are exported (jax.export) and loaded in later processes: the sums lower to plain
    gathers."""
    sums, A, rng = _case(True, seed=1)
    x = jnp.asarray(rng.normal(size=25))
    leaves, tree = jax.tree.flatten(sums)  # as bayesmm.sampler.stored exports programs: of their leaves
    program = jax.jit(jax.grad(lambda x, *leaves: jnp.sum(apply_sums(tree.unflatten(leaves), x) ** 3)))
    exported = jax.export.deserialize(jax.export.export(program)(x, *leaves).serialize())
    np.testing.assert_allclose(exported.call(x, *leaves), jax.grad(lambda x: jnp.sum((A @ x) ** 3))(x), rtol=1e-10)
