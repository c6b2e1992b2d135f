"""Random effects in a family parameter's formula against references: ``Rscript tests/reference/parts_re_reference.R``
wrote ``tests/reference/parts_re.json`` (R 4.2.2, glmmTMB 1.1.5, brms 2.18.0; the script is the record of how).

* salamanders, ``count ~ spp * mined + (1 | site)`` with ``zi = ~ spp + (1 | site)`` (glmmTMB's ``ziformula``):
  zero-inflated Poisson: each fixed effect of the mean and of the zero inflation within 0.5 posterior SD of glmmTMB's
  maximum-likelihood estimate, and glmmTMB's site SDs (mean and zero part) inside bayesmm's 95% intervals.
  Zero-inflated NB2: its zero process is weakly identified (species-specific inflation with site effects of SD
  about 2, traded off against the count part and phi). With bayesmm's default ``normal(0, 2.5 / s_x)`` (about
  ``normal(0, 7)`` on a species dummy) the zi coefficients wander to logit -15 where the likelihood is flat (a few
  divergences; posterior SDs up to 6 times glmmTMB's SEs), so the fit and brms's reference take
  ``normal(0, 2.5)`` on them. Even so the posterior SDs of the zi coefficients are up to 1.9 times glmmTMB's
  Laplace SEs and the posterior means sit away from the mode along the trade-off (zi's intercept -1.72 against
  glmmTMB's -1.11; the mean's ``spp[PR]``, traded against zi's ``spp[PR]``, 0.6 posterior SD from glmmTMB's), so
  there the reference for the posterior is brms under the same prior: every coefficient, both SDs and phi within
  0.5 posterior SD of brms's posterior means (seen: at most 0.26), and every glmmTMB estimate inside bayesmm's 95%
  intervals.
* a heteroscedastic gaussian simulated by the script, ``y ~ x + (1 | g)`` with ``dispersion = ~ x + (1 | g)``:
  glmmTMB 1.1.5 refuses random effects in ``dispformula`` (the JSON keeps its error), so the simulated truth must
  lie in bayesmm's 95% intervals, and brms's ``bf(y ~ x + (1 | g), sigma ~ x + (1 | g))`` posterior means within
  0.5 posterior SD of bayesmm's.
"""
import json
import warnings

import numpy as np
import pytest

import bayesmm as bmm
from parts_fits import gaussian_disp_fit
from reference_tools import REFERENCE, r_name

REFERENCES = json.loads((REFERENCE / "parts_re.json").read_text())
FAMILIES = {"salamanders_zip": "zero_inflated_poisson", "salamanders_zinb": "zero_inflated_negbinomial"}


def _named(values: dict) -> dict:
    return {("Intercept" if k == "(Intercept)" else k): v for k, v in values.items()}


def _gaps(rows, expected: dict) -> dict:
    assert {r_name(t) for t in rows["term"]} == set(expected)
    return {row["term"]: abs(row["estimate"] - expected[r_name(row["term"])]) / row["std_error"]
            for _, row in rows.iterrows()}


def _salamanders(case: str, **options):
    reference = REFERENCES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit(reference["formula"], bmm.datasets.load("salamanders"), family=FAMILIES[case],
                      zi=reference["zi"], seed=1, **options)
    return reference, fit, fit.tidy()


def _site_sds(table, reference) -> None:
    """glmmTMB's site SDs, of the mean and of the zero part, inside bayesmm's 95% intervals."""
    sds = table[table["effect"] == "ran_pars"].set_index("component")
    for component, key in (("cond", "varcorr"), ("zi", "zi_varcorr")):
        value = reference[key]["site"]["sd"]["(Intercept)"]
        row = sds.loc[component]
        assert row["group"] == "site" and row["conf_low"] < value < row["conf_high"], (component, value, row)


@pytest.mark.slow
def test_salamanders_zip_with_site_effects_in_the_zero_part_matches_glmmtmb():
    reference, fit, table = _salamanders("salamanders_zip")
    fixed = table[table["effect"] == "fixed"]
    gaps = {**_gaps(fixed[fixed["component"] == "cond"], _named(reference["fixef"])),
            **{f"zi_{k}": v for k, v in _gaps(fixed[fixed["component"] == "zi"],
                                              _named(reference["zi_fixef"])).items()}}
    assert max(gaps.values()) < 0.5, {k: round(v, 2) for k, v in gaps.items() if v >= 0.5}
    _site_sds(table, reference)
    assert table["rhat"].max() < 1.01 and fit.n_divergent == 0


def _brms_name(component: str, term: str) -> str:
    """brms's variable of a bayesmm row: b_sppECMA (brms writes '-' as 'M'), b_zi_Intercept, sd_site__zi_Intercept."""
    if term.startswith("sd__"):
        return f"sd_site__{'zi_' if component == 'zi' else ''}{term[4:]}"
    return f"b_{'zi_' if component == 'zi' else ''}{r_name(term).replace('-', 'M')}"


@pytest.mark.slow
def test_salamanders_zinb_with_site_effects_in_the_zero_part_matches_brms_and_covers_glmmtmb():
    reference, fit, table = _salamanders("salamanders_zinb", priors={"b_zi": "normal(0, 2.5)"})
    brms = reference["brms"]["summary"]
    assert reference["brms"]["prior_zi"] == "prior(normal(0, 2.5), class = b, dpar = zi)"
    rows = table[table["effect"] != "family"]
    gaps = {(c, t): abs(e - brms[_brms_name(c, t)]["mean"]) / s
            for c, t, e, s in zip(rows["component"], rows["term"], rows["estimate"], rows["std_error"])}
    phi = table.set_index("term").loc["phi"]
    gaps["phi"] = abs(phi["estimate"] - brms["shape"]["mean"]) / phi["std_error"]
    assert len(gaps) == len(brms) and max(gaps.values()) < 0.5, {k: round(v, 2) for k, v in gaps.items() if v >= 0.5}
    fixed = table[table["effect"] == "fixed"]
    for component, key in (("cond", "fixef"), ("zi", "zi_fixef")):
        expected = _named(reference[key])
        for _, row in fixed[fixed["component"] == component].iterrows():
            value = expected[r_name(row["term"])]
            assert row["conf_low"] < value < row["conf_high"], (component, row["term"], value)
    assert phi["conf_low"] < reference["dispersion"] < phi["conf_high"]
    _site_sds(table, reference)
    assert table["rhat"].max() < 1.01 and fit.n_divergent == 0


def test_heteroscedastic_gaussian_with_group_effects_in_sigma_covers_the_truth_and_matches_brms():
    reference = REFERENCES["gaussian_disp"]
    assert "no random effects allowed in dispersion term" in reference["glmmTMB"]
    fit = gaussian_disp_fit()
    table = fit.tidy()
    rows = {("cond", "Intercept"): ("Intercept", "b_Intercept"), ("cond", "x"): ("x", "b_x"),
            ("disp", "Intercept"): ("sigma_Intercept", "b_sigma_Intercept"), ("disp", "x"): ("sigma_x", "b_sigma_x"),
            ("cond", "sd__Intercept"): ("sd_g", "sd_g__Intercept"),
            ("disp", "sd__Intercept"): ("sd_g_sigma", "sd_g__sigma_Intercept")}
    for (component, term), (truth, brms) in rows.items():
        row = table[(table["component"] == component) & (table["term"] == term)].iloc[0]
        value = reference["truth"][truth]
        assert row["conf_low"] < value < row["conf_high"], (component, term, value, row)
        gap = abs(row["estimate"] - reference["brms"]["summary"][brms]["mean"]) / row["std_error"]
        assert gap < 0.5, (component, term, gap)
    # the sigma effects: the simulated v_g within their 95% intervals (at least 90% of the 40 groups)
    ranef = fit.ranef().query("component == 'disp'").set_index("level")
    levels = [f"g{i + 1}" for i in range(len(reference["v"]))]
    covered = (ranef.loc[levels, "conf_low"] < reference["v"]) & (np.asarray(reference["v"]) < ranef.loc[levels,
                                                                                                         "conf_high"])
    assert covered.mean() >= 0.9
