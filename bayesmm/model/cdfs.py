"""Log CDFs and log survival functions of the families that take censoring and truncation (jax).

:data:`FAMILY_CDFS` maps a family to ``(law, v) -> (log P(Y <= v), log P(Y > v))`` read from the parameters of
the family's numpyro distribution (``law``, as :func:`.likelihoods.likelihood` builds it). Both sides are
computed directly, never as ``log(1 - F)``, so each is accurate in its own tail:

* gaussian, lognormal: ``log_ndtr`` of ``z`` and of ``-z`` -- exact to float64 for any ``z``;
* weibull, exponential: ``log S = -(v / scale)^shape`` (exact) and ``log F = log1mexp(log S)`` (Maechler 2012,
  exact at both ends);
* gamma, poisson: regularized incomplete gamma functions (``P(shape, rate v)``, ``Q``; the poisson's
  ``P(Y <= v) = Q(v + 1, mu)``). Where jax's value underflows (below 1e-300) the log is computed from series in
  log space (:func:`log_gammainc`, :func:`log_gammaincc`): the lower series to 64 terms (there ``x < a``; its
  error stays below 1e-12 unless ``a > 1e5`` and ``x / a > 0.8``, where the value is far below 1e-300 anyway)
  and Legendre's continued fraction to 64 levels for the upper tail (``x > a``);
* negative binomial (NB2, and NB1 through it), student_t: regularized incomplete beta functions
  (``P(Y <= v) = I_{phi/(mu+phi)}(phi, v + 1)``; the t's ``P(T < -|t|) = I_{nu/(nu+t^2)}(nu/2, 1/2) / 2``), with
  the same continued-fraction fallback (64 levels) below 1e-300.

Derivatives: in ``x`` exact (the density over the value); in the shape arguments a central difference of the
exact value (step 1e-5 relative, relative error about 1e-8): jax's ``betainc`` has no derivative there, and one
kernel evaluated on the stacked steps compiles several times faster than jax's ``igamma`` derivatives. Everything
else is exact to float64 rounding.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
from jax import lax

__all__ = ["FAMILY_CDFS", "log1mexp", "log_gammainc", "log_gammaincc", "log_betainc", "DISCRETE"]

#: below this the direct value of an incomplete gamma or beta function is replaced by its log-space series
UNDERFLOW = 1e-300
#: terms of the log-space series and continued fractions
TERMS = 64
#: relative step of the central differences in the incomplete beta's shape arguments
STEP = 1e-5
#: the families whose responses are whole numbers: P(Y <= v) at whole v, truncation [lb, ub] = (lb - 1, ub]
DISCRETE = ("poisson", "negbinomial", "nbinom1")


def log1mexp(a):
    """``log(1 - exp(a))`` for ``a < 0``, accurate at both ends (Maechler 2012); each branch sees a stand-in where
    the other is taken, so neither passes an infinite gradient through the ``where`` (``a`` near 0 or far below)."""
    near = a > -0.6931471805599453
    return jnp.where(near, jnp.log(-jnp.expm1(jnp.where(near, a, -1.0))),
                     jnp.log1p(-jnp.exp(jnp.where(near, -1.0, a))))


def _lower_series(a, x):
    """``log P(a, x) = a log x - x - lgamma(a + 1) + log sum_k x^k / ((a + 1) ... (a + k))``."""
    def step(k, carry):
        term, total = carry
        term = term * x / (a + k)
        return term, total + term

    _, total = lax.fori_loop(1, TERMS, step, (jnp.ones_like(x), jnp.ones_like(x)))
    return a * jnp.log(x) - x - jsp.gammaln(a + 1.0) + jnp.log(total)


def _upper_fraction(a, x):
    """``log Q(a, x) = a log x - x - lgamma(a) - log f``, ``f = x + 1 - a - 1 (1 - a) / (x + 3 - a - ...)``
    (Legendre's continued fraction, evaluated from its ``TERMS``-th level back)."""
    def step(i, f):
        n = TERMS - i
        return x + 2.0 * n - 1.0 - a - n * (n - a) / f

    f = lax.fori_loop(0, TERMS, step, x + 2.0 * TERMS + 1.0 - a)
    return a * jnp.log(x) - x - jsp.gammaln(a) - jnp.log(f)


def _with_fallback(direct_fn, fallback_fn, *args):
    """``log direct_fn(*args)`` where that is above :data:`UNDERFLOW`, else ``fallback_fn(*args)`` (a log-space
    series). Forward only: the functions below give their own derivatives."""
    args = jnp.broadcast_arrays(*args)
    direct = direct_fn(*args)
    use = direct > UNDERFLOW
    return jnp.where(use, jnp.log(jnp.where(use, direct, 1.0)), fallback_fn(*args))


def _shape_differences(value_fn, args, shapes):
    """``(value, [d value / d args[k] for k in shapes])``: the value and central differences in the shape
    arguments, all from one call of ``value_fn`` on the arguments stacked along a new first axis (one XLA
    kernel of the incomplete gamma or beta function instead of five)."""
    args = jnp.broadcast_arrays(*args)
    steps = [STEP * args[k] for k in shapes]
    stacked = []
    for k, arg in enumerate(args):
        rows = [arg]
        for j, shape in enumerate(shapes):
            rows += [arg + steps[j], arg - steps[j]] if k == shape else [arg, arg]
        stacked.append(jnp.stack(rows))
    values = value_fn(*stacked)
    return values[0], [(values[1 + 2 * j] - values[2 + 2 * j]) / (2.0 * steps[j]) for j in range(len(shapes))]


def _log_gamma_density(a, x):
    """log of the Gamma(a, 1) density at ``x`` (the derivative of ``P(a, x)`` in ``x``)."""
    return (a - 1.0) * jnp.log(x) - x - jsp.gammaln(a)


@jax.custom_jvp
def log_gammainc(a, x):
    """``log P(a, x)``, the regularized lower incomplete gamma function, in log space below 1e-300."""
    return _with_fallback(jsp.gammainc, _lower_series, a, x)


@log_gammainc.defjvp
def _log_gammainc_jvp(primals, tangents):
    a, x = primals
    value, (grad_a,) = _shape_differences(log_gammainc, primals, (0,))
    return value, grad_a * tangents[0] + jnp.exp(_log_gamma_density(a, x) - value) * tangents[1]


@jax.custom_jvp
def log_gammaincc(a, x):
    """``log Q(a, x)``, the regularized upper incomplete gamma function, in log space below 1e-300."""
    return _with_fallback(jsp.gammaincc, _upper_fraction, a, x)


@log_gammaincc.defjvp
def _log_gammaincc_jvp(primals, tangents):
    a, x = primals
    value, (grad_a,) = _shape_differences(log_gammaincc, primals, (0,))
    return value, grad_a * tangents[0] - jnp.exp(_log_gamma_density(a, x) - value) * tangents[1]


def _beta_fraction(a, b, x):
    """``log I_x(a, b) = a log x + b log(1 - x) - log a - log B(a, b) - log t``, ``t`` the continued fraction
    ``1 + d_1 / (1 + d_2 / ...)`` of Numerical Recipes' ``betacf``, from its ``2 TERMS``-th level back."""
    def step(i, t):
        k = 2 * TERMS - i
        m = k // 2
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        return 1.0 + jnp.where(k % 2 == 1, odd, even) / t

    t = lax.fori_loop(0, 2 * TERMS, step, jnp.ones_like(x))
    log_beta = jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)
    return a * jnp.log(x) + b * jnp.log1p(-x) - jnp.log(a) - log_beta - jnp.log(t)


@jax.custom_jvp
def log_betainc(a, b, x):
    """``log I_x(a, b)``, the regularized incomplete beta function, in log space below 1e-300; its derivative
    in ``x`` is exact, in ``a`` and ``b`` a central difference (jax's ``betainc`` has none)."""
    return _with_fallback(jsp.betainc, _beta_fraction, a, b, x)


@log_betainc.defjvp
def _log_betainc_jvp(primals, tangents):
    a, b, x = jnp.broadcast_arrays(*primals)
    da, db, dx = tangents
    value, (grad_a, grad_b) = _shape_differences(log_betainc, (a, b, x), (0, 1))
    inner = jnp.clip(x, 1e-300, 1.0 - 1e-16)  # the density is finite inside; dx is 0 where x sits on an end
    log_beta = jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)
    grad_x = jnp.exp((a - 1.0) * jnp.log(inner) + (b - 1.0) * jnp.log1p(-inner) - log_beta - value)
    return value, grad_a * da + grad_b * db + grad_x * dx


# ------------------------------------------------------------------------------------------ families
def _normal_tails(z):
    return jsp.log_ndtr(z), jsp.log_ndtr(-z)


def _gaussian(law, v):
    return _normal_tails((v - law.loc) / law.scale)


def _lognormal(law, v):
    return _normal_tails((jnp.log(v) - law.loc) / law.scale)


def _student_t(law, v):
    t = (v - law.loc) / law.scale
    nu = law.df
    # P(T < -|t|) = I_x(nu / 2, 1 / 2) / 2 with x = nu / (nu + t^2)
    log_tail = jnp.log(0.5) + log_betainc(nu / 2.0, jnp.full_like(t, 0.5), 1.0 / (1.0 + t * t / nu))
    log_rest = jnp.log1p(-jnp.exp(log_tail))
    below = t < 0
    return jnp.where(below, log_tail, log_rest), jnp.where(below, log_rest, log_tail)


def _weibull_tails(log_survival):
    return log1mexp(log_survival), log_survival


def _weibull(law, v):
    return _weibull_tails(-jnp.exp(law.concentration * (jnp.log(v) - jnp.log(law.scale))))


def _exponential(law, v):
    return _weibull_tails(-law.rate * v)


def _gamma(law, v):
    x = law.rate * v
    return log_gammainc(law.concentration, x), log_gammaincc(law.concentration, x)


def _poisson(law, v):
    return log_gammaincc(v + 1.0, law.rate), log_gammainc(v + 1.0, law.rate)


def _negbinomial(law, v):
    mu, phi = law.mean, law.concentration
    total = mu + phi
    return log_betainc(phi, v + 1.0, phi / total), log_betainc(v + 1.0, phi, mu / total)


#: family -> ``(law, v) -> (log P(Y <= v), log P(Y > v))``
FAMILY_CDFS = {
    "gaussian": _gaussian,
    "student_t": _student_t,
    "lognormal": _lognormal,
    "gamma": _gamma,
    "weibull": _weibull,
    "exponential": _exponential,
    "poisson": _poisson,
    "negbinomial": _negbinomial,
    "nbinom1": _negbinomial,
}
