"""Lexing lme4-style formula strings: brackets and quotes checked, depth-0 splitting, Python tokens, and the
data columns an expression reads (:func:`expression_variables`). Errors are :class:`~bayesmm.errors.FormulaError`
with the position in the formula."""
from __future__ import annotations

import io
import keyword
import tokenize

from .errors import FormulaError

__all__ = ["expression_variables"]


def _check_brackets(text: str) -> None:
    stack = []
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([":
            stack.append((ch, i))
        elif ch in ")]":
            if not stack or {"(": ")", "[": "]"}[stack[-1][0]] != ch:
                raise FormulaError(f"Unbalanced '{ch}': it closes nothing. Remove it or add the opening bracket.",
                                   text, i)
            stack.pop()
    if quote:
        raise FormulaError("Unterminated string: add the closing quote.", text, text.index(quote))
    if stack:
        ch, i = stack[-1]
        raise FormulaError(f"Unbalanced '{ch}': it is never closed. Add the closing bracket.", text, i)


def _split_top(text: str, offset: int, seps: str) -> list[tuple[str, str, int]]:
    """Split at depth-0 separators. Returns (separator before, piece, absolute start) triples."""
    pieces, depth, start, sep, quote = [], 0, 0, "", None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
            continue
        if ch in "'\"":
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


def _strip(piece: str, start: int) -> tuple[str, int]:
    lead = len(piece) - len(piece.lstrip())
    return piece.strip(), start + lead


def _tokens(expr: str, formula: str, position: int):
    try:
        return [t for t in tokenize.generate_tokens(io.StringIO(expr).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                                  tokenize.DEDENT)]
    except (tokenize.TokenError, IndentationError, SyntaxError) as err:
        raise FormulaError(f"Cannot read '{expr}': {err}.", formula, position) from None


def expression_variables(expr: str, formula: str | None = None, position: int = 0) -> list[str]:
    """Data columns an expression reads: names that are not called (``log(x)``, ``np.log(x)``), not
    attributes and not keywords of a call (``levels=``).  Dotted names (``site.id``) are one column, as in
    formulae; a column may share a function's name (``exp``, ``C``) as long as it is not called."""
    toks = _tokens(expr, formula or expr, position)
    names, k = [], 0
    while k < len(toks):
        tok = toks[k]
        if tok.type != tokenize.NAME or keyword.iskeyword(tok.string) or (k > 0 and toks[k - 1].string == "."):
            k += 1
            continue
        name, k = tok.string, k + 1
        while k + 1 < len(toks) and toks[k].string == "." and toks[k + 1].type == tokenize.NAME:
            name, k = f"{name}.{toks[k + 1].string}", k + 2
        nxt = toks[k].string if k < len(toks) else ""
        if nxt not in ("(", "=") and name not in names:
            names.append(name)
    return names
