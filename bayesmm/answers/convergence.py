"""How well every parameter mixed, and the one status line that says so first.

The checks are Stan's and brms's (Vehtari et al. 2021): rank-normalised split Rhat below 1.01 for every
parameter, each level's random effect included; bulk and tail ESS of at least 400 for the fixed effects,
SDs, correlations and family parameters; no divergent transitions after warmup; no transition stopped by
the maximum tree depth. The level effects of a group integrated out (drawn exactly from their conditional
given the sampled parameters, draw by draw) mix as those parameters do, whose own Rhats are checked: their
Rhats are judged against what chance gives for their number and the run's length (:func:`chance_rhat`),
1.01 at the default 4 x 1000 draws, more for thousands of levels in a short run. A refit by the safeguard
(:mod:`bayesmm.safeguard`) is mentioned too: the first run failed these checks.

:func:`status_line` is the first line of ``print(fit)``, of the report and of the command line's output,
and the text of the single :class:`~bayesmm.errors.BayesMMWarning` a fit emits (:func:`warn_convergence`);
it is empty when all is well. Parameters are named as ``fit.intervals()`` takes them
(:func:`bayesmm.naming.canonical`): ``Days``, ``zi_Intercept``, ``sd_site__Intercept``,
``cor_Subject__Intercept__Days``, ``sigma``, ``phi``, a level's effect ``r_site[3,Intercept]``.
Numpy, scipy and pandas only.
"""
from __future__ import annotations

import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from scipy import special

from ..phrasing import command_line
from .. import naming
from ..errors import BayesMMWarning
from ..posterior import group_terms, parameter_names, random_parts

__all__ = ["RHAT_LIMIT", "ESS_LIMIT", "CHANCE", "chance_rhat", "rank_normalized_rhat", "mixing_table",
           "rhat_fails", "tree_depth_hits", "refit_note", "status_line", "warn_convergence"]

#: A parameter is well mixed when its rank-normalised Rhat is below this and its bulk and tail ESS at least
#: ``ESS_LIMIT`` (Vehtari et al. 2021)
RHAT_LIMIT = 1.01
ESS_LIMIT = 400
#: Of fits whose chains mix perfectly, the share in which some level effect of an integrated-out group reaches
#: :func:`chance_rhat` by chance alone
CHANCE = 0.01


def chance_rhat(statistics: int, chains: int, draws: int) -> float:
    """The Rhat that ``statistics`` level effects drawn exactly from their conditional all stay below, in all but
    :data:`CHANCE` of fits whose ``chains`` x ``draws`` mix perfectly; at least :data:`RHAT_LIMIT`.

    For independent draws in m split chains of n draws, split Rhat^2 = (n - 1)/n + (B/W)/n with B/W, the
    between- over the within-chain variance, F-distributed with (m - 1, m(n - 1)) degrees of freedom (Gelman and
    Rubin 1992; the rank-normalised draws are close to normal); the bulk's and the folded draws' Rhat take half
    the chance each. 2 x 500 draws of 50,000 levels: 1.022 (1.01 is passed by about 45 levels by chance); the
    default 4 x 1000: 1.01 for up to 7 x 10^10 levels."""
    m, n = 2 * int(chains), int(draws) // 2
    if m < 2 or n < 2 or statistics < 1:
        return RHAT_LIMIT
    f = special.fdtri(m - 1, m * (n - 1), 1.0 - CHANCE / (2 * statistics))
    return max(RHAT_LIMIT, float(np.sqrt((n - 1) / n + f / n)))


#: columns per piece of :func:`rank_normalized_rhat`
CHUNK_COLUMNS = 750


def rank_normalized_rhat(values: np.ndarray) -> np.ndarray:
    """Rank-normalised split Rhat (Vehtari et al. 2021; the value of ArviZ's ``rhat``) of each column of
    ``values`` shaped (chain, draw, ...), vectorised over the columns: ArviZ loops over them in Python, which
    takes seconds for thousands of random effects. One full sort per column serves both the bulk's ranks and
    the folded draws' (tail) ranks; the normal scores come from a table of the possible ranks and enter only
    through their sums per split chain, taken in the sorted order (no scatter back to the draws' order)."""
    values = np.asarray(values, dtype=float)
    chains, draws = values.shape[:2]
    flat = values.reshape(chains, draws, -1)
    if flat.shape[2] > CHUNK_COLUMNS:  # in cache-sized pieces, on threads (numpy sorts without the GIL): a
        # third of the time of one piece for thousands of levels
        pieces = np.array_split(flat, -(-flat.shape[2] // CHUNK_COLUMNS), axis=2)
        with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
            return np.concatenate(list(pool.map(rank_normalized_rhat, pieces))).reshape(values.shape[2:])
    half = draws // 2
    split = np.concatenate([flat[:, :half], flat[:, draws - half:]], axis=0)
    rows = np.ascontiguousarray(split.reshape(-1, split.shape[-1]).T)  # one row per column, its draws along it
    n, m = rows.shape[1], split.shape[0]
    order = np.argsort(rows, axis=1)
    ordered = np.take_along_axis(rows, order, axis=1)
    # the folded draws |x - median| in the sorted draws' order fall and then rise: two runs, which a stable
    # sort (timsort) merges in one pass, so the tail's ranks take no second full sort
    median = 0.5 * (ordered[:, (n - 1) // 2] + ordered[:, n // 2])
    folded = np.abs(ordered - median[:, None])
    again = np.argsort(folded, axis=1, kind="stable")
    # each sorted position's split chain, numbered across the rows (row r's chains r * m .. r * m + m - 1)
    chain = order // half + m * np.arange(rows.shape[0])[:, None]
    # normal scores of the ranks, which are multiples of 1/2 from 1 to n: a table instead of ndtri per draw
    table = special.ndtri((np.arange(2 * n + 1) / 2 - 0.375) / (n + 0.25))
    with np.errstate(all="ignore"):
        bulk = _split_rhat(_sorted_scores(ordered, table), chain, m, half)
        tail = _split_rhat(_sorted_scores(np.take_along_axis(folded, again, axis=1), table),
                           np.take_along_axis(chain, again, axis=1), m, half)
    out = np.maximum(bulk, tail)
    out[~np.isfinite(bulk) | ~np.isfinite(tail)] = np.nan
    return out.reshape(values.shape[2:])


def _sorted_scores(ordered: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The normal score of each sorted position's rank (flat, rows x n), ties averaged (scipy's
    ``rankdata(method="average")``): a tie (a stuck chain repeats its values; folding at the median ties the two
    middle draws) gets the score of the mean of its run's first and last ranks. ``table``: scores by half rank."""
    rows, n = ordered.shape
    scores = np.tile(table[2:2 * n + 1:2], rows)  # rank j + 1 at sorted position j
    row, j = np.nonzero(ordered[:, 1:] == ordered[:, :-1])  # positions j and j + 1 tie (row by row, j rising)
    if row.size:
        new = np.concatenate([[True], (row[1:] != row[:-1]) | (j[1:] != j[:-1] + 1)])  # a run's first tie
        starts, run = np.flatnonzero(new), np.cumsum(new) - 1
        first, last = j[starts], np.maximum.reduceat(j, starts) + 1
        value = table[first + last + 2][run]  # the mean rank (first + last) / 2 + 1, in half ranks
        scores[row * n + j] = value
        scores[row * n + j + 1] = value
    return scores


def _split_rhat(scores: np.ndarray, chain: np.ndarray, m: int, n: int) -> np.ndarray:
    """Rhat of each row's scores (flat, in sorted order) from their sums and sums of squares in each of its ``m``
    split chains of ``n`` draws (``chain``: each sorted position's chain, numbered across the rows)."""
    index = chain.ravel()
    total = np.bincount(index, scores, minlength=chain.shape[0] * m).reshape(-1, m)
    squares = np.bincount(index, scores * scores, minlength=chain.shape[0] * m).reshape(-1, m)
    mean = total / n
    within = ((squares - n * mean * mean) / (n - 1)).mean(axis=1)
    between = n * mean.var(axis=1, ddof=1)
    return np.sqrt((between / within + n - 1) / n)


def level_rhats(fit, group: str, component: str = "cond") -> np.ndarray | None:
    """Rhat of each level effect of ``group`` (levels x terms, :func:`rank_normalized_rhat`; of a family parameter's
    formula with its ``component``), computed once per fit; None with fewer than 2 chains or 4 draws."""
    post = fit.idata.posterior
    if post.sizes["chain"] < 2 or post.sizes["draw"] < 4:
        return None
    return fit.memo(("level_rhats", group, component), lambda: rank_normalized_rhat(
        post[naming.variable("ranef", group, component)].transpose(
            "chain", "draw", naming.level_dim(group, component), naming.term_dim(group, component)).values))


def _level_rhats(fit) -> list[dict]:
    """Per part and group: how many level effects have Rhat >= 1.01, and the worst one."""
    post = fit.idata.posterior
    if post.sizes["chain"] < 2 or post.sizes["draw"] < 4:
        return []
    return [row for part, component in random_parts(fit.design) for row in _part_level_rhats(fit, part, component)]


def drawn_exactly(fit) -> set[str]:
    """The groups whose level effects were drawn exactly from their conditional (every block of the group
    integrated out: ``idata.posterior.attrs["exact_groups"]``, a JSON list written when the fit was sampled)."""
    text = fit.idata.posterior.attrs.get("exact_groups", "")
    return set(json.loads(text)) if isinstance(text, str) and text else set()


def _part_level_rhats(fit, part: str, component: str) -> list[dict]:
    post = fit.idata.posterior
    exact = drawn_exactly(fit) if component == "cond" else set()
    rows = []
    for group, (terms, _) in group_terms(fit.design, part).items():
        rhat = level_rhats(fit, group, component)
        if not np.isfinite(rhat).any():
            continue
        limit = (chance_rhat(rhat.size, post.sizes["chain"], post.sizes["draw"]) if group in exact
                 else RHAT_LIMIT)
        level, column = np.unravel_index(np.nanargmax(rhat), rhat.shape)
        name = naming.random_effect(group, post[naming.level_dim(group, component)].values[level], terms[column],
                                    component)
        rows.append({"effect": "ranef", "component": component, "group": group, "term": terms[column],
                     "rhat": float(rhat[level, column]), "ess_bulk": np.nan, "ess_tail": np.nan,
                     "parameter": naming.variable(name), "label": naming.canonical(name), "name": name,
                     "n_poor": int(np.sum(rhat >= limit)), "n_levels": int(rhat.size), "rhat_limit": limit})
    return rows


def mixing_table(fit) -> pd.DataFrame:
    """``tidy()``'s rows (with ``parameter`` and ``label``: the canonical name, ``name``: its
    :class:`~bayesmm.naming.Name`, ``n_poor``: 1 when it fails a check, ``rhat_limit``: 1.01) and, per group, a row
    for its level effects (effect ``ranef``, ``parameter`` the whole variable ``r_<group>``, ``label`` the worst
    level's name and its Rhat, ``rhat_limit`` 1.01 or, for levels drawn exactly, :func:`chance_rhat`, ``n_poor``
    the number of levels' effects at or above it). Cached on the fit."""
    return fit.memo("mixing", lambda: _mixing(fit)).copy()


def rhat_fails(table: pd.DataFrame) -> pd.Series:
    """Which rows of :func:`mixing_table` fail the Rhat check (Rhat at or above the row's limit)."""
    return table["rhat"] >= table["rhat_limit"]


def _mixing(fit) -> pd.DataFrame:
    table = fit.tidy()
    names = parameter_names(fit.idata, fit.design, fit.family)
    table["parameter"] = table["label"] = [naming.canonical(name) for name in names]
    table["name"] = names
    poor = (table["rhat"] >= RHAT_LIMIT) | (table["ess_bulk"] < ESS_LIMIT) | (table["ess_tail"] < ESS_LIMIT)
    table["n_poor"] = poor.astype(int)
    table["n_levels"] = 0
    table["rhat_limit"] = RHAT_LIMIT
    if fit.method != "nuts":  # independent draws: no mixing to check per level
        return table
    levels = pd.DataFrame(_level_rhats(fit), columns=list(table.columns.drop(["estimate", "std_error",
                                                                               "conf_low", "conf_high"])))
    return pd.concat([table, levels], ignore_index=True) if len(levels) else table


def tree_depth_hits(fit) -> tuple[int, int]:
    """(transitions that hit the maximum tree depth, the maximum depth)."""
    depth = int(getattr(fit.settings, "max_tree_depth", 10))
    return int((fit.idata.sample_stats["tree_depth"].values >= depth).sum()), depth


def refit_note(fit) -> str:
    """The safeguard's sentence (``idata.posterior.attrs["refit"]``, or ``idata.attrs["refit"]``), or ''."""
    for attrs in (getattr(fit.idata.posterior, "attrs", None), getattr(fit.idata, "attrs", None)):
        note = (attrs or {}).get("refit", "")
        if isinstance(note, str) and note.strip():
            return note.strip()
    return ""


def _worst(rows: pd.DataFrame, column: str, label: str, ascending: bool, first=None) -> str:
    """``Rhat 1.062 for sd_site__Intercept (and 3 more)``: the worst of ``first`` (default ``rows``) and
    how many more of ``rows`` fail."""
    rows = rows.sort_values(column, ascending=ascending)
    top = (rows if first is None else first.sort_values(column, ascending=ascending)).iloc[0]
    more = int(rows["n_poor"].clip(lower=1).sum()) - 1 if column == "rhat" else len(rows) - 1
    value = f"{top[column]:.3f}" if column == "rhat" else f"{top[column]:.0f}"
    return f"{label} {value} for {top['label']}" + (f" (and {more} more)" if more > 0 else "")


def status_line(fit) -> str:
    """``WARNING: not converged: Rhat 1.062 for sd_site__Intercept (and 3 more); bulk ESS 35 for Days
    (and 1 more); 0 divergences. See fit.diagnose().``, or ``NOTE: ...`` when only a refit was needed, or
    '' when every check passes. Cached on the fit."""
    return fit.memo("status", lambda: _status(fit))


#: the status line of an approximate fit (``method="laplace"``)
APPROXIMATE_NOTE = ("NOTE: approximate (Laplace): the posterior mode with a Gaussian around it, the random effects "
                    "integrated out by the Laplace approximation; Rhat and ESS do not apply. Fit with method='nuts' "
                    "for the full posterior.")


def _status(fit) -> str:
    if fit.method != "nuts":
        return APPROXIMATE_NOTE
    table = mixing_table(fit)
    summary = table[table["effect"] != "ranef"]
    rhat = table[rhat_fails(table)]
    bulk = summary[summary["ess_bulk"] < ESS_LIMIT]
    tail = summary[summary["ess_tail"] < ESS_LIMIT]
    divergent = int(fit.idata.sample_stats["diverging"].values.sum())
    hits, depth = tree_depth_hits(fit)
    refit = refit_note(fit)
    parts = []
    if len(rhat):  # named by the worst parameter of the summary table when one fails, else the worst level
        named = rhat[rhat["effect"] != "ranef"] if (rhat["effect"] != "ranef").any() else rhat
        parts.append(_worst(rhat, "rhat", "Rhat", ascending=False, first=named))
    if len(bulk):
        parts.append(_worst(bulk, "ess_bulk", "bulk ESS", ascending=True))
    if len(tail):
        parts.append(_worst(tail, "ess_tail", "tail ESS", ascending=True))
    if not parts and not divergent and not hits:
        line = f"NOTE: converged after a refit: {refit}" if refit else ""
    else:
        headline = ("not converged" if len(rhat) or divergent else
                    "too few effective draws" if parts else "sampling hit the maximum tree depth")
        parts.append(f"{divergent} divergence{'s' if divergent != 1 else ''}")
        if hits:
            parts.append(f"{hits} transitions hit the maximum tree depth ({depth})")
        if refit:
            parts.append(f"refit: {refit.rstrip('.')}")
        pointer = "See fit.diagnose()." if command_line() is None else "See the advice after the summary."
        line = f"WARNING: {headline}: " + "; ".join(parts) + f". {pointer}"
    return line


def warn_convergence(fit) -> None:
    """One :class:`BayesMMWarning` with the status line, when there is one (called once per fit)."""
    line = status_line(fit)
    if line and fit.method == "nuts":
        warnings.warn(line, BayesMMWarning, stacklevel=3)
