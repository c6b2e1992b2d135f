"""Separation: the linear-programming check (Konis 2007, R's detectseparation) on known cases, the warning
before sampling, the default prior's finite answer, and the refusal of flat priors."""
import warnings

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm import BayesMMWarning, PriorError
from bayesmm.separation import detect_separation

NAMES = ["Intercept", "x", "f[b]", "f[c]"]


def _design(seed: int = 1, n: int = 300):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    f = rng.integers(0, 3, n)
    X = np.column_stack([np.ones(n), x, f == 1, f == 2]).astype(float)
    return rng, x, f, X


def test_no_separation_in_ordinary_logistic_data():
    rng, x, f, X = _design()
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-(0.3 + x)))).astype(float)
    found = detect_separation(X, NAMES, y)
    assert not found and found.directions == {}


def test_level_with_only_successes_is_quasi_complete():
    rng, x, f, X = _design()
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-(0.3 + x)))).astype(float)
    y[f == 2] = 1
    found = detect_separation(X, NAMES, y)
    assert found.kind == "quasi-complete" and found.directions == {"f[c]": 1}
    assert "column 'f' at level 'c'" in found.details["f[c]"] and "are successes" in found.details["f[c]"]
    y[f == 2] = 0
    assert detect_separation(X, NAMES, y).directions == {"f[c]": -1}


def test_separation_by_a_combination_of_columns_not_a_single_level():
    """No level is all 0 or all 1, yet x + 2 f[b] > 0 splits the outcomes: only the LP sees it."""
    rng, x, f, X = _design(seed=4)
    y = (x + 2 * (f == 1) > 0).astype(float)
    for level in range(3):
        assert 0 < y[f == level].mean() < 1
    found = detect_separation(X, NAMES, y)
    assert found.kind == "complete"
    assert found.directions["x"] == 1 and found.directions["f[b]"] == 1


def test_binomial_rows_with_all_trials_successful():
    trials = np.array([5, 6, 4, 5, 7, 3, 5, 6], float)
    group = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    X = np.column_stack([np.ones(8), group]).astype(float)
    y = np.where(group == 1, trials, [2, 3, 1, 2, 0, 0, 0, 0])
    found = detect_separation(X, ["Intercept", "g[1]"], y, trials)
    assert found.kind == "quasi-complete" and found.directions == {"g[1]": 1}
    y_mixed = y.copy()
    y_mixed[5] = 2  # one group-1 row now has failures too
    assert not detect_separation(X, ["Intercept", "g[1]"], y_mixed, trials)




FORMULA = "y ~ x + treatment + (1 | g)"


def test_model_warns_naming_the_level_and_what_the_prior_does():
    with pytest.warns(BayesMMWarning) as record:
        model = bmm.Model(FORMULA, bmm.datasets.simulate("separation"), family="bernoulli")
    text = " ".join(str(w.message) for w in record)
    assert "Quasi-complete separation" in text and "treatment[c]" in text and "level 'c'" in text
    assert f"the prior normal(0, {2.5 / np.std(np.arange(240) % 3 == 2):.4g}) keeps its posterior finite" in text
    assert model.separation.directions == {"treatment[c]": 1}


def test_gaussian_models_are_not_checked():
    df = bmm.datasets.simulate("separation").assign(y=lambda d: d["y"] + d["x"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", BayesMMWarning)
        assert not bmm.Model(FORMULA, df).separation


def test_flat_prior_under_separation_is_warned_about_then_refused():
    with pytest.warns(BayesMMWarning, match="flat prior leaves the posterior improper"):
        model = bmm.Model(FORMULA, bmm.datasets.simulate("separation"), family="bernoulli", priors={"b": "flat"})
    with pytest.raises(PriorError, match=r"treatment\[c\] have flat priors.*improper"):
        model.fit(chains=1, draws=10, warmup=10)
    with pytest.warns(BayesMMWarning), pytest.raises(PriorError, match="improper"):
        bmm.fit(FORMULA, bmm.datasets.simulate("separation"), family="bernoulli", priors="brms", chains=1, draws=10, warmup=10)


@pytest.fixture(scope="module")
def separated_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesMMWarning)
        return bmm.fit(FORMULA, bmm.datasets.simulate("separation"), family="bernoulli", chains=2, draws=1000, warmup=500, seed=1)


def test_default_prior_keeps_the_separated_coefficient_finite(separated_fit):
    row = separated_fit.tidy().set_index("term").loc["treatment[c]"]
    assert row["estimate"] < 10 and row["rhat"] < 1.01
    assert row["estimate"] > 3  # the data do push it up: a large effect, just not an infinite one
    others = separated_fit.tidy().set_index("term")
    assert others.loc["x", "conf_low"] < 0.8 < others.loc["x", "conf_high"]  # the simulated slope
    assert separated_fit.n_divergent == 0


def test_diagnose_and_summary_report_the_separation(separated_fit):
    findings = separated_fit.diagnose()
    rows = findings[findings["kind"] == "separation"]
    assert list(rows["parameter"]) == ["treatment[c]"]
    assert "level 'c'" in rows["message"].iloc[0] and "prior" in rows["advice"].iloc[0]
    assert "Warning [separation] treatment[c]: quasi-complete separation" in str(separated_fit)
