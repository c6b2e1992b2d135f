"""The prior distributions: one :class:`Distribution` record per name, read by every stage.

A record says what the prior string takes (argument names, which must be positive, whether they must
increase), where the variable lives (``support``), and how each stage computes with it: the numpyro
distribution the model samples (built from the ``numpyro.distributions`` module it is handed, so this
table imports neither jax nor numpyro), the closed-form median the sampler starts from, and the scipy
distribution (``logpdf``, ``pdf``, ``cdf``, ``ppf``, ``std``) that Savage-Dickey Bayes factors and the
prior-data conflict check read.

>>> round(float(DISTRIBUTIONS["half_normal"].median([1.0])), 6)
0.67449
>>> float(DISTRIBUTIONS["normal"].scipy([0.0, 1.0]).cdf(0.0))
0.5
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special, stats

__all__ = ["Distribution", "DISTRIBUTIONS", "HalfStudentT", "SUPPORTS"]

#: what each support means: the values a variable with that prior takes
SUPPORTS = {"real": "any real value", "positive": "positive values", "unit": "values in (0, 1)",
            "interval": "values between the two bounds", "correlation": "correlation matrices"}


class HalfStudentT:
    """``|T|`` for ``T ~ student_t(df, 0, scale)``, with the methods of a frozen scipy distribution that the
    answers use (scipy has no half-t)."""

    def __init__(self, df: float, scale: float):
        self.df, self.scale, self.t = df, scale, stats.t(df, scale=scale)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, np.log(2.0) + self.t.logpdf(x), -np.inf)

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, 2 * self.t.pdf(x), 0.0)

    def cdf(self, x):
        return np.maximum(2 * self.t.cdf(x) - 1, 0.0)

    def ppf(self, q):
        return self.t.ppf((1 + np.asarray(q)) / 2)

    def std(self) -> float:
        df = self.df
        if df <= 2:
            return np.inf
        log_ratio = special.gammaln((df + 1) / 2) - special.gammaln(df / 2)
        mean = 2 * self.scale * np.sqrt(df / np.pi) * np.exp(log_ratio) / (df - 1)
        return float(np.sqrt(self.scale**2 * df / (df - 2) - mean**2))


@dataclass(frozen=True)
class Distribution:
    """One prior distribution.

    ``arguments``: the names of its arguments, in the order the prior string gives them; ``positive``: those
    that must be above 0; ``increasing``: the arguments must increase (uniform's bounds); ``support``: a key
    of :data:`SUPPORTS`; ``numpyro(d, args)``: the numpyro distribution, ``d`` the ``numpyro.distributions``
    module (None for ``flat``, improper, and ``lkj``, built per block with its dimension); ``median(args)``:
    the median in closed form; ``scipy(args)``: a frozen scipy distribution; ``half``: the prior it becomes on
    a positive parameter at location 0 (``normal`` -> ``half_normal``); ``scale_argument``: ``(index, power)``
    of the argument that scales the variable (``scale * X`` has that argument times ``scale ** power``), for
    priors that can be set in units of sigma; ``proper``: False for ``flat``, whose density does not
    integrate (the model samples it as an improper site)."""

    name: str
    arguments: tuple[str, ...]
    positive: tuple[str, ...]
    support: str
    numpyro: Callable | None = None
    median: Callable | None = None
    scipy: Callable | None = None
    increasing: bool = False
    half: str = ""
    scale_argument: tuple[int, int] | None = None
    proper: bool = True


def _table(*records: Distribution) -> dict:
    return {record.name: record for record in records}


DISTRIBUTIONS = _table(
    Distribution("normal", ("loc", "scale"), ("scale",), "real",
                 numpyro=lambda d, a: d.Normal(a[0], a[1]), median=lambda a: a[0],
                 scipy=lambda a: stats.norm(a[0], a[1]), half="half_normal"),
    Distribution("student_t", ("df", "loc", "scale"), ("df", "scale"), "real",
                 numpyro=lambda d, a: d.StudentT(a[0], a[1], a[2]), median=lambda a: a[1],
                 scipy=lambda a: stats.t(a[0], a[1], a[2]), half="half_student_t"),
    Distribution("cauchy", ("loc", "scale"), ("scale",), "real",
                 numpyro=lambda d, a: d.Cauchy(a[0], a[1]), median=lambda a: a[0],
                 scipy=lambda a: stats.cauchy(a[0], a[1]), half="half_cauchy"),
    Distribution("logistic", ("loc", "scale"), ("scale",), "real",
                 numpyro=lambda d, a: d.Logistic(a[0], a[1]), median=lambda a: a[0],
                 scipy=lambda a: stats.logistic(a[0], a[1])),
    Distribution("laplace", ("loc", "scale"), ("scale",), "real",
                 numpyro=lambda d, a: d.Laplace(a[0], a[1]), median=lambda a: a[0],
                 scipy=lambda a: stats.laplace(a[0], a[1])),
    Distribution("uniform", ("low", "high"), (), "interval", increasing=True,
                 numpyro=lambda d, a: d.Uniform(a[0], a[1]), median=lambda a: (a[0] + a[1]) / 2,
                 scipy=lambda a: stats.uniform(a[0], a[1] - a[0])),
    Distribution("flat", (), (), "real", median=lambda a: 0.0, proper=False),
    Distribution("half_normal", ("scale",), ("scale",), "positive", scale_argument=(0, 1),
                 numpyro=lambda d, a: d.HalfNormal(a[0]), median=lambda a: a[0] * special.ndtri(0.75),
                 scipy=lambda a: stats.halfnorm(scale=a[0])),
    Distribution("half_student_t", ("df", "scale"), ("df", "scale"), "positive", scale_argument=(1, 1),
                 numpyro=lambda d, a: d.FoldedDistribution(d.StudentT(a[0], 0.0, a[1])),
                 median=lambda a: a[1] * special.stdtrit(a[0], 0.75), scipy=lambda a: HalfStudentT(a[0], a[1])),
    Distribution("half_cauchy", ("scale",), ("scale",), "positive", scale_argument=(0, 1),
                 numpyro=lambda d, a: d.HalfCauchy(a[0]), median=lambda a: a[0],
                 scipy=lambda a: stats.halfcauchy(scale=a[0])),
    Distribution("exponential", ("rate",), ("rate",), "positive", scale_argument=(0, -1),
                 numpyro=lambda d, a: d.Exponential(a[0]), median=lambda a: np.log(2.0) / a[0],
                 scipy=lambda a: stats.expon(scale=1 / a[0])),
    Distribution("gamma", ("shape", "rate"), ("shape", "rate"), "positive", scale_argument=(1, -1),
                 numpyro=lambda d, a: d.Gamma(a[0], a[1]), median=lambda a: special.gammaincinv(a[0], 0.5) / a[1],
                 scipy=lambda a: stats.gamma(a[0], scale=1 / a[1])),
    Distribution("inverse_gamma", ("shape", "scale"), ("shape", "scale"), "positive", scale_argument=(1, 1),
                 numpyro=lambda d, a: d.InverseGamma(a[0], a[1]),
                 median=lambda a: a[1] / special.gammaincinv(a[0], 0.5),
                 scipy=lambda a: stats.invgamma(a[0], scale=a[1])),
    Distribution("lognormal", ("loc", "scale"), ("scale",), "positive",
                 numpyro=lambda d, a: d.LogNormal(a[0], a[1]), median=lambda a: np.exp(a[0]),
                 scipy=lambda a: stats.lognorm(a[1], scale=np.exp(a[0]))),
    Distribution("beta", ("a", "b"), ("a", "b"), "unit",
                 numpyro=lambda d, a: d.Beta(a[0], a[1]), median=lambda a: special.betaincinv(a[0], a[1], 0.5),
                 scipy=lambda a: stats.beta(a[0], a[1])),
    Distribution("lkj", ("eta",), ("eta",), "correlation"),
)
