"""Bad censoring and truncation input (``y | cens(...)``, ``y | trunc(...)``): each is refused before anything is
compiled, with a bayesmm error naming the column (or the family), the rows and what to do; no row is dropped
silently. The same layout as the catalogue (tests/bad_input/test_catalogue.py)."""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm import DataError, FamilyError, FormulaError

DATA = pd.DataFrame({
    "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
    "upper": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    "x": np.linspace(0.0, 1.0, 8),
    "status": ["none", "left", "interval", "right", "none", "none", "right", "none"],
    "code": [0, -1, 2, 1, 0, 0, 1, 0],
})


class Case(NamedTuple):
    build: Callable
    error: type
    needles: tuple[str, ...]


def model(formula, data=None, family="gaussian") -> Callable:
    return lambda: bmm.Model(formula, DATA if data is None else data, family=family)


def changed(**columns) -> pd.DataFrame:
    return DATA.assign(**columns)


CASES = {
    "unknown-code-word": Case(model("y | cens(status, upper) ~ x", changed(status=[*DATA.status[:5], "dead",
                                                                                 "none", "censored"])),
                              DataError, ("censoring column 'status'", "unknown codes ['censored', 'dead']",
                                          "rows: [5, 7]", "'none', 'left', 'right' or 'interval'")),
    "unknown-code-number": Case(model("y | cens(code, upper) ~ x", changed(code=[0, -1, 2, 3, 0, 0, 1, 0])),
                                DataError, ("censoring column 'code'", "['3']", "rows: [3]", "0, -1, 1, 2")),
    "interval-without-upper-end": Case(model("y | cens(status) ~ x"), DataError,
                                       ("'status' marks 1 rows as interval-censored", "rows: [2]",
                                        "cens(status, y2)")),
    "interval-ends-reversed": Case(model("y | cens(status, upper) ~ x", changed(upper=[2.0, 3, 2.5, 5, 6, 7, 8, 9])),
                                   DataError, ("upper end 'upper' above the response 'y'", "rows: [2]", "Swap")),
    "lower-bound-above-a-value": Case(model("y | trunc(lb = 2.5) ~ x"), DataError,
                                      ("'y' lies outside the truncation bounds [2.5, inf]", "2 rows",
                                       "rows: [0, 1]", "Check the bounds")),
    "lower-bound-column-above-a-value": Case(model("y | trunc(lb = low, ub = 20) ~ x",
                                                   changed(low=[0.0, 0, 0, 0, 0, 9, 0, 0])),
                                             DataError, ("[low, 20]", "rows: [5]")),
    "bounds-reversed": Case(model("y | trunc(lb = 10, ub = 0) ~ x"), DataError, ("lb below ub", "[10, 0]")),
    "censored-beyond-truncation": Case(model("y | cens(status, upper) + trunc(ub = 4) ~ x",
                                             changed(y=[1.0, 2, 3, 4, 1, 1, 2, 1])),
                                       DataError, ("leave no room inside the truncation bounds", "rows: [3]")),
    "family-without-a-cdf": Case(model("y | cens(status, upper) ~ x", family="zero_inflated_poisson"), FamilyError,
                                 ("Family 'zero_inflated_poisson' does not take cens()", "gaussian", "remove cens()")),
    "truncated-beta": Case(model("y | trunc(ub = 0.9) ~ x", changed(y=np.linspace(0.1, 0.8, 8)), "beta"),
                           FamilyError, ("Family 'beta' does not take trunc()",)),
    "count-bound-not-whole": Case(model("y | trunc(ub = 10.5) ~ x", family="poisson"), DataError,
                                  ("whole-number truncation bounds", "'10.5'")),
    "count-upper-end-not-whole": Case(model("y | cens(status, upper) ~ x", changed(upper=[2.0, 3, 4.5, 5, 6, 7, 8, 9]),
                                            "poisson"), FamilyError, ("'upper'", "non-negative whole counts")),
    "positive-upper-end": Case(model("y | cens(status, upper) ~ x", family="lognormal"), None, ()),
    "string-upper-end": Case(model("y | cens(status, upper) ~ x", changed(upper=list("abcdefgh"))), DataError,
                             ("upper end of interval censoring 'upper' must hold numbers",)),
    "unknown-addition": Case(model("y | se(upper) ~ x"), FormulaError, ("se() is not supported",)),
    "weights-addition": Case(model("y | weights(upper) ~ x"), FormulaError, ("weights='column'",)),
    "bar-in-response-as-group": Case(model("y | status ~ x"), FormulaError,
                                     ("'status' is not an addition term", "cens(...)", "right of '~'")),
    "two-bars": Case(model("y | cens(status) | trunc(lb = 0) ~ x"), FormulaError, ("join its addition terms with +",)),
    "cens-unknown-argument": Case(model("y | cens(status, lb = 0) ~ x"), FormulaError,
                                  ("cens() takes x, y2", "argument lb")),
}


@pytest.fixture
def no_sampling(monkeypatch):
    import bayesmm.model
    import bayesmm.sampler.run

    def refuse(*args, **kwargs):
        raise AssertionError("the model was compiled or sampled before the error was raised")

    monkeypatch.setattr(bayesmm.model, "compile_model", refuse)
    monkeypatch.setattr(bayesmm.sampler.run, "sample_posterior", refuse)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_censoring_input(name, no_sampling):
    case = CASES[name]
    if case.error is None:  # the control: the same data with a family that takes it
        assert case.build().design.bounds is not None
        return
    with pytest.raises(case.error) as info:
        case.build()
    message = str(info.value)
    for needle in case.needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert info.value.__cause__ is None or isinstance(info.value.__cause__, bmm.BayesMMError)


def test_missing_upper_end_drops_the_row_with_a_warning_naming_the_column(no_sampling):
    """As in brms, y2 must not be missing even where it is not used: such rows are dropped, never silently."""
    with pytest.warns(bmm.BayesMMWarning, match=r"Dropped 1 of 8 rows .*upper \(1\)"):
        design = bmm.Model("y | cens(status, upper) ~ x", changed(upper=[2.0, 3, 4, np.nan, 6, 7, 8, 9])).design
    assert design.n_obs == 7 and list(design.bounds.code) == [0, -1, 2, 0, 0, 1, 0]
