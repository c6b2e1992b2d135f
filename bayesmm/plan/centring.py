"""Centred, non-centred or partly centred random effects, chosen per level from the data (numpy only).

A level's effects can be sampled *non-centred* (standard normal ``z``, scaled by the block's SDs: no funnel
when the data say little about the level) or *centred* (the effects themselves, with a normal prior whose
scale is the SD: no funnel when the data pin the level down). Which geometry is easier depends on how much
the level's data tell about its effect compared with the prior: with ``I_j`` the Fisher information about
the level's effect on the linear-predictor scale and ``tau`` the block's SD, centred wins where
``x = I_j * tau**2 > 1`` (Papaspiliopoulos, Roberts and Skold, Statistical Science 2007; Betancourt and
Girolami 2013). In between, a level is sampled *partly* centred with weight ``x / (1 + x)`` (blocks with
independent columns; :class:`.effects.BlockEffects`), with ``x`` following each draw's SD where it falls well
below the guess (:func:`.effects.dynamic_weights`); correlated blocks are centred where ``x > THRESHOLD``.

Both parts of the criterion come from a quick penalized quasi-likelihood fit before sampling (:mod:`.pql`).
Families without a working weight there (beta, zero-inflated and hurdle counts, other links) stay non-centred,
as brms and Bambi always are.

Levels of two blocks that hold exactly the same rows (:func:`aliased_levels`) are sampled as their sum (partly
centred) and a split instead.
"""
from __future__ import annotations

import numpy as np

from .pql import pql_variances

__all__ = ["centred_levels", "level_information", "level_weights", "pql_variances", "parent_links", "level_shares",
           "aliased_levels", "distinct", "distinct_inverse"]

#: Centre a level where information x SD^2 exceeds this: 1 is where the two geometries break even; 4 (the
#: data's SD at most half the prior's) leaves borderline levels non-centred, since the SD's posterior
#: reaches well below its PQL guess (cbpp: 15 herds of 4 periods, SD 0.75 +- 0.23; one divergence at 1).
THRESHOLD = 4.0
#: A block with independent columns whose levels all stay below this weight (at any variance the draws reach)
#: is sampled non-centred: so little centring leaves the geometry as it is, and the partly centred effects'
#: arithmetic per level costs a fifth of a many-small-groups gradient (the count panel of 6,000 levels, weights
#: up to 0.06: ``benchmarks/README.md``, the count panel)
MIN_WEIGHT = 0.1
#: ``c`` of ``effects.dynamic_weights`` (a level's weight rises at most to ``x (1 + c) / (1 + x (1 + c))``)
SMALL_VARIANCE = 0.1


def distinct(codes: np.ndarray) -> np.ndarray:
    """``np.unique(codes)`` of integers by a sort: numpy 2's ``unique`` hashes when no inverse is asked for, 0.9 s
    against 0.02 s for a million pair codes."""
    ordered = np.sort(codes)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if ordered.size else ordered


def level_shares(block, other, w: np.ndarray):
    """Every pair (level of ``block``, level of ``other``) that shares rows, as arrays ``(level, other level,
    share)``, the share being the fraction of the level's row weight ``w`` in that other level."""
    g = np.asarray(block.group_index, dtype=np.int64)
    codes, inverse = distinct_inverse(g * other.n_levels + np.asarray(other.group_index),
                                      block.n_levels * other.n_levels)
    level = codes // other.n_levels
    total = np.bincount(g, w, minlength=block.n_levels)
    return level, codes % other.n_levels, np.bincount(inverse, w) / np.maximum(total[level], 1e-300)


def distinct_inverse(codes: np.ndarray, cells: int):
    """``np.unique(codes, return_inverse=True)`` of integers in ``[0, cells)``: one sort of each code packed with
    its row's position (in the bits that leaves free), where numpy sorts positions by code 4-6x slower."""
    shift = max(int(codes.size - 1).bit_length(), 1)
    if int(cells).bit_length() + shift > 62:
        found, inverse = np.unique(codes, return_inverse=True)
        return found, inverse.ravel()
    packed = np.sort((codes.astype(np.int64) << shift) | np.arange(codes.size))
    ordered = packed >> shift
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    inverse = np.empty(codes.size, dtype=np.intp)
    inverse[packed & ((1 << shift) - 1)] = np.cumsum(first) - 1
    return ordered[first], inverse


def _other_blocks_variance(design, w: np.ndarray, tau2: list, k: int) -> np.ndarray:
    """Per level of block ``k``: the variance the other blocks' intercepts add to the level's mean response
    (``tau_k'^2 * sum over k' levels of the squared weight shares``): rows of a level spread over other
    random effects carry less information about the level's own effect. Blocks that ``k`` nests in are left
    out (their effect is shared by all the level's rows)."""
    block = design.blocks[k]
    out = np.zeros(block.n_levels)
    for k2, other in enumerate(design.blocks):
        if k2 == k or "Intercept" not in other.columns:
            continue
        level, _, share = level_shares(block, other, w)
        if not np.any(level[1:] == level[:-1]):  # (sorted) each level of k inside one level of k2: k nests in k2
            continue
        out += tau2[k2][other.columns.index("Intercept")] * np.bincount(level, share ** 2, minlength=block.n_levels)
    return out


def level_information(design, family: str, link: str):
    """Per random-effect block, each level's information about its effect per column (levels x columns), on
    the linear-predictor scale and net of the other blocks' spread (``_other_blocks_variance``), and the
    block's PQL variance per column; ``(None, None)`` for a family/link without the PQL guess."""
    fitted = pql_variances(design, family, link)
    if fitted is None:
        return None, None
    info, tau2, w = fitted
    out = []
    for k, i in enumerate(info):
        extra = _other_blocks_variance(design, w, tau2, k)[:, None]
        out.append(1.0 / (1.0 / np.maximum(i, 1e-300) + extra))
    return tuple(out), tuple(tau2)


def centred_levels(design, family: str, link: str) -> tuple[np.ndarray, ...]:
    """Per random-effect block, a weight per level in [0, 1]: how far to sample its effects centred
    (:class:`.effects.BlockEffects`). With ``x`` the level's information times the block's variance (the
    smallest over its columns), a block with independent columns takes ``x / (1 + x)``, the weight that
    makes a gaussian level's centred draw and the SD independent a posteriori (Papaspiliopoulos, Roberts and
    Skold 2003); a correlated block 1 where ``x > THRESHOLD`` and 0 elsewhere. Against centring where
    ``x > THRESHOLD`` (and not at all elsewhere) in every block, the partial weights give cbpp about three
    times the min bulk ESS and salamanders and verbagg more (``benchmarks/README.md``, alternatives measured on
    the suite). These are the weights at the PQL guess of the SDs; the sampler recomputes them at each draw's
    SDs from :func:`level_information`."""
    return level_weights(design.blocks, *level_information(design, family, link))


def level_weights(blocks, information, tau2) -> tuple[np.ndarray, ...]:
    """:func:`centred_levels` from :func:`level_information`'s output (zeros where that is ``None``)."""
    if information is None:
        return tuple(np.zeros(b.n_levels) for b in blocks)
    out = []
    for k, (i, t) in enumerate(zip(information, tau2)):
        x = np.min(t[None, :] * i, axis=1)
        block = blocks[k]
        if block.correlated and block.n_columns > 1:
            out.append((x > THRESHOLD).astype(float))
            continue
        out.append(x / (1.0 + x) if can_centre(i, t) else np.zeros_like(x))
    return tuple(out)


def can_centre(information, tau2) -> bool:
    """Whether some level of a block with independent columns can reach ``MIN_WEIGHT`` as the draws' variances
    move (``effects.dynamic_weights``: x up to (1 + SMALL_VARIANCE) times the guess, per column); a block that
    cannot is sampled non-centred. ``information``: levels x columns (:func:`level_information`), ``tau2``: the
    block's guessed variance per column."""
    reach = np.max(np.asarray(tau2)[None, :] * np.asarray(information)) * (1.0 + SMALL_VARIANCE)
    return bool(reach / (1.0 + reach) >= MIN_WEIGHT)


#: A block is a parent of another when at least this share of the other's rows (weighted) lie in the parent
#: level most common within their own level: the other block's levels (mostly) nest in the parent's.
NESTED_SHARE = 0.5


def parent_links(blocks, masks, weights=None, skip: int = -1) -> list[list[tuple]]:
    """Per block with centred levels, its parents: ``(parent block, ((column, parent column), ...), (level,
    parent level, share) arrays)``, the share being the weighted fraction of the level's rows in that parent
    level. A parent has fewer levels and the block's levels lie mostly within single parent levels
    (``NESTED_SHARE``): lecturers within departments (InstEval's ``(1 | d) + (1 | dept:service)``), broods
    within locations. Centred levels then centre on their parents' effects as well (:func:`.effects.centring_loc`),
    so that a parent's effect and the mean of its children's do not trade off along a ridge: with
    ``(1 | dept:service)`` beside ``(1 | d)``, InstEval's draws took 31-63 leapfrog steps, without it 15.
    Columns pair up by name (the intercepts, a slope with the same slope). ``skip``: a block integrated out."""
    out = []
    for k, block in enumerate(blocks):
        found = []
        if k != skip and masks[k].any():
            w = np.ones(len(block.group_index)) if weights is None else np.asarray(weights, dtype=float)
            total = np.bincount(block.group_index, w, minlength=block.n_levels)
            for a, parent in enumerate(blocks):
                columns = tuple((block.columns.index(c), parent.columns.index(c)) for c in block.columns
                                if c in parent.columns)
                if a in (k, skip) or parent.n_levels >= block.n_levels or not columns:
                    continue
                level, parent_level, share = level_shares(block, parent, w)
                top = np.zeros(block.n_levels)
                np.maximum.at(top, level, share)
                if top @ total < NESTED_SHARE * w.sum():
                    continue
                found.append((a, columns, (level, parent_level, share)))
        out.append(found)
    return out


def aliased_levels(blocks, usable) -> list[tuple]:
    """Pairs of levels of two intercept-only blocks that hold exactly the same rows: ``(block a, block b,
    levels of a, levels of b)`` per pair of blocks with any. The two effects of such a pair enter the
    likelihood only through their sum (grouseticks: 35 of 63 locations hold a single brood), so the data pin
    the sum down and leave the split to the priors: a ridge per pair, along which the SDs trade off, that
    no mass matrix follows (``benchmarks/grouseticks_geometry.py``). They are sampled as sum and split instead
    (:func:`.effects.split_aliased`). ``usable``: per block, whether it takes part (sampled, intercept only).
    Each level takes part in one pair at most."""
    taken = [np.zeros(b.n_levels, dtype=bool) for b in blocks]
    out = []
    for a, first in enumerate(blocks):
        for b in range(a + 1, len(blocks)):
            if not (usable[a] and usable[b]):
                continue
            second = blocks[b]
            ga, gb = np.asarray(first.group_index), np.asarray(second.group_index)
            pairs = distinct(ga.astype(np.int64) * second.n_levels + gb)
            la, lb = pairs // second.n_levels, pairs % second.n_levels
            # a level of each that meets exactly one level of the other: the two hold the same rows
            alone = ((np.bincount(la, minlength=first.n_levels)[la] == 1)
                     & (np.bincount(lb, minlength=second.n_levels)[lb] == 1))
            alone &= ~taken[a][la] & ~taken[b][lb]
            if alone.any():
                taken[a][la[alone]] = True
                taken[b][lb[alone]] = True
                out.append((a, b, la[alone], lb[alone]))
    return out
