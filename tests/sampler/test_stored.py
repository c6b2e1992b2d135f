"""Performance plumbing (no timed assertions): compiled programs are reused between fits, stored between
processes and read back instead of traced, the persistent compilation cache follows ``BAYESMM_CACHE_DIR``,
and chains run one after another give the same posterior as chains run in parallel."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import bayesmm as bmm  # before jax: bmm sets the CPU device count, which jax fixes once imported  # noqa: I001
from bayesmm.sampler import run as inference

import jax
import numpy as np
import pytest
from bayesmm.sampler.nuts import chain_program, compiled
from bayesmm.sampler.potential import initial_values

SLEEP = "Reaction ~ Days + (Days | Subject)"


class _CompileCounter:
    """Counts jaxpr traces and XLA compilations by listening to JAX's monitoring events."""

    def __init__(self):
        self.events = []
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **kwargs):
        if "compile" in event or "trace" in event:
            self.events.append(event)

    def close(self):
        jax.monitoring.unregister_event_duration_listener(self._listen)


@pytest.fixture(scope="module")
def sleepstudy():
    return bmm.datasets.load("sleepstudy")


def test_second_sequential_fit_does_not_trace_or_compile(sleepstudy):
    """chains=1 runs the cached single program: a second fit of the same model (another seed) traces and
    compiles nothing, and gives new draws of the same posterior. (Priors are autoscaled from the data and
    are part of the model's structure, so new data of the same shape compiles a new program.)"""
    model = bmm.Model(SLEEP, sleepstudy)
    first = model.fit(chains=1, draws=300, warmup=300, seed=1)
    counter = _CompileCounter()
    try:
        second = model.fit(chains=1, draws=300, warmup=300, seed=2)
    finally:
        counter.close()
    assert counter.events == []
    a, b = first.tidy().set_index("term"), second.tidy().set_index("term")
    assert not np.allclose(first.idata.posterior["b"].values, second.idata.posterior["b"].values)
    assert ((a["estimate"] - b["estimate"]).abs() < 0.5 * a["std_error"]).all()
    assert abs(b.loc["Intercept", "estimate"] - 251.405) < 0.5 * b.loc["Intercept", "std_error"]


def test_cached_programs_are_reused(sleepstudy):
    model = bmm.Model(SLEEP, sleepstudy)
    model.fit(chains=1, draws=300, warmup=300, seed=3)
    before = chain_program.cache_info().hits, compiled.cache_info().misses
    model.fit(chains=1, draws=300, warmup=300, seed=4)
    after = chain_program.cache_info().hits, compiled.cache_info().misses
    assert after == (before[0] + 1, before[1])


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


def test_cache_dir_follows_environment(tmp_path):
    """A fresh process writes its compiled programs under BAYESMM_CACHE_DIR; an empty value turns it off."""
    code = ("import bayesmm as bmm, jax; bmm.fit('y ~ 1 + (1|g)', "
            "__import__('pandas').DataFrame({'y': [1., 2, 3, 4, 5, 6, 2, 3], 'g': list('aabbccdd')}), "
            "chains=1, draws=50, warmup=50); print(jax.config.jax_compilation_cache_dir)")
    env = dict(os.environ, BAYESMM_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=pathlib.Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(tmp_path / "cache")
    assert any((tmp_path / "cache").iterdir())
    env["BAYESMM_CACHE_DIR"] = ""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                         cwd=pathlib.Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] in ("None", "")


@pytest.mark.parametrize("formula", [SLEEP, "Reaction ~ Days + (1 | Subject)"])
def test_per_level_marginal_equals_dense(sleepstudy, formula):
    """One block of few columns: the per-level Woodbury algebra (unrolled q x q Cholesky) gives the dense
    algebra's log-likelihood and conditional random effects, for weights too."""
    from bayesmm.model import compile_model
    from bayesmm.model.marginal import conditional_effects, marginal_log_likelihood

    model = bmm.Model(formula, sleepstudy.assign(w=np.arange(len(sleepstudy)) % 3 + 1), weights="w")
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    md = data.marginal
    assert md.level_ZtZ is not None
    dense = md._replace(level_ZtZ=None, level_ZtX=None, level_Zty=None)
    q = structure.blocks[0].n_columns
    factor = np.array([[20.0, 0.0], [1.5, 5.0]])[:q, :q]
    beta, sigma = np.array([250.0, 10.0]), 25.0
    noise = jax.random.normal(jax.random.PRNGKey(0), (md.ZtZ.shape[0],))
    assert np.isclose(marginal_log_likelihood(structure.blocks, [factor], beta, sigma, md),
                      marginal_log_likelihood(structure.blocks, [factor], beta, sigma, dense), rtol=1e-12)
    a = conditional_effects(structure.blocks, [factor], beta, sigma, md, noise)[0]
    b = conditional_effects(structure.blocks, [factor], beta, sigma, dense, noise)[0]
    assert np.allclose(a, b, atol=1e-9)


_STORED_FIT = """
import sys, numpy as np, bayesmm as bmm
import bayesmm.sampler.nuts as nuts
if sys.argv[1] == "forbid-tracing":  # building the sampler's trace again now fails the fit
    nuts._one_chain = lambda *a, **k: (_ for _ in ()).throw(AssertionError("the sampler was traced again"))
    nuts._continued_chain = lambda *a, **k: (_ for _ in ()).throw(AssertionError("traced again"))
    nuts.chain_program.cache_clear()
fit = bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), chains=2, draws=150,
              warmup=150, seed=11)
print(repr(float(np.asarray(fit.idata.posterior["b"]).sum())), repr(float(fit.tidy()["estimate"].sum())),
      fit.settings.draws)
"""


def test_fresh_process_loads_the_stored_sampler(tmp_path):
    """A fresh process with the same cache directory reads the stored sampler instead of tracing it (a
    traced sampler would raise there) and gives the very same draws."""
    env = dict(os.environ, BAYESMM_CACHE_DIR=str(tmp_path))
    runs = []
    for mode in ("first", "forbid-tracing"):
        out = subprocess.run([sys.executable, "-c", _STORED_FIT, mode], env=env, capture_output=True, text=True,
                             timeout=600, cwd=pathlib.Path(__file__).parents[2])
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(out.stdout.split())
    assert runs[0] == runs[1]
    # the sampler (starting points: numpy), and the safeguard's continuation when it ran the chains longer
    longer = runs[0][2] == "300"
    assert len(list((tmp_path / "programs").glob("*.stablehlo"))) == 1 + longer


def test_stored_program_survives_a_damaged_file(tmp_path, monkeypatch):
    """A stored program that cannot be read is traced again and stored anew; without a cache directory
    nothing is stored; the same key gives the stored program, not a new trace."""
    from bayesmm.sampler.stored import _path, stored_program

    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    traces = []

    def double(x):
        traces.append(1)
        return {"y": 2 * x["a"]}

    x = {"a": np.arange(3.0)}
    assert np.allclose(stored_program("k1", double)(x)["y"], [0, 2, 4]) and len(traces) == 1
    path = _path("k1")
    assert path.exists()
    assert np.allclose(stored_program("k1", double)(x)["y"], [0, 2, 4]) and len(traces) == 1  # read, not traced
    path.write_bytes(b"not a program")
    assert np.allclose(stored_program("k1", double)(x)["y"], [0, 2, 4]) and len(traces) == 2
    assert path.read_bytes() != b"not a program"
    monkeypatch.setenv("BAYESMM_CACHE_DIR", "")
    assert _path("k2") is None
    assert np.allclose(stored_program("k2", double)(x)["y"], [0, 2, 4])
    assert not (tmp_path / "programs" / "k2.stablehlo").exists()


def test_program_key_tells_models_apart(sleepstudy):
    """The key of a stored program changes with anything the trace depends on: here a prior and the data
    shapes; parts without a stable repr get no key at all."""
    from bayesmm.model import compile_model
    from bayesmm.sampler.stored import program_key

    def key(model):
        structure, data = compile_model(model.design, model.family, model.prior_entries)
        from bayesmm.sampler.nuts import shapes_key
        return program_key("chains", structure, shapes_key(data).key, 1000, 1000, 0.8, 10, 4)

    base = key(bmm.Model(SLEEP, sleepstudy))
    assert base == key(bmm.Model(SLEEP, sleepstudy))
    assert base != key(bmm.Model(SLEEP, sleepstudy, priors={"b": {"Days": "normal(10, 5)"}}))
    assert base != key(bmm.Model(SLEEP, sleepstudy.iloc[:150]))
    assert program_key("chains", object()) is None


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


def test_vectorized_chains_follow_the_same_trajectories():
    """On an accelerator a device runs its chains vectorized (``jax.vmap``); on a CPU one after another.
    Forced here on the CPU: 8 chains (2 per device) through 10 warmup iterations and 10 draws give the
    draws of the one-after-another program to rounding (over hundreds of iterations rounding differences
    grow, as any chaotic trajectory's do, so longer runs are compared as posteriors elsewhere)."""
    from bayesmm.model import compile_model
    from bayesmm.sampler.nuts import shapes_key

    cbpp = bmm.datasets.load("cbpp")
    model = bmm.Model("cbind(incidence, size - incidence) ~ period + (1|herd)", cbpp, family="binomial")
    structure, data = compile_model(model.design, model.family, model.prior_entries, None, None)
    shapes = shapes_key(data)
    centre, jitter = initial_values(structure, data, compiled(structure, shapes).sites, np.random.default_rng(2), 8)
    keys = jax.random.split(jax.random.PRNGKey(3), 8)
    runs = [jax.tree.map(np.asarray, chain_program(structure, shapes, 10, 10, 0.8, 10, 8, vectorized=v)(jitter, keys,
                                                                                                        centre, data))
            for v in (False, True)]
    (draws, stats, generated, finite, _), (v_draws, v_stats, v_generated, _, _) = runs
    assert finite.all()
    for name in draws:
        np.testing.assert_allclose(v_draws[name], draws[name], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(v_stats["step_size"], stats["step_size"], rtol=1e-9)
    np.testing.assert_array_equal(v_stats["num_steps"], stats["num_steps"])
    np.testing.assert_allclose(v_generated["log_lik"], generated["log_lik"], rtol=1e-9, atol=1e-9)
    assert np.ptp(draws["Intercept_c"][0]) > 0  # the chains moved
