"""diagnose() on covariance structures: rho at +1 and a length scale past the data's distances are findings whose
advice is runnable code; a structure fitted to data that has it gives none."""
import ast
import re

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.formula_structures import parse_model_formula


def _levels_only(groups=30, times=8, seed=3):
    """A constant level per group (SD 1) plus noise (SD 0.3): no change over time within a group."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": np.repeat(np.arange(groups), times), "t": np.tile(np.arange(times), groups)})
    frame["y"] = rng.normal(size=groups)[frame.g] + 0.3 * rng.normal(size=len(frame))
    return frame


def _check_advice(advice: str) -> None:
    """Every line of code in the advice is Python, and its formula parses."""
    lines = [line.split("  #")[0] for line in advice.split("\n") if line.startswith("fit = ")]
    assert lines
    for line in lines:
        ast.parse(line)
        parse_model_formula(re.search(r"bmm\.fit\('([^']*)'", line).group(1))


def _finding(fit, kind):
    table = fit.diagnose()
    rows = table[table.kind == kind]
    assert len(rows) == 1, table.lines()
    return rows.iloc[0]


def test_rho_at_one_is_a_finding_with_code():
    fit = bmm.fit("y ~ 1 + ar1(t + 0 | g)", _levels_only(), chains=2, draws=300, warmup=300, seed=1)
    row = _finding(fit, "structure_edge")
    assert row.parameter == "ar1_g__rho" and "at +1" in row.message
    assert "ar1(0 + t | g) + (1 | g)" in row.advice
    _check_advice(row.advice)


def test_length_scale_beyond_the_largest_distance_is_a_finding_with_code():
    frame = _levels_only()
    fit = bmm.fit("y ~ 1 + ou(t + 0 | g)", frame, chains=2, draws=300, warmup=300, seed=1)
    row = _finding(fit, "lscale_edge")
    assert row.parameter == "ou_g__lscale" and "beyond the largest distance between positions (7)" in row.message
    assert "'y ~ (1 | g)'" in row.advice
    _check_advice(row.advice)


@pytest.mark.parametrize("formula", ["y ~ 1 + ar1(t + 0 | g)", "y ~ 1 + ou(t + 0 | g)"])
def test_a_structure_the_data_has_is_no_finding(formula):
    rng = np.random.default_rng(5)
    frame = _levels_only()
    R = 0.5 ** np.abs(np.subtract.outer(np.arange(8), np.arange(8)))
    frame["y"] = rng.multivariate_normal(np.zeros(8), R, size=30).reshape(-1) + 0.3 * rng.normal(size=len(frame))
    fit = bmm.fit(formula, frame, chains=2, draws=300, warmup=300, seed=1)
    assert not {"structure_edge", "lscale_edge"} & set(fit.diagnose().kind), fit.diagnose().lines()


@pytest.mark.slow
def test_a_toeplitz_lag_at_one_is_a_finding_named_by_its_lag():
    """A constant level per group: every lag's correlation of toep runs to +1, each one a finding of its own."""
    frame = _levels_only(times=4)
    frame["f"] = pd.Categorical(frame.t)
    # the safeguard off: its refits cannot move a posterior that sits at the edge, and the finding is what counts
    fit = bmm.fit("y ~ 1 + toep(0 + f | g)", frame, chains=2, draws=300, warmup=300, seed=1, refit=False)
    table = fit.diagnose()
    rows = table[table.kind == "structure_edge"]
    assert "toep_g__rho1" in set(rows.parameter), table.lines()
    row = rows[rows.parameter == "toep_g__rho1"].iloc[0]
    assert "the lag-1 correlation of toep(0 + f | g) is at +1" in row.message
    assert "toep(0 + f | g) + (1 | g)" in row.advice
    _check_advice(row.advice)
