"""The classes of random-effect priors and the check that every name a user's priors give exists in the model.

The mean's random-effect SDs and correlations have classes ``sd`` and ``cor``; those of a family parameter's formula
(``zi="~ (1 | site)"``, ``dispersion="~ (1 | g)"``) ``sd_<parameter>`` and ``cor_<parameter>`` (``sd_zi``,
``sd_sigma``), as brms's ``prior(..., class = sd, dpar = zi)``.
"""
from __future__ import annotations

from .errors import PriorError, closest
from .families import FAMILIES

__all__ = ["random_class", "random_kind", "check_names"]

_FAMILY_PARAMETERS = {aux.name for family in FAMILIES.values() for aux in family.aux}
_ABSENT = {"sd": " It has no random-effect terms such as (1 | g); drop the 'sd' prior.",
           "cor": " Correlations exist only in a block of two or more terms such as (x | g); drop the 'cor' prior."}


def random_class(kind: str, part: str = "cond") -> str:
    """The prior class of a random-effect SD or correlation (``kind``: ``sd`` or ``cor``) of ``part``: ``sd`` for
    the mean's (``part="cond"``), ``sd_zi`` for the zi= formula's (``part`` a family parameter).

    >>> random_class("sd", "zi"), random_class("cor", "cond")
    ('sd_zi', 'cor')
    """
    return kind if part == "cond" else f"{kind}_{part}"


def random_kind(cls: str) -> str | None:
    """``"sd"`` or ``"cor"`` for a random-effect prior class (``sd``, ``sd_zi``, ``cor_sigma``), else None."""
    if not isinstance(cls, str):
        return None
    kind = cls.partition("_")[0]
    return kind if kind in ("sd", "cor") and (cls == kind or cls[len(kind) + 1:] in _FAMILY_PARAMETERS) else None


def _absent_hint(cls: str, classes) -> str:
    if cls in _ABSENT:
        return _ABSENT[cls]
    if random_kind(cls):
        return (f" The {cls.partition('_')[2]} formula has no random-effect terms"
                f"{' of two or more columns' if random_kind(cls) == 'cor' else ''}; drop the '{cls}' prior.")
    return closest(cls, classes)


def check_names(rules: dict, entries, classes) -> None:
    """Every class, coefficient, group and term the user named (``rules``: class -> rule or table) exists among
    the priors in effect (``entries``, with their ``classes``)."""
    for cls, value in rules.items():
        if cls not in classes:
            raise PriorError(f"The model has no parameter class '{cls}'.{_absent_hint(cls, classes)} Classes: "
                             f"{', '.join(classes)}.")
        if not isinstance(value, dict):
            continue
        mine = [e for e in entries if e.cls == cls]
        names = {e.group or e.coef for e in mine}
        for key, sub in value.items():
            if key not in names and (random_kind(cls) != "sd" or key.removeprefix("sd__") not in names):
                raise PriorError(f"Class '{cls}' has no {'group' if random_kind(cls) else 'coefficient'} "
                                 f"'{key}'.{closest(key, names)} Valid: {', '.join(sorted(names))}.")
            if isinstance(sub, dict):
                terms = {e.coef for e in mine if e.group == key.removeprefix("sd__") or e.group == key}
                for term in sub:
                    if term not in terms and term.removeprefix("sd__") not in terms:
                        raise PriorError(f"Group '{key}' has no term '{term}' with an SD.{closest(term, terms)} "
                                         f"Valid: {', '.join(sorted(terms))}.")
