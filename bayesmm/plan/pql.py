"""A quick penalized quasi-likelihood fit of a GLMM (Breslow and Clayton 1993), numpy only: IRLS on the GLM's
working response and weights, giving each random-effect level's information and each column's variance, the
guess from which :mod:`.centring` chooses how far to centre each level.

Models with at most ``JOINT_COEFFICIENTS`` random-effect coefficients solve the working model for all coefficients
at once and update each variance from the joint posterior variances (MacKay's fixed point); larger ones sweep over
the fixed effects and each random-effect column in turn, conditionally on the others, on a sample of the rows when
there are many (``SAMPLE_ROWS``). It is crude (PQL shrinks variances of binary models), but it only has to tell
data-rich levels from data-poor ones. Families without a working weight here (beta, zero-inflated and hurdle
counts, other links) get none.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

__all__ = ["pql_variances", "SAMPLE_ROWS", "SAMPLE_LEVELS", "FULL_SWEEPS", "JOINT_COEFFICIENTS", "JOINT_CELLS",
           "JOINT_TOLERANCE"]

#: Zero-inflated and hurdle counts are left non-centred: how much a zero says about the count mean depends on
#: the inflation, and the guesses tried here (every zero counted; zeros weighted by their chance of coming
#: from the count part) made salamanders' ZINB worse (3 divergences; Rhat 1.014).
_COUNT = {"poisson", "negbinomial", "nbinom1"}
_BINOMIAL = {"bernoulli", "binomial", "beta_binomial"}
_ITERATIONS = 40


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
    a family/link it does not cover. Above ``SAMPLE_ROWS`` rows the sweeps run on a random sample of about that
    many rows (:func:`_sample`) and the last ``FULL_SWEEPS`` on every row (:func:`_sweeps`)."""
    glm = _glm(family, link)
    if glm is None or not design.blocks:
        return None
    y = np.asarray(design.y, dtype=float)
    if family == "lognormal":
        y = np.log(y)
    n = np.ones_like(y) if design.trials is None else np.asarray(design.trials, dtype=float)
    prior_w = np.ones_like(y) if design.weights is None else np.asarray(design.weights, dtype=float)
    offset = np.zeros_like(y) if design.offset is None else np.asarray(design.offset, dtype=float)
    X = np.asarray(design.X, dtype=float)
    blocks = design.blocks
    # an intercept column (all ones) is left out of the products: multiplying by 1.0 changes no bit
    columns = [[None if np.all(Z[:, c] == 1.0) else Z[:, c] for c in range(Z.shape[1])]
               for Z in (np.asarray(b.Z, dtype=float) for b in blocks)]
    index = [np.asarray(b.group_index) for b in blocks]
    state = _PQLState(
        effects=[np.zeros((b.n_levels, b.n_columns)) for b in blocks],
        tau2=[np.full(b.n_columns, 1.0 if glm[1] is not None else float(np.var(y)) / 4 + 1e-12) for b in blocks],
        info=[np.zeros((b.n_levels, b.n_columns)) for b in blocks], beta=None, sigma2=float(np.var(y)) / 2 + 1e-12)
    rows = _Rows(y, n, prior_w, offset, X, columns, index)
    joint = _joint_design(X, [np.asarray(b.Z, dtype=float) for b in blocks], index, blocks)
    if joint is not None:
        w = _joint_fit(rows, blocks, glm, family, joint, state)
    elif len(y) > SAMPLE_ROWS:
        sample = _sample(index, blocks, len(y))
        _sweeps(rows.take(sample), blocks, glm, family, state, _ITERATIONS - FULL_SWEEPS)
        w = _sweeps(rows, blocks, glm, family, state, FULL_SWEEPS)
    else:
        w = _sweeps(rows, blocks, glm, family, state, _ITERATIONS)
    return state.info, state.tau2, w


#: Above this many rows, the block-by-block sweeps find the variances on a random sample of about this many rows
#: (:func:`_sample`; a level's information comes from every row: the last ``FULL_SWEEPS`` sweeps run on all of
#: them), so that their cost stays bounded: 40 sweeps over all of the crossed poisson benchmark's 1M rows took
#: 3.5 s of CPU, on the sample 0.3 s, and gave the variances' guesses 0.262 and 0.090 against 0.259 and 0.091
#: (truth 0.25 and 0.09; the centring weights' means within 0.01).
SAMPLE_ROWS = 100_000
FULL_SWEEPS = 2
#: ... made of whole levels of the block with the most levels when that keeps at least this many of them
SAMPLE_LEVELS = 1000


def _sample(index: list, blocks, n_rows: int) -> np.ndarray:
    """The rows of the sweeps' sample (about ``SAMPLE_ROWS``, sorted): every row of a random share of the levels
    of the block with the most levels, or where that would keep fewer than ``SAMPLE_LEVELS`` of them (levels of
    hundreds of rows each), a random share of the rows. PQL's variance of a block of data-poor levels depends on
    their rows per level: the 10x count panel (60,000 levels of 1-5 rows) gave 0.224 on half of its rows against
    0.113 on all of them, and the block's centring with it, where a sample of its levels keeps each level's rows."""
    rng = np.random.default_rng(0)
    share = SAMPLE_ROWS / n_rows
    k = max(range(len(blocks)), key=lambda b: blocks[b].n_levels)
    if share * blocks[k].n_levels >= SAMPLE_LEVELS:
        return np.flatnonzero(rng.random(blocks[k].n_levels)[index[k]] < share)
    return np.sort(rng.integers(0, n_rows, SAMPLE_ROWS))


class _Rows(NamedTuple):
    """The working model's rows: response, trials, prior weights, offset, fixed-effect columns, and per block its
    Z columns (None: all ones) and level index."""

    y: np.ndarray
    n: np.ndarray
    prior_w: np.ndarray
    offset: np.ndarray
    X: np.ndarray
    columns: list
    index: list

    def take(self, rows: np.ndarray) -> "_Rows":
        return _Rows(self.y[rows], self.n[rows], self.prior_w[rows], self.offset[rows], self.X[rows],
                     [[None if Z is None else Z[rows] for Z in block] for block in self.columns],
                     [g[rows] for g in self.index])


@dataclasses.dataclass
class _PQLState:
    """What the PQL iterations carry from one set of rows to the next: per block the levels' effects, the columns'
    variances and the levels' information; the fixed effects; the gaussian residual variance."""

    effects: list
    tau2: list
    info: list
    beta: np.ndarray | None
    sigma2: float


def _start_eta(rows: _Rows, glm, family: str, state: _PQLState) -> np.ndarray:
    """The linear predictor to start from: the fit so far, or before any, from the response."""
    if state.beta is not None:
        return rows.X @ state.beta + _random_part(rows, state.effects) + rows.offset
    if glm[1] is None:  # gaussian-like: eta = y's mean, weight 1 / sigma^2
        return np.full_like(rows.y, np.average(rows.y, weights=rows.prior_w))
    if family in _BINOMIAL:
        p = (rows.y + 0.5) / (rows.n + 1.0)
        return np.log(p / (1.0 - p))
    return np.log(rows.y + 0.5)


def _random_part(rows: _Rows, effects: list) -> np.ndarray:
    rand = np.zeros_like(rows.y)
    for k, (block, g) in enumerate(zip(rows.columns, rows.index)):
        for c, Z in enumerate(block):
            if effects[k][:, c].any():
                rand = rand + _times(Z, effects[k][g, c])
    return rand


def _times(Z, values: np.ndarray) -> np.ndarray:
    return values if Z is None else Z * values


def _working(rows: _Rows, glm, family: str, eta: np.ndarray, sigma2: float):
    """The working weights and response at ``eta`` (IRLS)."""
    mean_of, weight_of = glm
    y, n = rows.y, rows.n
    if weight_of is None:
        return rows.prior_w / sigma2, y - rows.offset
    mu = mean_of(eta, n)
    w_glm = np.maximum(weight_of(mu, n), 1e-10)
    if family == "gamma":  # log link: the weight is the shape, 1 / CV^2 of the Pearson residuals
        w_glm = np.full_like(mu, 1.0 / max(float(np.mean(((y - mu) / mu) ** 2)), 1e-6))
    elif family in _COUNT and family != "poisson":  # var = mu + k mu^2, k from the Pearson residuals
        k_nb = max(float(np.sum((y - mu) ** 2 - mu) / np.sum(mu ** 2)), 0.0)
        w_glm = w_glm / (1.0 + k_nb * mu)
    dmu = mu * (1.0 - mu / n) if family in _BINOMIAL else mu
    return rows.prior_w * w_glm, eta - rows.offset + (y - mu) / np.maximum(dmu, 1e-10)


def _residual_variance(rows: _Rows, eta: np.ndarray) -> float:
    return max(float(np.sum(rows.prior_w * (rows.y - eta) ** 2) / np.sum(rows.prior_w)), 1e-12)


def _joint_fit(rows: _Rows, blocks, glm, family: str, joint, state: _PQLState) -> np.ndarray:
    """Up to ``_ITERATIONS`` joint solves (:func:`_joint_step`) until the variances settle; the last weights."""
    eta = _start_eta(rows, glm, family, state)
    columns = [np.asarray(b.Z, dtype=float) for b in blocks]
    for _ in range(_ITERATIONS):
        eta = np.clip(eta, -30, 30)
        w, work = _working(rows, glm, family, eta, state.sigma2)
        before = np.concatenate(state.tau2)
        eta = _joint_step(joint, rows.X.shape[1], columns, rows.index, blocks, w, work, state.effects, state.info,
                          state.tau2) + rows.offset
        if glm[1] is None:
            state.sigma2 = _residual_variance(rows, eta)
        if np.max(np.abs(np.concatenate(state.tau2) / before - 1.0)) < JOINT_TOLERANCE:
            break
    return w


def _sweeps(rows: _Rows, blocks, glm, family: str, state: _PQLState, iterations: int) -> np.ndarray:
    """``iterations`` IRLS steps, each a weighted least-squares fit of the fixed effects and then one sweep over
    the random-effect columns (each conditionally on the rest, MacKay's update of its variance); the last
    working weights. ``state`` carries the fit from one set of rows to the next."""
    eta = _start_eta(rows, glm, family, state)
    rand = _random_part(rows, state.effects)  # the random part of eta, kept up to date as each column changes
    X, order = rows.X, sorted(range(len(blocks)), key=lambda k: blocks[k].n_levels)
    for _ in range(iterations):
        eta = np.clip(eta, -30, 30)
        w, work = _working(rows, glm, family, eta, state.sigma2)
        if X.shape[1]:  # normal equations: X has few columns, and the sweep only needs a guess
            weighted = X.T * w
            state.beta = np.linalg.lstsq(weighted @ X, weighted @ (work - rand), rcond=None)[0]
            fixed = X @ state.beta
        else:
            state.beta, fixed = np.zeros(0), 0.0
        residual = work - fixed
        for k in order:  # coarse factors first: nested ones then explain only what is left
            g, levels, effects = rows.index[k], blocks[k].n_levels, state.effects[k]
            for c, Z in enumerate(rows.columns[k]):
                rand = rand - _times(Z, effects[g, c])
                partial = residual - rand
                weight_z = _times(Z, w)
                state.info[k][:, c] = np.bincount(g, w if Z is None else w * Z ** 2, minlength=levels)
                v = 1.0 / (state.info[k][:, c] + 1.0 / state.tau2[k][c])
                m = v * np.bincount(g, weight_z * partial, minlength=levels)
                effects[:, c] = m
                state.tau2[k][c] = _mackay(m, v, state.tau2[k][c])
                rand = rand + _times(Z, m[g])
        eta = fixed + rand + rows.offset
        if glm[1] is None:
            state.sigma2 = _residual_variance(rows, eta)
    return w


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
