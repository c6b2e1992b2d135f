"""Level effects drawn exactly from their conditional (a block integrated out) are judged against what chance gives
that many Rhats in a run of that length (:func:`bayesmm.answers.convergence.chance_rhat`); a level whose chains sit
apart is still flagged by the status line, ``diagnose()`` and the safeguard."""
import dataclasses
import json

import numpy as np
import pytest
from scipy import special

from answers_fits import sleep_fit
from bayesmm.answers.convergence import RHAT_LIMIT, chance_rhat, mixing_table, rank_normalized_rhat, rhat_fails
from bayesmm.safeguard import runs_longer


def test_chance_rhat_is_what_independent_draws_reach():
    """For independent draws, split Rhat^2 - 1 is (F - 1) / n with F ~ F(m - 1, m(n - 1)): the counts of 20,000
    simulated Rhats (2 chains x 200 draws) past 1.01, 1.015 and 1.02 are the F distribution's, within 4 SDs."""
    rhat = rank_normalized_rhat(np.random.default_rng(3).normal(size=(2, 200, 20_000)))
    m, n = 4, 100
    for limit in (1.01, 1.015, 1.02):
        expected = 2 * special.fdtrc(m - 1, m * (n - 1), (limit ** 2 - 1) * n + 1) * rhat.size
        assert abs(int((rhat >= limit).sum()) - expected) < 4 * np.sqrt(expected) + 2, (limit, expected)
    assert chance_rhat(50_000, 2, 500) == pytest.approx(1.0218, abs=2e-4)
    assert chance_rhat(10 ** 9, 4, 1000) == RHAT_LIMIT  # the default run: 1.01 whatever the number of levels


def _with_level(fit, level: int, term: str, shift: float):
    """The fit with one level effect's draws in the first chain moved by ``shift``."""
    idata = fit.idata.copy()
    values = idata.posterior["r_Subject"]
    position = {"Subject__level": values["Subject__level"].values[level], "Subject__term": term}
    values.loc[dict(chain=values["chain"].values[0], **position)] = values.sel(position).values[0] + shift
    return dataclasses.replace(fit, idata=idata)


def _levels(fit):
    table = mixing_table(fit)
    return table[table["effect"] == "ranef"].iloc[0], bool(rhat_fails(table[table["effect"] == "ranef"]).iloc[0])


def test_levels_drawn_exactly_are_judged_against_chance_and_chains_apart_are_flagged():
    """sleepstudy's (Days | Subject), integrated out, its first 2 x 300 draws: 36 level effects, limit
    chance_rhat(36, 2, 300) (about 1.02). A level nudged in one chain to between 1.01 and that limit passes; moved
    10 SDs it fails the check, is named by diagnose() and the status line, and the chains are not merely run
    longer."""
    whole = sleep_fit()  # 500 draws, or 1000 where the safeguard ran the chains longer
    assert json.loads(whole.idata.posterior.attrs["exact_groups"]) == ["Subject"]
    fit = dataclasses.replace(whole, idata=whole.idata.isel(draw=slice(0, 300)))
    row, _ = _levels(fit)
    limit = chance_rhat(36, 2, 300)
    assert row["rhat_limit"] == pytest.approx(limit) and limit > RHAT_LIMIT
    draws = fit.idata.posterior["r_Subject"].sel(Subject__term="Days").values[:, :, 3]
    spread = draws.std()
    nudges = np.linspace(0.0, 0.5, 51) * spread  # the smallest nudge that puts this level between the two limits
    reached = [float(rank_normalized_rhat(np.stack([draws[0] + s, draws[1]])[:, :, None])[0]) for s in nudges]
    nudge = next(s for s, r in zip(nudges, reached) if RHAT_LIMIT + 0.3 * (limit - RHAT_LIMIT) <= r < limit)
    row, fails = _levels(_with_level(fit, 3, "Days", nudge))
    assert RHAT_LIMIT <= row["rhat"] < limit and not fails and row["n_poor"] == 0
    apart = _with_level(fit, 3, "Days", 10 * spread)
    row, fails = _levels(apart)
    assert fails and row["n_poor"] == 1 and row["rhat"] > 1.5
    findings = apart.diagnose()
    message = findings.loc[findings["parameter"] == "r_Subject", "message"].iloc[0]
    assert message.startswith(f"1 of 36 level effects have Rhat >= {limit:.4g} (worst r_Subject[")
    status, table = apart.status(), mixing_table(fit)
    assert status.startswith("WARNING: not converged: Rhat ") and not runs_longer(apart)
    # named, unless a parameter of the summary fails too (then it is named and the level counted among the rest)
    named_first = (table.loc[table["effect"] != "ranef", "rhat"] >= RHAT_LIMIT).any()
    assert ("more)" in status) if named_first else ("for r_Subject[" in status)
