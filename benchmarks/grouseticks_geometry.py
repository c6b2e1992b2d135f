"""grouseticks: which parameterisation samples it well? An experiment, not bayesmm code.

    python benchmarks/grouseticks_geometry.py [--seeds 1 2]

``TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)``, poisson, written by hand in NumPyro
(4 chains x (1000 + 1000), numpyro's ``MCMC``, default NUTS settings), in four variants:

* ``sampled``: every effect sampled non-centred (what Bambi does);
* ``agq``: the observation-level effect (INDEX: one level per row) integrated out of each row's likelihood by
  adaptive Gauss-Hermite quadrature (``--nodes`` nodes around each row's mode; glmmTMB's and lme4's
  ``nAGQ``), BROOD and LOCATION sampled non-centred;
* ``split``: 35 of the 63 locations hold a single brood, so their location and brood effects enter the
  likelihood only as a sum: those pairs are sampled as the sum (SD ``sqrt(sd_L^2 + sd_B^2)``) and a split
  that the data do not see (exactly the non-centred prior, linearly transformed); INDEX sampled;
* ``agq+split``: both.

Prints the quadrature's error against brute-force integration first, then one row per variant and seed:
wall s (compilation included), divergences, min bulk ESS and max Rhat over the intercept, slopes and SDs.
bayesmm does both itself (``bayesmm/model/quadrature.py``, ``centring.aliased_levels``), with partly centred
levels besides; its figures come from ``suite.py`` (``benchmarks/README.md``, the bundled suite).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import arviz as az  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
import pandas as pd  # noqa: E402
from jax.scipy.special import gammaln, logsumexp  # noqa: E402
from numpyro.infer import MCMC, NUTS  # noqa: E402

numpyro.enable_x64()
DATA = pathlib.Path(__file__).resolve().parents[1] / "bayesmm" / "datasets" / "grouseticks.csv"


def agq_loglik(y, eta, s, nodes: int = 9, newton: int = 10):
    """Per row ``log int Poisson(y | exp(eta + s u)) N(u; 0, 1) du``, adaptive Gauss-Hermite: ``newton``
    damped Newton steps (at most 1 in ``u`` each) from a start read off ``log(y + 0.5)``, to the mode of the
    integrand (the log integrand is concave), then ``nodes`` points scaled by the curvature there. The value
    is differentiated through the steps: the sampler needs the exact gradient of the value it is given (the
    quadrature of the integrand's gradient, with the nodes held fixed, left two chains of four stuck)."""
    x, w = np.polynomial.hermite.hermgauss(nodes)
    u = jnp.clip((jnp.log(y + 0.5) - eta) * s / (1.0 + s ** 2), -8.0, 8.0)
    for _ in range(newton):
        e = jnp.exp(eta + s * u)
        u = u + jnp.clip((s * (y - e) - u) / (s ** 2 * e + 1.0), -1.0, 1.0)
    scale = jnp.sqrt(2.0 / (s ** 2 * jnp.exp(eta + s * u) + 1.0))
    uq = u[:, None] + scale[:, None] * x[None, :]
    lin = eta[:, None] + s * uq
    log_f = y[:, None] * lin - jnp.exp(lin) - 0.5 * uq ** 2
    return (logsumexp(log_f + x[None, :] ** 2 + np.log(w)[None, :], axis=1) + jnp.log(scale)
            - 0.5 * np.log(2 * np.pi) - gammaln(y + 1.0))


def quadrature_error(nodes: int) -> float:
    """Largest absolute error of :func:`agq_loglik` against a 200,001-point grid over rows and scales."""
    eta = jnp.array([-2.0, 0.0, 1.0, 3.0, 4.4])
    grid = jnp.linspace(-14.0, 14.0, 200_001)
    worst = 0.0
    for s in (0.05, 0.7, 1.5, 3.0):
        for count in (0.0, 3.0, 40.0, 85.0):
            y = jnp.full(eta.shape, count)
            lin = eta[:, None] + s * grid[None, :]
            log_f = count * lin - jnp.exp(lin) - 0.5 * grid ** 2 - gammaln(count + 1.0) - 0.5 * np.log(2 * np.pi)
            exact = logsumexp(log_f, axis=1) + jnp.log(grid[1] - grid[0])
            worst = max(worst, float(jnp.max(jnp.abs(agq_loglik(y, eta, s, nodes) - exact))))
    return worst


def build(variant: str, nodes: int):
    df = pd.read_csv(DATA)
    y = df["TICKS"].to_numpy(float)
    brood, loc = pd.factorize(df["BROOD"])[0], pd.factorize(df["LOCATION"])[0]
    X = np.column_stack([pd.get_dummies(df["YEAR"].astype(str), drop_first=True).to_numpy(float),
                         df["cHEIGHT"].to_numpy(float)])
    Xc = X - X.mean(axis=0)
    n_brood, n_loc = brood.max() + 1, loc.max() + 1
    brood_loc = np.zeros(n_brood, int)
    brood_loc[brood] = loc
    single_loc = np.where(np.bincount(brood_loc, minlength=n_loc) == 1)[0]
    single_brood = np.array([np.where(brood_loc == j)[0][0] for j in single_loc])
    multi_loc = np.setdiff1d(np.arange(n_loc), single_loc)
    other_brood = np.setdiff1d(np.arange(n_brood), single_brood)
    split = "split" in variant

    def normal(name, n):
        return numpyro.sample(name, dist.Normal(0.0, 1.0).expand([n]).to_event(1))

    def model():
        intercept = numpyro.sample("Intercept_c", dist.StudentT(3.0, np.log(y.mean() + 0.5), 2.5))
        b = numpyro.sample("b", dist.Normal(0.0, 5.0).expand([X.shape[1]]).to_event(1))
        sd_b = numpyro.sample("sd_BROOD", dist.HalfNormal(2.5))
        sd_l = numpyro.sample("sd_LOCATION", dist.HalfNormal(2.5))
        sd_i = numpyro.sample("sd_INDEX", dist.HalfNormal(2.5))
        if split:
            total = sd_l ** 2 + sd_b ** 2
            t = jnp.sqrt(total) * normal("z_sum", len(single_loc))
            split_sd = jnp.sqrt(sd_l ** 2 * sd_b ** 2 / total)
            r_single = t * sd_l ** 2 / total + split_sd * normal("z_split", len(single_loc))
            r_loc = (jnp.zeros(n_loc).at[multi_loc].set(sd_l * normal("z_loc", len(multi_loc)))
                     .at[single_loc].set(r_single))
            r_brood = (jnp.zeros(n_brood).at[other_brood].set(sd_b * normal("z_brood", len(other_brood)))
                       .at[single_brood].set(t - r_single))
        else:
            r_loc, r_brood = sd_l * normal("z_loc", n_loc), sd_b * normal("z_brood", n_brood)
        eta = intercept + Xc @ b + r_brood[brood] + r_loc[loc]
        if "agq" in variant:
            numpyro.factor("y", jnp.sum(agq_loglik(y, eta, sd_i, nodes)))
        else:
            numpyro.sample("y", dist.Poisson(jnp.exp(eta + sd_i * normal("z_index", len(y)))), obs=y)

    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--nodes", type=int, default=9)
    parser.add_argument("--variants", nargs="*", default=["sampled", "agq", "split", "agq+split"])
    args = parser.parse_args()
    print(f"quadrature with {args.nodes} nodes: largest error in a row's log-likelihood "
          f"{quadrature_error(args.nodes):.1e}\n")
    print("| variant | seed | wall s | divergences | min bulk ESS (parameter) | max Rhat |\n|---|---|---|---|---|---|")
    for variant in args.variants:
        model = build(variant, args.nodes)
        for seed in args.seeds:
            start = time.perf_counter()
            mcmc = MCMC(NUTS(model), num_warmup=1000, num_samples=1000, num_chains=4, chain_method="parallel",
                        progress_bar=False)
            mcmc.run(jax.random.PRNGKey(seed), extra_fields=("diverging",))
            wall = time.perf_counter() - start
            draws = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()
                     if not k.startswith("z_")}
            table = az.summary(az.from_dict(posterior=draws), kind="diagnostics")
            worst = table["ess_bulk"].idxmin()
            divergences = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
            print(f"| {variant} | {seed} | {wall:.1f} | {divergences} | {table['ess_bulk'].min():.0f} ({worst}) | "
                  f"{table['r_hat'].max():.3f} |", flush=True)


if __name__ == "__main__":
    main()
