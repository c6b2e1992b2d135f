"""What NUTS needs per draw on an ideal target of a given dimension: a standard normal with an identity mass matrix
(numpyro's NUTS, target acceptance 0.8, 500 warmup + 300 draws). The count panel (``panel.py``) samples one effect
per level: its leapfrog steps per draw are to be read against this floor, the least any parameterisation of that
many coordinates can reach.

    python benchmarks/nuts_dimension.py [--dims 600 6000 60000]

Prints one row per dimension: adapted step size, mean leapfrog steps per draw, and the seconds it took.
"""
from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dims", type=int, nargs="+", default=[600, 6000, 60000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import jax
    import jax.numpy as jnp
    import numpy as np
    from numpyro.infer import MCMC, NUTS

    jax.config.update("jax_enable_x64", True)
    print("| dimension | step size | leapfrog steps / draw | seconds |")
    print("|---:|---:|---:|---:|")
    for dim in args.dims:
        start = time.perf_counter()
        mcmc = MCMC(NUTS(potential_fn=lambda z: 0.5 * jnp.sum(z["x"] ** 2), target_accept_prob=0.8),
                    num_warmup=500, num_samples=300, progress_bar=False)
        mcmc.run(jax.random.PRNGKey(args.seed), init_params={"x": jnp.full(dim, 0.1)},
                 extra_fields=("num_steps", "adapt_state.step_size"))
        extra = mcmc.get_extra_fields()
        print(f"| {dim:,} | {float(np.mean(extra['adapt_state.step_size'])):.3f} | "
              f"{float(np.mean(extra['num_steps'])):.1f} | {time.perf_counter() - start:.1f} |", flush=True)


if __name__ == "__main__":
    main()
