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

Both parts of the criterion come from a quick penalized quasi-likelihood fit before sampling (Breslow and
Clayton 1993): IRLS on the GLM's working response and weights. Models with at most ``JOINT_COEFFICIENTS``
random-effect coefficients solve the working model for all coefficients at once and update each variance
from the joint posterior variances (MacKay's fixed point); larger ones sweep over the fixed effects and each
random-effect column in turn, conditionally on the others. It is crude (PQL shrinks variances of binary
models), but it only has to tell data-rich levels from data-poor ones. Families without a working weight
here (beta, zero-inflated and hurdle counts, other links) stay non-centred, as brms and Bambi always are.

Levels of two blocks that hold exactly the same rows (:func:`aliased_levels`) are sampled as their sum (partly
centred) and a split instead.
"""
from __future__ import annotations

import numpy as np

__all__ = ["centred_levels", "level_information", "level_weights", "pql_variances", "parent_links", "level_shares",
           "aliased_levels"]

#: Zero-inflated and hurdle counts are left non-centred: how much a zero says about the count mean depends on
#: the inflation, and the guesses tried here (every zero counted; zeros weighted by their chance of coming
#: from the count part) made salamanders' ZINB worse (3 divergences; Rhat 1.014).
_COUNT = {"poisson", "negbinomial", "nbinom1"}
_BINOMIAL = {"bernoulli", "binomial", "beta_binomial"}
_ITERATIONS = 40
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


def _glm(family: str, link: str):
    """(mean(eta, n), working weight(mu, n)) for the family and link (weight None: gaussian-like, 1 / sigma^2),
    or None when not covered."""
    if family in ("gaussian", "student_t") and link == "identity":
        return lambda eta, n: eta, None
    if family == "lognormal":
        return lambda eta, n: eta, None  # on log(y), below
    if (family in _COUNT or family == "gamma") and link == "log":
        return lambda eta, n: np.exp(eta), lambda mu, n: mu
    if family in _BINOMIAL and link == "logit":
        return lambda eta, n: n / (1.0 + np.exp(-eta)), lambda mu, n: mu * (1.0 - mu / n)
    return None


def pql_variances(design, family: str, link: str):
    """From a penalized quasi-likelihood fit: (per block, the diagonal of each level's information, levels x
    columns; per block, the variance of each column; the final working weight of each row), or ``None`` for
    a family/link it does not cover."""
    glm = _glm(family, link)
    if glm is None or not design.blocks:
        return None
    mean_of, weight_of = glm
    y = np.asarray(design.y, dtype=float)
    if family == "lognormal":
        y = np.log(y)
    n = np.ones_like(y) if design.trials is None else np.asarray(design.trials, dtype=float)
    prior_w = np.ones_like(y) if design.weights is None else np.asarray(design.weights, dtype=float)
    offset = np.zeros_like(y) if design.offset is None else np.asarray(design.offset, dtype=float)
    X = np.asarray(design.X, dtype=float)
    if weight_of is None:  # gaussian-like: eta = y's mean, weight 1 / sigma^2
        eta = np.full_like(y, np.average(y, weights=prior_w))
    elif family in _BINOMIAL:
        p = (y + 0.5) / (n + 1.0)
        eta = np.log(p / (1.0 - p))
    else:
        eta = np.log(y + 0.5)
    blocks = design.blocks
    effects = [np.zeros((b.n_levels, b.n_columns)) for b in blocks]
    tau2 = [np.full(b.n_columns, 1.0 if weight_of is not None else float(np.var(y)) / 4 + 1e-12) for b in blocks]
    columns = [np.asarray(b.Z, dtype=float) for b in blocks]
    index = [np.asarray(b.group_index) for b in blocks]
    sigma2 = float(np.var(y)) / 2 + 1e-12
    info = [np.zeros((b.n_levels, b.n_columns)) for b in blocks]
    order = sorted(range(len(blocks)), key=lambda k: blocks[k].n_levels)
    rand = np.zeros_like(y)  # the random part of eta, kept up to date as each column's effects change
    joint = _joint_design(X, columns, index, blocks)

    for _ in range(_ITERATIONS):
        eta = np.clip(eta, -30, 30)
        mu = mean_of(eta, n)
        if weight_of is None:
            w, work = prior_w / sigma2, y - offset
        else:
            w_glm = np.maximum(weight_of(mu, n), 1e-10)
            if family == "gamma":  # log link: the weight is the shape, 1 / CV^2 of the Pearson residuals
                w_glm = np.full_like(mu, 1.0 / max(float(np.mean(((y - mu) / mu) ** 2)), 1e-6))
            elif family in _COUNT and family != "poisson":  # var = mu + k mu^2, k from the Pearson residuals
                k_nb = max(float(np.sum((y - mu) ** 2 - mu) / np.sum(mu ** 2)), 0.0)
                w_glm = w_glm / (1.0 + k_nb * mu)
            w = prior_w * w_glm
            dmu = mu * (1.0 - mu / n) if family in _BINOMIAL else mu
            work = eta - offset + (y - mu) / np.maximum(dmu, 1e-10)
        if joint is not None:
            before = np.concatenate(tau2)
            eta = _joint_step(joint, X.shape[1], columns, index, blocks, w, work, effects, info, tau2) + offset
            if weight_of is None:
                sigma2 = max(float(np.sum(prior_w * (y - eta) ** 2) / np.sum(prior_w)), 1e-12)
            if np.max(np.abs(np.concatenate(tau2) / before - 1.0)) < JOINT_TOLERANCE:
                break
            continue
        if X.shape[1]:
            beta = np.linalg.lstsq(X * np.sqrt(w)[:, None], (work - rand) * np.sqrt(w), rcond=None)[0]
            fixed = X @ beta
        else:
            fixed = 0.0
        for k in order:  # coarse factors first: nested ones then explain only what is left
            Z, g = columns[k], index[k]
            for c in range(Z.shape[1]):
                rand = rand - Z[:, c] * effects[k][g, c]
                partial = work - fixed - rand
                info[k][:, c] = np.bincount(g, w * Z[:, c] ** 2, minlength=blocks[k].n_levels)
                v = 1.0 / (info[k][:, c] + 1.0 / tau2[k][c])
                m = v * np.bincount(g, w * Z[:, c] * partial, minlength=blocks[k].n_levels)
                effects[k][:, c] = m
                tau2[k][c] = _mackay(m, v, tau2[k][c])
                rand = rand + Z[:, c] * m[g]
        eta = fixed + rand + offset
        if weight_of is None:
            sigma2 = max(float(np.sum(prior_w * (y - eta) ** 2) / np.sum(prior_w)), 1e-12)
    return info, tau2, w


def _mackay(m, v, tau2: float) -> float:
    """MacKay's fixed-point update of a column's variance from its effects' posterior means ``m`` and variances
    ``v`` (the effective number of levels), much faster than EM's ``mean(m^2 + v)`` when a variance is small or
    the factors are nested."""
    used = max(float(np.sum(1.0 - v / tau2)), 1e-3)
    return max(float(np.sum(m ** 2)) / used, 1e-8)


#: The working model is solved jointly over the fixed effects and every random-effect coefficient (dense) when there
#: are at most this many coefficients and rows x coefficients stays within ``JOINT_CELLS``; else block by block.
JOINT_COEFFICIENTS = 1000
JOINT_CELLS = 10_000_000
#: ... and stops once no variance changes by more than this share in an iteration (grouseticks: 7 iterations)
JOINT_TOLERANCE = 1e-2


def _joint_design(X, columns, index, blocks):
    """``[X, Z]`` as a sparse matrix (rows x (fixed + random coefficients)), or None when too large (see
    ``JOINT_COEFFICIENTS``)."""
    from scipy import sparse

    q = sum(b.n_levels * b.n_columns for b in blocks)
    width = X.shape[1] + q
    if q > JOINT_COEFFICIENTS or X.shape[0] * width > JOINT_CELLS:
        return None
    parts = [sparse.csr_matrix(X)]
    rows = np.arange(X.shape[0])
    for Z, g, block in zip(columns, index, blocks):
        for c in range(Z.shape[1]):
            parts.append(sparse.csr_matrix((Z[:, c], (rows, g)), shape=(X.shape[0], block.n_levels)))
    return sparse.hstack(parts, format="csr")


def _joint_step(A, p, columns, index, blocks, w, work, effects, info, tau2):
    """One penalised least-squares solve of the working model for all coefficients at once, then MacKay's
    update of each column's variance from the *joint* posterior variances of its effects. Block by block,
    each block's variances are conditional on the others' effects: with BROOD nested in LOCATION
    (grouseticks), where 35 locations hold one brood, that gave BROOD an SD of 0 and LOCATION 0.79
    (lme4: 0.75 and 0.53), and the centring chosen from them diverged. Returns the linear predictor
    (without the offset)."""
    from scipy.linalg import solve_triangular

    penalty = np.concatenate([np.full(p, 1e-8)] + [np.full(b.n_levels, 1.0 / t) for b, tc in zip(blocks, tau2)
                                                    for t in tc])
    Aw = A.multiply(w[:, None]).tocsr()
    gram = (A.T @ Aw).tocoo()
    precision = np.diag(penalty)
    np.add.at(precision, (gram.row, gram.col), gram.data)  # scipy's toarray took 30 ms for 588 x 588
    try:
        chol = np.linalg.cholesky(precision)
    except np.linalg.LinAlgError:
        chol = np.linalg.cholesky(precision + np.eye(precision.shape[0]) * 1e-6 * np.max(np.diag(precision)))
    inv_chol = solve_triangular(chol, np.eye(chol.shape[0]), lower=True)  # covariance = inv_chol' inv_chol
    coef = inv_chol.T @ (inv_chol @ (Aw.T @ work))
    variance = np.sum(inv_chol ** 2, axis=0)
    start = p
    for k, (Z, g, block) in enumerate(zip(columns, index, blocks)):
        for c in range(Z.shape[1]):
            sl = slice(start, start + block.n_levels)
            m, v = coef[sl], variance[sl]
            effects[k][:, c] = m
            info[k][:, c] = np.bincount(g, w * Z[:, c] ** 2, minlength=block.n_levels)
            tau2[k][c] = _mackay(m, v, tau2[k][c])
            start += block.n_levels
    return A @ coef


def level_shares(block, other, w: np.ndarray):
    """Every pair (level of ``block``, level of ``other``) that shares rows, as arrays ``(level, other level,
    share)``, the share being the fraction of the level's row weight ``w`` in that other level."""
    g = np.asarray(block.group_index, dtype=np.int64)
    codes, inverse = np.unique(g * other.n_levels + np.asarray(other.group_index), return_inverse=True)
    level = codes // other.n_levels
    total = np.bincount(g, w, minlength=block.n_levels)
    return level, codes % other.n_levels, np.bincount(inverse, w) / np.maximum(total[level], 1e-300)


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
        if level.size == np.unique(level).size:  # each level of k inside one level of k2: k is nested in k2
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
            pairs = np.unique(ga.astype(np.int64) * second.n_levels + gb)
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
