"""After sampling: which random-effect blocks mixed poorly, how to refit them, and which fit to keep.

The parameterisation of each sampled block (centred, partly centred or non-centred levels,
:mod:`bayesmm.plan.centring`) is chosen before sampling from a guess of its SD. Where the guess is wrong
(an SD whose posterior piles up near zero sampled centred: a funnel; a data-rich block sampled non-centred:
a ridge between its SD and its levels), the chains mix slowly, often without a single divergence. After
the fit, a block whose SDs, correlations or level effects fail the usual checks (Rhat < 1.01, bulk and
tail ESS >= 400; Vehtari et al. 2021; a tenth of the draws for runs shorter than 4 x 1000) is refitted once
in the other parameterisation, and the better of the two fits is kept. A fit with divergent transitions is
refitted (in the same run) with a higher target acceptance rate, the usual remedy (smaller steps), and
the same rule keeps the better fit. A fit still short of the checks without a divergence and with every Rhat
below 1.05 then has its chains run longer (from where they stopped, with their adapted step size and mass
matrix), half as many draws again at a time and checked after each, up to as many draws again in all. Numpy and
pandas only: the refit itself is the model's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import naming
from .answers.convergence import ESS_LIMIT, RHAT_LIMIT, level_rhats, mixing_table, rhat_fails

__all__ = ["RHAT_LIMIT", "ESS_LIMIT", "LONGER_RHAT", "LONGER_SHARE", "longer_steps", "ess_limit", "BlockMixing",
           "block_mixing", "flip", "fit_quality", "raised_target", "describe", "runs_longer", "worst_mixing",
           "describe_longer"]

#: with fewer draws than the default 4 x 1000, the ESS asked of a parameter is this share of the draws
ESS_SHARE = 0.1
#: a block's levels count as poorly mixed when this quantile of their Rhats reaches the limit: a drag on
#: most levels (a slowly mixing SD), not the noise of the largest of thousands of Rhats
LEVEL_QUANTILE = 0.9


def ess_limit(fit) -> float:
    """The ESS a parameter needs: 400, or a tenth of the draws when there are fewer than 4,000."""
    return min(ESS_LIMIT, ESS_SHARE * fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"])


@dataclass(frozen=True)
class BlockMixing:
    """How one sampled block mixed: the worst Rhat and the smallest bulk or tail ESS over its SDs and
    correlations, the ``LEVEL_QUANTILE`` quantile of its levels' Rhats, the ESS it needed, and the mean
    centring weight it was sampled with."""

    block: int
    label: str  # e.g. "sd(Intercept) of site"
    rhat: float
    ess: float
    level_rhat: float
    weight: float
    needed_ess: float = ESS_LIMIT

    @property
    def poor(self) -> bool:
        return bool(self.rhat >= RHAT_LIMIT or self.ess < self.needed_ess or self.level_rhat >= RHAT_LIMIT)


def _finite_max(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size else 1.0


def _finite_min(values) -> float:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.min()) if values.size else np.inf


def _level_rhats(fit, group: str, columns) -> np.ndarray:

    rhat = level_rhats(fit, group)
    if rhat is None:
        return np.ones(1)
    terms = list(fit.idata.posterior[naming.term_dim(group)].values)
    values = rhat[:, [terms.index(c) for c in columns]].ravel()
    values = values[np.isfinite(values)]
    return values if values.size else np.ones(1)


def _level_rhat(fit, group: str, columns) -> float:
    return float(np.quantile(_level_rhats(fit, group, columns), LEVEL_QUANTILE))


def block_mixing(fit, sampled: list[int], weights: list[float]) -> list[BlockMixing]:
    """:class:`BlockMixing` of each sampled block (index into ``fit.design.blocks``), with the mean centring
    weight it was sampled with."""
    table = fit.tidy()
    out = []
    for k, weight in zip(sampled, weights):
        block = fit.design.blocks[k]
        if block.part != "cond":  # a family parameter's effects: sampled non-centred, not flipped
            continue
        names = [naming.sd(block.group, c) for c in block.columns]
        names += [naming.cor(block.group, a, b) for i, a in enumerate(block.columns) for b in block.columns[i + 1:]]
        terms = {naming.tidy_row(name)[3] for name in names}
        rows = table[(table["effect"] == "ran_pars") & (table["component"] == "cond") & (table["group"] == block.group)
                     & table["term"].isin(terms)]
        if rows.empty:
            continue
        worst = rows.loc[rows["rhat"].fillna(1.0).idxmax()]
        out.append(BlockMixing(
            block=k, label=naming.canonical(naming.from_tidy(worst["effect"], worst["component"], worst["group"],
                                                             worst["term"], terms=block.columns)),
            rhat=_finite_max(rows["rhat"]), ess=_finite_min(np.minimum(rows["ess_bulk"], rows["ess_tail"])),
            level_rhat=_level_rhat(fit, block.group, block.columns), weight=float(weight),
            needed_ess=ess_limit(fit)))
    return out


def flip(mixing: BlockMixing) -> bool:
    """The other parameterisation: non-centred for a block sampled mostly centred, centred otherwise."""
    return mixing.weight < 0.5


def fit_quality(fit) -> tuple:
    """A key to compare two fits of the same model (larger is better): clean first (no divergence; Rhat
    below the limit and ESS above it over fixed effects, SDs, correlations and family parameters, and for
    the ``LEVEL_QUANTILE`` quantile of each block's levels), then how far the worst of those is past its
    limit (Rhat excess over 0.01, or the ESS needed over the ESS reached), divergences counting as failures."""
    table = fit.tidy()
    rhat = _finite_max(table["rhat"])
    ess = _finite_min(np.minimum(table["ess_bulk"], table["ess_tail"]))
    for group in {block.group for block in fit.design.blocks if block.part == "cond"}:
        rhat = max(rhat, _level_rhat(fit, group, fit.idata.posterior[naming.term_dim(group)].values))
    divergent = int(fit.idata.sample_stats["diverging"].values.sum())
    needed = ess_limit(fit)
    clean = divergent == 0 and rhat < RHAT_LIMIT and ess >= needed
    excess = max((rhat - 1.0) / (RHAT_LIMIT - 1.0), needed / max(ess, 1e-9), 1.0 + divergent if divergent else 0.0)
    return clean, -excess


#: chains that did not diverge and whose every Rhat (random effects included) stays below this, but that fail a
#: check, are run longer rather than refitted: more draws are the remedy for an Rhat just above 1.01 or too few
#: effective draws (Vehtari et al. 2021). Above it the chains disagree about where the posterior lies.
LONGER_RHAT = 1.05


#: chains run longer add this share of their draws at a time, the checks repeated after each step, up to as many
#: draws again in all: an Rhat at 1.01 by chance falls as the draws grow (its excess about halves with twice the
#: draws), and most fits pass after the first step, at half the cost of doubling their draws.
LONGER_SHARE = 0.5


def longer_steps(draws: int) -> list[int]:
    """The draws each step of a run longer adds to chains of ``draws`` draws: :data:`LONGER_SHARE` of them
    (at least one), then the rest, as many draws again in all."""
    first = max(1, int(np.ceil(draws * LONGER_SHARE)))
    return [first] + ([int(draws) - first] if draws > first else [])


def runs_longer(fit) -> bool:
    """Whether the safeguard runs this fit's chains longer: no divergent transition, some parameter at Rhat >=
    1.01 (a level effect included; a level effect drawn exactly from its conditional at its chance limit,
    :func:`~bayesmm.answers.convergence.chance_rhat`) or with a bulk or tail ESS below :func:`ess_limit`, and none
    at Rhat >= :data:`LONGER_RHAT` (or above its chance limit, where that is higher)."""
    if int(fit.idata.sample_stats["diverging"].values.sum()):
        return False
    table = mixing_table(fit)
    _, ess = worst_mixing(fit)
    apart = (table["rhat"] >= np.maximum(table["rhat_limit"], LONGER_RHAT)).any()
    return bool(not apart and (rhat_fails(table).any() or ess < ess_limit(fit)))


def worst_mixing(fit) -> tuple[float, float]:
    """The largest Rhat over every parameter (random effects included) and the smallest bulk or tail ESS over
    the fixed effects, SDs, correlations and family parameters."""

    table = mixing_table(fit)
    summary = table[table["effect"] != "ranef"]
    return _finite_max(table["rhat"]), _finite_min(np.minimum(summary["ess_bulk"], summary["ess_tail"]))


def describe_longer(before, after, draws: int) -> str:
    """The sentence for chains run longer: how many draws each chain added, the worst Rhat and smallest ESS
    before and after."""
    (rhat, ess), (new_rhat, new_ess) = worst_mixing(before), worst_mixing(after)
    return (f"each chain run {draws} draws longer (Rhat {rhat:.3f} -> {new_rhat:.3f}, min ESS {ess:.0f} -> "
            f"{new_ess:.0f})")


def raised_target(target_accept: float) -> float | None:
    """The target acceptance rate for a refit after divergent transitions (smaller steps: 0.95, then 0.99),
    or None when it is already at 0.99 or above."""
    for step in (0.95, 0.99):
        if target_accept < step:
            return step
    return None


def describe(poor: list[BlockMixing], after: list[BlockMixing], kept_refit: bool | int,
             steps: list[tuple[float, int]] | None = None) -> str:
    """One sentence for the summary: which blocks were refitted and how, the step size's targets when
    divergences called for smaller steps (``steps``: target_accept and divergent transitions of each run, the
    first fit's first), what changed, and which fit was kept (``kept_refit``: 0 or False the first, 1 or True
    the refit, 2 the second refit)."""
    by_block = {m.block: m for m in after}
    parts = []
    for m in poor:
        new = by_block.get(m.block)
        how = "non-centred" if not flip(m) else "centred"
        change = (f"Rhat {m.rhat:.3f} -> {new.rhat:.3f}, min ESS {m.ess:.0f} -> {new.ess:.0f}" if new is not None
                  else f"Rhat {m.rhat:.3f}, min ESS {m.ess:.0f}")
        parts.append(f"{m.label} refitted {how} ({change})")
    if steps:
        (first, count), *later = steps
        text = f"refitted with target_accept {first:g} -> {later[0][0]:g} ({count} -> {later[0][1]} divergent transitions)"
        for (_, before), (target, after_count) in zip(later, later[1:]):
            text += f", then {target:g} ({before} -> {after_count})"
        parts.append(text)
    kept = ("the second refit kept" if kept_refit == 2 else "the refit kept" if kept_refit
            else "the first fit kept (the refit was no better)")
    return "; ".join(parts) + f"; {kept}."
