"""Every family at default settings (4 chains x 1000 warmup + 1000 draws, default link and priors) on the
kind of data the GLMM FAQ has in mind: bundled data where there is some, simulated data otherwise.
Prints wall time, max Rhat, min bulk ESS and divergences per family.

    python validation/families.py                              # every case
    python validation/families.py --only weibull --only ordbeta  # the cases of these families
"""
import argparse
import time
import warnings

import numpy as np
import pandas as pd
from scipy import special

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
    elif kind == "beta":
        mu = 1 / (1 + np.exp(-eta))
        y = np.clip(rng.beta(mu * 15, (1 - mu) * 15), 1e-6, 1 - 1e-6)
    else:
        return _simulated_newer(kind, rng, g, x, eta)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def _weibull(rng, mu, shape):
    """Weibull times with mean ``mu`` (brms's parameterisation: scale = mu / Gamma(1 + 1 / shape))."""
    return mu / special.gamma(1 + 1 / shape) * rng.weibull(shape, mu.size)


def _simulated_newer(kind, rng, g, x, eta) -> pd.DataFrame:
    """The newer families' data, with the family parameters of their recovery tests (tests/model/
    test_more_families.py, test_inflations.py, test_com_poisson.py; tests/reference/ordinal_reference.R)."""
    frame = {"x": x, "g": g.astype(str)}
    mu = special.expit(eta)
    if kind == "weibull":
        y = _weibull(rng, np.exp(eta), 1.6)
    elif kind == "exponential":
        y = rng.exponential(np.exp(eta))
    elif kind == "weibull_censored":  # random right-censoring times, about 40% of the rows censored
        event, limit = _weibull(rng, np.exp(eta), 1.6), rng.exponential(2 * np.exp(0.5), eta.size)
        y, frame["censored"] = np.minimum(event, limit), (event > limit).astype(int)
    elif kind == "zero_inflated_binomial":
        frame["n"] = rng.integers(5, 15, eta.size)
        y = rng.binomial(frame["n"], mu) * (rng.uniform(size=eta.size) > 0.25)
    elif kind == "hurdle_gamma":
        y = np.where(rng.uniform(size=eta.size) < 0.3, 0.0, rng.gamma(3.0, np.exp(eta) / 3.0))
    elif kind == "hurdle_lognormal":
        y = np.where(rng.uniform(size=eta.size) < 0.3, 0.0, np.exp(rng.normal(eta, 0.6)))
    elif kind == "zero_one_inflated_beta":
        inside = rng.beta(mu * 8.0, (1 - mu) * 8.0)
        ends = (rng.uniform(size=eta.size) < 0.6).astype(float)
        y = np.where(rng.uniform(size=eta.size) < 0.15, ends, inside)
    elif kind == "ordbeta":  # cut points -2 and 2.5
        inside, u = rng.beta(mu * 8.0, (1 - mu) * 8.0), rng.uniform(size=eta.size)
        zero, one = 1 - special.expit(eta + 2.0), special.expit(eta - 2.5)
        y = np.where(u < zero, 0.0, np.where(u > 1 - one, 1.0, inside))
    elif kind == "com_poisson":  # shape (nu) 2.5: variance about 0.4 of the mean
        ks = np.arange(0.0, 200.0)
        log_pmf = 2.5 * (ks[None, :] * eta[:, None] - special.gammaln(ks + 1))
        cdf = np.cumsum(np.exp(log_pmf - special.logsumexp(log_pmf, axis=1, keepdims=True)), axis=1)
        y = (rng.uniform(size=eta.size)[:, None] > cdf).sum(axis=1)
    elif kind == "categorical":  # reference a; mu_b = eta, mu_c = -0.5 - 0.8 x + u_c[g], u_c ~ N(0, 0.5)
        eta_c = -0.5 - 0.8 * x + rng.normal(0, 0.5, g.max() + 1)[g]
        p = np.exp(np.column_stack([np.zeros_like(eta), eta, eta_c]))
        p /= p.sum(axis=1, keepdims=True)
        y = np.array(["a", "b", "c"])[(rng.uniform(size=eta.size)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)]
    else:
        raise ValueError(f"no simulation for {kind!r}")
    return pd.DataFrame({"y": y, **frame})


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
    ("weibull", "simulated", simulated("weibull"), "y ~ x + (1 | g)", {}),
    ("weibull", "sim censored", simulated("weibull_censored"), "y | cens(censored) ~ x + (1 | g)", {}),
    ("exponential", "simulated", simulated("exponential"), "y ~ x + (1 | g)", {}),
    ("zero_inflated_binomial", "simulated", simulated("zero_inflated_binomial"), "p(y, n) ~ x + (1 | g)", {}),
    ("hurdle_gamma", "simulated", simulated("hurdle_gamma"), "y ~ x + (1 | g)", {}),
    ("hurdle_lognormal", "simulated", simulated("hurdle_lognormal"), "y ~ x + (1 | g)", {}),
    ("zero_one_inflated_beta", "simulated", simulated("zero_one_inflated_beta"), "y ~ x + (1 | g)", {}),
    ("ordbeta", "simulated", simulated("ordbeta"), "y ~ x + (1 | g)", {}),
    ("com_poisson", "simulated", simulated("com_poisson"), "y ~ x + (1 | g)", {}),
    ("cumulative", "wine", bmm.datasets.load("wine"), "rating ~ temp + contact + (1 | judge)", {}),
    ("categorical", "simulated", simulated("categorical"), "y ~ x + (1 | g)", {}),
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only the cases of this family (repeat for several)")
    only = parser.parse_args().only
    known = {case[0] for case in CASES}
    unknown = sorted(set(only or ()) - known)
    if unknown:
        parser.error(f"no case for {', '.join(unknown)}; the families are {', '.join(sorted(known))}")
    print(f"{'family':27s} {'data':12s} {'wall s':>7s} {'max Rhat':>9s} {'min ESS':>8s} {'divergent':>9s}")
    for family, name, data, formula, parts in CASES:
        if only and family not in only:
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bmm.fit(formula, data, family=family, seed=1, **parts)
        table = fit.tidy()
        print(f"{family:27s} {name:12s} {time.perf_counter() - start:7.1f} {table['rhat'].max():9.3f} "
              f"{table['ess_bulk'].min():8.0f} {fit.n_divergent:9d}", flush=True)
