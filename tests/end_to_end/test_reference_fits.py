"""End-to-end NUTS fits of classic data sets against lme4 (REML / Laplace) and brms 2.18 (tests/reference).

Tolerances: fixed effects within 0.5 posterior SD of lme4's estimate; each lme4 SD inside the
95% interval; posterior means within 0.3 posterior SD of brms's for fixed effects and sigma and within
0.5 for SDs and correlations; Rhat < 1.01.  4 chains x 1000 draws keep the Monte Carlo error of a mean
near 0.03 posterior SD, small against these tolerances.
"""
import warnings

import pytest

import bayesmm as bmm
from reference_tools import brms, has_brms, lme4, r_name, tidy_key

pytestmark = pytest.mark.slow  # eleven fits at the default 4 x (1000 + 1000): about a minute on 2 cores

CASES = {
    "sleepstudy_corr": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian"),
    "sleepstudy_uncorr": ("sleepstudy", "Reaction ~ Days + (Days || Subject)", "gaussian"),
    "cbpp_binomial": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    "penicillin_crossed": ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "gaussian"),
    "pastes_nested": ("pastes", "strength ~ 1 + (1 | batch/cask)", "gaussian"),
    "orthodont_slopes": ("orthodont", "distance ~ age * Sex + (age | Subject)", "gaussian"),
    "dyestuff": ("dyestuff", "Yield ~ 1 + (1 | Batch)", "gaussian"),
    "grouseticks_olre": ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                         "poisson"),
    "salamanders_nb2": ("salamanders", "count ~ spp * mined + (1 | site)", "negbinomial"),
    "owls_nb1_offset": ("owls", "SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBroodSize) + (1 | Nest)",
                        "nbinom1"),
    # the same model with the random effects sampled (non-centred) instead of integrated out
    "sleepstudy_corr/sampled": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian"),
}

_FITS = {}


def fitted(case):
    if case not in _FITS:
        data, formula, family = CASES[case]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", bmm.BayesMMWarning)
            marginalize = False if case.endswith("/sampled") else None
            _FITS[case] = bmm.fit(formula, bmm.datasets.load(data), family=family, seed=2024, marginalize=marginalize)
    return _FITS[case]


@pytest.mark.parametrize("case", list(CASES))
def test_fixed_effects_match_lme4(case):
    table = fitted(case).tidy()
    ref = lme4(case.split("/")[0])
    fixed = table[table["effect"] == "fixed"]
    assert {r_name(t) for t in fixed["term"]} == set(ref["fixef"])
    for _, row in fixed.iterrows():
        expected = ref["fixef"][r_name(row["term"])]
        assert abs(row["estimate"] - expected) < 0.5 * row["std_error"], (row["term"], row["estimate"], expected)


@pytest.mark.parametrize("case", list(CASES))
def test_lme4_sds_inside_95_interval(case):
    table = fitted(case).tidy()
    ref = lme4(case.split("/")[0])
    rows = {tidy_key(r)[1:]: r for _, r in table.iterrows() if r["effect"] == "ran_pars"}
    for (group, term), value in ref["sd"].items():
        row = rows[(group, f"sd__{term}")]
        assert row["conf_low"] < value < row["conf_high"], (group, term, value, row["conf_low"], row["conf_high"])
    if ref["sigma"] is not None:
        row = rows[(frozenset({"Residual"}), "sd__Observation")]
        assert row["conf_low"] < ref["sigma"] < row["conf_high"]
    if ref["dispersion"] is not None:  # glmmTMB's nbinom2 phi / nbinom1 alpha
        row = table[table["effect"] == "family"].iloc[0]
        assert row["conf_low"] < ref["dispersion"] < row["conf_high"], (row["term"], ref["dispersion"])


@pytest.mark.parametrize("case", [c for c in CASES if has_brms(c.split("/")[0])])
def test_posterior_means_match_brms(case):
    fit = fitted(case)
    table = fit.tidy()
    ref = brms(case.split("/")[0])["rows"]
    matched = 0
    for _, row in table.iterrows():
        key = tidy_key(row, brms_names=True)
        if key not in ref:
            continue
        matched += 1
        tolerance = 0.3 if row["effect"] == "fixed" or row["term"] == "sd__Observation" else 0.5
        gap = abs(row["estimate"] - ref[key]["mean"]) / row["std_error"]
        assert gap < tolerance, (row["term"], row["group"], row["estimate"], ref[key]["mean"], gap)
    assert matched == len(ref) == len(table)


# grouseticks_olre (observation-level effect, BROOD nested in LOCATION; brms: 136 divergences) fails this at the
# seed here (Rhat 1.016 on sd(LOCATION), whose posterior reaches 0.01) unless the SDs are in the dense
# block of the mass matrix and its level-level covariates rotated out (model/coordinates.py): then it reads 1.0042
# here and at most 1.0066 over seeds 1-6 (benchmarks/README.md, the bundled suite).
@pytest.mark.parametrize("case", CASES)
def test_converged(case):
    fit = fitted(case)
    table = fit.tidy()
    assert table["rhat"].max() < 1.01
    assert table["ess_bulk"].min() > 200
    assert fit.n_divergent == 0
