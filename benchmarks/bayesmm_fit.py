"""Fit one benchmark model with bayesmm and print one JSON line per fit: wall seconds from ``bmm.fit(...)`` called to
results ready and the process's CPU seconds over the same span (all threads; imports excluded: jax and numpyro are
imported before the clock starts, as ``bambi_fit.py`` imports Bambi's backend), min bulk and tail ESS over fixed
effects and hyperparameters (``tidy()`` rows) and the parameter with the smallest bulk ESS, divergences, max Rhat.
``--fits 2`` adds a second fit in the same process (the "second fit" figure); more fits run seeds ``seed, seed +
1, ...`` in one process (robustness across seeds). The compilation cache follows ``BAYESMM_CACHE_DIR`` (the caller
sets it)."""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
import warnings

from models import MODELS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=list(MODELS))
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fits", type=int, default=1)
    parser.add_argument("--marginalize", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--profile", action="store_true", help="the last fit's cProfile (CPU time) to standard error")
    args = parser.parse_args()
    import bayesmm as bmm
    import bayesmm.sampler.run  # noqa: F401 - jax and numpyro, which bmm.fit would import on first use: imports excluded
    import bayesmm.fitting, bayesmm.posterior, bayesmm.answers.summary  # noqa: F401,E401 - and arviz, scipy, matplotlib

    data_name, formula, family = MODELS[args.model][:3]
    df = bmm.datasets.load(data_name)
    marginalize = {"auto": None, "yes": True, "no": False}[args.marginalize]
    warnings.simplefilter("ignore")
    for i in range(args.fits):
        profiler = cProfile.Profile(time.process_time) if args.profile and i == args.fits - 1 else None
        if profiler:
            profiler.enable()
        start, cpu = time.perf_counter(), time.process_time()
        fit = bmm.fit(formula, df, family=family, chains=args.chains, draws=args.draws, warmup=args.warmup,
                      seed=args.seed + i, marginalize=marginalize)
        table = fit.tidy()
        if profiler:
            profiler.disable()
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(60)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        worst = table.loc[table["ess_bulk"].idxmin()]
        print(json.dumps({"tool": "bayesmm" if i == 0 else "bayesmm-2nd-fit", "model": args.model,
                          "seed": args.seed + i, "seconds": seconds, "cpu_seconds": cpu,
                          "min_ess": float(table["ess_bulk"].min()),
                          "min_tail_ess": float(table["ess_tail"].min()),
                          "worst": f"{worst['group']} {worst['term']}".strip(),
                          "max_rhat": float(table["rhat"].max()),
                          "divergences": int(fit.idata.sample_stats["diverging"].sum())}), flush=True)


if __name__ == "__main__":
    main()
