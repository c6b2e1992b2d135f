"""Every family at default settings (4 chains x 1000 warmup + 1000 draws, default link and priors) on the
kind of data the GLMM FAQ has in mind: bundled data where there is some, simulated data otherwise.
Prints wall time, max Rhat, min bulk ESS and divergences per family.

    python validation/families.py
"""
import time
import warnings

import numpy as np
import pandas as pd

import bayesmm as bmm


def simulated(kind: str, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, groups = 400, 25
    g = rng.integers(0, groups, n)
    x = rng.normal(0, 1, n)
    eta = 0.5 + 0.4 * x + rng.normal(0, 0.5, groups)[g]
    if kind == "gamma":
        y = rng.gamma(3.0, np.exp(eta) / 3.0)
    elif kind == "gamma_identity":
        y = rng.gamma(3.0, (10 + 2 * x + 1.5 * rng.normal(0, 1, groups)[g]) / 3.0)
    elif kind == "gamma_inverse":
        y = rng.gamma(3.0, 1 / (0.2 + 0.03 * x + 0.02 * rng.normal(0, 1, groups)[g]) / 3.0)
    elif kind == "lognormal":
        y = np.exp(rng.normal(eta, 0.6))
    else:  # beta
        mu = 1 / (1 + np.exp(-eta))
        y = np.clip(rng.beta(mu * 15, (1 - mu) * 15), 1e-6, 1 - 1e-6)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


SALAMANDERS = bmm.datasets.load("salamanders")
CASES = [
    ("negbinomial", "salamanders", SALAMANDERS, "count ~ spp * mined + (1 | site)", {}),
    ("nbinom1", "owls", bmm.datasets.load("owls"),
     "SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBroodSize) + (1 | Nest)", {}),
    ("zero_inflated_poisson", "salamanders", SALAMANDERS, "count ~ spp * mined + (1 | site)", {"zi": "~ mined"}),
    ("zero_inflated_negbinomial", "salamanders", SALAMANDERS, "count ~ spp + mined + (1 | site)", {"zi": "~ mined"}),
    ("hurdle_poisson", "salamanders", SALAMANDERS, "count ~ spp + mined + (1 | site)", {}),
    ("hurdle_negbinomial", "salamanders", SALAMANDERS, "count ~ spp + mined + (1 | site)", {}),
    ("beta_binomial", "cbpp", bmm.datasets.load("cbpp"), "cbind(incidence, size - incidence) ~ period + (1 | herd)", {}),
    ("student_t", "sleepstudy", bmm.datasets.load("sleepstudy"), "Reaction ~ Days + (Days | Subject)", {}),
    ("gamma", "simulated", simulated("gamma"), "y ~ x + (1 | g)", {}),
    ("gamma", "sim identity", simulated("gamma_identity"), "y ~ x + (1 | g)", {"link": "identity"}),
    ("gamma", "sim inverse", simulated("gamma_inverse"), "y ~ x + (1 | g)", {"link": "inverse"}),
    ("lognormal", "simulated", simulated("lognormal"), "y ~ x + (1 | g)", {}),
    ("beta", "simulated", simulated("beta"), "y ~ x + (1 | g)", {}),
]

if __name__ == "__main__":
    print(f"{'family':27s} {'data':12s} {'wall s':>7s} {'max Rhat':>9s} {'min ESS':>8s} {'divergent':>9s}")
    for family, name, data, formula, parts in CASES:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bmm.fit(formula, data, family=family, seed=1, **parts)
        table = fit.tidy()
        print(f"{family:27s} {name:12s} {time.perf_counter() - start:7.1f} {table['rhat'].max():9.3f} "
              f"{table['ess_bulk'].min():8.0f} {fit.n_divergent:9d}", flush=True)
