"""Priors: parse distribution strings, resolve presets and user priors into numbers with the data's scales.

``priors=`` takes a dict, a list of :func:`prior` objects, a preset name (``bayesmm/presets/*.toml``:
default, boundary, separation, brms, rstanarm, vague), a TOML file path, or a list mixing them. The
``default`` preset always lies underneath; a named preset on top of it, then the user's priors. User
priors beat presets, per-coefficient/per-term ones beat class-wide ones, later ones beat earlier ones.
Rules may be arithmetic of the data's scales (:mod:`bayesmm.prior_rules`).

Default priors (the ``default`` preset; weakly informative, proper on every parameter, scaled so that the
same formula gives sensible answers whatever the units; after rstanarm's autoscaling and brms's defaults):

* ``s_y`` is the response's SD for identity-link continuous models (gaussian, student_t, gamma; for
  lognormal, whose ``mu`` is the mean of ``log y``, the SD of ``log y``) and 1 for models on a link scale
  (logit, log, ...): a unit change on those scales is already large.
* ``Intercept`` (the intercept at the means of the predictors, which the sampler uses; the reported
  ``Intercept`` is transformed back): ``student_t(3, m, 2.5 s_y)`` where ``m`` is ``link(mean(y))``
  (``mean(y)`` on identity-link continuous models, ``mean(log y)`` for lognormal).
* ``b`` (each coefficient): ``normal(0, 2.5 s_y / s_x)`` with ``s_x`` the SD of its design column
  (rstanarm's autoscaled default). It keeps logistic coefficients finite under complete separation.
* ``sd`` (each random-effect SD): ``half_student_t(3, s_y / s_z)`` for gaussian and
  ``half_student_t(3, 2.5 / s_z)`` on link scales, ``s_z`` the SD of the varying column (1 for an
  intercept): brms's heavy-tailed default, but in the units of the slope.
* ``cor`` (each correlation block): ``lkj(2)``, mildly away from +/-1 where maximum likelihood often
  lands (a singular fit); ``lkj(1)`` would be uniform.
* family parameters: as their :class:`~bayesmm.families.Family` record says (the reasons are in
  ``bayesmm.families``), e.g. gaussian ``sigma``: ``half_student_t(3, s_y)``, negative binomial ``phi``:
  ``inverse_gamma(0.5, 0.5)``, ``zi``/``hu``: ``beta(1, 1)``.

Random effects in a family parameter's formula (``zi="~ (1 | site)"``) have classes of their own, as brms's
``prior(..., class = sd, dpar = zi)``: ``sd_zi``, ``cor_zi`` (``sd_sigma``, ``sd_phi``, ... for ``dispersion=``),
default ``half_student_t(3, 2.5 / s_z)`` and ``lkj(2)`` (the part's link scale); a class-wide ``sd`` prior is the
mean's only.

Overrides, per class, term and group (as a dict; the same layout in a TOML file)::

    {"b": "normal(0, 5)", "sd": {"Subject": "half_normal(10)"}, "Intercept": "normal(250, 100)"}
    {"b": {"Days": "normal(10, 5)"}, "sd": {"Subject": {"Days": "half_normal(5)"}}, "cor": "lkj(1)"}
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .autocor import AUTOCOR_CLASS, STRUCTURES, autocor_prior
from .categories import threshold_coefs
from .design import Design
from .distributions import DISTRIBUTIONS, SUPPORTS
from .errors import PriorError, closest
from .families import FAMILIES, Family
from .prior_table import PriorTable
from .prior_names import check_names, random_class, random_kind
from .structures import checked_parameter_prior, parameter_rule
from .prior_rules import DataScales, data_scales, evaluate_argument, gelman_scale, load_preset, rules_for, split_prior

__all__ = ["PriorSpec", "PriorEntry", "Prior", "prior", "parse_prior", "resolve_priors", "priors_frame",
           "random_class", "DISTRIBUTIONS"]

#: priors that can be put in units of sigma: those with a scale argument (the half forms after the others), then
#: the real-line ones with a half form
SIGMA_SCALABLE = tuple(sorted((name for name, record in DISTRIBUTIONS.items() if record.scale_argument or record.half),
                              key=lambda name: (DISTRIBUTIONS[name].support == "real", name.startswith("half_"))))


def in_units_of(spec: PriorSpec, scale) -> PriorSpec:
    """The prior of ``scale * X`` for ``X`` with prior ``spec``: the scale argument multiplied (or the rate
    divided) by ``scale``, which may be a jax value (a draw of sigma)."""
    index, power = DISTRIBUTIONS[spec.dist].scale_argument
    args = list(spec.args)
    args[index] = args[index] * scale if power > 0 else args[index] / scale
    return PriorSpec(spec.dist, tuple(args))


@dataclass(frozen=True)
class PriorSpec:
    """A parsed distribution string: ``PriorSpec("normal", (0.0, 5.0))``."""

    dist: str
    args: tuple[float, ...]
    #: ``"sigma"``: the prior is on the SD in units of the residual SD (``"exponential(1) * sigma"``,
    #: rstanarm's ``decov`` in gaussian models); ``""``: on the SD itself
    per: str = ""

    def __str__(self) -> str:
        return f"{self.dist}({', '.join(f'{a:.4g}' for a in self.args)})" + (f" * {self.per}" if self.per else "")

    @property
    def support(self) -> str:
        return DISTRIBUTIONS[self.dist].support


@dataclass(frozen=True)
class PriorEntry:
    """One prior in effect: on class ``cls`` (``b``, ``Intercept``, ``sd``, ``cor``, ``sigma``, ...),
    for ``group`` and ``coef`` where it applies, and the rule (``source``) that produced it."""

    cls: str
    group: str
    coef: str
    prior: PriorSpec
    source: str


def parse_prior(text, variables: dict | None = None) -> PriorSpec:
    """Parse ``"student_t(3, 0, 2.5)"``; check the name, the number of arguments and their signs. With
    ``variables``, arguments may be arithmetic of them (``"normal(0, 2.5 s_y / s_x)"``, see
    :mod:`bayesmm.prior_rules`)."""
    if isinstance(text, PriorSpec):
        return text
    if isinstance(text, Prior):
        text = text.text
    if not isinstance(text, str):
        raise PriorError(f"A prior must be a string such as 'normal(0, 2.5)', not {text!r}.")
    scaled = re.fullmatch(r"(.*\))\s*\*\s*sigma\s*", text, flags=re.S)
    if scaled:
        spec = parse_prior(scaled.group(1), variables)
        if spec.dist not in SIGMA_SCALABLE:
            raise PriorError(f"'{text}': only {', '.join(SIGMA_SCALABLE)} priors can be put in units of sigma.")
        return PriorSpec(spec.dist, spec.args, "sigma")
    parts = split_prior(text)
    if parts is None:
        raise PriorError(f"Cannot read the prior '{text}': write it as name(arguments), e.g. 'normal(0, 2.5)'.")
    name, raw_args = parts
    if name not in DISTRIBUTIONS:
        raise PriorError(f"Unknown prior distribution '{name}'.{closest(name, DISTRIBUTIONS)} "
                         f"Valid names: {', '.join(DISTRIBUTIONS)}.")
    record = DISTRIBUTIONS[name]
    params = record.arguments
    args = tuple(evaluate_argument(a, variables or {}, text) for a in raw_args)
    if len(args) != len(params):
        raise PriorError(f"'{name}' takes {len(params)} argument(s) ({', '.join(params) or 'none'}), "
                         f"but '{text}' gives {len(args)}.")
    if not all(np.isfinite(args)):
        raise PriorError(f"The arguments of '{text}' must be finite (they are {args}).")
    for argument, value in zip(params, args):
        if argument in record.positive and not value > 0:
            raise PriorError(f"The {argument} of '{text}' must be positive.")
    if record.increasing and not all(a < b for a, b in zip(args, args[1:])):
        raise PriorError(f"'{text}': the lower bound must be below the upper bound.")
    return PriorSpec(name, args)


def _for_class(spec: PriorSpec, cls: str, support: str, where: str) -> PriorSpec:
    """Check the prior's support fits the parameter; a location-0 real prior on an SD becomes its half form."""
    if spec.per:
        if cls != "sd":
            raise PriorError(f"{where}: '{spec}': only random-effect SDs (class sd) can be set in units of sigma.")
        checked = _for_class(PriorSpec(spec.dist, spec.args), cls, support, where)
        return PriorSpec(checked.dist, checked.args, spec.per)
    if spec.dist == "flat" and cls not in ("b", "Intercept"):
        raise PriorError(f"{where}: a flat prior on {cls} can leave the posterior improper; use a proper prior "
                         "such as half_student_t(3, 1) (or lkj(1) for correlations).")
    half = DISTRIBUTIONS[spec.dist].half
    if support == "positive" and spec.support == "real" and half:
        loc = spec.args[-2]
        if loc != 0:
            raise PriorError(f"{where}: '{spec}' on a positive parameter needs location 0 (it is then "
                             f"truncated at zero); or use half_normal, exponential, gamma, ...")
        return PriorSpec(half, spec.args[:-2] + spec.args[-1:])
    if support == "positive" and spec.dist == "uniform" and spec.args[0] >= 0:
        return spec
    if support == "unit" and spec.dist == "uniform" and spec.args[0] >= 0 and spec.args[1] <= 1:
        return spec
    if support in ("positive", "unit") and spec.dist == "uniform":
        bounds = "bounds of at least 0" if support == "positive" else "bounds within [0, 1]"
        raise PriorError(f"{where}: '{spec}' reaches outside the values {cls} takes "
                         f"({'positive' if support == 'positive' else 'between 0 and 1'}); use {bounds}.")
    if support in STRUCTURES:  # a residual autocorrelation (bayesmm.autocor): by its structure's range
        return autocor_prior(spec, support, where)
    if support == "correlation" and spec.dist != "lkj":
        raise PriorError(f"{where}: correlations take an lkj(eta) prior, not '{spec}'.")
    if spec.support != support and not (support == "real" and spec.dist == "uniform"):
        raise PriorError(f"{where}: '{spec}' is a prior for {SUPPORTS.get(spec.support, spec.support)}, but "
                         f"{cls} takes {SUPPORTS.get(support, support)}.")
    return spec


@dataclass(frozen=True)
class Prior:
    """One prior for a list of priors (brms's ``set_prior``): ``bmm.prior("student_t(3, 0, 2.5)", cls="b",
    coef="Days")``; ``group`` and ``coef`` pick a random-effect group and term for ``sd``/``cor``."""

    text: str
    cls: str = "b"
    coef: str = ""
    group: str = ""

    def as_dict(self) -> dict:
        if random_kind(self.cls) and self.group:
            return {self.cls: {self.group: {self.coef: self.text} if self.coef else self.text}}
        if self.group:
            raise PriorError(f"bmm.prior(..., cls='{self.cls}', group='{self.group}'): only sd and cor priors take "
                             "a group.")
        return {self.cls: {self.coef: self.text} if self.coef else self.text}


def prior(text: str, cls: str = "b", coef: str = "", group: str = "") -> Prior:
    """A prior on class ``cls`` (``b``, ``Intercept``, ``sd``, ``cor``, ``sigma``, a family parameter, or a
    distributional part's ``Intercept_zi``/``b_zi``/``sd_zi``/``cor_zi``), optionally one coefficient or group/term
    of it. Pass a list of them as ``priors=``; the text may use the data scales of :mod:`bayesmm.prior_rules`.

    >>> prior("student_t(3, 0, 2.5)", cls="b", coef="Days").as_dict()
    {'b': {'Days': 'student_t(3, 0, 2.5)'}}
    """
    for name, value in (("text", text), ("cls", cls), ("coef", coef), ("group", group)):
        if not isinstance(value, str):
            raise PriorError(f"bmm.prior: {name} must be a string, not {value!r}.")
    parse_prior(text, _ANY_VARIABLES)
    return Prior(text, cls, coef, group)


_FAMILY_PARAMETERS = {aux.name for family in FAMILIES.values() for aux in family.aux}
_ANY_VARIABLES = {name: 1.0 for name in ("s_y", "link_mean_y", "median_y", "mad_y", "s_x", "g_x", "s_z")}


@dataclass(frozen=True)
class _Layer:
    """One source of priors: a preset (generic rules) or what the user gave (checked against the model)."""

    label: str
    rules: dict
    user: bool


def _layers(priors, link_scale: bool) -> list[_Layer]:
    """The default preset (unless a preset is named), then each item of ``priors`` in order: user priors
    beat presets, more specific ones beat class-wide ones, later ones beat earlier ones."""
    if priors is None:
        items = []
    elif isinstance(priors, list):
        items = list(priors)
    elif isinstance(priors, (dict, Prior, str, Path)):
        items = [priors]
    else:
        raise PriorError("priors must be a dict such as {'b': 'normal(0, 5)'}, a preset name, a TOML file or a "
                         f"list of bmm.prior(...) objects, not {type(priors).__name__}.")
    items = ["default"] + items
    layers = []
    for item in items:
        if isinstance(item, (Prior, dict)):
            layers.append(_Layer("user", item.as_dict() if isinstance(item, Prior) else item, True))
        elif isinstance(item, str) and split_prior(item) and split_prior(item)[0] in DISTRIBUTIONS:
            raise PriorError(f"priors must be a dict such as {{'b': 'normal(0, 5)'}}, a preset name, a TOML file "
                             f"or a list of bmm.prior(...) objects; this list holds the bare prior {item!r}: say "
                             "which class it is for, e.g. bmm.prior('normal(0, 1)', cls='b').")
        elif isinstance(item, (str, Path)):
            label, rules = load_preset(item)
            user = _is_user_file(item)
            layers.append(_Layer(label, rules_for(rules, link_scale), user))
        else:
            raise PriorError(f"priors must be a dict such as {{'b': 'normal(0, 5)'}}, a preset name, a TOML file "
                             f"or a list of bmm.prior(...) objects; this list holds {item!r}.")
    return layers


def _is_user_file(item) -> bool:
    return isinstance(item, Path) or (isinstance(item, str) and item.endswith(".toml"))


def _lookup(rules: dict, cls: str, group: str, coef: str):
    """(rule, specificity) in one layer: 0 class-wide, 1 per group or coefficient, 2 per group and term."""
    value = rules.get(cls)
    if not isinstance(value, dict):
        return (value, 0) if value is not None else None
    keys = [k for k in (group, coef) if k]
    depth = 0
    for key in keys:
        if not isinstance(value, dict):
            break
        value = value.get(key, value.get(f"sd__{key}") if random_kind(cls) == "sd" else None)
        depth += 1
    return None if value is None or isinstance(value, dict) else (value, depth)


class _Resolver:
    """Looks each parameter's rule up in the layers and turns it into numbers with the data's scales."""

    def __init__(self, layers: list[_Layer], scales: DataScales, sigma: bool):
        self.layers, self.scales, self.sigma = layers, scales, sigma

    def entry(self, cls, group, coef, fallback: str, support: str, **variables) -> PriorEntry:
        found = []
        for index, layer in enumerate(self.layers):
            hit = _lookup(layer.rules, cls, group, coef)
            if hit is not None:
                found.append(((layer.user, hit[1], index), hit[0], layer))
        where = f"prior on {cls}" + (f" {group}" if group else "") + (f" {coef}" if coef else "")
        user = False
        if not found:
            rule, label = fallback, "default"
        else:
            _, rule, layer = max(found, key=lambda f: f[0])
            label, user = layer.label, layer.user
        values = self.scales.variables(**variables)
        spec = _for_class(parse_prior(rule, values), cls, support, where)
        if spec.per and not self.sigma:  # a preset's rule on a family without sigma: in units of s_y instead
            if user:
                raise PriorError(f"{where}: '{rule}' sets the SD in units of sigma, but this model has no residual "
                                 "SD (sigma); drop '* sigma'.")
            spec = in_units_of(PriorSpec(spec.dist, spec.args), values["s_y"])
        return PriorEntry(cls, group, coef, spec, _source(rule, label, cls, coef))


def _source(rule, label: str, cls: str, coef: str) -> str:
    """What ``model.priors`` shows next to the numbers: the rule and, unless it is the default, its origin."""
    text = str(rule)
    if random_kind(cls) == "sd" and coef == "Intercept":
        text = text.replace(" / s_z", "")
    if label == "user":
        try:
            parse_prior(text)
            return "user"
        except PriorError:
            return f"user: {text}"
    return text if label in ("default", "preset default") else f"{label.removeprefix('preset ')}: {text}"


def _part_entries(resolve: _Resolver, design: Design, aux) -> list[PriorEntry]:
    """Priors of a family parameter's own regression (logit link for probabilities, log link otherwise):
    ``Intercept_<name>``: for a probability (``zi``, ``hu``) ``logistic(0, 1)``, which is uniform on the
    probability, as the ``beta(1, 1)`` of a constant ``zi`` and brms's default (a heavier-tailed prior lets
    the chains wander far towards ``zi = 0`` when the zeros need no inflation: Rhat 1.016 seen with
    ``student_t(3, 0, 2.5)`` on zero-inflated NB salamanders); otherwise ``student_t(3, m, 2.5)`` with
    ``m = log(s_y)`` for ``sigma`` and 0 otherwise (a dispersion of 1); ``b_<name>``: ``normal(0, 2.5 / s_x)``."""
    X, names = design.parts[aux.name]
    entries = []
    for j, name in enumerate(names):
        if name == "Intercept" and aux.support == "unit":
            entries.append(resolve.entry(f"Intercept_{aux.name}", "", "", "logistic(0, 1)", "real"))
        elif name == "Intercept":
            loc = "log(s_y)" if aux.name == "sigma" else "0"
            entries.append(resolve.entry(f"Intercept_{aux.name}", "", "", f"student_t(3, {loc}, 2.5)", "real"))
        else:
            sx = float(np.std(X[:, j])) or 1.0
            entries.append(resolve.entry(f"b_{aux.name}", "", name, "normal(0, 2.5 / s_x)", "real",
                                         s_x=sx, g_x=gelman_scale(X[:, j])))
    return entries


def resolve_priors(design: Design, family: Family, priors=None) -> list[PriorEntry]:
    """Every prior in effect for ``design`` and ``family``: the default preset (or the named one), then the
    user's priors; rules are turned into numbers with the data's scales (:mod:`bayesmm.prior_rules`)."""
    scales = data_scales(design, family)
    layers = _layers(priors, scales.link_scale)
    resolve = _Resolver(layers, scales, any(a.name == "sigma" for a in family.aux) and "sigma" not in design.parts)
    entries = []
    names = list(design.fixed_names)
    if "Intercept" in names:
        entries.append(resolve.entry("Intercept", "", "", "student_t(3, link(mean(y)), 2.5 s_y)", "real"))
    for coef in threshold_coefs(design, family):  # ordinal: one intercept per threshold (bayesmm.families)
        entries.append(resolve.entry("Intercept", "", coef, "student_t(3, link(mean(y)), 2.5 s_y)", "real"))
    for j, name in enumerate(names):
        if name != "Intercept":
            column = design.X[:, j]
            entries.append(resolve.entry("b", "", name, "normal(0, 2.5 s_y / s_x)", "real",
                                         s_x=float(np.std(column)) or 1.0, g_x=gelman_scale(column)))
    for block in design.blocks:  # a part's SDs: on its link scale, where s_y = 1 has no use
        sd_rule = "half_student_t(3, s_y / s_z)" if block.part == "cond" else "half_student_t(3, 2.5 / s_z)"
        structure = block.structure
        shared = [(structure.label, 1.0)] if structure is not None and structure.positional else []
        for column, sz in shared or zip(block.columns, block.column_scale):
            entries.append(resolve.entry(random_class("sd", block.part), block.group, column, sd_rule, "positive",
                                         s_z=float(sz)))
        if structure is not None:  # rho or lscale (bayesmm.structures)
            cls, rule, variables = parameter_rule(block)
            entries.append(checked_parameter_prior(block, resolve.entry(
                cls, block.group, "", rule, "interval" if cls == "rho" else "positive", **variables), variables))
        elif block.correlated and block.n_columns > 1:

            entries.append(resolve.entry(random_class("cor", block.part), block.group, "", "lkj(2)", "correlation"))
    for aux in family.aux:
        if aux.name in design.parts:
            entries += _part_entries(resolve, design, aux)
        else:
            entries.append(resolve.entry(aux.name, "", "", aux.default_prior.replace("{scale_y}", "s_y"),
                                         aux.support))
    if design.autocor is not None:  # uniform over the stationary range, nlme's and brms's (flat) choice
        structure = design.autocor.structure
        entries.append(resolve.entry(AUTOCOR_CLASS, "", "", f"uniform({-1 if structure == 'ar1' else 0}, 1)",
                                     structure))
    classes = sorted({e.cls for e in entries} | {"b", "Intercept"})  # sd, cor: only with such terms
    for layer in layers:
        if layer.user:
            rules = layer.rules
            if layer.label.startswith("file "):  # a user's preset file may name other families' parameters
                rules = {k: v for k, v in rules.items() if k not in _FAMILY_PARAMETERS or k in classes}
            check_names(rules, entries, classes)
    return entries


def priors_frame(entries: list[PriorEntry]) -> pd.DataFrame:
    """The table ``Model.priors`` shows: the numbers in effect and the rule that produced them."""
    return PriorTable([{"class": e.cls, "group": e.group, "coef": e.coef, "prior": str(e.prior),
                        "source": e.source} for e in entries])
