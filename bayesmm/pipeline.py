"""Formula + data + family + priors -> a checked design with its priors: the front of the pipeline, shared by
:class:`bayesmm.Model` and :func:`bayesmm.load` (which rebuilds a saved fit's design without a Model)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import Design, build_design
from .errors import DataError, FormulaError
from .families import Family, check_response, get_family, part_parameter
from .formula import FormulaSpec, parse_formula
from .priors import PriorEntry, resolve_priors
from .separation import Separation, check_separation

__all__ = ["Call", "Prepared", "prepare"]


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
    """One-sided formulas for family parameters (``zi="~ mined"``): fixed effects only, for now."""
    parts = {}
    for argument, text in formulas.items():
        if text is None:
            continue
        if not isinstance(text, str) or not text.strip().startswith("~"):
            raise FormulaError(f"{argument}= takes a one-sided formula such as '~ x', not {text!r}.")
        part = parse_formula(f"{spec.response.text} {text.strip()}")
        if part.random or part.offsets:
            raise FormulaError(f"The {argument}= formula '{text}' has random effects or an offset; only fixed "
                               "effects are supported there so far. Move them to the main formula.")
        parts[part_parameter(family, argument)] = part
    return parts


def _check_levels(design: Design, family: Family) -> None:
    if any(a.name == "sigma" for a in family.aux) and np.ptp(design.y) == 0:
        raise DataError(f"The response '{design.response_name}' has the same value ({design.y[0]:g}) in all "
                        f"{design.n_obs} rows: with the {family.name} family the residual SD would shrink to 0 (an "
                        "improper posterior). Check the response column, or model a varying one.")
    for block in design.blocks:
        if block.n_levels >= design.n_obs and any(a.name == "sigma" for a in family.aux):
            raise DataError(f"Grouping factor '{block.group}' has as many levels ({block.n_levels}) as there "
                            f"are observations: with the {family.name} family its variance cannot be told "
                            "apart from the residual variance (sigma). An observation-level effect needs a "
                            "non-gaussian family without a residual SD (e.g. poisson); otherwise drop the term.")


def prepare(call: Call, data) -> Prepared:
    """Parse, build and check the design, resolve the priors and look for separation."""
    spec = parse_formula(call.formula)
    family = get_family(call.family, call.link)
    parts = _parts(spec, family, {"zi": call.zi, "hu": call.hu, "dispersion": call.dispersion})
    design = build_design(spec, data, call.na_action, call.weights, parts)
    y, trials = check_response(family, design.y, design.trials, design.response_name, design.row_labels)
    design = dataclasses.replace(design, y=y, trials=trials)
    _check_levels(design, family)
    entries = tuple(resolve_priors(design, family, call.priors))
    return Prepared(spec, family, design, entries, check_separation(design, family, list(entries)))


def data_name(data) -> str:
    """The data's name for summaries: ``data.attrs["name"]`` of a DataFrame, else ``"data"``."""
    return (data.attrs.get("name") if isinstance(data, pd.DataFrame) else None) or "data"
