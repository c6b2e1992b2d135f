"""The distribution-specific variances of ``bayesmm/answers/link_variance.py`` against simulated truths: responses
drawn from bayesmm's own observation distributions (``bayesmm.model.simulate.response_quantity``, the sampler's
likelihood table), so a rule that mistakes a family's parameterisation fails here. The rules' agreement with
performance at the ML estimates is in ``tests/answers/test_r2.py``."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import bayesmm as bmm
from bayesmm.answers.link_variance import (MEAN_SLOPES, NAKAGAWA_UNDEFINED, SUPPORTED, check_family,
                                           distribution_variance, row_variance, uses_typical_mean)
from bayesmm.links import LINKS, NUMPY_INVERSE_LINKS
from bayesmm.model.simulate import response_quantity

N = 200_000


def simulate(family: str, link: str, eta0: float, aux: dict, n: int = N, seed: int = 0) -> np.ndarray:
    """``n`` responses at linear predictor ``eta0`` with the family parameters ``aux`` (scalars)."""
    eta = np.full((n, 1), eta0)
    return response_quantity(family, link, eta, {k: np.full(n, v, dtype=float) for k, v in aux.items()},
                             kind="response", seed=seed)[:, 0]


def rule(family: str, link: str, eta0: float, aux: dict) -> float:
    """The distribution variance for one draw at ``eta0`` (one row at ``eta0`` too)."""
    value = distribution_variance(family, link, np.array([eta0]), np.array([[eta0]]),
                                  {k: np.array([v], dtype=float) for k, v in aux.items()})
    return float(value[0])


@pytest.mark.parametrize("link", list(MEAN_SLOPES))
def test_mean_slopes_are_the_inverse_links_derivatives(link):
    eta = np.array([0.3, 1.2, 2.5]) if link == "inverse" else np.array([-2.0, -0.4, 0.0, 0.7, 1.5])
    step = 1e-6
    numeric = (NUMPY_INVERSE_LINKS[link](eta + step) - NUMPY_INVERSE_LINKS[link](eta - step)) / (2 * step)
    np.testing.assert_allclose(MEAN_SLOPES[link](eta), numeric, rtol=1e-6)


@pytest.mark.parametrize("family, link, eta0, aux", [
    ("beta", "logit", -0.6, {"phi": 20.0}),  # var(logit y) = trigamma(mu phi) + trigamma((1 - mu) phi)
    ("beta", "logit", 0.4, {"phi": 1.5}),  # small mu phi: where the delta method falls short
    ("weibull", "log", 1.0, {"shape": 2.0}),  # var(log y) = pi²/6 / shape²
    ("weibull", "log", 0.2, {"shape": 0.7}),
    ("exponential", "log", 0.5, {}),  # pi²/6
    ("lognormal", "identity", 1.0, {"sigma": 0.4}),  # var(log y) = sigma²
])
def test_exact_rules_are_the_link_scale_variance_of_simulated_responses(family, link, eta0, aux):
    y = simulate(family, link, eta0, aux)
    scale = np.log(y) if family in ("weibull", "exponential", "lognormal") else special.logit(y)
    assert rule(family, link, eta0, aux) == pytest.approx(scale.var(), rel=0.02)


@pytest.mark.parametrize("family, link, eta0, aux", [
    ("gamma", "inverse", 0.34, {"shape": 4.0}), ("gamma", "identity", 3.0, {"shape": 2.0}),
    ("gamma", "log", 1.0, {"shape": 3.0}),  # insight's 1/shape: the delta method on the log link
    ("weibull", "inverse", 0.5, {"shape": 1.5}), ("weibull", "identity", 2.0, {"shape": 3.0}),
    ("exponential", "inverse", 0.8, {}), ("exponential", "identity", 2.0, {}),
    ("poisson", "identity", 12.0, {}), ("negbinomial", "identity", 12.0, {"phi": 3.0}),
    ("beta", "probit", -0.3, {"phi": 5.0}), ("beta", "cloglog", -0.5, {"phi": 5.0}),
])
def test_delta_rules_are_the_delta_method_of_the_simulated_variance(family, link, eta0, aux):
    """var(y) g'(mu0)² = var(y) / (dmu/deta)²: the family's variance (its parameterisation) and the link's slope."""
    y = simulate(family, link, eta0, aux)
    slope = np.exp(eta0) if link == "log" else MEAN_SLOPES[link](np.array(eta0))
    assert rule(family, link, eta0, aux) == pytest.approx(y.var() / slope ** 2, rel=0.02)


@pytest.mark.parametrize("family, aux", [("gaussian", {"sigma": 8.0}), ("student_t", {"sigma": 8.0, "nu": 1e4})])
def test_log_link_rules_are_the_lognormal_approximation_of_the_simulated_variance(family, aux):
    """log(1 + var(y) / lambda²); for student_t var(y) with the scale's square (nu large here: its variance is
    sigma² nu / (nu - 2), which the rule leaves out)."""
    y = simulate(family, "log", 3.0, aux)
    assert rule(family, "log", 3.0, aux) == pytest.approx(np.log1p(y.var() / np.exp(6.0)), rel=0.02)


@pytest.mark.parametrize("family, link, eta0, aux, g", [
    ("gamma", "inverse", 0.34, {"shape": 115.0}, lambda y: 1 / y),  # sleepstudy's Reaction/100
    ("gamma", "log", 1.0, {"shape": 100.0}, np.log),
    ("beta", "probit", -0.3, {"phi": 300.0}, special.ndtri),
    ("beta", "cloglog", -0.5, {"phi": 300.0}, lambda y: np.log(-np.log1p(-y))),
    ("gaussian", "log", 3.0, {"sigma": 1.0}, np.log),
])
def test_first_order_rules_near_the_link_scale_variance_at_small_dispersion(family, link, eta0, aux, g):
    """Where the dispersion is small the delta and lognormal rules come near the simulated variance of g(y)
    (within 5%). Skewed distributions need it smaller: a Weibull of shape 8 on an inverse link gives 0.0055
    against var(1/y) = 0.0085 (see bayesmm/answers/link_variance.py)."""
    y = simulate(family, link, eta0, aux)
    assert rule(family, link, eta0, aux) == pytest.approx(g(y).var(), rel=0.05)


@pytest.mark.parametrize("family, aux", [
    ("hurdle_poisson", {"hu": 0.3}), ("hurdle_negbinomial", {"hu": 0.6, "phi": 1.5}),
    ("zero_inflated_poisson", {"zi": 0.25}), ("zero_inflated_negbinomial", {"zi": 0.4, "phi": 2.0}),
])
@pytest.mark.parametrize("eta0", [-1.0, 0.5, 2.0])
def test_row_variance_is_the_variance_of_simulated_counts(family, aux, eta0):
    y = simulate(family, "log", eta0, aux)
    value = row_variance(family, np.array([[np.exp(eta0)]]), {k: np.array([v]) for k, v in aux.items()})
    assert float(value[0, 0]) == pytest.approx(y.var(), rel=0.03)


def test_hurdle_rule_is_the_lognormal_approximation_of_the_rows_mean_variance():
    """log(1 + mean over rows of var(y) / lambda²), lambda = exp(eta0)."""
    eta = np.array([[-0.5, 0.4, 1.8]])
    aux = {"hu": np.array([[0.2, 0.5, 0.7]])}  # hu with its own formula: one value per row
    variances = [simulate("hurdle_poisson", "log", e, {"hu": h}).var() for e, h in zip(eta[0], aux["hu"][0])]
    value = distribution_variance("hurdle_poisson", "log", np.array([0.3]), eta, aux)[0]
    assert value == pytest.approx(np.log1p(np.mean(variances) / np.exp(0.3) ** 2), rel=0.03)


def test_hurdle_gamma_variance_is_the_simulated_one():
    """(1 - hu) mu² (1 + 1/shape) - ((1 - hu) mu)² against the variance of 200,000 hurdle gamma draws."""
    y = simulate("hurdle_gamma", "log", 0.7, {"shape": 3.0, "hu": 0.3})
    value = row_variance("hurdle_gamma", np.array([[np.exp(0.7)]]), {"shape": np.array([3.0]), "hu": np.array([0.3])})
    assert float(value[0, 0]) == pytest.approx(y.var(), rel=0.03)


@pytest.mark.parametrize("shape", [0.6, 1.0, 2.5])
def test_com_poisson_rule_is_the_lognormal_approximation_of_its_moments(shape):
    """log(1 + var(y) / E(y)²) of the Conway-Maxwell-Poisson at mu = exp(eta0), against 200,000 draws (under- and
    over-dispersed; shape 1 is the Poisson's log(1 + 1/lambda))."""
    y = simulate("com_poisson", "log", np.log(4.0), {"shape": shape})
    value = rule("com_poisson", "log", np.log(4.0), {"shape": shape})
    assert value == pytest.approx(np.log1p(y.var() / y.mean() ** 2), rel=0.03)
    if shape == 1.0:
        assert value == pytest.approx(np.log1p(1 / 4.0), rel=1e-9)


def test_every_family_and_link_has_a_rule():
    """Every family of bayesmm.families with a mean (responses in categories have none), with every link, except
    those without a variance on the link scale, which are refused with the reason (fit.r2() gives them the
    Bayesian R² alone): a new family forces a decision here."""
    from bayesmm.families import FAMILIES

    with_mean = {name: f for name, f in FAMILIES.items() if f.response not in ("ordinal", "categorical")}
    assert {name: sorted(f.links) for name, f in with_mean.items() if name not in NAKAGAWA_UNDEFINED} == {
        name: sorted(links) for name, links in SUPPORTED.items()}
    assert all(link in LINKS for links in SUPPORTED.values() for link in links)
    assert set(NAKAGAWA_UNDEFINED) == {"zero_inflated_binomial", "hurdle_lognormal", "zero_one_inflated_beta",
                                       "ordbeta"}
    for name, reason in NAKAGAWA_UNDEFINED.items():
        with pytest.raises(bmm.FamilyError, match=f"family '{name}': {reason[:20]}.*Bayesian R"):
            check_family(name, FAMILIES[name].links[0])


def test_a_family_without_a_rule_is_refused_with_the_supported_ones():
    with pytest.raises(bmm.FamilyError, match=r"family 'cumulative' with link 'logit'.*gaussian \(identity, log\)"):
        check_family("cumulative", "logit")


@pytest.mark.parametrize("family, link, needs", [
    ("gaussian", "identity", False), ("bernoulli", "logit", False), ("poisson", "sqrt", False),
    ("gamma", "log", False), ("weibull", "log", False), ("poisson", "log", True), ("beta", "logit", True),
    ("gamma", "inverse", True), ("gaussian", "log", True), ("hurdle_poisson", "log", True),
])
def test_which_rules_use_the_typical_mean(family, link, needs):
    """A rule that needs no typical mean gives the same variance at any eta0 (and r2 refuses a null_fit)."""
    assert uses_typical_mean(family, link) is needs
    aux = {"sigma": 2.0, "shape": 3.0, "phi": 5.0, "hu": 0.3}
    values = {rule(family, link, eta0, aux) for eta0 in (0.2, 1.1)}
    assert (len(values) == 2) is needs
