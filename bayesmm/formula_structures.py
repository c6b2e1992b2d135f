"""glmmTMB's covariance structures for random-effect terms: ``ar1(time + 0 | g)``, ``ou(t + 0 | g)``,
``cs(0 + f | g)``, ``toep(0 + f | g)``, ``diag(x | g)``, ``us(x | g)``, ``exp(x + y + 0 | g)``, ``gau(...)``,
``mat(...)``.

A structure call is read as the random-effect term inside it (its name is blanked, so positions in the
formula stay where they were) and the term is marked with the structure (:class:`StructuredTerm`):

* ``us``: the unstructured block, the same as ``(x | g)``; ``diag``: independent terms, the same as ``(x || g)``;
* ``cs``: compound symmetry, one SD per column and one correlation ``rho`` shared by every pair (glmmTMB's
  heterogeneous ``cs``);
* ``toep``: Toeplitz, one SD per column and one correlation per lag between columns (glmmTMB's heterogeneous
  ``toep``: the columns, e.g. a factor's levels, in time order);
* positional structures, whose left side names the column(s) holding each row's time or coordinates and no
  intercept: ``ar1`` (equally spaced times or the levels of a factor in order, correlation ``rho^lag``), ``ou``
  (numeric times, unequally spaced allowed: ``exp(-|t - t'| / lscale)``), and over one or two coordinate
  columns ``exp`` (``exp(-d / lscale)``), ``gau`` (``exp(-d^2 / (2 lscale^2))``) and ``mat`` (Matern with
  smoothness 3/2: ``(1 + sqrt(3) d / lscale) exp(-sqrt(3) d / lscale)``). One SD for all positions.

Within each level of the group, the effects at the distinct times/positions of the data have that correlation
(:mod:`bayesmm.structures` builds the block; the correlation functions live there too).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .errors import FormulaError
from .formula import FormulaSpec, RandomTerm, parse_formula
from .formula_lexing import canonical, expression_variables, quote_name, split_top, strip_outer

__all__ = ["StructuredTerm", "STRUCTURES", "POSITIONAL", "parse_model_formula", "structure_of"]

#: every structure name, with what it is
STRUCTURES = {
    "us": "unstructured (as (x | g))", "diag": "independent terms (as (x || g))",
    "cs": "compound symmetry", "toep": "Toeplitz", "ar1": "first-order autoregressive", "ou": "Ornstein-Uhlenbeck",
    "exp": "exponential", "gau": "Gaussian", "mat": "Matern (smoothness 3/2)",
}
#: positional structures and the most columns their left side may name
POSITIONAL = {"ar1": 1, "ou": 1, "exp": 2, "gau": 2, "mat": 2}


@dataclass(frozen=True)
class StructuredTerm(RandomTerm):
    """A random-effect term with a covariance structure (``cs``, ``toep`` or a :data:`POSITIONAL` one)."""

    structure: str = ""
    #: options after the term (``gau(x + y + 0 | g, k = 20, c = 2)``): ``(name, value)`` pairs
    options: tuple = ()

    def __str__(self) -> str:
        extra = "".join(f", {name} = {value}" for name, value in self.options)
        return f"{self.structure}({self.lhs} | {':'.join(quote_name(f) for f in self.group_factors)}{extra})"

    def option(self, name: str, default=None):
        return dict(self.options).get(name, default)


def structure_of(term) -> str:
    """The term's structure (``"ar1"``, ``"cs"``, ...), or ``""`` for a plain term."""
    return getattr(term, "structure", "")


def _calls(formula: str) -> tuple[str, dict]:
    """``formula`` with each structure call's name blanked, and {offset of the term inside it: name}."""
    tilde = formula.find("~")
    if tilde < 0:
        return formula, {}
    text, found = formula, {}
    for _, piece, start in split_top(formula[tilde + 1:], tilde + 1, "+-"):
        piece, start = strip_outer(piece, start)
        match = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", piece)
        if not match or not piece.endswith(")") or "|" not in piece:
            continue
        name, bracket = match.group(1), start + match.end() - 1
        if name not in STRUCTURES:
            continue
        text = text[:start] + " " * (bracket - start) + text[bracket:]
        inside = split_top(piece[bracket - start + 1:-1], bracket + 1, ",")
        options = _options(name, inside[1:], formula)
        if options:
            end = inside[1][2] - 1  # the first comma after the term
            text = text[:end] + " " * (start + len(piece) - 1 - end) + text[start + len(piece) - 1:]
        found[bracket + 1] = (name, options)
    return text, found


#: options of the spatial structures (the Hilbert-space approximation, :mod:`bayesmm.hsgp`) and their readers
_OPTIONS = {"k": int, "c": float, "hsgp": lambda v: {"true": True, "false": False}[v.lower()]}


def _options(name: str, pieces, formula: str) -> tuple:
    """``(name, value)`` pairs of a structure's options (``k = 20``, ``c = 2``, ``hsgp = TRUE``)."""
    out = []
    for _, piece, at in pieces:
        piece, at = strip_outer(piece, at)
        key, equals, value = (p.strip() for p in piece.partition("="))
        if name not in ("exp", "gau", "mat") or not equals or key not in _OPTIONS:
            raise FormulaError(f"'{piece.strip()}' in {name}(...): the spatial structures exp, gau and mat take the "
                               "options k = <basis functions per coordinate>, c = <boundary factor> and hsgp = "
                               "TRUE/FALSE (the Hilbert-space approximation); other structures take none.",
                               formula, at)
        try:
            parsed = _OPTIONS[key](value)
        except (ValueError, KeyError):
            parsed = None
        if parsed is None or (key in ("k", "c") and not parsed > (2 if key == "k" else 1)):
            raise FormulaError(f"{name}(...) option {key} = {value!r}: k takes a whole number above 2, c a number "
                               "above 1, hsgp TRUE or FALSE.", formula, at)
        out.append((key, parsed))
    return tuple(out)


def _checked(term: RandomTerm, call: tuple, formula: str) -> RandomTerm:
    """The term marked with its structure, after the checks a structure's left side needs."""
    name, options = call
    where = term.position - len(name) - 1
    if not term.correlated:
        raise FormulaError(f"{name}(...) takes a single '|': the structure sets the correlations.", formula, where)
    if name == "us":
        return term
    if name == "diag":
        return dataclasses.replace(term, correlated=False)
    if name in POSITIONAL:
        example = f"{name}(time + 0 | {term.group})" if POSITIONAL[name] == 1 else f"{name}(x + y + 0 | {term.group})"
        if term.intercept:
            raise FormulaError(f"{name}(...) has no intercept: write {example} (the effect at each time or position "
                               "is the varying term).", formula, where)
        if not 1 <= len(term.terms) <= POSITIONAL[name]:
            wanted = "one column of times" if POSITIONAL[name] == 1 else "one or two coordinate columns"
            raise FormulaError(f"{name}(...) takes {wanted} before '|', e.g. {example}; it has "
                               f"{len(term.terms)}: {', '.join(term.terms)}.", formula, where)
        for piece in term.terms:
            if [canonical(v) for v in expression_variables(piece)] != [piece]:
                raise FormulaError(f"'{piece}' in {name}(...) is not a single column: the structure needs the "
                                   f"column of times or coordinates itself (compute it as a column first).",
                                   formula, where)
    return StructuredTerm(**{f.name: getattr(term, f.name) for f in dataclasses.fields(term)}, structure=name,
                          options=options)


def parse_model_formula(formula: str) -> FormulaSpec:
    """:func:`bayesmm.formula.parse_formula`, with glmmTMB's covariance-structure terms read as well.

    >>> [str(t) for t in parse_model_formula("y ~ x + ar1(time + 0 | g) + diag(x | h)").random]
    ['ar1(0 + time | g)', '(1 + x || h)']
    """
    if not isinstance(formula, str):
        return parse_formula(formula)
    text, calls = _calls(formula)
    spec = parse_formula(text)
    if not calls:
        return spec
    random = tuple(_checked(t, calls[t.position], formula) if t.position in calls else t for t in spec.random)
    structured = [t for t in random if structure_of(t)]
    groups = [t.group for t in structured]
    for term in structured:
        if groups.count(term.group) > 1:
            raise FormulaError(f"Group '{term.group}' has {groups.count(term.group)} structured terms: keep one "
                               "structure per grouping factor.", formula, term.position)
    return dataclasses.replace(spec, text=formula, random=random)
