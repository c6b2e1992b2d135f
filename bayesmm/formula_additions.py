"""brms's addition terms on the response side of a formula: ``y | cens(censored)``, ``y | cens(censored, y2)``,
``y | trunc(lb = 0, ub = 10)``, ``successes | trials(n)``, joined by ``+`` (``y | cens(c) + trunc(lb = 0)``).

Each term is kept as ``(name, ((argument, expression), ...))`` with its arguments named as brms names them
(``cens(x, y2)``, ``trunc(lb, ub)``, ``trials(x)``), positional or by keyword; expressions are written
canonically (:func:`~bayesmm.formula_lexing.canonical`) and evaluated on the data by the design. brms's other
addition terms are refused with what to use instead.

>>> parse_additions("cens(censored, upper) + trunc(ub = 10)", "t | cens(censored, upper) + trunc(ub = 10) ~ 1", 4)
(('cens', (('x', 'censored'), ('y2', 'upper'))), ('trunc', (('ub', '10'),)))
"""
from __future__ import annotations

import re

from .errors import FormulaError
from .formula_lexing import canonical, lex_tokens, split_top

__all__ = ["ADDITIONS", "parse_additions", "with_trials", "written", "addition_expressions", "read_additions"]

#: the addition terms bayesmm reads, with brms's argument names in positional order (the first ones required)
ADDITIONS = {"cens": (("x",), ("y2",)), "trunc": ((), ("lb", "ub")), "trials": (("x",), ())}
#: brms's other addition terms and what to do instead
ELSEWHERE = {
    "weights": "pass weights='column' to Model/fit (frequency weights)",
    "se": "known standard errors (meta-analysis) are not supported",
    "mi": "missing-value imputation is not supported; drop or impute the rows first",
    "rate": "use an offset instead: y ~ x + offset(log(exposure))",
    "subset": "subset the data before fitting",
    "dec": "drift-diffusion models are not supported",
    "thres": "ordinal thresholds are set by the ordinal families",
    "cat": "categorical models take the number of categories from the response",
    "index": "not supported",
    "vreal": "custom families are not supported",
    "vint": "custom families are not supported",
}
#: how a formula writes an open truncation bound
OPEN = ("inf", "-inf", "+inf", "np.inf", "-np.inf")
_KEYWORD = re.compile(r"\s*([A-Za-z_]\w*)\s*=(?!=)(.*)", flags=re.S)


def _arguments(name: str, body: str, formula: str, position: int) -> tuple:
    required, optional = ADDITIONS[name]
    order, named = required + optional, {}
    example = {"cens": "cens(censored) or cens(censored, y2)", "trunc": "trunc(lb = 0, ub = 10)",
               "trials": "trials(n)"}[name]
    pieces = split_top(body, position, ",") if body.strip() else []
    for k, (_, piece, start) in enumerate(pieces):
        start += len(piece) - len(piece.lstrip())
        match = _KEYWORD.fullmatch(piece)
        key, expr = (match.group(1), match.group(2)) if match else (order[k] if k < len(order) else None, piece)
        if key not in order:
            raise FormulaError(f"{name}() takes {', '.join(order)}, not {'argument ' + key if key else 'more'}; "
                               f"write e.g. {example}.", formula, start)
        if key in named:
            raise FormulaError(f"{name}() has '{key}' twice.", formula, start)
        if not expr.strip():
            raise FormulaError(f"{name}() has an empty argument '{key}'; write e.g. {example}.", formula, start)
        lex_tokens(expr, formula, start)
        if name == "trunc" and expr.strip().replace(" ", "").lower() in OPEN:
            continue  # trunc(ub = Inf): that side is open
        named[key] = canonical(expr.strip())
    missing = [key for key in required if key not in named]
    if missing or not named:
        raise FormulaError(f"{name}() needs {' and '.join(missing) or 'a finite lb or ub'}: write e.g. {example}.",
                           formula, position)
    return tuple((key, named[key]) for key in order if key in named)


def _one_call(text: str) -> bool:
    """True if the first bracket of ``text`` closes at its end (``cens(c)``, not ``cens(c) - 1``)."""
    depth, quote = 0, None
    for i in range(text.index("("), len(text)):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
            if depth == 0:
                return i == len(text) - 1
    return False


def parse_additions(text: str, formula: str, position: int) -> tuple:
    """The addition terms of ``text`` (what follows ``|`` on the left of ``~``); ``position`` is its offset in
    ``formula``, for the error messages."""
    bars = split_top(text, position, "|")
    if len(bars) > 1:
        raise FormulaError("The response has more than one '|': join its addition terms with +, e.g. "
                           "y | cens(c) + trunc(lb = 0).", formula, bars[1][2] - 1)
    additions = []
    for _, piece, start in split_top(text, position, "+"):
        stripped = piece.strip()
        start += len(piece) - len(piece.lstrip())
        match = re.fullmatch(r"([A-Za-z_]\w*)\s*\((.*)\)", stripped, flags=re.S)
        name = match.group(1) if match and _one_call(stripped) else None
        if name in ELSEWHERE:
            raise FormulaError(f"The addition term {name}() is not supported: {ELSEWHERE[name]}.", formula, start)
        if name not in ADDITIONS:
            raise FormulaError(f"'{stripped}' is not an addition term: after '|' on the left of '~' write cens(...), "
                               "trunc(...) or trials(...) (brms's addition terms, joined by +); random-effect terms "
                               "belong on the right of '~', e.g. y ~ x + (1 | g).", formula, start)
        if any(name == seen for seen, _ in additions):
            raise FormulaError(f"{name}() appears twice on the response side; keep one.", formula, start)
        body_start = start + stripped.index("(") + 1
        additions.append((name, _arguments(name, match.group(2), formula, body_start)))
    return tuple(additions)


def with_trials(kind: str, exprs: tuple, additions: tuple, formula: str, position: int) -> tuple:
    """``(kind, exprs)`` of the response: ``successes | trials(n)`` is ``p(successes, n)``."""
    trials = dict(additions).get("trials")
    if trials is None:
        return kind, exprs
    if kind != "expr":
        raise FormulaError("trials() gives the trials of a single successes column, not of cbind() or p().",
                           formula, position - 1)
    return "trials", (exprs[0], trials[0][1])


def written(additions: tuple) -> str:
    """The addition terms as a formula writes them: ``"cens(censored, y2 = upper) + trunc(lb = 0)"``."""
    def argument(name, key, expr):
        return expr if ADDITIONS[name][0][:1] == (key,) else f"{key} = {expr}"

    return " + ".join(f"{name}({', '.join(argument(name, key, e) for key, e in args)})" for name, args in additions)


def addition_expressions(additions: tuple) -> list[str]:
    """Every expression of the addition terms, in order."""
    return [expr for _, args in additions for _, expr in args]


def read_additions(additions: tuple, read) -> tuple:
    """The addition terms with each expression passed through ``read`` (``expr -> expr``)."""
    return tuple((name, tuple((key, read(expr)) for key, expr in args)) for name, args in additions)
