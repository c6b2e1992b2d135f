"""Censoring and truncation on the response side (bayesmm.censoring): codes read as brms reads them, the
intervals each row's likelihood term covers (continuous and count families, with and without truncation), and
the design and checks that carry them. The likelihood terms themselves: tests/model/test_censoring.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.censoring import CENSORABLE, ResponseBounds
from bayesmm.families import FAMILIES

INF = np.inf


def _bounds(code=None, y2=None, lb=None, ub=None, n=4):
    def full(v):
        return None if v is None else np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
    return ResponseBounds(None if code is None else np.asarray(code), full(y2), full(lb), full(ub))


def test_intervals_of_continuous_rows():
    """none: exact; left (-inf, y]; right (y, inf); interval (y, y2]."""
    exact, lower, upper, truncation = _bounds([0, -1, 1, 2], y2=[9, 9, 9, 5.0]).intervals(
        np.array([1.0, 2.0, 3.0, 4.0]), discrete=False, lower_support=-INF)
    np.testing.assert_array_equal(exact, [True, False, False, False])
    np.testing.assert_array_equal(lower[1:], [-INF, 3.0, 4.0])
    np.testing.assert_array_equal(upper[1:], [2.0, INF, 5.0])
    assert truncation is None


def test_intervals_cut_to_the_truncation_range_and_the_support():
    """trunc(lb = 0.5, ub = 8) on a positive family: left-censored rows start at lb; a bound at 0 (where a
    positive family has no mass) is open."""
    y = np.array([1.0, 2.0, 3.0, 4.0])
    exact, lower, upper, (t_lower, t_upper) = _bounds([0, -1, 1, 2], y2=[9, 9, 9, 5.0], lb=0.5, ub=8).intervals(
        y, discrete=False, lower_support=0.0)
    np.testing.assert_array_equal(lower[1:], [0.5, 3.0, 4.0])
    np.testing.assert_array_equal(upper[1:], [2.0, 8.0, 5.0])
    np.testing.assert_array_equal(t_lower, [0.5] * 4)
    _, lower, _, (t_lower, _) = _bounds([-1] * 4, lb=0.0, ub=8).intervals(y, False, 0.0)
    assert np.all(lower == -INF) and np.all(t_lower == -INF)


def test_intervals_of_counts_follow_stan_lccdf_and_whole_number_truncation():
    """Counts: right-censored at y is Y > y; trunc(lb = 2, ub = 9) is 2..9, the interval (1, 9]; lb = 0 is open."""
    y = np.array([3.0, 3.0, 3.0, 3.0])
    exact, lower, upper, (t_lower, t_upper) = _bounds([0, -1, 1, 2], y2=[0, 0, 0, 6], lb=2, ub=9).intervals(
        y, discrete=True, lower_support=-1.0)
    np.testing.assert_array_equal(lower[1:], [1.0, 3.0, 3.0])
    np.testing.assert_array_equal(upper[1:], [3.0, 9.0, 6.0])
    np.testing.assert_array_equal(t_lower, [1.0] * 4)
    _, _, _, (t_lower, _) = _bounds(lb=0, ub=9).intervals(y, True, -1.0)
    assert np.all(t_lower == -INF)


DATA = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "y2": [2.0, 3.0, 4.5, 5.0, 6.0, 7.0],
                     "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                     "words": ["none", "LEFT", "interval", "right ", "none", "none"],
                     "numbers": [0, -1, 2, 1, 0, 0], "flags": [False, False, False, True, True, False]})


@pytest.mark.parametrize("column, codes", [("words", [0, -1, 2, 1, 0, 0]), ("numbers", [0, -1, 2, 1, 0, 0]),
                                           ("flags", [0, 0, 0, 1, 1, 0])])
def test_codes_are_read_as_brms_reads_them(column, codes):
    bounds = bmm.Model(f"y | cens({column}, y2) ~ x", DATA).design.bounds
    np.testing.assert_array_equal(bounds.code, codes)
    np.testing.assert_array_equal(bounds.y2, DATA["y2"])
    assert bounds.lb is None


def test_truncation_bounds_from_constants_and_columns():
    design = bmm.Model("y | trunc(lb = 0, ub = hi) ~ x", DATA.assign(hi=[5.0, 5, 5, 6, 6, 7])).design
    np.testing.assert_array_equal(design.bounds.lb, [0.0] * 6)
    np.testing.assert_array_equal(design.bounds.ub, [5.0, 5, 5, 6, 6, 7])
    assert design.bounds.code is None
    assert np.all(bmm.Model("y | trunc(ub = 10) ~ x", DATA).design.bounds.lb == -INF)
    assert bmm.Model("y ~ x", DATA).design.bounds is None


def test_trials_addition_is_binomial_successes_of_trials():
    df = pd.DataFrame({"s": [1, 3, 0, 4, 2, 5], "n": [5, 5, 4, 6, 6, 7], "x": [0.0, 1, 2, 3, 4, 5]})
    via_addition = bmm.Model("s | trials(n) ~ x", df, family="binomial").design
    via_p = bmm.Model("p(s, n) ~ x", df, family="binomial").design
    np.testing.assert_array_equal(via_addition.trials, via_p.trials)
    np.testing.assert_array_equal(via_addition.y, via_p.y)


def test_censored_gaussian_is_sampled_not_integrated():
    """A censored gaussian's random effects cannot be integrated out in closed form: the plan samples them."""
    from bayesmm.plan import make_plan

    sleep = bmm.datasets.load("sleepstudy").assign(c=lambda d: np.where(d["Reaction"] > 400, "right", "none"))
    model = bmm.Model("Reaction | cens(c) ~ Days + (1 | Subject)", sleep)
    assert make_plan(model.design, model.family).kinds == ("sampled",)
    plain = bmm.Model("Reaction ~ Days + (1 | Subject)", sleep)
    assert make_plan(plain.design, plain.family).kinds == ("dense",)


def test_every_censorable_family_is_a_family():
    assert set(CENSORABLE) <= set(FAMILIES)
