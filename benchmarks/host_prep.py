"""Host preparation of the crossed poisson GLMM (10,000 x 1,000 levels) at 1, 4 and 10 million rows: everything
``fit`` does on the host before the sampler's program runs.

    python benchmarks/host_prep.py [--rows 1000000 4000000 10000000] [--profile STAGE]

Each row count runs in a fresh process (so that its peak RSS is its own) and simulates the data first (not
timed). The stages, as ``Model(...).fit()`` calls them: ``design`` (formula and design matrices,
:func:`bayesmm.design.build_design`), ``checks and priors`` (the rest of :func:`bayesmm.pipeline.prepare`:
response checks, autoscaled priors, separation), ``plan`` (:func:`bayesmm.plan.make_plan`: the PQL centring
guess), ``model arrays`` (:func:`bayesmm.model.build_model`) and ``starting values``
(:func:`bayesmm.sampler.potential.initial_values`, with the model's sites found by an abstract trace). Prints
wall seconds of each stage with CPU seconds in brackets (this process's, all threads: on a shared machine the
CPU figure is the steadier one), seconds per million rows of the total, and the peak resident memory
(``ru_maxrss``, jax and the data included). ``--profile STAGE`` prints the cProfile (CPU time) of
that stage at the first row count to standard error.
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pathlib
import pstats
import resource
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
STAGES = ("design", "checks and priors", "plan", "model arrays", "starting values")


def one(rows: int, profile: str | None) -> dict:
    import warnings

    import numpy as np

    import bayesmm.pipeline as pipeline
    from bayesmm.model import build_model
    from bayesmm.pipeline import Call
    from bayesmm.plan import make_plan
    from bayesmm.sampler.nuts import compiled, shapes_key
    from bayesmm.sampler.potential import initial_values
    from simulate import FORMULA, crossed_poisson

    warnings.simplefilter("ignore")
    df = crossed_poisson(rows)
    seconds = {}

    def timed(label, work, *args):
        profiler = cProfile.Profile(time.process_time) if label == profile else None  # CPU: the machine is shared
        wall, cpu = time.perf_counter(), time.process_time()
        out = profiler.runcall(work, *args) if profiler else work(*args)
        seconds[label] = seconds.get(label, (0.0, 0.0))
        seconds[label] = (seconds[label][0] + time.perf_counter() - wall, seconds[label][1] + time.process_time() - cpu)
        if profiler:
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
        return out

    inner = pipeline.build_design
    pipeline.build_design = lambda *args: timed("design", inner, *args)
    wall, cpu = time.perf_counter(), time.process_time()
    prepared = pipeline.prepare(Call(FORMULA, "poisson"), df)
    design_wall, design_cpu = seconds["design"]
    seconds["checks and priors"] = (time.perf_counter() - wall - design_wall, time.process_time() - cpu - design_cpu)
    plan = timed("plan", make_plan, prepared.design, prepared.family)
    structure, data = timed("model arrays", build_model, plan, prepared.design, prepared.family,
                            prepared.prior_entries)
    timed("starting values", lambda: initial_values(structure, data, compiled(structure, shapes_key(data)).sites,
                                                    np.random.default_rng(0), 4))
    return {"rows": rows, "seconds": seconds,
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 4_000_000, 10_000_000])
    parser.add_argument("--profile", choices=STAGES, help="print this stage's cProfile (first row count only)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.rows[0], args.profile)), flush=True)
        return
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent), str(HERE)]))
    print("| rows | " + " | ".join(f"{s} s" for s in STAGES) + " | total s | s per million rows | peak RSS GiB |")
    print("|---" * (len(STAGES) + 4) + "|")
    for rows in args.rows:
        command = [sys.executable, str(HERE / "host_prep.py"), "--one", "--rows", str(rows)]
        if args.profile and rows == args.rows[0]:
            command += ["--profile", args.profile]
        out = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
        if out.returncode:
            raise SystemExit(f"{rows:,} rows failed (status {out.returncode})")
        result = json.loads(out.stdout.splitlines()[-1])
        times = result["seconds"]
        wall = sum(w for w, _ in times.values())
        cpu = sum(c for _, c in times.values())
        cells = " | ".join(f"{times[s][0]:.2f} ({times[s][1]:.2f})" for s in STAGES)
        print(f"| {rows:,} | {cells} | {wall:.2f} ({cpu:.2f}) | {wall / rows * 1e6:.2f} ({cpu / rows * 1e6:.2f}) | "
              f"{result['peak_gib']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
