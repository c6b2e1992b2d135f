"""Which random-effect levels are sampled centred, and on what (bayesmm.plan.centring): the PQL working
model's variances and the per-level weights chosen from them, checked against simulated data whose answer is
known (data-rich levels centred, data-poor ones not) and against lme4's variances on grouseticks; levels
nested in another block's centred on their parents (a reparameterisation: the joint density is unchanged);
and the level pairs holding the same rows, sampled as sum and split.
"""
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density

import bayesmm as bmm
from bayesmm.model import compile_model, make_model
from bayesmm.model.backend import use_float64
from bayesmm.model.effects import level_weights_at
from bayesmm.plan.centring import aliased_levels, centred_levels, pql_variances

use_float64()  # as every fit does, before jax arrays are made here


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


def test_a_sample_for_the_sweeps_keeps_whole_levels_and_their_variance(monkeypatch):
    """Above SAMPLE_ROWS rows PQL's sweeps run on a sample: whole levels of the block with the most levels, so that
    a block of data-poor levels (an NB2 panel, 1-5 rows per level) keeps its rows per level and the variance
    guess of all rows (a share of the rows instead gave 0.22 against 0.13 here)."""
    from bayesmm.plan import pql

    rng = np.random.default_rng(1)
    per_level = rng.choice(np.arange(1, 6), size=6000, p=[0.1, 0.15, 0.2, 0.25, 0.3])
    g = np.repeat(np.arange(6000), per_level)
    x = rng.normal(size=g.size)
    eta = -2.6 + 0.3 * x + rng.normal(0, 1, 6000)[g]
    df = pd.DataFrame({"y": rng.poisson(rng.gamma(0.5, np.exp(eta) / 0.5)), "x": x, "id": g.astype(str)})
    design = bmm.Model("y ~ x + (1 | id)", df, family="negbinomial").design
    _, (everything,), _ = pql_variances(design, "negbinomial", "log")
    monkeypatch.setattr(pql, "SAMPLE_ROWS", len(df) // 2)
    index = [np.asarray(b.group_index) for b in design.blocks]
    sample = pql._sample(index, design.blocks, len(df))
    kept = np.unique(index[0][sample])
    assert 0.4 < len(sample) / len(df) < 0.6
    assert np.array_equal(np.sort(sample), sample)
    assert np.array_equal(np.bincount(index[0][sample], minlength=6000)[kept], np.bincount(index[0])[kept])
    _, (sampled,), _ = pql_variances(design, "negbinomial", "log")
    assert sampled[0] == pytest.approx(everything[0], rel=0.2)
    # levels of hundreds of rows each: too few would be kept, so a share of the rows is sampled instead
    monkeypatch.setattr(pql, "SAMPLE_LEVELS", 10_000)
    rows = pql._sample(index, design.blocks, len(df))
    assert len(rows) == len(df) // 2 and len(np.unique(index[0][rows])) > len(kept)


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
def ticks():
    return bmm.Model("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                     bmm.datasets.load("grouseticks"), family="poisson")


def test_aliased_levels_are_the_locations_with_a_single_brood(ticks):
    blocks = ticks.design.blocks
    groups = [b.group for b in blocks]
    brood, location = groups.index("BROOD"), groups.index("LOCATION")
    usable = [k != groups.index("INDEX") for k in range(len(blocks))]
    ((a, b, levels_a, levels_b),) = aliased_levels(blocks, usable)
    assert (a, b) == (brood, location)
    frame = pd.DataFrame({"brood": blocks[brood].group_index, "location": blocks[location].group_index})
    broods_per_location = frame.groupby("location")["brood"].nunique()
    single = set(broods_per_location.index[broods_per_location == 1])
    assert set(levels_b.tolist()) == single and len(single) == 35
    for la, lb in zip(levels_a, levels_b):  # the pair holds exactly the same rows
        assert np.array_equal(frame.index[frame.brood == la], frame.index[frame.location == lb])


def test_joint_working_model_splits_nested_variances_as_lme4_does(ticks):
    """grouseticks' PQL variances, solved jointly, near lme4's (BROOD 0.75, INDEX 0.54, LOCATION 0.53); block by
    block they came out 0.12, 0.54 and 0.84."""
    _, tau2, _ = pql_variances(ticks.design, "poisson", "log")
    sd = dict(zip([b.group for b in ticks.design.blocks], (float(np.sqrt(t[0])) for t in tau2)))
    assert sd["BROOD"] == pytest.approx(0.75, rel=0.15)
    assert sd["INDEX"] == pytest.approx(0.54, rel=0.15)
    assert sd["LOCATION"] == pytest.approx(0.53, rel=0.15)
