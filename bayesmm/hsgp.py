"""The Hilbert-space approximation of a Gaussian process (Solin and Särkkä 2020; Riutort-Mayol et al. 2023,
"Practical Hilbert space approximate Bayesian Gaussian processes for probabilistic programming"; brms's
``gp(k=, c=)``, Bambi's ``hsgp()``), for spatial blocks with thousands of positions.

On the box ``[-L, L]`` per coordinate (``L = c`` times the coordinate's half-range, around its mid-range), the
Laplacian's eigenfunctions ``phi_j(x) = L^-1/2 sin(pi j (x + L) / (2 L))``, ``j = 1 .. m``, with eigenvalues
``lambda_j = (pi j / (2 L))^2`` give, over the products of one function per coordinate (``M = m_1 m_2``),

    k(x, x') ~ sum_j S(sqrt(lambda_j)) phi_j(x) phi_j(x'),

``S`` the kernel's spectral density. The effects at the positions are ``Phi (sd sqrt(S) * z)``, ``z`` standard
normal: a block whose ``Z`` holds the basis functions at each row and whose covariance factor is diagonal, so
that the cost is O(rows x M) instead of the exact kernel's O(positions^3).

Kernels: the squared exponential (``gau``) and Matern 3/2 (``mat``) converge fast; the exponential (``exp``,
Matern 1/2), whose spectral density falls only as ``w^-2``, converges slowly (see docs/formulas.md for the
measured errors) and is approximated only on request. Defaults, from the paper's rules and the length scale's
default prior: the box ``c = max(1.5, b lscale / S)`` at the prior's median (``b = 3.2`` squared exponential,
``4.5`` Matern; ``S`` the largest half-range), and ``m = a c S / lscale`` per coordinate at the prior's 1% quantile
(``a = 1.75`` squared exponential, ``3.42`` Matern 3/2, twice that for the exponential), at most
:data:`MAX_FUNCTIONS` functions in all.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["HilbertBasis", "APPROXIMATED", "AUTOMATIC_ABOVE", "DEFAULT_C", "LSCALE_FLOOR", "spectral_density",
           "rule_m", "rule_c", "make_basis"]

#: kernels with a spectral density here, and the smoothness of each (Matern nu; None for the squared exponential)
APPROXIMATED = {"gau": None, "mat": 1.5, "exp": 0.5}
#: above this many distinct positions, gau and mat blocks are approximated unless hsgp = FALSE
AUTOMATIC_ABOVE = 2000
#: the default boundary factor c
DEFAULT_C = 1.5
#: an approximated block's length-scale prior keeps 1% of its mass below this fraction of the largest distance
#: (finer fields need more basis functions than the default gives: give k= and a prior on lscale)
LSCALE_FLOOR = 0.1
#: the most basis functions the default m gives (m per coordinate capped at its D-th root)
MAX_FUNCTIONS = 1024
#: the paper's factor a in m = a c S / lscale
_RULE = {"gau": 1.75, "mat": 3.42, "exp": 6.84}
#: the paper's factor b in c >= b lscale / S
_C_RULE = {"gau": 3.2, "mat": 4.5, "exp": 4.5}


@dataclass(frozen=True, eq=False)
class HilbertBasis:
    """The approximation's box and basis: ``centre`` and ``half_width`` (``L``) per coordinate, ``m`` functions per
    coordinate, the boundary factor ``c`` and the length scale ``lscale_low`` the default ``m`` was chosen for."""

    centre: np.ndarray
    half_width: np.ndarray
    m: tuple
    c: float
    lscale_low: float

    @property
    def indices(self) -> np.ndarray:
        """(M, coordinates): each basis function's index ``j`` per coordinate (1-based)."""
        grids = np.meshgrid(*[np.arange(1, k + 1) for k in self.m], indexing="ij")
        return np.stack([g.reshape(-1) for g in grids], axis=1)

    @property
    def n_functions(self) -> int:
        return int(np.prod(self.m))

    def frequencies(self) -> np.ndarray:
        """(M, coordinates): ``sqrt(lambda_j)`` per coordinate, ``pi j / (2 L)``."""
        return np.pi * self.indices / (2.0 * self.half_width[None, :])

    def outside(self, coordinates: np.ndarray) -> np.ndarray:
        """Which rows of ``coordinates`` lie outside the box (where every basis function is 0)."""
        return np.any(np.abs(np.asarray(coordinates, float) - self.centre) >= self.half_width, axis=1)

    def basis(self, coordinates: np.ndarray) -> np.ndarray:
        """(rows, M): the basis functions at ``coordinates`` (rows x coordinates)."""
        shifted = np.asarray(coordinates, float) - self.centre + self.half_width  # x + L, in [0, 2L]
        out = np.ones((shifted.shape[0], self.n_functions))
        for d, j in enumerate(self.indices.T):
            width = self.half_width[d]
            out *= np.sin(np.pi * j[None, :] * shifted[:, [d]] / (2.0 * width)) / np.sqrt(width)
        return out


def spectral_density(kind: str, lscale, frequencies, xp=np):
    """The spectral density of the unit-variance isotropic kernel ``kind`` at ``frequencies`` (M x coordinates):
    ``(2 pi)^(D/2) l^D exp(-l^2 w^2 / 2)`` (squared exponential), and for Matern ``nu``
    ``2^D pi^(D/2) Gamma(nu + D/2) (2 nu)^nu / (Gamma(nu) l^(2 nu)) (2 nu / l^2 + w^2)^-(nu + D/2)``."""
    dims = frequencies.shape[-1]
    w2 = xp.sum(frequencies * frequencies, axis=-1)
    nu = APPROXIMATED[kind]
    if nu is None:
        return (2.0 * np.pi) ** (dims / 2.0) * lscale**dims * xp.exp(-0.5 * lscale**2 * w2)
    log_constant = (dims * math.log(2.0) + dims / 2.0 * math.log(math.pi) + math.lgamma(nu + dims / 2.0)
                    + nu * math.log(2.0 * nu) - math.lgamma(nu))
    return math.exp(log_constant) / lscale ** (2 * nu) * (2.0 * nu / lscale**2 + w2) ** (-(nu + dims / 2.0))


def rule_m(kind: str, c: float, half_range: np.ndarray, lscale: float) -> tuple:
    """Basis functions per coordinate for length scales down to ``lscale`` (Riutort-Mayol et al. 2023's rule)."""
    return tuple(int(max(3, math.ceil(_RULE[kind] * c * s / lscale))) for s in np.atleast_1d(half_range))


def rule_c(kind: str, half_range: np.ndarray, lscale: float) -> float:
    """The boundary factor the paper's rule asks for length scales up to ``lscale``: ``c >= b lscale / S`` with
    ``b = 3.2`` (squared exponential) or ``4.5`` (Matern), and at least :data:`DEFAULT_C`."""
    return float(max(DEFAULT_C, _C_RULE[kind] * lscale / float(np.max(half_range))))


def make_basis(kind: str, positions: np.ndarray, lscale_low: float, lscale_typical: float | None = None,
               c: float | None = None, k: int | None = None) -> HilbertBasis:
    """The basis over ``positions`` (positions x coordinates): box ``c`` times the half-range per coordinate (default:
    :func:`rule_c` at ``lscale_typical``, or :data:`DEFAULT_C`); ``k`` functions per coordinate, or the rule's number
    for ``lscale_low`` (:func:`rule_m`)."""
    low, high = positions.min(axis=0), positions.max(axis=0)
    half_range = np.maximum((high - low) / 2.0, 1e-12)
    if c is None:
        c = DEFAULT_C if lscale_typical is None else rule_c(kind, half_range, lscale_typical)
    c = float(c)
    if k is None:
        cap = int(np.floor(MAX_FUNCTIONS ** (1.0 / positions.shape[1]) + 1e-9))
        m = tuple(min(j, cap) for j in rule_m(kind, c, half_range, lscale_low))
    else:
        m = (int(k),) * positions.shape[1]
    return HilbertBasis((low + high) / 2.0, c * half_range, m, c, float(lscale_low))
