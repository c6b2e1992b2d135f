"""Classic mixed-model data sets, shipped with the package: ``bmm.datasets.load("sleepstudy")``.

Grouping columns and factors are read as strings (their levels as lme4 sees them); see each
set's source in ``tests/reference/README.md``.
"""
from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from ..errors import DataError, closest

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load", "names", "simulate", "reading_flags", "EXAMPLES", "FACTORS"]

#: Columns read as factors (strings), as in the lme4 / glmmTMB reference fits.
FACTORS = {
    "cbpp": ["herd", "period"],
    "dyestuff": ["Batch"],
    "grouseticks": ["INDEX", "BROOD", "YEAR", "LOCATION"],
    "insteval": ["s", "d", "studage", "lectage", "service", "dept"],
    "orthodont": ["Subject", "Sex"],
    "owls": ["Nest", "FoodTreatment", "SexParent"],
    "pastes": ["batch", "cask", "sample"],
    "penicillin": ["plate", "sample"],
    "salamanders": ["site", "mined", "spp"],
    "sleepstudy": ["Subject"],
    "verbagg": ["item", "id", "Gender", "btype", "situ", "mode", "resp", "r2"],
    "wine": ["temp", "contact", "bottle", "judge"],
}


#: Worked examples for ``bayesmm example NAME``: data set, formula, family (the reference fits' models).
EXAMPLES = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian"),
    "cbpp": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    "penicillin": ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "gaussian"),
    "pastes": ("pastes", "strength ~ 1 + (1 | batch/cask)", "gaussian"),
    "orthodont": ("orthodont", "distance ~ age * Sex + (age | Subject)", "gaussian"),
    "dyestuff": ("dyestuff", "Yield ~ 1 + (1 | Batch)", "gaussian"),
    "grouseticks": ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson"),
    "verbagg": ("verbagg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "bernoulli"),
}


def names() -> list[str]:
    """The bundled data sets."""
    return sorted(FACTORS)


def simulate(name: str, seed: int | None = None) -> "pd.DataFrame":
    """Simulated data set ``name`` (``separation`` or ``singular``), with its documented seed by default."""
    from .simulated import simulate as simulated

    return simulated(name, seed)


def load(name: str) -> "pd.DataFrame":
    """Load a bundled data set as a DataFrame (factor columns as strings)."""
    import pandas as pd  # here, not at import: the command line's --help needs only the names above

    key = str(name).lower()
    if key not in FACTORS:
        raise DataError(f"No bundled data set '{name}'.{closest(key, FACTORS)} Available: {', '.join(names())}.")
    path = resources.files(__package__).joinpath(f"{key}.csv")
    with resources.as_file(path) as file:
        frame = pd.read_csv(file, dtype={c: str for c in FACTORS[key]})
    frame.attrs["name"] = key
    return frame


def reading_flags(frame: "pd.DataFrame") -> tuple:
    """The ``bayesmm fit`` flags that read the CSV of a bundled data set (``bayesmm data NAME``) as :func:`load`
    reads it: ``("--factors", "herd,period")`` for the factor columns whose levels are all numbers, which the
    command line would otherwise read as numeric."""
    import pandas as pd

    numeric = [c for c in FACTORS.get(frame.attrs.get("name"), [])
               if pd.to_numeric(frame[c], errors="coerce").notna().all()]
    return ("--factors", ",".join(numeric)) if numeric else ()
