"""brms's addition terms on the response side (bayesmm.formula_additions, read by bayesmm.formula): a lookup
table of formula -> (response kind, expressions, addition terms, columns), the written form reading back to the
same parse, and the errors with where they point."""
from __future__ import annotations

import doctest

import pytest

import bayesmm.formula_additions as formula_additions
from bayesmm.errors import FormulaError
from bayesmm.formula import parse_formula

FORMULA_TO_RESPONSE = {
    "y | cens(censored) ~ x": ("expr", ("y",), (("cens", (("x", "censored"),)),), ("y", "censored", "x")),
    "time | cens(censored, time2) ~ x + (1 | g)": (
        "expr", ("time",), (("cens", (("x", "censored"), ("y2", "time2"))),), ("time", "censored", "time2", "x", "g")),
    "y | cens(x = c, y2 = up) ~ 1": ("expr", ("y",), (("cens", (("x", "c"), ("y2", "up"))),), ("y", "c", "up")),
    "y | cens(1 - status) ~ 1": ("expr", ("y",), (("cens", (("x", "1 - status"),)),), ("y", "status")),
    "y | trunc(lb = 0, ub = 10) ~ x": ("expr", ("y",), (("trunc", (("lb", "0"), ("ub", "10"))),), ("y", "x")),
    "y | trunc(0, 10) ~ x": ("expr", ("y",), (("trunc", (("lb", "0"), ("ub", "10"))),), ("y", "x")),
    "y | trunc(ub = hi) ~ x": ("expr", ("y",), (("trunc", (("ub", "hi"),)),), ("y", "hi", "x")),
    "y | trunc(lb = 0, ub = Inf) ~ x": ("expr", ("y",), (("trunc", (("lb", "0"),)),), ("y", "x")),
    "y | cens(c) + trunc(lb = 0) ~ x": (
        "expr", ("y",), (("cens", (("x", "c"),)), ("trunc", (("lb", "0"),))), ("y", "c", "x")),
    "log(y) | cens(c) ~ x": ("expr", ("log(y)",), (("cens", (("x", "c"),)),), ("y", "c", "x")),
    "`my y` | cens(`my c`) ~ x": ("expr", ("`my y`",), (("cens", (("x", "`my c`"),)),), ("my y", "my c", "x")),
    "s | trials(n) ~ x + (1 | g)": ("trials", ("s", "n"), (("trials", (("x", "n"),)),), ("s", "n", "x", "g")),
    "y ~ x + (1 | g)": ("expr", ("y",), (), ("y", "x", "g")),
}


@pytest.mark.parametrize("formula", list(FORMULA_TO_RESPONSE))
def test_response_side(formula):
    kind, exprs, additions, variables = FORMULA_TO_RESPONSE[formula]
    spec = parse_formula(formula)
    assert (spec.response.kind, spec.response.exprs, spec.response.additions) == (kind, exprs, additions)
    assert spec.variables == variables


@pytest.mark.parametrize("formula", list(FORMULA_TO_RESPONSE))
def test_written_form_reads_back_the_same(formula):
    spec = parse_formula(formula)
    again = parse_formula(str(spec))
    assert again.response == spec.response and again.variables == spec.variables


ERRORS = {  # formula: (message part, position of the caret)
    "y | g ~ x": ("'g' is not an addition term", 4),
    "y | cens() ~ x": ("cens() needs x", 9),
    "y | cens(c) | trunc(lb = 0) ~ x": ("join its addition terms with +", 12),
    "y | cens(c) + cens(d) ~ x": ("cens() appears twice", 14),
    "y | cens(c, lb = 0) ~ x": ("cens() takes x, y2, not argument lb", 12),
    "y | cens(c, y2 = a, y2 = b) ~ x": ("cens() has 'y2' twice", 20),
    "y | trunc() ~ x": ("trunc() needs a finite lb or ub", 10),
    "y | trunc(lb = -Inf) ~ x": ("trunc() needs a finite lb or ub", 10),
    "y | trunc(lb = ) ~ x": ("empty argument 'lb'", 10),
    "y | rate(n) ~ x": ("offset(log(exposure))", 4),
    "y | mi() ~ x": ("not supported", 4),
    "cbind(s, f) | trials(n) ~ x": ("trials() gives the trials of a single successes column", 12),
    "(1 | g) ~ x": ("response holds a '|'", 3),
    "y | cens(c) - 1 ~ x": ("'cens(c) - 1' is not an addition term", 4),
}


@pytest.mark.parametrize("formula", list(ERRORS))
def test_errors_name_the_term_and_point_at_it(formula):
    part, position = ERRORS[formula]
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    assert part in str(info.value)
    assert info.value.position == position


def test_docstring_example_runs():
    assert doctest.testmod(formula_additions).failed == 0
