"""fit.diagnose(): singular fits (a random slope with no variance over 5 groups), what the boundary preset
does about them, convergence findings on broken runs, too few levels, and print(fit)'s warning lines."""
import dataclasses
import re
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.answers.diagnostics import FINDING_COLUMNS, density_at_zero_and_mode

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


def _paste(code: str, fit):
    """Run one line of advice as a user would paste it (with ``fit`` and ``bmm`` defined); the new fit."""
    import ast

    ast.parse(code)
    namespace = {"fit": fit, "bmm": bmm}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(code, namespace)  # noqa: S102 - the advice is code meant to be pasted
    return namespace["fit"]


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


def test_broken_chains_give_one_finding_per_parameter_and_warning_lines():
    broken = _fit("Reaction ~ Days + (Days | Subject)", SLEEP, chains=2, draws=20, warmup=3, seed=1,
                  marginalize=False)
    findings = broken.diagnose()
    table = broken.tidy()
    n_bad = int((table["rhat"] >= 1.01).sum())
    poor = table[(table["rhat"] >= 1.01) | (table["ess_bulk"] < 400) | (table["ess_tail"] < 400)]
    rows = findings[findings["kind"].isin(["rhat", "ess_bulk", "ess_tail"]) & (findings["parameter"] != "r_Subject")]
    assert n_bad > 0 and (rows["kind"] == "rhat").sum() == n_bad and len(rows) == len(poor)
    row = rows.iloc[0]
    assert "Likely cause: a short run (3 warmup and 20 draws per chain)" in row["message"]
    assert row["advice"].startswith("fit = bmm.update(fit, chains=2, ")
    assert row["advice"].endswith("warmup=1000, draws=1000, seed=1)")
    levels = findings[findings["parameter"] == "r_Subject"]
    assert len(levels) == 1 and "level effects have Rhat >= 1.01 (worst r_Subject[" in levels["message"].iloc[0]
    text = str(broken)
    assert f"Warning: {n_bad + int(levels['message'].iloc[0].split(' of ')[0])} parameters have Rhat > 1.01" in text
    assert "have not converged" in text
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
    broken = dataclasses.replace(sleep_fit, idata=idata)
    rows = broken.diagnose().query("kind == 'ebfmi'")
    assert list(rows["parameter"]) == ["chain 0", "chain 1"]
    idata.sample_stats["energy"] = (("chain", "draw"), rng.normal(size=walk.shape))
    assert "ebfmi" not in set(dataclasses.replace(sleep_fit, idata=idata).diagnose()["kind"])


def test_too_few_levels_for_a_variance():
    df = bmm.datasets.simulate("singular").query("g in ['g0', 'g1', 'g2']")
    fit = _fit("y ~ x + (1 | g)", df, chains=2, draws=300, warmup=300, seed=1)
    findings = fit.diagnose()
    rows = findings.query("kind == 'few_levels'")
    assert list(rows["parameter"]) == ["sd_g"] and "only 3 levels" in rows["message"].iloc[0]
    assert "Warning [few_levels] sd_g: 'g' has only 3 levels" in str(fit)
    # the advice: a half-normal at the default prior's median (half_student_t(3, s_y): s_y times 0.765), or g fixed
    scale = next(e.prior.args[1] for e in fit.prior_entries if e.cls == "sd")
    median = float(f"{scale * 0.7649:.3g}")
    prior, fixed = rows["advice"].iloc[0].split("\n")
    assert prior.startswith(f"fit = bmm.fit('y ~ x + (1 | g)', fit.data, priors={{'sd': {{'g': {{'Intercept': "
                            f"'half_normal({median:g})'}}}}}}, chains=2, seed=1)  # stronger priors on the SDs of g")
    assert fixed.startswith("fit = bmm.fit('y ~ x + g', fit.data, chains=2")
    # a poorly mixing SD of that group names the cause with the same code
    sd_row = findings[(findings["parameter"] == "sd_g__Intercept") & findings["kind"].str.startswith(("rhat", "ess"))]
    if len(sd_row):
        assert "'g' has only 3 levels" in sd_row["message"].iloc[0] and prior in sd_row["advice"].iloc[0]
    pasted = _paste(prior.replace("seed=1)", "warmup=300, draws=300, seed=1)"), fit)
    assert pasted.priors.query("`class` == 'sd'")["prior"].iloc[0] == f"half_normal({median:.4g})"


def test_empty_diagnosis_prints_a_sentence():
    from bayesmm.answers.diagnostics import Diagnosis

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


# ------------------------------------------------------------------ causes of poor mixing, and their code
@pytest.fixture(scope="module")
def refitted_singular():
    """The random slope with no variance, its levels sampled (not integrated out): the chains mix poorly, the
    safeguard refits the block centred and keeps the first fit. Returns the fit and its BayesMMWarnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bmm.fit("y ~ x + (x | g)", bmm.datasets.simulate("singular"), chains=2, draws=300, warmup=300, seed=1,
                      marginalize=False)
    return fit, [w for w in caught if issubclass(w.category, bmm.BayesMMWarning)]


@pytest.mark.slow  # the fixture's two NUTS runs (~8 s); the other findings keep fast fits
def test_a_refit_is_named_in_the_single_warning(refitted_singular):
    fit, caught = refitted_singular
    note = fit.idata.posterior.attrs["refit"]
    # the safeguard's own sentence; which refit ran is down to the last bits of the compiled code: the block of
    # the SD that mixed worst (sd_g__Intercept in one process, sd_g__x in another after other fits had run) or,
    # on CPUs where the first run diverged, the higher target acceptance
    assert re.match(r"sd_g__(Intercept|x) refitted|refitted with target_accept 0\.8 -> 0\.95", note), note
    assert len(caught) == 1  # two NUTS runs, one warning
    status = str(caught[0].message)
    assert status == fit.status() and str(fit).startswith(status)
    assert status.startswith(("WARNING: not converged: Rhat ", "WARNING: too few effective draws: "))
    assert f"refit: {note.rstrip('.')}. See fit.diagnose()." in status


@pytest.mark.slow
def test_an_sd_piled_at_zero_is_named_as_the_cause_with_code(refitted_singular):
    fit, _ = refitted_singular
    findings = fit.diagnose()
    rows = findings[findings["kind"].isin(["rhat", "ess_bulk", "ess_tail"]) & findings["parameter"].str.startswith("sd_g")]
    assert len(rows)
    for row in rows.itertuples():
        assert "Likely cause: sd_g__x piles up at zero" in row.message
        lines = row.advice.split("\n")
        assert lines[0].startswith("fit = bmm.fit('y ~ x + (x | g)', fit.data, priors='boundary', chains=2, ")
        assert lines[1].startswith("fit = bmm.fit('y ~ x + (1 | g)', fit.data, chains=2, ")
        for line in lines:
            import ast

            ast.parse(line)
    table = fit.tidy().set_index("term")
    assert table.loc["sd__x", "estimate"] < 0.15  # the slope's SD: near its true 0


def test_divergences_advise_a_higher_target_accept():
    fit = _fit("y ~ x + (x | g)", bmm.datasets.simulate("singular"), chains=2, draws=300, warmup=300, seed=1,
               marginalize=False, centered=True, refit=False)
    assert fit.n_divergent > 0  # centred levels of an SD near zero: the funnel
    assert f"; {fit.n_divergent} divergences" in fit.status()
    findings = fit.diagnose()
    row = findings.query("kind == 'divergences'").iloc[0]
    assert row["message"].startswith(f"{fit.n_divergent} of 600 transitions after warmup diverged")
    assert row["advice"].startswith("fit = bmm.update(fit, chains=2, target_accept=0.95, seed=1)  # smaller steps")
    # the SDs mix poorly; among the causes named (the SD's pile-up at zero may come first, "...; or ..."):
    # divergences with centred levels, the code: non-centred levels
    sd_x = findings[findings["parameter"] == "sd_g__x"].iloc[0]
    centred = fit.idata.posterior.attrs["centered_levels"]
    assert centred > 0 and "fit = bmm.update(fit, chains=2, centered=False, seed=1)" in row["advice"]
    causes = sd_x["message"].split("Likely cause: ", 1)[1].split("; or ")
    assert any(cause.startswith(f"{fit.n_divergent} divergences with {centred} levels sampled centred: a funnel")
               for cause in causes), sd_x["message"]
    assert "fit = bmm.update(fit, chains=2, centered=False, seed=1)  # levels non-centred" in sd_x["advice"]


def uncentred_interaction(seed: int = 2) -> pd.DataFrame:
    """120 rows; year runs 2000-2010, so in ``year * z`` the coefficient of z (its slope at year 0) and that of
    year:z lie on a ridge (correlation about -1)."""
    rng = np.random.default_rng(seed)
    n = 120
    year = rng.integers(2000, 2011, n).astype(float)
    z = rng.normal(size=n)
    g = rng.integers(0, 12, n)
    y = 1 + 0.3 * z + 0.1 * (year - 2005) + rng.normal(0, 0.5, 12)[g] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "year": year, "z": z, "g": [f"g{i}" for i in g]})


def test_a_ridge_names_the_partner_and_advises_scaling_the_covariate():
    fit = _fit("y ~ year * z + (1 | g)", uncentred_interaction(), chains=2, draws=100, warmup=100, seed=1)
    table = fit.tidy().set_index("term")
    assert table.loc["z", "rhat"] > 1.05  # stuck on the ridge
    row = fit.diagnose().set_index("parameter").loc["z"]
    assert row["kind"] == "rhat"
    b = fit.idata.posterior["b"].values.reshape(-1, 4)
    rho = np.corrcoef(b[:, 2], b[:, 3])[0, 1]
    assert rho < -0.9 and f"Likely cause: a ridge with year:z (posterior correlation {rho:.2f})" in row["message"]
    assert row["advice"].split("\n")[0].startswith(
        "fit = bmm.fit('y ~ scale(year) * z + (1 | g)', fit.data, chains=2, seed=1)  # centre and scale year")
    assert "159 transitions hit the maximum tree depth" in fit.status() or "maximum tree depth" in fit.status()
    rescaled = _paste(row["advice"].split("\n")[0].replace("seed=1)", "draws=300, warmup=300, seed=1)"), fit)
    assert rescaled.tidy()["rhat"].max() < 1.01  # scaled: the ridge is gone, the chains agree


# ------------------------------------------------------------------------------- prior-data conflict
def precise_proportions(seed: int = 3) -> pd.DataFrame:
    """32 beta-distributed proportions, 8 batches of 4, precision phi = 500 (as precise as betareg's
    GasolineYield, whose ML phi is 302)."""
    rng = np.random.default_rng(seed)
    batch = np.repeat(np.arange(8), 4)
    temp = rng.uniform(-1, 1, 32)
    mu = 1 / (1 + np.exp(-(-1.0 + 0.8 * temp + rng.normal(0, 0.3, 8)[batch])))
    return pd.DataFrame({"y": rng.beta(mu * 500, (1 - mu) * 500), "temp": temp,
                         "batch": [f"b{i}" for i in batch]})


@pytest.mark.slow  # two beta fits (~8 s); a well-identified model's check below stays fast
def test_a_prior_holding_phi_down_is_a_conflict_with_a_wider_prior_to_paste():
    """gamma(2, 0.1) (mean 20, 99th percentile 66) on phi, brms's default for the beta precision: the data say
    about 500, the posterior stops near 110."""
    data = precise_proportions()
    fit = _fit("y ~ temp + (1 | batch)", data, family="beta", priors={"phi": "gamma(2, 0.1)"}, chains=2, draws=500,
               warmup=500, seed=1)
    table = fit.check_prior_conflict()
    assert table.loc["phi", "conflict"] == "above" and table.loc["phi", "prior_quantile"] > 0.99
    assert table.loc["phi", "prior_q99"] == pytest.approx(66.38, abs=0.01)  # qgamma(0.99, 2, 0.1) in R
    assert table.loc["phi", "posterior_median"] > 66.38
    assert table.loc["sd_batch__Intercept", "conflict"] == ""
    (row,) = [r for _, r in fit.diagnose().iterrows() if r["kind"] == "prior_conflict"]
    assert row["parameter"] == "phi"
    assert "lies beyond the 99th percentile (66.4) of the prior gamma(2, 0.1)" in row["message"]
    assert "the data pull phi up" in row["message"]
    advice = row["advice"]
    assert advice.startswith("fit = bmm.fit('y ~ temp + (1 | batch)', fit.data, family='beta', priors={'phi': "
                             "'gamma(2, ") and "x wider" in advice
    assert "Warning [prior_conflict] phi: prior-data conflict" in str(fit)
    wider = _paste(advice.replace("seed=1)", "draws=500, warmup=500, seed=1)"), fit)
    phi = wider.check_prior_conflict().loc["phi"]
    assert phi["conflict"] == "" and phi["posterior_median"] > 2 * table.loc["phi", "posterior_median"]
    assert 200 < phi["posterior_median"] < 1000  # near the simulated 500


def test_a_well_identified_model_has_no_prior_conflict(sleep_fit):
    table = sleep_fit.check_prior_conflict()
    assert list(table.index) == ["sigma", "sd_Subject__Intercept", "sd_Subject__Days"]
    assert (table["conflict"] == "").all() and (table["prior_quantile"] < 0.95).all()
    assert "prior_conflict" not in set(sleep_fit.diagnose()["kind"])


def test_singular_slope_under_an_sd_prior_in_units_of_sigma():
    """rstanarm's preset puts exponential(1) on sd / sigma: the density at zero is compared on that scale, so
    the slope's SD (truly 0) is still found piled against zero and the intercept's is not."""
    fit = _fit("y ~ x + (x | g)", bmm.datasets.simulate("singular"), priors="rstanarm", chains=2, draws=1000,
               warmup=500, seed=1)
    kinds = _kinds(fit.diagnose())
    assert ("singular_sd", "sd_g__x") in kinds and ("singular_sd", "sd_g__Intercept") not in kinds


def test_advice_writes_the_group_as_the_formula_does():
    """The advice's ``(x || group)`` quotes a group whose name needs it and keeps an interaction's ``:``."""
    from bayesmm.answers.diagnostics import _simplify

    df = bmm.datasets.simulate("singular").rename(columns={"g": "my group"})
    df["site"] = df["my group"].astype(str).str[:2]
    fit = bmm.fit("y ~ x + (x | `my group`) + (x | site:`my group`)", df, chains=2, draws=50, warmup=50, seed=1,
                  refit=False)
    advice = _simplify(fit, "my group")
    assert "write (x || `my group`) to drop the correlations" in advice, advice
    assert "(x || site:`my group`)" in _simplify(fit, "site:my group")


@pytest.mark.slow
def test_a_singular_sd_in_the_zi_formula_is_found_and_named_by_its_part():
    """Counts without site effects in the zero inflation: sd(zi_Intercept) piles at zero, found as
    sd_site__zi_Intercept, with advice for the zi= formula and its sd_zi prior; the mean's SD is not singular."""
    from scipy import special

    rng = np.random.default_rng(5)
    site = np.repeat(np.arange(12), 30)
    x = rng.normal(size=site.size)
    mu = np.exp(1.0 + 0.5 * x + rng.normal(0, 0.5, 12)[site])
    y = np.where(rng.uniform(size=site.size) < special.expit(-0.5), 0, rng.poisson(mu))
    data = pd.DataFrame({"y": y, "x": x, "site": [f"s{i}" for i in site]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("y ~ x + (1 | site)", data, family="zero_inflated_poisson", zi="~ (1 | site)", chains=2,
                      draws=500, warmup=500, seed=2)
    singular = fit.diagnose().query("kind == 'singular_sd'")
    assert list(singular["parameter"]) == ["sd_site__zi_Intercept"]
    advice = singular["advice"].iloc[0]
    assert "zi='~ 1'" in advice and "'sd_zi': {'site': 'gamma(2.5, 0.2)'}" in advice
