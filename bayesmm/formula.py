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
* ``(x||g)``: independent terms, one block per term (and, in the design, one per column, so that a factor
  ``x`` gets independent columns too, which lme4's ``||`` does not do);
* ``(1|a/b)`` = ``(1|a) + (1|a:b)``; ``(1|a:b)`` groups by the interaction of ``a`` and ``b``.
"""
from __future__ import annotations

import re
import tokenize
from dataclasses import dataclass, field

from .errors import FormulaError
from .formula_lexing import _check_brackets, _split_top, _strip, _tokens, expression_variables

__all__ = ["FormulaSpec", "RandomTerm", "ResponseSpec", "parse_formula", "expression_variables"]

#: Functions a formula may call (a name is a data column unless it is called or is a keyword argument).
FORMULA_FUNCTIONS = frozenset(
    {"I", "C", "scale", "center", "standardize", "poly", "log", "log1p", "log2", "log10", "exp",
     "sqrt", "abs", "np", "offset", "cbind", "p", "logit", "expit", "sin", "cos", "Q", "B", "bs",
     "round", "floor", "ceil", "exp2"}
)

_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_ALLOWED_TOP_OPS = {"+", "-", "*", ":", "/", "**", "(", ")", ".", "[", "]"}


@dataclass(frozen=True)
class ResponseSpec:
    """The left-hand side. ``kind`` is ``"expr"`` (a column or a transform of columns), ``"cbind"``
    (lme4's ``cbind(successes, failures)``) or ``"trials"`` (``p(successes, trials)``)."""

    kind: str
    exprs: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect block as written in the formula (after ``/`` and ``||`` expansion).

    ``terms`` are the left side's non-intercept pieces in formula order; ``intercept`` says whether the
    block has a varying intercept; ``group`` is the grouping factor's name (``"site:block"`` for an
    interaction) and ``group_factors`` its columns; ``correlated`` is False for blocks from ``||``.
    ``position`` is the character offset of the term in the formula, for error messages.
    """

    terms: tuple[str, ...]
    intercept: bool
    group: str
    group_factors: tuple[str, ...]
    correlated: bool = True
    position: int = 0

    @property
    def lhs(self) -> str:
        """The left side as a formula piece formulae understands (``"1 + x"`` or ``"0 + x"``)."""
        pieces = ["1" if self.intercept else "0", *self.terms]
        return " + ".join(pieces)

    def __str__(self) -> str:
        bar = "|" if self.correlated else "||"
        return f"({self.lhs} {bar} {self.group})"


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
        return f"{self.response.text} ~ {joined}"


def _check_fixed_piece(piece: str, formula: str, position: int) -> None:
    """Reject tokens that formulae would silently drop: anything but formula operators at depth 0, and two
    operands with no operator between them (``x z``, ``log(x) z``)."""
    line_starts = [0]
    for line in piece.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(rowcol):
        return line_starts[rowcol[0] - 1] + rowcol[1]

    depth, state, start, end, last_op = 0, "start", 0, 0, None
    for tok in _tokens(piece, formula, position):
        where = position + offset(tok.start)
        if tok.type == tokenize.OP:
            if tok.string in ("(", "["):
                if depth == 0 and state != "operand":  # a bracketed group, not a call
                    start = offset(tok.start)
                depth += 1
            elif tok.string in (")", "]"):
                depth -= 1
                if depth == 0:
                    state, end = "operand", offset(tok.end)
            elif depth == 0 and tok.string not in _ALLOWED_TOP_OPS:
                raise FormulaError(
                    f"'{tok.string}' is not a formula operator. Use +, -, *, :, / or ** between terms, "
                    "or wrap arithmetic in I(), e.g. I(x % 2).", formula, where)
            elif depth == 0:
                state, last_op = ("dot" if tok.string == "." else "op"), tok
        elif tok.type == tokenize.ERRORTOKEN and not tok.string.isspace():
            raise FormulaError(f"Unexpected character '{tok.string}'.", formula, where)
        elif depth == 0 and tok.type in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING):
            if state == "operand":
                raise FormulaError(
                    f"Missing operator between '{piece[start:end]}' and '{tok.string}': join terms with "
                    "+ (or *, :, /), or wrap arithmetic in I().", formula, where)
            if state != "dot":
                start = offset(tok.start)
            state, end = "operand", offset(tok.end)
    if piece.strip() in ("", "."):
        raise FormulaError("Empty term: remove the extra operator.", formula, position)
    if state in ("op", "dot"):
        raise FormulaError(f"'{piece}' ends with an operator: add what follows '{last_op.string}' or remove it.",
                           formula, position + offset(last_op.start))


# ----------------------------------------------------------------------------------------- response
def _call_args(expr: str, name: str, formula: str, position: int) -> list[str] | None:
    match = re.fullmatch(rf"{name}\s*\((.*)\)", expr, flags=re.S)
    if not match:
        return None
    args = [a.strip() for _, a, _ in _split_top(match.group(1), 0, ",")]
    if len(args) != 2 or not all(args):
        raise FormulaError(f"{name}() takes two arguments, e.g. {name}(successes, "
                           f"{'failures' if name == 'cbind' else 'trials'}).", formula, position)
    return args


def _parse_response(text: str, formula: str, position: int) -> ResponseSpec:
    if not text:
        raise FormulaError("The formula has no response: write it as 'y ~ x + (1 | g)'.", formula, 0)
    if "|" in text:
        raise FormulaError("The response holds a '|': random-effect terms belong on the right of '~', "
                           "e.g. y ~ x + (1 | g).", formula, position + text.index("|"))
    _check_fixed_piece(text, formula, position)
    for name, kind in (("cbind", "cbind"), ("p", "trials")):
        args = _call_args(text, name, formula, position)
        if args is not None:
            return ResponseSpec(kind, tuple(args), text)
    return ResponseSpec("expr", (text,), text)


# --------------------------------------------------------------------------------------- random terms
def _parse_group(text: str, formula: str, position: int) -> list[tuple[str, ...]]:
    """'a/b/c' -> [(a,), (a, b), (a, b, c)]; 'a:b' -> [(a, b)]."""
    if not text:
        raise FormulaError("A random-effect term has no grouping variable: write (1 | group).", formula, position)
    nested = [p.strip() for p in text.split("/")]
    groups, prefix = [], ()
    for part in nested:
        factors = tuple(f.strip() for f in part.split(":"))
        for f in factors:
            if not _GROUP_NAME.match(f):
                raise FormulaError(
                    f"'{f or text}' is not a grouping variable: after '|' write a column name, "
                    "'a:b' for an interaction or 'a/b' for nesting.", formula, position)
        prefix = prefix + factors
        groups.append(prefix)
    return groups


def _parse_lhs(text: str, formula: str, position: int) -> tuple[bool, list[str]]:
    if not text.strip():
        raise FormulaError("A random-effect term has nothing before '|': write (1 | g) for an intercept.",
                           formula, position)
    intercept, terms = True, []
    for sep, piece, start in _split_top(text, position, "+-"):
        piece, start = _strip(piece, start)
        if not piece:
            if sep == "":
                continue  # leading '-1' or '+x'
            raise FormulaError("Empty term in a random-effect term.", formula, start)
        if piece in ("0", "1"):
            intercept = (piece == "1") != (sep == "-")
            continue
        if sep == "-":
            raise FormulaError(f"Removing '{piece}' inside a random-effect term is not supported: "
                               "leave it out instead.", formula, start)
        _check_fixed_piece(piece, formula, start)
        if piece not in terms:
            terms.append(piece)
    if not intercept and not terms:
        raise FormulaError("A random-effect term with no intercept and no slope: write (1 | g) or (0 + x | g).",
                           formula, position)
    return intercept, terms


def _parse_random(body: str, formula: str, position: int) -> list[RandomTerm]:
    double = "||" in body
    bar = body.index("||") if double else body.index("|")
    lhs, group = body[:bar], body[bar + (2 if double else 1):]
    if "|" in group:
        raise FormulaError("A random-effect term has more than one '|'.", formula,
                           position + bar + (2 if double else 1) + group.index("|"))
    intercept, terms = _parse_lhs(lhs, formula, position)
    gpos = position + bar + (2 if double else 1)
    blocks = []
    for factors in _parse_group(group.strip(), formula, gpos + len(group) - len(group.lstrip())):
        name = ":".join(factors)
        if double:
            if intercept:
                blocks.append(RandomTerm((), True, name, factors, False, position))
            blocks += [RandomTerm((t,), False, name, factors, False, position) for t in terms]
        else:
            blocks.append(RandomTerm(tuple(terms), intercept, name, factors, True, position))
    return blocks


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
    _check_brackets(text)
    tildes = [i for i, ch in enumerate(text) if ch == "~"]
    if not tildes:
        raise FormulaError("The formula has no '~': write it as 'y ~ x + (1 | g)'.", text, len(text))
    if len(tildes) > 1:
        raise FormulaError("The formula has more than one '~'.", text, tildes[1])
    tilde = tildes[0]
    lhs, lhs_pos = _strip(text[:tilde], 0)
    response = _parse_response(lhs, text, lhs_pos)
    if response.kind == "expr" and not expression_variables(response.exprs[0], text, lhs_pos):
        raise FormulaError(f"The response '{lhs}' uses no column of the data: write the response column's name "
                           "before '~'.", text, lhs_pos)
    rhs_text = text[tilde + 1:]
    if not rhs_text.strip():
        raise FormulaError("Nothing after '~': write '~ 1' for an intercept-only model.", text, tilde + 1)

    intercept, fixed, offsets, random = True, [], [], []
    for sep, piece, start in _split_top(rhs_text, tilde + 1, "+-"):
        piece, start = _strip(piece, start)
        if not piece:
            if sep == "" and not fixed and not random and not offsets:
                continue  # '~ -1 + x' or '~ +x'
            raise FormulaError("Empty term: two operators in a row, or a trailing '+'.", text, start)
        if piece in ("0", "1"):
            intercept = (piece == "1") != (sep == "-")
            continue
        if piece.startswith("(") and piece.endswith(")") and "|" in piece and _wraps(piece):
            if sep == "-":
                raise FormulaError("A random-effect term cannot be removed with '-'.", text, start)
            random += _parse_random(piece[1:-1], text, start + 1)
            continue
        if "|" in piece:
            raise FormulaError("'|' only belongs inside a random-effect term in parentheses, e.g. (1 | g).",
                               text, start + piece.index("|"))
        match = re.fullmatch(r"offset\s*\((.*)\)", piece, flags=re.S)
        if match:
            if sep == "-":
                raise FormulaError("An offset cannot be removed with '-'.", text, start)
            if not match.group(1).strip():
                raise FormulaError("offset() needs an expression, e.g. offset(log(exposure)).", text, start)
            _tokens(match.group(1), text, start)
            offsets.append(match.group(1).strip())
            continue
        _check_fixed_piece(piece, text, start)
        fixed.append(("- " if sep == "-" else "") + piece)
    _check_duplicates(random, text)
    variables = []
    for expr in [*response.exprs, *fixed, *offsets,
                 *[t for r in random for t in r.terms], *[f for r in random for f in r.group_factors]]:
        for name in expression_variables(expr.lstrip("- "), text, 0):
            if name not in variables:
                variables.append(name)
    return FormulaSpec(text, response, tuple(fixed), intercept, tuple(offsets), tuple(random), tuple(variables))


def _wraps(piece: str) -> bool:
    """True if the outer parentheses of ``piece`` enclose all of it."""
    depth = 0
    for i, ch in enumerate(piece):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(piece) - 1:
            return False
    return True


def _check_duplicates(random: list[RandomTerm], text: str) -> None:
    seen = {}
    for block in random:
        for term in (["(Intercept)"] if block.intercept else []) + list(block.terms):
            key = (block.group, term)
            if key in seen:
                raise FormulaError(f"'{term}' varies by '{block.group}' in two random-effect terms; keep it in one.",
                                   text, block.position)
            seen[key] = block
