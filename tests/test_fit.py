"""The Fit object: reproducibility, the InferenceData layout, tidy()/fixef/ranef/coef/varcorr values and
the printed summary (short real NUTS runs)."""
import warnings

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.posterior import TIDY_COLUMNS

SLEEP = bmm.datasets.load("sleepstudy")
FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def short_fit():
    return bmm.fit(FORMULA, SLEEP, chains=2, draws=300, warmup=300, seed=7)


def test_same_seed_same_draws_bit_for_bit(short_fit):
    again = bmm.fit(FORMULA, SLEEP, chains=2, draws=300, warmup=300, seed=7)
    for name in short_fit.idata.posterior.data_vars:
        np.testing.assert_array_equal(short_fit.idata.posterior[name].values, again.idata.posterior[name].values)
    other = bmm.fit(FORMULA, SLEEP, chains=2, draws=300, warmup=300, seed=8)
    assert not np.array_equal(short_fit.idata.posterior["b"].values, other.idata.posterior["b"].values)


def test_idata_groups_and_named_coordinates(short_fit):
    idata = short_fit.idata
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data"} <= set(idata.groups())
    post = idata.posterior
    assert list(post["coef"].values) == ["Intercept", "Days"]
    assert post["r_Subject"].dims == ("chain", "draw", "Subject__level", "Subject__term")
    assert list(post["Subject__level"].values) == sorted(SLEEP.Subject.unique(), key=int)
    assert list(post["Subject__term"].values) == ["Intercept", "Days"]
    draws = short_fit.settings.draws  # 300, or 600 where the safeguard ran the chains longer
    assert draws in (300, 600) and post.sizes["draw"] == draws
    assert post["sd_Subject"].shape == (2, draws, 2)
    cor = post["cor_Subject"].values
    np.testing.assert_allclose(cor[..., 0, 0], 1.0)
    np.testing.assert_allclose(cor[..., 0, 1], cor[..., 1, 0])
    assert idata.log_likelihood["y"].shape == (2, draws, 180)
    np.testing.assert_array_equal(idata.observed_data["y"].values, SLEEP.Reaction.to_numpy())
    assert {"diverging", "lp", "tree_depth", "step_size", "energy"} <= set(idata.sample_stats.data_vars)
    assert post.attrs["formula"] == FORMULA and post.attrs["seed"] == 7


def test_tidy_layout_and_values(short_fit):
    table = short_fit.tidy()
    assert list(table.columns) == TIDY_COLUMNS
    assert list(table["term"]) == ["Intercept", "Days", "sd__Intercept", "sd__Days", "cor__Intercept.Days",
                                   "sd__Observation"]
    assert list(table["effect"]) == ["fixed", "fixed", "ran_pars", "ran_pars", "ran_pars", "ran_pars"]
    assert list(table["group"]) == ["", "", "Subject", "Subject", "Subject", "Residual"]
    days = short_fit.idata.posterior["b"].sel(coef="Days").values.ravel()
    row = table.set_index("term").loc["Days"]
    assert row["estimate"] == pytest.approx(days.mean())
    assert row["std_error"] == pytest.approx(days.std(ddof=1))
    assert row["conf_low"] == pytest.approx(np.quantile(days, 0.025))
    narrow = short_fit.tidy(prob=0.5).set_index("term").loc["Days"]
    assert row["conf_low"] < narrow["conf_low"] < narrow["conf_high"] < row["conf_high"]
    hdi = short_fit.tidy(interval="hdi").set_index("term").loc["Days"]
    # the shortest interval from one sorted draw to the one floor(0.95 n) places on (ArviZ's hdi): no wider than
    # the one of that span starting at the equal-tailed interval's lower end (np.quantile interpolates, so the
    # equal-tailed interval itself may span a place less, and be a little narrower)
    ordered = np.sort(days)
    span = int(np.floor(0.95 * ordered.size))
    start = int(np.floor(0.025 * ordered.size))
    width = hdi["conf_high"] - hdi["conf_low"]
    assert width == pytest.approx(np.min(ordered[span:] - ordered[:ordered.size - span]))
    assert width <= ordered[start + span] - ordered[start]
    with pytest.raises(bmm.BayesMMError):
        short_fit.tidy(prob=1.5)


def test_fixef_ranef_coef_varcorr_agree(short_fit):
    fixef = short_fit.fixef()
    assert list(fixef.columns) == ["Estimate", "Est.Error", "Q2.5", "Q97.5"]
    ranef = short_fit.ranef()
    coef = short_fit.coef()
    assert len(ranef) == 18 * 2 and set(ranef["term"]) == {"Intercept", "Days"}
    merged = ranef.merge(coef, on=["group", "level", "term"], suffixes=("_r", "_c"))
    # posterior mean of (fixed + random) = fixed mean + random mean
    expected = merged["estimate_r"] + merged["term"].map(fixef["Estimate"])
    np.testing.assert_allclose(merged["estimate_c"], expected, rtol=1e-10)
    # random effects average to about zero across subjects, as they must under the model
    assert abs(ranef.query("term == 'Days'")["estimate"].mean()) < 1.0
    vc = short_fit.varcorr()
    assert list(vc["grp"]) == ["Subject", "Subject", "Subject", "Residual"]
    assert list(vc["var1"].fillna("")) == ["Intercept", "Days", "Intercept", ""]
    assert vc.loc[2, "var2"] == "Days" and -1 < vc.loc[2, "sdcor"] < 1


def test_summary_sections_and_numbers(short_fit):
    text = str(short_fit)
    for piece in ["Family: gaussian", "Links: mu = identity; sigma = identity", f"Formula: {FORMULA}",
                  "Number of observations: 180",
                  f"Draws: 2 chains, each with iter = {short_fit.settings.draws + 300}; warmup = 300",
                  "Group-Level Effects:", "~Subject (Number of levels: 18)", "sd(Intercept)",
                  "cor(Intercept,Days)", "Population-Level Effects:", "Family Specific Parameters:", "sigma",
                  "Estimate Est.Error l-95% CI u-95% CI  Rhat Bulk_ESS Tail_ESS"]:
        assert piece in text, piece
    days = short_fit.tidy().set_index("term").loc["Days"]
    assert f"{days['estimate']:.2f}" in text.split("Population-Level Effects:")[1]


def _fit_recording(*args, **kwargs):
    """The fit and the BayesMMWarnings it emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bmm.fit(*args, **kwargs)
    return fit, [w for w in caught if issubclass(w.category, bmm.BayesMMWarning)]


#: the names the status line gives sleepstudy's parameters (tidy() term -> the name fit.intervals() takes)
LABELS = {"Intercept": "Intercept", "Days": "Days", "sd__Intercept": "sd_Subject__Intercept",
          "sd__Days": "sd_Subject__Days", "cor__Intercept.Days": "cor_Subject__Intercept__Days",
          "sd__Observation": "sigma"}


@pytest.fixture(scope="module")
def unconverged():
    """30 warmup iterations and 30 draws per chain: too short to adapt, the chains disagree."""
    return _fit_recording(FORMULA, SLEEP, chains=2, draws=30, warmup=30, seed=1)


def test_a_poor_fit_warns_once_and_its_summary_starts_with_the_status(unconverged):
    fit, caught = unconverged
    assert len(caught) == 1  # one warning for the fit, not one per parameter
    status = str(caught[0].message)
    assert status == fit.status() and str(fit).startswith(status + "\n")
    assert status.startswith("WARNING: not converged: Rhat ") and status.endswith(". See fit.diagnose().")
    table = fit.tidy().set_index("term")
    worst = table["rhat"].idxmax()
    assert table.loc[worst, "rhat"] >= 1.01
    # every parameter counts, each level's random effect included (arviz's Rhat over r_Subject); the levels are
    # drawn exactly from their conditional (integrated out): they count from what chance gives 36 effects in 2 x 30
    import arviz as az

    from bayesmm.answers.convergence import chance_rhat

    levels = az.rhat(fit.idata.posterior[["r_Subject"]])["r_Subject"].values
    n_poor = int((table["rhat"] >= 1.01).sum() + (levels >= chance_rhat(levels.size, 2, 30)).sum())
    assert f"Rhat {table.loc[worst, 'rhat']:.3f} for {LABELS[worst]} (and {n_poor - 1} more)" in status
    least = table["ess_bulk"].idxmin()
    n_low = int((table["ess_bulk"] < 400).sum())
    assert f"bulk ESS {table.loc[least, 'ess_bulk']:.0f} for {LABELS[least]} (and {n_low - 1} more)" in status
    assert f"; {fit.n_divergent} divergence" in status


def test_summary_warns_about_broken_chains():
    broken, caught = _fit_recording(FORMULA, SLEEP, chains=2, draws=20, warmup=3, seed=1, marginalize=False)
    table = broken.tidy()
    text = str(broken)
    assert table["rhat"].max() > 1.01
    assert "Rhat > 1.01" in text and "have not converged" in text
    assert len(caught) == 1 and text.splitlines()[0] == str(caught[0].message)


def test_a_converged_fit_has_no_status_line_and_no_warning():
    fit, caught = _fit_recording(FORMULA, SLEEP, chains=4, draws=500, warmup=500, seed=2)
    table = fit.tidy()
    assert table["rhat"].max() < 1.01 and table[["ess_bulk", "ess_tail"]].min().min() >= 400
    assert fit.n_divergent == 0
    assert caught == [] and fit.status() == ""
    assert str(fit).startswith(" Family: gaussian")
    # a refit note alone (the first run failed, the kept one passed) is a NOTE line, not a warning
    import dataclasses

    idata = fit.idata.copy()
    idata.posterior.attrs["refit"] = "sd_Subject__Intercept refitted centred (Rhat 1.030 -> 1.002); the refit kept."
    refitted = dataclasses.replace(fit, idata=idata)
    assert refitted.status() == ("NOTE: converged after a refit: sd_Subject__Intercept refitted centred "
                                 "(Rhat 1.030 -> 1.002); the refit kept.")
    assert str(refitted).startswith(refitted.status() + "\n")


def test_vectorised_rhat_equals_arviz_with_ties_and_a_stuck_chain(unconverged):
    """The levels' Rhat (status line, diagnose) is ArviZ's rank-normalised split Rhat, computed for all
    columns at once: equal to ArviZ's on a real fit's random effects and on draws with ties."""
    import arviz as az
    import xarray as xr

    from bayesmm.answers.convergence import rank_normalized_rhat

    fit, _ = unconverged
    levels = fit.idata.posterior["r_Subject"]
    np.testing.assert_allclose(rank_normalized_rhat(levels.values), az.rhat(levels.to_dataset())["r_Subject"].values,
                               rtol=0, atol=1e-12)
    draws = np.round(np.random.default_rng(1).normal(size=(3, 41, 6)), 1)  # odd draws: the middle one dropped
    draws[1, 10:30, 2] = 0.7  # a chain stuck on one value
    expected = az.rhat(xr.Dataset({"x": (("chain", "draw", "k"), draws)}))["x"].values
    np.testing.assert_allclose(rank_normalized_rhat(draws), expected, rtol=0, atol=1e-12)
