"""fit.diagnose(): singular fits (a random slope with no variance over 5 groups), what the boundary preset
does about them, convergence findings on broken runs, too few levels, and print(fit)'s warning lines."""
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.diagnostics import FINDING_COLUMNS, density_at_zero_and_mode

SLEEP = bmm.datasets.load("sleepstudy")




def _fit(formula, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bmm.fit(formula, data, **kwargs)


@pytest.fixture(scope="module")
def singular_default():
    return _fit("y ~ x + (x | g)", bmm.datasets.simulate("singular"), chains=2, draws=1000, warmup=500, seed=1)


@pytest.fixture(scope="module")
def singular_boundary():
    return _fit("y ~ x + (x | g)", bmm.datasets.simulate("singular"), priors="boundary", chains=2, draws=1000, warmup=500, seed=1)


@pytest.fixture(scope="module")
def sleep_fit():
    return _fit("Reaction ~ Days + (Days | Subject)", SLEEP, chains=2, draws=500, warmup=500, seed=4)


def _kinds(findings) -> dict:
    return {(r.kind, r.parameter) for r in findings.itertuples()}


@pytest.mark.slow
def test_singular_slope_is_reported_with_the_faq_advice(singular_default):
    findings = singular_default.diagnose()
    assert list(findings.columns) == FINDING_COLUMNS
    kinds = _kinds(findings)
    assert ("singular_sd", "sd_g__x") in kinds and ("singular_cov", "cov_g") in kinds
    assert ("singular_sd", "sd_g__Intercept") not in kinds  # the intercepts do vary
    row = findings[findings["kind"] == "singular_sd"].iloc[0]
    assert "piled against zero" in row["message"]
    for advice in ("(x || g)", "priors='boundary'", "more levels"):
        assert advice in row["advice"]
    text = repr(findings)
    assert "[singular_sd] sd_g__x: the posterior is piled against zero" in text and "advice: " in text
    assert "Warning [singular_sd] sd_g__x" in str(singular_default)
    # the estimate itself: the slope SD is near its true 0, the intercept SD near the simulated scale
    table = singular_default.tidy().set_index("term")
    assert table.loc["sd__x", "conf_high"] < 0.2 and table.loc["sd__x", "rhat"] < 1.01
    assert table.loc["sd__Intercept", "conf_low"] > 0.4


@pytest.mark.slow
def test_default_settings_give_no_divergences_on_the_singular_model(singular_default):
    assert singular_default.n_divergent == 0
    assert "divergences" not in set(singular_default.diagnose()["kind"])


@pytest.mark.slow
def test_boundary_preset_keeps_the_mode_off_zero(singular_default, singular_boundary):
    default_sd = singular_default.idata.posterior["sd_g"].sel(g__term="x").values.ravel()
    boundary_sd = singular_boundary.idata.posterior["sd_g"].sel(g__term="x").values.ravel()
    _, default_mode = density_at_zero_and_mode(default_sd)
    at_zero, boundary_mode = density_at_zero_and_mode(boundary_sd)
    assert default_mode < 0.05 * np.quantile(default_sd, 0.95)  # default: mode at the boundary
    assert boundary_mode > np.quantile(boundary_sd, 0.05) > 0.01  # boundary: mode inside the bulk
    assert ("singular_sd", "sd_g__x") not in _kinds(singular_boundary.diagnose())


def correlated_data(seed: int = 5) -> pd.DataFrame:
    """30 groups x 10 rows; each group's slope is 0.3 + 0.3 x its intercept effect: correlation exactly +1."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 10)
    x = np.tile(np.arange(10.0), 30)
    u = rng.normal(0, 1.0, 30)
    y = 2 + u[g] + (0.3 + 0.3 * u[g]) * x + rng.normal(0, 0.2, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


@pytest.mark.slow
def test_correlation_piled_at_one_is_reported():
    fit = _fit("y ~ x + (x | g)", correlated_data(), chains=2, draws=1000, warmup=500, seed=1)
    rows = fit.diagnose().query("kind == 'singular_cor'")
    assert list(rows["parameter"]) == ["cor_g__Intercept__x"]
    assert "piled at +1" in rows["message"].iloc[0] and "(x || g)" in rows["advice"].iloc[0]
    assert fit.tidy().set_index("term").loc["cor__Intercept.x", "conf_low"] > 0.85
    assert fit.n_divergent == 0


def test_a_healthy_fit_has_no_singular_or_separation_findings(sleep_fit):
    kinds = {k for k, _ in _kinds(sleep_fit.diagnose())}
    assert not kinds & {"singular_sd", "singular_cor", "singular_cov", "separation", "few_levels", "divergences",
                        "rhat", "ebfmi"}


def test_broken_chains_give_rhat_and_ess_findings_and_warning_lines():
    broken = _fit("Reaction ~ Days + (Days | Subject)", SLEEP, chains=2, draws=20, warmup=3, seed=1,
                  marginalize=False)
    findings = broken.diagnose()
    table = broken.tidy()
    n_bad = int((table["rhat"] > 1.01).sum())
    assert n_bad > 0 and (findings["kind"] == "rhat").sum() == n_bad
    assert (findings["kind"] == "ess_bulk").sum() == int((table["ess_bulk"] < 400).sum()) > 0
    text = str(broken)
    assert f"Warning: {n_bad} parameters have Rhat > 1.01" in text and "have not converged" in text
    assert text.rstrip().endswith("See fit.diagnose() for advice on each warning.")


def test_tree_depth_saturation_is_found(sleep_fit):
    shallow = _fit("Reaction ~ Days + (Days | Subject)", SLEEP, chains=1, draws=200, warmup=200, seed=1,
                   max_tree_depth=2)
    row = shallow.diagnose().query("kind == 'treedepth'")
    hits = int(row["message"].iloc[0].split(" of ")[0])
    assert hits > 100  # a depth-2 tree cannot cross this posterior: most transitions hit the cap
    assert "treedepth" not in set(sleep_fit.diagnose()["kind"])


def test_low_ebfmi_is_found_on_random_walk_energies(sleep_fit):
    """E-BFMI = mean squared energy change / energy variance: about 2 for independent energies, near 0 for a
    random walk (Betancourt 2016)."""
    idata = sleep_fit.idata.copy()
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=idata.sample_stats["energy"].shape), axis=1)
    idata.sample_stats["energy"] = (("chain", "draw"), walk)
    broken = dataclasses.replace(sleep_fit, idata=idata, _cache={})
    rows = broken.diagnose().query("kind == 'ebfmi'")
    assert list(rows["parameter"]) == ["chain 0", "chain 1"]
    idata.sample_stats["energy"] = (("chain", "draw"), rng.normal(size=walk.shape))
    assert "ebfmi" not in set(dataclasses.replace(sleep_fit, idata=idata, _cache={}).diagnose()["kind"])


def test_too_few_levels_for_a_variance():
    df = bmm.datasets.simulate("singular").query("g in ['g0', 'g1', 'g2']")
    fit = _fit("y ~ x + (1 | g)", df, chains=2, draws=300, warmup=300, seed=1)
    rows = fit.diagnose().query("kind == 'few_levels'")
    assert list(rows["parameter"]) == ["sd_g"] and "only 3 levels" in rows["message"].iloc[0]
    assert "Warning [few_levels] sd_g: 'g' has only 3 levels" in str(fit)


def test_empty_diagnosis_prints_a_sentence():
    from bayesmm.diagnostics import Diagnosis

    assert repr(Diagnosis([], columns=FINDING_COLUMNS)).startswith("No problems found")


def test_pareto_k_finding_counts_the_rows_loo_flags():
    """cbpp (56 rows, one herd-period per row): PSIS-LOO flags some rows with k > 0.7; diagnose() reports
    exactly those rows (the count in its message equals az.loo's), and print(fit) mentions it."""
    from answers_fits import cbpp_fit

    fit = cbpp_fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = np.asarray(fit.loo().pareto_k)
    findings = fit.diagnose()
    rows = findings[findings["kind"] == "pareto_k"]
    n_bad = int((k > 0.7).sum())
    assert n_bad > 0 and len(rows) == 1
    assert rows["message"].iloc[0].startswith(f"{n_bad} of 56 observations")
    assert "Pareto k" in str(fit)
