"""The prior distribution table: for every distribution, the numpyro distribution the model samples, the scipy
distribution the answers read and the closed-form median agree with each other, at points across the support
and at its edges; the prior strings are checked against the table with the messages users see."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import pytest

from bayesmm.distributions import DISTRIBUTIONS, SUPPORTS, HalfStudentT
from bayesmm.errors import PriorError
from bayesmm.model.program import prior_distribution
from bayesmm.priors import SIGMA_SCALABLE, in_units_of, parse_prior

numpyro.enable_x64()  # as every fit does

#: one prior per distribution with a density, with arguments away from the defaults
SPECS = ["normal(1, 2)", "student_t(3, -1, 2.5)", "cauchy(0.5, 3)", "logistic(-1, 0.7)", "laplace(2, 1.5)",
         "uniform(-3, 5)", "half_normal(2)", "half_student_t(3, 2.5)", "half_cauchy(4)", "exponential(0.3)",
         "gamma(2, 0.1)", "inverse_gamma(0.5, 0.5)", "lognormal(0.3, 1.2)", "beta(2.5, 0.7)"]
#: per support: points inside, and its edges (where the density may be infinite or the support open; far in
#: the tails for the real line)
POINTS = {"real": ([-40.0, -1.3, 0.0, 0.4, 2.7, 40.0], [-1e3, 1e3]),
          "positive": ([1e-6, 0.3, 2.0, 17.0, 300.0], [0.0, 1e-12]),
          "unit": ([1e-6, 0.2, 0.5, 0.9, 1 - 1e-6], [0.0, 1e-12, 1 - 1e-12, 1.0]),
          "interval": ([-2.9, 0.0, 4.99], [-3.0, 5.0])}


def test_every_distribution_is_covered():
    assert {s.split("(")[0] for s in SPECS} == set(DISTRIBUTIONS) - {"lkj", "flat"}
    assert all(record.support in SUPPORTS for record in DISTRIBUTIONS.values())
    assert all(set(record.positive) <= set(record.arguments) for record in DISTRIBUTIONS.values())


def _both(text):
    spec = parse_prior(text)
    return spec, prior_distribution(spec), DISTRIBUTIONS[spec.dist].scipy(spec.args)


@pytest.mark.parametrize("text", SPECS)
def test_numpyro_and_scipy_log_densities_agree(text):
    spec, law, closed_form = _both(text)
    inside, edges = POINTS[spec.support]
    x = np.array(inside)
    np.testing.assert_allclose(np.asarray(law.log_prob(jnp.asarray(x))), closed_form.logpdf(x), rtol=1e-12)
    for edge in edges:  # where numpyro's support holds the edge, the densities agree there too
        if bool(law.support(jnp.asarray(edge))):
            assert float(law.log_prob(jnp.asarray(edge))) == pytest.approx(float(closed_form.logpdf(edge)),
                                                                           rel=1e-12), (text, edge)
        else:
            assert spec.support != "real" and edge in (0.0, 1.0), (text, edge)


@pytest.mark.parametrize("text", SPECS)
def test_support_is_numpyro_support(text):
    spec, law, closed_form = _both(text)
    inside, _ = POINTS[spec.support]
    assert all(bool(law.support(jnp.asarray(x))) for x in inside), text
    outside = {"real": [], "positive": [-0.5], "unit": [-0.5, 1.5], "interval": [-3.5, 5.5]}[spec.support]
    for x in outside:
        assert not bool(law.support(jnp.asarray(x))) and closed_form.pdf(x) == 0, (text, x)


@pytest.mark.parametrize("text", SPECS)
def test_median_and_quantiles(text):
    spec, law, closed_form = _both(text)
    median = DISTRIBUTIONS[spec.dist].median([float(a) for a in spec.args])
    assert median == pytest.approx(float(closed_form.ppf(0.5)), rel=1e-10)
    assert float(closed_form.cdf(median)) == pytest.approx(0.5, rel=1e-10)
    q = np.array([0.001, 0.05, 0.3, 0.5, 0.8, 0.99])
    np.testing.assert_allclose(closed_form.cdf(closed_form.ppf(q)), q, rtol=1e-9)
    inside, _ = POINTS[spec.support]
    try:  # numpyro's CDF where it has one (not for the folded half-t)
        numpyro_cdf = np.asarray(law.cdf(jnp.asarray(inside)))
    except NotImplementedError:
        return
    np.testing.assert_allclose(numpyro_cdf, closed_form.cdf(inside), rtol=1e-9, atol=1e-15)


def test_half_student_t_methods_agree():
    half = HalfStudentT(3.0, 2.5)
    x = np.array([-1.0, 0.0, 0.5, 3.0, 40.0])
    np.testing.assert_allclose(np.exp(half.logpdf(x)), half.pdf(x), rtol=1e-14)
    assert half.cdf(-1.0) == 0.0 and half.pdf(-1.0) == 0.0 and half.logpdf(-1.0) == -np.inf
    np.testing.assert_allclose(half.cdf(half.ppf([0.1, 0.5, 0.9])), [0.1, 0.5, 0.9], rtol=1e-12)
    assert HalfStudentT(2.0, 1.0).std() == np.inf


def test_flat_and_lkj():
    flat = prior_distribution(parse_prior("flat()"), size=3)
    assert not DISTRIBUTIONS["flat"].proper and flat.batch_shape == (3,)
    assert float(jnp.sum(flat.log_prob(jnp.array([-1e3, 0.0, 5.0])))) == 0.0
    assert DISTRIBUTIONS["flat"].median([]) == 0.0 and DISTRIBUTIONS["flat"].scipy is None
    lkj = DISTRIBUTIONS["lkj"]
    assert lkj.support == "correlation" and lkj.scipy is None and lkj.median is None
    with pytest.raises(ValueError, match="no numpyro distribution"):
        prior_distribution(parse_prior("lkj(2)"))


@pytest.mark.parametrize("text", [s for s in SPECS if s.split("(")[0] in SIGMA_SCALABLE
                                  and DISTRIBUTIONS[s.split("(")[0]].scale_argument])
def test_scale_argument_scales_the_variable(text):
    """``in_units_of(spec, c)`` is the prior of ``c X``: density ``f(x / c) / c``."""
    spec, _, closed_form = _both(text)
    scaled = in_units_of(spec, 3.0)
    x = np.array([0.2, 1.0, 7.0])
    np.testing.assert_allclose(DISTRIBUTIONS[spec.dist].scipy(scaled.args).logpdf(x),
                               closed_form.logpdf(x / 3.0) - np.log(3.0), rtol=1e-12)


def test_half_forms():
    assert {name: record.half for name, record in DISTRIBUTIONS.items() if record.half} == {
        "normal": "half_normal", "student_t": "half_student_t", "cauchy": "half_cauchy"}
    for name, record in DISTRIBUTIONS.items():
        if record.half:
            half = DISTRIBUTIONS[record.half]
            assert half.support == "positive" and half.arguments == tuple(a for a in record.arguments if a != "loc")


VALID = ("normal, student_t, cauchy, logistic, laplace, uniform, flat, half_normal, half_student_t, half_cauchy, "
         "exponential, gamma, inverse_gamma, lognormal, beta, lkj")
MESSAGES = {
    "normal(0)": "'normal' takes 2 argument(s) (loc, scale), but 'normal(0)' gives 1.",
    "flat(1)": "'flat' takes 0 argument(s) (none), but 'flat(1)' gives 1.",
    "normal(0, -1)": "The scale of 'normal(0, -1)' must be positive.",
    "student_t(0, 0, 1)": "The df of 'student_t(0, 0, 1)' must be positive.",
    "student_t(3, 0, 0)": "The scale of 'student_t(3, 0, 0)' must be positive.",
    "cauchy(0, 0)": "The scale of 'cauchy(0, 0)' must be positive.",
    "logistic(0, -1)": "The scale of 'logistic(0, -1)' must be positive.",
    "laplace(1, 0)": "The scale of 'laplace(1, 0)' must be positive.",
    "half_normal(-1)": "The scale of 'half_normal(-1)' must be positive.",
    "half_student_t(-3, 1)": "The df of 'half_student_t(-3, 1)' must be positive.",
    "half_cauchy(0)": "The scale of 'half_cauchy(0)' must be positive.",
    "exponential(0)": "The rate of 'exponential(0)' must be positive.",
    "gamma(2, -1)": "The rate of 'gamma(2, -1)' must be positive.",
    "inverse_gamma(1, 0)": "The scale of 'inverse_gamma(1, 0)' must be positive.",
    "lognormal(0, 0)": "The scale of 'lognormal(0, 0)' must be positive.",
    "beta(0, 1)": "The a of 'beta(0, 1)' must be positive.",
    "lkj(0)": "The eta of 'lkj(0)' must be positive.",
    "uniform(2, 1)": "'uniform(2, 1)': the lower bound must be below the upper bound.",
    "uniform(1, 1)": "'uniform(1, 1)': the lower bound must be below the upper bound.",
    "normal(0, 1e400)": "The arguments of 'normal(0, 1e400)' must be finite (they are (0.0, inf)).",
    "nromal(0, 1)": f"Unknown prior distribution 'nromal'. Did you mean 'normal'? Valid names: {VALID}.",
    "half_studnet_t(3, 1)": ("Unknown prior distribution 'half_studnet_t'. Did you mean 'half_student_t'? "
                             f"Valid names: {VALID}."),
}


@pytest.mark.parametrize("text", MESSAGES)
def test_bad_arguments_are_refused(text):
    with pytest.raises(PriorError) as error:
        parse_prior(text)
    assert str(error.value) == MESSAGES[text]


def test_only_scalable_priors_in_units_of_sigma():
    assert set(SIGMA_SCALABLE) == {"exponential", "gamma", "inverse_gamma", "half_normal", "half_student_t",
                                   "half_cauchy", "normal", "student_t", "cauchy"}
    with pytest.raises(PriorError, match=r"'beta\(1, 1\) \* sigma': only .* can be put in units of sigma"):
        parse_prior("beta(1, 1) * sigma")
