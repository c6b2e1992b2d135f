"""Ordinal responses read as categories (bayesmm.categories): where the levels come from, the codes 1 .. K, the
design without its intercept and the thresholds' priors; and the inputs refused, each naming the column, the rows
and what to do (no sampling)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm import DataError, FamilyError, FormulaError

WINE = bmm.datasets.load("wine")
FORMULA = "rating ~ temp + contact + (1 | judge)"
LABELS = {1: "very bad", 2: "bad", 3: "fair", 4: "good", 5: "very good"}
ORDER = list(LABELS.values())


def test_whole_number_scores_are_the_categories_from_lowest_to_highest():
    design = bmm.Model(FORMULA, WINE, family="cumulative").design
    assert design.response_levels == ("1", "2", "3", "4", "5")
    np.testing.assert_array_equal(design.y, WINE["rating"].to_numpy(dtype=float))
    assert design.fixed_names == ("temp[warm]", "contact[yes]")  # the thresholds replace the intercept
    assert design.X.shape == (72, 2)


def test_an_ordered_categorical_and_strings_with_levels_give_the_same_codes():
    strings = WINE.assign(rating=WINE["rating"].map(LABELS))
    with_levels = bmm.Model(FORMULA, strings, family="cumulative", levels=ORDER).design
    ordered = WINE.assign(rating=pd.Categorical(strings["rating"], categories=ORDER, ordered=True))
    from_dtype = bmm.Model(FORMULA, ordered, family="cumulative").design
    for design in (with_levels, from_dtype):
        assert design.response_levels == tuple(ORDER)
        np.testing.assert_array_equal(design.y, WINE["rating"].to_numpy(dtype=float))


def test_levels_given_as_numbers_match_numbers_and_strings():
    shifted = WINE.assign(rating=WINE["rating"] * 10)
    design = bmm.Model(FORMULA, shifted, family="cumulative", levels=[10, 20, 30, 40, 50]).design
    np.testing.assert_array_equal(design.y, WINE["rating"].to_numpy(dtype=float))
    as_text = WINE.assign(rating=WINE["rating"].astype(str))
    assert bmm.Model(FORMULA, as_text, family="cumulative", levels=[1, 2, 3, 4, 5]).design.response_levels[-1] == "5"


def test_thresholds_get_brms_priors_one_per_threshold():
    priors = bmm.Model(FORMULA, WINE, family="cumulative").priors
    thresholds = priors[priors["class"] == "Intercept"]
    assert list(thresholds["coef"]) == ["1", "2", "3", "4"]
    assert set(thresholds["prior"]) == {"student_t(3, 0, 2.5)"}
    assert "b" in set(priors["class"]) and "sd" in set(priors["class"])


def test_a_threshold_prior_can_be_set_alone_or_for_all():
    one = bmm.Model(FORMULA, WINE, family="cumulative", priors={"Intercept": {"2": "normal(1, 0.5)"}}).priors
    rows = one[one["class"] == "Intercept"].set_index("coef")["prior"]
    assert rows["2"] == "normal(1, 0.5)" and rows["1"] == "student_t(3, 0, 2.5)"
    every = bmm.Model(FORMULA, WINE, family="cumulative", priors={"Intercept": "normal(0, 4)"}).priors
    assert set(every[every["class"] == "Intercept"]["prior"]) == {"normal(0, 4)"}
    with pytest.raises(bmm.PriorError, match="'7'"):
        bmm.Model(FORMULA, WINE, family="cumulative", priors={"Intercept": {"7": "normal(0, 1)"}})


def test_an_unused_category_is_kept_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        design = bmm.Model(FORMULA, WINE, family="cumulative", levels=[0, 1, 2, 3, 4, 5]).design
    assert design.response_levels[0] == "0" and design.y.min() == 2
    assert any("['0']" in str(w.message) and "prior alone" in str(w.message) for w in caught)


def test_an_intercept_free_formula_is_the_same_model():
    design = bmm.Model("rating ~ 0 + contact + (1 | judge)", WINE.assign(contact=(WINE.contact == "yes") * 1.0),
                       family="cumulative").design
    assert design.fixed_names == ("contact",)


# ------------------------------------------------------------------------------------------ refused
def _refused(error, needles, formula=FORMULA, data=WINE, **options):
    with pytest.raises(error) as raised:
        bmm.Model(formula, data, family="cumulative", **options)
    message = str(raised.value)
    for needle in needles:
        assert needle in message, (needle, message)


def test_a_non_integer_score_is_refused_naming_the_rows():
    scores = WINE.assign(rating=WINE["rating"].astype(float))
    scores.loc[[3, 8], "rating"] = [2.5, 4.25]
    _refused(FamilyError, ("'rating'", "non-integer", "2.5", "rows [3, 8]", "levels="), data=scores)


def test_fewer_than_three_categories_are_refused():
    binary = WINE.assign(rating=(WINE["rating"] > 3).astype(int))
    _refused(FamilyError, ("'rating'", "2 categories", "at least 3", "bernoulli"), data=binary)


def test_a_value_missing_from_levels_is_refused_naming_it_and_its_rows():
    strings = WINE.assign(rating=WINE["rating"].map(LABELS))
    rows = list(strings.index[strings["rating"] == "very good"][:5])
    _refused(DataError, ("'rating'", "'very good'", f"rows {rows}", "Add them to levels="), data=strings,
             levels=ORDER[:4])


def test_strings_without_an_order_are_refused():
    strings = WINE.assign(rating=WINE["rating"].map(LABELS))
    _refused(FamilyError, ("'rating'", "without an order", "levels=", "ordered pandas Categorical"), data=strings)
    unordered = WINE.assign(rating=pd.Categorical(strings["rating"]))
    _refused(FamilyError, ("without an order",), data=unordered)


@pytest.mark.parametrize("levels, needle", [("abc", "as a list"), ([1, 2, 2, 3, 4, 5], "['2'] more than once")])
def test_malformed_levels_are_refused(levels, needle):
    _refused(DataError, (needle, "'rating'"), levels=levels)


def test_levels_for_another_family_are_refused():
    with pytest.raises(FamilyError, match="family .poisson. takes none"):
        bmm.Model(FORMULA, WINE, family="poisson", levels=[1, 2, 3, 4, 5])


def test_columns_that_add_up_to_a_constant_are_refused():
    _refused(FormulaError, ("add up to a constant", "temp[cold]", "Keep the intercept"),
             formula="rating ~ 0 + temp + (1 | judge)")


def test_a_link_outside_the_family_is_refused():
    _refused(FamilyError, ("no link 'identity'", "logit, probit, cloglog"), link="identity")


# ------------------------------------------------------------------------------------------ categorical
SIM = pd.read_csv(Path(__file__).parent / "reference" / "categorical_sim.csv")
CAT_FORMULA = "y ~ x + z + (1 | g)"


def test_categorical_levels_are_sorted_and_each_category_gets_its_columns_and_blocks():
    design = bmm.Model(CAT_FORMULA, SIM, family="categorical").design
    assert design.response_levels == ("a", "b", "c")
    np.testing.assert_array_equal(design.y, SIM["y"].map({"a": 1, "b": 2, "c": 3}).to_numpy(float))
    assert design.fixed_names == ("mub_Intercept", "mub_x", "mub_z", "muc_Intercept", "muc_x", "muc_z")
    assert [b.columns for b in design.blocks] == [("mub_Intercept",), ("muc_Intercept",)]
    assert all(b.group == "g" and b.n_levels == 30 for b in design.blocks)
    np.testing.assert_array_equal(design.X[:, :3], design.X[:, 3:])
    # new data goes through the same columns
    encoded = design.fixed_encoder.evaluate_new_data(SIM.head(4)).as_dataframe()
    assert tuple(encoded.columns) == design.fixed_names
    np.testing.assert_allclose(encoded.to_numpy(), design.X[:4])


def test_categorical_reference_follows_levels_or_the_categorical_dtype():
    with_levels = bmm.Model(CAT_FORMULA, SIM, family="categorical", levels=["c", "a", "b"]).design
    assert with_levels.response_levels == ("c", "a", "b") and with_levels.fixed_names[0] == "mua_Intercept"
    dtype = SIM.assign(y=pd.Categorical(SIM["y"], categories=["b", "c", "a"]))
    assert bmm.Model(CAT_FORMULA, dtype, family="categorical").design.response_levels == ("b", "c", "a")


def test_category_names_fall_back_to_numbers_when_their_letters_clash():
    clash = SIM.assign(y=SIM["y"].map({"a": "q", "b": "x-1", "c": "x 1"}))  # both read "x1"
    names = bmm.Model("y ~ x + (1 | g)", clash, family="categorical").design.fixed_names
    assert names == ("mu2_Intercept", "mu2_x", "mu3_Intercept", "mu3_x")
    numbers = SIM.assign(y=SIM["y"].map({"a": 10, "b": 2, "c": 7}))
    assert bmm.Model("y ~ x + (1 | g)", numbers, family="categorical").design.response_levels == ("2", "7", "10")


def test_categorical_intercepts_and_slopes_get_class_b_priors():
    priors = bmm.Model(CAT_FORMULA, SIM, family="categorical").priors.set_index("coef")
    coefficients = priors[priors["class"] == "b"]
    assert list(coefficients.index) == ["mub_Intercept", "mub_x", "mub_z", "muc_Intercept", "muc_x", "muc_z"]
    assert coefficients.loc["mub_Intercept", "prior"] == "normal(0, 2.5)" and "Intercept" not in set(priors["class"])
    sds = priors[priors["class"] == "sd"]
    assert list(sds.index) == ["mub_Intercept", "muc_Intercept"] and set(sds["group"]) == {"g"}


def test_a_categorical_response_with_one_category_is_refused():
    one = SIM.assign(y="a")
    with pytest.raises(FamilyError) as raised:
        bmm.Model(CAT_FORMULA, one, family="categorical")
    for needle in ("'y'", "single category", "['a']", "450 rows", "two or more"):
        assert needle in str(raised.value)


def test_a_categorical_value_missing_from_levels_is_refused():
    with pytest.raises(DataError, match=r"\['c'\], rows \[0, 2, 6, 13, 16\]\)\. Add them to levels="):
        bmm.Model(CAT_FORMULA, SIM, family="categorical", levels=["a", "b"])


def test_an_offset_is_refused_for_a_categorical_response():
    with pytest.raises(FormulaError, match="offset"):
        bmm.Model("y ~ x + offset(z) + (1 | g)", SIM, family="categorical")
