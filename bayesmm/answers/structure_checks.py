"""``diagnose()`` findings on the parameter of a random-effect block's covariance structure
(:mod:`bayesmm.structures`):

* ``structure_edge``: ``rho`` of an ``ar1`` or ``cs`` block, or a ``toep`` block's correlation at some lag, whose
  95% interval reaches within :data:`EDGE_GAP` of the edge of its valid range (+1, or -1 for ``ar1`` and ``toep``
  and ``-1 / (q - 1)`` for ``cs`` with ``q`` columns);
* ``lscale_edge``: the length scale of an ``ou``, ``exp``, ``gau`` or ``mat`` block whose 95% interval reaches past
  the largest distance between the data's positions (the field is about constant over the data: a level per group)
  or below the smallest (the field is about independent between positions: white noise beside the residual).

In both cases the data cannot tell the structure from a simpler one, and the other variance parameters trade off
with it. The advice is code: the same call with the simpler term that the edge points to.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import naming
from ..random_terms import RandomTerm
from ..structures import parameter_terms

__all__ = ["structure_findings", "EDGE_GAP"]

#: how close to the edge of rho's range the 95% interval may reach
EDGE_GAP = 0.03


def _structured_term(spec, group: str):
    return next(t for t in spec.random if t.group == group and getattr(t, "structure", ""))


def _formula(spec, replace, add=()) -> str:
    """The formula with the structured term replaced by ``replace`` (None: dropped) and ``add`` appended."""
    random = tuple(r for r in ((replace(r) if getattr(r, "structure", "") else r) for r in spec.random)
                   if r is not None) + tuple(add)
    return str(dataclasses.replace(spec, random=random))


def _level(term) -> RandomTerm:
    """``(1 | g)`` for the structured term's group."""
    return RandomTerm((), True, term.group, term.group_factors)


def _code(fit, *calls) -> str:
    """One line of code per ``(formula, comment)``: the fit's call with that formula."""
    from .remedies import formula_code

    return "\n".join(f"{formula_code(fit, formula=formula)}  # {comment}" for formula, comment in calls)


def _rho_advice(fit, term, side: str) -> tuple[str, str]:
    spec, level = fit.design.spec, (_level(term),)
    instead = (_formula(spec, lambda r: None, add=level), f"or a level per {term.group} without the structure")
    if side == "+1":
        cause = ("the effects hardly revert to a mean within a level: each level has its own constant level or "
                 "trend that the structure takes up")
        return cause, _code(fit, (_formula(spec, lambda r: r, add=level), "each level's own level beside the "
                                  "structure"), instead)
    cause = ("the effects alternate in sign from one position to the next, or one column's effects mirror "
             "another's: a pattern over the times that the fixed part lacks")
    fixed = ".".join(term.terms)
    return cause, _code(fit, (_formula(spec, lambda r: r) + f" + C({fixed})", f"the mean at each {fixed} as a fixed "
                              "effect"), instead)


def _lscale_advice(fit, term, beyond: bool) -> tuple[str, str]:
    spec = fit.design.spec
    level = (_formula(spec, lambda r: None, add=(_level(term),)), f"a level per {term.group} instead of the field")
    if beyond:
        cause = ("the field is about constant over the data's distances: a level per group, or a trend over the "
                 "positions")
        trend = (_formula(spec, lambda r: r) + " + " + " + ".join(term.terms), "or the trend over the positions as "
                 "fixed effects")
        return cause, _code(fit, level, trend)
    cause = ("the field is about independent between the closest positions: the data cannot tell it from "
             "independent effects (or, in a gaussian model, from the residual)")
    return cause, _code(fit, (_formula(spec, lambda r: None), "without the field"), level)


def _finding(kind, name, message, advice) -> dict:
    return {"kind": kind, "parameter": naming.canonical(name), "message": message, "advice": advice}


def structure_findings(fit) -> list[dict]:
    """The findings of the module docstring, one per structured block's parameter at an edge."""
    found = []
    for block in fit.design.blocks:
        structure = block.structure
        if structure is None or structure.kind in ("us", "diag"):
            continue
        term = _structured_term(fit.design.spec, block.group)
        for parameter in parameter_terms(structure, block.n_columns):
            name = naming.structure_parameter(block.group, parameter)
            draws = fit.idata.posterior[naming.variable(name)].values
            if structure.kind == "toep":  # this lag's correlation
                draws = draws[..., int(parameter[len("toep__rho"):]) - 1]
            finding = _edge_finding(fit, block, term, name, draws.ravel())
            found += [finding] if finding else []
    return found


def _edge_finding(fit, block, term, name, draws) -> dict | None:
    """The finding on one parameter's draws, or None when its interval stays away from the edges."""
    structure = block.structure
    low, median, high = np.quantile(draws, [0.025, 0.5, 0.975])
    shown = f"posterior median {median:.3g}, 95% interval [{low:.3g}, {high:.3g}]"
    if structure.parameter == "rho":
        floor = -1.0 if structure.kind in ("ar1", "toep") else -1.0 / max(block.n_columns - 1, 1)
        if low > floor + EDGE_GAP and high < 1.0 - EDGE_GAP:
            return None
        side = "+1" if high >= 1.0 - EDGE_GAP else ("-1" if floor == -1.0 else f"{floor:.3g}")
        cause, code = _rho_advice(fit, term, side)
        label = "rho" if structure.kind != "toep" else f"the lag-{name.term[len('toep__rho'):]} correlation"
        return _finding("structure_edge", name, f"{label} of {term} is at {side} ({shown}): {cause}.", code)
    smallest, largest = structure.distance_range()
    if smallest <= low and high <= largest:
        return None
    beyond = high > largest
    edge = (f"beyond the largest distance between positions ({largest:.3g})" if beyond
            else f"below the smallest distance between positions ({smallest:.3g})")
    cause, code = _lscale_advice(fit, term, beyond)
    return _finding("lscale_edge", name, f"the length scale of {term} reaches {edge} ({shown}): {cause}.", code)
