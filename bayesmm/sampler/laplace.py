"""``method="laplace"``: the posterior mode with a Gaussian around it, the random effects integrated out by the
Laplace approximation (Tierney and Kadane 1986; Kristensen et al. 2016's TMB, which glmmTMB fits with).

Coordinates are the sampler's unconstrained ones (log SDs, the correlations' Cholesky coordinates, log family
parameters), and the density is the sampler's potential, priors and Jacobians included: the mode is a MAP of
the marginal posterior in those coordinates, away from the boundary where an SD's ML estimate may sit.

* The hyperparameters ``theta`` (intercept, fixed effects, SDs, correlations, family parameters) are the outer
  problem; the sampled random effects ``u`` (sites ``z_k``) the inner one, solved by Newton's method at each
  ``theta`` (:mod:`.laplace_effects`). Random effects that the plan integrates out exactly (gaussian models:
  :mod:`bayesmm.model.marginal`; quadrature) are already out of the potential.
* ``L(theta) = U(theta, u*) + log det H(theta, u*) / 2 - n_u log(2 pi) / 2`` is minimised by scipy's L-BFGS-B,
  its gradient from JAX: ``u*`` is computed without derivatives and then moved by one Newton step whose
  derivative is the implicit function theorem's ``du*/dtheta = -H^-1 d2U/du dtheta`` (exact at the mode).
* The covariance of ``theta`` is the inverse Hessian of ``L`` at the mode (central differences of the gradient);
  the random effects given ``theta`` are Gaussian around ``u*(theta)`` (linearised at the mode) with precision
  ``H``. Draws of both go through the model's replay, so every answer reads them as it reads NUTS draws.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy import optimize

from ..errors import SamplerError
from ..model import ModelData, ModelStructure
from ..model.backend import use_float64
from .laplace_effects import draw_effects, effect_layout, factorize, hessian_parts, log_det, newton, solve
from .nuts import STAT_FIELDS, compiled, shapes_key
from .potential import constrain, initial_values
from .run import Samples, sampler_keys
from .stored import enable_compilation_cache

__all__ = ["LaplaceResult", "laplace_posterior"]


class LaplaceResult(NamedTuple):
    """The draws and what the approximation found: ``mode`` (by site, on the sites' own scales: SDs, Cholesky
    factors, family parameters; the random effects standardised) and ``unconstrained`` (the same point in the
    coordinates the approximation is Gaussian in), ``log_marginal`` (the
    Laplace approximation to the log marginal posterior density at the mode, up to the priors' constants),
    ``iterations`` (of L-BFGS-B), ``seconds`` (optimisation, Hessian, draws)."""

    samples: Samples
    mode: dict
    unconstrained: dict
    log_marginal: float
    iterations: int
    seconds: dict


def _is_effect(name: str) -> bool:
    return name.startswith("z_")


def _level_indices(names: list[str], data: ModelData) -> list | None:
    """Each site ``z_k``'s level per row (block ``k``'s group index), or None where the rows are not the data's
    own (cells) or a site is not a block's: then every effect is taken to meet every other."""
    if data.cells is not None or not all(name[2:].isdigit() for name in names):
        return None
    return [np.asarray(data.group_index[int(name[2:])]) for name in names]


#: inner Newton iterations after which the effects' mode counts as not found (``laplace_effects.newton``)
INNER_ITERATIONS = 100


class _Problem:
    """The outer objective and its helpers, jitted once per model structure and data shapes."""

    def __init__(self, structure: ModelStructure, data: ModelData):
        helpers = compiled(structure, shapes_key(data))
        self.sites = helpers.sites
        self.replay = helpers.replay
        centre, _ = initial_values(structure, data, self.sites, np.random.default_rng(0), 1)
        self.effect_names = sorted(name for name in self.sites if _is_effect(name))
        hyper = {name: jnp.asarray(value) for name, value in centre.items() if not _is_effect(name)}
        self.theta0, self.unravel_theta = ravel_pytree(hyper)
        self.shapes = [tuple(self.sites[name][1]) for name in self.effect_names]
        self.layout = effect_layout([(shape[0], int(np.prod(shape[1:]))) for shape in self.shapes],
                                    _level_indices(self.effect_names, data))
        self.potential = helpers.potential
        # the data travel as arguments: closed over, XLA would fold a million-row array into the program
        objective, linearised = jax.jit(self._value_and_grad), jax.jit(self._linearised)
        self.objective = lambda theta, u0: objective(theta, u0, data)  # noqa: E731
        self.linearised = lambda theta, u_mode: linearised(theta, u_mode, data)  # noqa: E731

    def joint(self, theta, u, data):
        return self.potential({**self.unravel_theta(theta), **self._effects(u)}, data)

    def _effects(self, u) -> dict:
        out, start = {}, 0
        for name, shape in zip(self.effect_names, self.shapes):
            size = int(np.prod(shape))
            out[name] = u[start:start + size].reshape(shape)
            start += size
        return out

    def _inner(self, theta, data):
        """``value(u)``, ``gradient(u)`` and ``parts(u)`` of the potential at fixed ``theta``."""
        value = lambda u: self.joint(theta, u, data)  # noqa: E731
        gradient = jax.grad(value)

        def parts(u):
            return hessian_parts(lambda s: jax.jvp(gradient, (u,), (s,))[1], self.layout)
        return value, gradient, parts

    def _stepped(self, theta, u_mode, data):
        """One Newton step from the mode ``u_mode`` (its value: the mode; its derivative in ``theta``: the
        implicit function theorem's), and the Hessian's factor there."""
        _, gradient, parts = self._inner(theta, data)
        fixed = factorize(parts(u_mode))
        step = solve(self.layout, jax.lax.stop_gradient(fixed), gradient(u_mode))
        return u_mode - step

    def _value_and_grad(self, theta, u0, data):
        """``(L(theta), dL/dtheta, u*(theta), Newton iterations)``."""
        if not self.layout.size:
            value, grad = jax.value_and_grad(lambda t: self.joint(t, jnp.zeros(0), data))(theta)
            return value, grad, u0, 0
        u_mode, steps = newton(*self._inner(jax.lax.stop_gradient(theta), data), self.layout, u0,
                               iterations=INNER_ITERATIONS)

        def marginal(t):
            u = self._stepped(t, u_mode, data)
            _, _, parts = self._inner(t, data)
            return (self.joint(t, u, data) + 0.5 * log_det(factorize(parts(u)))
                    - 0.5 * self.layout.size * jnp.log(2 * jnp.pi))
        value, grad = jax.value_and_grad(marginal)(theta)
        return value, grad, u_mode, steps

    def _linearised(self, theta, u_mode, data):
        """``du*/dtheta`` (n_u x n_theta) and the Hessian's factor at the mode."""
        jacobian = jax.jacfwd(lambda t: self._stepped(t, u_mode, data))(theta)
        _, _, parts = self._inner(theta, data)
        return jacobian, factorize(parts(u_mode))


def _optimise(problem: _Problem, tolerance: float, restarts: int = 6):
    """L-BFGS-B on ``L(theta)``, the inner mode warm-started from the last evaluation's, in coordinates whitened
    by the curvature at the starting point (``theta = start + R^-1 x``, ``R'R`` the finite-difference Hessian, or
    its diagonal where that is not positive definite): a slope of a covariate with SD 30 and a log SD
    otherwise differ in curvature by 10^3, and the intercept and the effects' SD trade off, so that L-BFGS's
    early steps would leave the region where the inner problem is well posed. A point where the inner Newton
    solve fails counts as infinite; when the line search then gives up, the search starts again from the best
    point so far, whitened by the curvature there (a damped Newton method on the outer problem)."""
    best = {"theta": np.asarray(problem.theta0, dtype=float), "value": np.inf,
            "u": jnp.zeros(problem.layout.size), "largest": np.inf}
    result = None
    for _ in range(restarts):
        start, u_start = best["theta"], best["u"]
        whitening = _whitening(_hessian(problem, start, u_start))
        state = {"u": u_start}

        def fun(x):
            theta = start + whitening @ x
            value, grad, u_mode, steps = problem.objective(jnp.asarray(theta), state["u"])
            value, grad = float(value), np.asarray(grad, dtype=float)
            if not (np.isfinite(value) and np.all(np.isfinite(grad))) or int(steps) >= INNER_ITERATIONS:
                return np.inf, np.zeros_like(x)
            state["u"] = u_mode
            scaled = whitening.T @ grad
            if value < best["value"]:
                best.update(theta=theta, value=value, u=u_mode, largest=float(np.max(np.abs(scaled), initial=0)))
            return value, scaled

        result = optimize.minimize(fun, np.zeros_like(start), jac=True, method="L-BFGS-B",
                                   options={"maxiter": 1000, "gtol": tolerance, "ftol": 1e-15, "maxcor": 20})
        if best["largest"] <= 1e-3:
            break
    if not np.isfinite(best["value"]) or best["largest"] > 1e-3:
        raise SamplerError(f"The Laplace approximation found no mode ({result.message}; largest scaled gradient "
                           f"{best['largest']:.3g}). Fit with method='nuts' instead.")
    return best["theta"], best["u"], best["value"], int(result.nit)


def _whitening(hessian: np.ndarray) -> np.ndarray:
    """``R^-1`` with ``R'R = hessian`` (upper Cholesky), or the inverse square roots of its diagonal."""
    try:
        return np.linalg.inv(np.linalg.cholesky(hessian).T)
    except np.linalg.LinAlgError:
        curvature = np.abs(np.diag(hessian))
        return np.diag(1.0 / np.sqrt(np.where(np.isfinite(curvature) & (curvature > 1e-8), curvature, 1.0)))


def _hessian(problem: _Problem, theta: np.ndarray, u_mode, step: float = 1e-4) -> np.ndarray:
    """The Hessian of ``L`` at ``theta``: central differences of the exact gradient."""
    n = theta.size
    hessian = np.zeros((n, n))
    for k in range(n):
        shift = np.zeros(n)
        shift[k] = step
        up = np.asarray(problem.objective(jnp.asarray(theta + shift), u_mode)[1])
        down = np.asarray(problem.objective(jnp.asarray(theta - shift), u_mode)[1])
        hessian[:, k] = (up - down) / (2 * step)
    return 0.5 * (hessian + hessian.T)


def _covariance(hessian: np.ndarray, names: list[str]) -> np.ndarray:
    """The inverse of the Hessian; a Hessian that is not positive definite means no Gaussian fits the mode."""
    values, vectors = np.linalg.eigh(hessian)
    if values.min() <= 0 or not np.all(np.isfinite(values)):
        worst = names[int(np.argmax(np.abs(vectors[:, int(np.argmin(values))])))]
        raise SamplerError(f"The Laplace approximation's curvature at the mode is not positive (along {worst}): "
                           "the posterior is not near Gaussian there. Fit with method='nuts' instead.")
    return (vectors / values) @ vectors.T


def _theta_names(problem: _Problem) -> list[str]:
    names = []
    for name, value in sorted(problem.unravel_theta(problem.theta0).items()):
        names += [name if np.size(value) == 1 else f"{name}[{i}]" for i in range(int(np.size(value)))]
    return names


def laplace_posterior(structure: ModelStructure, data: ModelData, chains: int, draws: int, seed: int,
                      tolerance: float = 1e-6) -> LaplaceResult:
    """The Laplace approximation of the posterior and ``chains x draws`` independent draws from it (shaped as
    NUTS's: leading axes chain, draw)."""
    use_float64()
    enable_compilation_cache()
    seconds = {}
    began = time.perf_counter()
    problem = _Problem(structure, data)
    theta, u_mode, value, iterations = _optimise(problem, tolerance)
    seconds["mode"] = time.perf_counter() - began
    began = time.perf_counter()
    covariance = _covariance(_hessian(problem, theta, u_mode), _theta_names(problem))
    n = chains * draws
    rng, _, key = sampler_keys(seed, chains)
    thetas = rng.multivariate_normal(theta, covariance, size=n, method="cholesky")
    z = jax.tree.map(np.asarray, jax.vmap(problem.unravel_theta)(jnp.asarray(thetas)))
    if problem.layout.size:
        jacobian, factor = problem.linearised(jnp.asarray(theta), u_mode)
        noise = rng.standard_normal((n, problem.layout.size))
        spread = jax.jit(jax.vmap(lambda e: draw_effects(problem.layout, factor, e)))(jnp.asarray(noise))
        effects = np.asarray(u_mode)[None] + (thetas - theta) @ np.asarray(jacobian).T + np.asarray(spread)
        z.update(jax.tree.map(np.asarray, jax.vmap(problem._effects)(jnp.asarray(effects))))
    seconds["hessian"] = time.perf_counter() - began
    began = time.perf_counter()
    flat, extra = problem.replay({name: jnp.asarray(v) for name, v in z.items()}, jnp.asarray(key, jnp.uint32), data)
    shaped = lambda tree: {k: np.asarray(v).reshape((chains, draws) + np.shape(v)[1:])  # noqa: E731
                           for k, v in tree.items()}
    flat, extra = shaped(flat), shaped(extra)
    zeros = np.zeros((chains, draws))
    stats = dict.fromkeys(STAT_FIELDS, zeros)
    stats.update(accept_prob=np.full_like(zeros, np.nan), energy=np.full_like(zeros, np.nan),
                 potential_energy=np.full_like(zeros, np.nan), step_size=np.full_like(zeros, np.nan),
                 diverging=np.zeros((chains, draws), bool), num_steps=np.zeros((chains, draws), int))
    draws_out = {k: v for k, v in {**flat, **extra}.items() if k != "log_lik"}
    seconds["draws"] = time.perf_counter() - began
    mode = {**problem.unravel_theta(jnp.asarray(theta)), **problem._effects(u_mode)}
    numpy = lambda tree: {k: np.asarray(v) for k, v in tree.items()}  # noqa: E731
    return LaplaceResult(Samples(draws_out, stats, extra, "laplace", None), numpy(constrain(problem.sites, mode)),
                         numpy(mode), -value, iterations, seconds)
