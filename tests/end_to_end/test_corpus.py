"""A few of the fastest validation-corpus models (validation/corpus) fitted at bayesmm's defaults, seed 1,
against their lme4 / glmmTMB maximum-likelihood fits (validation/corpus/reference, made by
reference_fits.R): every fixed effect within 0.5 posterior SD of its ML estimate, every ML standard
deviation inside the 95% posterior interval, and a clean fit (max Rhat < 1.01 over every parameter, bulk
and tail ESS >= 400 for every hyperparameter, no divergences). The whole corpus is run by
``python validation/corpus.py``.
"""
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

CORPUS = Path(__file__).resolve().parents[2] / "validation" / "corpus"
sys.path.insert(0, str(CORPUS))
from fit_metrics import convergence, fixef_distance, is_clean, ml_block, reasons, reference  # noqa: E402

CASES = ["ergostool", "oxboys", "epil_poisson", "prussian_poisson"]
_FITS = {}


def fitted(name):
    if name not in _FITS:
        spec = tomllib.loads((CORPUS / "models.toml").read_text())[name]
        data = pd.read_csv(CORPUS / "data" / spec["data"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bmm.BayesMMWarning)
            _FITS[name] = bmm.fit(spec["formula"], data, family=spec["family"], seed=1)
    return _FITS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_fixed_effects_within_half_a_posterior_sd_of_ml(name):
    worst, term, unmatched = fixef_distance(fitted(name).idata.posterior, reference(name))
    assert unmatched == 0
    assert worst < 0.5, (term, worst)


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_ml_sds_inside_the_95_percent_interval(name):
    posterior = fitted(name).idata.posterior
    for group, entry in ml_block(reference(name))["varcorr"].items():
        parts = frozenset(group.split(":"))  # lme4 writes B/V's inner group as 'V:B'
        var = next(v for v in posterior.data_vars if v.startswith("sd_") and frozenset(v[3:].split(":")) == parts)
        for j, value in enumerate(entry["sd"].values()):
            draws = posterior[var].values[..., j].ravel()
            low, high = np.quantile(draws, [0.025, 0.975])
            assert low < value < high, (name, group, value, low, high)


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_fit_is_clean(name):
    row = {"error": "", **convergence(fitted(name).idata)}
    assert is_clean(row), reasons(row)
