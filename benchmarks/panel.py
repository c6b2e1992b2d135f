"""A count panel: many data-poor levels (about 3.5 rows each), as COUNT's rwm5yr (`docvis ~ ... + (1 | id)`,
19,609 rows, 6,127 ids, 91% zeros).

    python benchmarks/panel.py [--scale 10] [--family negbinomial|poisson|bernoulli] [--chains 4 --draws 1000
                               --warmup 1000] [--seed 1] [--profile] [--subset 2000] [--centered auto|yes|no]

Simulates ``y ~ a + b + c + (1 | id)`` with ``6,000 x scale`` levels of ``id`` holding 1-5 rows each (about 21,000
rows at scale 1): ``a`` a standard normal varying by row, ``b`` a 0/1 covariate constant within each ``id`` (as
``female``), ``c`` a 0/1 covariate varying by row (as ``outwork``); the truth is Intercept -2.6 (poisson -2.8,
bernoulli -3), slopes 0.3, 0.5, -0.4, sd(id) 1 and, for the negative binomial, phi 0.5 (about 90% zeros). ``--subset N`` keeps only the first N
levels (a smaller panel of the same shape). Fits at defaults (``bmm.fit(formula, df, family=..., seed=...)``,
``progress`` left alone) and prints one table row: rows, levels, XLA compile seconds, seconds up to the sampler
(design, model arrays, centring guess, starting points), warmup and sampling seconds (split in proportion to
the leapfrog steps of each), the whole wall, mean leapfrog steps per iteration in warmup and in sampling, draws
at the maximum tree depth, peak RSS, min bulk ESS over the fixed effects, SD and family parameter, divergences,
and each estimate against the truth (in posterior SDs). ``--profile`` first times one log-density gradient of
one chain and reports the tree sizes of a short run, to split the time into gradients x seconds per gradient.
Installs nothing.
"""
from __future__ import annotations

import argparse
import functools
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd

FORMULA = "y ~ a + b + c + (1 | id)"
TRUTH = {"Intercept": -2.3, "a": 0.3, "b": 0.5, "c": -0.4, "sd__Intercept": 1.0, "phi": 0.5}
FAMILY_TRUTH = {"negbinomial": {"Intercept": -2.6, "sd__Intercept": 1.0},
                "poisson": {"Intercept": -2.8, "sd__Intercept": 1.0},
                "bernoulli": {"Intercept": -3.0, "sd__Intercept": 1.0}}


def simulate(levels: int = 6000, family: str = "negbinomial", seed: int = 1) -> pd.DataFrame:
    """The panel: ``levels`` levels of ``id`` with 1-5 rows each (probabilities 0.1, 0.15, 0.2, 0.25, 0.3)."""
    rng = np.random.default_rng(seed)
    truth = {**TRUTH, **FAMILY_TRUTH[family]}
    per_level = rng.choice(np.arange(1, 6), size=levels, p=[0.1, 0.15, 0.2, 0.25, 0.3])
    g = np.repeat(np.arange(levels), per_level)
    rows = g.size
    a = rng.normal(size=rows)
    b = rng.integers(0, 2, levels)[g].astype(float)
    c = rng.integers(0, 2, rows).astype(float)
    u = rng.normal(0.0, truth["sd__Intercept"], levels)
    eta = truth["Intercept"] + truth["a"] * a + truth["b"] * b + truth["c"] * c + u[g]
    if family == "negbinomial":  # NB2: gamma-poisson with shape phi
        y = rng.poisson(rng.gamma(truth["phi"], np.exp(eta) / truth["phi"]))
    elif family == "poisson":
        y = rng.poisson(np.exp(eta))
    else:
        y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return pd.DataFrame({"y": y, "a": a, "b": b, "c": c, "id": pd.Categorical(g)})


def truth_of(family: str) -> dict:
    out = {**TRUTH, **FAMILY_TRUTH[family]}
    if family != "negbinomial":
        out.pop("phi")
    return out


_COMPILE = [0.0]


def _listen(event: str, duration: float, **kwargs) -> None:
    if event.endswith("backend_compile_duration"):
        _COMPILE[0] += duration


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def profile(df: pd.DataFrame, family: str, centered) -> None:
    """Seconds per log-density gradient (one chain), the compile time of that gradient, and the start-up steps."""
    import jax

    import bayesmm as bmm
    from bayesmm.model import compile_model
    from bayesmm.sampler.nuts import compiled, compiler_options, shapes_key, starting_points

    start = time.perf_counter()
    model = bmm.Model(FORMULA, df, family=family)
    print(f"  design: {time.perf_counter() - start:.2f} s", flush=True)
    start = time.perf_counter()
    structure, data = compile_model(model.design, model.family, model.prior_entries, None, centered)
    print(f"  model arrays + centring guess: {time.perf_counter() - start:.2f} s; levels centred (weight >= 0.5): "
          f"{int(np.sum(np.asarray(data.centred[0]) >= 0.5))} of {len(np.asarray(data.centred[0]))}, mean weight "
          f"{float(np.mean(np.asarray(data.centred[0]))):.3f}", flush=True)
    shapes = shapes_key(data)
    start = time.perf_counter()
    init, _ = starting_points(structure, data, 0, 1)
    print(f"  starting points: {time.perf_counter() - start:.2f} s", flush=True)
    one = jax.tree.map(lambda v: v[0], init)
    # compiled as the sampler is (without YNNPACK fusions: with them one gradient of the 10x panel took 3.4 ms,
    # without 3.1 ms)
    before, start = _COMPILE[0], time.perf_counter()
    grad = jax.jit(jax.value_and_grad(compiled(structure, shapes).potential)).lower(one, data).compile(
        compiler_options=compiler_options(float(len(df)) * 1e6))
    jax.block_until_ready(grad(one, data))
    print(f"  first gradient: {time.perf_counter() - start:.2f} s (XLA {_COMPILE[0] - before:.2f} s)", flush=True)
    repeats = 200
    start = time.perf_counter()
    for _ in range(repeats):
        out = grad(one, data)
    jax.block_until_ready(out)
    print(f"  one gradient, one chain: {1e6 * (time.perf_counter() - start) / repeats:.0f} us", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--subset", type=int, default=0, help="keep only the first N levels")
    parser.add_argument("--family", default="negbinomial", choices=list(FAMILY_TRUTH))
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--centered", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--progress", action="store_true", help="progress=True (the progress line on stderr)")
    parser.add_argument("--profile", action="store_true", help="time one gradient and the start-up first")
    args = parser.parse_args()
    import bayesmm as bmm  # before jax: bayesmm exposes the CPU devices the chains run on
    import bayesmm.sampler.run  # noqa: F401 - imports excluded from the wall time
    import jax

    jax.monitoring.register_event_duration_secs_listener(_listen)
    warnings.simplefilter("ignore")
    levels = args.subset or int(round(6000 * args.scale))
    df = simulate(levels, args.family, seed=1)
    centered = {"auto": None, "yes": True, "no": False}[args.centered]
    print(f"{args.family}: {len(df):,} rows, {levels:,} levels, {100 * np.mean(df['y'] == 0):.0f}% zeros; "
          f"{args.chains} x ({args.warmup} + {args.draws}); jax {jax.__version__}, {jax.local_device_count()} "
          f"devices", flush=True)
    if args.profile:
        profile(df, args.family, centered)

    # each call of the compiled sampler (a refit or run longer by the safeguard is another call): start, seconds,
    # XLA compilation inside, leapfrog steps per draw
    import bayesmm.sampler.run as inference
    calls = []

    def timed(inner):
        @functools.wraps(inner)
        def timed_program(*a, **k):
            program = inner(*a, **k)

            def run(*args_, **kwargs_):
                call = {"start": time.perf_counter(), "compile": _COMPILE[0]}
                out = jax.block_until_ready(program(*args_, **kwargs_))
                call["seconds"] = time.perf_counter() - call["start"]
                call["compile"] = _COMPILE[0] - call["compile"]
                call["steps"] = float(np.mean(np.asarray(out[1]["num_steps"])))
                calls.append(call)
                print(f"sampler call {len(calls)} ({inner.__name__}): {call['seconds']:.1f} s (XLA "
                      f"{call['compile']:.1f} s), {call['steps']:.1f} leapfrog steps per draw", flush=True)
                return out
            return run
        return timed_program

    inference.chain_program = timed(inference.chain_program)
    inference.continuation_program = timed(inference.continuation_program)
    start, cpu_start = time.perf_counter(), time.process_time()
    compile_start = _COMPILE[0]
    settings = dict(chains=args.chains, draws=args.draws, warmup=args.warmup, seed=args.seed)
    if args.progress:
        settings["progress"] = True
    if centered is not None:
        settings["centered"] = centered
    fit = bmm.fit(FORMULA, df, family=args.family, **settings)
    table = fit.tidy()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    stats = fit.idata.sample_stats
    steps = np.asarray(stats["n_steps"])  # draws only
    depth_hits = int(np.sum(steps >= 2 ** 10 - 1))
    compile_s = _COMPILE[0] - compile_start
    before = calls[0]["start"] - start if calls else np.nan
    sampler = sum(c["seconds"] - c["compile"] for c in calls) if calls else np.nan
    after = wall - before - sum(c["seconds"] for c in calls)
    keep = table[table["effect"].isin(["fixed", "ran_pars", "family"])]
    print(f"refit: {fit.idata.posterior.attrs.get('refit') or 'none'}; sampler: "
          f"{fit.idata.posterior.attrs.get('sampler')}; levels centred: "
          f"{fit.idata.posterior.attrs.get('centered_levels')}")
    print("| rows | levels | XLA compile s | before sampler s | sampler s | after sampler s | wall s | CPU s | "
          "leapfrog steps / draw | max depth hits | peak RSS GiB | min bulk ESS | divergences |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {len(df):,} | {levels:,} | {compile_s:.1f} | {before:.1f} | {sampler:.1f} | {after:.1f} | "
          f"{wall:.1f} | {cpu:.0f} | {steps.mean():.1f} | {depth_hits} | {peak_rss_gib():.2f} | "
          f"{keep['ess_bulk'].min():.0f} | {int(np.asarray(stats['diverging']).sum())} |", flush=True)
    truth = truth_of(args.family)
    rows = []
    for _, r in keep.iterrows():
        t = truth.get(r["term"])
        z = (r["estimate"] - t) / r["std_error"] if t is not None else np.nan
        rows.append(f"  {r['term']:>14}: {r['estimate']:8.4f} +- {r['std_error']:.4f} (truth {t}, {z:+.2f} SD), "
                    f"Rhat {r['rhat']:.4f}, bulk ESS {r['ess_bulk']:.0f}")
    print("\n".join(rows))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
