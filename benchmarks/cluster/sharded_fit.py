"""One process of a fit whose rows are split over the devices of several processes (``jax.distributed``).

Every process runs this same script (SPMD): it joins the others, builds the same model from the same data, and
calls ``bmm.fit(..., shards=S)``; the mesh of (chains x row shards) spans all processes' devices, and one
all-reduce per gradient sums the log density over the shards. Process 0 writes the draws (``--out``, .npz) and
prints one line with the timing.

    # two processes on this machine, 2 CPU devices each (what launch_local.py does):
    python benchmarks/cluster/sharded_fit.py --coordinator localhost:12355 --processes 2 --process-id 0 &
    python benchmarks/cluster/sharded_fit.py --coordinator localhost:12355 --processes 2 --process-id 1
    # under Slurm (slurm.sh): one task per GPU; jax reads the coordinator and ids from Slurm's variables
    srun python benchmarks/cluster/sharded_fit.py --shards 8 --model poisson --rows 10000000

On CPUs the processes talk through gloo (``jax_cpu_collectives_implementation``); on GPUs through NCCL.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def _arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coordinator", help="host:port of process 0 (default: from Slurm, or one process)")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--local-devices", type=int, default=2, help="CPU devices per process (CPU only)")
    parser.add_argument("--shards", type=int, default=2, help="devices each chain's rows are split over")
    parser.add_argument("--model", choices=("sleepstudy", "poisson"), default="sleepstudy")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the simulated poisson model")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", help=".npz file for the draws (process 0)")
    return parser.parse_args(argv)


def _join(args):
    """Start jax in this process and join the others (before anything else touches jax)."""
    # the host platform's device count: CPU devices of this process (no effect on GPUs)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={args.local_devices}").strip()
    import jax

    if args.processes > 1 or "SLURM_JOB_ID" in os.environ:
        # CPU devices talk through gloo (GPUs through NCCL); asking jax for its backend here would start it too early
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if args.coordinator:
            jax.distributed.initialize(args.coordinator, num_processes=args.processes, process_id=args.process_id)
        else:  # Slurm (or another cluster jax detects): coordinator and ids from the environment
            jax.distributed.initialize()
    return jax


def _data(args):
    import bayesmm as bmm

    if args.model == "sleepstudy":
        return "Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), "gaussian"
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)  # the same rows in every process
    levels = max(10, args.rows // 100)
    group = rng.integers(0, levels, args.rows)
    x = rng.normal(size=args.rows)
    y = rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(0, 0.5, levels)[group]))
    return "y ~ x + (1 | g)", pd.DataFrame({"y": y, "x": x, "g": group.astype(str)}), "poisson"


def main(argv=None) -> int:
    args = _arguments(argv)
    jax = _join(args)
    import numpy as np

    import bayesmm as bmm

    formula, df, family = _data(args)
    first = jax.process_index() == 0
    start = time.perf_counter()
    fit = bmm.fit(formula, df, family=family, marginalize=False, shards=args.shards, chains=args.chains,
                  warmup=args.warmup, draws=args.draws, seed=args.seed, refit=False, progress=False)
    seconds = time.perf_counter() - start
    if first:
        posterior = fit.idata.posterior
        if args.out:
            np.savez(args.out, **{name: np.asarray(posterior[name]) for name in posterior.data_vars})
        print(f"processes {jax.process_count()} devices {jax.device_count()} shards {args.shards} "
              f"rows {len(df):,} chains {args.chains} x ({args.warmup} + {args.draws}): {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
