"""Predictions of a model fitted with trunc(): kind="mean" is the truncated normal mean of each draw's mu and sigma,
kind="response" and the posterior predictive check draw inside the bounds, new data takes its bounds from the
formula's constants or its own columns (a short NUTS run of the truncated gaussian of
tests/reference/censoring_reference.R: y | trunc(lb = 0) ~ x + (1 | g))."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from reference_tools import REFERENCE

DATA = pd.read_csv(REFERENCE / "censoring_truncated.csv")


@pytest.fixture(scope="module")
def fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("y | trunc(lb = 0) ~ x + (1 | g)", DATA, family="gaussian", chains=2, draws=300, warmup=300,
                       seed=1)


def test_mean_is_the_truncated_normal_mean_per_draw(fit):
    link = fit.predict(kind="link", summary=False).to_numpy()
    sigma = fit.idata.posterior["sigma"].values.reshape(-1)[:, None]
    mean = fit.predict(kind="mean", summary=False).to_numpy()
    assert np.all(mean > link)  # cut at 0: above the untruncated mean everywhere
    # scipy's truncnorm.mean integrates each element: every row of every 20th draw
    every = slice(None, None, 20)
    expected = stats.truncnorm.mean(-link[every] / sigma[every], np.inf, loc=link[every], scale=sigma[every])
    np.testing.assert_allclose(mean[every], expected, rtol=1e-9)


def test_draws_and_the_posterior_predictive_lie_inside_the_bounds(fit):
    draws = fit.predict(kind="response", summary=False).to_numpy()
    assert draws.min() >= 0.0
    # their mean per row is the truncated mean (Monte Carlo: 600 draws per row, averaged over rows)
    mean = fit.predict(kind="mean", summary=False).to_numpy()
    assert abs((draws - mean).mean()) < 4 * draws.std() / np.sqrt(draws.size)
    replicated = fit.posterior_predictive().posterior_predictive["y"].values
    assert replicated.min() >= 0.0


def test_new_data_takes_the_bounds_of_the_formula(fit):
    new = pd.DataFrame({"x": [-3.0, 0.0, 2.0], "g": [1, 1, 99]})
    mean = fit.predict(new, kind="mean", re="none", summary=False).to_numpy()
    link = fit.predict(new, kind="link", re="none", summary=False).to_numpy()
    sigma = fit.idata.posterior["sigma"].values.reshape(-1)[:, None]
    np.testing.assert_allclose(mean, stats.truncnorm.mean(-link / sigma, np.inf, loc=link, scale=sigma), rtol=1e-9)
    assert fit.predict(new, kind="response", summary=False).to_numpy().min() >= 0.0


@pytest.mark.slow  # a fit of its own, with both bounds
def test_bounds_from_a_column_must_be_in_new_data():
    data = DATA.assign(cap=8.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("y | trunc(lb = 0, ub = cap) ~ x", data, family="gaussian", chains=1, draws=200, warmup=200,
                      seed=1)
    new = pd.DataFrame({"x": [0.0, 1.0]})
    with pytest.raises(bmm.DataError, match="trunc\\(\\).*'cap'"):
        fit.predict(new, kind="mean")
    draws = fit.predict(new.assign(cap=[0.5, 1.0]), kind="response", summary=False).to_numpy()
    assert draws.min() >= 0.0 and draws[:, 0].max() <= 0.5 and draws[:, 1].max() <= 1.0
    assert fit.predict(new, kind="link").shape[0] == 2  # the linear predictor needs no bounds
