"""Fit one benchmark model with Bambi and print one JSON line: wall seconds (from ``bmb.Model(...)`` to
results ready, as the bayesmm timing), min bulk ESS over fixed effects and hyperparameters, divergences.

Run with the Python of an environment where ``bambi`` (and ``nutpie``) are installed, e.g.
``python benchmarks/bambi_fit.py sleepstudy numpyro --chains 4 --draws 1000 --warmup 1000``. Installs nothing.
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

import pandas as pd

from models import DATASETS, MODELS


def _min_ess(idata) -> float:
    """Smallest bulk ESS among parameters that are not per-level random effects or per-row quantities."""
    import arviz as az

    post = idata.posterior
    names = [v for v in post.data_vars if ("|" not in v or v.endswith("_sigma")) and not v.endswith("_mean")
             and "obs" not in " ".join(post[v].dims)]
    ess = az.ess(idata, var_names=names, method="bulk")
    return float(min(float(ess[v].min()) for v in names))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=list(MODELS))
    parser.add_argument("backend", choices=["numpyro", "nutpie"])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data_name, _, _, formula, family, factors = MODELS[args.model]
    df = pd.read_csv(DATASETS / f"{data_name}.csv")
    for column in factors:
        df[column] = df[column].astype(str).astype("category")
    warnings.simplefilter("ignore")
    import bambi as bmb
    import jax  # noqa: F401 - the backends' libraries, which Bambi imports inside fit: imports excluded
    import numpyro  # noqa: F401
    if args.backend == "nutpie":
        import nutpie  # noqa: F401

    start = time.perf_counter()
    model = bmb.Model(formula, df, family=family)
    idata = model.fit(draws=args.draws, tune=args.warmup, chains=args.chains, inference_method=args.backend,
                      random_seed=args.seed, progressbar=False)
    seconds = time.perf_counter() - start
    diverging = idata.sample_stats["diverging"].values.sum() if "diverging" in idata.sample_stats else -1
    print(json.dumps({"tool": f"bambi-{args.backend}", "model": args.model, "seconds": seconds,
                      "min_ess": _min_ess(idata), "divergences": int(diverging)}))


if __name__ == "__main__":
    main()
