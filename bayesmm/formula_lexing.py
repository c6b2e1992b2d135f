"""Lexing lme4-style formula strings: brackets and quotes checked, depth-0 splitting, tokens, and the data
columns an expression reads (:func:`column_references`, :func:`expression_variables`). Errors are
:class:`~bayesmm.errors.FormulaError` with the position in the formula.

Column names that are not plain identifiers are written as in formulae and R, in backticks
(```my col` ~ x``), or as in patsy, ``Q("my col")``. A Python keyword that stands where a column can stand
(``yield ~ temp``, ``(1 | class)``) is a column; ``True``, ``False`` and ``None`` are columns outside calls
(``x ~ True``) and Python constants inside them (``poly(x, raw=True)``). ``pi`` and numpy's attributes
(``np.pi``) are constants, except that ``pi`` is the column when the data has one (see
:func:`bayesmm.formula.with_data_columns`).
"""
from __future__ import annotations

import ast
import io
import keyword
import tokenize
from typing import NamedTuple

from .errors import FormulaError

__all__ = ["CONSTANT_NAMES", "Reference", "Token", "canonical", "column_references", "expression_variables",
           "in_arithmetic", "python_code", "quote_name", "check_brackets", "split_top", "strip_outer",
           "lex_tokens"]

#: Names that are constants unless the data has a column of that name (``sin(2 * pi * t)``).
CONSTANT_NAMES = frozenset({"pi"})

_QUOTES = "'\"`"
_LITERALS = ("True", "False", "None")
_ARITHMETIC = frozenset({"+", "-", "*", "/", "//", "%", "**", "@", "~"})
_SKIPPED = (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT)
_KINDS = {tokenize.NAME: "name", tokenize.NUMBER: "number", tokenize.STRING: "string", tokenize.OP: "op"}


class Token(NamedTuple):
    """One token: ``kind`` is ``name``, ``quoted`` (```a b``` or ``Q("a b")``), ``number``, ``string``,
    ``op`` or ``error``; ``start``/``end`` are character offsets in the expression; ``name`` is the column a
    quoted token names (the token's text otherwise)."""

    kind: str
    string: str
    start: int
    end: int
    name: str


class Reference(NamedTuple):
    """One use of a data column in an expression: its ``name``, its span, the names of the calls it is an
    argument of (outermost first) and the operators right before and after it."""

    name: str
    start: int
    end: int
    calls: tuple[str, ...]
    neighbours: tuple[str, ...]


def check_brackets(text: str) -> None:
    stack = []
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote[0]:
                quote = None
            continue
        if ch in _QUOTES:
            quote = (ch, i)
        elif ch in "([":
            stack.append((ch, i))
        elif ch in ")]":
            if not stack or {"(": ")", "[": "]"}[stack[-1][0]] != ch:
                raise FormulaError(f"Unbalanced '{ch}': it closes nothing. Remove it or add the opening bracket.",
                                   text, i)
            stack.pop()
    if quote and quote[0] == "`":
        raise FormulaError("Unterminated `quoted name`: add the closing backtick.", text, quote[1])
    if quote:
        raise FormulaError("Unterminated string: add the closing quote.", text, quote[1])
    if stack:
        ch, i = stack[-1]
        raise FormulaError(f"Unbalanced '{ch}': it is never closed. Add the closing bracket.", text, i)


def split_top(text: str, offset: int, seps: str) -> list[tuple[str, str, int]]:
    """Split at depth-0 separators outside quotes. Returns (separator before, piece, absolute start) triples."""
    pieces, depth, start, sep, quote = [], 0, 0, "", None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
            continue
        if ch in _QUOTES:
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in seps:
            # '**' and unary signs inside a piece (e.g. 'x**-1') are not separators
            before = text[:i].rstrip()
            if ch == "-" and before and before[-1] in "*/:^(,=":
                continue
            pieces.append((sep, text[start:i], offset + start))
            sep, start = ch, i + 1
    pieces.append((sep, text[start:], offset + start))
    return pieces


def strip_outer(piece: str, start: int) -> tuple[str, int]:
    lead = len(piece) - len(piece.lstrip())
    return piece.strip(), start + lead


def _backtick_spans(expr: str) -> list[tuple[int, int]]:
    """(start, end) of each backtick-quoted name, skipping string literals; an unclosed one runs to the end."""
    spans, quote, opened = [], None, None
    for i, ch in enumerate(expr):
        if quote:
            if ch == quote:
                if quote == "`":
                    spans.append((opened, i + 1))
                quote = None
        elif ch in _QUOTES:
            quote, opened = ch, i
    if quote == "`":
        spans.append((opened, len(expr)))
    return spans


def lex_tokens(expr: str, formula: str, position: int) -> list[Token]:
    """The tokens of ``expr`` (Python's, with backtick-quoted names and ``Q("...")`` as single tokens)."""
    spans = _backtick_spans(expr)
    masked = expr
    for start, end in spans:  # same length, so Python's offsets are the expression's
        if end - start < 3 or expr[end - 1] != "`" or not expr[start + 1:end - 1].strip():
            raise FormulaError("A backtick-quoted name must be closed and not empty, e.g. `my col`.", formula,
                               position + start)
        masked = masked[:start] + "_" * (end - start) + masked[end:]
    line_starts = [0]
    for line in masked.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    try:
        raw = [t for t in tokenize.generate_tokens(io.StringIO(masked).readline) if t.type not in _SKIPPED]
    except (tokenize.TokenError, IndentationError, SyntaxError) as err:
        raise FormulaError(f"Cannot read '{expr}': {err}.", formula, position) from None
    out = []
    for tok in raw:
        start = line_starts[tok.start[0] - 1] + tok.start[1]
        end = line_starts[tok.end[0] - 1] + tok.end[1]
        if tok.type == tokenize.ERRORTOKEN and tok.string.isspace():
            continue
        quoted = [(s, e) for s, e in spans if s < end and start < e]
        if quoted and tok.type == tokenize.NAME:
            if quoted != [(start, end)]:
                raise FormulaError(f"Missing operator next to '{expr[quoted[0][0]:quoted[0][1]]}': join terms with "
                                   "+ (or *, :, /).", formula, position + start)
            out.append(Token("quoted", expr[start:end], start, end, expr[start + 1:end - 1]))
        else:
            out.append(Token(_KINDS.get(tok.type, "error"), tok.string, start, end, tok.string))
    return _fuse_q(out, expr, formula, position)


def _fuse_q(toks: list[Token], expr: str, formula: str, position: int) -> list[Token]:
    """``Q("my col")`` (patsy's quoting) -> one quoted token."""
    out, k = [], 0
    while k < len(toks):
        tok = toks[k]
        is_q = (tok.kind == "name" and tok.string == "Q" and k + 1 < len(toks) and toks[k + 1].string == "("
                and not (k and toks[k - 1].string == "."))
        if not is_q:
            out.append(tok)
            k += 1
            continue
        name = None
        if k + 3 < len(toks) and toks[k + 2].kind == "string" and toks[k + 3].string == ")":
            try:
                name = ast.literal_eval(toks[k + 2].string)
            except (ValueError, SyntaxError):
                name = None
        if not isinstance(name, str) or not name.strip() or "`" in name:
            raise FormulaError('Q() takes one quoted column name without backticks, e.g. Q("my col").', formula,
                               position + tok.start)
        end = toks[k + 3].end
        out.append(Token("quoted", expr[tok.start:end], tok.start, end, name))
        k += 4
    return out


def _operator_at(tok: Token | None) -> bool:
    """True where a column could start after ``tok``: the start, an operator or an opening bracket."""
    if tok is None:
        return True
    if tok.kind == "op":
        return tok.string not in (")", "]")
    return tok.kind == "name" and keyword.iskeyword(tok.string) and tok.string not in _LITERALS


def _keyword_is_column(tok: Token, before: Token | None, after: Token | None, in_call: bool) -> bool:
    """A keyword standing alone where an operand belongs (``yield ~ x``, ``(1 | class)``) is a column;
    ``True``/``False``/``None`` only outside calls."""
    if tok.string in _LITERALS and in_call:
        return False
    ends = after is None or (after.kind == "op" and after.string not in ("(", ".")) or (
        after.kind == "name" and keyword.iskeyword(after.string) and after.string not in _LITERALS)
    return _operator_at(before) and ends


def column_references(expr: str, formula: str | None = None, position: int = 0,
                      columns=()) -> list[Reference]:
    """Every use of a data column in ``expr``: names that are not called (``log(x)``, ``np.log(x)``), not
    attributes, not keywords of a call (``levels=``), not numpy constants (``np.pi``) and not ``pi`` unless
    ``columns`` holds it; quoted names; keywords standing as operands. Dotted names (``site.id``) are one
    column, as in formulae; a column may share a function's name (``exp``, ``C``) as long as it is not
    called."""
    toks = lex_tokens(expr, formula or expr, position)
    refs, stack, pending, k = [], [], None, 0

    def reference(name, first, last):
        before = toks[first - 1].string if first and toks[first - 1].kind == "op" else ""
        after = toks[last + 1].string if last + 1 < len(toks) and toks[last + 1].kind == "op" else ""
        calls = tuple(c for c in stack if c is not None)
        refs.append(Reference(name, toks[first].start, toks[last].end, calls, (before, after)))

    while k < len(toks):
        tok, before = toks[k], toks[k - 1] if k else None
        if tok.kind == "op":
            if tok.string in ("(", "["):
                stack.append(pending if tok.string == "(" else None)
            elif tok.string in (")", "]") and stack:
                stack.pop()
            pending, k = None, k + 1
            continue
        if tok.kind == "quoted":
            reference(tok.name, k, k)
        if tok.kind != "name" or (before is not None and before.string == "."):
            k += 1
            continue
        name, j = tok.string, k + 1
        while j + 1 < len(toks) and toks[j].string == "." and toks[j + 1].kind == "name":
            name, j = f"{name}.{toks[j + 1].string}", j + 2
        after = toks[j] if j < len(toks) else None
        if j == k + 1 and keyword.iskeyword(name):
            if _keyword_is_column(tok, before, after, any(c is not None for c in stack)):
                reference(name, k, k)
        elif after is not None and after.string == "(":
            pending = name
        elif (after is not None and after.string == "=" and stack) or name.startswith("np."):
            pass
        elif name not in CONSTANT_NAMES or name in columns:
            reference(name, k, j - 1)
        k = j
    return refs


def expression_variables(expr: str, formula: str | None = None, position: int = 0, columns=()) -> list[str]:
    """The data columns an expression reads, in order of first use (see :func:`column_references`)."""
    names = []
    for ref in column_references(expr, formula, position, columns):
        if ref.name not in names:
            names.append(ref.name)
    return names


def in_arithmetic(ref: Reference, evaluated: bool) -> bool:
    """Whether ``ref`` is transformed as a number: an argument of any call but ``I()`` and ``C()``, or next to
    an arithmetic operator inside ``I()`` (or anywhere in an ``evaluated`` Python expression: a response or
    an offset). Comparisons (``I(f == "a")``) and formula operators (``f:x``) are not arithmetic."""
    if any(call not in ("I", "C") for call in ref.calls):
        return True
    if "I" in ref.calls or evaluated:
        return bool(_ARITHMETIC & set(ref.neighbours))
    return False


def quote_name(name: str) -> str:
    """A column's name as a formula writes it: plain when it reads back as that column, else in backticks."""
    parts = name.split(".")
    plain = (all(p.isidentifier() and p.isascii() and not keyword.iskeyword(p) for p in parts)
             and name not in CONSTANT_NAMES and not (len(parts) > 1 and parts[0] == "np"))
    return name if plain else f"`{name}`"


def _rewrite(expr: str, refs: list[Reference], spelling) -> str:
    for ref in sorted(refs, key=lambda r: r.start, reverse=True):
        expr = expr[:ref.start] + spelling(ref) + expr[ref.end:]
    return expr


def canonical(expr: str, columns=()) -> str:
    """``expr`` with each column written by :func:`quote_name` (``Q("a b")`` -> ```a b```, ``class`` ->
    ```class```) and R's power operator ``^`` as ``**`` (``I(x^2)``; ``(a + b)^2``, all interactions up to two
    ways, as in R): the spelling formulae reads, and a fixed point of parsing."""
    return _powers(_rewrite(expr, column_references(expr, columns=columns), lambda ref: quote_name(ref.name)))


def _powers(expr: str) -> str:
    """``expr`` with each ``^`` operator (not one inside a string or a quoted name) written ``**``."""
    if "^" not in expr:
        return expr
    for tok in reversed(lex_tokens(expr, expr, 0)):
        if tok.kind == "op" and tok.string == "^":
            expr = expr[:tok.start] + "**" + expr[tok.end:]
    return expr


def python_code(expr: str) -> tuple[str, dict[str, str]]:
    """``expr`` as Python code with each column replaced by a plain identifier, and identifier -> column."""
    refs = column_references(expr)
    identifiers = {name: f"_column_{k}" for k, name in enumerate(dict.fromkeys(r.name for r in refs))}
    code = _rewrite(expr, refs, lambda ref: identifiers[ref.name])
    return code, {identifier: name for name, identifier in identifiers.items()}


#: operators a formula's fixed part may hold at depth 0
ALLOWED_TOP_OPS = {"+", "-", "*", ":", "/", "**", "^", "(", ")", ".", "[", "]"}


def check_fixed_piece(piece: str, formula: str, position: int) -> None:
    """Reject tokens that formulae would silently drop: anything but formula operators at depth 0, and two
    operands with no operator between them (``x z``, ``log(x) z``)."""
    depth, state, start, end, last_op = 0, "start", 0, 0, None
    for tok in lex_tokens(piece, formula, position):
        where = position + tok.start
        if tok.kind == "op":
            if tok.string in ("(", "["):
                if depth == 0 and state != "operand":  # a bracketed group, not a call
                    start = tok.start
                depth += 1
            elif tok.string in (")", "]"):
                depth -= 1
                if depth == 0:
                    state, end = "operand", tok.end
            elif depth == 0 and tok.string not in ALLOWED_TOP_OPS:
                raise FormulaError(
                    f"'{tok.string}' is not a formula operator. Use +, -, *, :, / or ^ between terms, "
                    "or wrap arithmetic in I(), e.g. I(x % 2).", formula, where)
            elif depth == 0:
                state, last_op = ("dot" if tok.string == "." else "op"), tok
        elif tok.kind == "error":
            raise FormulaError(f"Unexpected character '{tok.string}'.", formula, where)
        elif depth == 0:
            if state == "operand":
                raise FormulaError(
                    f"Missing operator between '{piece[start:end]}' and '{tok.string}': join terms with "
                    "+ (or *, :, /), or wrap arithmetic in I().", formula, where)
            if state != "dot":
                start = tok.start
            state, end = "operand", tok.end
    if piece.strip() in ("", "."):
        raise FormulaError("Empty term: remove the extra operator.", formula, position)
    if state in ("op", "dot"):
        raise FormulaError(f"'{piece}' ends with an operator: add what follows '{last_op.string}' or remove it.",
                           formula, position + last_op.start)
