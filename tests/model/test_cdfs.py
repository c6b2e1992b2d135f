"""Log CDFs and survival functions (bayesmm.model.cdfs) against scipy, and in the far tails, where scipy's values
underflow to 0, against log-space references: sums of log-pmfs for counts, integrals of the scaled integrand
(``scipy.integrate.quad``) for the incomplete gamma and beta functions, closed forms where they exist."""
from __future__ import annotations

from bayesmm.model.backend import use_float64

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from bayesmm.model import cdfs
from bayesmm.model.likelihoods import likelihood

use_float64()


def _log_lower_gamma(a, x):
    """log P(a, x) = a log x - lgamma(a) + log int_0^1 s^(a-1) exp(-x s) ds (no underflow for x < a)."""
    peak = 1.0  # the integrand's largest value, at s = 1 when x < a - 1
    value, _ = integrate.quad(lambda s: s ** (a - 1) * np.exp(-x * (s - 1)), 0, 1, epsabs=0, epsrel=1e-13,
                              limit=200)
    return a * np.log(x) - x - special.gammaln(a) + np.log(value * peak)


def _log_upper_gamma(a, x):
    """log Q(a, x) = (a - 1) log x - x - lgamma(a) + log int_0^inf (1 + u / x)^(a - 1) exp(-u) du."""
    value, _ = integrate.quad(lambda u: (1 + u / x) ** (a - 1) * np.exp(-u), 0, np.inf, epsabs=0, epsrel=1e-13)
    return (a - 1) * np.log(x) - x - special.gammaln(a) + np.log(value)


def _log_lower_beta(a, b, x):
    """log I_x(a, b) = a log x - log B(a, b) + log int_0^1 s^(a-1) (1 - x s)^(b-1) ds."""
    value, _ = integrate.quad(lambda s: s ** (a - 1) * (1 - x * s) ** (b - 1), 0, 1, epsabs=0, epsrel=1e-13,
                              limit=200)
    return a * np.log(x) - special.betaln(a, b) + np.log(value)


GAMMA_POINTS = [(0.3, 0.01), (2.0, 3.0), (7.5, 2.0), (40.0, 55.0), (1e3, 900.0)]


@pytest.mark.parametrize("a, x", GAMMA_POINTS)
def test_incomplete_gamma_against_scipy(a, x):
    assert float(cdfs.log_gammainc(a, x)) == pytest.approx(np.log(special.gammainc(a, x)), rel=1e-11)
    assert float(cdfs.log_gammaincc(a, x)) == pytest.approx(np.log(special.gammaincc(a, x)), rel=1e-11)


@pytest.mark.parametrize("a, x", [(100.0, 0.01), (300.0, 1.0), (50.0, 1e-12), (2000.0, 150.0)])
def test_lower_incomplete_gamma_where_it_underflows(a, x):
    assert special.gammainc(a, x) == 0.0
    assert float(cdfs.log_gammainc(a, x)) == pytest.approx(_log_lower_gamma(a, x), rel=1e-10)


@pytest.mark.parametrize("a, x", [(2.0, 1000.0), (1.5, 800.0), (3.0, 1e5), (60.0, 1500.0)])
def test_upper_incomplete_gamma_where_it_underflows(a, x):
    assert special.gammaincc(a, x) == 0.0
    assert float(cdfs.log_gammaincc(a, x)) == pytest.approx(_log_upper_gamma(a, x), rel=1e-10)


@pytest.mark.parametrize("a, b, x", [(2.0, 3.0, 0.1), (0.5, 0.5, 0.97), (50.0, 400.0, 0.01), (12.0, 1.5, 0.9)])
def test_incomplete_beta_and_its_gradient_against_scipy(a, b, x):
    value = float(cdfs.log_betainc(a, b, x))
    assert value == pytest.approx(np.log(special.betainc(a, b, x)), rel=1e-11)
    grads = jax.grad(lambda *p: cdfs.log_betainc(*p), argnums=(0, 1, 2))(a, b, x)
    h = 1e-6
    for k, g in enumerate(grads):
        up, down = [a, b, x], [a, b, x]
        up[k], down[k] = up[k] * (1 + h), down[k] * (1 - h)
        reference = (np.log(special.betainc(*up)) - np.log(special.betainc(*down))) / (up[k] - down[k])
        assert float(g) == pytest.approx(reference, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("a, b, x", [(500.0, 2.0, 0.1), (400.0, 3.0, 0.05), (1.5, 0.5, 1e-250)])
def test_incomplete_beta_where_it_underflows(a, b, x):
    assert special.betainc(a, b, x) == 0.0
    assert float(cdfs.log_betainc(a, b, x)) == pytest.approx(_log_lower_beta(a, b, x), rel=1e-10)
    assert np.all(np.isfinite(jax.grad(lambda *p: cdfs.log_betainc(*p), argnums=(0, 1, 2))(a, b, x)))


def test_gradients_in_the_shape_through_the_log_space_series():
    """The series' derivative in the shape agrees with a difference of the log-space reference."""
    for fn, reference, a, x in ((cdfs.log_gammainc, _log_lower_gamma, 100.0, 0.01),
                                (cdfs.log_gammaincc, _log_upper_gamma, 2.0, 1000.0)):
        grad_a, grad_x = jax.grad(fn, argnums=(0, 1))(a, x)
        h = 1e-5
        assert float(grad_a) == pytest.approx((reference(a + h, x) - reference(a - h, x)) / (2 * h), rel=1e-6)
        assert float(grad_x) == pytest.approx((reference(a, x * (1 + h)) - reference(a, x * (1 - h)))
                                              / (2 * h * x), rel=1e-6)


# ------------------------------------------------------------------------------------------ families
def _law(family, mu, **aux):
    link = "identity" if family in ("gaussian", "student_t", "lognormal") else "log"
    eta = mu if link == "identity" else np.log(mu)
    return likelihood(family, link, jnp.asarray(eta), {k: jnp.asarray(v) for k, v in aux.items()})


FAMILIES = {  # family, mu, aux, scipy distribution, values
    "gaussian": (1.5, {"sigma": 2.0}, stats.norm(1.5, 2.0), [-30.0, -2.0, 1.5, 4.0, 50.0]),
    "student_t": (1.5, {"sigma": 2.0, "nu": 3.5}, stats.t(3.5, 1.5, 2.0), [-1e4, -2.0, 1.5, 4.0, 1e3]),
    "lognormal": (0.3, {"sigma": 0.7}, stats.lognorm(0.7, scale=np.exp(0.3)), [1e-6, 0.5, 1.3, 4.0, 1e4]),
    "gamma": (2.0, {"shape": 3.0}, stats.gamma(3.0, scale=2.0 / 3.0), [1e-4, 0.5, 2.0, 6.0, 60.0]),
    "weibull": (2.0, {"shape": 1.7}, stats.weibull_min(1.7, scale=2.0 / special.gamma(1 + 1 / 1.7)),
                [1e-6, 0.5, 2.0, 6.0, 30.0]),
    "exponential": (2.0, {}, stats.expon(scale=2.0), [1e-9, 0.5, 2.0, 6.0, 200.0]),
    "poisson": (3.2, {}, stats.poisson(3.2), [0.0, 1.0, 3.0, 8.0, 30.0]),
    "negbinomial": (3.2, {"phi": 1.7}, stats.nbinom(1.7, 1.7 / 4.9), [0.0, 1.0, 3.0, 8.0, 90.0]),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_log_cdf_and_survival_against_scipy(family):
    mu, aux, reference, values = FAMILIES[family]
    log_cdf, log_survival = cdfs.FAMILY_CDFS[family](_law(family, mu, **aux), jnp.asarray(values))
    np.testing.assert_allclose(np.asarray(log_cdf), reference.logcdf(values), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(np.asarray(log_survival), reference.logsf(values), rtol=1e-9, atol=1e-14)


def _log_count_tail(logpmf, start, stop):
    return special.logsumexp(logpmf(np.arange(start, stop)))


EXTREMES = {  # family, mu, aux, value, reference (log F, log S) where scipy's values round to 0 or 1
    "gaussian": (0.0, {"sigma": 1.0}, 45.0, (-stats.norm.sf(45.0), stats.norm.logsf(45.0))),
    "lognormal": (0.0, {"sigma": 0.5}, 1e-20, (stats.norm.logcdf(np.log(1e-20) / 0.5), 0.0)),
    "weibull": (1.0, {"shape": 2.0}, 200.0, (0.0, -(200.0 / (1.0 / special.gamma(1.5))) ** 2)),
    "exponential": (1.0, {}, 1e-300, (np.log(1e-300), -1e-300)),
    "gamma": (1.0, {"shape": 2.0}, 800.0, (0.0, _log_upper_gamma(2.0, 1600.0))),
    "poisson": (1.0, {}, 300.0, (0.0, _log_count_tail(lambda k: stats.poisson.logpmf(k, 1.0), 301, 1000))),
    "negbinomial": (2.0, {"phi": 3.0}, 900.0,
                    (0.0, _log_count_tail(lambda k: stats.nbinom.logpmf(k, 3.0, 0.6), 901, 5000))),
}


@pytest.mark.parametrize("family", list(EXTREMES))
def test_family_tails_stay_exact_where_scipy_rounds(family):
    mu, aux, value, (log_cdf, log_survival) = EXTREMES[family]
    got_cdf, got_survival = cdfs.FAMILY_CDFS[family](_law(family, mu, **aux), jnp.asarray(value))
    assert float(got_cdf) == pytest.approx(log_cdf, rel=1e-9, abs=1e-300)
    assert float(got_survival) == pytest.approx(log_survival, rel=1e-9, abs=1e-300)


def test_student_t_far_tail_and_gradient_in_nu():
    law = _law("student_t", 0.0, sigma=1.0, nu=4.0)
    log_cdf, _ = cdfs.FAMILY_CDFS["student_t"](law, jnp.asarray(-1e60))
    assert float(log_cdf) == pytest.approx(stats.t.logcdf(-1e60, 4.0), rel=1e-9)

    def tail(nu):
        return cdfs.FAMILY_CDFS["student_t"](_law("student_t", 0.0, sigma=1.0, nu=nu), jnp.asarray(-6.0))[0]

    h = 1e-5
    reference = (stats.t.logcdf(-6.0, 4.0 + h) - stats.t.logcdf(-6.0, 4.0 - h)) / (2 * h)
    assert float(jax.grad(tail)(4.0)) == pytest.approx(reference, rel=1e-5)


def test_log_cdfs_have_finite_gradients_near_the_support_edge():
    """Weibull and exponential P(Y <= v) at v far below the scale (log1mexp of a tiny negative number): the
    branch not taken must not send an infinite gradient through the where."""
    for family, aux in (("weibull", {"shape": jnp.asarray(1.5)}), ("exponential", {})):
        def left(eta, family=family, aux=aux):
            return cdfs.FAMILY_CDFS[family](likelihood(family, "log", eta, aux), jnp.asarray(1e-12))[0]

        assert np.isfinite(float(jax.grad(left)(0.0)))
    assert np.isfinite(float(jax.grad(cdfs.log1mexp)(-1e-30)))
    assert np.isfinite(float(jax.grad(cdfs.log1mexp)(-800.0)))


def test_second_derivatives_exist_for_the_sampler_curvature():
    """The sampler's first mass matrix reads curvature: the custom derivatives differentiate again (jax's own
    betainc would raise there)."""
    h = 1e-3
    for fn, reference, a in ((lambda a: cdfs.log_betainc(a, 3.0, 0.2), lambda a: np.log(special.betainc(a, 3.0, 0.2)),
                              2.0),
                             (lambda a: cdfs.log_gammainc(a, 0.5), lambda a: np.log(special.gammainc(a, 0.5)), 2.0)):
        expected = (reference(a + h) - 2 * reference(a) + reference(a - h)) / h ** 2
        assert float(jax.grad(jax.grad(fn))(a)) == pytest.approx(expected, rel=1e-4)
