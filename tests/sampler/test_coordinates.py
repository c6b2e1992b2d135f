"""The sampler's coordinates (bayesmm.sampler.coordinates): each block's mean rotated into a coordinate of its
own, exactly and reversibly; and what it is for, a crossed model whose intercept mixes; the curvature probes
and the starting mass matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayesmm as bmm
from bayesmm.model.backend import use_float64
from bayesmm.plan.bases import level_bases
from bayesmm.sampler.coordinates import to_model, to_sampler

use_float64()  # as every fit does, before jax arrays are made here


@settings(max_examples=30, deadline=None)
@given(levels=st.integers(2, 60), columns=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_rotation_is_exact_orthogonal_and_separates_the_mean(levels, columns, seed):
    z = np.random.default_rng(seed).normal(size=(levels, columns)) * 3.0 + 1.0
    sampler = to_sampler({"z_0": z, "sd_0": np.ones(columns)}, ("z_0",))
    assert sampler["z_0"].shape == (levels - 1, columns) and sampler["m_0"].shape == (columns,)
    np.testing.assert_allclose(sampler["m_0"], np.sqrt(levels) * z.mean(axis=0), rtol=1e-10, atol=1e-10)
    # orthogonal: lengths kept, so the density of N(0, I) effects is unchanged and the Jacobian is 1
    np.testing.assert_allclose(np.sum(sampler["m_0"] ** 2) + np.sum(np.asarray(sampler["z_0"]) ** 2), np.sum(z ** 2),
                               rtol=1e-10)
    back = to_model(sampler, ("z_0",))
    assert set(back) == {"z_0", "sd_0"}
    np.testing.assert_allclose(back["z_0"], z, rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(levels=st.integers(3, 50), columns=st.integers(1, 3), covariates=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_covariate_rotation_is_exact_and_separates_the_covariates(levels, columns, covariates, seed):
    """With level-level covariates, ``m_k`` holds the effects' coordinates along ``[1, covariates]``: mapped
    back alone (contrasts zero) they give exactly the least-squares projection of the effects on those columns;
    the map is orthogonal (Jacobian 1) and ``to_model`` inverts it."""
    rng = np.random.default_rng(seed)
    per_level = rng.integers(1, 4, size=levels)
    group = np.repeat(np.arange(levels), per_level)
    level_values = rng.normal(size=(levels, covariates))
    X = np.column_stack([level_values[group], rng.normal(size=group.size)])  # the last column varies within levels
    vectors = level_bases(group, levels, X)
    r = min(levels - 1, 1 + covariates)
    assert vectors.shape == (r, levels)
    z = rng.normal(size=(levels, columns)) * 2.0 + 0.5
    sampler = to_sampler({"z_0": z}, ("z_0",), {"z_0": vectors})
    assert sampler["m_0"].shape == (r, columns) and sampler["z_0"].shape == (levels - r, columns)
    np.testing.assert_allclose(np.sum(np.asarray(sampler["m_0"]) ** 2) + np.sum(np.asarray(sampler["z_0"]) ** 2),
                               np.sum(z ** 2), rtol=1e-10)
    np.testing.assert_allclose(to_model(sampler, ("z_0",), {"z_0": vectors})["z_0"], z, rtol=1e-10, atol=1e-10)
    B = np.column_stack([np.ones(levels), level_values])[:, :r]
    projection = B @ np.linalg.lstsq(B, z, rcond=None)[0]
    alone = to_model({"m_0": sampler["m_0"], "z_0": np.zeros((levels - r, columns))}, ("z_0",), {"z_0": vectors})
    np.testing.assert_allclose(alone["z_0"], projection, rtol=1e-9, atol=1e-9)


@pytest.mark.slow  # a 20,000-row crossed poisson fit, 4 x (400 + 400)
def test_crossed_intercept_mixes():
    """Crossed poisson effects, 100 rows per level of g1 and 1,000 per level of g2: the intercept and the
    means of both blocks trade off along a ridge through every level, which a diagonal mass matrix over the
    raw effects cannot follow (the intercept's Rhat far above 1.01). With the block means as coordinates of
    their own the intercept, the slope and both SDs mix, and the SDs recover the realised SDs of the effects."""
    rng = np.random.default_rng(11)
    rows, n1, n2 = 20_000, 200, 20
    u1, u2 = rng.normal(0, 0.5, n1), rng.normal(0, 0.3, n2)
    g1, g2, x = rng.integers(0, n1, rows), rng.integers(0, n2, rows), rng.normal(size=rows)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + u1[g1] + u2[g2]))
    df = pd.DataFrame({"y": y, "x": x, "g1": pd.Categorical(g1), "g2": pd.Categorical(g2)})
    fit = bmm.fit("y ~ x + (1 | g1) + (1 | g2)", df, family="poisson", chains=4, draws=400, warmup=400, seed=1)
    table = fit.tidy().set_index(["group", "term"])
    assert fit.n_divergent == 0
    # With 4 x 400 draws Rhat's own noise is a few thousandths (sd(g1) reaches 1.01 at some seeds), so the
    # bound sits a little above the 1.01 that suits 4 x 1000.
    assert table["rhat"].max() < 1.015, table
    assert table["ess_bulk"].min() > 300, table
    for group, effects in (("g1", u1), ("g2", u2)):
        row = table.loc[(group, "sd__Intercept")]
        assert abs(row["estimate"] - effects.std(ddof=1)) < 3 * row["std_error"] + 0.02, (group, row)
    slope = table.loc[(np.nan, "x")] if (np.nan, "x") in table.index else table.xs("x", level="term").iloc[0]
    assert abs(slope["estimate"] - 0.3) < 3 * slope["std_error"]


def _exact_diagonal(potential, z, data):
    import jax
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(z)
    return unravel(np.diag(jax.jit(jax.hessian(lambda x: potential(unravel(x), data)))(flat)))


def test_curvature_probes_give_the_exact_hessian_diagonal():
    """A handful of Hessian-vector products (one per column of each block, one per element of the small
    sites) read the exact diagonal, for independent intercepts (cbpp, binomial) and a correlated block
    (sleepstudy with its effects sampled, levels x 2 columns)."""
    from bayesmm.model import compile_model
    from bayesmm.sampler.coordinates import curvature
    from bayesmm.sampler.nuts import compiled, shapes_key, starting_points

    cases = [("cbind(incidence, size - incidence) ~ period + (1|herd)", "cbpp", "binomial"),
             ("Reaction ~ Days + (Days | Subject)", "sleepstudy", "gaussian")]
    for formula, name, family in cases:
        model = bmm.Model(formula, bmm.datasets.load(name), family=family)
        structure, data = compile_model(model.design, model.family, model.prior_entries, False, None)
        shapes = shapes_key(data)
        helpers = compiled(structure, shapes)
        init, _ = starting_points(structure, data, 0, 1)
        z = {k: v[0] for k, v in init.items()}
        probed, exact = curvature(helpers.potential, z, data), _exact_diagonal(helpers.potential, z, data)
        assert set(probed) == set(exact)
        for site in exact:
            np.testing.assert_allclose(probed[site], exact[site], rtol=1e-8, atol=1e-8, err_msg=f"{name} {site}")


def test_grouseticks_dense_block_holds_covariate_coordinates_and_hyperparameters():
    """grouseticks (``YEAR`` and ``cHEIGHT`` constant within broods, ``cHEIGHT`` within locations): the broods'
    effects get 4 coordinates along the mean and the covariates, the locations' 2, and the dense block of the
    mass matrix holds them with the fixed effects and every SD (the observation-level one, integrated out by
    quadrature, included); the contrasts stay on the diagonal."""
    from bayesmm.model import compile_model
    from bayesmm.sampler.coordinates import dense_groups, rotated_sites, site_bases
    from bayesmm.sampler.nuts import compiled, shapes_key, starting_points

    model = bmm.Model("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                      bmm.datasets.load("grouseticks"), family="poisson")
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    sites = compiled(structure, shapes_key(data)).sites
    rotated = rotated_sites(structure, sites)
    assert rotated == ("z_0", "z_2")  # INDEX (block 1) is integrated out
    bases = site_bases(rotated, data)
    assert {name: v.shape for name, v in bases.items()} == {"z_0": (4, 118), "z_2": (2, 63)}
    (group,) = dense_groups(structure, sites, rotated)
    assert {"Intercept_c", "b", "m_0", "m_2", "sd_0", "sd_1", "sd_2"} <= set(group)
    assert not {"z_0", "z_2"} & set(group)
    init, _ = starting_points(structure, data, 0, 1)
    sampler = to_sampler({k: v[0] for k, v in init.items()}, rotated, bases)
    assert sampler["m_0"].shape == (4, 1) and sampler["z_0"].shape == (114, 1)
    assert sampler["m_2"].shape == (2, 1) and sampler["z_2"].shape == (61, 1)


def test_negative_curvature_still_scales_the_start():
    """A coordinate whose potential curves downwards at the start gets 1 / |curvature|, not the identity (a count
    panel's ``phi`` at its prior median)."""
    import jax.numpy as jnp
    import pytest

    from bayesmm.model import compile_model
    from bayesmm.sampler.coordinates import initial_mass
    from bayesmm.sampler.nuts import compiled, shapes_key
    from simulators import PANEL_FORMULA, count_panel

    model = bmm.Model(PANEL_FORMULA, count_panel(200), family="negbinomial")
    structure, data = compile_model(model.design, model.family, model.prior_entries, None, None)
    helpers = compiled(structure, shapes_key(data))
    diagonal = {name: jnp.ones(shape) for name, (_, shape) in helpers.sites.items()}
    diagonal["phi"] = jnp.asarray(-160.0)
    diagonal["sd_0"] = jnp.asarray([-0.5])  # less than a standard normal's: the identity
    groups, inverse = initial_mass(structure, helpers.sites, (), diagonal)
    assert groups == []
    (names, values), = inverse.items()  # one diagonal block, its sites in sorted order
    sizes = [int(np.prod(helpers.sites[n][1])) for n in names]
    at = dict(zip(names, np.split(np.asarray(values), np.cumsum(sizes)[:-1])))
    assert at["phi"][0] == pytest.approx(1 / 160.0)
    assert at["sd_0"][0] == 1.0
