"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) of every sampling path bayesmm chooses.

``validation/sbc.py`` checks four families on one model, ``validation/sbc_structures.py`` the covariance-structure
blocks; this script checks each way ``compile_model``
(``bayesmm/model/__init__.py``) can turn a model into a density for NUTS, one case per path:

========================  ==========================================================================
``dense_marginal``        gaussian ``y ~ x + (x | g)``: every random effect integrated out (Woodbury)
``level_marginal``        gaussian ``y ~ x + (x | g) + (1 | h)``, g with 201 levels (more than
                          ``MAX_COEFFICIENTS`` coefficients): g integrated out level by level, h sampled
``quadrature_poisson``    poisson ``y ~ x + (1 | g) + (1 | obs)``: the observation-level effect
                          integrated out by Gauss-Hermite quadrature
``quadrature_binomial``   binomial ``p(y, n) ~ x + (1 | g) + (1 | obs)``, 10 trials a row: the same
``centred``               poisson ``y ~ x + (x | g)``, ``centered=True``
``partly_centred``        poisson ``y ~ x + (x || g)`` at default centring: weights strictly between 0
                          and 1 that follow each draw's SDs (a block whose simulated SD is too small for
                          any level to reach ``centring.MIN_WEIGHT`` non-centred, as the fit would)
``non_centred``           bernoulli ``y ~ x + (x | g)``, ``centered=False``
``rotated``               bernoulli ``y ~ x + w + (1 | g)``, w constant within g (a level-level
                          covariate): g's effects sampled in the QR coordinates of ``[1, w]``
``aliased``               poisson ``y ~ x + (1 | g) + (1 | h)``, h nested in g, 6 of 12 levels of g
                          holding a single level of h: those pairs sampled as sum and split
========================  ==========================================================================

Every fit is checked to have taken its path (``Case.check`` on the ``ModelStructure``/``ModelData`` that
``compile_model`` gives for the simulated data, with the fit's own switches): a replication that took another
path is recorded as failed. Explicit proper priors, shared by the simulation (``Model.sample_prior``) and the
fit; the random-effect SDs are ``half_normal(0.6)`` everywhere (13% of draws below 0.1, 10% above 1 on the
link scale). Ranked: the fixed effects, the SDs, the correlations, the family parameter, and the effects of
the first level of each grouping factor (for the integrated-out paths these are drawn after sampling, from
their conditional distribution: SBC checks that step too).

    python validation/sbc_paths.py --full --replications 200 > sbc_paths.log   # the recorded run (validation/README.md)
    python validation/sbc_paths.py                                 # the small version (tests/end_to_end/test_sbc.py)
    python validation/sbc_paths.py --full --replications 150 --levels quadrature_poisson:obs   # every level

The full run writes ``validation/sbc_results/paths_{fits,ranks,pvalues}.csv`` and ``paths_ranks.png``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's bayesmm

from sbc import FULL, SMALL, Settings  # noqa: E402

SD_PRIOR = "half_normal(0.6)"
GAUSSIAN = {"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": SD_PRIOR, "cor": "lkj(2)",
            "sigma": "half_normal(1)"}
COUNT = {"Intercept": "normal(1, 0.5)", "b": "normal(0, 0.5)", "sd": SD_PRIOR, "cor": "lkj(2)"}
BINARY = {"Intercept": "normal(0, 1)", "b": "normal(0, 1)", "sd": SD_PRIOR, "cor": "lkj(2)"}
#: the SBC columns of the per-fit table that are not path flags
FIT_COLUMNS = ("path", "replication", "divergent", "seconds", "error")


def _without_cor(priors: dict) -> dict:
    return {k: v for k, v in priors.items() if k != "cor"}


# ---- fixed covariates per case (the same in every replication: fits reuse the compiled program) ----

def _grouped(settings: Settings) -> pd.DataFrame:
    """``groups`` x ``per_group`` rows, x ~ N(0, 1); y a valid placeholder."""
    rng = np.random.default_rng(settings.seed)
    n = settings.groups * settings.per_group
    return pd.DataFrame({"x": rng.normal(size=n), "y": np.arange(n) % 2,
                         "g": np.repeat([f"g{i:02d}" for i in range(settings.groups)], settings.per_group)})


def _many_levels(settings: Settings) -> pd.DataFrame:
    """201 levels of g x 4 rows (402 coefficients of ``(x | g)``: over ``MAX_COEFFICIENTS``), crossed with 8
    levels of h."""
    rng = np.random.default_rng(settings.seed)
    levels, per = 201, 4
    n = levels * per
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n),
                         "g": np.repeat([f"g{i:03d}" for i in range(levels)], per),
                         "h": [f"h{i % 8}" for i in range(n)]})


def _with_obs(settings: Settings) -> pd.DataFrame:
    data = _grouped(settings)
    return data.assign(obs=[f"o{i:03d}" for i in range(len(data))], n=10)


def _level_covariate(settings: Settings) -> pd.DataFrame:
    """x varies within g; w holds one value per level of g."""
    data = _grouped(settings)
    w = np.random.default_rng(settings.seed + 1).normal(size=settings.groups)
    return data.assign(w=np.repeat(w, settings.per_group))


def _nested(settings: Settings) -> pd.DataFrame:
    """12 levels of g x 8 rows; h nested in g: g0..g5 hold one level of h each (the same rows: aliased), g6..g11
    two levels of 4 rows each."""
    rng = np.random.default_rng(settings.seed)
    g = np.repeat(np.arange(12), 8)
    h = np.where(g < 6, 2 * g, 2 * g + np.arange(g.size) % 2)
    return pd.DataFrame({"x": rng.normal(size=g.size), "y": np.arange(g.size) % 2,
                         "g": [f"g{i:02d}" for i in g], "h": [f"h{i:02d}" for i in h]})


# ---- path checks: "" when the structure and data took the path, else what went wrong ----

def _weights(data) -> list[np.ndarray]:
    return [np.asarray(w, dtype=float) for w in data.centred]


def _check_dense(structure, data, design) -> str:
    ok = structure.marginal and structure.marginal_block < 0 and structure.row_block < 0
    return "" if ok else f"not dense marginal: marginal={structure.marginal}, block={structure.marginal_block}"


def _check_level(structure, data, design) -> str:
    if structure.marginal or structure.marginal_block != 0 or structure.row_block >= 0:
        return f"not level-by-level: marginal={structure.marginal}, marginal_block={structure.marginal_block}"
    if data.one_block is None:
        return "no one-block statistics"
    return ""


def _check_quadrature(structure, data, design) -> str:
    if structure.marginal or structure.marginal_block >= 0 or structure.row_block != 1:
        return f"not quadrature: row_block={structure.row_block}, marginal={structure.marginal}"
    return ""


def _check_centred(structure, data, design) -> str:
    w = _weights(data)[0]
    return "" if np.all(w == 1.0) and structure.blocks[0].any_centred else f"not all centred: {w.min():.2f}"


def _check_partly(structure, data, design) -> str:
    """Weights strictly inside (0, 1) that follow the draws' SDs; or, where the simulated SD is so small that no
    level can reach ``centring.MIN_WEIGHT`` (``centring.can_centre``), a block sampled non-centred by that rule:
    such a replication is fitted and ranked (dropping it would select on the data and bias the ranks)."""
    from bayesmm.plan import centring

    information, tau2 = centring.level_information(design, structure.family, structure.link)
    for k, w in enumerate(_weights(data)):
        if information is not None and not centring.can_centre(information[k], tau2[k]):
            if np.any(w):
                return f"block {k}: weights {np.round(w, 3).tolist()} where no level can reach the minimum"
            continue
        if not np.all((w > 0) & (w < 1)):
            return f"block {k}: weights outside (0, 1): {np.round(w, 3).tolist()}"
        if data.guessed_weights[k] is None:
            return f"block {k}: fixed weights (not following the draws' SDs)"
    return ""


def _check_non_centred(structure, data, design) -> str:
    ok = not structure.blocks[0].any_centred and not np.any(_weights(data)[0])
    return "" if ok else "some level centred"


def _check_rotated(structure, data, design) -> str:
    bases = data.level_bases[0]
    if structure.marginal or bases is None or np.asarray(bases).shape[0] != 2:
        return f"no level-covariate basis: {None if bases is None else np.asarray(bases).shape}"
    return ""


def _check_aliased(structure, data, design) -> str:
    if structure.aliases != ((0, 1),) or len(data.aliases[0][0]) != 6:
        return f"aliases {structure.aliases}"
    return ""


@dataclass(frozen=True)
class Case:
    """One sampling path: the model, its fixed covariates, the fit's switch and the check of the path."""

    path: str
    formula: str
    family: str
    priors: dict
    covariates: Callable[[Settings], pd.DataFrame]
    check: Callable
    centered: bool | None = None
    #: ``{name: draws}`` of the parameters ranked, from a posterior or a prior (None: :func:`parameters`)
    ranked: Callable | None = None

    def ranked_parameters(self, post) -> dict[str, np.ndarray]:
        return (self.ranked or parameters)(post)


CASES = (
    Case("dense_marginal", "y ~ x + (x | g)", "gaussian", GAUSSIAN, _grouped, _check_dense),
    Case("level_marginal", "y ~ x + (x | g) + (1 | h)", "gaussian", GAUSSIAN, _many_levels, _check_level),
    Case("quadrature_poisson", "y ~ x + (1 | g) + (1 | obs)", "poisson", _without_cor(COUNT), _with_obs,
         _check_quadrature),
    Case("quadrature_binomial", "p(y, n) ~ x + (1 | g) + (1 | obs)", "binomial", _without_cor(BINARY), _with_obs,
         _check_quadrature),
    Case("centred", "y ~ x + (x | g)", "poisson", COUNT, _grouped, _check_centred, centered=True),
    Case("partly_centred", "y ~ x + (x || g)", "poisson", _without_cor(COUNT), _grouped, _check_partly),
    Case("non_centred", "y ~ x + (x | g)", "bernoulli", BINARY, _grouped, _check_non_centred, centered=False),
    Case("rotated", "y ~ x + w + (1 | g)", "bernoulli", _without_cor(BINARY), _level_covariate, _check_rotated),
    Case("aliased", "y ~ x + (1 | g) + (1 | h)", "poisson", _without_cor(COUNT), _nested, _check_aliased),
)
PATHS = tuple(case.path for case in CASES)


def _case(path: str) -> Case:
    return next(case for case in CASES if case.path == path)


# ---- the parameters ranked ----

def parameters(post) -> dict[str, np.ndarray]:
    """``{name: draws}`` (flattened over chains) of the parameters SBC ranks, from a fit's posterior or a
    prior: fixed effects ``b_<coef>``; per grouping factor g, ``sd_g:<term>``, ``cor_g`` (two-term correlated
    blocks) and the first level's effects ``r_g:<level>:<term>``; ``sigma``/``phi``."""
    out = {f"b_{c}": post["b"].sel(coef=c).values.ravel() for c in post["coef"].values}
    groups = [name[3:] for name in post.data_vars if name.startswith("sd_")]
    for g in groups:
        terms = post[f"{g}__term"].values
        for term in terms:
            out[f"sd_{g}:{term}"] = post[f"sd_{g}"].sel({f"{g}__term": term}).values.ravel()
        if f"cor_{g}" in post and len(terms) == 2:
            out[f"cor_{g}"] = post[f"cor_{g}"].values[..., 0, 1].ravel()
        level = post[f"{g}__level"].values[0]
        for term in terms:
            out[f"r_{g}:{level}:{term}"] = post[f"r_{g}"].sel({f"{g}__level": level, f"{g}__term": term}).values.ravel()
    for name in ("sigma", "phi"):
        if name in post:
            out[name] = post[name].values.ravel()
    return out


def simulate(case: Case, settings: Settings, offset: int):
    """The fixed covariates, the true parameters (one dict per replication) and the simulated responses; the
    simulation's seed is the settings' plus ``offset`` (the case's position among the cases run)."""
    import bayesmm as bmm

    data = case.covariates(settings)
    model = bmm.Model(case.formula, data, family=case.family, priors=case.priors)
    prior = model.sample_prior(draws=settings.replications, seed=settings.seed + offset)
    truth = case.ranked_parameters(prior.prior)
    ys = prior.prior_predictive["y"].values[0]
    return data, [{k: float(v[i]) for k, v in truth.items()} for i in range(settings.replications)], ys


def flags(structure, data) -> dict:
    """What the compiled model says about its path (one row of the per-fit table)."""
    weights = _weights(data)
    return {
        "marginal": bool(structure.marginal), "marginal_block": int(structure.marginal_block),
        "row_block": int(structure.row_block), "aliased_levels": int(sum(len(a[0]) for a in data.aliases)),
        "basis_rows": max([0] + [np.asarray(b).shape[0] for b in data.level_bases if b is not None]),
        "dynamic_blocks": sum(g is not None for g in data.guessed_weights),
        "mean_weight": "/".join(f"{np.mean(w):.2f}" for w in weights),
        "partial_share": float(np.mean(np.concatenate([(w > 0.05) & (w < 0.95) for w in weights]))),
    }


def fit_one(case: Case, settings: Settings, data: pd.DataFrame, rep: int, y, truth: dict):
    """One replication: the per-fit row and the rank rows (path check, fit, ranks among thinned draws)."""
    import arviz as az
    import bayesmm as bmm
    from bayesmm.model import compile_model

    start = time.perf_counter()
    row = {"path": case.path, "replication": rep}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = bmm.Model(case.formula, data.assign(y=y), family=case.family, priors=case.priors)
            structure, compiled = compile_model(model.design, model.family, model.prior_entries, None, case.centered)
            row.update(flags(structure, compiled))
            wrong = case.check(structure, compiled, model.design)
            if wrong:  # recorded as failed: the case did not test its path
                return dict(row, divergent=0, seconds=0.0, error=f"wrong path: {wrong}"), []
            fit = model.fit(chains=1, draws=settings.draws, warmup=settings.warmup, seed=rep, progress=False,
                            centered=case.centered)
    except bmm.BayesMMError as err:  # recorded, never silently dropped
        return dict(row, divergent=0, seconds=time.perf_counter() - start, error=str(err).splitlines()[0]), []
    draws = case.ranked_parameters(fit.idata.posterior)
    ranks = []
    for name, value in truth.items():
        kept = draws[name][::settings.thin]
        ranks.append({"path": case.path, "replication": rep, "parameter": name, "rank": int(np.sum(kept < value)),
                      "truth": value, "ess_bulk": float(az.ess(draws[name][None, :], method="bulk"))})
    return dict(row, divergent=fit.n_divergent, seconds=time.perf_counter() - start, error=""), ranks


def run(settings: Settings, paths=PATHS, log=None, partial: str | None = None, start: int = 0, cases=CASES):
    """``(fits, ranks)`` DataFrames of every replication of every path (of ``cases``), replications interleaved
    across paths (an interrupted run keeps an even share of each); ``partial``: a prefix for CSVs rewritten every
    round."""
    by_path = {case.path: case for case in cases}
    simulated = {path: simulate(by_path[path], settings, list(by_path).index(path)) for path in paths}
    fits, ranks = [], []
    for rep in range(start, settings.replications):
        for path in paths:
            data, truths, ys = simulated[path]
            row, rows = fit_one(by_path[path], settings, data, rep, ys[rep], truths[rep])
            fits.append(row)
            ranks += rows
            if log:
                print(f"{path:20s} {rep:4d} {row['seconds']:6.2f} s  divergent {row['divergent']:3d}  "
                      f"{row.get('mean_weight', '')} {row['error']}", file=log, flush=True)
        if partial:
            pd.DataFrame(fits).to_csv(partial + "fits.csv", index=False)
            pd.DataFrame(ranks).to_csv(partial + "ranks.csv", index=False)
    return pd.DataFrame(fits), pd.DataFrame(ranks)


def uniformity(fits: pd.DataFrame, ranks: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Per path and parameter: the chi-square test of uniform ranks (``bins`` equal bins of the L + 1 rank
    values), the share of ranks in the lowest and highest bins (a one-sided pile-up), the mean rank / L,
    the median bulk ESS of the (unthinned) draws, and the fits that failed or had divergent transitions."""
    from scipy import stats

    values = settings.n_ranked + 1
    if values % settings.bins:
        raise ValueError(f"{values} rank values do not split into {settings.bins} equal bins")
    rows = []
    for path in dict.fromkeys(fits["path"]):
        of_path = fits[fits["path"] == path]
        ok = of_path[of_path["error"] == ""]
        frame = ranks[ranks["path"] == path]
        for name in dict.fromkeys(frame["parameter"]):
            column = frame.loc[frame["parameter"] == name, "rank"].astype(int).to_numpy()
            counts = np.bincount(column * settings.bins // values, minlength=settings.bins)
            test = stats.chisquare(counts)
            rows.append({"path": path, "parameter": name, "replications": int(counts.sum()),
                         "chi2": float(test.statistic), "p_value": float(test.pvalue),
                         "low_bin": counts[0] / counts.sum(), "high_bin": counts[-1] / counts.sum(),
                         "mean_rank": float(column.mean() / settings.n_ranked),
                         "median_ess": float(frame.loc[frame["parameter"] == name, "ess_bulk"].median()),
                         "failed_fits": int((of_path["error"] != "").sum()),
                         "divergent_fits": int((ok["divergent"] > 0).sum())})
    return pd.DataFrame(rows)


def plot(ranks: pd.DataFrame, settings: Settings, path: str) -> None:
    """Rank histograms, one row per sampling path, with the 99% band of a uniform bin count (Talts et al.)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    paths = list(dict.fromkeys(ranks["path"]))
    names = {p: list(dict.fromkeys(ranks.loc[ranks["path"] == p, "parameter"])) for p in paths}
    width = max(len(v) for v in names.values())
    fig, axes = plt.subplots(len(paths), width, figsize=(1.9 * width, 1.55 * len(paths)), squeeze=False)
    values = settings.n_ranked + 1
    for i, p in enumerate(paths):
        for j in range(width):
            ax = axes[i, j]
            if j >= len(names[p]):
                ax.axis("off")
                continue
            column = ranks.loc[(ranks["path"] == p) & (ranks["parameter"] == names[p][j]), "rank"]
            low, high = stats.binom.ppf([0.005, 0.995], len(column), 1 / settings.bins)
            ax.axhspan(low, high, color="0.85")
            ax.axhline(len(column) / settings.bins, color="0.5", linewidth=0.6)
            counts, _, _ = ax.hist(column, bins=np.linspace(0, values, settings.bins + 1), color="C0",
                                   edgecolor="white")
            ax.set_ylim(0, max(high * 1.25, counts.max() + 1))
            ax.set_title(names[p][j], fontsize=6)
            ax.tick_params(labelsize=5)
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(p, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def report(fits: pd.DataFrame, ranks: pd.DataFrame, settings: Settings, out: str, prefix: str = "paths_") -> int:
    """Write the tables and the plot under ``out``, print the p-values and a summary per path; 1 when a fit
    failed or took another path."""
    os.makedirs(out, exist_ok=True)
    table = uniformity(fits, ranks, settings)
    fits.round({"seconds": 3, "partial_share": 3}).to_csv(os.path.join(out, prefix + "fits.csv"), index=False)
    ranks.to_csv(os.path.join(out, prefix + "ranks.csv"), index=False, float_format="%.5g")
    table.to_csv(os.path.join(out, prefix + "pvalues.csv"), index=False)
    plot(ranks, settings, os.path.join(out, prefix + "ranks.png"))
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    summary = fits.groupby("path", sort=False).agg(
        fits=("replication", "size"), failed=("error", lambda e: int((e != "").sum())),
        divergent_fits=("divergent", lambda d: int((d > 0).sum())), median_s=("seconds", "median"),
        partial_share=("partial_share", "median"))
    print(summary.to_string())
    print(f"tests: {len(table)}, smallest p {table['p_value'].min():.3g}; Bonferroni 1% level "
          f"{0.01 / len(table):.2g}\n{settings}")
    return int((fits["error"] != "").any())


def level_ranks(path: str, group: str, settings: Settings, seed: int) -> pd.DataFrame:
    """The rank of every level's effect of ``group`` (first term) in each replication of ``path``, on a
    simulation of its own (``seed``): one row per replication and level. A follow-up to the table, which
    ranks one level per grouping factor: pooled over the levels the ranks of a calibrated fit are uniform,
    and so are the per-level chi-square p-values."""
    import bayesmm as bmm

    case = _case(path)
    data = case.covariates(settings)
    model = bmm.Model(case.formula, data, family=case.family, priors=case.priors)
    prior = model.sample_prior(draws=settings.replications, seed=seed)
    ys = prior.prior_predictive["y"].values[0]
    truth = prior.prior[f"r_{group}"].values[0, :, :, 0]  # replications x levels
    rows = []
    for rep in range(settings.replications):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = bmm.Model(case.formula, data.assign(y=ys[rep]), family=case.family, priors=case.priors).fit(
                chains=1, draws=settings.draws, warmup=settings.warmup, seed=rep, progress=False,
                centered=case.centered)
        draws = fit.idata.posterior[f"r_{group}"].values[0, ::settings.thin, :, 0]
        rows.append(pd.DataFrame({"replication": rep, "level": np.arange(truth.shape[1]), "truth": truth[rep],
                                  "rank": (draws < truth[rep][None, :]).sum(axis=0)}))
    return pd.concat(rows, ignore_index=True)


def _level_report(ranks: pd.DataFrame, settings: Settings) -> None:
    from scipy import stats

    values = settings.n_ranked + 1
    pooled = np.bincount(ranks["rank"] * settings.bins // values, minlength=settings.bins)
    p = np.array([stats.chisquare(np.bincount(frame["rank"] * settings.bins // values, minlength=settings.bins)).pvalue
                  for _, frame in ranks.groupby("level")])
    print(f"pooled over {ranks['level'].nunique()} levels x {ranks['replication'].nunique()} replications: bins "
          f"{pooled.tolist()} (chi-square p {stats.chisquare(pooled).pvalue:.3g}, not independent within a fit)\n"
          f"per-level p-values: share below 0.01 {np.mean(p < 0.01):.3f}, below 0.05 {np.mean(p < 0.05):.3f}; "
          f"Kolmogorov-Smirnov against uniform p {stats.kstest(p, 'uniform').pvalue:.3g}")


def arguments(description: str, paths) -> argparse.ArgumentParser:
    """The command line of a script that runs cases of ``paths`` (this one and ``sbc_structures.py``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--full", action="store_true", help="100 replications per path (else the small run)")
    parser.add_argument("--replications", type=int, default=None)
    parser.add_argument("--paths", default=",".join(paths), help="comma-separated subset")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "sbc_results"))
    parser.add_argument("--start", type=int, default=0, help="first replication (to resume a run)")
    parser.add_argument("--combine", nargs=2, default=None, metavar=("FITS", "RANKS"),
                        help="summarise the CSVs of an earlier (partial) run instead of running")
    return parser


def main(argv=None) -> int:
    parser = arguments(__doc__.splitlines()[0], PATHS)
    parser.add_argument("--levels", default=None, metavar="PATH:GROUP",
                        help="rank every level's effect of GROUP in PATH's fits (e.g. quadrature_poisson:obs)")
    parser.add_argument("--seed", type=int, default=7, help="the simulation's seed for --levels")
    args = parser.parse_args(argv)
    settings = FULL if args.full else SMALL
    if args.replications:
        settings = replace(settings, replications=args.replications)
    if args.levels:
        path, group = args.levels.split(":")
        ranks = level_ranks(path, group, settings, args.seed)
        os.makedirs(args.out, exist_ok=True)
        ranks.to_csv(os.path.join(args.out, f"levels_{path}_{group}.csv"), index=False)
        _level_report(ranks, settings)
        return 0
    if args.combine:
        fits = pd.read_csv(args.combine[0], dtype={"error": "string"}).fillna({"error": ""})
        ranks = pd.read_csv(args.combine[1])
        return report(fits, ranks, settings, args.out)
    began = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    fits, ranks = run(settings, tuple(args.paths.split(",")), log=sys.stdout,
                      partial=os.path.join(args.out, "paths_partial_"), start=args.start)
    print(f"wall {time.perf_counter() - began:.0f} s")
    return report(fits, ranks, settings, args.out)


if __name__ == "__main__":
    sys.exit(main())
