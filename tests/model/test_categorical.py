"""The categorical likelihood and program of bayesmm.model.categorical: probabilities against a softmax by hand,
draws against them, and the program's log density and pointwise log-likelihood against scipy on the simulated
categorical data of tests/reference (no sampling)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import numpyro.distributions as dist
from numpyro.infer.util import log_density
from scipy import special, stats

import bayesmm as bmm
from bayesmm.model import compile_model, generated, make_model
from bayesmm.model.backend import use_float64
from bayesmm.model.categorical import CategoricalScores
from bayesmm.model.likelihoods import likelihood
from bayesmm.model.simulate import response_quantity
from reference_tools import REFERENCE

use_float64()

SIM = pd.read_csv(REFERENCE / "categorical_sim.csv")


def _softmax(eta: np.ndarray) -> np.ndarray:
    logits = np.concatenate([np.zeros(eta.shape[:-1] + (1,)), eta], axis=-1)
    return special.softmax(logits, axis=-1)


def test_probabilities_are_a_softmax_with_the_reference_at_zero():
    eta = np.array([[0.3, -1.2], [40.0, -40.0], [-700.0, 2.0]])
    law = likelihood("categorical", "logit", jnp.asarray(eta), {})
    np.testing.assert_allclose(np.asarray(law.probs), _softmax(eta), rtol=1e-12, atol=1e-300)
    y = jnp.array([1.0, 3.0, 2.0])
    expected = np.log(_softmax(eta)[np.arange(3), np.array([0, 2, 1])])
    np.testing.assert_allclose(np.asarray(law.log_prob(y)), expected, rtol=1e-12)
    assert np.all(np.isfinite(np.asarray(law.log_probs())))
    assert law.batch_shape == (3,) and law.n_categories == 3


def test_draws_follow_the_probabilities():
    eta = jnp.broadcast_to(jnp.array([0.4, -0.6, 1.1]), (30_000, 3))
    law = CategoricalScores(eta)
    draws = np.asarray(jax.jit(lambda key: law.sample(key))(jax.random.PRNGKey(5)))
    probs = _softmax(np.array([0.4, -0.6, 1.1]))
    shares = np.array([np.mean(draws == k) for k in range(1, 5)])
    assert np.all(np.abs(shares - probs) < 4 * np.sqrt(probs * (1 - probs) / 30_000))


def test_predictions_take_draws_by_rows_by_predictors():
    rng = np.random.default_rng(2)
    eta = rng.normal(size=(5, 7, 2))
    probs = response_quantity("categorical", "logit", eta, {}, kind="probs")
    np.testing.assert_allclose(probs, _softmax(eta), rtol=1e-12)
    draws = response_quantity("categorical", "logit", eta, {}, kind="response", seed=1)
    assert draws.shape == (5, 7) and set(np.unique(draws)) <= {1.0, 2.0, 3.0}


def test_the_program_is_the_multinomial_logit_with_its_priors():
    model = bmm.Model("y ~ x + z + (1 | g)", SIM, family="categorical", priors={"b": {"muc_z": "student_t(4, 0, 1)"}})
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    assert structure.categories == 2 and structure.intercept_prior is None and len(structure.blocks) == 2
    rng = np.random.default_rng(3)
    params = {"b_normal": jnp.array([0.5, 1.0, 0.1, -0.4, -0.7]), "b_student_t": jnp.array([0.8]),
              "sd_0": jnp.array([0.7]), "sd_1": jnp.array([0.4]),
              "z_0": jnp.asarray(rng.normal(size=(30, 1))), "z_1": jnp.asarray(rng.normal(size=(30, 1)))}
    value, trace = log_density(make_model(structure), (data,), {}, params)
    # by hand: b = (mub: Intercept, x, z; muc: Intercept, x, z), per-category judge-like effects
    b = np.array([0.5, 1.0, 0.1, -0.4, -0.7, 0.8])
    X = np.column_stack([np.ones(len(SIM)), SIM["x"], SIM["z"]])
    _, g = np.unique(SIM["g"], return_inverse=True)
    r = [0.7 * np.asarray(params["z_0"])[:, 0], 0.4 * np.asarray(params["z_1"])[:, 0]]
    eta = np.column_stack([X @ b[:3] + r[0][g], X @ b[3:] + r[1][g]])
    codes = pd.Series(SIM["y"]).map({"a": 0, "b": 1, "c": 2}).to_numpy()
    pointwise = np.log(_softmax(eta)[np.arange(len(SIM)), codes])
    priors = {(e.cls, e.group, e.coef): e.prior for e in model.prior_entries}
    log_prior = sum(stats.norm(*priors[("b", "", name)].args).logpdf(v)
                    for name, v in zip(["mub_Intercept", "mub_x", "mub_z", "muc_Intercept", "muc_x"], b[:5]))
    log_prior += stats.t(4, 0, 1).logpdf(b[5])
    for k, term in enumerate(["mub_Intercept", "muc_Intercept"]):
        df_, scale = priors[("sd", "g", term)].args
        log_prior += np.log(2) + stats.t(df_, 0, scale).logpdf([0.7, 0.4][k])
        log_prior += np.sum(stats.norm.logpdf(np.asarray(params[f"z_{k}"])))
    assert float(value) == pytest.approx(log_prior + pointwise.sum(), rel=1e-10)
    out = generated(structure, data, {k: v[None] for k, v in params.items()})
    np.testing.assert_allclose(np.asarray(out["log_lik"])[0], pointwise, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(out["r_0"])[0, :, 0], r[0], rtol=1e-12)


def test_a_term_with_an_id_is_one_correlated_block_across_the_categories():
    """y ~ x + (1 | p | g): one block with columns mub_Intercept, muc_Intercept, its effects z_0 (diag(sd) L)' entering
    each category's predictor, and an LKJ prior on its correlation (brms's (1 | p | g) of a categorical model)."""
    model = bmm.Model("y ~ x + (1 | p | g)", SIM, family="categorical", priors={"cor": "lkj(1.5)"})
    (block,) = model.design.blocks
    assert block.columns == ("mub_Intercept", "muc_Intercept") and block.correlated and block.Z.shape == (len(SIM), 2)
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    assert structure.blocks[0].predictors == (0, 1) and structure.blocks[0].correlated
    rng = np.random.default_rng(4)
    rho = 0.6
    chol = np.array([[1.0, 0.0], [rho, np.sqrt(1 - rho ** 2)]])
    params = {"b": jnp.array([0.3, 0.8, -0.4, -0.6]), "sd_0": jnp.array([0.9, 0.5]), "L_0": jnp.asarray(chol),
              "z_0": jnp.asarray(rng.normal(size=(30, 2)))}
    value, _ = log_density(make_model(structure), (data,), {}, params)
    r = np.asarray(params["z_0"]) @ (np.array([0.9, 0.5])[:, None] * chol).T
    X = np.column_stack([np.ones(len(SIM)), SIM["x"]])
    _, g = np.unique(SIM["g"], return_inverse=True)
    eta = np.column_stack([X @ [0.3, 0.8] + r[g, 0], X @ [-0.4, -0.6] + r[g, 1]])
    codes = pd.Series(SIM["y"]).map({"a": 0, "b": 1, "c": 2}).to_numpy()
    pointwise = np.log(_softmax(eta)[np.arange(len(SIM)), codes])
    priors = {(e.cls, e.group, e.coef): e.prior for e in model.prior_entries}
    assert priors[("cor", "g", "")].dist == "lkj" and priors[("cor", "g", "")].args[0] == 1.5
    log_prior = sum(stats.norm(*priors[("b", "", name)].args).logpdf(v)
                    for name, v in zip(["mub_Intercept", "mub_x", "muc_Intercept", "muc_x"], [0.3, 0.8, -0.4, -0.6]))
    for term, sd in zip(["mub_Intercept", "muc_Intercept"], [0.9, 0.5]):
        df_, scale = priors[("sd", "g", term)].args
        log_prior += np.log(2) + stats.t(df_, 0, scale).logpdf(sd)
    log_prior += np.sum(stats.norm.logpdf(np.asarray(params["z_0"])))
    log_prior += float(dist.LKJCholesky(2, 1.5).log_prob(jnp.asarray(chol)))
    assert float(value) == pytest.approx(log_prior + pointwise.sum(), rel=1e-10)


def test_terms_without_an_id_stay_per_category_and_with_one_join():
    """(1 | h) + (1 | p | g): h's effects independent per category (two blocks, category by category), g's one
    block across them after those."""
    data = SIM.assign(h=np.arange(len(SIM)) % 7)
    design = bmm.Model("y ~ x + (1 | h) + (1 | p | g)", data, family="categorical").design
    assert [(b.group, b.columns) for b in design.blocks] == [
        ("h", ("mub_Intercept",)), ("h", ("muc_Intercept",)), ("g", ("mub_Intercept", "muc_Intercept"))]
    slope = bmm.Model("y ~ x + (1 + x | p | g)", SIM, family="categorical").design.blocks[0]
    assert slope.columns == ("mub_Intercept", "mub_x", "muc_Intercept", "muc_x")
    np.testing.assert_array_equal(slope.Z[:, [1, 3]], np.column_stack([SIM["x"], SIM["x"]]))
