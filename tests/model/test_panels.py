"""A balanced panel's ``ar1``/``ou`` block integrated out from its sums (:mod:`bayesmm.model.panels`): the same log
density and gradient as the per-level recursion, and the per-level recursion wherever the levels differ."""
import jax
import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.model import compile_model
from bayesmm.sampler.nuts import compiled, shapes_key, starting_points


def _panel_frame(groups=30, times=(0, 1, 2, 3, 4, 5), seed=3, mean=1000.0):
    """Series observed at the same times, around a large mean (the sums must not lose it), with frequency weights
    that are the same for every series."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": np.repeat(np.arange(groups), len(times)), "t": np.tile(times, groups)})
    frame["x"] = rng.normal(size=len(frame))
    frame["w"] = np.tile(rng.integers(1, 4, len(times)), groups).astype(float)
    effects = rng.normal(size=(groups, len(times))).cumsum(axis=1) * 0.5
    frame["y"] = mean + 0.7 * frame.x + effects[frame.g, np.tile(np.arange(len(times)), groups)]
    frame["y"] += 0.4 * rng.normal(size=len(frame))
    return frame


def _both(formula, frame, weights=None):
    """The model's arrays with the panel's sums and without them (the per-level recursion), and starting points."""
    model = bmm.Model(formula, frame, weights=weights)
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    general = data._replace(panel=None)
    start, _ = starting_points(structure, data, 0, 1)
    return structure, data, general, jax.tree.map(lambda v: v[0], start)


@pytest.mark.parametrize("formula, times, weights", [
    ("y ~ x + ar1(t + 0 | g)", (0, 1, 2, 3, 4, 5), "w"),
    ("y ~ x + ou(t + 0 | g)", (0.0, 0.5, 2.0, 2.5, 4.0, 7.0), None),
    ("y ~ 0 + x + ar1(t + 0 | g)", (0, 1, 2, 3, 4, 5), None),
])
def test_panel_sums_give_the_per_level_density_and_gradient(formula, times, weights):
    structure, data, general, start = _both(formula, _panel_frame(times=times), weights)
    assert data.panel is not None
    potential = compiled(structure, shapes_key(data)).potential
    per_level = compiled(structure, shapes_key(general)).potential
    rng = np.random.default_rng(1)
    for _ in range(3):
        z = {name: value + 0.3 * rng.normal(size=np.shape(value)) for name, value in start.items()}
        (value, grad), (expected, expected_grad) = jax.value_and_grad(potential)(z, data), \
            jax.value_and_grad(per_level)(z, general)
        assert np.isclose(float(value), float(expected), rtol=1e-12, atol=1e-8)
        for name in z:
            np.testing.assert_allclose(np.asarray(grad[name]), np.asarray(expected_grad[name]), rtol=1e-9, atol=1e-8)


def test_levels_observed_differently_keep_the_per_level_recursion():
    """A series missing a time, or other weights in one series, or a second block: no shared precision."""
    frame = _panel_frame()
    assert _both("y ~ x + ar1(t + 0 | g)", frame.iloc[1:])[1].panel is None
    other = frame.assign(w=np.where(frame.g == 0, 1.0, frame.w))
    assert _both("y ~ x + ar1(t + 0 | g)", other, "w")[1].panel is None
    frame["site"] = frame.g % 3
    model = bmm.Model("y ~ x + ar1(t + 0 | g) + (1 | site)", frame)
    _, data = compile_model(model.design, model.family, model.prior_entries)
    assert data.panel is None


def test_indicator_columns_gather_one_effect_per_row():
    """A sampled block whose Z holds one 1 per row keeps each row's column index; the log density is the one of
    the dense Z's product."""
    frame = _panel_frame(groups=8, mean=0.0)
    frame["y"] = np.random.default_rng(2).poisson(np.exp(0.3 * frame.x))
    model = bmm.Model("y ~ x + ar1(t + 0 | g)", frame, family="poisson")
    structure, data = compile_model(model.design, model.family, model.prior_entries)
    assert data.Z[0].shape == (len(frame),) and data.Z[0].dtype == np.int32
    dense = data._replace(Z=(jax.numpy.asarray(model.design.blocks[0].Z, dtype=float),))
    start, _ = starting_points(structure, data, 0, 1)
    z = jax.tree.map(lambda v: v[0] + 0.2, start)
    value = compiled(structure, shapes_key(data)).potential(z, data)
    assert np.isclose(float(value), float(compiled(structure, shapes_key(dense)).potential(z, dense)), rtol=1e-12)
