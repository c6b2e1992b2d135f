"""Formula + data + family + priors -> a checked design with its priors: the front of the pipeline, shared by
:class:`bayesmm.Model`, :func:`bayesmm.load` (which rebuilds a saved fit's design without a Model) and
:func:`bayesmm.update` (a fit's call with some arguments changed: :func:`updated_call`)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .autocor import residual_autocor
from .categories import coded_response
from .censoring import check_bounds, check_family
from .column_types import check_numbers_as_text, warn_coded_numbers, with_factors
from .data import as_dataframe
from .design import Design, build_design
from .errors import DataError, FormulaError
from .families import Family, check_response, get_family, part_parameter
from .formula import FormulaSpec, expression_variables, parse_formula
from .random_terms import check_ids_across
from .formula_structures import parse_model_formula
from .formula_lexing import split_top
from .priors import PriorEntry, resolve_priors
from .separation import Separation, check_separation

__all__ = ["Call", "Prepared", "prepare", "updated_call", "updated_formula"]


@dataclass(frozen=True)
class Call:
    """The user's arguments of a model except the data: what rebuilds it (a saved fit keeps it)."""

    formula: str
    family: object = "gaussian"
    priors: object = None
    link: str | None = None
    na_action: str = "omit"
    weights: str | None = None
    zi: str | None = None
    hu: str | None = None
    dispersion: str | None = None
    #: an ordinal response's categories in order (:mod:`bayesmm.categories`)
    levels: tuple | None = None
    #: the residuals' correlation structure, ``"ar1(time | g)"`` (:mod:`bayesmm.autocor`)
    autocor: str | None = None
    #: columns read as factors (categoricals) before the design: :func:`bayesmm.column_types.with_factors`
    factors: tuple | None = None

    def arguments(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Prepared:
    """A checked model before sampling: its formula, family, design, priors in effect and separation finding."""

    spec: FormulaSpec
    family: Family
    design: Design
    prior_entries: tuple[PriorEntry, ...]
    separation: Separation


def _parts(spec: FormulaSpec, family: Family, formulas: dict) -> dict:
    """One-sided formulas for family parameters (``zi="~ mined + (1 | site)"``): fixed effects and random-effect
    terms (glmmTMB's ``ziformula``/``dispformula``, brms's distributional formulas); no offset."""
    parts, terms = {}, {"formula": spec.random}
    for argument, text in formulas.items():
        if text is None:
            continue
        if not isinstance(text, str) or not text.strip().startswith("~"):
            raise FormulaError(f"{argument}= takes a one-sided formula such as '~ x', not {text!r}.")
        part = parse_formula(f"{spec.response.text} {text.strip()}")
        if part.offsets:
            raise FormulaError(f"The {argument}= formula '{text}' has an offset; offsets are supported in the main "
                               "formula only. Add the column as a covariate of the part instead.")
        parts[part_parameter(family, argument)] = part
        terms[argument] = part.random
    check_ids_across(terms)
    return parts


def _check_levels(design: Design, family: Family) -> None:
    if any(a.name == "sigma" for a in family.aux) and np.ptp(design.y) == 0:
        raise DataError(f"The response '{design.response_name}' has the same value ({design.y[0]:g}) in all "
                        f"{design.n_obs} rows: with the {family.name} family the residual SD would shrink to 0 (an "
                        "improper posterior). Check the response column, or model a varying one.")
    for _, block in design.part_blocks("cond"):
        if block.n_levels >= design.n_obs and any(a.name == "sigma" for a in family.aux):
            raise DataError(f"Grouping factor '{block.group}' has as many levels ({block.n_levels}) as there "
                            f"are observations: with the {family.name} family its variance cannot be told "
                            "apart from the residual variance (sigma). An observation-level effect needs a "
                            "non-gaussian family without a residual SD (e.g. poisson); otherwise drop the term.")


def prepare(call: Call, data, keep_priors=None) -> Prepared:
    """Parse, build and check the design, resolve the priors and look for separation. ``keep_priors``: priors in
    effect to keep instead (a refit's), where they are on the same parameters as the resolved ones."""
    spec = parse_model_formula(call.formula)
    family = get_family(call.family, call.link)
    check_family(family, spec.response)
    parts = _parts(spec, family, {"zi": call.zi, "hu": call.hu, "dispersion": call.dispersion})
    data = with_factors(as_dataframe(data), call.factors)
    grouping = {f for s in (spec, *parts.values()) for r in s.random for f in r.group_factors}
    check_numbers_as_text(data, [v for s in (spec, *parts.values()) for v in s.variables if v not in grouping],
                          responses=[v for e in spec.response.exprs for v in expression_variables(e)])
    warn_coded_numbers(spec, data)
    design = build_design(spec, data, call.na_action, call.weights, parts)
    design = coded_response(design, family, call.levels, data)
    y, trials = check_response(family, design.y, design.trials, design.response_name, design.row_labels)
    check_bounds(family, y, design.bounds, design.row_labels)
    design = dataclasses.replace(design, y=y, trials=trials,
                                 autocor=residual_autocor(call.autocor, as_dataframe(data), design, family))
    _check_levels(design, family)
    entries = tuple(resolve_priors(design, family, call.priors))
    if keep_priors is not None and _parameters(keep_priors) == _parameters(entries):
        entries = tuple(keep_priors)
    return Prepared(spec, family, design, entries, check_separation(design, family, list(entries)))


def data_name(data) -> str:
    """The data's name for summaries: ``data.attrs["name"]`` of a DataFrame, else ``"data"``."""
    return (data.attrs.get("name") if isinstance(data, pd.DataFrame) else None) or "data"


def _parameters(entries) -> list:
    return [(entry.cls, entry.group, entry.coef) for entry in entries]


def updated_call(call: Call, changes: dict) -> Call:
    """``call`` with ``changes`` (any of its fields) in place of its own, the rest kept (brms's ``update``): the
    formula through :func:`updated_formula`; a new family without a ``link`` gets its own default link."""
    changes = dict(changes)
    if "formula" in changes:
        changes["formula"] = updated_formula(call.formula, changes["formula"])
    if "family" in changes and "link" not in changes and changes["family"] != call.family:
        changes["link"] = None
    return dataclasses.replace(call, **changes)


def updated_formula(old: str, new: str) -> str:
    """R's ``update.formula`` for the simple cases: ``". ~ . + x"`` adds a term, ``". ~ . - x"`` removes a term as
    the old formula writes it, a ``.`` or empty left side keeps the response (``"~ . + (1 | g)"``,
    ``". ~ x"``); any other formula replaces the old one.

    >>> updated_formula("y ~ x + (1 | g)", ". ~ . - x + z")
    'y ~ (1 | g) + z'
    """
    if not isinstance(new, str):
        raise FormulaError(f"formula= takes a formula string such as 'y ~ x + (1 | g)' or '. ~ . + x', not {new!r}.")
    sides = [piece.strip() for _, piece, _ in split_top(new, 0, "~")]
    if len(sides) != 2:
        return new  # not a two-sided update: parse_formula says what is wrong with it
    left, right = sides
    pieces = [(sign or "+", piece.strip()) for sign, piece, _ in split_top(right, 0, "+-")]
    dotted = pieces[0][1] == "."
    if left not in (".", "") and not dotted:
        return new
    old_left, old_right = [piece.strip() for _, piece, _ in split_top(old, 0, "~")]
    if any(piece == "." for _, piece in pieces[1:]):
        raise FormulaError(f"formula='{new}': '.' stands for the old right side only at its start ('. ~ . + x', "
                           "'. ~ . - x'); otherwise give the full formula.")
    terms = [(sign or "+", piece.strip()) for sign, piece, _ in split_top(old_right, 0, "+-") if piece.strip()]
    for sign, piece in pieces[1:] if dotted else ():
        written = [t for _, t in terms]
        same = [t for t in written if t.replace(" ", "") == piece.replace(" ", "")]
        if sign == "+":
            terms += [] if same else [("+", piece)]
        elif piece == "1":  # no intercept: whether or not the old formula wrote one
            terms = [(s, t) for s, t in terms if t != "1"] + [("-", "1")]
        elif same:
            terms = [(s, t) for s, t in terms if t not in same]
        else:
            raise FormulaError(f"formula='{new}': '{piece}' is not a term of '{old}' as it is written (terms: "
                               f"{written}), so it cannot be removed; give the full formula.")
    if not dotted:
        return f"{old_left} ~ {right}"
    text = " ".join(f"{sign} {term}" for sign, term in terms).removeprefix("+ ")
    return f"{old_left if left in ('.', '') else left} ~ {text or '1'}"
