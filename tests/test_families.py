"""Family records, their default priors, and the likelihood classes written for them (fast: no sampling).

* lookup by name and alias; every family has a likelihood and every aux parameter a proper default prior;
* default priors of the family parameters, and autoscaling (lognormal from log y, student_t and
  identity-link gamma from y, link scales with 1);
* :class:`~bayesmm.model.likelihoods.Hurdle` and :class:`~bayesmm.model.likelihoods.ZeroInflated`:
  the pmf sums to 1, exact draws match the pmf (chi-square), the mean matches, and the log scale stays finite
  where a naive formula would not; the NB and beta-binomial log-pmfs against scipy where jax's ``betaln``
  loses float64 accuracy.
"""
from __future__ import annotations

from bayesmm.model.backend import use_float64

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pandas as pd
import pytest
from scipy import stats

import bayesmm as bmm
from bayesmm.families import FAMILIES, get_family
from bayesmm.model.likelihoods import LIKELIHOODS, BetaBinomial, Hurdle, NegativeBinomial2, ZeroInflated
from bayesmm.priors import parse_prior

use_float64()  # as every fit does, before jax arrays are made here

NEW = ["negbinomial", "nbinom1", "gamma", "beta", "beta_binomial", "student_t", "lognormal",
       "zero_inflated_poisson", "zero_inflated_negbinomial", "hurdle_poisson", "hurdle_negbinomial"]

DEFAULT_AUX_PRIORS = {
    "gaussian": {"sigma": "half_student_t(3, {scale_y})"},
    "bernoulli": {}, "binomial": {}, "poisson": {},
    "negbinomial": {"phi": "inverse_gamma(0.5, 0.5)"},
    "nbinom1": {"alpha": "half_student_t(3, 2.5)"},
    "gamma": {"shape": "inverse_gamma(0.5, 0.5)"},
    "beta": {"phi": "inverse_gamma(0.5, 0.5)"},
    "beta_binomial": {"phi": "inverse_gamma(0.5, 0.5)"},
    "student_t": {"sigma": "half_student_t(3, {scale_y})", "nu": "gamma(2, 0.1)"},
    "lognormal": {"sigma": "half_student_t(3, {scale_y})"},
    "zero_inflated_poisson": {"zi": "beta(1, 1)"},
    "zero_inflated_negbinomial": {"phi": "inverse_gamma(0.5, 0.5)", "zi": "beta(1, 1)"},
    "hurdle_poisson": {"hu": "beta(1, 1)"},
    "hurdle_negbinomial": {"phi": "inverse_gamma(0.5, 0.5)", "hu": "beta(1, 1)"},
    "weibull": {"shape": "lognormal(0, 1)"}, "exponential": {}, "cumulative": {}, "categorical": {},
    "zero_inflated_binomial": {"zi": "beta(1, 1)"},
    "hurdle_gamma": {"shape": "inverse_gamma(0.5, 0.5)", "hu": "beta(1, 1)"},
    "hurdle_lognormal": {"sigma": "half_student_t(3, {scale_y})", "hu": "beta(1, 1)"},
    "zero_one_inflated_beta": {"phi": "inverse_gamma(0.5, 0.5)", "zoi": "beta(1, 1)", "coi": "beta(1, 1)"},
    "ordbeta": {"phi": "inverse_gamma(0.5, 0.5)", "cutzero": "student_t(3, 0, 2.5)", "cutgap": "gamma(2, 0.5)"},
    "com_poisson": {"shape": "lognormal(0, 1)"},
}


# ------------------------------------------------------------------------------------------ records
def test_every_family_has_a_likelihood_and_proper_aux_priors():
    assert set(LIKELIHOODS) == set(FAMILIES)
    assert set(NEW) <= set(FAMILIES)
    assert {name: {a.name: a.default_prior for a in f.aux} for name, f in FAMILIES.items()} == DEFAULT_AUX_PRIORS
    for family in FAMILIES.values():
        for aux in family.aux:
            spec = parse_prior(aux.default_prior.format(scale_y="1.5"))
            assert spec.support == aux.support, (family.name, aux.name)
            assert spec.dist != "flat"


@pytest.mark.parametrize("alias, name", [("nbinom2", "negbinomial"), ("negative_binomial", "negbinomial"),
                                         ("Negative-Binomial", "negbinomial"), ("NBINOM1", "nbinom1"),
                                         ("Gamma", "gamma"), ("beta-binomial", "beta_binomial"),
                                         ("student", "student_t"), ("zip", "zero_inflated_poisson"),
                                         ("zinb", "zero_inflated_negbinomial"), ("hurdle-poisson", "hurdle_poisson")])
def test_aliases(alias, name):
    assert get_family(alias).name == name


def test_link_choice_keeps_the_record():
    gamma = get_family("gamma", "inverse")
    assert gamma.link == "inverse" and gamma.aux == FAMILIES["gamma"].aux and gamma.response == "positive"
    assert get_family("lognormal").log_response and not get_family("gamma").log_response


# ------------------------------------------------------------------------------------------ priors
def _frame(y, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": y, "x": rng.normal(2.0, 3.0, len(y)), "g": np.repeat(list("abcdef"), len(y) // 6)})


def _priors(model):
    return {(e.cls, e.coef): e.prior for e in model.prior_entries}


def test_lognormal_priors_scale_from_log_y():
    rng = np.random.default_rng(1)
    y = np.exp(rng.normal(5.0, 0.4, 60))
    df = _frame(y)
    p = _priors(bmm.Model("y ~ x + (x | g)", df, family="lognormal"))
    log_y = np.log(y)
    sy, sx = np.std(log_y), np.std(df["x"])
    assert p[("Intercept", "")].args == pytest.approx((3, np.mean(log_y), 2.5 * sy), rel=1e-5)
    assert p[("b", "x")].args == pytest.approx((0, 2.5 * sy / sx), rel=1e-5)
    assert p[("sd", "Intercept")].args == pytest.approx((3, sy), rel=1e-5)
    assert p[("sd", "x")].args == pytest.approx((3, sy / sx), rel=1e-5)
    assert p[("sigma", "")].dist == "half_student_t" and p[("sigma", "")].args == pytest.approx((3, sy), rel=1e-5)


@pytest.mark.parametrize("family, link", [("student_t", "identity"), ("gamma", "identity")])
def test_identity_link_continuous_families_scale_from_y(family, link):
    y = np.random.default_rng(2).gamma(4.0, 50.0, 60)
    p = _priors(bmm.Model("y ~ x + (1 | g)", _frame(y), family=family, link=link))
    assert p[("Intercept", "")].args == pytest.approx((3, np.mean(y), 2.5 * np.std(y)), rel=1e-5)
    assert p[("sd", "Intercept")].args == pytest.approx((3, np.std(y)), rel=1e-5)
    if family == "student_t":
        assert p[("sigma", "")].args == pytest.approx((3, np.std(y)), rel=1e-5)
        assert str(p[("nu", "")]) == "gamma(2, 0.1)"
    else:
        assert str(p[("shape", "")]) == "inverse_gamma(0.5, 0.5)"


@pytest.mark.parametrize("family, y, location", [
    ("negbinomial", np.arange(60) % 6, np.log(2.5)),
    ("gamma", np.full(60, 2.0) + np.arange(60) % 3, np.log(3.0)),
    ("beta", 0.2 + 0.1 * (np.arange(60) % 3), np.log(0.3 / 0.7)),
])
def test_link_scale_priors(family, y, location):
    p = _priors(bmm.Model("y ~ x + (1 | g)", _frame(y), family=family))
    assert p[("Intercept", "")].args == pytest.approx((3, location, 2.5), rel=1e-4)
    assert p[("sd", "Intercept")].args == pytest.approx((3, 2.5))


def test_beta_binomial_priors_and_user_overrides():
    df = _frame(np.arange(60) % 5)
    df["n"] = 6
    m = bmm.Model("p(y, n) ~ x + (1 | g)", df, family="beta_binomial",
                  priors={"phi": "exponential(0.1)"})
    assert str(_priors(m)[("phi", "")]) == "exponential(0.1)"
    assert _priors(m)[("Intercept", "")].args[1] == pytest.approx(np.log(2 / 4))
    m = bmm.Model("y ~ x + (1 | g)", _frame(np.arange(60) % 5), family="zero_inflated_negbinomial",
                  priors={"zi": "uniform(0, 0.5)", "phi": "normal(0, 10)"})
    assert str(_priors(m)[("zi", "")]) == "uniform(0, 0.5)"
    assert str(_priors(m)[("phi", "")]) == "half_normal(10)"  # location-0 normal on a positive parameter


# ------------------------------------------------------------------------------------------ likelihoods
def _chi_square_p(draws: np.ndarray, pmf, k_max: int) -> float:
    """p-value of a chi-square goodness-of-fit test, bins 0..k_max-1 and a tail bin."""
    ks = np.arange(k_max)
    probs = np.append(pmf(ks), 0.0)
    probs[-1] = 1.0 - probs[:-1].sum()
    observed = np.append([(draws == k).sum() for k in ks], (draws >= k_max).sum())
    keep = probs * len(draws) > 5
    expected = probs * len(draws)
    stat = np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep])
    return float(stats.chi2.sf(stat, keep.sum() - 1))


HURDLES = [(mu, phi) for mu in (0.05, 1.3, 9.0) for phi in (None, 0.6, 4.0)]


@pytest.mark.parametrize("mu, phi", HURDLES, ids=[f"mu{m}-phi{p}" for m, p in HURDLES])
def test_hurdle_pmf_draws_and_mean(mu, phi):
    d = Hurdle(jnp.asarray(mu), 0.3, phi=phi)
    ks = jnp.arange(0.0, 4000.0)
    pmf = np.exp(np.asarray(d.log_prob(ks)))
    assert pmf[0] == pytest.approx(0.3, rel=1e-12)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-6 if phi == 0.6 else 1e-10)  # NB(phi 0.6) has a long tail
    assert float(d.mean) == pytest.approx(float(np.sum(np.asarray(ks) * pmf)), rel=1e-5)
    draws = np.asarray(d.sample(jax.random.PRNGKey(3), (40000,)))
    assert draws.min() == 0 and np.all(draws == np.round(draws))
    assert _chi_square_p(draws, lambda k: pmf[k], 25) > 1e-3
    # batch shapes: one distribution per row
    batch = Hurdle(jnp.asarray([mu, 2 * mu]), jnp.asarray([0.3, 0.6]), phi=phi)
    assert batch.sample(jax.random.PRNGKey(4), (7,)).shape == (7, 2)
    assert batch.log_prob(jnp.asarray([0.0, 3.0])).shape == (2,)


def test_hurdle_is_finite_at_extremes():
    # mu -> 0: log(1 - f(0)) ~ log(mu) cancels log f(1) ~ log(mu); a naive log(1 - exp(-mu)) is log(0) here
    for phi in (None, 2.0):
        d = Hurdle(jnp.asarray(1e-11), 0.4, phi=phi)
        assert float(d.log_prob(1.0)) == pytest.approx(np.log(0.6), abs=1e-9)
        assert np.isfinite(float(d.log_prob(5.0)))
        g = jax.grad(lambda m: Hurdle(m, 0.4, phi=phi).log_prob(2.0))(jnp.asarray(1e-11))
        assert np.isfinite(float(g))
    # mu large, hu small
    d = Hurdle(jnp.asarray(800.0), 1e-8, phi=3.0)
    assert np.isfinite(float(d.log_prob(0.0))) and np.isfinite(float(d.log_prob(790.0)))


@pytest.mark.parametrize("phi", [None, 1.5])
def test_zero_inflated_pmf_and_draws(phi):
    mu, zi = 2.5, 0.35
    base_pmf = (lambda k: stats.poisson.pmf(k, mu)) if phi is None else \
        (lambda k: stats.nbinom.pmf(k, phi, phi / (phi + mu)))
    base = dist.Poisson(mu) if phi is None else NegativeBinomial2(mu, phi)
    d = ZeroInflated(base, zi)
    ks = np.arange(0, 400)
    expected = (1 - zi) * base_pmf(ks) + zi * (ks == 0)
    np.testing.assert_allclose(np.exp(np.asarray(d.log_prob(jnp.asarray(ks, dtype=float)))), expected, rtol=1e-10)
    draws = np.asarray(d.sample(jax.random.PRNGKey(5), (40000,)))
    assert _chi_square_p(draws, lambda k: expected[k], 20) > 1e-3
    # log-sum-exp at zero: still exact when the base puts almost no mass at 0
    far = ZeroInflated(dist.Poisson(900.0), 1e-30)
    assert float(far.log_prob(0.0)) == pytest.approx(np.logaddexp(np.log(1e-30), -900.0), rel=1e-12)


def test_negative_binomial_log_pmf_is_float64_accurate():
    """jax's betaln (behind numpyro's NB2) is off by ~1e-6 once an argument reaches 8; ours is not."""
    y = np.arange(0.0, 300.0)
    for mu, phi in ((3.7, 2.5), (150.0, 0.4), (20.0, 5e4), (1e-3, 12.0)):
        got = np.asarray(NegativeBinomial2(mu, phi).log_prob(jnp.asarray(y)))
        np.testing.assert_allclose(got, stats.nbinom.logpmf(y, phi, phi / (phi + mu)), rtol=1e-10, atol=1e-9)


def test_beta_binomial_log_pmf_is_float64_accurate():
    n = 60.0
    k = np.arange(0.0, n + 1)
    for a, b in ((2.0, 9.0), (0.3, 40.0), (25.0, 25.0)):
        got = np.asarray(BetaBinomial(a, b, total_count=n).log_prob(jnp.asarray(k)))
        np.testing.assert_allclose(got, stats.betabinom.logpmf(k, n, a, b), rtol=1e-10, atol=1e-10)


def test_beta_logit_far_from_zero_stays_finite():
    from bayesmm.model.likelihoods import likelihood
    for eta in (40.0, -40.0):
        d = likelihood("beta", "logit", jnp.asarray(eta), {"phi": jnp.asarray(10.0)})
        assert np.isfinite(float(d.log_prob(0.5)))
        d = likelihood("beta_binomial", "logit", jnp.asarray(eta), {"phi": jnp.asarray(10.0)}, jnp.asarray(8.0))
        assert np.isfinite(float(d.log_prob(4.0)))


@pytest.mark.parametrize("link", ["identity", "inverse"])
def test_gamma_outside_the_mean_range(link):
    """eta <= 0 (mu <= 0 for both links): log density -inf (NUTS rejects), gradients finite (no NaN reaches
    the sampler); inside the range exactly the gamma density."""
    from bayesmm.model.likelihoods import likelihood

    eta = jnp.asarray([-0.5, 0.0, 0.8, 2.0])
    y = jnp.asarray([1.0, 1.0, 1.5, 0.7])

    def total(e):
        return likelihood("gamma", link, e, {"shape": jnp.asarray(3.0)}).log_prob(y)

    got = np.asarray(total(eta))
    mu = np.asarray(eta)[2:] if link == "identity" else 1.0 / np.asarray(eta)[2:]
    assert np.all(got[:2] == -np.inf)
    np.testing.assert_allclose(got[2:], stats.gamma.logpdf(np.asarray(y)[2:], 3.0, scale=mu / 3.0), rtol=1e-12)
    grad = np.asarray(jax.grad(lambda e: total(e).sum())(eta))
    assert np.all(np.isfinite(grad)) and np.all(grad[:2] == 0.0)
    # the shape gets no gradient from rows outside the range (a clamped mean would drive it to 0)
    g_shape = jax.grad(lambda k: likelihood("gamma", link, eta[:2], {"shape": k}).log_prob(y[:2]).sum())(3.0)
    assert float(g_shape) == 0.0


@pytest.mark.parametrize("family, values, what", [
    ("hurdle_gamma", [0.0, 1.5, -0.2, 3.0], "values of 0 or above"),
    ("hurdle_lognormal", [0.0, 1.5, -0.2, 3.0], "values of 0 or above"),
    ("zero_one_inflated_beta", [0.0, 0.5, 1.2, 1.0], "values from 0 to 1"),
    ("ordbeta", [0.0, 0.5, -0.1, 1.0], "values from 0 to 1"),
])
def test_point_mass_families_check_their_range(family, values, what):
    df = pd.DataFrame({"y": values, "x": [0.0, 1.0, 2.0, 3.0]})
    with pytest.raises(bmm.FamilyError, match=f"needs {what}.*'y' has 1 rows.*\\[2\\]"):
        bmm.Model("y ~ x", df, family=family)
    ok = df.assign(y=[0.0, 0.5, 0.7, 1.0])
    assert bmm.Model("y ~ x", ok, family=family).design.y.tolist() == [0.0, 0.5, 0.7, 1.0]
