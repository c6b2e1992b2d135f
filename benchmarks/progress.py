"""What the progress line costs: the chains' ticks inside the compiled sampler, and drawing the line.

    python benchmarks/progress.py [--models sleepstudy grouseticks] [--rounds 5]

Four variants per model, in one process per model (compilation cache off, so that each variant compiles its
own program once): ``ticks 1`` (one tick per chain: about none; the baseline) with ``progress=False``; the
sampler as shipped (``TICKS_PER_CHAIN``, 50: a tick every 2% of a chain) with ``progress=False``; the same with
``progress=True`` (the line drawn ten times a second; standard error to a pipe). Each variant fits once to
compile, then the variants take turns for ``--rounds`` rounds (4 chains x (1000 + 1000), refit off), so that a
change in the machine's load falls on all of them. The table gives the median seconds of the sampler call
(``sample_posterior``: the compiled program; no summary), its CPU seconds (all threads: less sensitive than
wall time to other work on a shared machine) and the whole ``fit``'s seconds, the sampler's cost against the
baseline, and whether the draws equal the baseline's. A fourth variant ticks every iteration (thousands of
ticks per fit): its extra CPU time over the baseline, per tick, prices one tick above the noise of a shared
machine, and the last lines say what the shipped rate costs at that price.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from models import MODELS  # noqa: E402

_RUN = """
import hashlib, json, sys, time
import numpy as np
import bayesmm as bmm
import bayesmm.sampler.run as run
import bayesmm.sampler.ticks as ticks

data_name, formula, family, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
model = bmm.Model(formula, bmm.datasets.load(data_name), family=family)
programs, build = {}, run.chain_program.__wrapped__  # one program per tick count (lru_cache bypassed)
run.chain_program = lambda *a, **k: programs.setdefault((a, tuple(k.items()), ticks.TICKS_PER_CHAIN), build(*a, **k))
inner, sampled = run.sample_posterior, []

def timed(*args, **kwargs):
    start, cpu = time.perf_counter(), time.process_time()
    samples = inner(*args, **kwargs)
    sampled.append((time.perf_counter() - start, time.process_time() - cpu))
    return samples

run.sample_posterior = timed
shipped = ticks.TICKS_PER_CHAIN
variants = {"ticks 1, progress off (baseline)": (1, False), f"ticks {shipped}, progress off": (shipped, False),
            f"ticks {shipped}, progress on": (shipped, True), "a tick every iteration, progress off": (10**9, False)}
for i in range(1 + rounds):
    for name, (per_chain, progress) in variants.items():
        ticks.TICKS_PER_CHAIN = per_chain
        start = time.perf_counter()
        fit = model.fit(seed=1, refit=False, progress=progress)
        whole = time.perf_counter() - start
        if i:
            draws = hashlib.sha256(np.asarray(fit.idata.posterior["b"]).tobytes()).hexdigest()
            iterations = fit.settings.warmup + fit.settings.draws
            count = fit.settings.chains * iterations // ticks.tick_every(iterations)
            print(json.dumps({"variant": name, "sampler": sampled[-1][0], "cpu": sampled[-1][1], "fit": whole,
                              "draws": draws, "ticks": count}), flush=True)
"""


def measure(model: str, rounds: int) -> list[dict]:
    data_name, formula, family = MODELS[model][:3]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), BAYESMM_CACHE_DIR="")
    out = subprocess.run([sys.executable, "-c", _RUN, data_name, formula, family, str(rounds)], env=env,
                         capture_output=True, text=True, cwd=HERE, timeout=3600)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not rows:
        raise SystemExit(out.stderr[-3000:])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sleepstudy", "grouseticks"], choices=sorted(MODELS))
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of the three variants (default 5)")
    args = parser.parse_args()
    print("| model | variant | sampler s | sampler CPU s | fit s | sampler vs baseline: wall, CPU | same draws |")
    print("|---|---|---|---|---|---|---|")
    costs = []
    for model in args.models:
        rows = measure(model, args.rounds)
        variants = list(dict.fromkeys(r["variant"] for r in rows))
        base = [r for r in rows if r["variant"] == variants[0]]
        baseline = [statistics.median(r[k] for r in base) for k in ("sampler", "cpu")]
        for variant in variants:
            mine = [r for r in rows if r["variant"] == variant]
            sampler, cpu, whole = (statistics.median(r[k] for r in mine) for k in ("sampler", "cpu", "fit"))
            same = all(r["draws"] == base[0]["draws"] for r in mine)
            print(f"| {model} | {variant} | {sampler:.2f} | {cpu:.2f} | {whole:.2f} | "
                  f"{100 * (sampler / baseline[0] - 1):+.1f}%, {100 * (cpu / baseline[1] - 1):+.1f}% | "
                  f"{'yes' if same else 'no'} |", flush=True)
        costs.append(_per_tick(model, rows, variants, baseline[1]))
    print()
    print("\n".join(costs))


def _per_tick(model: str, rows: list[dict], variants: list[str], baseline_cpu: float) -> str:
    """The CPU cost of one tick, from the slope between the baseline and a tick every iteration (thousands of
    ticks: well above the noise), and what the shipped rate costs at that price."""
    every = [r for r in rows if r["variant"] == variants[-1]]
    base = [r for r in rows if r["variant"] == variants[0]]
    extra = statistics.median(r["cpu"] for r in every) - baseline_cpu
    per_tick = extra / (every[0]["ticks"] - base[0]["ticks"])
    shipped = next(r["ticks"] for r in rows if r["variant"] == variants[1])
    return (f"{model}: one tick costs {1e6 * per_tick:.0f} us of CPU; the shipped {shipped} ticks per fit cost "
            f"{100 * per_tick * shipped / baseline_cpu:.2f}% of the sampler's CPU time")


if __name__ == "__main__":
    main()
