"""Rows split over devices (bayesmm.sampler.shards): the log density, its gradient and the curvature the mass
matrix starts from are the unsplit model's to float rounding on 8 CPU devices (padding included), a short NUTS
run gives the same draws to 1e-8, and what cannot split is refused with what to change."""
from __future__ import annotations

import bayesmm as bmm  # before jax: bmm sets the CPU device count, which jax fixes once imported  # noqa: I001

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from bayesmm.errors import SamplerError

#: Run in a fresh process with 8 CPU devices: per model, the largest difference (relative to the largest value of
#: each array) between the unsplit and the 8-shard potential, gradient and curvature at random points, and between
#: the draws of a short NUTS run (2 chains x (3 warmup + 10 draws)) on one device and on 8.
CHECK = r"""
import json, os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
import bayesmm as bmm
import jax, jax.numpy as jnp, numpy as np, pandas as pd
from jax.sharding import Mesh, PartitionSpec as P
from bayesmm.model import build_model
from bayesmm.model.backend import use_float64
from bayesmm.plan import make_plan
from bayesmm.sampler import shards as S
from bayesmm.sampler.coordinates import curvature
from bayesmm.sampler.nuts import compiled, shapes_key
from bayesmm.sampler.run import sample_posterior
from bayesmm.sampler.settings import SamplerSettings

use_float64()
rng = np.random.default_rng(5)
g = np.repeat(np.arange(15), 10)
x = rng.normal(size=150)
counts = pd.DataFrame({"y": rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(0, 0.7, 15)[g])), "x": x,
                       "g": [f"g{i}" for i in g]})
models = {"sleepstudy": ("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), "gaussian"),
          "poisson": ("y ~ x + (1 | g)", counts, "poisson")}
rel = lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / (np.max(np.abs(np.asarray(a))) + 1e-300))
out = {}
for name, (formula, df, family) in models.items():
    m = bmm.Model(formula, df, family=family)
    structure, data = build_model(make_plan(m.design, m.family, False, None), m.design, m.family, m.prior_entries)
    helpers = compiled(structure, shapes_key(data))
    split, where = S.split_rows(data, 8)
    specs = S.row_specs(split, where)
    mesh = Mesh(np.array(jax.devices()).reshape(1, 8), ("chain", "rows"))
    summed = S.summed_potential(structure, helpers.sites)

    def on_shard(z, d):
        d = S.first_shard(d, specs)
        value, grad = jax.value_and_grad(summed)(z, d)
        return value, grad, curvature(summed, z, d)

    sharded = jax.jit(jax.shard_map(on_shard, mesh=mesh, in_specs=(P(), specs), out_specs=P(), check_vma=False))
    worst = 0.0
    for seed in range(3):
        r = np.random.default_rng(seed)
        z = {k: jnp.asarray(r.normal(size=shape) * 0.3) for k, (_, shape) in helpers.sites.items()}
        value, grad = jax.value_and_grad(helpers.potential)(z, data)
        bent = curvature(helpers.potential, z, data)
        v8, g8, c8 = sharded(z, split)
        worst = max([worst, rel(value, v8)] + [rel(grad[k], g8[k]) for k in grad] + [rel(bent[k], c8[k]) for k in bent])
    runs = [sample_posterior(structure, data, SamplerSettings(2, 10, 3, 7, 0.8, 10, False, s)) for s in (1, 8)]
    draws = max(rel(runs[0].draws[k], runs[1].draws[k]) for k in runs[0].draws)
    lik = rel(runs[0].generated["log_lik"], runs[1].generated["log_lik"])
    out[name] = {"density": worst, "draws": draws, "log_lik": lik, "padding": where.padding,
                 "moved": float(np.ptp(runs[0].draws["b"]))}
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def eight_devices():
    env = dict(os.environ, BAYESMM_CACHE_DIR="")
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env, timeout=1500)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, done.stderr[-3000:]
    return json.loads(lines[0][len("RESULT"):])


@pytest.mark.parametrize("model", ["sleepstudy", "poisson"])
def test_density_gradient_and_curvature_summed_over_eight_shards(eight_devices, model):
    """The 8-shard potential, gradient and Hessian diagonal equal the unsplit ones to rounding (rows not a
    multiple of 8: the padding adds nothing). At random points far from the mode the gradient's row terms
    (1e7 for sleepstudy's sigma) cancel to much smaller sums, whose rounding is 1e-10 of the array's largest."""
    result = eight_devices[model]
    assert result["padding"] > 0
    assert result["density"] < 1e-8


@pytest.mark.parametrize("model", ["sleepstudy", "poisson"])
def test_short_run_same_draws_on_one_and_eight_devices(eight_devices, model):
    """Two chains, 3 warmup + 10 draws: the draws and the pointwise log-likelihood on 8 shards are the
    one-device run's to 1e-8 (longer runs part as NUTS amplifies the sums' rounding: docs/sampling.md)."""
    result = eight_devices[model]
    assert result["moved"] > 0  # the chains moved: the comparison is not of starting points
    assert result["draws"] < 1e-8
    assert result["log_lik"] < 1e-8


def _model(marginalize=None):
    from bayesmm.model import build_model
    from bayesmm.plan import make_plan

    m = bmm.Model("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"))
    return build_model(make_plan(m.design, m.family, marginalize, None), m.design, m.family, m.prior_entries)


def test_refuses_more_shards_than_devices_or_rows():
    import jax
    from bayesmm.sampler.shards import check_shardable

    structure, data = _model()
    with pytest.raises(SamplerError, match=r"shards=\d+ or fewer \(CPU devices: set XLA_FLAGS"):
        bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), marginalize=False,
                shards=jax.device_count() + 1, chains=1, draws=10, warmup=10)
    with pytest.raises(SamplerError, match="more than the model's 2 rows: use shards=2 or fewer"):
        check_shardable(structure, 2, 3)
    with pytest.raises(SamplerError, match="whole number"):
        check_shardable(structure, 180, 1.5)


def test_refuses_the_dense_marginal_naming_marginalize():
    """The gaussian marginal integrates the effects out through cross-products: the error says to sample them."""
    with pytest.raises(SamplerError, match="marginalize=False"):
        bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), shards=2, chains=1,
                draws=10, warmup=10)


def test_out_of_memory_names_bytes_and_shards():
    """The error that replaces XLA's RESOURCE_EXHAUSTED: the model's bytes per row, rows and advice."""
    from bayesmm.sampler.shards import estimated_bytes, out_of_memory

    structure, data = _model(marginalize=False)
    per_row, other, rows = estimated_bytes(data)
    # y, the centred X (1 column), the level index (int32) and Z (2 columns): 8 + 8 + 4 + 16
    assert (per_row, rows) == (36, 180)
    assert other > 0
    message = str(out_of_memory(data, 4, 1000, 1))
    assert "36 bytes per row x 180 rows" in message
    assert "shards=" in message and "pointwise log-likelihood" in message


def test_split_rows_pads_with_zero_weight():
    from bayesmm.sampler.shards import split_rows

    structure, data = _model(marginalize=False)
    split, where = split_rows(data, 7)
    assert (where.per_shard, where.padding) == (26, 2)
    assert np.asarray(split.y).shape == (7, 26)
    np.testing.assert_array_equal(np.asarray(split.weights).ravel()[-3:], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(split.y).ravel()[:180], np.asarray(data.y))
