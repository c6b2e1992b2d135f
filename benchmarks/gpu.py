"""Target 5 of issue 6: a 1-million-row poisson GLMM with crossed factors (10,000 x 1,000 levels) on a GPU,
4 chains x (1000 + 1000); target: at least 20 bulk ESS per second for the SDs.

    python benchmarks/gpu.py [--rows 1000000] [--chains 4 --draws 1000 --warmup 1000]

Needs jax with CUDA. With several local devices the chains run in parallel over them, on one device
vectorized (numpyro ``chain_method="vectorized"``: the chains share the data reads). Prints the device,
wall seconds, the bulk ESS and ESS/s of each SD, and the estimates against the simulation's truth
(SDs 0.5 and 0.3). Installs nothing.
"""
from __future__ import annotations

import argparse
import time
import warnings

from models import sampler_arguments
from simulate import FORMULA, crossed_poisson


def main() -> None:
    parser = sampler_arguments(argparse.ArgumentParser(), rows=1_000_000)
    args = parser.parse_args()
    import jax
    import bayesmm as bmm

    warnings.simplefilter("ignore")
    print("devices:", jax.devices(), flush=True)
    df = crossed_poisson(args.rows)
    start = time.perf_counter()
    fit = bmm.fit(FORMULA, df, family="poisson", chains=args.chains, draws=args.draws, warmup=args.warmup, seed=1)
    table = fit.tidy()
    seconds = time.perf_counter() - start
    stats = fit.idata.sample_stats
    print(f"wall {seconds:.1f} s, divergences {int(stats['diverging'].sum())}, mean leapfrog steps per draw "
          f"{float(stats['n_steps'].mean()):.1f}, levels sampled centred "
          f"{fit.idata.posterior.attrs.get('centered_levels')}")
    print(table[["effect", "group", "term", "estimate", "std_error", "rhat", "ess_bulk"]].to_string())
    sds = table[table["effect"] == "ran_pars"]
    print(f"min bulk ESS/s of the SDs: {sds['ess_bulk'].min() / seconds:.1f} (target >= 20)")


if __name__ == "__main__":
    main()
