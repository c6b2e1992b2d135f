"""model/build.py: the model's arrays. A model without an intercept keeps its predictors uncentred (nothing
would absorb the shift); recovery of simulated truths on the sampled and the integrated-out paths."""
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model.build import model_data


def _no_intercept_data(seed: int, family: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(20), 10)
    x = rng.uniform(1, 3, group.size)  # far from 0: centring it would move 0.8 * 2 into the group effects
    effects = rng.normal(0, 0.3, 20)[group]
    if family == "poisson":
        y = rng.poisson(np.exp(0.8 * x + effects))
    else:
        y = 0.8 * x + effects + rng.normal(0, 0.5, group.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k}" for k in group]})


def test_model_data_centres_only_when_asked():
    design = bmm.Model("y ~ 0 + x + (1 | g)", _no_intercept_data(1, "gaussian")).design
    centred, plain = model_data(design), model_data(design, centre=False)
    assert float(np.asarray(centred.x_means)[0]) == pytest.approx(design.X[:, 0].mean())
    np.testing.assert_array_equal(np.asarray(plain.x_means), [0.0])
    np.testing.assert_allclose(np.asarray(plain.X), design.X)


@pytest.mark.parametrize("family", ["poisson", "gaussian"])  # sampled levels; gaussian integrated out
def test_a_model_without_intercept_recovers_its_slope_and_sd(family):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("y ~ 0 + x + (1 | g)", _no_intercept_data(2, family), family=family, chains=2, draws=400,
                      warmup=400, seed=1)
    table = fit.tidy().set_index("term")
    assert list(table.index[:1]) == ["x"]
    assert abs(table.loc["x", "estimate"] - 0.8) < 3 * table.loc["x", "std_error"]
    sd = table.loc["sd__Intercept"]
    assert sd["conf_low"] < 0.3 < sd["conf_high"]  # centring x moved 0.8 * mean(x) into the group SD (1.7)
