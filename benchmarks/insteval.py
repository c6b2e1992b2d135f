"""InstEval, ``y ~ service + (1|s) + (1|d) + (1|dept:service)``, 73,421 rows, 4,128
random-effect coefficients (too many for the dense Woodbury marginal: the students' 2,972 are integrated out
level by level, the lecturers' and departments' sampled, the lecturers centred where their data say much).

    python benchmarks/insteval.py [--chains 4 --draws 1000 --warmup 1000] [--rows N] [--reference FILE]

Prints wall seconds, the largest Rhat over every parameter (random effects included), the smallest bulk
ESS over fixed effects and SDs, and each estimate's distance from lme4's REML value in posterior SDs
(``--reference``, by default ``tests/reference/insteval_large.lme4.json``). ``--rows`` fits a random
subset instead (then lme4's values do not apply). Installs nothing; Bambi: ``suite.py --models insteval``.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time
import warnings

import numpy as np
from models import sampler_arguments

FORMULA = "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)"
REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "tests" / "reference" / "insteval_large.lme4.json"


def reference(file: pathlib.Path) -> dict:
    block = json.loads(file.read_text())["REML"]
    return eval(block) if isinstance(block, str) else block  # noqa: S307 - the file stores a dict literal


def main() -> None:
    parser = sampler_arguments(argparse.ArgumentParser(), rows=0)
    parser.add_argument("--reference", type=pathlib.Path, default=REFERENCE,
                        help="lme4's REML fit of InstEval (JSON as tests/reference writes it)")
    args = parser.parse_args()
    if not args.rows and not args.reference.exists():
        parser.error(f"no reference file {args.reference}: pass --reference FILE or --rows N")
    import arviz as az
    import bayesmm as bmm

    df = bmm.datasets.load("insteval")
    if args.rows:
        df = df.sample(args.rows, random_state=1)
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    fit = bmm.fit(FORMULA, df, chains=args.chains, draws=args.draws, warmup=args.warmup, seed=1)
    table = fit.tidy()
    seconds = time.perf_counter() - start
    rhat = az.rhat(fit.idata.posterior)
    worst = max(float(np.nanmax(rhat[v].values)) for v in rhat.data_vars)
    print(f"wall {seconds:.1f} s; max Rhat over all parameters {worst:.4f}; min bulk ESS (fixed, SDs) "
          f"{table['ess_bulk'].min():.0f}; divergences {int(fit.idata.sample_stats['diverging'].sum())}; "
          f"mean leapfrog steps per draw {float(fit.idata.sample_stats['n_steps'].mean()):.1f}")
    ref = None if args.rows else reference(args.reference)
    if ref:
        wanted = {("fixed", "Intercept"): ref["fixef"]["(Intercept)"],
                  ("fixed", "service[1]"): ref["fixef"]["service1"],
                  ("s", "sd__Intercept"): ref["varcorr"]["s"]["sd"]["(Intercept)"],
                  ("d", "sd__Intercept"): ref["varcorr"]["d"]["sd"]["(Intercept)"],
                  ("dept:service", "sd__Intercept"): ref["varcorr"]["dept:service"]["sd"]["(Intercept)"],
                  ("Residual", "sd__Observation"): ref["sigma"]}
        for _, row in table.iterrows():
            key = ("fixed" if row["effect"] == "fixed" else row["group"], row["term"])
            if key in wanted:
                gap = (row["estimate"] - wanted[key]) / row["std_error"]
                print(f"  {key[0]:>12} {key[1]:<16} {row['estimate']:.4f} (lme4 REML {wanted[key]:.4f}): "
                      f"{gap:+.2f} posterior SD; Rhat {row['rhat']:.3f}; bulk ESS {row['ess_bulk']:.0f}")


if __name__ == "__main__":
    main()
