"""Fits with random effects in a family parameter's formula, shared by the tests of their design, predictions,
summaries, diagnostics and save/load (one NUTS run each per process)."""
from __future__ import annotations

import functools
import pathlib
import warnings

import numpy as np
import pandas as pd
from scipy import special

import bayesmm as bmm

SHORT = dict(chains=2, draws=500, warmup=500)
REFERENCE = pathlib.Path(__file__).parent / "reference"

#: the simulated zero-inflated Poisson's truth: y ~ x + (1 | site), zi ~ w + (1 | site)
ZIP_TRUTH = {"Intercept": 1.0, "x": 0.5, "sd_site": 0.4, "zi_Intercept": -0.6, "zi_w": 1.0, "sd_site_zi": 1.2}


def zip_data(seed: int = 11, n_sites: int = 16, per_site: int = 25) -> pd.DataFrame:
    """Counts with site effects in the mean and in the zero-inflation probability."""
    rng = np.random.default_rng(seed)
    site = np.repeat(np.arange(n_sites), per_site)
    x, w = rng.normal(size=site.size), rng.integers(0, 2, site.size)
    t = ZIP_TRUTH
    mu = np.exp(t["Intercept"] + t["x"] * x + rng.normal(0, t["sd_site"], n_sites)[site])
    zi = special.expit(t["zi_Intercept"] + t["zi_w"] * w + rng.normal(0, t["sd_site_zi"], n_sites)[site])
    y = np.where(rng.uniform(size=site.size) < zi, 0, rng.poisson(mu))
    return pd.DataFrame({"y": y, "x": x, "w": w, "site": [f"s{i:02d}" for i in site]})


@functools.lru_cache(maxsize=None)
def zip_fit(seed: int = 1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("y ~ x + (1 | site)", zip_data(), family="zero_inflated_poisson", zi="~ w + (1 | site)",
                       seed=seed, **SHORT)


def gaussian_disp_data() -> pd.DataFrame:
    """The heteroscedastic gaussian simulated by ``reference/parts_re_reference.R`` (truth in ``parts_re.json``)."""
    return pd.read_csv(REFERENCE / "parts_re_gaussian.csv")


@functools.lru_cache(maxsize=None)
def gaussian_disp_fit(seed: int = 1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("y ~ x + (1 | g)", gaussian_disp_data(), dispersion="~ x + (1 | g)", seed=seed, **SHORT)
