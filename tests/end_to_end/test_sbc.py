"""The small versions of the simulation-based calibration in ``validation/sbc.py``, ``validation/sbc_paths.py`` and
``validation/sbc_structures.py`` (Talts et al. 2018): for gaussian, bernoulli, poisson and negbinomial models with a
correlated random intercept and slope, for one model per sampling path (integrated out densely or level by level,
quadrature, centred, partly centred, non-centred, rotated coordinates, aliased levels), and for ar1 and exp blocks
integrated out and sampled whitened, truths drawn from the (explicit, proper) priors rank uniformly among the
posterior draws of fits to the data they simulate. 15 replications per family (3 per path) cannot see small
miscalibration (the full runs in validation/README.md do that); they catch gross
errors: a prior in the fit that differs from the simulating one, a wrong transform or likelihood, which pile
the ranks at 0 or L."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "validation"))
import sbc  # noqa: E402
import sbc_paths  # noqa: E402
import sbc_structures  # noqa: E402


@pytest.fixture(scope="module")
def ranks():
    return sbc.run(sbc.SMALL, workers=1)


@pytest.mark.slow
def test_small_sbc_runs_every_replication(ranks):
    assert len(ranks) == len(sbc.FAMILIES) * sbc.SMALL.replications
    assert (ranks["error"] == "").all(), ranks.loc[ranks["error"] != "", "error"].tolist()
    ranked = ranks.drop(columns=["family", "replication", "divergent", "seconds", "error"])
    assert ranked.min().min() >= 0 and ranked.max().max() <= sbc.SMALL.n_ranked


@pytest.mark.slow
def test_small_sbc_ranks_are_uniform(ranks):
    table = sbc.uniformity(ranks, sbc.SMALL)
    assert len(table) == 4 * 5 + 2  # b_Intercept, b_x, sd_Intercept, sd_x, cor (+ sigma, phi)
    # 22 chi-square tests at a family-wise 1% level (Bonferroni)
    assert table["p_value"].min() > 0.01 / len(table), table.sort_values("p_value").head().to_string()
    # and no parameter has its ranks piled at one end (what a prior mismatch gives)
    for name in ("b_Intercept", "b_x", "sd_Intercept", "sd_x", "cor"):
        share_at_ends = np.mean((ranks[name] == 0) | (ranks[name] == sbc.SMALL.n_ranked))
        assert share_at_ends < 0.3, (name, share_at_ends)


# ---- every sampling path (validation/sbc_paths.py): the path each case is meant to test, and no gross error ----

#: per path, the flag (a column of the per-fit table) that shows the path ran, and its expected value
PATH_FLAGS = {
    "dense_marginal": ("marginal", True),
    "level_marginal": ("marginal_block", 0),
    "quadrature_poisson": ("row_block", 1),
    "quadrature_binomial": ("row_block", 1),
    "centred": ("mean_weight", "1.00"),
    "partly_centred": ("dynamic_blocks", 2),
    "non_centred": ("mean_weight", "0.00"),
    "rotated": ("basis_rows", 2),
    "aliased": ("aliased_levels", 6),
}
PATH_SETTINGS = sbc.Settings(replications=3, groups=8, per_group=8, warmup=150, draws=95, thin=5, bins=5)


@pytest.fixture(scope="module")
def path_ranks():
    return sbc_paths.run(PATH_SETTINGS)


@pytest.mark.slow
def test_every_sampling_path_runs_the_path_it_is_meant_to(path_ranks):
    fits, ranks = path_ranks
    assert set(PATH_FLAGS) == set(sbc_paths.PATHS)
    assert len(fits) == len(sbc_paths.PATHS) * PATH_SETTINGS.replications
    # a fit that took another path is recorded with "wrong path: ..." (sbc_paths.Case.check)
    assert (fits["error"] == "").all(), fits.loc[fits["error"] != "", ["path", "error"]].to_string()
    for path, (flag, expected) in PATH_FLAGS.items():
        values = fits.loc[fits["path"] == path, flag]
        if path == "partly_centred":  # a block whose simulated SD is tiny is sampled non-centred (Case.check)
            assert (values == expected).any(), (path, flag, values.tolist())
        else:
            assert (values == expected).all(), (path, flag, values.tolist())
    # partly centred: weights strictly inside (0, 1), following the draws' SDs, away from the ends in some fit
    partly = fits[fits["path"] == "partly_centred"]
    assert partly["partial_share"].max() > 0.5, partly.to_string()
    assert ranks["rank"].between(0, PATH_SETTINGS.n_ranked).all()


@pytest.mark.slow
def test_every_sampling_path_ranks_are_not_grossly_non_uniform(path_ranks):
    """3 replications per path cannot see small miscalibration (the full run in validation/README.md does); a
    prior in the fit that differs from the simulating one, or a wrong transform, likelihood or conditional draw
    of integrated-out effects, piles the ranks at 0 or L."""
    _, ranks = path_ranks
    L = PATH_SETTINGS.n_ranked
    for path, frame in ranks.groupby("path"):
        at_ends = np.mean((frame["rank"] == 0) | (frame["rank"] == L))  # 2 / (L + 1) = 0.1 when uniform
        assert at_ends < 0.4, (path, at_ends, frame.to_string())
        assert 0.2 < frame["rank"].mean() / L < 0.8, (path, frame.to_string())


# ---- the covariance-structure blocks (validation/sbc_structures.py) ----

#: per path, the flags of the per-fit table that show how the structured block was fitted
STRUCTURE_FLAGS = {
    "ar1_dense": {"marginal": True, "marginal_block": -1},
    "ar1_by_level": {"marginal": False, "marginal_block": 0},
    "ar1_poisson": {"marginal": False, "marginal_block": -1, "mean_weight": "0.00"},
    "exp_gaussian": {"marginal": True, "marginal_block": -1},
    "exp_poisson": {"marginal": False, "marginal_block": -1, "mean_weight": "0.00"},
}


@pytest.fixture(scope="module")
def structure_ranks():
    return sbc_paths.run(PATH_SETTINGS, sbc_structures.PATHS, cases=sbc_structures.CASES)


@pytest.mark.slow
def test_structured_blocks_take_their_path_and_rank_without_gross_error(structure_ranks):
    """ar1 and exp blocks integrated out (densely, ar1 also level by level) and sampled whitened: each fit took its
    path (its ``Case.check`` records another as failed), the SD, rho or length scale and effects ranked, and
    no path's ranks piled at 0 or L (what a wrong likelihood, conditional draw or prior gives)."""
    fits, ranks = structure_ranks
    assert set(STRUCTURE_FLAGS) == set(sbc_structures.PATHS)
    assert len(fits) == len(sbc_structures.PATHS) * PATH_SETTINGS.replications
    assert (fits["error"] == "").all(), fits.loc[fits["error"] != "", ["path", "error"]].to_string()
    for path, expected in STRUCTURE_FLAGS.items():
        for flag, value in expected.items():
            assert (fits.loc[fits["path"] == path, flag] == value).all(), (path, flag)
    ranked = set(ranks["parameter"])
    assert {"sd_g", "ar1_g", "exp_g", "sigma", "b_x"} <= ranked, ranked
    L = PATH_SETTINGS.n_ranked
    assert ranks["rank"].between(0, L).all()
    for path, frame in ranks.groupby("path"):
        at_ends = np.mean((frame["rank"] == 0) | (frame["rank"] == L))
        assert at_ends < 0.4, (path, at_ends, frame.to_string())
        assert 0.2 < frame["rank"].mean() / L < 0.8, (path, frame.to_string())


@pytest.mark.slow
@pytest.mark.parametrize("path", ["ar1_dense", "exp_gaussian"])
def test_simulated_structured_effects_follow_the_documented_correlation(path):
    """The effects SBC simulates (``Model.sample_prior``), whitened by the Cholesky factor of sd^2 rho^|i-j| or
    sd^2 exp(-d / lscale) computed independently, are standard normal: rho 5% or the length scale 15% off gives
    p-values below 1e-4 (the sums of squares)."""
    case = next(c for c in sbc_structures.CASES if c.path == path)
    check = sbc_structures.whitened_prior(case, PATH_SETTINGS)
    assert check["ks_p"] > 1e-3 and check["squares_ks_p"] > 1e-3, check
    assert abs(check["variance"] - 1.0) < 0.05, check
