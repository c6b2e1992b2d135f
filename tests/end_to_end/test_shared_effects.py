"""Group effects correlated across a categorical response's linear predictors, brms's (1 | p | g), against brms 2.18
and the simulated truth (tests/reference/shared_effects_reference.R -> shared_effects.json, shared_categorical.csv:
3 categories, 60 groups x 20 rows, SDs 1.0 and 0.8, correlation 0.6). Both fits at brms's settings (4 chains x
(1000 + 1000)) and brms's lkj(1) prior on the correlation; slow."""
from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

import bayesmm as bmm
from reference_tools import REFERENCE

pytestmark = pytest.mark.slow

REF = json.loads((REFERENCE / "shared_effects.json").read_text())["categorical"]


@pytest.fixture(scope="module")
def table():
    data = pd.read_csv(REFERENCE / "shared_categorical.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit(REF["formula"], data, family="categorical", priors={"cor": "lkj(1)"}, chains=4, draws=1000,
                      warmup=1000, seed=1)
    assert fit.n_divergent == 0
    return fit.tidy().set_index("term")


def _brms_name(term: str) -> str:
    if term.startswith("sd__"):
        return f"sd_g__{term[4:]}"
    if term.startswith("cor__"):
        return "cor_g__" + term[5:].replace(".", "__")
    return f"b_{term}"


def test_the_truth_is_inside_the_intervals(table):
    truth = dict(REF["truth"]["b"])
    truth.update({f"sd__{name}": value for name, value in REF["truth"]["sd"].items()})
    truth["cor__mub_Intercept.muc_Intercept"] = REF["truth"]["cor"]
    assert set(truth) == set(table.index)
    for term, value in truth.items():
        assert table.loc[term, "conf_low"] < value < table.loc[term, "conf_high"], term


def test_every_parameter_matches_brms(table):
    """Posterior means within a quarter of brms's posterior SD, SDs within 20%, the correlation's interval ends
    within a third of brms's SD; Rhat below 1.01."""
    brms = {row["variable"]: row for row in REF["brms"]["summary"]}
    for term in table.index:
        theirs = brms[_brms_name(term)]
        assert abs(table.loc[term, "estimate"] - theirs["mean"]) < 0.25 * theirs["sd"], term
        assert table.loc[term, "std_error"] == pytest.approx(theirs["sd"], rel=0.2), term
    cor, theirs = table.loc["cor__mub_Intercept.muc_Intercept"], brms["cor_g__mub_Intercept__muc_Intercept"]
    assert abs(cor["conf_low"] - theirs["q2.5"]) < theirs["sd"] / 3
    assert abs(cor["conf_high"] - theirs["q97.5"]) < theirs["sd"] / 3
    assert table["rhat"].max() < 1.01
