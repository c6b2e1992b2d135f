"""Fits shared by tests/answers/ (test_evidence.py, test_hypothesis.py, test_compare.py, test_diagnostics.py) and
tests/test_io.py: one NUTS run each per process."""
from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

import bayesmm as bmm

SLEEP = bmm.datasets.load("sleepstudy")
SHORT = dict(chains=2, draws=500, warmup=500)


@functools.lru_cache(maxsize=None)
def sleep_fit(formula: str = "Reaction ~ Days + (Days | Subject)", seed: int = 1):
    return bmm.fit(formula, SLEEP, seed=seed, **SHORT)


@functools.lru_cache(maxsize=None)
def cbpp_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", bmm.datasets.load("cbpp"),
                       family="binomial", seed=1, **SHORT)


def null_data(seed: int, n_groups: int = 20, per_group: int = 10) -> pd.DataFrame:
    """y = 1 + 0 x + 1 (f in b, c) + u_g + e: x has no effect, and f[b] = f[c]."""
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    group = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=n)
    f = rng.choice(["a", "b", "c"], size=n)
    y = 1 + 0 * x + np.where(f == "a", 0.0, 1.0) + rng.normal(0, 0.7, n_groups)[group] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "f": f, "g": [f"g{i}" for i in group]})


@functools.lru_cache(maxsize=None)
def null_fit(seed: int):
    return bmm.fit("y ~ x + f + (1 | g)", null_data(seed), seed=seed, **SHORT)
