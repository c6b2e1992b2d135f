"""Answers of a cumulative (ordinal) fit of the wine data (``rating ~ temp + contact + (1 | judge)``, logit): the
thresholds and coefficients against ordinal::clmm and brms 2.18 (tests/reference/ordinal_reference.R ->
ordinal.json), category probabilities (kind="probs"), expected scores, response draws, LOO and the posterior
predictive bars. One short NUTS run (2 chains x (500 + 500), about 5 s) shared by the tests."""
from __future__ import annotations

import functools
import json
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from answers_fits import sleep_fit
from reference_tools import REFERENCE

matplotlib.use("Agg")

WINE = bmm.datasets.load("wine")
FORMULA = "rating ~ temp + contact + (1 | judge)"
REF = json.loads((REFERENCE / "ordinal.json").read_text())["wine"]
GRID = pd.DataFrame({"temp": REF["brms"]["population_probs"]["temp"],
                     "contact": REF["brms"]["population_probs"]["contact"]})
#: R's names -> bayesmm's
TERMS = {"tempwarm": "temp[warm]", "contactyes": "contact[yes]"}


@functools.lru_cache(maxsize=None)
def wine_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit(FORMULA, WINE, family="cumulative", chains=2, draws=500, warmup=500, seed=1)


def _brms_rows() -> dict:
    return {row["variable"]: row for row in REF["brms"]["summary"]}


def test_thresholds_and_coefficients_match_brms_within_half_a_posterior_sd():
    fixef, brms = wine_fit().fixef(), _brms_rows()
    for k in range(1, 5):
        row = brms[f"b_Intercept[{k}]"]
        assert abs(fixef.loc[f"Intercept[{k}]", "Estimate"] - row["mean"]) < 0.5 * row["sd"], k
        assert fixef.loc[f"Intercept[{k}]", "Est.Error"] == pytest.approx(row["sd"], rel=0.25)
    for r_name, name in TERMS.items():
        row = brms[f"b_{r_name}"]
        assert abs(fixef.loc[name, "Estimate"] - row["mean"]) < 0.5 * row["sd"], name
    sd = wine_fit().varcorr().set_index("grp").loc["judge"]
    row = brms["sd_judge__Intercept"]
    assert abs(sd["sdcor"] - row["mean"]) < 0.5 * row["sd"]


def test_thresholds_and_coefficients_match_clmm_and_its_judge_sd_is_inside_the_interval():
    fixef, clmm = wine_fit().fixef(), REF["clmm"]["logit"]
    for k, (name, value) in enumerate(clmm["thresholds"].items(), start=1):  # clmm's names: 1|2, 2|3, ...
        assert name == f"{k}|{k + 1}"
        assert abs(fixef.loc[f"Intercept[{k}]", "Estimate"] - value) < 0.5 * fixef.loc[f"Intercept[{k}]", "Est.Error"]
    for r_name, name in TERMS.items():
        assert abs(fixef.loc[name, "Estimate"] - clmm["beta"][r_name]) < 0.5 * fixef.loc[name, "Est.Error"]
    sd = wine_fit().varcorr().set_index("grp").loc["judge"]
    assert sd["conf_low"] < clmm["judge_sd"] < sd["conf_high"]


def test_category_probabilities_by_cell_match_brms_fitted():
    """Population-level (re="none") probabilities of the four temp x contact cells: brms's fitted(re_formula = NA)."""
    table = wine_fit().predict(GRID, kind="probs", re="none")
    assert list(table.columns.get_level_values("statistic").unique()) == ["Estimate", "Est.Error", "Q2.5", "Q97.5"]
    estimate = table["Estimate"]
    assert list(estimate.columns) == ["1", "2", "3", "4", "5"]
    np.testing.assert_allclose(estimate.sum(axis=1), 1.0, atol=1e-12)
    brms = np.array(REF["brms"]["population_probs"]["estimate"])
    error = np.array(REF["brms"]["population_probs"]["est_error"])
    assert np.all(np.abs(estimate.to_numpy() - brms) < 0.5 * error + 0.01)
    assert np.all(table["Q2.5"].to_numpy() <= estimate.to_numpy())


def test_draws_of_the_probabilities_give_the_expected_score_and_the_response_draws():
    fit = wine_fit()
    probs = fit.predict(GRID, kind="probs", re="none", summary=False)
    n_draws = fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"]
    assert probs.index.names == ["draw", "row"] and probs.shape == (n_draws * len(GRID), 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    scores = probs.to_numpy() @ np.arange(1, 6)
    mean = fit.predict(GRID, kind="mean", re="none", summary=False)
    np.testing.assert_allclose(mean.to_numpy().reshape(-1), scores, rtol=1e-10)
    draws = fit.predict(GRID, kind="response", re="none", summary=False).to_numpy()
    assert set(np.unique(draws)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    average = probs.groupby(level="row").mean().to_numpy()
    for row in range(len(GRID)):
        shares = np.array([np.mean(draws[:, row] == k) for k in range(1, 6)])
        assert np.all(np.abs(shares - average[row]) < 4 * np.sqrt(average[row] * (1 - average[row]) / n_draws) + 0.01)


def test_the_linear_predictor_leaves_the_thresholds_out():
    link = wine_fit().predict(GRID, kind="link", re="none", summary=False).to_numpy()
    b = wine_fit().idata.posterior["b"].sel(coef=["temp[warm]", "contact[yes]"]).values.reshape(-1, 2)
    np.testing.assert_allclose(link[:, 0], 0.0)  # cold, no contact: the reference cell
    np.testing.assert_allclose(link[:, 3], b.sum(axis=1), rtol=1e-12)


def test_probabilities_are_refused_for_a_family_without_categories():
    with pytest.raises(bmm.BayesMMError, match="kind='probs'.*'gaussian'"):
        sleep_fit().predict(kind="probs")


def test_loo_matches_brms():
    loo = wine_fit().loo()
    brms_elpd, brms_se = REF["brms"]["elpd_loo"]
    assert abs(loo.elpd_loo - brms_elpd) < 0.5 * brms_se
    assert np.all(loo.pareto_k.values < 0.7)


def test_posterior_predictive_bars_count_the_observed_categories():
    fig = wine_fit().plot_ppc(seed=1)
    ax = fig.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == [float(np.sum(WINE["rating"] == k)) for k in range(1, 6)]
    assert [label.get_text() for label in ax.get_xticklabels()] == ["1", "2", "3", "4", "5"]


def test_levels_name_the_columns_and_survive_save_and_load(tmp_path):
    labels = ["very bad", "bad", "fair", "good", "very good"]
    strings = WINE.assign(rating=WINE["rating"].map(dict(enumerate(labels, start=1))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        refit = wine_fit().update(data=strings, levels=labels, draws=200, warmup=200)
    assert list(refit.call.levels) == labels
    table = refit.predict(GRID, kind="probs", re="none")
    assert list(table["Estimate"].columns) == labels
    for data in (True, False):
        path = refit.save(tmp_path / f"wine_{data}.nc", data=data)
        loaded = bmm.load(path)
        assert loaded.design.response_levels == tuple(labels)
        pd.testing.assert_frame_equal(loaded.predict(GRID, kind="probs", re="none"), table)


# ------------------------------------------------------------------------------------------ categorical
SIM = pd.read_csv(REFERENCE / "categorical_sim.csv")
NEW = pd.DataFrame({"x": [0.0, 1.0, 0.0], "z": [0, 0, 1], "g": ["g1", "g1", "new"]})


@functools.lru_cache(maxsize=None)
def categorical_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("y ~ x + z + (1 | g)", SIM, family="categorical", chains=2, draws=300, warmup=300, seed=1,
                       refit=False)


def _softmax_draws(fit, X: np.ndarray, effects=None) -> np.ndarray:
    b = fit.idata.posterior["b"].values.reshape(-1, 6)
    eta = np.stack([b[:, :3] @ X.T, b[:, 3:] @ X.T], axis=-1) + (0 if effects is None else effects)
    logits = np.concatenate([np.zeros(eta.shape[:2] + (1,)), eta], axis=-1)
    return np.exp(logits - logits.max(axis=-1, keepdims=True)) / np.exp(
        logits - logits.max(axis=-1, keepdims=True)).sum(axis=-1, keepdims=True)


def test_categorical_probabilities_are_the_softmax_of_each_categorys_predictor():
    fit = categorical_fit()
    X = np.column_stack([np.ones(3), NEW["x"], NEW["z"]])
    table = fit.predict(NEW, kind="probs", re="none")
    assert list(table["Estimate"].columns) == ["a", "b", "c"]
    np.testing.assert_allclose(table["Estimate"].to_numpy(), _softmax_draws(fit, X).mean(axis=0), rtol=1e-10)
    # a known level's effects enter each category's predictor: level g1's own
    r = fit.idata.posterior["r_g"].sel(g__level="g1").values.reshape(-1, 2)
    with_g1 = fit.predict(NEW.iloc[:2], kind="probs")["Estimate"].to_numpy()
    np.testing.assert_allclose(with_g1, _softmax_draws(fit, X[:2], r[:, None, :]).mean(axis=0), rtol=1e-10)
    link = fit.predict(NEW, kind="link", re="none")["Estimate"]
    assert list(link.columns) == ["mub", "muc"]
    np.testing.assert_allclose(link.to_numpy()[0], fit.fixef().loc[["mub_Intercept", "muc_Intercept"], "Estimate"])


def test_categorical_response_draws_and_the_refused_mean():
    fit = categorical_fit()
    draws = fit.predict(NEW, kind="response", re="none", summary=False).to_numpy()
    assert set(np.unique(draws)) <= {1.0, 2.0, 3.0}
    with pytest.raises(bmm.BayesMMError, match="unordered categories.*kind='probs'"):
        fit.predict(NEW, kind="mean")
    fig = fit.plot_ppc(seed=2)
    assert [p.get_height() for p in fig.axes[0].patches] == [float(np.sum(SIM["y"] == c)) for c in "abc"]
    assert [label.get_text() for label in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]


def test_categorical_names_follow_brms():
    fit = categorical_fit()
    table = fit.tidy()
    assert list(table.loc[table["effect"] == "fixed", "term"]) == ["mub_Intercept", "mub_x", "mub_z",
                                                                  "muc_Intercept", "muc_x", "muc_z"]
    assert list(table.loc[table["effect"] == "ran_pars", "term"]) == ["sd__mub_Intercept", "sd__muc_Intercept"]
    names = set(fit.intervals(["sd_g__mub_Intercept", "mub_x", "r_g[g3,muc_Intercept]"]).index)
    assert names == {"sd_g__mub_Intercept", "mub_x", "r_g[g3,muc_Intercept]"}
