"""Prior rules: distribution strings whose arguments may be expressions of the data's scales, and presets.

A rule such as ``"normal(0, 2.5 s_y / s_x)"`` is resolved per parameter into numbers. Arguments are numbers
or arithmetic (``+ - * /``, ``max``, ``min``, ``sqrt``, ``log``, ``exp``; a number before a name multiplies:
``2.5 s_y``) of these quantities (:class:`DataScales`):

* ``s_y``: the response's SD for identity-link continuous models (of ``log y`` for lognormal), 1 on link
  scales (rstanarm's autoscaling);
* ``link(mean(y))``: where the default intercept prior is centred (``mean(y)`` or ``link(mean(y))``);
* ``median_y``, ``mad_y``: brms's ``def_scale_prior``: median and MAD of ``link(y)`` (zeros become 0.1 under
  log/inverse links), rounded to one decimal; 0 where ``link(y)`` is not finite (logit, probit, ...), so
  that ``max(2.5, mad_y)`` gives brms's scale;
* ``s_x`` (coefficients): the SD of the coefficient's design column; ``g_x``: Gelman et al. (2008)'s scale
  of the column: its range when it takes two values (binary input), twice its SD otherwise;
* ``s_z`` (random-effect SDs): the SD of the varying column, 1 for an intercept (the rule is then shown
  without ``/ s_z``).

Presets are TOML files (``bayesmm/presets``, also reachable as the top-level ``priors/`` folder): keys are
prior classes, values rules or tables by group / coefficient (the same layout as the ``priors=`` dict),
an optional ``[link_scale]`` table replaces rules for models on a link scale (``s_y = 1``), and
``description`` says what the preset is for.
"""
from __future__ import annotations

import ast
import math
import operator
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .design import Design
from .errors import PriorError, closest
from .families import Family
from .links import LINKS

__all__ = ["DataScales", "data_scales", "gelman_scale", "split_prior", "evaluate_argument", "load_preset", "rules_for",
           "PRESET_DIR", "preset_names"]

PRESET_DIR = Path(__file__).parent / "presets"
_PHRASES = {"link(mean(y))": "link_mean_y"}
_FUNCTIONS = {"max": max, "min": min, "sqrt": math.sqrt, "log": math.log, "exp": math.exp, "abs": abs}
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.Pow: operator.pow, ast.USub: operator.neg, ast.UAdd: operator.pos}


@dataclass(frozen=True)
class DataScales:
    """The data quantities a rule may use (see the module docstring); per-parameter ones are added later."""

    s_y: float
    link_mean_y: float
    median_y: float
    mad_y: float
    link_scale: bool

    def variables(self, **extra: float) -> dict:
        return {"s_y": self.s_y, "link_mean_y": self.link_mean_y, "median_y": self.median_y,
                "mad_y": self.mad_y, **extra}


def brms_location_scale(y: np.ndarray, link: str) -> tuple[float, float]:
    """brms 2.18 ``def_scale_prior``: median and MAD of link(y), rounded to one decimal, for identity, log,
    inverse and sqrt links; (0, 0) otherwise or when they are not finite."""
    if link not in ("identity", "log", "inverse", "sqrt"):
        return 0.0, 0.0
    y = np.where(y == 0, y + 0.1, y) if link in ("log", "inverse") else y
    with np.errstate(all="ignore"):
        transformed = {"identity": y, "log": np.log(y), "inverse": 1 / y, "sqrt": np.sqrt(y)}[link]
        median = float(np.median(transformed))
        mad = float(1.4826 * np.median(np.abs(transformed - median)))
    return (round(median, 1) if np.isfinite(median) else 0.0), (round(mad, 1) if np.isfinite(mad) else 0.0)


def gelman_scale(column: np.ndarray) -> float:
    """Gelman et al. (2008): a binary input is scaled by its range, any other by twice its SD."""
    values = np.unique(column)
    if len(values) == 2:
        return float(values[1] - values[0])
    return 2 * float(np.std(column)) or 1.0


def data_scales(design: Design, family: Family) -> DataScales:
    """The model-wide quantities of the module docstring, from the design's response."""
    y = design.y if design.trials is None else design.y / design.trials
    if family.log_response:
        y = np.log(y[y > 0])  # hurdle_lognormal: the positive part
    gaussian = family.scale_from_data
    scale_y = float(np.std(y)) if gaussian else 1.0
    scale_y = scale_y if scale_y > 0 else 1.0
    median, mad = brms_location_scale(np.asarray(y, dtype=float), family.link)
    return DataScales(scale_y, _intercept_location(y, family, gaussian), median, mad, not gaussian)


def _intercept_location(y: np.ndarray, family: Family, gaussian: bool) -> float:
    """Where the intercept prior is centred: mean(y), or link(mean(y)) kept inside (-10, 10)."""
    mean_y = float(np.mean(y))
    if gaussian:
        return mean_y
    if family.response in ("ordinal", "categorical"):  # y holds category codes: thresholds and intercepts at 0
        return 0.0
    upper = 1 - 1e-3 if family.response in ("binary", "binomial", "unit") else None
    with np.errstate(all="ignore"):
        location = float(LINKS[family.link].link(np.clip(mean_y, 1e-3, upper)))
    return float(np.clip(location, -10, 10)) if np.isfinite(location) else 0.0


def split_prior(text: str) -> tuple[str, list[str]] | None:
    """``"normal(0, max(1, s_y))"`` -> ``("normal", ["0", "max(1, s_y)"])``: commas at the top level only;
    None when the text is not ``name`` or ``name(...)``."""
    match = re.fullmatch(r"\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*", text, flags=re.S)
    if not match:
        return None
    name, body = match.group(1).lower(), match.group(2)
    if body is None or not body.strip():
        return name, []
    args, depth, current = [], 0, ""
    for char in body:
        depth += (char == "(") - (char == ")")
        if depth < 0:
            return None
        if char == "," and depth == 0:
            args.append(current)
            current = ""
        else:
            current += char
    return (name, args + [current]) if depth == 0 else None


def evaluate_argument(text: str, variables: dict, where: str) -> float:
    """The value of one argument: a number, or arithmetic of the names in ``variables``."""
    source = text.strip()
    for phrase, name in _PHRASES.items():
        source = source.replace(phrase, name)
    source = re.sub(r"(\d(?:\.\d*)?(?:e[+-]?\d+)?)\s+(?=[A-Za-z_(])", r"\1 * ", source)
    try:
        tree = ast.parse(source, mode="eval")
        return float(_evaluate(tree.body, variables))
    except (SyntaxError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError) as err:
        names = ", ".join(["link(mean(y))" if n == "link_mean_y" else n for n in variables])
        detail = f" ('{err.args[0]}' is not one)" if isinstance(err, KeyError) else ""
        raise PriorError(f"The arguments of '{where}' must be numbers or arithmetic of {names}{detail}.") from None


def _evaluate(node, variables: dict):
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        return variables[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.left, variables), _evaluate(node.right, variables))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand, variables))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        return _FUNCTIONS[node.func.id](*[_evaluate(a, variables) for a in node.args])
    raise ValueError("unsupported expression")


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name_or_path) -> tuple[str, dict]:
    """(label, rules) of a preset name (``"boundary"``) or a TOML file path. ``rules`` has the classes at
    the top level; a ``[link_scale]`` table stays as it is for :func:`rules_for`."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith(".toml") or path.exists()):
        if text not in preset_names():
            raise PriorError(f"Unknown prior preset '{text}'.{closest(text, preset_names())} Presets: "
                             f"{', '.join(preset_names())}; or pass the path of a TOML file.")
        path, label = PRESET_DIR / f"{text}.toml", f"preset {text}"
    else:
        label = f"file {path.name}"
    try:
        rules = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PriorError(f"The prior file '{text}' does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError) as err:
        raise PriorError(f"Cannot read the prior file '{text}' as TOML: {err}.") from None
    rules.pop("description", None)
    return label, rules


def rules_for(rules: dict, link_scale: bool) -> dict:
    """A preset's rules for one model: the ``[link_scale]`` table replaces classes on link-scale models."""
    base = {k: v for k, v in rules.items() if k != "link_scale"}
    if link_scale:
        base.update(rules.get("link_scale", {}))
    return base
