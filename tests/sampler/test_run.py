"""Running the chains (bayesmm.sampler.run): chains run one after another give the same posterior as chains run
in parallel."""
from __future__ import annotations

import bayesmm as bmm  # before jax: bmm sets the CPU device count, which jax fixes once imported  # noqa: I001
from bayesmm.sampler import run as inference

import pytest

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleepstudy():
    return bmm.datasets.load("sleepstudy")


def test_program_posterior_matches_reference(sleepstudy, monkeypatch):
    """Forcing the sequential program for 2 chains: estimates within 0.35 posterior SD of the parallel
    run's, fixed effects within 0.5 posterior SD of lme4's (251.405, 10.467); no divergences."""
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
