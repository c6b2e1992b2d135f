"""Simulation-based calibration (SBC) of bayesmm's models and sampler (Talts, Betancourt, Simpson, Vehtari
and Gelman 2018, "Validating Bayesian inference algorithms with simulation-based calibration",
arXiv:1804.06788).

For each family (gaussian, bernoulli, poisson, negbinomial) and the model ``y ~ x + (x | g)`` (a correlated
random intercept and slope), with explicit proper priors that the simulation and every fit share:

1. draw the parameters and a data set from the prior (``Model.sample_prior``, the same numpyro program the
   sampler uses), on fixed covariates ``x`` and groups ``g`` (fixed shapes: fits reuse compiled code);
2. fit the simulated data with NUTS;
3. record the rank of each true parameter among ``L`` thinned posterior draws (rank = number of draws
   below the truth, 0..L).

If the sampler and model are correct the ranks are uniform on 0..L; each parameter's ranks are tested with
a chi-square test on equal-width bins at the 1% level. Explicit priors are needed: the default priors
are autoscaled from the data (Talts et al.'s argument needs the fit's prior to equal the prior the truth
was drawn from).

    python validation/sbc.py --full --replications 200 --workers 1   # the recorded run (validation/README.md)
    python validation/sbc.py             # the small version (tests/end_to_end/test_sbc.py runs it)

The full version writes ``validation/sbc_results/{ranks.csv,pvalues.csv,ranks.png}``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's bayesmm

FAMILIES = ("gaussian", "bernoulli", "poisson", "negbinomial")
FORMULA = "y ~ x + (x | g)"
#: proper priors set explicitly for every parameter class, shared by the simulation and the fit
PRIORS = {
    "gaussian": {"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": "half_normal(1)", "cor": "lkj(2)",
                 "sigma": "half_normal(1)"},
    "bernoulli": {"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": "half_normal(1)", "cor": "lkj(2)"},
    "poisson": {"Intercept": "normal(1, 0.5)", "b": "normal(0, 0.5)", "sd": "half_normal(0.5)", "cor": "lkj(2)"},
    "negbinomial": {"Intercept": "normal(1, 0.5)", "b": "normal(0, 0.5)", "sd": "half_normal(0.5)",
                    "cor": "lkj(2)", "phi": "gamma(4, 1)"},
}
FAMILY_PARAMETER = {"gaussian": "sigma", "negbinomial": "phi"}


@dataclass(frozen=True)
class Settings:
    """Sizes of one SBC run: replications per family, data shape, NUTS settings and thinning."""

    replications: int = 100
    groups: int = 15
    per_group: int = 10
    warmup: int = 500
    draws: int = 990
    thin: int = 10  # L = draws / thin posterior draws are ranked: ranks take L + 1 values
    bins: int = 10
    seed: int = 2018

    @property
    def n_ranked(self) -> int:
        return len(range(0, self.draws, self.thin))


FULL = Settings(replications=100, groups=10, warmup=250, draws=245, thin=5)  # L = 49 ranked draws, ranks 0..49
SMALL = Settings(replications=15, groups=8, per_group=8, warmup=150, draws=95, thin=5, bins=5)  # L = 19


def covariates(settings: Settings) -> pd.DataFrame:
    """Fixed covariates: x ~ N(0, 1), ``groups`` groups of ``per_group`` rows; y a valid placeholder."""
    rng = np.random.default_rng(settings.seed)
    n = settings.groups * settings.per_group
    return pd.DataFrame({"x": rng.normal(size=n), "y": np.arange(n) % 2,
                         "g": np.repeat([f"g{i:02d}" for i in range(settings.groups)], settings.per_group)})


def truths(prior, family: str) -> pd.DataFrame:
    """One row per prior draw: the parameters SBC checks (fixed effects, SDs, correlation, family param)."""
    post = prior
    out = {f"b_{c}": post["b"].sel(coef=c).values.ravel() for c in post["coef"].values}
    for term in post["g__term"].values:
        out[f"sd_{term}"] = post["sd_g"].sel(g__term=term).values.ravel()
    out["cor"] = post["cor_g"].values[..., 0, 1].ravel()
    if family in FAMILY_PARAMETER:
        out[FAMILY_PARAMETER[family]] = post[FAMILY_PARAMETER[family]].values.ravel()
    return pd.DataFrame(out)


def simulate(family: str, settings: Settings):
    """The fixed covariates, the true parameters (replications x parameters) and the simulated responses."""
    import bayesmm as bmm

    data = covariates(settings)
    model = bmm.Model(FORMULA, data, family=family, priors=PRIORS[family])
    prior = model.sample_prior(draws=settings.replications, seed=settings.seed + FAMILIES.index(family))
    ys = prior.prior_predictive["y"].values[0]
    return data, truths(prior.prior, family), ys


def _ranks_of(task) -> list[dict]:
    """Fit each replication in ``task`` and return the ranks of the truths (run in a worker process)."""
    family, settings, data, jobs = task
    import bayesmm as bmm

    rows = []
    for rep, y, truth in jobs:
        start = time.perf_counter()
        row = {"family": family, "replication": rep}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = bmm.Model(FORMULA, data.assign(y=y), family=family, priors=PRIORS[family]).fit(
                    chains=1, draws=settings.draws, warmup=settings.warmup, seed=rep, progress=False)
        except bmm.BayesMMError as err:  # recorded, never silently dropped
            rows.append(dict(row, error=str(err).splitlines()[0]))
            continue
        draws = truths(fit.idata.posterior, family).iloc[::settings.thin]
        for name, value in truth.items():
            row[name] = int(np.sum(draws[name].to_numpy() < value))
        row.update(divergent=fit.n_divergent, seconds=time.perf_counter() - start, error="")
        rows.append(row)
    return rows


def _worker_setup() -> None:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def run(settings: Settings, families=FAMILIES, workers: int = 1, partial: str | None = None,
        block: int = 10, start: int = 0) -> pd.DataFrame:
    """Ranks of every replication of every family: a DataFrame with one row per fit. Work goes out in
    blocks of ``block`` replications, families interleaved; ``partial``: a CSV path rewritten as blocks
    finish, so that an interrupted run keeps an even share of every family."""
    simulated = {family: simulate(family, settings) for family in families}
    tasks = []
    for first in range(start, settings.replications, block):  # ``start``: resume an interrupted run
        for family, (data, truth, ys) in simulated.items():
            reps = range(first, min(first + block, settings.replications))
            tasks.append((family, settings, data, [(rep, ys[rep], truth.iloc[rep].to_dict()) for rep in reps]))
    results = []

    def keep(rows):
        results.append(rows)
        if partial:
            pd.DataFrame([row for rows in results for row in rows]).to_csv(partial, index=False)

    if workers <= 1:
        for task in tasks:
            keep(_ranks_of(task))
    else:
        import multiprocessing
        from concurrent.futures import as_completed

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_setup) as pool:
            for future in as_completed([pool.submit(_ranks_of, task) for task in tasks]):
                keep(future.result())
    return pd.DataFrame([row for rows in results for row in rows]).sort_values(["family", "replication"])


def uniformity(ranks: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Chi-square test of uniform ranks, per family and parameter: ranks 0..L in ``bins`` equal bins
    (L + 1 must be divisible by ``bins``, so every bin holds the same number of rank values)."""
    from scipy import stats

    values = settings.n_ranked + 1
    if values % settings.bins:
        raise ValueError(f"{values} rank values do not split into {settings.bins} equal bins")
    rows = []
    for family, frame in ranks.groupby("family", sort=False):
        ok = frame[frame["error"] == ""]
        for name in [c for c in ok.columns if c not in ("family", "replication", "divergent", "seconds", "error")]:
            column = ok[name].dropna().astype(int)
            if column.empty:
                continue
            counts = np.bincount(column * settings.bins // values, minlength=settings.bins)
            rows.append({"family": family, "parameter": name, "replications": int(counts.sum()),
                         "chi2": stats.chisquare(counts).statistic, "p_value": stats.chisquare(counts).pvalue,
                         "failed_fits": int((frame["error"] != "").sum()),
                         "divergent_fits": int((ok["divergent"] > 0).sum())})
    return pd.DataFrame(rows)


def plot(ranks: pd.DataFrame, settings: Settings, path: str) -> None:
    """Rank histograms, one row per family, with the 99% band of a uniform bin count (Talts et al. fig. 3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    names = ["b_Intercept", "b_x", "sd_Intercept", "sd_x", "cor", "family"]
    families = list(dict.fromkeys(ranks["family"]))
    fig, axes = plt.subplots(len(families), len(names), figsize=(2.2 * len(names), 1.8 * len(families)),
                             squeeze=False)
    values = settings.n_ranked + 1
    for i, family in enumerate(families):
        frame = ranks[(ranks["family"] == family) & (ranks["error"] == "")]
        for j, name in enumerate(names):
            ax = axes[i, j]
            column = FAMILY_PARAMETER.get(family) if name == "family" else name
            if column is None or column not in frame:
                ax.axis("off")
                continue
            n = len(frame)
            low, high = stats.binom.ppf([0.005, 0.995], n, 1 / settings.bins)
            ax.axhspan(low, high, color="0.85")
            ax.hist(frame[column], bins=np.linspace(0, values, settings.bins + 1), color="C0", edgecolor="white")
            ax.set_title(f"{family}: {column}", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100 replications per family (else the small run)")
    parser.add_argument("--replications", type=int, default=None)
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPU cores - 1)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "sbc_results"))
    parser.add_argument("--start", type=int, default=0, help="first replication (to resume a run)")
    parser.add_argument("--combine", nargs="+", default=None, metavar="CSV",
                        help="summarise rank files of earlier runs (e.g. one per family) instead of running")
    args = parser.parse_args(argv)
    settings = FULL if args.full else SMALL
    if args.replications:
        from dataclasses import replace

        settings = replace(settings, replications=args.replications)
    if args.combine:
        ranks = pd.concat([pd.read_csv(path, dtype={"error": "string"}) for path in args.combine])
        ranks = ranks.sort_values(["family", "replication"])
        ranks = ranks.drop_duplicates(["family", "replication"])  # a resumed run may repeat a block
        ranks["error"] = ranks["error"].fillna("")
        return _report(ranks, settings, args.out)
    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 2) - 1)
    families = tuple(args.families.split(","))
    start = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    ranks = run(settings, families, workers, partial=os.path.join(args.out, "ranks_partial.csv"), start=args.start)
    print(f"wall {time.perf_counter() - start:.0f} s, {workers} workers")
    return _report(ranks, settings, args.out)


def _report(ranks: pd.DataFrame, settings: Settings, out: str) -> int:
    """Write the ranks, the p-values table and the rank histograms under ``out``; print the table."""
    table = uniformity(ranks, settings)
    os.makedirs(out, exist_ok=True)
    ranks.to_csv(os.path.join(out, "ranks.csv"), index=False)
    table.to_csv(os.path.join(out, "pvalues.csv"), index=False)
    plot(ranks, settings, os.path.join(out, "ranks.png"))
    pd.set_option("display.width", 160)
    print(table.to_string(index=False))
    print(f"{settings}\nfits: {len(ranks)}, median {ranks['seconds'].median():.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
