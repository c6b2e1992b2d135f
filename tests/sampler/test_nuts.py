"""Compiled programs cached per model structure, data shapes and sampler settings (bayesmm.sampler.nuts): a
second fit of the same model traces and compiles nothing, and chains run vectorized follow the same
trajectories as chains run one after another."""
from __future__ import annotations

import bayesmm as bmm  # before jax: bmm sets the CPU device count, which jax fixes once imported  # noqa: I001

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
