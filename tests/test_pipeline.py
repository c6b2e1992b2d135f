"""The front of the pipeline's call updates (bayesmm.pipeline.updated_formula, updated_call): R's update.formula
shorthand as a lookup table (the R call: ``update(y ~ x + (1 | g), . ~ . + z)``), and a new family's own link."""
from __future__ import annotations

import pytest

import bayesmm as bmm
from bayesmm.pipeline import Call, updated_call, updated_formula

OLD = "y ~ x + (1 | g)"

#: new formula -> R's update(y ~ x + (1 | g), new), as bayesmm writes it
UPDATES = {
    ". ~ . + z": "y ~ x + (1 | g) + z",
    ". ~ . - x": "y ~ (1 | g)",
    ". ~ . - x + z": "y ~ (1 | g) + z",
    ". ~ . + x": "y ~ x + (1 | g)",  # already there
    ". ~ . - (1|g)": "y ~ x",  # matched as written, spaces aside
    ". ~ . - x - (1 | g)": "y ~ 1",
    ". ~ . - 1": "y ~ x + (1 | g) - 1",
    "~ . + (1 | h)": "y ~ x + (1 | g) + (1 | h)",  # no left side: the response kept
    "log(y) ~ .": "log(y) ~ x + (1 | g)",
    ". ~ z": "y ~ z",
    "~ z": "y ~ z",
    "w ~ z + (z | g)": "w ~ z + (z | g)",  # a full formula replaces the old one
}


@pytest.mark.parametrize("new", UPDATES)
def test_update_formula_shorthand(new):
    assert updated_formula(OLD, new) == UPDATES[new]
    bmm.parse_formula(updated_formula(OLD, new))  # and it parses


def test_update_formula_refusals():
    with pytest.raises(bmm.FormulaError, match=r"'w' is not a term of 'y ~ x \+ \(1 \| g\)'.*\['x', '\(1 \| g\)'\]"):
        updated_formula(OLD, ". ~ . - w")
    with pytest.raises(bmm.FormulaError, match="only at its start"):
        updated_formula(OLD, ". ~ z + .")
    with pytest.raises(bmm.FormulaError, match="formula string"):
        updated_formula(OLD, 3)


def test_updated_call_keeps_the_rest_and_gives_a_new_family_its_link():
    call = Call("y ~ x + (1 | g)", "poisson", {"b": "normal(0, 1)"}, "log", weights="w")
    new = updated_call(call, {"family": "negbinomial", "formula": ". ~ . + z"})
    assert new == Call("y ~ x + (1 | g) + z", "negbinomial", {"b": "normal(0, 1)"}, None, weights="w")
    assert updated_call(call, {"family": "bernoulli", "link": "probit"}).link == "probit"
    assert updated_call(call, {"family": "poisson"}).link == "log"  # the same family: its link kept
