"""Priors: parse distribution strings, resolve defaults autoscaled from the data, apply overrides.

Default priors (weakly informative, proper on every parameter, scaled so that the same formula gives
sensible answers whatever the units; after rstanarm's autoscaling and brms's defaults):

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

Overrides are a plain dict per class, term and group::

    {"b": "normal(0, 5)", "sd": {"Subject": "half_normal(10)"}, "Intercept": "normal(250, 100)"}
    {"b": {"Days": "normal(10, 5)"}, "sd": {"Subject": {"Days": "half_normal(5)"}}, "cor": "lkj(1)"}
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import Design
from .errors import PriorError, closest
from .families import LINKS, Family

__all__ = ["PriorSpec", "PriorEntry", "parse_prior", "resolve_priors", "DISTRIBUTIONS"]

# name -> (parameter names, indices that must be > 0, support)
DISTRIBUTIONS = {
    "normal": (("loc", "scale"), (1,), "real"),
    "student_t": (("df", "loc", "scale"), (0, 2), "real"),
    "cauchy": (("loc", "scale"), (1,), "real"),
    "logistic": (("loc", "scale"), (1,), "real"),
    "laplace": (("loc", "scale"), (1,), "real"),
    "uniform": (("low", "high"), (), "interval"),
    "flat": ((), (), "real"),
    "half_normal": (("scale",), (0,), "positive"),
    "half_student_t": (("df", "scale"), (0, 1), "positive"),
    "half_cauchy": (("scale",), (0,), "positive"),
    "exponential": (("rate",), (0,), "positive"),
    "gamma": (("shape", "rate"), (0, 1), "positive"),
    "inverse_gamma": (("shape", "scale"), (0, 1), "positive"),
    "lognormal": (("loc", "scale"), (1,), "positive"),
    "beta": (("a", "b"), (0, 1), "unit"),
    "lkj": (("eta",), (0,), "correlation"),
}
_HALF = {"normal": "half_normal", "student_t": "half_student_t", "cauchy": "half_cauchy"}


@dataclass(frozen=True)
class PriorSpec:
    """A parsed distribution string: ``PriorSpec("normal", (0.0, 5.0))``."""

    dist: str
    args: tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.dist}({', '.join(f'{a:.4g}' for a in self.args)})"

    @property
    def support(self) -> str:
        return DISTRIBUTIONS[self.dist][2]


@dataclass(frozen=True)
class PriorEntry:
    """One prior in effect: on class ``cls`` (``b``, ``Intercept``, ``sd``, ``cor``, ``sigma``, ...),
    for ``group`` and ``coef`` where it applies, and the rule (``source``) that produced it."""

    cls: str
    group: str
    coef: str
    prior: PriorSpec
    source: str


def parse_prior(text) -> PriorSpec:
    """Parse ``"student_t(3, 0, 2.5)"``; check the name, the number of arguments and their signs."""
    if isinstance(text, PriorSpec):
        return text
    if not isinstance(text, str):
        raise PriorError(f"A prior must be a string such as 'normal(0, 2.5)', not {text!r}.")
    match = re.fullmatch(r"\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*", text)
    if not match:
        raise PriorError(f"Cannot read the prior '{text}': write it as name(arguments), e.g. 'normal(0, 2.5)'.")
    name, body = match.group(1).lower(), match.group(2)
    if name not in DISTRIBUTIONS:
        raise PriorError(f"Unknown prior distribution '{name}'.{closest(name, DISTRIBUTIONS)} "
                         f"Valid names: {', '.join(DISTRIBUTIONS)}.")
    params, positive, _ = DISTRIBUTIONS[name]
    try:
        args = tuple(float(a) for a in body.split(",")) if body and body.strip() else ()
    except ValueError:
        raise PriorError(f"The arguments of '{text}' must be numbers.") from None
    if len(args) != len(params):
        raise PriorError(f"'{name}' takes {len(params)} argument(s) ({', '.join(params) or 'none'}), "
                         f"but '{text}' gives {len(args)}.")
    for i in positive:
        if not args[i] > 0:
            raise PriorError(f"The {params[i]} of '{text}' must be positive.")
    if name == "uniform" and not args[0] < args[1]:
        raise PriorError(f"'{text}': the lower bound must be below the upper bound.")
    if not all(np.isfinite(args)):
        raise PriorError(f"The arguments of '{text}' must be finite.")
    return PriorSpec(name, args)


def _for_class(spec: PriorSpec, cls: str, support: str, where: str) -> PriorSpec:
    """Check the prior's support fits the parameter; a location-0 real prior on an SD becomes its half form."""
    if spec.dist == "flat" and cls not in ("b", "Intercept"):
        raise PriorError(f"{where}: a flat prior on {cls} can leave the posterior improper; use a proper prior "
                         "such as half_student_t(3, 1) (or lkj(1) for correlations).")
    if support == "positive" and spec.support == "real" and spec.dist in _HALF:
        loc = spec.args[-2]
        if loc != 0:
            raise PriorError(f"{where}: '{spec}' on a positive parameter needs location 0 (it is then "
                             f"truncated at zero); or use half_normal, exponential, gamma, ...")
        return PriorSpec(_HALF[spec.dist], spec.args[:-2] + spec.args[-1:])
    if support == "positive" and spec.dist == "uniform" and spec.args[0] >= 0:
        return spec
    if support == "unit" and spec.dist == "uniform" and spec.args[0] >= 0 and spec.args[1] <= 1:
        return spec
    if support in ("positive", "unit") and spec.dist == "uniform":
        bounds = "bounds of at least 0" if support == "positive" else "bounds within [0, 1]"
        raise PriorError(f"{where}: '{spec}' reaches outside the values {cls} takes "
                         f"({'positive' if support == 'positive' else 'between 0 and 1'}); use {bounds}.")
    if support == "correlation" and spec.dist != "lkj":
        raise PriorError(f"{where}: correlations take an lkj(eta) prior, not '{spec}'.")
    if spec.support != support and not (support == "real" and spec.dist == "uniform"):
        kinds = {"real": "any real value", "positive": "positive values", "unit": "values in (0, 1)",
                 "correlation": "correlation matrices"}
        raise PriorError(f"{where}: '{spec}' is a prior for {kinds.get(spec.support, spec.support)}, but "
                         f"{cls} takes {kinds.get(support, support)}.")
    return spec


class _Overrides:
    """Looks user overrides up by class/group/coef and remembers which were used."""

    def __init__(self, priors):
        if priors is None:
            priors = {}
        if not isinstance(priors, dict):
            raise PriorError("priors must be a dict such as {'b': 'normal(0, 5)'} (presets come with a later "
                             f"release), not {type(priors).__name__}.")
        self.priors, self.used = priors, set()

    def get(self, cls: str, group: str = "", coef: str = ""):
        value = self.priors.get(cls)
        if value is None:
            return None
        self.used.add(cls)
        if isinstance(value, dict):
            keys = [k for k in (group, coef) if k]
            for key in keys[:1]:
                value = value.get(key, value.get(f"sd__{key}") if cls == "sd" else None)
                if isinstance(value, dict) and len(keys) > 1:
                    value = value.get(keys[1], value.get(f"sd__{keys[1]}"))
            if isinstance(value, dict) or value is None:
                return None
        return value

    def check_names(self, entries: list[PriorEntry], classes) -> None:
        for cls, value in self.priors.items():
            if cls not in classes:
                raise PriorError(f"The model has no parameter class '{cls}'.{closest(cls, classes)} "
                                 f"Classes: {', '.join(classes)}.")
            if not isinstance(value, dict):
                continue
            mine = [e for e in entries if e.cls == cls]
            for key, sub in value.items():
                names = {e.group or e.coef for e in mine}
                if key not in names and (cls != "sd" or key.removeprefix("sd__") not in names):
                    raise PriorError(f"Class '{cls}' has no {'group' if cls in ('sd', 'cor') else 'coefficient'} "
                                     f"'{key}'.{closest(key, names)} Valid: {', '.join(sorted(names))}.")
                if isinstance(sub, dict):
                    terms = {e.coef for e in mine if e.group == key}
                    for term in sub:
                        if term not in terms and term.removeprefix("sd__") not in terms:
                            raise PriorError(f"Group '{key}' has no term '{term}' with an SD.{closest(term, terms)} "
                                             f"Valid: {', '.join(sorted(terms))}.")


def _entry(overrides, cls, group, coef, default, rule, support) -> PriorEntry:
    user = overrides.get(cls, group, coef)
    where = f"prior on {cls}" + (f" {group}" if group else "") + (f" {coef}" if coef else "")
    if user is not None:
        return PriorEntry(cls, group, coef, _for_class(parse_prior(user), cls, support, where), "user")
    return PriorEntry(cls, group, coef, parse_prior(default), rule)


def _intercept_location(y: np.ndarray, family: Family, gaussian: bool) -> float:
    """Where the intercept prior is centred: mean(y), or link(mean(y)) kept inside (-10, 10)."""
    mean_y = float(np.mean(y))
    if gaussian:
        return mean_y
    upper = 1 - 1e-3 if family.response in ("binary", "binomial", "unit") else None
    with np.errstate(all="ignore"):
        location = float(LINKS[family.link](np.clip(mean_y, 1e-3, upper)))
    return float(np.clip(location, -10, 10)) if np.isfinite(location) else 0.0


def _part_entries(overrides, design: Design, aux, scale_y: float) -> list[PriorEntry]:
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
            entries.append(_entry(overrides, f"Intercept_{aux.name}", "", "", "logistic(0, 1)",
                                  "logistic(0, 1): uniform on the probability", "real"))
        elif name == "Intercept":
            loc = float(np.log(scale_y)) if aux.name == "sigma" else 0.0
            entries.append(_entry(overrides, f"Intercept_{aux.name}", "", "", f"student_t(3, {loc:.6g}, 2.5)",
                                  "student_t(3, log(s_y) for sigma else 0, 2.5)", "real"))
        else:
            sx = float(np.std(X[:, j])) or 1.0
            entries.append(_entry(overrides, f"b_{aux.name}", "", name, f"normal(0, {2.5 / sx:.6g})",
                                  "normal(0, 2.5 / s_x)", "real"))
    return entries


def resolve_priors(design: Design, family: Family, priors=None) -> list[PriorEntry]:
    """Every prior in effect for ``design`` and ``family``, defaults filled in as the module docstring says."""
    overrides = _Overrides(priors)
    y = design.y if design.trials is None else design.y / design.trials
    if family.log_response:
        y = np.log(y)
    gaussian = family.scale_from_data
    scale_y = float(np.std(y)) if gaussian else 1.0
    scale_y = scale_y if scale_y > 0 else 1.0
    location = _intercept_location(y, family, gaussian)
    entries = []
    names = list(design.fixed_names)
    if "Intercept" in names:
        entries.append(_entry(overrides, "Intercept", "", "", f"student_t(3, {location:.6g}, {2.5 * scale_y:.6g})",
                              "student_t(3, link(mean(y)), 2.5 s_y)", "real"))
    for j, name in enumerate(names):
        if name == "Intercept":
            continue
        sx = float(np.std(design.X[:, j])) or 1.0
        entries.append(_entry(overrides, "b", "", name, f"normal(0, {2.5 * scale_y / sx:.6g})",
                              "normal(0, 2.5 s_y / s_x)", "real"))
    sd_mult = 1.0 if gaussian else 2.5
    for block in design.blocks:
        for column, sz in zip(block.columns, block.column_scale):
            rule = f"half_student_t(3, {'s_y' if gaussian else '2.5'}" + (" / s_z)" if column != "Intercept" else ")")
            entries.append(_entry(overrides, "sd", block.group, column,
                                  f"half_student_t(3, {sd_mult * scale_y / sz:.6g})", rule, "positive"))
        if block.correlated and block.n_columns > 1:
            entries.append(_entry(overrides, "cor", block.group, "", "lkj(2)", "lkj(2)", "correlation"))
    for aux in family.aux:
        if aux.name in design.parts:
            entries += _part_entries(overrides, design, aux, scale_y)
            continue
        entries.append(_entry(overrides, aux.name, "", "", aux.default_prior.format(scale_y=f"{scale_y:.6g}"),
                              aux.default_prior.replace("{scale_y}", "s_y"), aux.support))
    classes = sorted({e.cls for e in entries} | {"b", "Intercept", "sd", "cor"})
    overrides.check_names(entries, classes)
    return entries


def priors_frame(entries: list[PriorEntry]) -> pd.DataFrame:
    """The table ``Model.priors`` shows."""
    return pd.DataFrame([{"class": e.cls, "group": e.group, "coef": e.coef, "prior": str(e.prior),
                          "source": e.source} for e in entries])
