"""Property tests of the formula parser, with hypothesis: random strings and random valid formulas
never raise anything but a :class:`bayesmm.BayesMMError`, and valid formulas round-trip through their
printed form (``parse(str(spec))`` is the same model as ``spec``, and printing is idempotent).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesmm as bmm
from bayesmm.formula import parse_formula

RNG = np.random.default_rng(3)
ROWS = 60
DATA = pd.DataFrame({
    "y": RNG.gamma(4.0, 1.0, ROWS),
    "a": RNG.normal(size=ROWS),
    "b": RNG.uniform(1, 2, ROWS),
    "c": RNG.choice(["lo", "mid", "hi"], ROWS),
    "g": np.repeat([f"g{i}" for i in range(6)], ROWS // 6),
    "h": np.tile(["u", "v", "w"], ROWS // 3),
})
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

#: characters formulas are made of, plus a few that are not formula syntax at all
ALPHABET = "yabcgh01 ~+-*/:|()^%$,.'\"[]I{}\t\n" + "élog"
random_text = st.text(alphabet=ALPHABET, max_size=40)
formula_like = st.builds(lambda lhs, rhs: f"{lhs}~{rhs}", st.text(alphabet=ALPHABET, max_size=8),
                         st.text(alphabet=ALPHABET, max_size=30))


def _model(formula: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bmm.Model(formula, DATA)


@settings(max_examples=300, **SETTINGS)
@given(st.one_of(random_text, formula_like))
def test_random_strings_parse_or_raise_a_formula_error(text):
    try:
        spec = parse_formula(text)
    except bmm.FormulaError:
        return
    assert "~" in text and str(spec).count("~") == 1


@settings(max_examples=120, **SETTINGS)
@given(formula_like)
def test_random_strings_through_the_model_raise_only_bayesmm_errors(text):
    """The whole front end (parser, formulae, design, family, priors), not only the parser."""
    try:
        _model(text)
    except bmm.BayesMMError:
        pass


# ------------------------------------------------------------------------------------ valid formulas
FIXED = st.sampled_from(["a", "b", "c", "a:b", "a*c", "I(a**2)", "log(b)", "a:c", "scale(a)"])
BLOCK_LHS = st.sampled_from(["1", "a", "0 + a", "1 + a + b", "b", "c"])


@st.composite
def valid_formulas(draw):
    response = draw(st.sampled_from(["y", "log(y)", "sqrt(y)"]))
    terms = draw(st.lists(FIXED, max_size=4, unique=True))
    intercept = draw(st.sampled_from(["", "1 + ", "0 + ", "-1 + "]))
    groups = draw(st.sampled_from([[], ["g"], ["h"], ["g", "h"], ["g", "g:h"], ["g/h"], ["g:h"]]))
    blocks = [f"({draw(BLOCK_LHS)} {draw(st.sampled_from(['|', '||']))} {group})" for group in groups]
    offset = draw(st.sampled_from(["", "offset(b)"]))
    rhs = [piece for piece in [*terms, offset, *blocks] if piece]
    spaced = draw(st.booleans())
    joiner = " + " if spaced else "+"
    return f"{response} ~ {intercept}{joiner.join(rhs) if rhs else '1'}"


def _meaning(spec) -> tuple:
    """A spec without its text and character positions: what the formula means."""
    blocks = tuple((r.terms, r.intercept, r.group, r.group_factors, r.correlated) for r in spec.random)
    return spec.response.text, spec.fixed_terms, spec.intercept, spec.offsets, blocks, spec.variables


@settings(max_examples=200, **SETTINGS)
@given(valid_formulas())
def test_valid_formulas_round_trip_through_their_printed_form(formula):
    spec = parse_formula(formula)
    printed = str(spec)
    again = parse_formula(printed)
    assert _meaning(again) == _meaning(spec), (formula, printed)
    assert str(again) == printed


@settings(max_examples=40, **SETTINGS)
@given(valid_formulas())
def test_valid_formulas_build_a_model_or_raise_a_bayesmm_error(formula):
    """A valid formula on data that holds its columns builds; if the data cannot support it (e.g. a
    block with more terms than the data identify) the refusal is a BayesMMError, never a foreign one."""
    try:
        model = _model(formula)
    except bmm.BayesMMError:
        return
    printed = _model(str(model.spec))
    np.testing.assert_array_equal(printed.design.X, model.design.X)
    assert printed.design.fixed_names == model.design.fixed_names
    assert [b.levels for b in printed.design.blocks] == [b.levels for b in model.design.blocks]
