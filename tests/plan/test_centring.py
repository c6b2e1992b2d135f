"""Per-level centred / non-centred random effects and the gaussian model with one block integrated out.

Densities are checked against scipy by hand; the choice of centring against simulated data whose answer is
known (data-rich levels centred, data-poor ones not); the one-block marginal against a dense multivariate
normal, its conditional draws against the dense gaussian conditional, and a NUTS fit against the truth.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density
from scipy import stats

import bayesmm as bmm
from bayesmm.model.backend import use_float64
from bayesmm.model import compile_model, make_model
from bayesmm.plan.centring import centred_levels, pql_variances
from bayesmm.model.marginal import (
    cell_statistics,
    one_block_data,
    one_block_effects,
    one_block_log_likelihood,
)
from bayesmm.model.effects import SMALL_VARIANCE, BlockEffects, block_effects, dynamic_weights, split_aliased
from bayesmm.model.effects import level_weights_at

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


@pytest.fixture(scope="module")
def rich_and_poor():
    """Poisson counts, 3000 rows: 20 data-rich sites (about 150 rows each, sd 0.5) crossed with 1500
    data-poor units (two rows each, sd 0.3)."""
    rng = np.random.default_rng(7)
    n = 3000
    site = rng.integers(0, 20, n)
    unit = np.arange(n) % 1500  # two rows per unit
    eta = 0.3 + rng.normal(0, 0.5, 20)[site] + rng.normal(0, 0.3, 1500)[unit]
    df = pd.DataFrame({"y": rng.poisson(np.exp(eta)), "site": site.astype(str), "unit": unit.astype(str)})
    return bmm.Model("y ~ 1 + (1 | site) + (1 | unit)", df, family="poisson")


def test_pql_recovers_the_sds_and_centres_the_data_rich_levels_most(rich_and_poor):
    model = rich_and_poor
    _, tau2, _ = pql_variances(model.design, "poisson", "log")
    groups = [b.group for b in model.design.blocks]
    sd = {g: float(np.sqrt(t[0])) for g, t in zip(groups, tau2)}
    assert sd["site"] == pytest.approx(0.5, rel=0.35)
    assert sd["unit"] == pytest.approx(0.3, rel=0.5)
    weights = dict(zip(groups, centred_levels(model.design, "poisson", "log")))
    # the weight is x / (1 + x), x the level's information x tau^2
    assert weights["site"].min() > 0.95  # 150 rows with mean ~1.5 each: x ~ 50
    assert 0.05 < weights["unit"].mean() < 0.3  # two rows: x ~ 0.3, partly centred


def test_families_without_a_working_weight_stay_non_centred():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.beta(2, 3, 600), "g": np.repeat(list("abcdef"), 100)})
    model = bmm.Model("y ~ 1 + (1 | g)", df, family="beta")
    assert not centred_levels(model.design, "beta", "logit")[0].any()
    # zero-inflated counts stay non-centred even where a poisson model of the same rows centres every level
    effect = np.repeat(rng.normal(0, 0.5, 6), 100)
    df["y"] = rng.poisson(np.exp(1.5 + effect)) * rng.binomial(1, 0.7, 600)
    assert centred_levels(bmm.Model("y ~ 1 + (1 | g)", df, family="poisson").design, "poisson", "log")[0].all()
    zip_design = bmm.Model("y ~ 1 + (1 | g)", df, family="zero_inflated_poisson").design
    assert not centred_levels(zip_design, "zero_inflated_poisson", "log")[0].any()


def test_centered_switch_sets_every_level_and_rejects_non_booleans(rich_and_poor):
    model = rich_and_poor
    for value in (True, False):
        _, data = compile_model(model.design, model.family, model.prior_entries, centred=value)
        assert all(bool(np.all(np.asarray(m) == value)) for m in data.centred)
    with pytest.raises(bmm.SamplerError, match="centered must be True, False or None"):
        model.fit(centered="yes")
    with pytest.raises(bmm.SamplerError, match="centered"):
        model.fit(centred=True)


@pytest.fixture(scope="module")
def nested_poisson():
    """60 data-rich lecturers nested in 12 departments, crossed with a service flag (a department x service
    term, as InstEval's), 300 data-poor students crossed with both, and a lecturer-level covariate."""
    rng = np.random.default_rng(3)
    n = 6000
    lecturer = rng.integers(0, 60, n)
    dept, student, service = lecturer % 12, rng.integers(0, 300, n), rng.integers(0, 2, n)
    senior = (lecturer % 3 == 0).astype(float)  # constant within a lecturer
    eta = (0.5 + 0.3 * senior + rng.normal(0, 0.8, 60)[lecturer] + rng.normal(0, 0.15, 24)[dept * 2 + service]
           + rng.normal(0, 0.2, 300)[student])
    df = pd.DataFrame({"y": rng.poisson(np.exp(eta)), "senior": senior, "d": lecturer.astype(str),
                       "dept": dept.astype(str), "service": service.astype(str), "s": student.astype(str)})
    return bmm.Model("y ~ senior + (1 | d) + (1 | dept:service) + (1 | s)", df, family="poisson")


def test_centred_levels_centre_on_their_parents_and_the_level_means_of_x(nested_poisson):
    """Lecturers (centred) lie within department x service levels (each lecturer in two of them, one per
    service): that term is their parent, with each share the lecturer's fraction of rows; students (crossed,
    more levels) are nobody's parent. Every block with centred levels also centres on its levels' mean
    fixed-effect row (``senior`` is a lecturer-level covariate)."""
    model = nested_poisson
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    groups = [b.group for b in model.design.blocks]
    d, ds = groups.index("d"), groups.index("dept:service")
    assert np.asarray(data.centred[d]).all()
    assert structure.blocks[d].parents == ((ds, ((0, 0),)),)
    assert all(b.parents == () for k, b in enumerate(structure.blocks) if k != d)
    # every block with (partly) centred levels centres on its levels' mean fixed-effect row: all three here, the
    # students and department x service levels with small weights
    assert [b.mean_column for b in structure.blocks] == [0, 0, 0]
    assert max(float(np.max(np.asarray(data.centred[k]))) for k in range(len(groups)) if k != d) < 0.9
    level, parent, share = (np.asarray(a) for a in data.parent_pairs[d][0])
    design = model.design
    rows = pd.DataFrame({"d": design.blocks[d].group_index, "ds": design.blocks[ds].group_index}).astype(int)
    expected = rows.groupby("d")["ds"].value_counts(normalize=True).sort_index()
    got = pd.Series(share, index=pd.MultiIndex.from_arrays([level.astype(int), parent.astype(int)])).sort_index()
    assert list(got.index) == list(expected.index)  # each lecturer with the (one or two) levels it teaches in
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
    senior = model.data.groupby("d")["senior"].first().reindex(design.blocks[d].levels).to_numpy()
    np.testing.assert_allclose(np.asarray(data.level_X[d])[:, 0], senior - np.asarray(data.x_means)[0])
    # crossed blocks are not parents: every student's rows spread over all lecturers
    crossed = bmm.Model("y ~ 1 + (1 | s) + (1 | d)", model.data, family="poisson")
    assert all(b.parents == () for b in compile_model(crossed.design, crossed.family, crossed.prior_entries)[0].blocks)


def test_centring_on_parents_is_a_reparameterisation(nested_poisson):
    """The same effects (and fixed effects) have the same joint density whether the lecturers' centred levels
    centre on the intercept alone or also on ``senior`` and their departments' effects: the shift has
    Jacobian 1 and the effects the model reports are the same."""
    model = nested_poisson
    rng = np.random.default_rng(4)
    with_parents = compile_model(model.design, model.family, model.prior_entries)
    structure, data = with_parents
    plain = (structure._replace(blocks=tuple(b._replace(parents=(), mean_column=-1) for b in structure.blocks)),
             data._replace(parent_pairs=tuple(() for _ in data.parent_pairs), level_X=tuple(None for _ in data.level_X)))
    assert any(b.parents for b in structure.blocks) and any(b.mean_column >= 0 for b in structure.blocks)
    fixed = {"Intercept_c": jnp.asarray(0.4), "b": jnp.asarray([0.25]), "alpha": None}
    effects = {k: jnp.asarray(rng.normal(0, 0.3, (b.n_levels, 1))) for k, b in enumerate(model.design.blocks)}
    sds = {k: jnp.asarray([0.3 + 0.1 * k]) for k in effects}
    from bayesmm.model.effects import block_order, centring_loc

    values = []
    for structure, data in (with_parents, plain):
        params = {"Intercept_c": fixed["Intercept_c"], "b": fixed["b"]}
        params.update({f"sd_{k}": sds[k] for k in effects})
        known = dict(params, **{f"r_{k}": effects[k] for k in effects})
        for k in block_order(structure):
            loc = centring_loc(structure, k, data, known) if structure.blocks[k].any_centred else 0.0
            weight = np.asarray(level_weights_at(data, k, sds[k]))  # r = sd^(1 - w) (z - w loc)
            weight = weight[:, None] if weight.ndim == 1 else weight
            params[f"z_{k}"] = weight * loc + effects[k] / sds[k] ** (1.0 - weight)
        density, tr = log_density(make_model(structure), (data,), {}, params)
        for k in effects:
            np.testing.assert_allclose(np.asarray(tr[f"r_{k}"]["value"]), np.asarray(effects[k]), rtol=1e-10,
                                       atol=1e-12)
        values.append(float(density))
    assert values[0] == pytest.approx(values[1], rel=1e-12)


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
    Zte, ete = cell_statistics(by_row, data.group_index[0], jnp.zeros(len(e)))
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
