"""lme4's bar terms, ``(x | g)``, ``(x || g)``, ``(1 | a/b)`` and brms's ``(1 | p | g)``, -> :class:`RandomTerm`.

:mod:`bayesmm.formula` finds the bar terms in a formula and hands each one's inside here; this module reads its
left side, its grouping factor (``a:b`` an interaction, ``a/b`` nesting), its bars (``||``: independent columns;
an ID between two bars: correlated across the linear predictors that use it, as brms's) and checks the terms
against each other.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .errors import FormulaError
from .formula_lexing import canonical, check_fixed_piece, lex_tokens, quote_name, split_top, strip_outer

__all__ = ["RandomTerm", "parse_random", "joined_ids", "check_duplicates", "check_ids_across"]


@dataclass(frozen=True)
class RandomTerm:
    """One random-effect term as written in the formula (after ``/`` expansion: ``(1|a/b)`` is two).

    ``terms`` are the left side's non-intercept pieces in formula order, columns written as formulae reads
    them (```my col```); ``intercept`` says whether the block has a varying intercept; ``group`` is the
    grouping factor's name (``"site:block"`` for an interaction) and ``group_factors`` its columns' own names
    (``"my group"``, no backticks); ``correlated`` is False for ``||`` terms, whose columns the design
    splits into independent blocks. ``id`` is brms's ID of ``(1 | p | g)`` (empty without one): the terms of the
    same group and ID are one correlated block, across the formula's terms, a categorical response's linear
    predictors (:mod:`bayesmm.categories`) and the family parameters' formulas.
    ``position`` is the character offset of the term in the formula, for error messages.
    """

    terms: tuple[str, ...]
    intercept: bool
    group: str
    group_factors: tuple[str, ...]
    correlated: bool = True
    position: int = 0
    id: str = ""

    @property
    def lhs(self) -> str:
        """The left side as a formula piece formulae understands (``"1 + x"`` or ``"0 + x"``)."""
        pieces = ["1" if self.intercept else "0", *self.terms]
        return " + ".join(pieces)

    def __str__(self) -> str:
        bar = f"| {self.id} |" if self.id else "|" if self.correlated else "||"
        return f"({self.lhs} {bar} {':'.join(quote_name(f) for f in self.group_factors)})"


def _group_factor(text: str, formula: str, position: int) -> str | None:
    """The column a grouping factor names (``g``, ``site.id``, ```my group```, ``Q("my group")``,
    ``class``), or None if ``text`` is not one column."""
    if not text:
        return None
    toks = lex_tokens(text, formula, position)
    if len(toks) == 1 and toks[0].kind == "quoted":
        return toks[0].name
    names = [t.string for t in toks[::2] if t.kind == "name"]
    dots = [t.string for t in toks[1::2]]
    if len(names) != (len(toks) + 1) // 2 or len(toks) % 2 == 0 or any(d != "." for d in dots):
        return None
    return ".".join(names)


def _parse_group(text: str, formula: str, position: int) -> list[tuple[str, ...]]:
    """'a/b/c' -> [(a,), (a, b), (a, b, c)]; 'a:b' -> [(a, b)]; the names are the columns' own."""
    if not text:
        raise FormulaError("A random-effect term has no grouping variable: write (1 | group).", formula, position)
    groups, prefix = [], ()
    for _, part, part_start in split_top(text, position, "/"):
        factors = []
        for _, factor, start in split_top(part, part_start, ":"):
            factor, start = strip_outer(factor, start)
            name = _group_factor(factor, formula, start)
            if name is None:
                raise FormulaError(
                    f"'{factor or text}' is not a grouping variable: after '|' write a column name (in backticks "
                    "if it is not a plain name, e.g. `my group`), 'a:b' for an interaction or 'a/b' for nesting.",
                    formula, position)
            factors.append(name)
        prefix = prefix + tuple(factors)
        groups.append(prefix)
    return groups


def _parse_lhs(text: str, formula: str, position: int) -> tuple[bool, list[str]]:
    if not text.strip():
        raise FormulaError("A random-effect term has nothing before '|': write (1 | g) for an intercept.",
                           formula, position)
    intercept, terms = True, []
    for sep, piece, start in split_top(text, position, "+-"):
        piece, start = strip_outer(piece, start)
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
        check_fixed_piece(piece, formula, start)
        piece = canonical(piece)
        if piece not in terms:
            terms.append(piece)
    if not intercept and not terms:
        raise FormulaError("A random-effect term with no intercept and no slope: write (1 | g) or (0 + x | g).",
                           formula, position)
    return intercept, terms


def _term_id(bars, formula: str) -> str:
    """brms's ID in ``(1 | p | g)``: one plain name between the two bars."""
    _, text, start = bars[1]
    name = text.strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", name):
        raise FormulaError(f"'{name}' between the bars of a random-effect term is not an ID: write (1 | p | g), "
                           "a plain name such as p, to correlate the group's effects across the linear "
                           "predictors that use the same ID, or (1 | g) alone.", formula, start)
    return name


def parse_random(body: str, formula: str, position: int) -> list[RandomTerm]:
    bars = split_top(body, position, "|")
    double = len(bars) > 2 and bars[1][1] == ""  # '||': an empty piece between two bars
    with_id = len(bars) == 3 and not double
    if double and len(bars) > 3:
        raise FormulaError("A term with '||' takes no ID: (1 + x || g) makes the effects independent, "
                           "(1 + x | p | g) correlates them across linear predictors; choose one.",
                           formula, bars[3][2] - 1)
    if len(bars) > 3:
        raise FormulaError("A random-effect term has more than two '|': write (1 | g) or (1 | p | g).",
                           formula, bars[3][2] - 1)
    lhs, (_, group, gpos) = bars[0][1], bars[-1]
    term_id = _term_id(bars, formula) if with_id else ""
    intercept, terms = _parse_lhs(lhs, formula, position)
    blocks = []
    for factors in _parse_group(group.strip(), formula, gpos + len(group) - len(group.lstrip())):
        blocks.append(RandomTerm(tuple(terms), intercept, ":".join(factors), factors, not double, position,
                                 term_id))
    return blocks


def joined_ids(random: list[RandomTerm], text: str) -> list[RandomTerm]:
    """Terms of one group with the same ID as one term (one correlated block), as brms joins them; an ID names the
    correlations of one grouping factor, so two groups cannot share one."""
    joined, groups = {}, {}
    for term in random:
        if term.id and groups.setdefault(term.id, term.group) != term.group:
            raise FormulaError(f"The ID '{term.id}' is given to groups '{groups[term.id]}' and '{term.group}': an ID "
                               "correlates the effects of one grouping factor. Give each group its own ID "
                               f"((1 | p | {groups[term.id]}) + (1 | q | {term.group})); '/' nesting makes two "
                               "groups, so write the nested terms with an ID each.", text, term.position)
        key = (term.group, term.id) if term.id else id(term)
        if key in joined:
            first = joined[key]
            extra = tuple(t for t in term.terms if t not in first.terms)
            joined[key] = dataclasses.replace(first, terms=first.terms + extra,
                                              intercept=first.intercept or term.intercept)
        else:
            joined[key] = term
    return list(joined.values())


def check_duplicates(random: list[RandomTerm], text: str) -> None:
    seen = {}
    for block in random:
        for term in (["(Intercept)"] if block.intercept else []) + list(block.terms):
            key = (block.group, term)
            if key in seen:
                raise FormulaError(f"'{term}' varies by '{block.group}' in two random-effect terms; keep it in one.",
                                   text, block.position)
            seen[key] = block


def check_ids_across(terms_by_formula: dict) -> None:
    """Refuse an ID shared between formulas (the mean's and a family parameter's, ``(1 | p | g)`` in both): brms
    correlates those effects across the parts, which bayesmm does not do, and treating them as independent would
    drop what the ID asks for. ``terms_by_formula``: argument name (``"formula"``, ``"zi"``, ...) -> RandomTerms."""
    seen = {}
    for where, terms in terms_by_formula.items():
        for term in terms:
            if term.id and seen.setdefault(term.id, where) != where:
                raise FormulaError(f"The ID '{term.id}' of ({term.lhs} | {term.id} | {term.group}) appears in the "
                                   f"{seen[term.id]} and in the {where}= formula: bayesmm does not correlate a group's "
                                   "effects across the mean and a zi, hu or dispersion part (brms's shared ID). Write "
                                   f"(1 | {term.group}) in each for independent effects.")
