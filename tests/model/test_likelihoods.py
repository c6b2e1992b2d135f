"""Likelihood classes (bayesmm.model.likelihoods) on a count panel: thousands of levels with a few rows each
(COUNT's rwm5yr shape), and what made it slow.

The negative binomial's log-pmf took three log-gammas per row (and their digammas in the gradient): 1.6 of a
2.5 ms gradient on 21,058 rows. Counts take few distinct values, so the log-gammas are computed once per value
(``likelihoods.TabledCounts``), exactly, also where the NB2 nears its Poisson limit (``phi`` large), where the
difference of log-gammas lost 0.1 per count and held a chain there at the maximum tree depth. XLA's YNNPACK
fusions (jaxlib 0.10) summed levels x columns arrays 15x slower than XLA's own loops; the sampler is compiled
without them (``nuts.compiler_options``). A start with negative curvature (``phi`` at its prior median) no
longer leaves that coordinate at unit scale for the first hundred warmup iterations
(``coordinates.initial_mass``: tests/sampler/test_coordinates.py). ``benchmarks/panel.py`` times the whole fit.
The other likelihood classes (hurdle, zero-inflated, beta-binomial) are checked in tests/test_families.py.
"""
from __future__ import annotations

from bayesmm.model.backend import use_float64

import math

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model import compile_model
from bayesmm.model.likelihoods import NegativeBinomial2, TabledCounts, count_table
from bayesmm.model.softplus import NEAR, softplus
from bayesmm.sampler.nuts import YNN_OFF, compiled, compiler_options, shapes_key, starting_points
from simulators import PANEL_FORMULA, PANEL_TRUTH, count_panel

use_float64()  # as every fit does, before jax arrays are made here


def _compiled(df: pd.DataFrame, family: str):
    model = bmm.Model(PANEL_FORMULA, df, family=family)
    structure, data = compile_model(model.design, model.family, model.prior_entries, None, None)
    return structure, data


def test_count_table():
    y = np.array([0, 3, 0, 1, 3, 0, 7.0, 0, 0, 1])
    values, code, counts, run = count_table(y, "negbinomial", "log", np.array([1, 2, 1, 1, 1, 3, 1.0, 1, 1, 2]))
    np.testing.assert_array_equal(values, [0, 1, 3, 7])
    np.testing.assert_array_equal(values[code], y)
    np.testing.assert_array_equal(counts, [7, 3, 3, 1])
    np.testing.assert_array_equal(run, np.arange(7))
    assert count_table(y, "poisson", "log")[3] is None
    assert count_table(y, "negbinomial", "identity") is None  # other links keep the family's own log-pmf
    assert count_table(y, "bernoulli", "logit") is None
    assert count_table(np.arange(10.0), "poisson", "log") is None  # every value distinct: nothing to gain


@pytest.mark.parametrize("phi", [0.01, 0.5, 3.0, 1e3, 1e8, 1e13])
def test_tabled_counts_match_the_log_pmf_and_stay_exact_towards_the_poisson_limit(phi):
    rng = np.random.default_rng(0)
    y = rng.negative_binomial(0.7, 0.3, 300).astype(float)
    eta = jnp.asarray(rng.normal(0.0, 2.0, y.size))
    values, code, counts, run = (jnp.asarray(a) for a in count_table(y, "negbinomial", "log"))
    law = TabledCounts(eta, phi, values, code, run)
    pointwise = np.asarray(law.log_prob(y))
    # the rows' part plus the log-gammas once per value: the same total
    total = float(jnp.sum(law.rows().log_prob(y)) + law.constant_sum(counts))
    assert total == pytest.approx(float(pointwise.sum()), rel=1e-12, abs=1e-9)
    # against the log-pmf with lgamma(y + phi) - lgamma(phi) summed exactly from logs
    mu = np.exp(np.asarray(eta))
    exact = np.array([math.fsum(math.log(phi + k) for k in range(int(v))) - math.lgamma(v + 1.0)
                      - phi * math.log1p(m / phi) + v * (math.log(m) - math.log(m + phi)) for v, m in zip(y, mu)])
    # the softplus's bounded correction term is computed in float32 (likelihoods._correction): each row is off
    # by at most 3e-7 of its (y + phi) softplus(eta - log phi) term, which is mu near the poisson limit
    t = np.asarray(eta) - math.log(phi)
    scale = (y + phi) * np.logaddexp(0.0, t)
    assert np.all(np.abs(pointwise - exact) <= 3e-7 * scale + 1e-9 * (1.0 + np.abs(exact)))
    if phi <= 1e3:  # where the log-gammas per row are exact too: the same values and gradient as the NB2
        reference = np.asarray(NegativeBinomial2(jnp.exp(eta), phi).log_prob(y))
        assert np.all(np.abs(pointwise - reference) <= 3e-7 * scale + 1e-11)
        grad = jax.grad(lambda p: jnp.sum(TabledCounts(eta, p, values, code, run).log_prob(y)))(phi)
        expected = jax.grad(lambda p: jnp.sum(NegativeBinomial2(jnp.exp(eta), p).log_prob(y)))(phi)
        assert float(grad) == pytest.approx(float(expected), rel=1e-6)
    poisson = TabledCounts(eta, None, values, code)
    np.testing.assert_allclose(np.asarray(poisson.log_prob(y)),
                               y * np.asarray(eta) - mu - np.array([math.lgamma(v + 1) for v in y]), rtol=1e-12)


def _row_sized_log_gammas(jaxpr, rows: int) -> list[str]:
    """The lgamma/digamma equations of ``jaxpr`` (nested ones included) whose output has ``rows`` elements."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("lgamma", "digamma", "polygamma") and any(
                np.prod(v.aval.shape) == rows for v in eqn.outvars):
            found.append(eqn.primitive.name)
        for sub in jax.core.jaxprs_in_params(eqn.params):
            found += _row_sized_log_gammas(sub, rows)
    return found


@pytest.mark.parametrize("family", ["negbinomial", "poisson"])
def test_panel_gradient_takes_no_log_gamma_per_row(family):
    """The fixed cause, pinned: the log density's gradient of a count panel evaluates no log-gamma (nor digamma)
    per row, and the compiled program has no YNNPACK fusion."""
    df = count_panel(300, family)
    structure, data = _compiled(df, family)
    assert data.y_table is not None and data.y_table[0].shape[0] < 30
    potential = compiled(structure, shapes_key(data)).potential
    init, _ = starting_points(structure, data, 0, 1)
    z = {k: v[0] for k, v in init.items()}
    gradient = jax.value_and_grad(lambda point: potential(point, data))
    assert _row_sized_log_gammas(jax.make_jaxpr(gradient)(z).jaxpr, len(df)) == []
    # the same gradient without the table does take them per row: the check above can see them
    plain = data._replace(y_table=None)
    plain_potential = compiled(structure, shapes_key(plain)).potential
    assert _row_sized_log_gammas(jax.make_jaxpr(jax.grad(lambda p: plain_potential(p, plain)))(z).jaxpr, len(df))
    if jax.default_backend() == "cpu":
        options = compiler_options(1e9)
        assert YNN_OFF.items() <= options.items() and YNN_OFF.items() <= compiler_options(0).items()
        text = jax.jit(gradient).lower(z).compile(compiler_options=options).as_text()
        assert "__ynn_fusion" not in text


@pytest.mark.filterwarnings("ignore::bayesmm.BayesMMWarning")  # 2 x 300 draws: short of the ESS a report asks
def test_small_panel_recovers_the_simulation():
    """A short NUTS fit of a 600-level panel (about 2,100 rows, 80% zeros): no divergence, no draw at the
    maximum tree depth, and every fixed effect, the SD and ``phi`` within three posterior SDs of the truth."""
    df = count_panel(600)
    fit = bmm.fit(PANEL_FORMULA, df, family="negbinomial", chains=2, draws=300, warmup=300, seed=3, refit=False)
    assert fit.n_divergent == 0
    assert int(np.sum(np.asarray(fit.idata.sample_stats["n_steps"]) >= 1023)) == 0
    table = fit.tidy().set_index("term")
    assert table["rhat"].max() < 1.03, table
    for term, truth in PANEL_TRUTH.items():
        row = table.loc[term]
        assert abs(row["estimate"] - truth) < 3 * row["std_error"] + 0.02, (term, row["estimate"], row["std_error"])


def test_negative_binomial_with_a_dispersion_formula_is_not_tabled():
    """phi per row (a dispersion formula) cannot share one table of log-gammas per count: the plain NB2 is used,
    and a fit agrees with glmmTMB (salamanders, count ~ mined + (1 | site), dispformula = ~ mined, nbinom2:
    cond 0.784, -2.187; disp -0.341, -1.029; site SD 0.413)."""
    from scipy import stats

    from bayesmm.model.likelihoods import likelihood

    salamanders = bmm.datasets.load("salamanders")
    model = bmm.Model("count ~ mined + (1 | site)", salamanders, family="negbinomial", dispersion="~ mined")
    assert compile_model(model.design, model.family, model.prior_entries)[1].y_table is None
    plain = bmm.Model("count ~ mined + (1 | site)", salamanders, family="negbinomial")
    assert compile_model(plain.design, plain.family, plain.prior_entries)[1].y_table is not None
    y = np.array([0.0, 1, 0, 3, 1, 0, 2, 0])
    eta, phi = jnp.linspace(-1.0, 1.0, y.size), jnp.linspace(0.5, 4.0, y.size)
    law = likelihood("negbinomial", "log", eta, {"phi": phi})
    assert not isinstance(law, TabledCounts)
    mu = np.exp(np.asarray(eta))
    expected = stats.nbinom.logpmf(y, np.asarray(phi), np.asarray(phi) / (np.asarray(phi) + mu))
    np.testing.assert_allclose(np.asarray(law.log_prob(jnp.asarray(y))), expected, rtol=1e-10)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("count ~ mined + (1 | site)", bmm.datasets.load("salamanders"), family="negbinomial",
                      dispersion="~ mined", chains=2, draws=400, warmup=400, seed=1)
    table = fit.tidy().set_index(["component", "term"])
    for (component, term), value in {("cond", "Intercept"): 0.784, ("cond", "mined[yes]"): -2.187,
                                     ("disp", "Intercept"): -0.341, ("disp", "mined[yes]"): -1.029}.items():
        row = table.loc[(component, term)]
        assert abs(row["estimate"] - value) < 0.5 * row["std_error"], (component, term, row["estimate"])
    sd = table.loc[("cond", "sd__Intercept")]
    assert sd["conf_low"] < 0.413 < sd["conf_high"]


def test_softplus_keeps_float32_error_in_its_bounded_term_only():
    """softplus(x) = max(x, 0) + log1p(exp(-|x|)): the second term, in (0, log 2], comes from float32 arithmetic
    with a relative error below 3e-7 for |x| up to 87 (far out the value is e^x, and near the NB2's poisson
    limit phi * softplus = mu needs it relative), and the derivative is the logistic function to the same
    precision; beyond, below float32's 1.2e-38, it is zero."""
    x = np.concatenate([np.linspace(-87.0, 40.0, 20001), [-NEAR, -NEAR - 1e-12, 0.0, -1e-300, 1e-300]])
    value = np.asarray(softplus(jnp.asarray(x)))
    exact = np.logaddexp(0.0, x)
    rounding = np.spacing(np.abs(exact))  # of float64's sum max(x, 0) + correction itself
    assert np.all(np.abs(value - exact) <= 3e-7 * np.log1p(np.exp(-np.abs(x))) + rounding)
    slope = np.asarray(jax.vmap(jax.grad(softplus))(jnp.asarray(x)))
    logistic = np.where(x >= 0, 1.0, np.exp(-np.abs(x))) / (1.0 + np.exp(-np.abs(x)))
    assert np.all(np.abs(slope - logistic) <= 3e-7 * logistic)
    assert value.dtype == np.float64 and slope.dtype == np.float64
    far = np.linspace(-745.0, -87.5, 501)
    assert np.all(np.abs(np.asarray(softplus(jnp.asarray(far))) - np.exp(far)) <= 1.2e-38)
