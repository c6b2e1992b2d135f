"""Gaussian AR(1) random effects at scale: 1,000 series of 50 equally spaced times, ``y ~ 1 + x + ar1(t + 0 | g)``
(50,000 rows, 50,000 random-effect coefficients integrated out level by level on the AR(1)'s tridiagonal precision).
Prints the plan, end-to-end wall time and process CPU time (compilation included; the CPU time counts every thread,
so on shared cores it says how much work the fit was when the wall time is inflated by other jobs), the XLA compile
seconds, the mean leapfrog steps per iteration in warmup and in sampling, the smallest bulk ESS of the
hyperparameters and fixed effects, and whether the 95% intervals cover the simulated truths. ``--profile`` first
times the model arrays, the first log-density gradient (with its compilation) and one gradient of one chain.

    python benchmarks/structures.py [--groups 1000] [--times 50] [--chains 2] [--draws 500] [--profile] [--no-refit]
                                    [--phases]

``--phases`` runs the fit under Python's profiler with a CPU clock and prints the CPU seconds (all threads) of its
stages: the model arrays, the sampler (compilation or loading, warmup, sampling and the conditional draws in one
program), a run longer, the InferenceData and the level effects' Rhats.

``--no-refit`` turns the safeguard off (``refit=False``): with 50,000 level effects a few reach Rhat 1.01 by
chance, and the safeguard then runs each chain longer (a second program to compile and as many draws again).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
import pandas as pd

import bayesmm as bmm

TRUTH = {"Intercept": 1.0, "x": 0.5, "sd__t": 1.0, "ar1__rho": 0.8, "sd__Observation": 0.5}
FORMULA = "y ~ 1 + x + ar1(t + 0 | g)"
_COMPILE = [0.0]


def simulate(groups: int, times: int, seed: int = 1) -> pd.DataFrame:
    """AR(1) effects per series (rho 0.8, SD 1) by the recursion, plus a slope and gaussian noise (SD 0.5)."""
    rng = np.random.default_rng(seed)
    effects = np.zeros((groups, times))
    effects[:, 0] = rng.normal(size=groups)
    for t in range(1, times):
        effects[:, t] = TRUTH["ar1__rho"] * effects[:, t - 1] + np.sqrt(1 - TRUTH["ar1__rho"] ** 2) * rng.normal(size=groups)
    frame = pd.DataFrame({"g": np.repeat(np.arange(groups), times), "t": np.tile(np.arange(times), groups)})
    frame["x"] = rng.normal(size=len(frame))
    frame["y"] = (TRUTH["Intercept"] + TRUTH["x"] * frame.x + effects[frame.g, frame.t]
                  + TRUTH["sd__Observation"] * rng.normal(size=len(frame)))
    return frame


def _listen(event: str, duration: float, **kwargs) -> None:
    if event.endswith("backend_compile_duration"):
        _COMPILE[0] += duration


def profile(frame: pd.DataFrame) -> None:
    """Seconds for the design and the model arrays, the first gradient (XLA compile inside) and one gradient."""
    import jax

    from bayesmm.model import compile_model
    from bayesmm.sampler.nuts import compiled, shapes_key, starting_points

    start = time.perf_counter()
    model = bmm.Model(FORMULA, frame)
    print(f"  design: {time.perf_counter() - start:.2f} s", flush=True)
    start = time.perf_counter()
    structure, data = compile_model(model.design, model.family, model.prior_entries, None, None)
    print(f"  model arrays: {time.perf_counter() - start:.2f} s", flush=True)
    init, _ = starting_points(structure, data, 0, 1)
    one = jax.tree.map(lambda v: v[0], init)
    grad = jax.jit(jax.value_and_grad(compiled(structure, shapes_key(data)).potential))
    before, start = _COMPILE[0], time.perf_counter()
    jax.block_until_ready(grad(one, data))
    print(f"  first gradient: {time.perf_counter() - start:.2f} s (XLA {_COMPILE[0] - before:.2f} s)", flush=True)
    repeats = 100
    start = time.perf_counter()
    for _ in range(repeats):
        out = grad(one, data)
    jax.block_until_ready(out)
    print(f"  one gradient, one chain: {1e3 * (time.perf_counter() - start) / repeats:.2f} ms", flush=True)


#: the fit's stages for ``--phases``: (label, module path ending, function name)
PHASES = (("model arrays", "model/build.py", "build_model"), ("sampler", "sampler/run.py", "sample_posterior"),
          ("run longer", "sampler/run.py", "continue_posterior"),
          ("InferenceData", "bayesmm/posterior.py", "build_idata"),
          ("level Rhats", "answers/convergence.py", "level_rhats"))


def print_phases(profiler) -> None:
    """CPU seconds (all threads) and calls of each of :data:`PHASES`, from the profiler's cumulative times."""
    table = pstats.Stats(profiler).stats
    for label, path, name in PHASES:
        hits = [(v[1], v[3]) for (file, _, function), v in table.items() if file.endswith(path) and function == name]
        calls, seconds = sum(h[0] for h in hits), sum(h[1] for h in hits)
        print(f"  {label}: {seconds:.1f} s CPU ({calls} call{'s' if calls != 1 else ''})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--times", type=int, default=50)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="time the model arrays and one gradient first")
    parser.add_argument("--no-refit", action="store_true", help="refit=False: no safeguard run")
    parser.add_argument("--phases", action="store_true", help="CPU seconds of the fit's stages (profiler)")
    args = parser.parse_args()
    import jax

    jax.monitoring.register_event_duration_secs_listener(_listen)
    frame = simulate(args.groups, args.times)
    if args.profile:
        profile(frame)
    _COMPILE[0] = 0.0
    profiler = cProfile.Profile(time.process_time) if args.phases else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    fit = bmm.fit(FORMULA, frame, chains=args.chains, draws=args.draws, warmup=args.draws, seed=1,
                  refit=not args.no_refit)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
        print_phases(profiler)
    table = fit.tidy()
    stats = fit.idata.sample_stats
    steps = float(stats.n_steps.mean()) if "n_steps" in stats else float("nan")
    print(f"{args.groups} series x {args.times} times ({len(frame)} rows), {args.chains} chains x "
          f"({args.draws} warmup + {args.draws} draws); plan: {fit.plan.line()}; safeguard: "
          f"{fit.idata.posterior.attrs.get('refit') or 'nothing done'}")
    print("| term | estimate | 95% interval | truth | bulk ESS |\n|---|---|---|---|---|")
    for row in table.itertuples():
        print(f"| {row.term} | {row.estimate:.3f} | [{row.conf_low:.3f}, {row.conf_high:.3f}] | "
              f"{TRUTH.get(row.term, float('nan')):g} | {row.ess_bulk:.0f} |")
    print(f"wall time {wall:.1f} s, CPU time {cpu:.1f} s (compilation included; XLA compile {_COMPILE[0]:.1f} s); "
          f"leapfrog steps per draw {steps:.1f}; divergences {int(stats.diverging.sum())}; min bulk ESS "
          f"{table.ess_bulk.min():.0f}; min bulk ESS per second {table.ess_bulk.min() / wall:.1f}")


if __name__ == "__main__":
    main()
