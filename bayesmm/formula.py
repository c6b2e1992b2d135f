"""lme4-style formula strings -> :class:`FormulaSpec`.

The bar terms are split here rather than by formulae: formulae 0.9 has no ``||``, merges ``(1+x|g)`` and
``(1|g) + (0+x|g)`` into the same terms (losing the correlation blocks) and silently drops trailing tokens
(``y ~ x % z`` parses as ``y ~ x``).  This module checks the whole string, splits it into the response,
the fixed part, offsets and random-effect terms, and hands formulae only the pieces it handles well (the
fixed part and each random term's left side). The lexing (brackets, depth-0 splits, tokens, the columns an
expression reads) is in :mod:`bayesmm.formula_lexing`.

Semantics follow lme4 (Bates et al. 2015, *J. Stat. Softw.* 67(1), section 2.1):

* ``(x|g)`` = ``(1+x|g)``: one block, intercept and slope, full correlation matrix;
* ``(0+x|g)`` = ``(-1+x|g)``: slope only;
* ``(x||g)``: independent terms: one term whose columns the design splits into one block each, so that a
  factor ``f`` in ``(f||g)`` gets the intercept and its contrasts as independent columns, as brms and afex's
  ``expand_re`` do (lme4's ``||`` does not split factors); ``(0+f||g)`` gets one column per level;
* ``(1|a/b)`` = ``(1|a) + (1|a:b)``; ``(1|a:b)`` groups by the interaction of ``a`` and ``b``.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from .errors import FormulaError
from .formula_additions import addition_expressions, parse_additions, read_additions, with_trials, written
from .random_terms import RandomTerm, check_duplicates, joined_ids, parse_random
from .formula_lexing import (CONSTANT_NAMES, check_brackets, check_fixed_piece, split_top, strip_outer, lex_tokens,
                              canonical, expression_variables)

__all__ = ["FormulaSpec", "RandomTerm", "ResponseSpec", "parse_formula", "expression_variables", "with_data_columns"]

#: Functions a formula may call (a name is a data column unless it is called or is a keyword argument).
FORMULA_FUNCTIONS = frozenset(
    {"I", "C", "scale", "center", "standardize", "poly", "log", "log1p", "log2", "log10", "exp",
     "sqrt", "abs", "np", "offset", "cbind", "p", "logit", "expit", "sin", "cos", "Q", "B", "bs",
     "round", "floor", "ceil", "exp2"}
)

@dataclass(frozen=True)
class ResponseSpec:
    """The left-hand side. ``kind`` is ``"expr"`` (a column or a transform of columns), ``"cbind"``
    (lme4's ``cbind(successes, failures)``) or ``"trials"`` (``p(successes, trials)``, brms's
    ``successes | trials(n)``). ``additions``: brms's addition terms after ``|`` (``cens``, ``trunc``, ``trials``;
    :mod:`bayesmm.formula_additions`); ``text`` is the response without them."""

    kind: str
    exprs: tuple[str, ...]
    text: str
    additions: tuple = ()

    @property
    def written(self) -> str:
        """The left side as the formula writes it, addition terms included."""
        return f"{self.text} | {written(self.additions)}" if self.additions else self.text


@dataclass(frozen=True)
class FormulaSpec:
    """Everything the design stage needs from a formula string."""

    text: str
    response: ResponseSpec
    fixed_terms: tuple[str, ...]
    intercept: bool
    offsets: tuple[str, ...] = ()
    random: tuple[RandomTerm, ...] = ()
    variables: tuple[str, ...] = field(default=())

    @property
    def fixed(self) -> str:
        """The fixed part as a formulae right-hand side."""
        return " + ".join(["1" if self.intercept else "0", *self.fixed_terms])

    def __str__(self) -> str:
        rhs = ([] if self.intercept else ["0"]) + list(self.fixed_terms)
        rhs += [f"offset({o})" for o in self.offsets] + [str(r) for r in self.random]
        joined = rhs[0] if rhs else "1"
        for piece in rhs[1:]:  # removed terms ('- x:z') carry their own operator
            joined += (" " if piece.startswith("- ") else " + ") + piece
        return f"{self.response.written} ~ {joined}"


# ----------------------------------------------------------------------------------------- response
def _call_args(expr: str, name: str, formula: str, position: int) -> list[str] | None:
    match = re.fullmatch(rf"{name}\s*\((.*)\)", expr, flags=re.S)
    if not match:
        return None
    args = [a.strip() for _, a, _ in split_top(match.group(1), 0, ",")]
    if len(args) != 2 or not all(args):
        raise FormulaError(f"{name}() takes two arguments, e.g. {name}(successes, "
                           f"{'failures' if name == 'cbind' else 'trials'}).", formula, position)
    return args


def _parse_response(text: str, formula: str, position: int) -> ResponseSpec:
    if not text:
        raise FormulaError("The formula has no response: write it as 'y ~ x + (1 | g)'.", formula, 0)
    bars = split_top(text, position, "|")
    if len(bars) > 1:  # brms's addition terms: 'y | cens(c)', 'y | trunc(lb = 0)', 's | trials(n)'
        response = _parse_response(bars[0][1].rstrip(), formula, position)
        additions = parse_additions(text[len(bars[0][1]) + 1:], formula, bars[1][2])
        return ResponseSpec(*with_trials(response.kind, response.exprs, additions, formula, bars[1][2]),
                            response.text, additions)
    if "|" in _unquoted(text):
        raise FormulaError("The response holds a '|': random-effect terms belong on the right of '~', "
                           "e.g. y ~ x + (1 | g).", formula, position + _unquoted(text).index("|"))
    check_fixed_piece(text, formula, position)
    for name, kind in (("cbind", "cbind"), ("p", "trials")):
        args = _call_args(text, name, formula, position)
        if args is not None:
            return ResponseSpec(kind, tuple(canonical(a) for a in args), text)
    # a response that is only 'pi' is the column (a constant response means nothing)
    return ResponseSpec("expr", (canonical(text, CONSTANT_NAMES if text in CONSTANT_NAMES else ()),), text)


# --------------------------------------------------------------------------------------- random terms
# ---------------------------------------------------------------------------------------------- main
def parse_formula(formula: str) -> FormulaSpec:
    """Parse an lme4-style formula into a :class:`FormulaSpec`.

    >>> spec = parse_formula("Reaction ~ Days + (Days | Subject)")
    >>> spec.fixed, [str(r) for r in spec.random]
    ('1 + Days', ['(1 + Days | Subject)'])
    """
    if not isinstance(formula, str):
        raise FormulaError(f"The formula must be a string such as 'y ~ x + (1 | g)', not {type(formula).__name__}.")
    text = formula
    if not text.strip():
        raise FormulaError("The formula is empty: write it as 'y ~ x + (1 | g)'.")
    check_brackets(text)
    tildes = [i for i, ch in enumerate(text) if ch == "~"]
    if not tildes:
        raise FormulaError("The formula has no '~': write it as 'y ~ x + (1 | g)'.", text, len(text))
    if len(tildes) > 1:
        raise FormulaError("The formula has more than one '~'.", text, tildes[1])
    tilde = tildes[0]
    lhs, lhs_pos = strip_outer(text[:tilde], 0)
    response = _parse_response(lhs, text, lhs_pos)
    if response.kind == "expr" and not expression_variables(response.exprs[0]):
        raise FormulaError(f"The response '{lhs}' uses no column of the data: write the response column's name "
                           "before '~'.", text, lhs_pos)
    rhs_text = text[tilde + 1:]
    if not rhs_text.strip():
        raise FormulaError("Nothing after '~': write '~ 1' for an intercept-only model.", text, tilde + 1)

    intercept, fixed, offsets, random = True, [], [], []
    for sep, piece, start in split_top(rhs_text, tilde + 1, "+-"):
        piece, start = strip_outer(piece, start)
        if not piece:
            if sep == "" and not fixed and not random and not offsets:
                continue  # '~ -1 + x' or '~ +x'
            raise FormulaError("Empty term: two operators in a row, or a trailing '+'.", text, start)
        if piece in ("0", "1"):
            intercept = (piece == "1") != (sep == "-")
            continue
        masked = _unquoted(piece)
        if piece.startswith("(") and piece.endswith(")") and "|" in masked and _wraps(masked):
            if sep == "-":
                raise FormulaError("A random-effect term cannot be removed with '-'.", text, start)
            random += parse_random(piece[1:-1], text, start + 1)
            continue
        if "|" in masked:
            raise FormulaError("'|' only belongs inside a random-effect term in parentheses, e.g. (1 | g).",
                               text, start + masked.index("|"))
        match = re.fullmatch(r"offset\s*\((.*)\)", piece, flags=re.S)
        if match:
            if sep == "-":
                raise FormulaError("An offset cannot be removed with '-'.", text, start)
            if not match.group(1).strip():
                raise FormulaError("offset() needs an expression, e.g. offset(log(exposure)).", text, start)
            lex_tokens(match.group(1), text, start)
            offsets.append(canonical(match.group(1).strip()))
            continue
        check_fixed_piece(piece, text, start)
        fixed.append(("- " if sep == "-" else "") + canonical(piece))
    check_duplicates(random, text)
    random = joined_ids(random, text)
    return FormulaSpec(text, response, tuple(fixed), intercept, tuple(offsets), tuple(random),
                       _variables(response, fixed, offsets, random))


def _variables(response: ResponseSpec, fixed, offsets, random) -> tuple[str, ...]:
    """The data columns of a formula's pieces (written canonically), in order of first use."""
    variables = []
    names = [n for expr in [*response.exprs, *addition_expressions(response.additions), *fixed, *offsets,
                            *[t for r in random for t in r.terms]]
             for n in expression_variables(expr.removeprefix("- "))]
    for name in names + [f for r in random for f in r.group_factors]:
        if name not in variables:
            variables.append(name)
    return tuple(variables)


def with_data_columns(spec: FormulaSpec, columns) -> FormulaSpec:
    """``spec`` read against the data's ``columns``: a name that is a constant unless the data has a column of
    that name (``pi`` in ``sin(2 * pi * t)``) becomes that column, written ```pi``` so that every later stage
    (the design, predictions on new data) reads it as one."""
    present = CONSTANT_NAMES & {str(c) for c in columns}
    if not present:
        return spec

    def read(expr: str) -> str:
        return ("- " + canonical(expr[2:], present)) if expr.startswith("- ") else canonical(expr, present)

    response = dataclasses.replace(spec.response, exprs=tuple(read(e) for e in spec.response.exprs),
                                   additions=read_additions(spec.response.additions, read))
    fixed, offsets = [read(t) for t in spec.fixed_terms], [read(o) for o in spec.offsets]
    random = [dataclasses.replace(r, terms=tuple(read(t) for t in r.terms)) for r in spec.random]
    return FormulaSpec(spec.text, response, tuple(fixed), spec.intercept, tuple(offsets), tuple(random),
                       _variables(response, fixed, offsets, random))


def _unquoted(text: str) -> str:
    """``text`` with the inside of every quote (strings, backtick-quoted names) blanked, same length, so that a
    '|' or a bracket in a column's name is not read as one."""
    out, quote = [], None
    for ch in text:
        if quote:
            out.append(ch if ch == quote else "_")
            quote = None if ch == quote else quote
        else:
            out.append(ch)
            quote = ch if ch in "'\"`" else None
    return "".join(out)


def _wraps(piece: str) -> bool:
    """True if the outer parentheses of ``piece`` enclose all of it."""
    depth = 0
    for i, ch in enumerate(piece):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(piece) - 1:
            return False
    return True
