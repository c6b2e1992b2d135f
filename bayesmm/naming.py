"""One name per parameter, and every way the outputs write it.

A parameter's identity is a :class:`Name`: its kind, group, term(s), distributional part and (for a random
effect) level. Each output writes it in its own layout, through the functions here:

* :func:`canonical` (brms's variable names): ``Days``, ``zi_Intercept``, ``sd_Subject__Days``,
  ``cor_Subject__Intercept__Days``, ``sigma``, ``r_Subject[308,Intercept]``; a distributional part's random
  effects as brms writes them: ``sd_site__zi_Intercept``, ``cor_g__disp_Intercept__disp_x``,
  ``r_site__zi[R-1,Intercept]``;
* :func:`tidy_row` (broom.mixed): effect, component, group and term, e.g. group ``Subject`` with term
  ``sd__Days`` or ``cor__Intercept.Days``; the gaussian residual SD group ``Residual``, term ``sd__Observation``;
* :func:`varcorr_row` (lme4's ``VarCorr``): grp, var1, var2;
* :func:`summary_label` (brms's ``summary``): ``sd(Days)``, ``cor(Intercept,Days)`` under a ``~Subject`` heading;
* :func:`variable`: the posterior variable holding the draws (``b``, ``b_zi``, ``sd_Subject``, ``r_Subject``;
  a part's ``sd_site__zi``, ``r_site__zi``).

The canonical name is brms's variable name (without the ``b_`` of fixed effects): the one ``fit.intervals()``,
``fit.pvalues()`` and ``fit.hypothesis()`` take and ``fit.diagnose()``, the status line, warnings and the report
show, so a name read in a message can be pasted into a call. ``tidy()`` keeps broom.mixed's layout,
``varcorr()`` lme4's and ``print(fit)`` brms's (SD and correlation rows under a ``~group`` heading).
:func:`parse`, :func:`from_tidy`, :func:`from_varcorr` and :func:`from_summary_label` read each back.

>>> canonical(sd("Subject", "Days"))
'sd_Subject__Days'
>>> tidy_row(parse("cor_Subject__Intercept__Days"))
('ran_pars', 'cond', 'Subject', 'cor__Intercept.Days')
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["Name", "KINDS", "fixed", "sd", "cor", "family_parameter", "random_effect", "autocor", "structure_parameter", "STRUCTURE_TERM", "canonical", "parse",
           "tidy_row", "from_tidy", "varcorr_row", "from_varcorr", "summary_label", "from_summary_label",
           "variable", "level_dim", "term_dim", "lag_dim", "term_bis_dim", "coef_dim", "RESIDUAL_GROUP", "RESIDUAL_TERM"]

#: the kinds of parameter; a distributional part's coefficient is ``fixed`` with its ``part``
KINDS = {"fixed": 1, "sd": 1, "cor": 2, "family": 1, "ranef": 1, "autocor": 1, "structure": 1}
#: a covariance structure's parameter term, ``<structure>__<parameter>`` (``ar1__rho``, ``exp__lscale``; ``toep``'s
#: correlation per lag ``toep__rho1``, ``toep__rho2``, ...)
STRUCTURE_TERM = re.compile(r"(ar1|ou|cs|toep|exp|gau|mat)__(rho\d*|lscale)")

#: broom.mixed's group and term of the gaussian residual SD
RESIDUAL_GROUP, RESIDUAL_TERM = "Residual", "sd__Observation"


@dataclass(frozen=True)
class Name:
    """Who a parameter is: ``kind`` (one of :data:`KINDS`), ``terms`` (one term; two for a correlation; a family
    parameter's own name, ``sigma``), ``group`` (the grouping factor of an SD, correlation or random effect),
    ``part`` (``cond``, or the distributional part of a coefficient: ``zi``, ``hu``, ``disp``) and ``level``
    (a random effect's level)."""

    kind: str
    terms: tuple[str, ...]
    group: str = ""
    part: str = "cond"
    level: str = ""

    def __post_init__(self):
        if KINDS.get(self.kind) != len(self.terms):
            raise ValueError(f"A {self.kind!r} parameter has {KINDS.get(self.kind, '?')} term(s), not {self.terms!r}.")

    @property
    def term(self) -> str:
        """The (first) term."""
        return self.terms[0]

    def __str__(self) -> str:
        return canonical(self)


def fixed(term: str, part: str = "cond") -> Name:
    """A fixed effect (``part``: ``cond``, or a distributional part's component such as ``zi``)."""
    return Name("fixed", (str(term),), part=str(part))


def sd(group: str, term: str, part: str = "cond") -> Name:
    """The SD of ``term``'s random effects in ``group`` (of a distributional part's formula: ``part="zi"``)."""
    return Name("sd", (str(term),), str(group), str(part))


def cor(group: str, first: str, second: str, part: str = "cond") -> Name:
    """The correlation of two terms' random effects in ``group``."""
    return Name("cor", (str(first), str(second)), str(group), str(part))


def family_parameter(name: str) -> Name:
    """A family parameter without a formula of its own (``sigma``, ``phi``, ``nu``, ``zi``, ...)."""
    return Name("family", (str(name),))


def random_effect(group: str, level, term: str, part: str = "cond") -> Name:
    """One level's random effect of ``term``."""
    return Name("ranef", (str(term),), str(group), str(part), str(level))


def autocor(parameter: str) -> Name:
    """The residual autocorrelation ``ar1__rho`` (``car1__rho``) of ``autocor=`` (:mod:`bayesmm.autocor`): component
    ``autocor``; ``tidy()`` row ``("ran_pars", "autocor", "Residual", "ar1__rho")``, beside the residual SD."""
    return Name("autocor", (str(parameter),), part="autocor")


def structure_parameter(group: str, term: str, part: str = "cond") -> Name:
    """The parameter of ``group``'s covariance structure, ``term`` as :data:`STRUCTURE_TERM` (``ar1__rho``):
    canonical ``ar1_g__rho``, ``tidy()`` row ``("ran_pars", "cond", "g", "ar1__rho")``, posterior variable ``ar1_g``."""
    return Name("structure", (str(term),), str(group), str(part))


def _in_part(term: str, part: str) -> str:
    """A term as brms writes it in a distributional part: ``zi_Intercept``."""
    return term if part == "cond" else f"{part}_{term}"


def _group_in_part(group: str, part: str) -> str:
    """A group as brms writes it in a part's random effects and bayesmm's posterior variables: ``site__zi``."""
    return group if part == "cond" else f"{group}__{part}"


# ------------------------------------------------------------------------------------------ canonical
def canonical(name: Name) -> str:
    """brms's variable name without the ``b_`` of fixed effects: ``Days``, ``zi_Intercept``, ``sd_Subject__Days``,
    ``cor_Subject__Intercept__Days``, ``sigma``, ``r_Subject[308,Intercept]``."""
    kind, term, part = name.kind, name.term, name.part
    if kind == "fixed":
        return _in_part(term, part)
    if kind == "sd":
        return f"sd_{name.group}__{_in_part(term, part)}"
    if kind == "cor":
        return f"cor_{name.group}__{_in_part(term, part)}__{_in_part(name.terms[1], part)}"
    if kind == "ranef":
        return f"r_{_group_in_part(name.group, part)}[{name.level},{term}]"
    if kind == "structure":
        return term.replace("__", f"_{name.group}__", 1)
    return term


@functools.lru_cache(maxsize=1)
def _known_family() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every family's parameter names, every distributional part's component)."""
    from .families import FAMILIES, part_component

    names = tuple(dict.fromkeys(a.name for f in FAMILIES.values() for a in f.aux))
    return names, tuple(dict.fromkeys(part_component(n) for n in names))


def parse(text: str, family=None, parts=None) -> Name:
    """The :class:`Name` of a canonical name. ``family`` (the fit's family parameters) and ``parts`` (its parts'
    components) tell ``sigma`` and ``zi_x`` from fixed effects of those names; by default every family's."""
    text = str(text)
    if re.fullmatch(r"c?ar1__rho", text):
        return autocor(text)
    known_family, known_parts = _known_family()
    family = known_family if family is None else tuple(family)
    parts = known_parts if parts is None else tuple(parts)
    structured = re.fullmatch(r"(ar1|ou|cs|toep|exp|gau|mat)_(.+)__(rho\d*|lscale)", text)
    if structured:
        return structure_parameter(structured.group(2), f"{structured.group(1)}__{structured.group(3)}")
    ranef = re.fullmatch(r"r_([^\[]+)\[(.*)\]", text)
    if ranef:
        level, term = _split_last_comma(ranef.group(2))
        group, _, part = ranef.group(1).rpartition("__")
        if term:
            return random_effect(group, level, term, part) if group and part in parts else random_effect(
                ranef.group(1), level, term)
    if text.startswith("sd_") and "__" in text[3:]:
        group, _, term = text[3:].partition("__")
        if group and term:
            part = _part_of(term, parts)
            return sd(group, term[len(part) + 1:], part) if part else sd(group, term)
    if text.startswith("cor_") and text[4:].count("__") >= 2:
        group, _, pair = text[4:].partition("__")
        first, _, second = pair.partition("__")
        if group and first and second:
            part = _part_of(first, parts)
            if part and _part_of(second, parts) == part:
                return cor(group, first[len(part) + 1:], second[len(part) + 1:], part)
            return cor(group, first, second)
    for part in parts:
        if text.startswith(f"{part}_") and len(text) > len(part) + 1:
            return fixed(text[len(part) + 1:], part)
    return family_parameter(text) if text in family else fixed(text)


def _part_of(term: str, parts) -> str:
    """The part whose prefix a term written ``zi_Intercept`` carries, or ''."""
    return next((part for part in parts if term.startswith(f"{part}_") and len(term) > len(part) + 1), "")


def _split_last_comma(inside: str) -> tuple[str, str]:
    """``308,Intercept`` -> (``308``, ``Intercept``) at the last comma outside brackets, so a term such as
    ``poly(x, 2)1`` or a level such as ``Smith, J`` is kept whole."""
    depth = 0
    for position in range(len(inside) - 1, -1, -1):
        char = inside[position]
        depth += char in ")]"
        depth -= char in "(["
        if char == "," and depth == 0:
            return inside[:position], inside[position + 1:]
    return inside, ""


# ------------------------------------------------------------------------------------ broom.mixed
def tidy_row(name: Name, residual: bool = False) -> tuple[str, str, str, str]:
    """broom.mixed's (effect, component, group, term): fixed effects ``("fixed", part, "", term)``; SDs and
    correlations ``("ran_pars", part, group, "sd__Days" / "cor__Intercept.Days")``; family parameters
    ``("family", "cond", "", "phi")``, or with ``residual`` (the gaussian sigma) ``("ran_pars", "cond",
    "Residual", "sd__Observation")``."""
    kind, term = name.kind, name.term
    if kind == "fixed":
        return "fixed", name.part, "", term
    if kind == "sd":
        return "ran_pars", name.part, name.group, f"sd__{term}"
    if kind == "cor":
        return "ran_pars", name.part, name.group, f"cor__{term}.{name.terms[1]}"
    if kind == "family":
        return ("ran_pars", "cond", RESIDUAL_GROUP, RESIDUAL_TERM) if residual else ("family", "cond", "", term)
    if kind == "autocor":
        return "ran_pars", "autocor", RESIDUAL_GROUP, term
    if kind == "structure":
        return "ran_pars", name.part, name.group, term
    raise ValueError(f"{canonical(name)} is a random effect: tidy() has no row for it.")


def from_tidy(effect: str, component: str, group: str, term: str, terms=None) -> Name:
    """The :class:`Name` of a ``tidy()`` row. ``terms`` (the group's terms) splits ``cor__a.b`` where a term has
    a dot in its name; without them it splits at the first dot."""
    effect, component, group, term = str(effect), str(component), str(group), str(term)
    if effect == "fixed":
        return fixed(term, component)
    if component == "autocor":
        return autocor(term)
    if group == RESIDUAL_GROUP and term == RESIDUAL_TERM:
        return family_parameter("sigma")
    if effect == "family":
        return family_parameter(term)
    kind, _, names = term.partition("__")
    if effect == "ran_pars" and STRUCTURE_TERM.fullmatch(term):
        return structure_parameter(group, term, component)
    if effect == "ran_pars" and kind == "sd" and names:
        return sd(group, names, component)
    if effect == "ran_pars" and kind == "cor" and "." in names:
        return cor(group, *_split_pair(names, terms), component)
    raise ValueError(f"Not a tidy() parameter row: {(effect, component, group, term)!r}.")


def _split_pair(names: str, terms) -> tuple[str, str]:
    dots = [m.start() for m in re.finditer(r"\.", names)]
    known = set(terms or ())
    for position in dots:
        if names[:position] in known and names[position + 1:] in known:
            return names[:position], names[position + 1:]
    return names[:dots[0]], names[dots[0] + 1:]


# ---------------------------------------------------------------------------------------- lme4
def varcorr_row(name: Name) -> tuple[str, str | None, str | None]:
    """lme4's ``as.data.frame(VarCorr(fit))`` (grp, var1, var2): ``("Subject", "Days", None)`` for an SD,
    ``("Subject", "Intercept", "Days")`` for a correlation, ``("Residual", None, None)`` for sigma. A part's SD has
    the same row; ``varcorr()``'s ``component`` column (``name.part``) tells them apart, as glmmTMB's ``VarCorr``
    lists each component's."""
    if name.kind == "sd":
        return name.group, name.term, None
    if name.kind == "cor":
        return name.group, name.term, name.terms[1]
    if name.kind == "family" and name.term == "sigma":
        return RESIDUAL_GROUP, None, None
    if name.kind == "autocor":  # rho: the residuals' correlation one step apart
        return RESIDUAL_GROUP, name.term, None
    if name.kind == "structure":
        return name.group, name.term, None
    raise ValueError(f"{canonical(name)} has no row in VarCorr.")


def from_varcorr(grp: str, var1: str | None, var2: str | None, component: str = "cond") -> Name:
    """The :class:`Name` of a ``varcorr()`` row."""
    if component == "autocor":
        return autocor(var1)
    if grp == RESIDUAL_GROUP and var1 is None:
        return family_parameter("sigma")
    if var2 is None and STRUCTURE_TERM.fullmatch(str(var1)):
        return structure_parameter(grp, var1, component)
    return sd(grp, var1, component) if var2 is None else cor(grp, var1, var2, component)


# ---------------------------------------------------------------------------------------- brms summary
def summary_label(name: Name) -> str:
    """The row label of ``print(fit)``: ``sd(Days)`` and ``cor(Intercept,Days)`` (under their ``~group``
    heading; a part's as brms's ``sd(zi_Intercept)``), the canonical name otherwise (``Days``, ``zi_Intercept``,
    ``sigma``)."""
    if name.kind == "sd":
        return f"sd({_in_part(name.term, name.part)})"
    if name.kind == "cor":
        return f"cor({_in_part(name.term, name.part)},{_in_part(name.terms[1], name.part)})"
    if name.kind == "structure":  # ar1(rho)
        return "{}({})".format(*name.term.split("__"))
    return canonical(name)


def from_summary_label(label: str, group: str = "", family=None, parts=None) -> Name:
    """The :class:`Name` of a summary row label; ``group`` is its heading's (for ``sd(...)`` and ``cor(...)``)."""
    match = re.fullmatch(r"(sd|cor)\((.*)\)", str(label))
    structured = re.fullmatch(r"(\w+)\((rho\d*|lscale)\)", str(label))
    if structured and group and STRUCTURE_TERM.fullmatch(f"{structured.group(1)}__{structured.group(2)}"):
        return structure_parameter(group, f"{structured.group(1)}__{structured.group(2)}")
    if match and group:
        if match.group(1) == "sd":
            return parse(f"sd_{group}__{match.group(2)}", family, parts)
        first, second = _split_last_comma(match.group(2))
        return parse(f"cor_{group}__{first}__{second}", family, parts)
    return parse(label, family, parts)


# ------------------------------------------------------------------------------------ posterior
def variable(name, group: str = "", part: str = "cond") -> str:
    """The posterior variable holding a parameter's draws (a :class:`Name`), or a whole variable by kind:
    ``variable("fixed")`` is ``b``, ``variable("fixed", part="zi")`` ``b_zi``, ``variable("sd", "Subject")``
    ``sd_Subject``, likewise ``cor_Subject`` and ``r_Subject``, and a part's ``variable("sd", "site", "zi")``
    ``sd_site__zi``; a family parameter's is its name."""
    if isinstance(name, Name):
        if name.kind in ("family", "autocor"):
            return name.term
        if name.kind == "structure":  # ar1_g
            return f"{name.term.partition('__')[0]}_{_group_in_part(name.group, name.part)}"
        kind, group, part = name.kind, name.group, name.part
    else:
        kind = name
    if kind == "fixed":
        return "b" if part == "cond" else f"b_{part}"
    prefix = {"sd": "sd", "cor": "cor", "ranef": "r"}.get(kind)
    if prefix is None or not group:
        raise ValueError(f"No posterior variable for kind {kind!r} and group {group!r}.")
    return f"{prefix}_{_group_in_part(group, part)}"


def level_dim(group: str, part: str = "cond") -> str:
    """The dimension of ``group``'s levels in the posterior (``Subject__level``; a part's ``site__zi__level``)."""
    return f"{_group_in_part(group, part)}__level"


def term_dim(group: str, part: str = "cond") -> str:
    """The dimension of ``group``'s terms (``Subject__term``); :func:`term_bis_dim` the second one of its
    correlation matrix."""
    return f"{_group_in_part(group, part)}__term"


def lag_dim(group: str, part: str = "cond") -> str:
    """The dimension of the lags of ``group``'s ``toep`` correlations (``g__lag``: 1, 2, ...)."""
    return f"{_group_in_part(group, part)}__lag"


def term_bis_dim(group: str, part: str = "cond") -> str:
    return f"{_group_in_part(group, part)}__term_bis"


def coef_dim(part: str = "cond") -> str:
    """The dimension of the fixed effects (``coef``) or of a distributional part's (``zi_coef``)."""
    return "coef" if part == "cond" else f"{part}_coef"
