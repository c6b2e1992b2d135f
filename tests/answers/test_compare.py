"""fit.loo, fit.waic and bmm.compare: ArviZ's numbers on bayesmm's pointwise log-likelihood, and the
sleepstudy comparison every mixed-models course makes (short NUTS runs, shared through answers_fits.py)."""
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import bayesmm as bmm
from answers_fits import SHORT, SLEEP, cbpp_fit, sleep_fit


@pytest.fixture(scope="module")
def correlated():
    return sleep_fit()


@pytest.fixture(scope="module")
def intercept_only():
    return sleep_fit("Reaction ~ Days + (1 | Subject)")


def quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return call(*args, **kwargs)


def test_loo_prefers_the_correlated_over_an_intercept_only_sleepstudy_model(correlated, intercept_only):
    table = quiet(bmm.compare, {"intercept_only": intercept_only, "correlated": correlated})
    assert list(table.index) == ["correlated", "intercept_only"]
    worse = table.loc["intercept_only"]
    # lme4's ML log-likelihoods differ by 21 (-875.97 vs -897.04): far beyond LOO's noise
    assert worse["elpd_diff"] > 2 * worse["dse"] and worse["elpd_diff"] > 10
    assert table.loc["correlated", "weight"] > 0.5
    assert table.loc["correlated", "elpd_loo"] == pytest.approx(quiet(correlated.loo).elpd_loo)


def test_waic_from_the_pointwise_log_likelihood(correlated):
    """WAIC by hand (Gelman, Hwang and Vehtari 2014): lppd - sum of pointwise variances (ArviZ divides the
    variances by S, not S - 1)."""
    log_lik = correlated.idata.log_likelihood["y"].values.reshape(-1, 180)
    lppd = special.logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])
    expected = np.sum(lppd - log_lik.var(axis=0))
    result = quiet(correlated.waic)
    assert result.elpd_waic == pytest.approx(expected, rel=1e-9)
    assert result.p_waic == pytest.approx(np.sum(log_lik.var(axis=0)), rel=1e-9)
    # LOO and WAIC agree closely on a model this well behaved
    assert abs(result.elpd_waic - quiet(correlated.loo).elpd_loo) < 5


def test_loo_warns_about_high_pareto_k_with_the_rows(correlated):
    k = np.asarray(quiet(correlated.loo).pareto_k)
    if np.any(k > 0.7):
        with pytest.warns(bmm.BayesMMWarning, match=r"observations have Pareto k > 0.7 \(rows"):
            correlated.loo()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", bmm.BayesMMWarning)
            correlated.loo()


def test_binomial_log_likelihood_is_per_row():
    fit = cbpp_fit()
    assert fit.idata.log_likelihood["y"].shape[-1] == 56  # cbpp's rows, not its 842 animals
    assert len(np.asarray(quiet(fit.loo).pareto_k)) == 56


def test_compare_refuses_fits_of_different_data(correlated):
    subset = SLEEP[SLEEP["Days"] < 9]
    other = bmm.fit("Reaction ~ Days + (1 | Subject)", subset, seed=1, **SHORT)
    with pytest.raises(bmm.BayesMMError, match="different observations"):
        bmm.compare({"a": correlated, "b": other})
    with pytest.raises(bmm.BayesMMError, match="at least two fits"):
        bmm.compare({"a": correlated})
    with pytest.raises(bmm.BayesMMError, match="not a bayesmm Fit"):
        bmm.compare({"a": correlated, "b": correlated.idata})
    with pytest.raises(bmm.BayesMMError, match="ic must be"):
        bmm.compare({"a": correlated, "b": correlated}, ic="aic")


def test_large_fits_do_not_keep_the_log_likelihood(monkeypatch):
    """Above LOG_LIK_MAX_VALUES draws x rows the pointwise log-likelihood is not kept (a 1M-row model with
    4000 draws needs 32 GB for it: it ran an H100 out of memory after sampling); loo() then says why, and
    the rest of the fit works. A 37-row data set gives the model shapes of its own (no cached program)."""
    from bayesmm.model import program

    monkeypatch.setattr(program, "LOG_LIK_MAX_VALUES", 1000)
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"y": rng.poisson(3.0, 37), "g": [f"g{i % 4}" for i in range(37)]})
    fit = bmm.fit("y ~ 1 + (1 | g)", df, family="poisson", chains=1, draws=100, warmup=100, seed=1)
    assert "log_likelihood" not in fit.idata.groups() and "posterior" in fit.idata.groups()
    with pytest.raises(bmm.BayesMMError, match="200 million"):
        fit.loo()
    assert abs(fit.tidy().set_index("term").loc["Intercept", "estimate"] - np.log(df["y"].mean())) < 0.5
    assert "pareto_k" not in set(fit.diagnose()["kind"])
