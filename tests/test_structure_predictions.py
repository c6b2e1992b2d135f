"""Predictions of structured random-effect blocks: kriging at new times and positions against the gaussian
conditional written out with numpy, draws for new levels from the structure's prior, held-out times of simulated
series inside their intervals, and the refusals of ar1 times that have no place in the chain."""
import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.answers.kriging import kriged_effects, new_positions, prior_effects, structured_new_levels
from bayesmm.design import build_design
from bayesmm.errors import DataError
from bayesmm.formula_structures import parse_model_formula
from bayesmm.structures import correlation, toeplitz

CASES = {  # kind, parameter, fitted positions, new positions
    "ou": ("ou", 2.0, [[0.0], [1.0], [2.5], [4.0]], [[1.7], [6.0]]),
    "exp": ("exp", 1.5, [[0, 0], [1, 0], [0, 1], [1.2, 1.1]], [[0.5, 0.5], [3.0, 0.0]]),
    "gau": ("gau", 0.8, [[0, 0], [1, 0], [0, 1], [1.2, 1.1]], [[0.5, 0.5], [0.9, 0.2]]),
    "mat": ("mat", 1.0, [[0, 0], [1, 0], [0, 1], [1.2, 1.1]], [[0.5, 0.5], [2.0, 2.0]]),
    "ar1": ("ar1", -0.6, [[0.0], [1.0], [2.0], [3.0]], [[5.0], [-1.0]]),
}


def _conditional(kind, sd, param, old, new, fitted):
    """The gaussian conditional of the effects at ``new`` given ``fitted`` at ``old`` (textbook formula)."""
    R_oo = correlation(kind, param, old)
    R_no = correlation(kind, param, new, other=old)
    mean = R_no @ np.linalg.solve(R_oo, fitted)
    cov = sd**2 * (correlation(kind, param, new) - R_no @ np.linalg.solve(R_oo, R_no.T))
    return mean, cov


@pytest.mark.parametrize("case", CASES)
def test_kriged_draws_follow_the_gaussian_conditional(case):
    kind, param, old, new = CASES[case]
    old, new = np.array(old, float), np.array(new, float)
    rng = np.random.default_rng(1)
    sd, draws = 1.3, 40_000
    fitted = sd * np.linalg.cholesky(correlation(kind, param, old)) @ rng.standard_normal((len(old), 2))
    mean, cov = (np.stack(m) for m in zip(*(_conditional(kind, sd, param, old, new, fitted[:, j]) for j in range(2))))
    out = kriged_effects(kind, np.full(draws, sd), np.full(draws, param), old, new,
                         np.broadcast_to(fitted.T, (draws, 2, len(old))), rng)
    for level in range(2):
        got = out[:, level, :]
        error = np.sqrt(np.diag(cov[level]) / draws)
        np.testing.assert_array_less(np.abs(got.mean(axis=0) - mean[level]), 4.5 * error + 1e-9)
        np.testing.assert_allclose(np.cov(got.T), cov[level], atol=0.03 * sd**2)


def test_kriging_at_a_fitted_position_returns_the_fitted_effect():
    old = np.array([[0.0], [1.0], [3.0]])
    fitted = np.array([[[0.4, -1.0, 2.0]]])
    out = kriged_effects("ou", np.array([0.9]), np.array([2.0]), old, old[[1]], fitted, np.random.default_rng(0))
    assert out[0, 0, 0] == pytest.approx(-1.0, abs=1e-4)


@pytest.mark.parametrize("case", ["mat", "ar1"])
def test_new_levels_are_drawn_from_the_structure_prior(case):
    kind, param, old, _ = CASES[case]
    positions = np.array(old, float)
    draws = prior_effects(kind, np.full(30_000, 0.7), np.full(30_000, param), positions, 2,
                          np.random.default_rng(2))
    expected = 0.49 * correlation(kind, param, positions)
    for level in range(2):
        np.testing.assert_allclose(np.cov(draws[:, level, :].T), expected, atol=0.02)


def test_new_levels_of_a_compound_symmetry_block_share_rho():
    frame = pd.DataFrame({"y": np.arange(12.0), "f": list("abc") * 4, "g": np.repeat(list("pqrs"), 3)})
    design = build_design(parse_model_formula("y ~ cs(0 + f | g)"), frame)
    block = design.blocks[0]
    draws = 30_000
    sd = np.tile([0.5, 1.0, 2.0], (draws, 1))
    out = structured_new_levels([block], [slice(0, 3)], sd, np.broadcast_to(np.eye(3), (draws, 3, 3)),
                                {id(block): np.full(draws, 0.4)}, None, 1, np.random.default_rng(3))
    expected = np.outer([0.5, 1.0, 2.0], [0.5, 1.0, 2.0]) * (0.6 * np.eye(3) + 0.4)
    np.testing.assert_allclose(np.cov(out[:, 0, :].T), expected, atol=0.06)


def test_new_levels_of_a_toeplitz_block_have_its_correlation_per_lag():
    frame = pd.DataFrame({"y": np.arange(16.0), "f": list("abcd") * 4, "g": np.repeat(list("pqrs"), 4)})
    design = build_design(parse_model_formula("y ~ toep(0 + f | g)"), frame)
    block = design.blocks[0]
    draws, sds, lags = 30_000, np.array([0.5, 1.0, 2.0, 1.5]), np.array([0.6, 0.2, -0.1])
    out = structured_new_levels([block], [slice(0, 4)], np.tile(sds, (draws, 1)),
                                np.broadcast_to(np.eye(4), (draws, 4, 4)), {id(block): np.tile(lags, (draws, 1))},
                                None, 1, np.random.default_rng(4))
    expected = np.outer(sds, sds) * toeplitz(lags)
    np.testing.assert_allclose(np.cov(out[:, 0, :].T), expected, atol=0.08)


def test_ar1_times_off_the_chain_are_refused():
    frame = pd.DataFrame({"y": np.zeros(8), "t": [0.0, 2, 4, 6] * 2, "g": list("aaaabbbb")})
    block = build_design(parse_model_formula("y ~ ar1(t + 0 | g)"), frame).blocks[0]
    codes, positions = new_positions(block, pd.DataFrame({"t": [2.0, 10.0, -2.0, 10.0]}))
    assert list(codes) == [1, 4, 5, 4] and positions[:, 0].tolist() == [5.0, -1.0]
    with pytest.raises(DataError, match=r"between the steps.*ou\(t \+ 0"):
        new_positions(block, pd.DataFrame({"t": [3.0]}))
    frame["t"] = pd.Categorical(["w1", "w2", "w3", "w4"] * 2)
    block = build_design(parse_model_formula("y ~ ar1(t + 0 | g)"), frame).blocks[0]
    with pytest.raises(DataError, match=r"level\(s\) \['w9'\].*no place in the AR\(1\) chain"):
        new_positions(block, pd.DataFrame({"t": ["w2", "w9"]}))


def _ou_series(groups, times, lscale, sd, seed):
    """Per group an OU process (``exp(-|dt| / lscale)``) at ``times``: (frame of g, t, effect)."""
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(correlation("ou", lscale, np.asarray(times, float)[:, None]) + 1e-12 * np.eye(len(times)))
    effects = sd * (chol @ rng.standard_normal((len(times), groups)))
    frame = pd.DataFrame({"g": np.repeat([f"g{j}" for j in range(groups)], len(times)),
                          "t": np.tile(times, groups), "effect": effects.T.reshape(-1)})
    return frame, rng


def _check_against_hand(fit, kind, group, level, old, new, predicted, fixed):
    """Each draw's predicted effects at ``new`` whitened by that draw's conditional (by hand) are standard normal."""
    post = fit.idata.posterior
    sd = post[f"sd_{group}"].values.reshape(-1, post[f"sd_{group}"].shape[-1])[:, 0]
    param = post[f"{kind}_{group}"].values.reshape(-1)
    ranef = post[f"r_{group}"].sel({f"{group}__level": level}).values.reshape(-1, len(old))
    white = []
    for s in range(len(sd)):
        mean, cov = _conditional(kind, sd[s], param[s], old, new, ranef[s])
        white.append(np.linalg.solve(np.linalg.cholesky(cov), predicted[s] - fixed[s] - mean))
    white = np.array(white)
    assert np.all(np.abs(white.mean(axis=0)) < 0.2), white.mean(axis=0)
    assert np.all(np.abs(white.std(axis=0) - 1) < 0.15), white.std(axis=0)
    assert abs(np.corrcoef(white.T)[0, 1]) < 0.15


def test_ou_fit_predicts_held_out_times_by_kriging():
    times = np.arange(0.0, 20.0, 1.0)
    frame, rng = _ou_series(groups=10, times=times, lscale=4.0, sd=1.0, seed=4)
    frame["y"] = 2.0 + frame["effect"] + 0.2 * rng.normal(size=len(frame))
    held = frame.t.isin([7.0, 13.0])
    fit = bmm.fit("y ~ 1 + ou(t + 0 | g)", frame[~held], chains=2, draws=300, warmup=300, seed=4)
    # fitted values and random effects of the training rows keep working
    assert np.allclose(fit.predict(kind="link").Estimate.values,
                       fit.predict(newdata=frame[~held], kind="link").Estimate.values)
    assert len(fit.ranef()) == 10 * 18
    new = frame[held]
    table = fit.predict(newdata=new, kind="link")
    inside = (table["Q2.5"] < 2.0 + new.effect) & (2.0 + new.effect < table["Q97.5"])
    assert inside.mean() >= 0.85, table.assign(truth=2.0 + new.effect)
    # an interval at a held-out time is narrower than a new level's (the neighbours inform it)
    alone = fit.predict(newdata=new.assign(g="another"), kind="link")
    assert (table["Est.Error"] < 0.8 * alone["Est.Error"]).all()
    one = new[new.g == "g3"]
    draws = fit.predict(newdata=one, kind="link", summary=False).values
    fixed = fit.idata.posterior["b"].values.reshape(-1)
    old = np.array(sorted(set(times) - {7.0, 13.0}))[:, None]
    _check_against_hand(fit, "ou", "g", "g3", old, one.t.values[:, None], draws, fixed)


def test_ar1_fit_extrapolates_new_steps_with_rho_to_the_lag():
    times = np.arange(0.0, 16.0, 2.0)
    rng = np.random.default_rng(5)
    rho, groups, steps = 0.8, 12, len(times) + 2
    R = correlation("ar1", rho, np.arange(steps, dtype=float)[:, None])
    effects = np.linalg.cholesky(R) @ rng.standard_normal((steps, groups))
    all_times = np.arange(steps) * 2.0
    frame = pd.DataFrame({"g": np.repeat([f"g{j}" for j in range(groups)], steps), "t": np.tile(all_times, groups),
                          "effect": effects.T.reshape(-1)})
    frame["y"] = rng.poisson(np.exp(1.0 + frame.effect))
    future = frame.t > times[-1]
    fit = bmm.fit("y ~ 1 + ar1(t + 0 | g)", frame[~future], family="poisson", chains=2, draws=300, warmup=300,
                  seed=5)
    table = fit.predict(newdata=frame[future], kind="link")
    truth = 1.0 + frame[future].effect
    assert ((table["Q2.5"] < truth) & (truth < table["Q97.5"])).mean() >= 0.85
    one = frame[future & (frame.g == "g2")]
    draws = fit.predict(newdata=one, kind="link", summary=False).values
    fixed = fit.idata.posterior["b"].values.reshape(-1)
    _check_against_hand(fit, "ar1", "g", "g2", np.arange(len(times), dtype=float)[:, None],
                        (one.t.values / 2.0)[:, None], draws, fixed)
