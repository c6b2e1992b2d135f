"""Refits with changes (bayesmm.fitting.update, ``fit.update`` and ``bmm.update``, as brms's ``update``): new data of
the same shapes keeps the priors in effect and compiles nothing, a changed formula or family is the model fitted
anew, a fit saved without its data refits with ``data=``, and bad arguments are named."""
from __future__ import annotations

import bayesmm as bmm  # before jax: bmm sets the CPU device count, which jax fixes once imported  # noqa: I001

import jax
import numpy as np
import pandas as pd
import pytest

SLEEP = bmm.datasets.load("sleepstudy")
FORMULA = "Reaction ~ Days + (Days | Subject)"
SHORT = dict(chains=2, draws=500, warmup=500)


@pytest.fixture(scope="module")
def sleep_fit():
    return bmm.fit(FORMULA, SLEEP, seed=1, **SHORT)


def _simulated_sleep(seed: int) -> pd.DataFrame:
    """sleepstudy's design with a response drawn from a known truth: Intercept 250, Days 10, subject SDs 25 and 6,
    residual SD 25."""
    rng = np.random.default_rng(seed)
    subjects = SLEEP["Subject"].unique()
    intercept, slope = (dict(zip(subjects, rng.normal(0, sd, len(subjects)))) for sd in (25.0, 6.0))
    days = SLEEP["Days"].to_numpy(dtype=float)
    mean = 250 + SLEEP["Subject"].map(intercept) + (10 + SLEEP["Subject"].map(slope)) * days
    return SLEEP.assign(Reaction=mean + rng.normal(0, 25, len(SLEEP)))


class _CompileCounter:
    """Counts jaxpr traces and XLA compilations by listening to JAX's monitoring events."""

    def __init__(self):
        self.events = []

    def _listen(self, event, duration, **kwargs):
        if "compile" in event or "trace" in event:
            self.events.append(event)

    def __enter__(self):
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self._listen)


def _draws(fit) -> np.ndarray:
    return fit.idata.posterior["b"].values


def test_new_data_of_the_same_shapes_keeps_the_priors_and_compiles_nothing(sleep_fit):
    """brms's update(fit, newdata = ...) keeps the data-dependent default priors; here that keeps the model's
    structure, so the compiled program runs again on the new arrays: no trace, no compilation. The new fit is
    the new data's posterior: near the simulated truth."""
    new = _simulated_sleep(7)
    with _CompileCounter() as counter:
        again = sleep_fit.update(data=new, seed=2)
    assert counter.events == []
    pd.testing.assert_frame_equal(again.priors, sleep_fit.priors)
    assert again.data is new and again.settings.chains == 2 and again.settings.warmup == 500
    fixed = again.fixef()
    for term, truth in (("Intercept", 250.0), ("Days", 10.0)):
        assert abs(fixed.loc[term, "Estimate"] - truth) < 3 * fixed.loc[term, "Est.Error"], term
        assert abs(fixed.loc[term, "Estimate"] - sleep_fit.fixef().loc[term, "Estimate"]) > 0.1
    # priors= resolves them on the new data: the same fit as bmm.fit on it, draw for draw
    rescaled = bmm.update(sleep_fit, data=new, priors=None, seed=2)
    fresh = bmm.fit(FORMULA, new, seed=2, **SHORT)
    assert not rescaled.priors.equals(sleep_fit.priors)
    np.testing.assert_array_equal(_draws(rescaled), _draws(fresh))


def test_a_changed_formula_is_the_model_fitted_anew(sleep_fit):
    """'. ~ . - Days' drops the fixed slope (R's update.formula); a new structure compiles its own program, and the
    fit is bmm.fit's of the new formula with the fit's settings, draw for draw."""
    with _CompileCounter() as counter:
        dropped = bmm.update(sleep_fit, formula=". ~ . - Days")
    assert counter.events  # a new model: its sampler is traced and compiled
    assert dropped.formula == "Reaction ~ (Days | Subject)"
    assert list(dropped.fixef().index) == ["Intercept"]
    fresh = bmm.fit("Reaction ~ (Days | Subject)", SLEEP, seed=1, **SHORT)
    np.testing.assert_array_equal(_draws(dropped), _draws(fresh))
    pd.testing.assert_frame_equal(dropped.priors, fresh.priors)


def test_a_changed_family_gets_its_own_link_and_priors():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(12), 15)
    x = rng.normal(size=groups.size)
    mu = np.exp(0.5 + 0.4 * x + rng.normal(0, 0.5, 12)[groups])
    data = pd.DataFrame({"y": rng.negative_binomial(2, 2 / (2 + mu)), "x": x, "g": groups.astype(str)})
    poisson = bmm.fit("y ~ x + (1 | g)", data, family="poisson", link="log", seed=4, **SHORT)
    negbinomial = poisson.update(family="negbinomial")
    assert (negbinomial.family.name, negbinomial.family.link) == ("negbinomial", "log")
    fresh = bmm.fit("y ~ x + (1 | g)", data, family="negbinomial", seed=4, **SHORT)
    np.testing.assert_array_equal(_draws(negbinomial), _draws(fresh))
    assert set(negbinomial.priors["class"]) - set(poisson.priors["class"])  # the dispersion's prior


def test_a_fit_saved_without_its_data_refits_with_data(sleep_fit, tmp_path):
    """Without data= it says so; with the training data it is the same fit again (the priors kept, the same
    settings and seed)."""
    path = tmp_path / "lean.nc"
    sleep_fit.save(path, data=False)
    loaded = bmm.load(path)
    with pytest.raises(bmm.BayesMMError, match=r"data=False.*data=frame"):
        loaded.update()
    again = loaded.update(data=SLEEP)
    np.testing.assert_array_equal(_draws(again), _draws(sleep_fit))


def test_bad_arguments_are_named(sleep_fit):
    with pytest.raises(bmm.BayesMMError, match="'formul'.*Did you mean 'formula'"):
        sleep_fit.update(formul=". ~ . + I(Days^2)")
    with pytest.raises(bmm.BayesMMError, match="'newdata'. Use data"):
        bmm.update(sleep_fit, newdata=SLEEP)
    with pytest.raises(bmm.BayesMMError, match="'adapt_delta'. Use target_accept"):
        bmm.update(sleep_fit, adapt_delta=0.9)
    with pytest.raises(bmm.DataError, match="data must be a pandas DataFrame.*list"):
        sleep_fit.update(data=[1, 2, 3])
    with pytest.raises(bmm.FormulaError, match="'Hours' is not a term"):
        sleep_fit.update(formula=". ~ . - Hours")
    with pytest.raises(bmm.DataError, match="Reaction"):
        sleep_fit.update(data=SLEEP.drop(columns="Reaction"))
