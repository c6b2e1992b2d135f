"""The small version of the simulation-based calibration in ``validation/sbc.py`` (Talts et al. 2018): for
gaussian, bernoulli, poisson and negbinomial models with a correlated random intercept and slope, truths drawn
from the (explicit, proper) priors rank uniformly among the posterior draws of fits to the data they
simulate. 15 replications per family cannot see small miscalibration (the full run in validation/README.md
does that); they catch gross errors: a prior in the fit that differs from the simulating one, a wrong
transform or likelihood, which pile the ranks at 0 or L."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "validation"))
import sbc  # noqa: E402


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
