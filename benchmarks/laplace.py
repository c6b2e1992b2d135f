"""method="laplace" against NUTS on the bundled suite, and its time on large simulated data.

    python benchmarks/laplace.py suite [--models sleepstudy cbpp ...] [--chains 4 --draws 1000 --warmup 1000]
    python benchmarks/laplace.py rows [--rows 1000000] [--levels 1000 0]

``suite``: per model, NUTS (4 x (1000 + 1000) by default) and the Laplace approximation (4,000 draws) in one
process; per fixed effect and hyperparameter the difference of the posterior means in NUTS posterior SDs
(``z``) and the ratio of the posterior SDs (Laplace / NUTS); wall seconds of each (compilation included).
``rows``: a simulated poisson GLMM (``simulate.crossed_poisson``; ``--levels A 0`` for one grouping factor of A
levels, ``--levels A B`` for two crossed ones): seconds to prepare the model, to fit it (mode, Hessian and
draws), and the estimates against the simulated truth. Timings on a shared machine are noisy.
"""
from __future__ import annotations

import argparse
import time
import warnings

import bayesmm as bmm  # before jax: bmm sets the CPU device count  # noqa: I001
import numpy as np
import pandas as pd

from models import MODELS
from simulate import crossed_poisson


def _data(name: str) -> tuple[pd.DataFrame, str, str]:
    data_set, formula, family, _, _, factors = MODELS[name]
    data = bmm.datasets.load(data_set)
    if name == "grouseticks":
        data["cHEIGHT"] = data["HEIGHT"] - data["HEIGHT"].mean()
    for column in factors:
        data[column] = data[column].astype(str)
    return data, formula, family


def markdown(table: pd.DataFrame) -> str:
    """A Markdown table (numbers to 3 significant digits) without the tabulate package."""
    cells = [[f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v) for v in row]
             for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def suite(models: list[str], chains: int, draws: int, warmup: int) -> None:
    rows = []
    for name in models:
        data, formula, family = _data(name)
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nuts = bmm.fit(formula, data, family=family, chains=chains, draws=draws, warmup=warmup, seed=1)
        nuts_seconds = time.perf_counter() - began
        began = time.perf_counter()
        laplace = bmm.fit(formula, data, family=family, method="laplace", chains=chains, draws=draws, seed=1)
        laplace_seconds = time.perf_counter() - began
        a, b = nuts.tidy(), laplace.tidy()
        for (_, x), (_, y) in zip(a.iterrows(), b.iterrows()):
            rows.append({"model": name, "parameter": f"{x['group'] or x['effect']}:{x['term']}",
                         "nuts_mean": x["estimate"], "nuts_sd": x["std_error"], "laplace_mean": y["estimate"],
                         "laplace_sd": y["std_error"], "z": (y["estimate"] - x["estimate"]) / x["std_error"],
                         "sd_ratio": y["std_error"] / x["std_error"]})
        print(f"{name}: NUTS {nuts_seconds:.1f} s (min bulk ESS {a['ess_bulk'].min():.0f}), "
              f"Laplace {laplace_seconds:.1f} s", flush=True)
    table = pd.DataFrame(rows)
    print(markdown(table))
    extremes = table.groupby("model", sort=False).agg(z_min=("z", "min"), z_max=("z", "max"),
                                                      sd_ratio_min=("sd_ratio", "min"),
                                                      sd_ratio_max=("sd_ratio", "max")).reset_index()
    print(markdown(extremes))


def large(rows: int, levels: list[int]) -> None:
    first, second = levels
    data = crossed_poisson(rows, first, max(second, 1))
    formula = "y ~ x + (1 | g1)" + (" + (1 | g2)" if second else "")
    began = time.perf_counter()
    model = bmm.Model(formula, data, family="poisson")
    prepared = time.perf_counter() - began
    began = time.perf_counter()
    fit = model.fit(method="laplace", chains=4, draws=250, seed=1)
    fitted = time.perf_counter() - began
    table = fit.tidy()[["group", "term", "estimate", "std_error"]]
    # with one factor the simulated g2 (one level) shifts the intercept: no truth for it
    table["truth"] = [0.5 if second else np.nan, 0.3, 0.5] + ([0.3] if second else [])
    attrs = fit.idata.posterior.attrs
    print(f"rows {rows:,}, levels {first} + {second}: model {prepared:.1f} s, fit {fitted:.1f} s "
          f"(L-BFGS iterations {attrs['laplace_iterations']}; mode {attrs['laplace_mode_seconds']:.1f} s, Hessian "
          f"and draws {attrs['laplace_hessian_seconds']:.1f} s, replay {attrs['laplace_draws_seconds']:.1f} s)")
    print(markdown(table))


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("suite")
    compare.add_argument("--models", nargs="*", default=["sleepstudy", "cbpp", "orthodont", "grouseticks",
                                                         "salamanders", "verbagg"])
    compare.add_argument("--chains", type=int, default=4)
    compare.add_argument("--draws", type=int, default=1000)
    compare.add_argument("--warmup", type=int, default=1000)
    speed = commands.add_parser("rows")
    speed.add_argument("--rows", type=int, default=1_000_000)
    speed.add_argument("--levels", type=int, nargs=2, default=[1000, 0])
    args = parser.parse_args()
    if args.command == "suite":
        suite(args.models, args.chains, args.draws, args.warmup)
    else:
        large(args.rows, args.levels)


if __name__ == "__main__":
    main()
