"""Fit -> brms's ``hypothesis()`` table for statements about parameters (``"Days > 5"``,
``"period[2] - period[3] = 0"``).

A hypothesis is ``left (< | > | =) right``, each side an arithmetic expression (``+ - * / **``, parentheses,
numbers, ``exp``, ``log``, ``sqrt``, ``abs``) of parameters named as :mod:`bayesmm.answers.evidence` names them.
It is evaluated on every posterior draw as ``h = left - right`` and summarised as brms's
``hypothesis`` does (brms ``R/hypothesis.R``):

* ``Estimate``, ``Est.Error``: posterior mean and SD of ``h``;
* ``CI.Lower``, ``CI.Upper``: the equal-tailed ``prob`` interval of ``h`` for ``=``; for ``>`` the lower
  ``1 - prob`` quantile and ``inf``, for ``<`` ``-inf`` and the upper ``prob`` quantile (one-sided);
* ``Post.Prob``: for ``>`` (``<``) the share of draws with ``h > 0`` (``h < 0``); ``Evid.Ratio`` its odds,
  ``Post.Prob / (1 - Post.Prob)`` (``inf`` when every draw agrees);
* for ``=``: ``Evid.Ratio`` is the Savage-Dickey ratio posterior density / prior density of ``h`` at 0
  (evidence *for* the point hypothesis, brms's convention), available when ``h`` is an affine function of
  fixed effects whose prior density has a closed form (one parameter with any such prior, or several with
  independent normal priors); ``Post.Prob`` is then ``Evid.Ratio / (1 + Evid.Ratio)`` (prior odds 1);
  otherwise both are ``nan``: brms needs prior draws there;
* ``Star``: ``*`` when 0 lies outside the interval.
"""
from __future__ import annotations

import ast
import re

import numpy as np
import pandas as pd

from ..errors import BayesMMError, closest
from .arguments import check_prob
from .evidence import AnswerTable, catalogue, draws_of, log_density_at, prior_log_density, prior_of, valid_names

__all__ = ["hypothesis", "parse_hypothesis"]

_FUNCTIONS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs}
_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}
_PLACEHOLDER = "__p{}__"


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def parse_hypothesis(text: str, names) -> tuple[str, str, list]:
    """(expression of ``h`` with placeholders, sign, [parameter names in placeholder order]).

    Parameter names are matched whitespace-insensitively, longest first, so ``Days:x`` is not read as
    ``Days``; what is left must be numbers, operators and the functions above."""
    if not isinstance(text, str) or not text.strip():
        raise BayesMMError(f"A hypothesis must be a string such as 'Days > 5', not {text!r}.")
    body = _compact(text)
    compact = {}
    for name in names:
        compact.setdefault(_compact(name), name)
    used = []
    for key in sorted(compact, key=len, reverse=True):
        pattern = r"(?<![\w.\]])" + re.escape(key) + r"(?![\w.\[])"
        if re.search(pattern, body):
            body = re.sub(pattern, lambda _: _PLACEHOLDER.format(len(used)), body)
            used.append(compact[key])
    body = body.replace("==", "=").replace(">=", ">").replace("<=", "<")
    signs = re.findall(r"[<>=]", body)
    if len(signs) != 1:
        raise BayesMMError(f"The hypothesis '{text}' must be of the form 'left (< or > or =) right', with exactly "
                           "one comparison, e.g. 'Days > 5' or 'period[2] - period[3] = 0'.")
    left, right = body.split(signs[0])
    if not left or not right:
        raise BayesMMError(f"The hypothesis '{text}' has an empty side; write e.g. 'Days > 0'.")
    expression = f"({left})-({right})"
    _check_syntax(expression, text, names, used)
    return expression, signs[0], used


def _check_syntax(expression: str, text: str, names, used: list) -> None:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        tree = None
    unknown = []
    if tree is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and not re.fullmatch(r"__p\d+__", node.id) and node.id not in _FUNCTIONS:
                unknown.append(node.id)
            elif not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call,
                                       ast.Load, ast.USub, ast.UAdd, *_BINARY)):
                tree = None
                break
            elif isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
                                                     and len(node.args) == 1 and not node.keywords):
                tree = None
                break
            elif isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                                     or not isinstance(node.value, (int, float))):
                tree = None
                break
    if tree is None or unknown:
        leftover = re.sub(r"__p\d+__", "", expression)
        tokens = [t for t in re.findall(r"[A-Za-z_.][\w.:]*(?:\[[^\]]*\])?", leftover) if t not in _FUNCTIONS]
        culprit = tokens[0] if tokens else None
        if culprit:
            raise BayesMMError(f"The hypothesis '{text}' names '{culprit}', which is not a parameter of the fit."
                               f"{closest(culprit, names)} Valid names: {valid_names(list(names))}.")
        raise BayesMMError(f"Cannot read the hypothesis '{text}': use parameter names, numbers, + - * / ** and "
                           f"parentheses, and {', '.join(_FUNCTIONS)}().")


def _evaluate(node, values: list):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, values)
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return values[int(node.id[3:-2])]
    if isinstance(node, ast.UnaryOp):
        inner = _evaluate(node.operand, values)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_evaluate(node.left, values), _evaluate(node.right, values))
    return _FUNCTIONS[node.func.id](*[_evaluate(a, values) for a in node.args])


def _affine(tree, n: int):
    """(intercept, coefficients) when ``h`` is affine in its parameters (checked at random points)."""
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):
        base = float(_evaluate(tree, [0.0] * n))
        coefs = np.array([float(_evaluate(tree, list(np.eye(n)[i]))) - base for i in range(n)])
        for _ in range(3):
            point = rng.normal(size=n) * 3
            if not np.isclose(float(_evaluate(tree, list(point))), base + coefs @ point, rtol=1e-9, atol=1e-9):
                return None
    return (base, coefs) if np.all(np.isfinite(coefs)) and np.any(coefs != 0) and np.isfinite(base) else None


def _point_evidence(fit, tree, parameters: list, draws: np.ndarray) -> float:
    """Savage-Dickey: posterior density over prior density of h at 0 (nan where the prior is not closed-form)."""
    affine = _affine(tree, len(parameters))
    if affine is None:
        return np.nan
    base, coefs = affine
    if len(parameters) == 1:
        point = -base / coefs[0]
        prior_log, note = prior_log_density(fit, parameters[0], point)
        log_jacobian = np.log(abs(coefs[0]))  # density of h = a theta + c at 0 is p(theta0) / |a|
        if note:
            return np.nan
        return float(np.exp(log_density_at(draws, 0.0)[0] - prior_log + log_jacobian))
    specs = [prior_of(fit, p) if p.kind == "fixed" and p.term != "Intercept" else None for p in parameters]
    if any(s is None or s.dist != "normal" for s in specs):
        return np.nan
    mean = base + sum(c * s.args[0] for c, s in zip(coefs, specs))
    sd = np.sqrt(sum((c * s.args[1]) ** 2 for c, s in zip(coefs, specs)))
    prior_log = -0.5 * (mean / sd) ** 2 - np.log(sd * np.sqrt(2 * np.pi))
    return float(np.exp(log_density_at(draws, 0.0)[0] - prior_log))


def _one(fit, text: str, table: dict, prob: float) -> dict:
    expression, sign, used = parse_hypothesis(text, table)
    parameters = [table[name] for name in used]
    if not parameters:
        raise BayesMMError(f"The hypothesis '{text}' names no parameter of the fit. Valid names: "
                           f"{valid_names(list(table))}.")
    tree = ast.parse(expression, mode="eval")
    with np.errstate(all="ignore"):
        draws = np.broadcast_to(_evaluate(tree, [draws_of(fit, p) for p in parameters]),
                                draws_of(fit, parameters[0]).shape).ravel()
    if not np.all(np.isfinite(draws)):
        raise BayesMMError(f"The hypothesis '{text}' is not finite on some draws (log or sqrt of a negative "
                           "value, or a division by 0?); rewrite it.")
    if sign == "=":
        low, high = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])
        ratio = _point_evidence(fit, tree, parameters, draws)
        post_prob = ratio / (1 + ratio) if np.isfinite(ratio) else np.nan
    else:
        agree = float(np.mean(draws > 0) if sign == ">" else np.mean(draws < 0))
        low, high = (np.quantile(draws, 1 - prob), np.inf) if sign == ">" else (-np.inf, np.quantile(draws, prob))
        ratio, post_prob = (agree / (1 - agree) if agree < 1 else np.inf), agree
    label = re.sub(r"__p(\d+)__", lambda m: used[int(m.group(1))], expression).replace("-(0)", "")
    return {"Hypothesis": f"{label} {sign} 0", "Estimate": draws.mean(), "Est.Error": draws.std(ddof=1),
            "CI.Lower": low, "CI.Upper": high, "Evid.Ratio": ratio, "Post.Prob": post_prob,
            "Star": "*" if not low <= 0 <= high else ""}


def hypothesis(fit, hypotheses, prob: float = 0.95) -> pd.DataFrame:
    """brms's hypothesis table, one row per hypothesis (see the module docstring for each column)."""
    prob = check_prob(prob)
    if isinstance(hypotheses, str):
        hypotheses = [hypotheses]
    if not isinstance(hypotheses, (list, tuple)) or not hypotheses:
        raise BayesMMError("hypothesis() takes a string such as 'Days > 5' or a list of them.")
    table = catalogue(fit)
    return AnswerTable([_one(fit, h, table, prob) for h in hypotheses])
