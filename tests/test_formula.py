"""Tests for :mod:`bayesmm.formula`, in formulaic's style: lookup tables of formula -> expected parse,
parametrized with pytest.

Random-effect blocks are written as ``(group, intercept, terms, correlated)`` tuples and follow lme4's
semantics (Bates et al. 2015, section 2.1; the GLMM FAQ's table of random-effect specifications).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import pytest

from bayesmm.errors import BayesMMError, FormulaError
from bayesmm.formula import FormulaSpec, RandomTerm, parse_formula


class Expect(NamedTuple):
    fixed: tuple[str, ...]
    blocks: tuple[tuple[str, bool, tuple[str, ...], bool], ...]
    variables: tuple[str, ...]
    intercept: bool = True
    offsets: tuple[str, ...] = ()
    response: tuple[str, tuple[str, ...]] = ("expr", ("y",))


def block(group: str, intercept: bool = True, terms: tuple[str, ...] = (), correlated: bool = True):
    return (group, intercept, terms, correlated)


# ----------------------------------------------------------------------------------------------- table
FORMULA_TO_EXPECTED: dict[str, Expect] = {
    # --- random intercepts and slopes (GLMM FAQ table) ---------------------------------------------------
    "y ~ x + (1|g)": Expect(("x",), (block("g"),), ("y", "x", "g")),
    "y ~ 1 + (1|g)": Expect((), (block("g"),), ("y", "g")),
    "y ~ 0 + (1|g)": Expect((), (block("g"),), ("y", "g"), intercept=False),
    # (x|g) == (1+x|g): one block, intercept and slope, correlated
    "y ~ x + (x|g)": Expect(("x",), (block("g", True, ("x",)),), ("y", "x", "g")),
    "y ~ x + (1 + x|g)": Expect(("x",), (block("g", True, ("x",)),), ("y", "x", "g")),
    "y ~ x + (x + 1|g)": Expect(("x",), (block("g", True, ("x",)),), ("y", "x", "g")),
    # (0+x|g) == (-1+x|g): slope only
    "y ~ x + (0 + x|g)": Expect(("x",), (block("g", False, ("x",)),), ("y", "x", "g")),
    "y ~ x + (-1 + x|g)": Expect(("x",), (block("g", False, ("x",)),), ("y", "x", "g")),
    "y ~ x + (x - 1|g)": Expect(("x",), (block("g", False, ("x",)),), ("y", "x", "g")),
    # (1|g) + (0+x|g): two independent blocks (uncorrelated intercept and slope)
    "y ~ x + (1|g) + (0 + x|g)": Expect(
        ("x",), (block("g"), block("g", False, ("x",))), ("y", "x", "g")),
    "y ~ x + (1 + x + z|g)": Expect(("x",), (block("g", True, ("x", "z")),), ("y", "x", "z", "g")),
    # (x||g): one uncorrelated term; the design splits its columns into independent blocks
    "y ~ x + (x||g)": Expect(("x",), (block("g", True, ("x",), False),), ("y", "x", "g")),
    "y ~ x + (1 + x||g)": Expect(("x",), (block("g", True, ("x",), False),), ("y", "x", "g")),
    "y ~ x + (0 + x||g)": Expect(("x",), (block("g", False, ("x",), False),), ("y", "x", "g")),
    "y ~ x + z + (x + z||g)": Expect(("x", "z"), (block("g", True, ("x", "z"), False),), ("y", "x", "z", "g")),
    # (f||g) with a factor f: one term, so the design codes f with contrasts beside the intercept (as afex's
    # expand_re and brms do), not one column per level on top of the intercept
    "y ~ f + (f||g)": Expect(("f",), (block("g", True, ("f",), False),), ("y", "f", "g")),
    # brms's ID (1|p|g): correlated across the linear predictors with the same ID; terms of one group with the
    # same ID in one formula are one block
    "y ~ x + (1|p|g)": Expect(("x",), (block("g"),), ("y", "x", "g")),
    "y ~ x + (1|p|g) + (0 + x|p|g)": Expect(("x",), (block("g", True, ("x",)),), ("y", "x", "g")),
    # nesting: (1|site/block) == (1|site) + (1|site:block)
    "y ~ (1|site/block)": Expect((), (block("site"), block("site:block")), ("y", "site", "block")),
    "y ~ (1|site) + (1|site:block)": Expect((), (block("site"), block("site:block")), ("y", "site", "block")),
    "y ~ x + (x|site/block)": Expect(
        ("x",), (block("site", True, ("x",)), block("site:block", True, ("x",))), ("y", "x", "site", "block")),
    "y ~ x + (x||site/block)": Expect(
        ("x",), (block("site", True, ("x",), False), block("site:block", True, ("x",), False)),
        ("y", "x", "site", "block")),
    "y ~ (1|a/b/c)": Expect((), (block("a"), block("a:b"), block("a:b:c")), ("y", "a", "b", "c")),
    # interaction of grouping factors
    "y ~ (1|a:b)": Expect((), (block("a:b"),), ("y", "a", "b")),
    "y ~ site + (1|site:block)": Expect(("site",), (block("site:block"),), ("y", "site", "block")),
    "y ~ x1 + x2 + (x1|site) + (x2|block)": Expect(
        ("x1", "x2"), (block("site", True, ("x1",)), block("block", True, ("x2",))),
        ("y", "x1", "x2", "site", "block")),
    "y ~ x*site + (x|site:block)": Expect(
        ("x*site",), (block("site:block", True, ("x",)),), ("y", "x", "site", "block")),
    # crossed
    "y ~ (1|g1) + (1|g2)": Expect((), (block("g1"), block("g2")), ("y", "g1", "g2")),
    "RT ~ X + (1 + X|Subject) + (1|Item)": Expect(
        ("X",), (block("Subject", True, ("X",)), block("Item")), ("RT", "X", "Subject", "Item"),
        response=("expr", ("RT",))),
    "Reaction ~ Days + (Days|Subject)": Expect(
        ("Days",), (block("Subject", True, ("Days",)),), ("Reaction", "Days", "Subject"),
        response=("expr", ("Reaction",))),
    # transforms on the left of '|'; dotted group names are one column
    "y ~ scale(x) + (scale(x)|g)": Expect(
        ("scale(x)",), (block("g", True, ("scale(x)",)),), ("y", "x", "g")),
    "y ~ x + (1|site.id)": Expect(("x",), (block("site.id"),), ("y", "x", "site.id")),
    # --- fixed part ----------------------------------------------------------------------------------
    "y ~ x*z": Expect(("x*z",), (), ("y", "x", "z")),
    "y ~ x + z + x:z + (1|g)": Expect(("x", "z", "x:z"), (block("g"),), ("y", "x", "z", "g")),
    "y ~ x*z - x:z + (1|g)": Expect(("x*z", "- x:z"), (block("g"),), ("y", "x", "z", "g")),
    "y ~ x + I(x**2) + (1|g)": Expect(("x", "I(x**2)"), (block("g"),), ("y", "x", "g")),
    "y ~ scale(x) + (1|g)": Expect(("scale(x)",), (block("g"),), ("y", "x", "g")),
    "y ~ poly(x, 2) + (1|g)": Expect(("poly(x, 2)",), (block("g"),), ("y", "x", "g")),
    "y ~ poly(x, degree=2) + (1|g)": Expect(("poly(x, degree=2)",), (block("g"),), ("y", "x", "g")),
    "y ~ C(f) + (1|g)": Expect(("C(f)",), (block("g"),), ("y", "f", "g")),
    "y ~ C(f, levels=['lo', 'hi']) + (1|g)": Expect(
        ("C(f, levels=['lo', 'hi'])",), (block("g"),), ("y", "f", "g")),
    "y ~ log(x) + (1|g)": Expect(("log(x)",), (block("g"),), ("y", "x", "g")),
    "y ~ np.log(x) + (1|g)": Expect(("np.log(x)",), (block("g"),), ("y", "x", "g")),
    "y ~ x + offset(log(e)) + (1|g)": Expect(("x",), (block("g"),), ("y", "x", "e", "g"), offsets=("log(e)",)),
    "y ~ offset(log(e)) + x + (1|g)": Expect(("x",), (block("g"),), ("y", "x", "e", "g"), offsets=("log(e)",)),
    "y ~ 0 + x + (1|g)": Expect(("x",), (block("g"),), ("y", "x", "g"), intercept=False),
    "y ~ x - 1 + (1|g)": Expect(("x",), (block("g"),), ("y", "x", "g"), intercept=False),
    "y ~ -1 + x + (1|g)": Expect(("x",), (block("g"),), ("y", "x", "g"), intercept=False),
    "y ~ 0 + f:x": Expect(("f:x",), (), ("y", "f", "x"), intercept=False),
    "y ~ 1": Expect((), (), ("y",)),
    # columns that share a name with a formula function are still columns when not called
    "y ~ B + exp + (1|C)": Expect(("B", "exp"), (block("C"),), ("y", "B", "exp", "C")),
    "p ~ log(exp) + (1|I)": Expect(("log(exp)",), (block("I"),), ("p", "exp", "I"), response=("expr", ("p",))),
    # --- responses -----------------------------------------------------------------------------------
    "log(y) ~ x + (1|g)": Expect(("x",), (block("g"),), ("y", "x", "g"), response=("expr", ("log(y)",))),
    "np.log(y) ~ x": Expect(("x",), (), ("y", "x"), response=("expr", ("np.log(y)",))),
    "cbind(s, f) ~ x + (1|g)": Expect(
        ("x",), (block("g"),), ("s", "f", "x", "g"), response=("cbind", ("s", "f"))),
    "cbind(incidence, size - incidence) ~ period + (1|herd)": Expect(
        ("period",), (block("herd"),), ("incidence", "size", "period", "herd"),
        response=("cbind", ("incidence", "size - incidence"))),
    "p(s, n) ~ x + (1|g)": Expect(("x",), (block("g"),), ("s", "n", "x", "g"), response=("trials", ("s", "n"))),
    # --- whitespace: no spaces, extra spaces, tabs and newlines ---------------------------------------
    "y~x+(1|g)": Expect(("x",), (block("g"),), ("y", "x", "g")),
    "  y  ~  x  +  (  1  |  g  )  ": Expect(("x",), (block("g"),), ("y", "x", "g")),
    "y~x*site+(x|site:block)": Expect(
        ("x*site",), (block("site:block", True, ("x",)),), ("y", "x", "site", "block")),
    "y ~ x + ( x || site / block )": Expect(
        ("x",), (block("site", True, ("x",), False), block("site:block", True, ("x",), False)),
        ("y", "x", "site", "block")),
    "y~x-1+(0+x|g)": Expect(("x",), (block("g", False, ("x",)),), ("y", "x", "g"), intercept=False),
    "y ~ x\n    + (1 + x | g)\n    + (1 | a : b)": Expect(
        ("x",), (block("g", True, ("x",)), block("a:b")), ("y", "x", "g", "a", "b")),
    "cbind(s,f)~x+offset(log(e))+(1|g)": Expect(
        ("x",), (block("g"),), ("s", "f", "x", "e", "g"), offsets=("log(e)",), response=("cbind", ("s", "f"))),
    # --- column names that are not plain identifiers: kept as written in backticks (formulae's quoting), which
    # is also how Q("...") (patsy's quoting) and keywords standing as columns are stored ---------------------
    "yield ~ temp + (1 | batch)": Expect(
        ("temp",), (block("batch"),), ("yield", "temp", "batch"), response=("expr", ("`yield`",))),
    "class ~ x + (1 | class)": Expect(
        ("x",), (block("class"),), ("class", "x"), response=("expr", ("`class`",))),
    "y ~ lambda + in + `True`:x + (1 | for)": Expect(
        ("`lambda`", "`in`", "`True`:x"), (block("for"),), ("y", "lambda", "in", "True", "x", "for")),
    "`my col` ~ `a b` + (1 | `my group`)": Expect(
        ("`a b`",), (block("my group"),), ("my col", "a b", "my group"), response=("expr", ("`my col`",))),
    'Q("my col") ~ Q(\'a b\') + (1 | Q("my group"))': Expect(
        ("`a b`",), (block("my group"),), ("my col", "a b", "my group"), response=("expr", ("`my col`",))),
    "log(`my col`) ~ log(`a b`) * `2x` + offset(`e e`) + (`a b` || `my group`:g)": Expect(
        ("log(`a b`) * `2x`",), (block("my group:g", True, ("`a b`",), False),),
        ("my col", "a b", "2x", "e e", "my group", "g"), offsets=("`e e`",), response=("expr", ("log(`my col`)",))),
    # a name a formula writes plainly loses its backticks; dots are part of a name, as in R
    "y ~ `x` + `a.b` + (1 | `g`)": Expect(("x", "a.b"), (block("g"),), ("y", "x", "a.b", "g")),
    "y ~ a.b + log(c.d) + (1 | e.f)": Expect(("a.b", "log(c.d)"), (block("e.f"),), ("y", "a.b", "c.d", "e.f")),
    "y ~ `a|b` + (1 | `a/b`/c)": Expect(
        ("`a|b`",), (block("a/b"), block("a/b:c")), ("y", "a|b", "a/b", "c")),
    # True/False/None outside a call are columns (never silently an intercept); inside a call, constants
    "x ~ True + False + None": Expect(("`True`", "`False`", "`None`"), (), ("x", "True", "False", "None"),
                                      response=("expr", ("x",))),
    "y ~ I(x == True) + poly(x, 2, raw=True)": Expect(("I(x == True)", "poly(x, 2, raw=True)"), (), ("y", "x")),
    # pi and numpy's constants are not columns (unless the data has a column 'pi': see test_design)
    "y ~ sin(2 * pi * t) + np.cos(np.pi * t)": Expect(("sin(2 * pi * t)", "np.cos(np.pi * t)"), (), ("y", "t")),
    "y ~ I(`pi` * t)": Expect(("I(`pi` * t)",), (), ("y", "pi", "t")),
    "pi ~ t": Expect(("t",), (), ("pi", "t"), response=("expr", ("`pi`",))),
}

FORMULAS = list(FORMULA_TO_EXPECTED)


def blocks_of(spec: FormulaSpec):
    return tuple((r.group, r.intercept, r.terms, r.correlated) for r in spec.random)


def without_positions(spec: FormulaSpec) -> FormulaSpec:
    """The spec with everything that depends on the exact spelling (text, character positions) blanked."""
    random = tuple(dataclasses.replace(r, position=0) for r in spec.random)
    return dataclasses.replace(spec, text="", random=random)


def test_table_is_large_enough():
    assert len(FORMULA_TO_EXPECTED) >= 45


@pytest.mark.parametrize("formula, expected", FORMULA_TO_EXPECTED.items(), ids=FORMULAS)
def test_parse(formula, expected):
    spec = parse_formula(formula)
    assert spec.text == formula
    assert blocks_of(spec) == expected.blocks
    assert spec.fixed_terms == expected.fixed
    assert spec.intercept is expected.intercept
    assert spec.offsets == expected.offsets
    assert (spec.response.kind, spec.response.exprs) == expected.response
    for r in spec.random:
        assert isinstance(r, RandomTerm)
        assert r.group_factors == tuple(r.group.split(":"))
        # the position points into the random-effect term it came from, just after its '('
        assert formula[r.position - 1] == "("


@pytest.mark.parametrize("formula, expected", FORMULA_TO_EXPECTED.items(), ids=FORMULAS)
def test_variables(formula, expected):
    assert parse_formula(formula).variables == expected.variables


@pytest.mark.parametrize("formula", FORMULAS, ids=FORMULAS)
def test_round_trip(formula):
    spec = parse_formula(formula)
    again = parse_formula(str(spec))
    assert without_positions(again) == without_positions(spec)
    # str() is a fixed point after one round
    assert str(again) == str(spec)


# ------------------------------------------------------------------------------------------ equivalences
EQUIVALENT = [
    # lme4: (x|g) is (1+x|g)
    ("y ~ x + (x|g)", "y ~ x + (1 + x|g)"),
    ("y ~ x + (x|g)", "y ~ x + (x + 1|g)"),
    # lme4: (0+x|g) is (-1+x|g) is (x-1|g)
    ("y ~ x + (0 + x|g)", "y ~ x + (-1 + x|g)"),
    ("y ~ x + (0 + x|g)", "y ~ x + (x - 1|g)"),
    # (x||g) is (1+x||g)
    ("y ~ x + (x||g)", "y ~ x + (1 + x||g)"),
    # the same ID joins a group's terms
    ("y ~ x + (1|p|g) + (0 + x|p|g)", "y ~ x + (1 + x|p|g)"),
    # nesting
    ("y ~ (1|site/block)", "y ~ (1|site) + (1|site:block)"),
    ("y ~ (x|site/block)", "y ~ (x|site) + (x|site:block)"),
    ("y ~ (1|a/b/c)", "y ~ (1|a) + (1|a:b) + (1|a:b:c)"),
    # no intercept, three spellings
    ("y ~ 0 + x", "y ~ x - 1"),
    ("y ~ 0 + x", "y ~ -1 + x"),
    ("y ~ x", "y ~ 1 + x"),
    # whitespace
    ("y ~ x + (1|g)", "y~x+(1|g)"),
    ("y ~ x + (1|g)", "  y  ~  x  +  (  1  |  g  )  "),
    ("y ~ x*site + (x|site:block)", "y~x*site+(x|site:block)"),
    ("y ~ x*site + (x|site:block)", "y ~ x*site + ( x | site : block )"),
    ("y ~ x + (x||site/block)", "y ~ x + ( x || site / block )"),
    ("y ~ x - 1 + (0 + x|g)", "y~x-1+(0+x|g)"),
    ("y ~ x + (1 + x|g) + (1|a:b)", "y ~ x\n    + (1 + x | g)\n    + (1 | a : b)"),
    ("cbind(s, f) ~ x + offset(log(e)) + (1|g)", "cbind(s,f)~x+offset(log(e))+(1|g)"),
    ("y ~ x + (1|g)", "\ty ~\tx + (1|g)\n"),
    # quoting: backticks, Q("..."), or none where the name is plain
    ("y ~ x + (1|g)", "`y` ~ `x` + (1|`g`)"),
    ("y ~ x + (1|g)", 'Q("y") ~ Q("x") + (1|Q("g"))'),
    ("`my col` ~ `a b` + (`a b` | `my group`)", "Q('my col') ~ Q('a b') + (Q('a b') | Q('my group'))"),
    ("class ~ yield + (1 | for)", "`class` ~ `yield` + (1 | `for`)"),
]


@pytest.mark.parametrize("left, right", EQUIVALENT)
def test_equivalent_spellings(left, right):
    a, b = parse_formula(left), parse_formula(right)
    assert blocks_of(a) == blocks_of(b)
    assert (a.fixed_terms, a.intercept, a.offsets, a.variables) == (b.fixed_terms, b.intercept, b.offsets,
                                                                    b.variables)
    assert (a.response.kind, a.response.exprs) == (b.response.kind, b.response.exprs)


NOT_EQUIVALENT = [
    # one correlated block vs two independent blocks vs the || form
    ("y ~ x + (x|g)", "y ~ x + (1|g) + (0 + x|g)"),
    ("y ~ x + (1|g) + (0 + x|g)", "y ~ x + (x||g)"),
    # nested vs crossed
    ("y ~ (1|site/block)", "y ~ (1|site) + (1|block)"),
    # interaction group vs its factors
    ("y ~ (1|a:b)", "y ~ (1|a) + (1|b)"),
]


@pytest.mark.parametrize("left, right", NOT_EQUIVALENT)
def test_different_structures_differ(left, right):
    assert blocks_of(parse_formula(left)) != blocks_of(parse_formula(right))


def test_str_and_lhs():
    spec = parse_formula("y ~ x + (x|g) + (0 + z|h) + (x||k)")
    assert spec.fixed == "1 + x"
    assert [r.lhs for r in spec.random] == ["1 + x", "0 + z", "1 + x"]
    assert [str(r) for r in spec.random] == ["(1 + x | g)", "(0 + z | h)", "(1 + x || k)"]
    assert parse_formula("y ~ 0 + x").fixed == "0 + x"
    assert str(parse_formula("y ~ x*z - x:z")) == "y ~ x*z - x:z"
    assert str(parse_formula("y~x+(x||site/block)")) == (
        "y ~ x + (1 + x || site) + (1 + x || site:block)")


# ------------------------------------------------------------------------------------------- bad input
# formula -> (fragment of the message, position of the caret or None, character at the caret or None)
BAD_FORMULAS: dict[str, tuple[str, int | None, str | None]] = {
    # brackets
    "y ~ x + (1|g": ("never closed", 8, "("),
    "y ~ log(x + (1|g)": ("never closed", 7, "("),
    "y ~ x + (1|g))": ("closes nothing", 13, ")"),
    "y ~ x) + (1|g)": ("closes nothing", 5, ")"),
    "y ~ x + 'a": ("Unterminated string", 8, "'"),
    # trailing junk that formulae silently drops
    "y ~ x % z": ("'%' is not a formula operator", 6, "%"),
    "y ~ x, z": ("',' is not a formula operator", 5, ","),
    "y ~ x z + (1|g)": ("Missing operator between 'x' and 'z'", 6, "z"),
    "y ~ log(x) z": ("Missing operator between 'log(x)' and 'z'", 11, "z"),
    "y ~ x $ z": ("Unexpected character '$'", 6, "$"),
    # random-effect terms
    "y ~ x + (1|)": ("no grouping variable", 11, ")"),
    "y ~ x + (1||)": ("no grouping variable", 12, ")"),
    "y ~ x + (|g)": ("nothing before '|'", 9, "|"),
    "y ~ x + (1|g h)": ("'g h' is not a grouping variable", 11, "g"),
    "y ~ x + (1|a//b)": ("is not a grouping variable", 11, "a"),
    "y ~ x + (1|a/)": ("is not a grouping variable", 11, "a"),
    "y ~ x + (1|a|g|h)": ("more than two '|'", 14, "|"),
    "y ~ x + (1||p|g)": ("takes no ID", 13, "|"),
    "y ~ x + (1|2p|g)": ("'2p' between the bars", 11, "2"),
    "y ~ (1|p|g) + (1|p|h)": ("The ID 'p' is given to groups 'g' and 'h'", 15, "1"),
    "y ~ x + (0|g)": ("no intercept and no slope", 9, "0"),
    "y ~ x + (1 + |g)": ("Empty term in a random-effect term", 13, "|"),
    "y ~ x + (1 - x|g)": ("Removing 'x' inside a random-effect term", 13, "x"),
    "y ~ x - (1|g)": ("cannot be removed", 8, "("),
    "y ~ x | g": ("'|' only belongs inside a random-effect term", 6, "|"),
    "y ~ (1|g) x": ("'|' only belongs inside a random-effect term", 6, "|"),
    # duplicated random effects (the caret is on the second term)
    "y ~ (1|g) + (1|g)": ("'(Intercept)' varies by 'g' in two random-effect terms", 13, "1"),
    "y ~ (x|g) + (0 + x|g)": ("'x' varies by 'g' in two random-effect terms", 13, "0"),
    "y ~ (x||g) + (1|g)": ("'(Intercept)' varies by 'g'", 14, "1"),
    "y ~ (1|site/block) + (1|site:block)": ("'(Intercept)' varies by 'site:block'", 22, "1"),
    # '~'
    "y x + (1|g)": ("no '~'", 11, None),
    "y ~ x ~ z": ("more than one '~'", 6, "~"),
    "y ~": ("Nothing after '~'", 3, None),
    "y ~   ": ("Nothing after '~'", 3, " "),
    "~ x + (1|g)": ("no response", 0, "~"),
    "  ~ x": ("no response", 0, " "),
    # fixed part
    "y ~ x +": ("trailing '+'", 7, None),
    "y ~ x + + z": ("two operators in a row", 8, "+"),
    "y ~ x + offset()": ("offset() needs an expression", 8, "o"),
    "y ~ x - offset(log(e))": ("offset cannot be removed", 8, "o"),
    # responses
    "cbind(a) ~ x": ("cbind() takes two arguments", 0, "c"),
    "cbind(a, b, c) ~ x": ("cbind() takes two arguments", 0, "c"),
    "p(s) ~ x": ("p() takes two arguments", 0, "p"),
    "y + ~ x": ("ends with an operator", 2, "+"),
    # quoted names
    "y ~ `x + (1|g)": ("Unterminated `quoted name`", 4, "`"),
    "y ~ `` + x": ("must be closed and not empty", 4, "`"),
    "y ~ Q(x) + (1|g)": ("Q() takes one quoted column name", 4, "Q"),
    "y ~ Q('a', 'b')": ("Q() takes one quoted column name", 4, "Q"),
    "y ~ x`a`": ("Missing operator next to '`a`'", 4, "x"),
    "y ~ x + (1 | `g` h)": ("is not a grouping variable", 13, "`"),
    # empty
    "": ("The formula is empty", None, None),
    "   ": ("The formula is empty", None, None),
}


def test_bad_table_is_large_enough():
    assert len(BAD_FORMULAS) >= 15


@pytest.mark.parametrize("formula, expected", BAD_FORMULAS.items(), ids=list(BAD_FORMULAS))
def test_bad_formula(formula, expected):
    fragment, position, char = expected
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    err = info.value
    assert isinstance(err, BayesMMError)
    assert isinstance(err, ValueError)
    message = str(err)
    assert fragment in message
    assert err.position == position
    if position is None:
        return
    assert err.formula == formula
    if char is not None:
        assert formula[position] == char
    else:
        assert position == len(formula)
    # the message ends with the formula and a caret line under the culprit
    lines = message.splitlines()
    assert lines[-2] == "  " + formula
    assert lines[-1] == "  " + " " * position + "^"


@pytest.mark.parametrize("formula", [None, 42, b"y ~ x", ["y ~ x"], ("y", "x")])
def test_formula_must_be_a_string(formula):
    with pytest.raises(FormulaError, match="must be a string") as info:
        parse_formula(formula)
    assert info.value.position is None
    assert type(formula).__name__ in str(info.value)


# ---------------------------------------------------------------------------------- names of grouping factors
@pytest.mark.parametrize("formula, factors", [
    ("y ~ (1 | `my group`)", [("my group",)]),
    ("y ~ (1 | Q('my group'):class)", [("my group", "class")]),
    ("y ~ (1 | site.id/`plot no`)", [("site.id",), ("site.id", "plot no")]),
    ("y ~ (1 | True)", [("True",)]),
    ("y ~ (1 | pi)", [("pi",)]),
])
def test_group_factors_are_the_columns_own_names(formula, factors):
    spec = parse_formula(formula)
    assert [r.group_factors for r in spec.random] == factors
    assert [r.group for r in spec.random] == [":".join(f) for f in factors]
    assert spec.variables == ("y", *dict.fromkeys(name for group in factors for name in group))


def test_quoted_names_print_back_in_backticks():
    spec = parse_formula("Q('my col') ~ Q('a b') + class + (Q('a b') || Q('my group'):for)")
    assert str(spec) == "Q('my col') ~ `a b` + `class` + (1 + `a b` || `my group`:`for`)"
    assert str(parse_formula(str(spec))) == str(spec)


def test_keywords_as_operators_are_not_columns():
    """Inside I(), Python's keyword operators keep their meaning; only a keyword standing as an operand is a
    column."""
    spec = parse_formula("y ~ I(x if z else w) + I(not v) + I(a in b)")
    assert spec.variables == ("y", "x", "z", "w", "v", "a", "b")


@pytest.mark.parametrize("formula,fixed,response", [
    ("y ~ x + I(x^2)", "1 + x + I(x**2)", "y"),  # R's power inside I()
    ("y ~ (x + z)^2", "1 + (x + z)**2", "y"),  # R's interactions up to two ways
    ("I(y^0.5) ~ x", "1 + x", "I(y**0.5)"),
    ("y ~ `a^b`", "1 + `a^b`", "y"),  # a quoted name keeps its '^'
])
def test_power_operator_is_rs(formula, fixed, response):
    spec = parse_formula(formula)
    assert spec.fixed == fixed and spec.response.exprs[0] == response
    assert str(parse_formula(str(spec))) == str(spec)  # a fixed point


def test_power_operator_designs_like_r():
    """``I(x^2)`` is x squared, ``(x + z + w)^2`` the main effects and the two-way interactions, and a response
    ``I(y^0.5)`` the square root (evaluated without formulae)."""
    import numpy as np
    import pandas as pd

    import bayesmm as bmm

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": np.arange(1, 21.0), "x": rng.normal(size=20), "z": rng.normal(size=20),
                       "w": rng.normal(size=20), "g": list("ab") * 10})
    design = bmm.Model("I(y^0.5) ~ x + I(x^2) + (1 | g)", df).design
    np.testing.assert_allclose(design.X[:, list(design.fixed_names).index("I(x ** 2)")], df["x"] ** 2)
    np.testing.assert_allclose(design.y, np.sqrt(df["y"]))
    assert bmm.Model("y ~ (x + z + w)^2 + (1 | g)", df).design.fixed_names == (
        "Intercept", "x", "z", "w", "x:z", "x:w", "z:w")
    with pytest.raises(FormulaError, match="ends with an operator"):
        parse_formula("y ~ x ^")
