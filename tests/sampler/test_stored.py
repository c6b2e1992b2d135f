"""Traced programs kept between processes (bayesmm.sampler.stored): a fresh process reads the stored sampler
back instead of tracing it and gives the very same draws, a damaged stored program is traced again, the key
tells models apart, and the persistent compilation cache follows ``BAYESMM_CACHE_DIR`` (no timed assertions)."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import bayesmm as bmm

SLEEP = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(scope="module")
def sleepstudy():
    return bmm.datasets.load("sleepstudy")


@pytest.mark.slow  # two fresh processes, each compiling a fit (~10 s); the fresh-process test below stays fast
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


_STORED_FIT = """
import sys, numpy as np, bayesmm as bmm
import bayesmm.sampler.nuts as nuts
if sys.argv[1] == "forbid-tracing":  # building the sampler's trace again now fails the fit
    nuts._one_chain = lambda *a, **k: (_ for _ in ()).throw(AssertionError("the sampler was traced again"))
    nuts._continued_chain = lambda *a, **k: (_ for _ in ()).throw(AssertionError("traced again"))
    nuts.chain_program.cache_clear()
    import bayesmm.sampler.potential as potential  # nor is the model traced to find its sites
    potential._traced_sites = lambda *a, **k: (_ for _ in ()).throw(AssertionError("the model was traced again"))
if sys.argv[2] == "sleepstudy":  # random effects integrated out: NUTS moves one vector, one mass matrix
    fit = bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), chains=2, draws=150,
                  warmup=150, seed=11)
else:  # random effects sampled: numpyro's mass matrix per group of sites, a dict keyed by tuples of names
    fit = bmm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", bmm.datasets.load("cbpp"),
                  family="binomial", chains=2, draws=150, warmup=150, seed=11)
print(repr(float(np.asarray(fit.idata.posterior["b"]).sum())), repr(float(fit.tidy()["estimate"].sum())),
      fit.settings.draws)
"""


@pytest.mark.parametrize("model", ["sleepstudy", "cbpp"])
def test_fresh_process_loads_the_stored_sampler(tmp_path, model):
    """A fresh process with the same cache directory reads the stored sampler and the model's latent sites
    instead of tracing them (a trace of either would raise there) and gives the very same draws; also where the
    chains' end states hold a mass matrix per group of sites (stored programs take string keys only)."""
    env = dict(os.environ, BAYESMM_CACHE_DIR=str(tmp_path))
    runs = []
    for mode in ("first", "forbid-tracing"):
        out = subprocess.run([sys.executable, "-c", _STORED_FIT, mode, model], env=env, capture_output=True, text=True,
                             timeout=600, cwd=pathlib.Path(__file__).parents[2])
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(out.stdout.split())
    assert runs[0] == runs[1]
    # the sampler, the safeguard's continuation when it ran the chains longer, and with sampled random effects the
    # starting points' program (sleepstudy's starting points: numpy)
    longer = runs[0][2] == "300"
    assert len(list((tmp_path / "programs").glob("*.stablehlo"))) == 1 + longer + (model == "cbpp")
    assert len(list((tmp_path / "programs").glob("*.pickle"))) == 1 + (model == "cbpp")  # the sites (and the start's)


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


def test_stored_value_is_computed_again_when_unreadable(tmp_path, monkeypatch):
    """A stored value is read back under its key; a damaged one, or one that fails its check, is computed and
    stored again; without a cache directory or a key nothing is stored."""
    from bayesmm.sampler.stored import _path, stored_value

    monkeypatch.setenv("BAYESMM_CACHE_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"a": (1, (2, 3))}

    assert stored_value("v1", compute) == {"a": (1, (2, 3))} and len(calls) == 1
    assert stored_value("v1", compute) == {"a": (1, (2, 3))} and len(calls) == 1  # read, not computed
    assert stored_value("v1", compute, check=lambda value: "b" in value) == {"a": (1, (2, 3))} and len(calls) == 2
    _path("v1", ".pickle").write_bytes(b"not a pickle")
    assert stored_value("v1", compute) == {"a": (1, (2, 3))} and len(calls) == 3
    assert stored_value("v1", compute) == {"a": (1, (2, 3))} and len(calls) == 3  # stored anew
    assert stored_value(None, compute) == {"a": (1, (2, 3))} and len(calls) == 4
    monkeypatch.setenv("BAYESMM_CACHE_DIR", "")
    assert stored_value("v2", compute) == {"a": (1, (2, 3))} and len(calls) == 5
    assert not (tmp_path / "programs" / "v2.pickle").exists()


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
