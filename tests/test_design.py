"""Tests for the design stage (:mod:`bayesmm.data`, :mod:`bayesmm.design`) and the default and user priors
(:mod:`bayesmm.priors`), through ``bmm.Model`` without sampling.

Values are checked, not only shapes: every matrix column is compared with the same quantity computed
directly with numpy/pandas from the data.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.priors import PriorSpec


# ------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def sleepstudy() -> pd.DataFrame:
    return bmm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    return bmm.datasets.load("cbpp")


@pytest.fixture(scope="module")
def pastes() -> pd.DataFrame:
    return bmm.datasets.load("pastes")


@pytest.fixture
def toy() -> pd.DataFrame:
    """30 rows: numeric x > 0, a 3-level factor f, a numeric 10-level grouping column g."""
    rng = np.random.default_rng(20240611)
    n = 30
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.uniform(1, 5, size=n),
        "f": np.repeat(["a", "b", "c"], 10),
        "g": np.tile(np.arange(1, 11), 3),
    })


def model(formula, data, **kwargs) -> bmm.Model:
    """A Model built with no warning escaping (tests that expect one catch it themselves)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", bmm.BayesMMWarning)
        return bmm.Model(formula, data, **kwargs)


def column(design, name: str) -> np.ndarray:
    return design.X[:, list(design.fixed_names).index(name)]


def assert_maps_to(block, labels) -> None:
    """Each row's level (through group_index) is the row's own grouping value."""
    assert block.group_index.dtype == np.int32
    assert block.group_index.min() >= 0 and block.group_index.max() == block.n_levels - 1
    np.testing.assert_array_equal(np.asarray(block.levels, dtype=object)[block.group_index],
                                  np.asarray(labels, dtype=str).astype(object))


# ------------------------------------------------------------------------------------- sleepstudy
def test_sleepstudy_correlated_block(sleepstudy):
    d = model("Reaction ~ Days + (Days | Subject)", sleepstudy).design
    np.testing.assert_array_equal(d.y, sleepstudy["Reaction"].to_numpy())
    assert d.response_name == "Reaction"
    assert d.fixed_names == ("Intercept", "Days")
    np.testing.assert_array_equal(d.X[:, 0], np.ones(180))
    np.testing.assert_array_equal(d.X[:, 1], sleepstudy["Days"].to_numpy(dtype=float))
    assert d.aliased == () and d.n_dropped == 0 and d.offset is None and d.trials is None

    (block,) = d.blocks
    assert block.group == "Subject" and block.group_factors == ("Subject",)
    assert block.columns == ("Intercept", "Days") and block.correlated
    assert block.n_levels == 18
    expected_levels = sorted(sleepstudy["Subject"].unique(), key=int)
    assert list(block.levels) == expected_levels
    assert block.levels[:3] == ("308", "309", "310") and block.levels[-1] == "372"
    assert_maps_to(block, sleepstudy["Subject"])
    np.testing.assert_array_equal(block.Z[:, 0], np.ones(180))
    np.testing.assert_array_equal(block.Z[:, 1], sleepstudy["Days"].to_numpy(dtype=float))
    # the Days column is scaled by its SD for the default prior; the intercept by 1
    np.testing.assert_allclose(block.column_scale, [1.0, np.std(sleepstudy["Days"].to_numpy())])


def test_no_rows_by_levels_matrix(sleepstudy):
    """Z holds rows x q covariates and a level index, never a rows x levels dummy matrix."""
    d = model("Reaction ~ Days + (Days | Subject)", sleepstudy).design
    n = len(sleepstudy)
    for block in d.blocks:
        assert block.Z.shape == (n, block.n_columns) == (n, 2)
        assert block.group_index.shape == (n,)
        assert block.group_index.dtype == np.int32


def test_double_bar_gives_independent_blocks(sleepstudy):
    d = model("Reaction ~ Days + (Days || Subject)", sleepstudy).design
    assert [b.columns for b in d.blocks] == [("Intercept",), ("Days",)]
    assert [b.group for b in d.blocks] == ["Subject", "Subject"]
    assert [b.correlated for b in d.blocks] == [False, False]
    np.testing.assert_array_equal(d.blocks[0].Z[:, 0], np.ones(180))
    np.testing.assert_array_equal(d.blocks[1].Z[:, 0], sleepstudy["Days"].to_numpy(dtype=float))
    for block in d.blocks:
        assert block.Z.shape == (180, 1) and block.n_levels == 18
        assert_maps_to(block, sleepstudy["Subject"])


def test_double_bar_factor_without_intercept_gives_one_block_per_level(toy):
    d = model("y ~ 1 + (0 + f || g)", toy).design
    assert [b.columns for b in d.blocks] == [("f[a]",), ("f[b]",), ("f[c]",)]
    assert all(not b.correlated for b in d.blocks)
    for block, level in zip(d.blocks, "abc"):
        np.testing.assert_array_equal(block.Z[:, 0], (toy["f"] == level).to_numpy(dtype=float))
        assert_maps_to(block, toy["g"])


def test_double_bar_factor_gives_intercept_and_contrasts(toy):
    """(f || g) is (1 + f || g): the intercept and f's treatment contrasts, one independent SD each (3 for a
    3-level f), as afex's expand_re and brms code it; not the intercept plus one dummy per level (4 SDs, one
    more than the columns can identify)."""
    m = model("y ~ f + (f || g)", toy)
    d = m.design
    assert [b.columns for b in d.blocks] == [("Intercept",), ("f[b]",), ("f[c]",)]
    assert [b.group for b in d.blocks] == ["g"] * 3 and not any(b.correlated for b in d.blocks)
    np.testing.assert_array_equal(d.blocks[0].Z[:, 0], np.ones(len(toy)))
    for block, level in zip(d.blocks[1:], "bc"):
        np.testing.assert_array_equal(block.Z[:, 0], (toy["f"] == level).to_numpy(dtype=float))
    for block in d.blocks:
        assert block.Z.shape == (30, 1)
        assert_maps_to(block, toy["g"])
    sds = m.priors[m.priors["class"] == "sd"]
    assert list(sds["group"]) == ["g"] * 3 and list(sds["coef"]) == ["Intercept", "f[b]", "f[c]"]
    # the same columns as the correlated block, split
    (full,) = model("y ~ f + (f | g)", toy).design.blocks
    np.testing.assert_array_equal(np.column_stack([b.Z for b in d.blocks]), full.Z)


def test_double_bar_with_numeric_and_factor_slopes(toy):
    m = model("y ~ x + f + (1 + x + f || g)", toy)
    assert [b.columns for b in m.design.blocks] == [("Intercept",), ("x",), ("f[b]",), ("f[c]",)]
    np.testing.assert_array_equal(m.design.blocks[1].Z[:, 0], toy["x"].to_numpy())
    assert list(m.priors[m.priors["class"] == "sd"]["coef"]) == ["Intercept", "x", "f[b]", "f[c]"]
    zero = model("y ~ f + (0 + f || g)", toy)  # no intercept: one SD per level
    assert list(zero.priors[zero.priors["class"] == "sd"]["coef"]) == ["f[a]", "f[b]", "f[c]"]


def test_single_bar_factor_is_one_correlated_block(toy):
    d = model("y ~ 1 + (0 + f | g)", toy).design
    (block,) = d.blocks
    assert block.columns == ("f[a]", "f[b]", "f[c]") and block.correlated
    expected = np.column_stack([(toy["f"] == level).to_numpy(dtype=float) for level in "abc"])
    np.testing.assert_array_equal(block.Z, expected)


# ------------------------------------------------------------------------------------ nested groups
def test_nested_grouping_pastes(pastes):
    d = model("strength ~ 1 + (1 | batch/cask)", pastes).design
    assert [b.group for b in d.blocks] == ["batch", "batch:cask"]
    batch, cask = d.blocks
    assert batch.group_factors == ("batch",) and cask.group_factors == ("batch", "cask")
    assert batch.n_levels == 10 and cask.n_levels == 30
    assert batch.levels == tuple("ABCDEFGHIJ")
    assert cask.levels[:4] == ("A:a", "A:b", "A:c", "B:a")
    assert cask.levels == tuple(f"{b}:{c}" for b in "ABCDEFGHIJ" for c in "abc")
    assert_maps_to(batch, pastes["batch"])
    assert_maps_to(cask, pastes["batch"] + ":" + pastes["cask"])
    # the data set's own 'sample' column is the batch:cask interaction
    assert_maps_to(cask, pastes["sample"])


def test_interaction_grouping_equals_nested_inner(pastes):
    nested = model("strength ~ 1 + (1 | batch/cask)", pastes).design.blocks[1]
    inter = model("strength ~ 1 + (1 | batch:cask)", pastes).design.blocks[0]
    assert inter.group == "batch:cask" and inter.levels == nested.levels
    np.testing.assert_array_equal(inter.group_index, nested.group_index)


# --------------------------------------------------------------------------- numeric grouping column
@pytest.mark.parametrize("values", [[1, 2, 10], [1.0, 2.0, 10.0], [10, 1, 2]], ids=["int", "whole-float", "unsorted"])
def test_numeric_grouping_column_is_a_factor_sorted_numerically(values):
    g = np.array(values * 4)
    data = pd.DataFrame({"y": np.arange(12.0) ** 1.5, "g": g})
    (block,) = model("y ~ 1 + (1 | g)", data).design.blocks
    assert block.levels == ("1", "2", "10")
    np.testing.assert_array_equal(block.group_index, np.searchsorted([1, 2, 10], g).astype(np.int32))
    assert block.group_index.dtype == np.int32


def test_numeric_grouping_levels_with_fractions_sorted_numerically():
    data = pd.DataFrame({"y": np.arange(12.0) ** 1.5, "g": [2.5, 10.0, 1.5] * 4})
    (block,) = model("y ~ 1 + (1 | g)", data).design.blocks
    assert [float(v) for v in block.levels] == [1.5, 2.5, 10.0]


def test_numeric_grouping_varying_slope_by_toy(toy):
    (block,) = model("y ~ x + (x | g)", toy).design.blocks
    assert block.levels == tuple(str(i) for i in range(1, 11))
    assert_maps_to(block, toy["g"])
    np.testing.assert_array_equal(block.Z[:, 1], toy["x"].to_numpy())


# ------------------------------------------------------------------------- binomial responses, offset
def test_cbind_response(cbpp):
    d = model("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial").design
    np.testing.assert_array_equal(d.y, cbpp["incidence"].to_numpy(dtype=float))
    np.testing.assert_array_equal(d.trials, cbpp["size"].to_numpy(dtype=float))
    assert d.fixed_names == ("Intercept", "period[2]", "period[3]", "period[4]")
    for level in "234":
        np.testing.assert_array_equal(column(d, f"period[{level}]"), (cbpp["period"] == level).to_numpy(dtype=float))
    (block,) = d.blocks
    assert block.group == "herd" and block.n_levels == 15
    assert_maps_to(block, cbpp["herd"])


def test_p_response_matches_cbind(cbpp):
    a = model("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial").design
    b = model("p(incidence, size) ~ period + (1 | herd)", cbpp, family="binomial").design
    np.testing.assert_array_equal(b.y, cbpp["incidence"].to_numpy(dtype=float))
    np.testing.assert_array_equal(b.trials, cbpp["size"].to_numpy(dtype=float))
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.trials, b.trials)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.fixed_names == b.fixed_names


def test_offset(cbpp):
    d = model("incidence ~ period + offset(log(size)) + (1 | herd)", cbpp, family="poisson").design
    np.testing.assert_allclose(d.offset, np.log(cbpp["size"].to_numpy(dtype=float)), rtol=0, atol=1e-12)
    assert d.fixed_names == ("Intercept", "period[2]", "period[3]", "period[4]")  # not a coefficient


def test_two_offsets_add(cbpp):
    d = model("incidence ~ 1 + offset(log(size)) + offset(np.sqrt(size)) + (1 | herd)", cbpp,
              family="poisson").design
    size = cbpp["size"].to_numpy(dtype=float)
    np.testing.assert_allclose(d.offset, np.log(size) + np.sqrt(size), rtol=1e-12)


# ------------------------------------------------------------------------------------------ transforms
def _scale(x):
    return (x - x.mean()) / x.std()


def _poly2(x):
    """R's poly(x, 2): orthonormal columns, sign such that column j correlates positively with x**j."""
    q, r = np.linalg.qr(np.vander(x - x.mean(), 3, increasing=True))
    return q[:, 1:] * np.sign(np.diag(r)[1:])


@pytest.mark.parametrize(
    "term, names, expected",
    [
        ("scale(x)", ["scale(x)"], lambda d: _scale(d["x"].to_numpy())[:, None]),
        ("center(x)", ["center(x)"], lambda d: (d["x"] - d["x"].mean()).to_numpy()[:, None]),
        ("I(x**2)", ["I(x ** 2)"], lambda d: (d["x"].to_numpy() ** 2)[:, None]),
        ("I(x * 3 + 1)", ["I(x * 3 + 1)"], lambda d: (d["x"].to_numpy() * 3 + 1)[:, None]),
        ("poly(x, 2)", ["poly(x, 2)[0]", "poly(x, 2)[1]"], lambda d: _poly2(d["x"].to_numpy())),
        ("log(x)", ["log(x)"], lambda d: np.log(d["x"].to_numpy())[:, None]),
        ("np.log(x)", ["np.log(x)"], lambda d: np.log(d["x"].to_numpy())[:, None]),
        ("sqrt(x)", ["sqrt(x)"], lambda d: np.sqrt(d["x"].to_numpy())[:, None]),
        ("C(f)", ["C(f)[b]", "C(f)[c]"],
         lambda d: np.column_stack([(d["f"] == lv).to_numpy(dtype=float) for lv in "bc"])),
        ("f", ["f[b]", "f[c]"], lambda d: np.column_stack([(d["f"] == lv).to_numpy(dtype=float) for lv in "bc"])),
        ("x:f", ["x:f[a]", "x:f[b]", "x:f[c]"],
         lambda d: np.column_stack([d["x"].to_numpy() * (d["f"] == lv).to_numpy() for lv in "abc"])),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_transform_columns(toy, term, names, expected):
    d = model(f"y ~ {term} + (1 | g)", toy).design
    assert d.fixed_names == ("Intercept", *names)
    np.testing.assert_array_equal(d.X[:, 0], np.ones(len(toy)))
    np.testing.assert_allclose(d.X[:, 1:], expected(toy), rtol=1e-10, atol=1e-12)


def test_poly_columns_are_orthonormal_and_orthogonal_to_intercept(toy):
    d = model("y ~ poly(x, 2) + (1 | g)", toy).design
    p = d.X[:, 1:]
    np.testing.assert_allclose(p.T @ p, np.eye(2), atol=1e-10)
    np.testing.assert_allclose(p.sum(axis=0), 0.0, atol=1e-10)


def test_transform_in_random_slope(toy):
    (block,) = model("y ~ 1 + (log(x) | g)", toy).design.blocks
    assert block.columns == ("Intercept", "log(x)")
    np.testing.assert_allclose(block.Z[:, 1], np.log(toy["x"].to_numpy()), rtol=1e-12)


def test_response_transform(sleepstudy):
    d = model("log(Reaction) ~ Days + (1 | Subject)", sleepstudy).design
    np.testing.assert_allclose(d.y, np.log(sleepstudy["Reaction"].to_numpy()), rtol=1e-12)


def test_categorical_level_order_sets_the_reference(toy):
    """A pandas Categorical's category order is the factor's level order, as in R: the first level is the
    reference of the fixed part, and the order of dummy columns in a random term and of grouping levels."""
    data = toy.assign(f=pd.Categorical(toy["f"], categories=["c", "a", "b"]),
                      g=pd.Categorical(toy["g"].astype(str), categories=[str(i) for i in range(10, 0, -1)]))
    assert model("y ~ C(f) + (1 | g)", data).design.fixed_names == ("Intercept", "C(f)[a]", "C(f)[b]")
    d = model("y ~ f + (0 + f | g)", data).design
    assert d.fixed_names == ("Intercept", "f[a]", "f[b]")
    for level in "ab":
        np.testing.assert_array_equal(column(d, f"f[{level}]"), (toy["f"] == level).to_numpy(dtype=float))
    (block,) = d.blocks
    assert block.columns == ("f[c]", "f[a]", "f[b]")
    assert block.levels == tuple(str(i) for i in range(10, 0, -1))
    assert_maps_to(block, toy["g"])


def test_dict_of_columns_is_accepted(toy):
    a = model("y ~ x + (1 | g)", toy).design
    b = model("y ~ x + (1 | g)", {c: toy[c].to_numpy() for c in toy.columns}).design
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.blocks[0].levels == b.blocks[0].levels


# ------------------------------------------------------------------------------------- missing values
@pytest.fixture
def with_na(toy) -> pd.DataFrame:
    data = toy.copy()
    data.loc[[0, 3], "y"] = np.nan
    data.loc[[3, 5, 7], "x"] = np.nan
    data["unused_all_na"] = np.nan
    data["unused_some_na"] = np.where(np.arange(len(data)) % 2 == 0, np.nan, 1.0)
    return data


def test_missing_rows_dropped_with_warning(with_na):
    with pytest.warns(bmm.BayesMMWarning) as record:
        d = bmm.Model("y ~ x + (1 | g)", with_na).design
    messages = [str(w.message) for w in record if issubclass(w.category, bmm.BayesMMWarning)]
    assert len(messages) == 1
    message = messages[0]
    assert "Dropped 4 of 30 rows" in message
    assert "y (2)" in message and "x (3)" in message
    assert "unused" not in message
    assert d.n_dropped == 4
    assert d.dropped == {"y": 2, "x": 3}
    keep = with_na[["y", "x"]].notna().all(axis=1).to_numpy()
    assert d.n_obs == 26 == keep.sum()
    np.testing.assert_array_equal(d.y, with_na["y"].to_numpy()[keep])
    np.testing.assert_array_equal(d.X[:, 1], with_na["x"].to_numpy()[keep])
    assert list(d.row_labels) == list(with_na.index[keep])
    (block,) = d.blocks
    assert_maps_to(block, with_na["g"].to_numpy()[keep])
    assert block.Z.shape == (26, 1)


def test_missing_in_grouping_column_drops_rows(toy):
    data = toy.copy().astype({"g": float})
    data.loc[[1, 2], "g"] = np.nan
    with pytest.warns(bmm.BayesMMWarning, match=r"Dropped 2 of 30 rows.*g \(2\)"):
        d = bmm.Model("y ~ x + (1 | g)", data).design
    assert d.n_dropped == 2 and d.dropped == {"g": 2}
    # the float column (because of the NaN) still gives integer level names, numerically sorted
    assert d.blocks[0].levels == tuple(str(i) for i in range(1, 11))


def test_unused_columns_with_missing_values_do_not_drop_rows(with_na):
    data = with_na.dropna(subset=["y", "x"])
    d = model("y ~ x + (1 | g)", data).design  # model() fails on any BayesMMWarning
    assert d.n_dropped == 0 and d.dropped == {} and d.n_obs == len(data)


def test_na_action_error(with_na):
    with pytest.raises(bmm.DataError, match=r"4 rows have missing values in y \(2\), x \(3\)") as info:
        bmm.Model("y ~ x + (1 | g)", with_na, na_action="error")
    assert "na_action='omit'" in str(info.value)


# ----------------------------------------------------------------------------- frequency weights
@pytest.mark.parametrize("column,values,match", [
    ("w", -1, "negative or non-finite"),
    ("w", "a", "must be numeric"),
    ("w", 0, "All weights"),
    ("nope", None, "Column 'nope'"),
])
def test_bad_weights(column, values, match):
    rng = np.random.default_rng(5)
    base = pd.DataFrame({"g": np.repeat(list("abcde"), 6), "x": rng.normal(0, 1, 30)})
    base["y"] = rng.poisson(3, 30)
    base["w"] = rng.integers(1, 4, 30)
    if values is not None:
        base["w"] = values
    with pytest.raises(bmm.DataError, match=match):
        bmm.Model("y ~ x + (1 | g)", base, family="poisson", weights=column)


# ------------------------------------------------------------------------------------ rank deficiency
def test_linear_combination_is_dropped(toy):
    data = toy.assign(x2=2 * toy["x"] + 1, x3=toy["x"].copy())
    with pytest.warns(bmm.BayesMMWarning, match="x2") as record:
        d = bmm.Model("y ~ x + x2 + x3 + (1 | g)", data).design
    message = " ".join(str(w.message) for w in record)
    assert "'x2'" in message and "'x3'" in message and "linear combination" in message
    assert d.fixed_names == ("Intercept", "x")
    assert d.aliased == ("x2", "x3")
    np.testing.assert_array_equal(d.X[:, 1], toy["x"].to_numpy())
    assert d.X.shape == (30, 2)


def test_aliased_factor_contrast(toy):
    """h is a coarsening of f: its dummy is a sum of f's dummies and is dropped; the earlier column stays."""
    data = toy.assign(h=np.where(toy["f"] == "a", "p", "q"))
    with pytest.warns(bmm.BayesMMWarning, match=r"h\[q\]"):
        d = bmm.Model("y ~ f + h + (1 | g)", data).design
    assert d.fixed_names == ("Intercept", "f[b]", "f[c]")
    assert d.aliased == ("h[q]",)


def test_full_rank_design_has_no_aliased_columns(sleepstudy):
    d = model("Reaction ~ Days + I(Days**2) + (1 | Subject)", sleepstudy).design
    assert d.aliased == () and d.fixed_names == ("Intercept", "Days", "I(Days ** 2)")


# -------------------------------------------------------------------------------------------- priors
def _args(entry) -> tuple[float, ...]:
    return tuple(entry.prior.args)


def _shown_numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", text)]


def test_default_priors_gaussian_match_docstring(sleepstudy):
    m = model("Reaction ~ Days + (Days | Subject)", sleepstudy)
    y = sleepstudy["Reaction"].to_numpy(dtype=float)
    days = sleepstudy["Days"].to_numpy(dtype=float)
    s_y, s_x = np.std(y), np.std(days)
    s_z = s_x  # the varying Days column is the same column
    expected = [
        # class, group, coef, distribution, arguments
        ("Intercept", "", "", "student_t", (3, np.mean(y), 2.5 * s_y)),
        ("b", "", "Days", "normal", (0, 2.5 * s_y / s_x)),
        ("sd", "Subject", "Intercept", "half_student_t", (3, s_y)),
        ("sd", "Subject", "Days", "half_student_t", (3, s_y / s_z)),
        ("cor", "Subject", "", "lkj", (2,)),
        ("sigma", "", "", "half_student_t", (3, s_y)),
    ]
    entries = m.prior_entries
    assert [(e.cls, e.group, e.coef) for e in entries] == [row[:3] for row in expected]
    for entry, (cls, group, coef, dist, args) in zip(entries, expected):
        assert entry.prior.dist == dist, cls
        np.testing.assert_allclose(_args(entry), args, rtol=1e-5, err_msg=f"{cls} {group} {coef}")
        assert entry.source != "user"

    table = m.priors
    assert list(table.columns) == ["class", "group", "coef", "prior", "source"]
    assert list(table["class"]) == ["Intercept", "b", "sd", "sd", "cor", "sigma"]
    for text, (_, _, _, dist, args) in zip(table["prior"], expected):
        assert text.startswith(f"{dist}(")
        np.testing.assert_allclose(_shown_numbers(text), args, rtol=1e-3)  # shown with 4 significant digits
    assert list(table["source"]) == [
        "student_t(3, link(mean(y)), 2.5 s_y)", "normal(0, 2.5 s_y / s_x)", "half_student_t(3, s_y)",
        "half_student_t(3, s_y / s_z)", "lkj(2)", "half_student_t(3, s_y)"]


def test_default_priors_scale_with_units(sleepstudy):
    """The same formula in other units gives the same priors in those units (autoscaling)."""
    a = model("Reaction ~ Days + (Days | Subject)", sleepstudy).prior_entries
    scaled = sleepstudy.assign(Reaction=sleepstudy["Reaction"] / 1000, Days=sleepstudy["Days"] * 24)
    b = model("Reaction ~ Days + (Days | Subject)", scaled).prior_entries
    factor = {("Intercept", ""): (1, 1e-3, 1e-3), ("b", "Days"): (1, 1e-3 / 24),
              ("sd", "Intercept"): (1, 1e-3), ("sd", "Days"): (1, 1e-3 / 24), ("cor", ""): (1,),
              ("sigma", ""): (1, 1e-3)}
    for ea, eb in zip(a, b):
        f = np.array(factor[(ea.cls, ea.coef)])
        np.testing.assert_allclose(_args(eb), np.array(_args(ea)) * f, rtol=2e-5)


def test_default_priors_binomial_link_scale(cbpp):
    m = model("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    p = (cbpp["incidence"] / cbpp["size"]).to_numpy()
    location = np.log(p.mean()) - np.log1p(-p.mean())
    by_key = {(e.cls, e.group, e.coef): e for e in m.prior_entries}
    assert set(by_key) == {("Intercept", "", ""), ("b", "", "period[2]"), ("b", "", "period[3]"),
                           ("b", "", "period[4]"), ("sd", "herd", "Intercept")}
    intercept = by_key[("Intercept", "", "")]
    assert intercept.prior.dist == "student_t"
    np.testing.assert_allclose(_args(intercept), (3, location, 2.5), rtol=1e-5)
    for level in "234":
        s_x = np.std((cbpp["period"] == level).to_numpy(dtype=float))
        entry = by_key[("b", "", f"period[{level}]")]
        assert entry.prior.dist == "normal"
        np.testing.assert_allclose(_args(entry), (0, 2.5 / s_x), rtol=1e-5)
    sd = by_key[("sd", "herd", "Intercept")]
    assert sd.prior.dist == "half_student_t"
    np.testing.assert_allclose(_args(sd), (3, 2.5), rtol=1e-12)


def _table(m) -> dict:
    return {(r["class"], r["group"], r["coef"]): (r["prior"], r["source"]) for _, r in m.priors.iterrows()}


def test_prior_overrides_by_class_and_group(sleepstudy):
    m = model("Reaction ~ Days + (Days | Subject)", sleepstudy,
              priors={"b": "normal(0, 5)", "sd": {"Subject": "half_normal(10)"}})
    t = _table(m)
    assert t[("b", "", "Days")] == ("normal(0, 5)", "user")
    assert t[("sd", "Subject", "Intercept")] == ("half_normal(10)", "user")
    assert t[("sd", "Subject", "Days")] == ("half_normal(10)", "user")
    for key in [("Intercept", "", ""), ("cor", "Subject", ""), ("sigma", "", "")]:
        assert t[key][1] != "user", key
    assert t[("cor", "Subject", "")][0] == "lkj(2)"


def test_prior_overrides_per_coefficient_and_group_term(sleepstudy):
    m = model("Reaction ~ Days + (Days | Subject)", sleepstudy,
              priors={"b": {"Days": "normal(10, 5)"}, "sd": {"Subject": {"Days": "half_normal(5)"}},
                      "Intercept": "normal(250, 100)", "cor": "lkj(1)", "sigma": "exponential(0.1)"})
    t = _table(m)
    assert t[("b", "", "Days")] == ("normal(10, 5)", "user")
    assert t[("sd", "Subject", "Days")] == ("half_normal(5)", "user")
    assert t[("sd", "Subject", "Intercept")] == ("half_student_t(3, 56.17)", "half_student_t(3, s_y)")
    assert t[("Intercept", "", "")] == ("normal(250, 100)", "user")
    assert t[("cor", "Subject", "")] == ("lkj(1)", "user")
    assert t[("sigma", "", "")] == ("exponential(0.1)", "user")
    entry = next(e for e in m.prior_entries if e.cls == "b")
    assert entry.prior == PriorSpec("normal", (10.0, 5.0))


def test_prior_override_on_one_of_several_coefficients(toy):
    m = model("y ~ x + f + (1 | g)", toy, priors={"b": {"f[b]": "normal(0, 1)"}})
    t = _table(m)
    assert t[("b", "", "f[b]")] == ("normal(0, 1)", "user")
    assert t[("b", "", "x")][1] != "user" and t[("b", "", "f[c]")][1] != "user"


def test_prior_override_on_nested_group(pastes):
    m = model("strength ~ 1 + (1 | batch/cask)", pastes, priors={"sd": {"batch:cask": "half_normal(2)"}})
    t = _table(m)
    assert t[("sd", "batch:cask", "Intercept")] == ("half_normal(2)", "user")
    assert t[("sd", "batch", "Intercept")][1] != "user"


def test_real_prior_with_location_zero_on_sd_becomes_half(sleepstudy):
    m = model("Reaction ~ Days + (Days | Subject)", sleepstudy, priors={"sd": "normal(0, 3)"})
    t = _table(m)
    assert t[("sd", "Subject", "Intercept")] == ("half_normal(3)", "user")
    assert t[("sd", "Subject", "Days")] == ("half_normal(3)", "user")
    m = model("Reaction ~ Days + (Days | Subject)", sleepstudy, priors={"sd": "student_t(3, 0, 10)"})
    assert _table(m)[("sd", "Subject", "Days")] == ("half_student_t(3, 10)", "user")


def test_sd_prefix_alias_for_groups(sleepstudy):
    m = model("Reaction ~ Days + (Days | Subject)", sleepstudy, priors={"sd": {"sd__Subject": "half_normal(3)"}})
    assert _table(m)[("sd", "Subject", "Days")] == ("half_normal(3)", "user")


def test_flat_prior_allowed_on_coefficients(sleepstudy):
    m = model("Reaction ~ Days + (Days | Subject)", sleepstudy, priors={"b": "flat"})
    assert _table(m)[("b", "", "Days")] == ("flat()", "user")


# -------------------------------------------------------- column names that are keywords or not identifiers
@pytest.fixture(scope="module")
def odd_names() -> pd.DataFrame:
    """Columns named as Python keywords, with dots, spaces, a leading digit or non-ASCII letters."""
    rng = np.random.default_rng(11)
    n = 40
    return pd.DataFrame({
        "yield": rng.uniform(0.1, 0.9, n), "temp": rng.normal(size=n), "class": rng.normal(size=n),
        "lambda": rng.normal(size=n), "in": rng.normal(size=n), "True": rng.normal(size=n),
        "False": rng.normal(size=n), "None": rng.normal(size=n), "a.b": rng.uniform(1, 2, n),
        "my col": rng.uniform(1, 2, n), "2x": rng.normal(size=n), "größe": rng.normal(size=n),
        "my group": np.tile(list("pqrst"), 8), "for": np.repeat(list("abcd"), 10),
        "batch": np.repeat(list("ABCDEFGH"), 5),
    })


# formula -> (response column, {fixed-effect name: the data column it must equal}, grouping columns)
ODD_NAMES = {
    "yield ~ temp + (1 | batch)": ("yield", {"temp": "temp"}, ("batch",)),
    "class ~ yield + lambda + in + (1 | for)": ("class", {"yield": "yield", "lambda": "lambda", "in": "in"}, ("for",)),
    "`my col` ~ `a.b` + `2x` + `größe` + (1 | `my group`)": (
        "my col", {"a.b": "a.b", "2x": "2x", "größe": "größe"}, ("my group",)),
    "Q('my col') ~ Q('class') + (1 | Q('my group'))": ("my col", {"class": "class"}, ("my group",)),
    "temp ~ a.b + (1 | `my group`:for)": ("temp", {"a.b": "a.b"}, ("my group", "for")),
    "temp ~ True + False + None + (1 | batch)": ("temp", {"True": "True", "False": "False", "None": "None"},
                                                 ("batch",)),
    "temp ~ `True` + (1 | `for`)": ("temp", {"True": "True"}, ("for",)),
    "True ~ class + (1 | batch)": ("True", {"class": "class"}, ("batch",)),
}


@pytest.mark.parametrize("formula", list(ODD_NAMES), ids=list(ODD_NAMES))
def test_columns_with_odd_names(odd_names, formula):
    response, fixed, groups = ODD_NAMES[formula]
    d = model(formula, odd_names).design
    np.testing.assert_array_equal(d.y, odd_names[response].to_numpy())
    assert d.response_name == response
    assert d.fixed_names == ("Intercept", *fixed)  # readable: 'my col', not a mangled name
    for name, col in fixed.items():
        np.testing.assert_array_equal(column(d, name), odd_names[col].to_numpy())
    (block,) = d.blocks
    assert block.group == ":".join(groups) and block.group_factors == groups
    labels = odd_names[groups[0]]
    for extra in groups[1:]:
        labels = labels + ":" + odd_names[extra]
    assert_maps_to(block, labels)


def test_transforms_of_odd_names(odd_names):
    d = model("log(`my col`) ~ log(`a.b`) + I(`my col` * 2) + class:`my group` + offset(`a.b` / 2) "
              "+ (0 + `2x` | `my group`)", odd_names).design
    np.testing.assert_allclose(d.y, np.log(odd_names["my col"]), rtol=1e-12)
    assert d.response_name == "log(`my col`)"
    assert d.fixed_names[:3] == ("Intercept", "log(a.b)", "I(my col * 2)")
    np.testing.assert_allclose(column(d, "log(a.b)"), np.log(odd_names["a.b"]), rtol=1e-12)
    np.testing.assert_allclose(column(d, "I(my col * 2)"), odd_names["my col"] * 2, rtol=1e-12)
    np.testing.assert_allclose(column(d, "class:my group[q]"),
                               odd_names["class"] * (odd_names["my group"] == "q"), rtol=1e-12)
    np.testing.assert_allclose(d.offset, odd_names["a.b"] / 2, rtol=1e-12)
    (block,) = d.blocks
    assert block.columns == ("2x",)
    np.testing.assert_array_equal(block.Z[:, 0], odd_names["2x"].to_numpy())


def test_missing_quoted_column_is_named(odd_names):
    with pytest.raises(bmm.DataError, match=r"Column 'my cool' .*not in the data\. Did you mean 'my col'\?"):
        model("temp ~ `my cool` + (1 | batch)", odd_names)


@pytest.mark.parametrize("literal", ["True", "False", "None"])
def test_true_false_none_without_such_a_column_are_an_error_not_an_intercept(toy, literal):
    """'x ~ True' once silently fitted an intercept-only model; it names a column, which must exist."""
    with pytest.raises(bmm.DataError, match=f"Column '{literal}' .*not in the data.*`{literal}`"):
        model(f"y ~ {literal} + (1 | g)", toy)
    d = model(f"y ~ {literal} + (1 | g)", toy.assign(**{literal: toy["x"] * 2})).design
    assert d.fixed_names == ("Intercept", literal)
    np.testing.assert_array_equal(d.X[:, 1], toy["x"].to_numpy() * 2)


# ----------------------------------------------------------------------------------------- constants
def test_pi_is_the_constant(toy):
    d = model("y ~ sin(2 * pi * x) + np.cos(np.pi * x) + I(x * np.e) + (1 | g)", toy).design
    x = toy["x"].to_numpy()
    assert d.fixed_names == ("Intercept", "sin(2 * pi * x)", "np.cos(np.pi * x)", "I(x * np.e)")
    np.testing.assert_allclose(d.X[:, 1], np.sin(2 * np.pi * x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d.X[:, 2], np.cos(np.pi * x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d.X[:, 3], x * np.e, rtol=1e-12)
    assert "pi" not in d.spec.variables
    d = model("y ~ 1 + offset(pi * x) + (1 | g)", toy, family="gaussian").design
    np.testing.assert_allclose(d.offset, np.pi * x, rtol=1e-12)


def test_a_column_named_pi_wins_over_the_constant(toy):
    """With a column 'pi' in the data, 'pi' is that column (np.pi stays numpy's); the design's spec writes it
    `pi`, so predictions on new data read the column too."""
    data = toy.assign(pi=np.arange(30.0) / 10)
    d = model("y ~ I(pi * x) + I(np.pi * x) + offset(pi) + (1 | g)", data).design
    x = toy["x"].to_numpy()
    np.testing.assert_allclose(d.X[:, 1], data["pi"] * x, rtol=1e-12)
    np.testing.assert_allclose(d.X[:, 2], np.pi * x, rtol=1e-12)
    np.testing.assert_allclose(d.offset, data["pi"], rtol=1e-12)
    assert d.spec.fixed_terms == ("I(`pi` * x)", "I(np.pi * x)") and d.spec.offsets == ("`pi`",)
    assert "pi" in d.spec.variables


# ------------------------------------------------------------ arithmetic on factor or string columns
@pytest.mark.parametrize("formula, expression", [
    ("y ~ I(f * 2) + (1 | g)", "I(f * 2)"),  # was accepted: 'a' * 2 is 'aa', a new factor
    ("y ~ I(f + 'x') + (1 | g)", "I(f + 'x')"),
    ("y ~ I(-f) + (1 | g)", "I(-f)"),
    ("y ~ log(f) + (1 | g)", "log(f)"),
    ("y ~ np.sqrt(f) + (1 | g)", "np.sqrt(f)"),
    ("y ~ scale(f) + (1 | g)", "scale(f)"),
    ("y ~ center(f) + (1 | g)", "center(f)"),
    ("y ~ poly(f, 2) + (1 | g)", "poly(f, 2)"),
    ("y ~ x:log(f) + (1 | g)", "x:log(f)"),
    ("y ~ x + (I(f * 2) | g)", "I(f * 2)"),
    ("y ~ x + offset(f) + (1 | g)", "offset(f)"),
    ("I(y * f) ~ x + (1 | g)", "I(y * f)"),
])
@pytest.mark.parametrize("dtype", ["object", "category"])
def test_arithmetic_on_a_factor_column_is_refused(toy, formula, expression, dtype):
    holds = "strings" if dtype == "object" else "categories"
    with pytest.raises(bmm.DataError) as info:
        model(formula, toy.assign(f=toy["f"].astype(dtype)))
    message = str(info.value)
    for needle in ("Column 'f'", f"holds {holds}", "factor", f"'{expression}'", "uses it as a number",
                   "pd.to_numeric"):
        assert needle in message, message


def test_factor_uses_that_are_not_arithmetic_are_accepted(toy):
    d = model("y ~ C(f) + f:x + (1 | g)", toy).design
    assert d.fixed_names == ("Intercept", "C(f)[b]", "C(f)[c]", "f[a]:x", "f[b]:x", "f[c]:x")
    d = model("y ~ I(f == 'b') + (1 | g)", toy).design  # a comparison, not arithmetic
    assert d.fixed_names == ("Intercept", "I(f == 'b')")
    np.testing.assert_array_equal(column(d, "I(f == 'b')"), (toy["f"] == "b").to_numpy(dtype=float))


# ---------------------------------------------------------------------------------- one short real fit
def test_fit_with_odd_names_matches_the_renamed_fit():
    """Names change nothing but the labels: the same data under plain names gives the same draws for the same
    seed; term and group names stay as written; predictions on new data read the odd names."""
    rng = np.random.default_rng(5)
    n, levels = 120, 8
    batch = np.repeat(np.arange(levels), n // levels)
    temp = rng.normal(size=n)
    y = 1.0 + 0.5 * temp + rng.normal(scale=0.4, size=levels)[batch] + rng.normal(scale=0.3, size=n)
    plain = pd.DataFrame({"y": y, "x": temp, "b": [f"B{k}" for k in batch]})
    odd = plain.rename(columns={"y": "yield", "x": "my temp", "b": "my batch"})
    settings = dict(family="gaussian", chains=2, draws=300, warmup=300, seed=1, progress=False)
    fit_odd = bmm.fit("yield ~ `my temp` + (1 | `my batch`)", odd, **settings)
    fit_plain = bmm.fit("y ~ x + (1 | b)", plain, **settings)
    odd_tidy, plain_tidy = fit_odd.tidy(), fit_plain.tidy()
    assert list(odd_tidy["term"][:2]) == ["Intercept", "my temp"]
    assert "my batch" in set(odd_tidy["group"])
    np.testing.assert_allclose(odd_tidy["estimate"], plain_tidy["estimate"], rtol=1e-6)
    slope = odd_tidy.loc[odd_tidy["term"] == "my temp", "estimate"].item()
    # the within-batch least-squares slope (lme4 gives nearly the same with 8 batches of 15)
    x_within = temp - plain.groupby("b")["x"].transform("mean").to_numpy()
    y_within = y - plain.groupby("b")["y"].transform("mean").to_numpy()
    within = x_within @ y_within / (x_within @ x_within)
    assert abs(slope - within) < 0.02 and abs(slope - 0.5) < 0.1
    new = odd.iloc[[0, 20, 40]].assign(**{"my batch": ["B0", "B1", "new"]})
    np.testing.assert_allclose(fit_odd.predict(new, seed=2)["Estimate"],
                               fit_plain.predict(new.set_axis(["y", "x", "b"], axis=1), seed=2)["Estimate"], rtol=1e-6)


# --------------------------------------------------------------------- random effects of family parameters
def test_a_parts_random_terms_become_blocks_of_that_part():
    """zi="~ spp + (1 | site)": the site term is a block of the zi part, after the mean's blocks, with the same
    rows and levels as the mean's site term; dispersion="~ x + (x || g)": independent blocks of sigma's part."""
    salamanders = bmm.datasets.load("salamanders")
    design = model("count ~ spp * mined + (1 | site)", salamanders, family="zero_inflated_poisson",
                   zi="~ spp + (1 | site)").design
    assert [(b.group, b.part, b.component) for b in design.blocks] == [("site", "cond", "cond"), ("site", "zi", "zi")]
    mean, zi = design.blocks
    np.testing.assert_array_equal(zi.group_index, mean.group_index)
    assert zi.levels == mean.levels and zi.columns == ("Intercept",) and np.all(zi.Z == 1.0)
    assert design.part_blocks("zi") == [(1, zi)] and design.part_blocks() == [(0, mean)]
    assert design.parts["zi"][1] == ("Intercept",) + tuple(f"spp[{s}]" for s in ["DF", "DM", "EC-A", "EC-L", "GP",
                                                                                  "PR"])
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)})
    design = model("y ~ x", data, dispersion="~ x + (x || g)").design
    assert [(b.part, b.component, b.columns) for b in design.blocks] == [("sigma", "disp", ("Intercept",)),
                                                                         ("sigma", "disp", ("x",))]
    np.testing.assert_allclose(design.blocks[1].Z[:, 0], data["x"])
    assert_maps_to(design.blocks[0], data["g"])


@pytest.mark.parametrize("kwargs,error,pieces", [
    ({"zi": "~ (1 | nothere)"}, bmm.DataError, ["'nothere'", "zi= formula", "not in the data"]),
    ({"zi": "~ (nosuch | site)"}, bmm.DataError, ["'nosuch'", "zi= formula"]),
    ({"zi": "~ (1 | one)"}, bmm.DataError, ["'one'", "in the zi= formula", "single level"]),
    ({"zi": "~ x + offset(x)"}, bmm.FormulaError, ["zi= formula", "offset"]),
])
def test_bad_part_terms_are_refused_naming_the_part(kwargs, error, pieces):
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"y": rng.poisson(2, 60), "x": rng.normal(size=60), "site": np.repeat(list("abcdef"), 10),
                         "one": "only"})
    with pytest.raises(error) as caught:
        bmm.Model("y ~ x + (1 | site)", data, family="zero_inflated_poisson", **kwargs)
    for piece in pieces:
        assert piece in str(caught.value), (piece, str(caught.value))


def test_a_dispersion_terms_single_level_names_the_dispersion_formula():
    data = pd.DataFrame({"y": np.arange(20.0) % 7, "x": np.arange(20.0), "g": "a"})
    with pytest.raises(bmm.DataError, match=r"'g' in the dispersion= formula \(sigma\) has a single level"):
        bmm.Model("y ~ x", data, dispersion="~ (1 | g)")
