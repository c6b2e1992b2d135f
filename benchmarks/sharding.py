"""Rows split over devices: how the time of one gradient and of a short fit changes with the shard count.

Each configuration runs in a fresh process with ``chains x shards`` CPU devices
(``--xla_force_host_platform_device_count``), or on the GPUs it sees (``--gpu``). A simulated poisson model,
``y ~ x + (1 | g)`` with ``--rows`` rows and rows/100 levels, its effects sampled. Printed per shard count: the
median time of one value-and-gradient of the summed log density on the mesh (one all-reduce each), the fit's wall
time with compilation, the sampling rate, and the arrays' bytes per row and per level that the memory plan in
docs/sampling.md uses.

    PYTHONPATH=.:benchmarks python benchmarks/sharding.py --rows 200000 --shards 1 2
    PYTHONPATH=.:benchmarks python benchmarks/sharding.py --gpu --rows 10000000 --shards 1 2 4 8
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _child(args) -> dict:
    import jax
    import numpy as np
    import pandas as pd
    from jax.sharding import PartitionSpec as P

    import bayesmm as bmm
    from bayesmm.model import build_model
    from bayesmm.model.backend import use_float64
    from bayesmm.plan import make_plan
    from bayesmm.sampler import shards as S
    from bayesmm.sampler.nuts import compiled, shapes_key

    use_float64()
    shards = args.shards[0]
    rng = np.random.default_rng(1)
    levels = max(10, args.rows // 100)
    group = rng.integers(0, levels, args.rows)
    x = rng.normal(size=args.rows)
    df = pd.DataFrame({"y": rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(0, 0.5, levels)[group])), "x": x,
                       "g": group.astype(str)})
    model = bmm.Model("y ~ x + (1 | g)", df, family="poisson")
    structure, data = build_model(make_plan(model.design, model.family, False, None), model.design, model.family,
                                  model.prior_entries)
    helpers = compiled(structure, shapes_key(data))
    per_row, other, rows = S.estimated_bytes(data)
    z = {k: np.zeros(shape) for k, (_, shape) in helpers.sites.items()}
    if shards == 1:
        gradient = jax.jit(jax.value_and_grad(helpers.potential))
        arrays = data
    else:
        split, where = S.split_rows(data, shards)
        specs = S.row_specs(split, where)
        _, mesh = S.mesh_devices(1, shards)
        summed = S.summed_potential(structure, helpers.sites)
        gradient = jax.jit(jax.shard_map(lambda z, d: jax.value_and_grad(summed)(z, S.first_shard(d, specs)),
                                         mesh=mesh, in_specs=(P(), specs), out_specs=P(), check_vma=False))
        arrays = split
    jax.block_until_ready(gradient(z, arrays))
    times = []
    for _ in range(args.repeats):
        began = time.perf_counter()
        jax.block_until_ready(gradient(z, arrays))
        times.append(time.perf_counter() - began)
    began = time.perf_counter()
    fit = model.fit(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=1, shards=shards,
                    marginalize=False, refit=False, progress=False)
    wall = time.perf_counter() - began
    summary = fit.tidy()
    return {"shards": shards, "devices": jax.device_count(), "device": jax.devices()[0].device_kind,
            "gradient_ms": 1000 * float(np.median(times)), "wall_s": wall,
            "min_ess_bulk": float(summary["ess_bulk"].min()), "bytes_per_row": per_row,
            "bytes_per_level": other / levels, "rows": rows, "levels": levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--shards", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chains", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--gpu", action="store_true", help="run on the GPUs jax sees (no CPU device count)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT" + json.dumps(_child(args)), flush=True)
        return
    print("| shards | devices | device | one gradient (ms) | fit wall (s) | min bulk ESS | bytes/row | "
          "bytes/level | rows |\n|---|---|---|---|---|---|---|---|---|")
    for shards in args.shards:
        env = dict(os.environ)
        if not args.gpu:
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={shards * args.chains}"
        command = [sys.executable, __file__, "--child", "--rows", str(args.rows), "--shards", str(shards),
                   "--chains", str(args.chains), "--warmup", str(args.warmup), "--draws", str(args.draws),
                   "--repeats", str(args.repeats)]
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
        if not lines:
            print(f"| {shards} | failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''} |")
            continue
        r = json.loads(lines[0][len("RESULT"):])
        print(f"| {r['shards']} | {r['devices']} | {r['device']} | {r['gradient_ms']:.2f} | {r['wall_s']:.1f} | "
              f"{r['min_ess_bulk']:.0f} | {r['bytes_per_row']} | {r['bytes_per_level']:.0f} | {r['rows']:,} |",
              flush=True)


if __name__ == "__main__":
    main()
