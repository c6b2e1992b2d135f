"""Covariance-structure fits against glmmTMB 1.1.5 on simulated data (tests/reference/structures_reference.R ->
structures.json and structures_*.csv) and against the simulated truths: fixed effects within half a posterior SD of
glmmTMB's, glmmTMB's SDs, rho and length scales inside the 95% intervals, and the truths inside the 99% intervals
(a dozen truths per data set: at 95% one of them would fall outside by chance in about half of the data sets).

glmmTMB's ``ou`` and ``exp`` correlations are ``exp(-d / l)``, bayesmm's too; the R script reads ``l`` from the
fitted correlation matrix (and checks that every pair gives the same ``l``). ``gau`` and ``mat``, whose glmmTMB
forms differ from bayesmm's (glmmTMB's ``gau`` has no 1/2 in the exponent, its ``mat`` a sampled smoothness), are
checked against simulated truths only. ``toep`` (tests/reference/structures_toep_reference.R -> structures_toep.json)
has glmmTMB's correlation per lag beside the truth.
"""
import json

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.structures import correlation
from reference_tools import REFERENCE

STRUCTURES = json.loads((REFERENCE / "structures.json").read_text())

#: case -> (formula in bayesmm's syntax, family, the SD's term, the parameter's term)
CASES = {
    "ar1": ("y ~ 1 + ar1(t + 0 | g)", "gaussian", "sd__t", "ar1__rho"),
    "ar1_poisson": ("y ~ 1 + ar1(t + 0 | g)", "poisson", "sd__t", "ar1__rho"),
    "ou": ("y ~ 1 + ou(u + 0 | g)", "gaussian", "sd__u", "ou__lscale"),
    "cs": ("y ~ 1 + x + cs(0 + f | g)", "gaussian", None, "cs__rho"),
    "exp": ("y ~ 1 + x1 + exp(x + y2 + 0 | g)", "gaussian", "sd__x.y2", "exp__lscale"),
}


def _row(table, term):
    return table[table.term == term].iloc[0]


def _inside(table, term, value, what):
    row = _row(table, term)
    assert row.conf_low < value < row.conf_high, (what, term, value, row.conf_low, row.conf_high)


def _named(values: dict) -> dict:
    return {("Intercept" if k == "(Intercept)" else k): v for k, v in values.items()}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_structure_agrees_with_glmmtmb_and_the_truth(case):
    formula, family, sd_term, parameter = CASES[case]
    reference, truth = STRUCTURES[case], STRUCTURES[case]["truth"]
    frame = pd.read_csv(REFERENCE / f"structures_{case}.csv")
    fit = bmm.fit(formula, frame, family=family, chains=2, draws=500, warmup=500, seed=1)
    tables = {"glmmTMB": fit.tidy(prob=0.95), "truth": fit.tidy(prob=0.99)}
    assert int(fit.idata.sample_stats.diverging.sum()) == 0
    for term, value in _named(reference["fixef"]).items():
        row = _row(tables["glmmTMB"], term)
        assert abs(row.estimate - value) < 0.5 * row.std_error, (term, row.estimate, value, row.std_error)
        _inside(tables["truth"], term, truth[term], "truth")
    key = parameter.split("__")[1]
    for source, values in (("glmmTMB", reference), ("truth", truth)):
        table = tables[source]
        _inside(table, parameter, values[key], source)
        sds = values["sd"] if isinstance(values["sd"], dict) else {sd_term: values["sd"]}
        for term, value in sds.items():
            _inside(table, term if term.startswith("sd__") else f"sd__f[{term[1:]}]", value, source)
        if "sigma" in values:
            _inside(table, "sd__Observation", values["sigma"], source)


def _field(kind, lscale, sites, groups, seed):
    """``groups`` independent replicates of a gaussian field over the same ``sites`` (SD 1) plus noise (SD 0.3)."""
    rng = np.random.default_rng(seed)
    R = correlation(kind, lscale, sites) + 1e-9 * np.eye(len(sites))
    field = rng.multivariate_normal(np.zeros(len(sites)), R, size=groups)
    frame = pd.DataFrame({"g": np.repeat(np.arange(groups), len(sites)),
                          "x": np.tile(sites[:, 0], groups), "y2": np.tile(sites[:, 1], groups)})
    frame["y"] = 0.5 + field.reshape(-1) + 0.3 * rng.normal(size=len(frame))
    return frame


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gau", "mat"])
def test_gaussian_and_matern_fields_recover_their_truths(kind):
    # sites close enough (nearest neighbours about 0.8 apart) for a length scale of 2 to be told from the noise
    sites = np.round(np.random.default_rng(7).uniform(0, 10, (40, 2)), 3)
    frame = _field(kind, 2.0, sites, groups=8, seed=3)
    fit = bmm.fit(f"y ~ 1 + {kind}(x + y2 + 0 | g)", frame, chains=2, draws=500, warmup=500, seed=1)
    table = fit.tidy(prob=0.99)
    assert int(fit.idata.sample_stats.diverging.sum()) == 0
    for term, value in (("Intercept", 0.5), ("sd__x.y2", 1.0), (f"{kind}__lscale", 2.0), ("sd__Observation", 0.3)):
        _inside(table, term, value, "truth")


@pytest.mark.slow
def test_toeplitz_agrees_with_glmmtmb_and_the_truth():
    """60 groups x 5 times x 2 rows, SDs 1-0.5 and correlations 0.6, 0.4, 0.2, 0.1 at lags 1-4 (glmmTMB 1.1.5)."""
    reference = json.loads((REFERENCE / "structures_toep.json").read_text())["toep"]
    frame = pd.read_csv(REFERENCE / "structures_toep.csv")
    fit = bmm.fit("y ~ 1 + x + toep(0 + f | g)", frame, chains=2, draws=500, warmup=500, seed=1)
    tables = {"glmmTMB": fit.tidy(prob=0.95), "truth": fit.tidy(prob=0.99)}
    assert int(fit.idata.sample_stats.diverging.sum()) == 0
    for term, value in _named(reference["fixef"]).items():
        row = _row(tables["glmmTMB"], term)
        assert abs(row.estimate - value) < 0.5 * row.std_error, (term, row.estimate, value, row.std_error)
    for source, values in (("glmmTMB", reference), ("truth", reference["truth"])):
        table = tables[source]
        for lag, value in enumerate(values["rho"], 1):
            _inside(table, f"toep__rho{lag}", value, source)
        for term, value in values["sd"].items():
            _inside(table, f"sd__f[{term[1:]}]", value, source)
        _inside(table, "sd__Observation", values["sigma"], source)
    for term in ("Intercept", "x"):
        _inside(tables["truth"], term, reference["truth"][term], "truth")
    assert "structure_edge" not in set(fit.diagnose()["kind"])
