"""The cumulative likelihood and the thresholds' prior of bayesmm.model.ordinal: category probabilities against
50-digit decimal arithmetic (logit, cloglog) and scipy's tail functions (probit) into both tails, finite gradients
at extreme linear predictors, draws and means against the probabilities, the ordered prior against scipy (fast;
no sampling)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from decimal import Decimal, localcontext

import numpy as np
import pytest
from scipy import stats

from bayesmm.model.backend import use_float64
from bayesmm.model.likelihoods import likelihood
from bayesmm.model.ordinal import Cumulative, OrderedPrior, category_log_probs, log1mexp
from bayesmm.model.simulate import response_quantity
from bayesmm.priors import PriorSpec

use_float64()

THRESHOLDS = np.array([-1.6, 1.5, 4.2, 6.1])
DECIMAL_CDFS = {"logit": lambda x: 1 / (1 + (-x).exp()), "cloglog": lambda x: 1 - (-(x.exp())).exp()}


def _exact_log_probs(eta: float, thresholds, link: str) -> np.ndarray:
    """log P(y = k): differences of the CDF at c_k - eta (0 and 1 at the ends) in 50-digit decimals (logit,
    cloglog); for probit, scipy's CDF or survival function, each subtracted in the tail where both are small."""
    if link == "probit":
        x = np.concatenate([[-np.inf], thresholds - eta, [np.inf]])
        a, b = x[:-1], x[1:]
        upper = (np.where(np.isfinite(a), a, 0) + np.where(np.isfinite(b), b, 0)) > 0
        return np.log(np.where(upper, stats.norm.sf(a) - stats.norm.sf(b), stats.norm.cdf(b) - stats.norm.cdf(a)))
    with localcontext() as context:
        context.prec = 50
        cdf = [Decimal(0)] + [DECIMAL_CDFS[link](Decimal(float(c)) - Decimal(eta)) for c in thresholds] + [Decimal(1)]
        return np.array([float((cdf[k + 1] - cdf[k]).ln()) for k in range(len(thresholds) + 1)])


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_category_log_probabilities_match_high_precision(link):
    """Every category, also where its probability is far below 1e-16 (a difference of CDF values near 1 that a
    plain subtraction rounds to 0)."""
    etas = np.array([-30.0, -8.0, -1.0, 0.0, 0.7, 3.0, 5.2, 12.0, 35.0])
    ours = np.asarray(jax.jit(category_log_probs, static_argnums=2)(jnp.asarray(etas), jnp.asarray(THRESHOLDS), link))
    assert np.all(np.isfinite(ours))
    for row, eta in zip(ours, etas):
        exact = _exact_log_probs(eta, THRESHOLDS, link)
        finite = np.isfinite(exact)
        np.testing.assert_allclose(row[finite], exact[finite], rtol=1e-9, atol=1e-12, err_msg=f"eta = {eta}")


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_probabilities_sum_to_one_and_the_mean_is_the_expected_score(link):
    eta = jnp.linspace(-4, 9, 27)
    law = likelihood("cumulative", link, eta, {"thresholds": jnp.asarray(THRESHOLDS)})
    probs = np.asarray(law.probs)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(law.mean), probs @ np.arange(1, 6), rtol=1e-12)
    assert law.batch_shape == (27,) and law.n_categories == 5


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_gradients_are_finite_far_out(link):
    """A chain in warmup can wander far: the log density's gradient in eta and the thresholds stays finite."""
    y = jnp.array([1.0, 3.0, 5.0, 2.0, 4.0, 1.0, 5.0])
    eta = jnp.array([-60.0, -900.0, 60.0, 900.0, 0.0, 40.0, -40.0])

    def total(eta, thresholds):
        return jnp.sum(Cumulative(eta, thresholds, link).log_prob(y))

    value, grads = jax.jit(jax.value_and_grad(total, argnums=(0, 1)))(eta, jnp.asarray(THRESHOLDS))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
    assert np.isfinite(float(value))


def test_log_probability_picks_the_observed_category():
    eta = jnp.array([0.3, -1.0, 2.0])
    law = Cumulative(eta, jnp.asarray(THRESHOLDS), "logit")
    y = jnp.array([2.0, 1.0, 5.0])
    every = np.asarray(law.log_probs())
    np.testing.assert_allclose(np.asarray(law.log_prob(y)), every[np.arange(3), np.array([1, 0, 4])], rtol=1e-14)
    # against scipy's logistic CDF for a middle category
    expected = np.log(stats.logistic.cdf(1.5 - 0.3) - stats.logistic.cdf(-1.6 - 0.3))
    assert float(law.log_prob(y)[0]) == pytest.approx(expected, rel=1e-12)


def test_draws_follow_the_probabilities():
    eta = jnp.zeros(40_000) + 1.3
    law = Cumulative(eta, jnp.asarray(THRESHOLDS), "probit")
    draws = np.asarray(jax.jit(lambda key: law.sample(key))(jax.random.PRNGKey(3)))
    assert set(np.unique(draws)) <= {1, 2, 3, 4, 5}
    shares = np.array([np.mean(draws == k) for k in range(1, 6)])
    probs = np.asarray(law.probs)[0]
    assert np.all(np.abs(shares - probs) < 4 * np.sqrt(probs * (1 - probs) / 40_000) + 1e-4)


def test_per_draw_thresholds_broadcast_against_draws_by_rows():
    """Predictions pass eta as draws x rows and the thresholds as draws x (K - 1)."""
    rng = np.random.default_rng(1)
    eta = rng.normal(size=(6, 4))
    thresholds = np.sort(rng.normal(size=(6, 3)) * 2, axis=1)
    probs = response_quantity("cumulative", "logit", eta, {"thresholds": thresholds}, kind="probs")
    assert probs.shape == (6, 4, 4)
    for d in range(6):
        for r in range(4):
            cdf = np.concatenate([[0], stats.logistic.cdf(thresholds[d] - eta[d, r]), [1]])
            np.testing.assert_allclose(probs[d, r], np.diff(cdf), atol=1e-12)
    mean = response_quantity("cumulative", "logit", eta, {"thresholds": thresholds}, kind="mean")
    np.testing.assert_allclose(mean, probs @ np.arange(1, 5), rtol=1e-12)
    draws = response_quantity("cumulative", "logit", eta, {"thresholds": thresholds}, kind="response", seed=2)
    assert draws.shape == (6, 4) and set(np.unique(draws)) <= {1.0, 2.0, 3.0, 4.0}


def test_ordered_prior_is_the_sum_of_its_elements_densities_and_samples_sorted():
    specs = (PriorSpec("student_t", (3.0, 0.0, 2.5)), PriorSpec("normal", (1.0, 2.0)), PriorSpec("flat", ()))
    prior = OrderedPrior(specs)
    value = jnp.array([-1.0, 0.5, 3.0])
    expected = stats.t(3, 0, 2.5).logpdf(-1.0) + stats.norm(1, 2).logpdf(0.5)
    assert float(prior.log_prob(value)) == pytest.approx(expected, rel=1e-12)
    same = OrderedPrior((PriorSpec("student_t", (3.0, 0.0, 2.5)),) * 4)
    draws = np.asarray(jax.jit(lambda key: same.sample(key, (20_000,)))(jax.random.PRNGKey(0)))
    assert draws.shape == (20_000, 4) and np.all(np.diff(draws, axis=1) >= 0)
    # the order statistics of four t(3, 0, 2.5) draws: the smallest's median is below the t's lower quartile
    assert np.median(draws[:, 0]) < stats.t(3, 0, 2.5).ppf(0.25)
    assert prior.support.check(value) and not prior.support.check(jnp.array([1.0, 0.0, 2.0]))


def test_log1mexp_is_accurate_at_both_ends():
    a = [-1e-20, -1e-5, -0.5, -3.0, -50.0]
    with localcontext() as context:
        context.prec = 50
        expected = [float((1 - Decimal(x).exp()).ln()) for x in a]
    np.testing.assert_allclose(np.asarray(log1mexp(jnp.asarray(a))), expected, rtol=1e-12)


# ------------------------------------------------------------------------------------- the program
def _wine_model(link: str = "logit"):
    import bayesmm as bmm

    return bmm.Model("rating ~ temp + contact + (1 | judge)", bmm.datasets.load("wine"), family="cumulative",
                     link=link, priors={"Intercept": {"3": "normal(4, 2)"}})


def _hand(model, params: dict, link: str) -> tuple[float, np.ndarray]:
    """(log prior, pointwise log-likelihood) from scipy: each threshold's prior, the slopes', the SD's and the
    standard-normal raw effects; ``P(y = k) = F(c_k - eta) - F(c_{k-1} - eta)`` at the data's thresholds."""
    design, entries = model.design, model.prior_entries
    p = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    priors = {(e.cls, e.coef): e.prior for e in entries}
    scipy = {"student_t": stats.t, "normal": stats.norm}
    density = lambda spec, x: scipy[spec.dist](*spec.args).logpdf(x)  # noqa: E731
    log_prior = sum(density(priors[("Intercept", str(k + 1))], c) for k, c in enumerate(p["thresholds_c"]))
    log_prior += sum(density(priors[("b", name)], p["b"][j]) for j, name in enumerate(design.fixed_names))
    df_, scale = priors[("sd", "Intercept")].args
    log_prior += np.log(2) + stats.t(df_, 0, scale).logpdf(p["sd_0"][0]) + np.sum(stats.norm.logpdf(p["z_0"]))
    X = design.X
    effects = p["sd_0"][0] * p["z_0"][:, 0]
    eta = (X - X.mean(axis=0)) @ p["b"] + effects[design.blocks[0].group_index]
    cdf = {"logit": stats.logistic.cdf, "probit": stats.norm.cdf, "cloglog": lambda x: -np.expm1(-np.exp(x))}[link]
    survival = {"logit": stats.logistic.sf, "probit": stats.norm.sf, "cloglog": lambda x: np.exp(-np.exp(x))}[link]
    cuts = np.concatenate([[-np.inf], p["thresholds_c"], [np.inf]])
    k = design.y.astype(int)
    low, high = cuts[k - 1] - eta, cuts[k] - eta
    with np.errstate(invalid="ignore"):  # each difference in the tail where both terms are small
        upper = np.nan_to_num(low, neginf=0.0) + np.nan_to_num(high, posinf=0.0) > 0
        pointwise = np.log(np.where(upper, survival(low) - survival(high), cdf(high) - cdf(low)))
    return float(log_prior), pointwise


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_the_program_is_the_cumulative_model_with_its_priors(link):
    from numpyro.infer.util import log_density

    from bayesmm.model import compile_model, generated, make_model

    model = _wine_model(link)
    structure, data = compile_model(model.design, model.family, model.prior_entries, centred=False)
    assert structure.intercept_prior is None and len(structure.thresholds) == 4
    rng = np.random.default_rng(4)
    params = {"thresholds_c": jnp.array([-2.0, 0.4, 2.9, 4.6]), "b": jnp.array([2.5, 1.5]),
              "sd_0": jnp.array([1.1]), "z_0": jnp.asarray(rng.normal(size=(9, 1)))}
    log_prior, pointwise = _hand(model, params, link)
    value, _ = log_density(make_model(structure), (data,), {}, params)
    assert float(value) == pytest.approx(log_prior + pointwise.sum(), rel=1e-10)
    out = generated(structure, data, {k: v[None] for k, v in params.items()})
    np.testing.assert_allclose(np.asarray(out["log_lik"])[0], pointwise, rtol=1e-10)
    # the reported thresholds are those of the uncentred predictors: c_k + x_means @ b
    shift = model.design.X.mean(axis=0) @ np.asarray(params["b"])
    np.testing.assert_allclose(np.asarray(out["thresholds"])[0], np.asarray(params["thresholds_c"]) + shift,
                               rtol=1e-12)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_the_likelihood_is_ordinal_clmms(link):
    """The wine data's marginal log-likelihood at ordinal::clmm's estimates, integrated over the judges by 60-node
    Gauss-Hermite quadrature, equals the same integral of R's CDF differences (ordinal_reference.R's ``gh_loglik``).
    clmm's cloglog fit is its link "loglog": its labels are interchanged in ordinal 2022.11.16 (the JSON keeps the
    evidence: clmm's own logLik is its estimates' integral under the loglog CDF)."""
    import json

    import bayesmm as bmm
    from reference_tools import REFERENCE

    clmm = json.loads((REFERENCE / "ordinal.json").read_text())["wine"]["clmm"]
    wine = bmm.datasets.load("wine")
    X = np.column_stack([(wine["temp"] == "warm").to_numpy(float), (wine["contact"] == "yes").to_numpy(float)])
    fit = clmm[link]
    eta = X @ np.array(list(fit["beta"].values()))
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    shifted = eta[:, None] + fit["judge_sd"] * nodes[None, :]
    law = Cumulative(jnp.asarray(shifted), jnp.asarray(list(fit["thresholds"].values())), link)
    rows = np.exp(np.asarray(law.log_prob(jnp.asarray(wine["rating"].to_numpy(float))[:, None])))
    total = sum(np.log(np.prod(rows[(wine["judge"] == judge).to_numpy()], axis=0) @ (weights / weights.sum()))
                for judge in wine["judge"].unique())
    assert total == pytest.approx(fit["gh_loglik"], abs=1e-8)
    assert abs(total - fit["logLik"]) < 0.2  # clmm's Laplace approximation
    labelled = clmm["cloglog_as_labelled"]
    assert labelled["gh_loglik_loglog"] == pytest.approx(labelled["logLik"], abs=0.05)
    assert labelled["gh_loglik_cloglog"] < labelled["logLik"] - 5
