"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) of the covariance-structure blocks.

``validation/sbc_paths.py`` checks every sampling path of plain blocks; this script checks the AR(1) and the
exponential (spatial) blocks on each way bayesmm fits them, one case per path:

====================  ======================================================================================
``ar1_dense``         gaussian ``y ~ x + ar1(t + 0 | g)``, 8 series x 6 times (48 coefficients): the block
                      integrated out with the dense Woodbury marginal
``ar1_by_level``      the same model on 17 series x 6 times (102 coefficients, over ``MAX_COEFFICIENTS``): the
                      block integrated out level by level on AR(1)'s tridiagonal precision
``ar1_poisson``       poisson ``y ~ x + ar1(t + 0 | g)``, 8 x 6: the effects sampled whitened
``exp_gaussian``      gaussian ``y ~ x + exp(cx + cy + 0 | g)``, 20 sites in a 10 x 10 square, one field per
                      level of g (2 levels, 40 coefficients): integrated out densely
``exp_poisson``       poisson, the same field: the effects sampled whitened
====================  ======================================================================================

Every fit is one chain of 250 warmup + 490 draws, every 10th ranked (L = 49; ``STRUCTURES_FULL``), and is checked
to have taken its path (the block's plan kind and structure in the ``ModelStructure`` that ``compile_model`` gives
for the simulated data). Priors shared by the simulation (``Model.sample_prior``) and every fit: fixed effects, SDs
and ``sigma`` explicit and proper as in ``sbc_paths.py``; the structure's parameter at its default, which depends on
the positions only (the same in every replication): ``rho`` uniform(-1, 1), the length scale an inverse gamma with
1% of its mass below the smallest and 1% above the largest distance between sites. Ranked: the fixed effects, the
block's SD (``sd_g``), its parameter (``ar1_g``: rho; ``exp_g``: the length scale), ``sigma``, and the effects of
g's first level at the first and last time or site (on the integrated-out paths drawn after sampling from their
conditional, which SBC then checks too).

The simulation's effects are checked against the structure by a formula of their own (:func:`whitened_prior`):
whitened by the Cholesky factor of ``sd^2 rho^|i - j|`` or ``sd^2 exp(-d / lscale)`` written here with numpy, every
level's effects of 400 prior draws must be independent standard normals (Kolmogorov-Smirnov), so the SBC runs
against the structure as documented, not only against the model's own program.

    python validation/sbc_structures.py --full --replications 200 > sbc_structures.log   # the recorded run
    python validation/sbc_structures.py         # 15 replications (tests/end_to_end/test_sbc.py runs 3 per path)

The full run writes ``validation/sbc_results/structures_{fits,ranks,pvalues}.csv`` and ``structures_ranks.png``.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import replace

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's bayesmm

from sbc import FULL, SMALL, Settings  # noqa: E402
from sbc_paths import Case, arguments, report, run  # noqa: E402

SD_PRIOR = "half_normal(0.6)"
GAUSSIAN = {"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": SD_PRIOR, "sigma": "half_normal(1)"}
COUNT = {"Intercept": "normal(1, 0.5)", "b": "normal(0, 0.5)", "sd": SD_PRIOR}
#: the structures checked and their parameter's variable in the posterior (``<kind>_<group>``)
KINDS = ("ar1", "exp")
TIMES, SITES, FIELDS = 6, 20, 2
#: the full run: twice the draws of ``sbc.FULL``, every 10th ranked (still L = 49): the SDs and ``sigma`` of these
#: models have a bulk ESS of a quarter to a third of the draws, and ranks among autocorrelated draws are not uniform
STRUCTURES_FULL = replace(FULL, draws=490, thin=10)


# ---- fixed covariates per case (the same in every replication) ----

def _series(settings: Settings, series: int) -> pd.DataFrame:
    """``series`` levels of g x ``TIMES`` equally spaced times t = 0, 1, ...; x ~ N(0, 1)."""
    rng = np.random.default_rng(settings.seed)
    n = series * TIMES
    return pd.DataFrame({"x": rng.normal(size=n), "y": np.arange(n) % 2, "t": np.tile(np.arange(TIMES), series),
                         "g": np.repeat([f"s{i:02d}" for i in range(series)], TIMES)})


def _few_series(settings: Settings) -> pd.DataFrame:
    return _series(settings, 8)


def _many_series(settings: Settings) -> pd.DataFrame:
    return _series(settings, 17)


def _field(settings: Settings) -> pd.DataFrame:
    """``SITES`` sites uniform in a 10 x 10 square (smallest distance 0.34, largest 12.7), each observed
    once in each of ``FIELDS`` levels of g (independent fields of the same structure); x ~ N(0, 1)."""
    rng = np.random.default_rng(settings.seed)
    sites = rng.uniform(0, 10, size=(SITES, 2))
    n = SITES * FIELDS
    return pd.DataFrame({"x": rng.normal(size=n), "y": np.arange(n) % 2,
                         "cx": np.tile(sites[:, 0], FIELDS), "cy": np.tile(sites[:, 1], FIELDS),
                         "g": np.repeat([f"f{i}" for i in range(FIELDS)], SITES)})


# ---- path checks: "" when the structure took the path, else what went wrong ----

def _check(kind: str, structure_kind: str):
    def check(structure, data, design) -> str:
        block = structure.blocks[0]
        if block.kind != kind or block.structure != structure_kind:
            return f"block fitted as {block.kind!r} with structure {block.structure!r}"
        if kind == "sampled" and np.any(np.asarray(data.centred[0])):  # whitened effects are never centred
            return "some level centred"
        return ""
    return check


# ---- the parameters ranked ----

def parameters(post) -> dict[str, np.ndarray]:
    """``{name: draws}`` (flattened over chains) of a structured model's ranked parameters, from a posterior or a
    prior: ``b_<coef>``; per structured group g, the shared SD ``sd_g``, the structure's parameter ``<kind>_g``
    and the first level's effects at the first and last position ``r_g:<level>:<term>``; ``sigma``."""
    out = {f"b_{c}": post["b"].sel(coef=c).values.ravel() for c in post["coef"].values}
    for g in [name[3:] for name in post.data_vars if name.startswith("sd_")]:
        kind = next(k for k in KINDS if f"{k}_{g}" in post)
        out[f"sd_{g}"] = post[f"sd_{g}"].values[..., 0].ravel()  # one SD shared by every position
        out[f"{kind}_{g}"] = post[f"{kind}_{g}"].values.ravel()
        level, terms = post[f"{g}__level"].values[0], post[f"{g}__term"].values
        for term in (terms[0], terms[-1]):
            out[f"r_{g}:{level}:{term}"] = post[f"r_{g}"].sel({f"{g}__level": level, f"{g}__term": term}).values.ravel()
    if "sigma" in post:
        out["sigma"] = post["sigma"].values.ravel()
    return out


AR1 = "y ~ x + ar1(t + 0 | g)"
EXP = "y ~ x + exp(cx + cy + 0 | g)"
CASES = (
    Case("ar1_dense", AR1, "gaussian", GAUSSIAN, _few_series, _check("dense", "ar1"), ranked=parameters),
    Case("ar1_by_level", AR1, "gaussian", GAUSSIAN, _many_series, _check("by_level", "ar1"), ranked=parameters),
    Case("ar1_poisson", AR1, "poisson", COUNT, _few_series, _check("sampled", "ar1"), ranked=parameters),
    Case("exp_gaussian", EXP, "gaussian", GAUSSIAN, _field, _check("dense", "exp"), ranked=parameters),
    Case("exp_poisson", EXP, "poisson", COUNT, _field, _check("sampled", "exp"), ranked=parameters),
)
PATHS = tuple(case.path for case in CASES)


# ---- the simulation against the structure's formula ----

def _correlation(kind: str, param: float, data: pd.DataFrame) -> np.ndarray:
    """The structure's correlation over the block's positions in the order of its columns (sorted times; sites
    sorted by x then y, as ``np.unique`` orders them), from the documented formula."""
    if kind == "ar1":
        t = np.arange(TIMES)
        return param ** np.abs(t[:, None] - t[None, :])
    sites = np.unique(data[["cx", "cy"]].to_numpy(), axis=0)
    return np.exp(-np.linalg.norm(sites[:, None, :] - sites[None, :, :], axis=-1) / param)


def whitened_prior(case: Case, settings: Settings, draws: int = 400) -> dict:
    """Prior draws of ``case``'s model (as :func:`sbc_paths.simulate` draws them), every level's effects whitened by
    the structure's Cholesky factor: the Kolmogorov-Smirnov p-value of the pooled values against N(0, 1), their
    mean and variance, and of the per-draw sums of squares against their chi-square."""
    import bayesmm as bmm
    from scipy import stats

    data = case.covariates(settings)
    prior = bmm.Model(case.formula, data, family=case.family, priors=case.priors).sample_prior(draws=draws, seed=99).prior
    kind = next(k for k in KINDS if f"{k}_g" in prior)
    sd, param = prior["sd_g"].values[0, :, 0], prior[f"{kind}_g"].values[0]
    effects = prior["r_g"].values[0]  # draws x levels x positions
    z = np.stack([np.linalg.solve(sd[i] * np.linalg.cholesky(_correlation(kind, param[i], data)), effects[i].T).T
                  for i in range(draws)])
    squares = (z ** 2).sum(axis=(1, 2))
    return {"path": case.path, "values": z.size, "mean": float(z.mean()), "variance": float(z.var()),
            "ks_p": float(stats.kstest(z.ravel(), "norm").pvalue),
            "squares_ks_p": float(stats.kstest(squares, stats.chi2(z[0].size).cdf).pvalue)}


def main(argv=None) -> int:
    parser = arguments(__doc__.splitlines()[0], PATHS)
    args = parser.parse_args(argv)
    settings = STRUCTURES_FULL if args.full else SMALL
    if args.replications:
        settings = replace(settings, replications=args.replications)
    paths = tuple(args.paths.split(","))
    checks = pd.DataFrame([whitened_prior(next(c for c in CASES if c.path == p), settings) for p in paths])
    print("prior draws whitened by the structure's formula:\n" + checks.to_string(index=False, float_format="%.3g"))
    if args.combine:
        fits = pd.read_csv(args.combine[0], dtype={"error": "string"}).fillna({"error": ""})
        return report(fits, pd.read_csv(args.combine[1]), settings, args.out, prefix="structures_")
    began = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    fits, ranks = run(settings, paths, log=sys.stdout, partial=os.path.join(args.out, "structures_partial_"),
                      start=args.start, cases=CASES)
    print(f"wall {time.perf_counter() - began:.0f} s")
    return report(fits, ranks, settings, args.out, prefix="structures_")


if __name__ == "__main__":
    sys.exit(main())
