"""R² of the families whose distribution variance is new (hurdle_gamma, com_poisson) or undefined (the Bayesian R²
alone: zero_inflated_binomial, zero_one_inflated_beta, ordbeta, hurdle_lognormal), on simulated data: the Bayesian
R²'s 95% interval holds the R² of the same rows at the true parameters, var(mu) / (var(mu) + var(y - mu)), and the
marginal and conditional R² are NaN with the reason where the family has no variance on the link scale (short NUTS
runs)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.simulate import response_quantity

N_GROUPS, PER_GROUP = 20, 15


def _simulate(family: str, link: str, intercept: float, slope: float, aux: dict, seed: int):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(N_GROUPS), PER_GROUP)
    x = rng.normal(size=g.size)
    eta = (intercept + slope * x + rng.normal(0, 0.5, N_GROUPS)[g])[None, :]
    params = {k: np.array([v]) for k, v in aux.items()}
    y = response_quantity(family, link, eta, params, kind="response", seed=seed)[0]
    mu = response_quantity(family, link, eta, params, kind="mean")[0]
    sample_r2 = mu.var(ddof=1) / (mu.var(ddof=1) + (y - mu).var(ddof=1))
    return pd.DataFrame({"y": y, "x": x, "g": g}), sample_r2


def _fit(frame: pd.DataFrame, family: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("y ~ x + (1 | g)", frame, family=family, chains=2, draws=400, warmup=400, seed=1)


@pytest.mark.parametrize("family, link, intercept, slope, aux", [
    ("zero_one_inflated_beta", "logit", 0.2, 0.7, {"phi": 6.0, "zoi": 0.15, "coi": 0.4}),
    ("hurdle_gamma", "log", 0.5, 0.6, {"shape": 3.0, "hu": 0.25}),
])
def test_bayesian_r2_holds_the_truth(family, link, intercept, slope, aux):
    frame, truth = _simulate(family, link, intercept, slope, aux, seed=7)
    table = _fit(frame, family).r2()
    bayes = table.loc["bayes"]
    assert bayes["conf_low"] < truth < bayes["conf_high"], (truth, bayes.to_dict())
    if family == "hurdle_gamma":  # the hurdle model's variance in the lognormal approximation
        assert 0 < table.loc["marginal", "estimate"] < table.loc["conditional", "estimate"] < 1
        assert "lognormal approximation" in table.loc["marginal", "method"]
    else:  # no variance on the logit scale: NaN, with the reason
        assert np.isnan(table.loc[["marginal", "conditional"], "estimate"]).all()
        assert "no logit" in table.loc["marginal", "method"]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["zero_inflated_binomial", "zero_one_inflated_beta", "hurdle_gamma"])
def test_bayesian_r2_matches_brms(family):
    """brms 2.18's bayes_R2 of the same model and data (tests/reference/r2_families_reference.R): the posterior mean
    within half of brms's posterior SD of it, the SDs within 25%."""
    import json

    from reference_tools import REFERENCE

    reference = json.loads((REFERENCE / "r2_families.json").read_text())[family]
    data = pd.read_csv(REFERENCE / "r2_families.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit(reference["formula"], data, family=family, chains=4, draws=1000, warmup=1000, seed=1)
    ours, theirs = fit.r2().loc["bayes"], reference["bayes_R2"]
    assert abs(ours["estimate"] - theirs["estimate"]) < 0.5 * theirs["est_error"], (ours.to_dict(), theirs)
    assert ours["std_error"] == pytest.approx(theirs["est_error"], rel=0.25)
