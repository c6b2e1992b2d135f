"""A 1-million-row poisson GLMM with crossed factors (10,000 x 1,000 levels) on a GPU,
4 chains x (1000 + 1000); target: at least 20 bulk ESS per second for the SDs.

    python benchmarks/gpu.py [--rows 1000000] [--chains 4 --draws 1000 --warmup 1000]

Needs jax with CUDA (runs on a CPU too, slowly: use ``--rows 20000`` to try the script). With several local
devices the chains spread over them; on one device they run vectorized (``jax.vmap``: the chains share the
data reads). Prints, as it goes, the device, the seconds of each step of ``fit`` (building the design,
preparing the model arrays and centring, sampling, the posterior's InferenceData, ``tidy``) with the XLA
compilation seconds inside each, the time of one log-density gradient for all chains, then the wall
seconds, divergences, leapfrog steps per draw, bulk ESS and ESS/s of each SD, and the estimates against
the simulation's truth (SDs 0.5 and 0.3, slope 0.3). Installs nothing.
"""
from __future__ import annotations

import argparse
import functools
import time
import warnings

from models import sampler_arguments
from simulate import FORMULA, crossed_poisson

_COMPILE = [0.0]


def _listen(event: str, duration: float, **kwargs) -> None:
    if event.endswith("backend_compile_duration"):
        _COMPILE[0] += duration


def _timed(module, name: str, label: str) -> None:
    """Wrap ``module.name`` so each call prints its seconds and the XLA compilation seconds within them."""
    inner = getattr(module, name)

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        compile_before, start = _COMPILE[0], time.perf_counter()
        out = inner(*args, **kwargs)
        print(f"  {label}: {time.perf_counter() - start:.1f} s (XLA compilation {_COMPILE[0] - compile_before:.1f} s)",
              flush=True)
        return out

    setattr(module, name, wrapper)


def gradient_seconds(structure, data, chains: int, repeats: int = 20) -> float:
    """Seconds of one evaluation of the log density and its gradient for all chains at once (vectorized)."""
    import jax

    from bayesmm.sampler.nuts import compiled, shapes_key, starting_points

    shapes = shapes_key(data)
    init, _ = starting_points(structure, data, 0, chains)
    grad = jax.jit(jax.vmap(jax.value_and_grad(compiled(structure, shapes).potential), (0, None)))
    jax.block_until_ready(grad(init, data))
    start = time.perf_counter()
    for _ in range(repeats):
        out = grad(init, data)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = sampler_arguments(argparse.ArgumentParser(), rows=1_000_000)
    parser.add_argument("--skip-gradient", action="store_true", help="do not time the gradient first")
    args = parser.parse_args()
    import jax

    import bayesmm as bmm
    import bayesmm.sampler.run
    import bayesmm.model
    import bayesmm.posterior
    from bayesmm.model import compile_model

    warnings.simplefilter("ignore")
    jax.monitoring.register_event_duration_secs_listener(_listen)
    print("devices:", jax.devices(), f"jax {jax.__version__}", flush=True)
    start = time.perf_counter()
    df = crossed_poisson(args.rows)
    print(f"simulated {args.rows:,} rows in {time.perf_counter() - start:.1f} s", flush=True)
    if not args.skip_gradient:
        model = bmm.Model(FORMULA, df, family="poisson")
        structure, data = compile_model(model.design, model.family, model.prior_entries, None, None)
        seconds = gradient_seconds(structure, data, args.chains)
        print(f"one log-density gradient, {args.chains} chains vectorized: {1000 * seconds:.2f} ms", flush=True)
    for module, name, label in ((bayesmm.api, "build_design", "design"),
                                (bayesmm.model, "compile_model", "model arrays and centring"),
                                (bayesmm.sampler.run, "sample_posterior", "sampling (start, warmup, draws, generated)"),
                                (bayesmm.posterior, "build_idata", "InferenceData")):
        _timed(module, name, label)
    print("fit:", flush=True)
    start = time.perf_counter()
    fit = bmm.fit(FORMULA, df, family="poisson", chains=args.chains, draws=args.draws, warmup=args.warmup, seed=1)
    tidy_start = time.perf_counter()
    table = fit.tidy()
    seconds = time.perf_counter() - start
    print(f"  tidy: {time.perf_counter() - tidy_start:.1f} s", flush=True)
    stats = fit.idata.sample_stats
    print(f"wall {seconds:.1f} s, divergences {int(stats['diverging'].sum())}, mean leapfrog steps per draw "
          f"{float(stats['n_steps'].mean()):.1f}, levels sampled centred "
          f"{fit.idata.posterior.attrs.get('centered_levels')}")
    print(table[["effect", "group", "term", "estimate", "std_error", "rhat", "ess_bulk"]].to_string())
    sds = table[table["effect"] == "ran_pars"]
    print(f"min bulk ESS/s of the SDs: {sds['ess_bulk'].min() / seconds:.1f} (target >= 20)", flush=True)


if __name__ == "__main__":
    main()
