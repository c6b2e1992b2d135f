"""Censored and truncated models against brms 2.18 and simulated truths (slow: NUTS runs of 2 chains x 1000
draws). ``tests/reference/censoring_reference.R`` made the data and ``censoring.json``: brms with the same priors
(4 chains x 2000 draws), and the values the data were simulated from.

* kidney, ``time | cens(censored) ~ age + sex + (1 | patient)``, weibull (18 of 76 right-censored);
* a detection limit, ``y | cens(censored) ~ x + (1 | g)``, gaussian (values below 1.5 left-censored);
* ``y | trunc(lb = 0) ~ x + (1 | g)``, gaussian; ``y | trunc(lb = 1) ~ x + (1 | g)``, zero-truncated poisson.

Each fixed effect, random-effect SD and family parameter must lie within 0.5 posterior SD (brms's) of brms's
posterior mean, and each simulated truth inside our 95% interval.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from reference_tools import REFERENCE

pytestmark = pytest.mark.slow

CASES = json.loads((REFERENCE / "censoring.json").read_text())
NAMES = ["kidney_weibull", "detection_limit", "truncated_gaussian", "zero_truncated_poisson"]
_FITS: dict = {}


def _fit(name: str):
    if name not in _FITS:
        case = CASES[name]
        df = pd.read_csv(REFERENCE / case["data"])
        for column, levels in case.get("factors", {}).items():
            df[column] = pd.Categorical(df[column], categories=levels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bmm.BayesMMWarning)
            _FITS[name] = bmm.fit(case["formula"], df, family=case["family"], priors=case["priors"], chains=2,
                                  warmup=1000, draws=1000, seed=1)
    return _FITS[name]


def _ours(fit) -> dict:
    """brms's variable name -> our tidy() row."""
    rows = {}
    for row in fit.tidy(prob=0.95).itertuples():
        if row.effect == "fixed":
            rows["b_" + row.term.replace("[", "").replace("]", "")] = row
        elif row.effect == "ran_pars" and row.group == "Residual":
            rows["sigma"] = row
        elif row.effect == "ran_pars":
            rows[f"sd_{row.group}__{row.term.removeprefix('sd__')}"] = row
        else:
            rows[row.term] = row
    return rows


@pytest.mark.parametrize("name", NAMES)
def test_matches_brms_within_half_a_posterior_sd(name):
    fit = _fit(name)
    ours = _ours(fit)
    reference = {row["variable"]: row for row in CASES[name]["summary"]}
    assert set(reference) <= set(ours), (set(reference) - set(ours), fit.tidy())
    far = {variable: (round(ours[variable].estimate, 4), round(row["mean"], 4), round(row["sd"], 4))
           for variable, row in reference.items() if abs(ours[variable].estimate - row["mean"]) > 0.5 * row["sd"]}
    assert not far, f"{name}: ours, brms's mean and SD: {far}"
    assert fit.tidy()["rhat"].max() < 1.02


@pytest.mark.parametrize("name", [n for n in NAMES if "truth" in CASES[n]])
def test_simulated_truth_inside_the_95_intervals(name):
    ours = _ours(_fit(name))
    names = {"Intercept": "b_Intercept", "x": "b_x", "sd_g": "sd_g__Intercept", "sigma": "sigma"}
    missed = {term: (value, ours[names[term]].conf_low, ours[names[term]].conf_high)
              for term, value in CASES[name]["truth"].items()
              if not ours[names[term]].conf_low <= value <= ours[names[term]].conf_high}
    assert not missed, f"{name}: truth outside [conf_low, conf_high]: {missed}"


def test_censoring_moves_the_estimates_as_it_should():
    """The detection-limit data fitted as if the limit were a value: the slope and sigma shrink; censoring
    brings them back (the truths 1 and 1 inside the censored fit's intervals, checked above)."""
    case = CASES["detection_limit"]
    df = pd.read_csv(REFERENCE / case["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        naive = bmm.fit("y ~ x + (1 | g)", df, priors=case["priors"], chains=2, warmup=500, draws=500, seed=1)
    naive_rows, censored_rows = _ours(naive), _ours(_fit("detection_limit"))
    assert naive_rows["b_x"].estimate < censored_rows["b_x"].estimate - 0.05
    assert naive_rows["sigma"].estimate < censored_rows["sigma"].estimate - 0.05
    assert np.mean(df["censored"] == "left") > 0.2
