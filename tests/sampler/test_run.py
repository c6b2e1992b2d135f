"""Running the chains (bayesmm.sampler.run): chains run one after another give the same posterior as chains run
in parallel, ``progress=True`` hands them to numpyro's ``MCMC`` on the same posterior, and the default never
switches the sampler by itself."""
from __future__ import annotations

import sys

import bayesmm as bmm  # before jax: bmm sets the CPU device count, which jax fixes once imported  # noqa: I001
from bayesmm.sampler import run as inference

import numpy as np
import pytest

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleepstudy():
    return bmm.datasets.load("sleepstudy")


def test_program_posterior_matches_reference(sleepstudy, monkeypatch):
    """Forcing the sequential program for 2 chains: estimates within 0.35 posterior SD of the parallel
    numpyro run's, fixed effects within 0.5 posterior SD of lme4's (251.405, 10.467); no divergences."""
    model = bmm.Model(SLEEP, sleepstudy)
    monkeypatch.setattr(inference, "_chain_method", lambda chains: "sequential")
    seq = model.fit(chains=2, draws=500, warmup=500, seed=5)
    monkeypatch.undo()
    par = model.fit(chains=2, draws=500, warmup=500, seed=5)
    a, b = seq.tidy().set_index("term"), par.tidy().set_index("term")
    assert int(seq.idata.sample_stats["diverging"].sum()) == 0
    assert (a["rhat"] < 1.02).all()
    z = (a["estimate"] - b["estimate"]).abs() / b["std_error"]
    assert (z < 0.35).all(), z
    assert abs(a.loc["Intercept", "estimate"] - 251.4) < 0.5 * a.loc["Intercept", "std_error"]
    assert abs(a.loc["Days", "estimate"] - 10.47) < 0.5 * a.loc["Days", "std_error"]


def test_progress_bar_runs_numpyros_sampler_on_the_same_posterior(sleepstudy):
    """``progress=True`` hands parallel chains to numpyro's ``MCMC`` (for its progress bar): same starting
    points, fixed effects within 0.5 posterior SD of lme4's (251.405, 10.467), no divergences."""
    assert inference._chain_method(2) == "parallel"  # else progress=True has no numpyro path to take
    fit = bmm.Model(SLEEP, sleepstudy).fit(chains=2, draws=400, warmup=400, seed=6, progress=True)
    assert fit.idata.posterior.attrs["sampler"] == "numpyro"
    table = fit.tidy().set_index("term")
    assert fit.n_divergent == 0
    assert abs(table.loc["Intercept", "estimate"] - 251.405) < 0.5 * table.loc["Intercept", "std_error"]
    assert abs(table.loc["Days", "estimate"] - 10.467) < 0.5 * table.loc["Days", "std_error"]


def test_same_seed_same_draws_in_a_terminal(sleepstudy, monkeypatch, capsys):
    """The default (``progress=None``) never switches the sampler by itself: a long job in a terminal draws
    exactly what it draws in a notebook or a script (before, it took numpyro's path there, with other draws).
    The run is made to look long by lowering nothing: the announcement is checked on a fake large row count."""
    model = bmm.Model(SLEEP, sleepstudy)
    quiet = model.fit(chains=2, draws=100, warmup=100, seed=4, progress=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("CI", raising=False)
    in_terminal = model.fit(chains=2, draws=100, warmup=100, seed=4)
    np.testing.assert_array_equal(quiet.idata.posterior["b"].values, in_terminal.idata.posterior["b"].values)
    assert quiet.idata.posterior.attrs["sampler"] == in_terminal.idata.posterior.attrs["sampler"] == "compiled"
    settings = inference.SamplerSettings(chains=4, draws=1000, warmup=1000)
    inference.announce(settings, type("Data", (), {"y": np.zeros(20_000)})())
    assert "progress=True shows a progress bar" in capsys.readouterr().err


@pytest.mark.slow  # two negative binomial fits (~9 s); the sleepstudy fits above keep the fast check
def test_progress_bar_sampler_uses_the_covariate_coordinates_too():
    """The same with sampled random effects whose block has a level-level covariate (salamanders' ``mined``
    within ``site``: rotated by ``coordinates.level_bases``): numpyro's ``MCMC`` path maps the draws back
    through the same rotation, so its posterior is the compiled sampler's (each estimate within 0.3 posterior
    SD; measured 0.10 at most), the sites' effects included."""
    assert inference._chain_method(2) == "parallel"
    salamanders = bmm.datasets.load("salamanders")
    model = bmm.Model("count ~ spp * mined + (1 | site)", salamanders, family="negbinomial")
    with_bar = model.fit(chains=2, draws=300, warmup=300, seed=3, progress=True)
    compiled_fit = model.fit(chains=2, draws=300, warmup=300, seed=3)
    a, b = with_bar.tidy(), compiled_fit.tidy()
    assert with_bar.n_divergent == 0 and list(a["term"]) == list(b["term"])
    gap = np.abs(a["estimate"].values - b["estimate"].values) / b["std_error"].values
    assert gap.max() < 0.3, a.assign(gap=gap)
    # the sites' effects, mapped back from the rotated coordinates: the same posterior means
    ra, rb = with_bar.ranef(), compiled_fit.ranef()
    gap = np.abs(ra["estimate"].values - rb["estimate"].values) / rb["std_error"].values
    assert list(ra["level"]) == list(rb["level"]) and gap.max() < 0.3, ra.assign(gap=gap)
