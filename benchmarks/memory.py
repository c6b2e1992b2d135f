"""Peak memory of building the design and one log-density gradient.

    python benchmarks/memory.py [--rows 10000000]

A poisson GLMM with two crossed factors (10,000 and 1,000 levels): simulates the data, builds the model
(formula, design, priors), compiles the model's arrays and evaluates the gradient of the log density once,
then prints the peak resident memory (``ru_maxrss``) after each stage. The target is 8 GiB at 10M rows;
memory should grow linearly in rows x random-effect columns, so a smaller ``--rows`` run scales.
"""
from __future__ import annotations

import argparse
import resource
import time
import warnings

from simulate import FORMULA, crossed_poisson


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    import jax
    import numpy as np
    import bayesmm as bmm
    from bayesmm.model import compile_model
    from bayesmm.sampler.nuts import compiled, shapes_key
    from bayesmm.sampler.potential import initial_values

    warnings.simplefilter("ignore")
    start = time.perf_counter()
    df = crossed_poisson(args.rows)
    print(f"data        {time.perf_counter() - start:7.1f} s  peak {peak_gib():.2f} GiB", flush=True)
    model = bmm.Model(FORMULA, df, family="poisson")
    print(f"design      {time.perf_counter() - start:7.1f} s  peak {peak_gib():.2f} GiB", flush=True)
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    helpers = compiled(structure, shapes_key(data))
    print(f"model data  {time.perf_counter() - start:7.1f} s  peak {peak_gib():.2f} GiB", flush=True)
    centre, _ = initial_values(structure, data, helpers.sites, np.random.default_rng(0), 1)
    value, grad = jax.jit(jax.value_and_grad(helpers.potential))(centre, data)
    jax.block_until_ready(grad)
    print(f"gradient    {time.perf_counter() - start:7.1f} s  peak {peak_gib():.2f} GiB  "
          f"(potential {float(value):.4g}, rows {args.rows:,})", flush=True)


if __name__ == "__main__":
    main()
