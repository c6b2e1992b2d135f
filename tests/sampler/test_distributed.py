"""The rows split over the devices of two processes (jax.distributed on localhost, gloo collectives): the
launcher in benchmarks/cluster/ gives the draws of the same mesh in one process, and a short run's draws are
the unsplit fit's to 1e-8."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

CLUSTER = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "cluster"
#: 2 chains x (3 warmup + 10 draws) of sleepstudy with sampled effects
RUN = ["--model", "sleepstudy", "--chains", "2", "--warmup", "3", "--draws", "10", "--seed", "7"]


def _environment():
    env = dict(os.environ, BAYESMM_CACHE_DIR="")
    env.pop("XLA_FLAGS", None)
    return env


def _fit(tmp_path, name: str, command: list[str]) -> dict:
    out = tmp_path / f"{name}.npz"
    done = subprocess.run([sys.executable, *command, "--out", str(out)], capture_output=True, text=True,
                          env=_environment(), timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(out))


def _relative(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k])) / (np.max(np.abs(a[k])) + 1e-300)) for k in a)


@pytest.mark.slow
def test_two_processes_give_the_one_process_draws(tmp_path):
    pytest.importorskip("jax").config.jax_cpu_collectives_implementation  # gloo's switch exists in this jax
    two = _fit(tmp_path, "two", [str(CLUSTER / "launch_local.py"), "--processes", "2", "--timeout", "1100", "--",
                                 "--local-devices", "2", "--shards", "2", *RUN])
    one = _fit(tmp_path, "one", [str(CLUSTER / "sharded_fit.py"), "--local-devices", "4", "--shards", "2", *RUN])
    unsplit = _fit(tmp_path, "unsplit", [str(CLUSTER / "sharded_fit.py"), "--local-devices", "1", "--shards", "1",
                                         *RUN])
    assert set(two) == set(one) and np.ptp(two["b"]) > 0
    assert _relative(one, two) < 1e-12  # the same 2 x 2 mesh: two shards' sums agree whichever process holds them
    assert _relative(unsplit, two) < 1e-8
