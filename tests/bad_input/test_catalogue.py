"""The catalogue of bad inputs: each one raises a :class:`bayesmm.BayesMMError` subclass whose
message names the culprit and says what to do; none lets a raw jax, numpy, pandas or formulae exception
through, and none compiles or samples a model first.

``tests/test_errors.py`` holds the first part of the catalogue (columns, responses, families, links,
priors, sampler settings); the cases here are new and cover the catalogue's seven areas: formula,
data, family, priors, sampler settings, new data for prediction and saved files.
"""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm import BayesMMError, DataError, FamilyError, FormulaError, PriorError, SamplerError

RNG = np.random.default_rng(8)
N = 20
DATA = pd.DataFrame({"y": RNG.poisson(3, N), "x": RNG.normal(size=N), "g": np.repeat(list("abcde"), 4)})
SLEEP = bmm.datasets.load("sleepstudy")
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"


class Case(NamedTuple):
    build: Callable  # no argument; for the 'predict' and 'saved' areas it takes (fit, tmp_path)
    error: type
    needles: tuple[str, ...]  # substrings the message must contain: the culprit and the advice


def model(formula="y ~ x + (1 | g)", data=None, **options) -> Callable[[], object]:
    return lambda: bmm.Model(formula, DATA if data is None else data, **options)


def data(**columns) -> pd.DataFrame:
    return DATA.assign(**columns)


def sleep(priors=None, **sampler) -> Callable[[], object]:
    if sampler:
        return lambda: bmm.Model(SLEEP_FORMULA, SLEEP, priors=priors).fit(**sampler)
    return lambda: bmm.Model(SLEEP_FORMULA, SLEEP, priors=priors)


class NotConvertible:
    """A table-like object (as a polars frame) whose conversion to pandas fails."""

    def to_pandas(self):
        raise RuntimeError("nested column type not supported")


class Convertible:
    """A table-like object (as a polars or pyarrow table) that converts cleanly."""

    def to_pandas(self):
        return DATA.copy()


ONE_ROW = pd.DataFrame({"Days": [1.0], "Subject": ["308"]})

CATALOGUE: dict[str, dict[str, Case]] = {
    "formula": {
        "double-bar-with-nothing-after": Case(model("y ~ x + (x ||)"), FormulaError,
                                              ("no grouping variable", "(1 | group)", "^")),
        "extra-closing-bracket": Case(model("y ~ x + (1 | g))"), FormulaError,
                                      ("Unbalanced ')'", "Remove it")),
        "empty-formula": Case(model(""), FormulaError, ("empty", "y ~ x + (1 | g)")),
        "blank-formula": Case(model("   "), FormulaError, ("empty",)),
        "no-response": Case(model("~ x + (1 | g)"), FormulaError, ("no response", "y ~ x + (1 | g)")),
        "nothing-after-tilde": Case(model("y ~"), FormulaError, ("Nothing after '~'", "'~ 1'")),
        "two-bars-in-a-term": Case(model("y ~ x + (1 | g | y)"), FormulaError, ("more than one '|'",)),
        "nesting-with-nothing-after-slash": Case(model("y ~ x + (1 | g/)"), FormulaError,
                                                 ("'g/'", "not a grouping variable", "'a/b' for nesting")),
        "bar-outside-brackets": Case(model("y ~ x + 1 | g"), FormulaError,
                                     ("'|' only belongs inside", "(1 | g)")),
        "function-as-grouping": Case(model("y ~ x + (1 | log(g))"), FormulaError,
                                     ("'log(g)'", "not a grouping variable")),
        "stray-character": Case(model("y ~ x$"), FormulaError, ("Unexpected character '$'",)),
        "random-effect-in-response": Case(model("(1 | g) ~ x"), FormulaError,
                                          ("response holds a '|'", "right of '~'")),
        "formula-is-none": Case(model(None), FormulaError, ("must be a string", "NoneType")),
        "dispersion-formula-without-tilde": Case(model(family="negbinomial", dispersion="x"), FormulaError,
                                                 ("dispersion=", "one-sided formula", "'x'")),
        "unterminated-backtick": Case(model("y ~ `my col + (1 | g)"), FormulaError,
                                      ("Unterminated `quoted name`", "closing backtick", "^")),
        "empty-backticks": Case(model("y ~ `` + (1 | g)"), FormulaError, ("not empty", "`my col`")),
        "q-without-a-string": Case(model("y ~ Q(x) + (1 | g)"), FormulaError,
                                   ("Q() takes one quoted column name", 'Q("my col")')),
        "name-glued-to-a-quoted-name": Case(model("y ~ x`a b` + (1 | g)"), FormulaError,
                                            ("Missing operator next to '`a b`'", "join terms with +")),
        "unknown-function": Case(model("y ~ foo(x) + (1 | g)"), FormulaError,
                                 ("'foo' is neither a column of the data nor a function", "log")),
    },
    "data": {
        "numpy-array": Case(model(data=DATA.to_numpy()), DataError, ("pandas DataFrame", "not ndarray")),
        "series": Case(model(data=DATA["y"]), DataError, ("pandas DataFrame", "not Series")),
        "dict-of-scalars": Case(model(data={"y": 1.0, "x": 2.0, "g": "a"}), DataError,
                                ("dict", "equal-length columns")),
        "table-that-does-not-convert": Case(model(data=NotConvertible()), DataError,
                                            (".to_pandas()", "nested column type")),
        "complex-numbers": Case(model(data=data(x=DATA["x"] + 1j)), DataError,
                                ("'x'", "complex numbers", ".real")),
        "dates-as-predictor": Case(model(data=data(x=pd.date_range("2020-01-01", periods=N))), DataError,
                                   ("'x'", "dates", "dt.days")),
        "time-spans-as-predictor": Case(model(data=data(x=pd.to_timedelta(np.arange(N), unit="h"))), DataError,
                                        ("'x'", "time spans", "total_seconds")),
        "lists-in-a-column": Case(model(data=data(x=[[1, 2]] * N)), DataError,
                                  ("'x'", "objects of type list", "numbers or strings")),
        "strings-mixed-with-numbers": Case(model(data=data(x=pd.Series([1.5, "n/a"] * (N // 2), dtype=object))),
                                           DataError, ("'x'", "mixes strings and numbers", "pd.to_numeric")),
        "overflowing-magnitude": Case(model(data=data(x=DATA["x"] * 1e300)), DataError,
                                      ("'x'", "overflow", "Rescale")),
        "constant-gaussian-response": Case(model(data=data(y=5.0)), DataError,
                                           ("'y'", "same value (5)", "20 rows", "improper")),
        "constant-lognormal-response": Case(model(data=data(y=2.0), family="lognormal"), DataError,
                                            ("'y'", "lognormal", "residual SD")),
        "negative-weights": Case(model(data=data(w=-1.0), weights="w"), DataError,
                                 ("weights column 'w'", "negative", ">= 0")),
        "weights-not-a-column": Case(model(weights="wt"), DataError, ("'wt'", "not in the data")),
        "weights-of-strings": Case(model(data=data(w="a"), weights="w"), DataError,
                                   ("weights column 'w'", "must be numeric")),
        "zi-formula-unknown-column": Case(model(family="zero_inflated_poisson", zi="~ xx"), DataError,
                                          ("'xx'", "Did you mean 'x'?")),
        "true-is-not-a-column": Case(model("y ~ True + (1 | g)"), DataError,
                                     ("Column 'True'", "not in the data", "`True`", "remove the term")),
        "false-is-not-a-column": Case(model("y ~ x + False + (1 | g)"), DataError, ("Column 'False'", "`False`")),
        "none-is-not-a-column": Case(model("y ~ None + (1 | g)"), DataError, ("Column 'None'", "`None`")),
        "quoted-column-not-in-data": Case(model("y ~ `my x` + (1 | g)"), DataError,
                                          ("Column 'my x'", "not in the data", "Available columns")),
        "keyword-column-not-in-data": Case(model("yield ~ x + (1 | g)"), DataError,
                                           ("Column 'yield'", "not in the data")),
        "string-column-repeated": Case(model("y ~ I(g * 2) + (1 | g)"), DataError,
                                       ("Column 'g'", "holds strings", "'I(g * 2)'", "uses it as a number",
                                        "pd.to_numeric", "C(g)")),
        "string-column-scaled": Case(model("y ~ scale(g) + (1 | g)"), DataError,
                                     ("Column 'g'", "'scale(g)'", "factor")),
        "categorical-column-logged": Case(model("y ~ log(c) + (1 | g)", data(c=pd.Categorical(DATA["g"]))),
                                          DataError, ("Column 'c'", "holds categories", "'log(c)'")),
        "string-offset": Case(model("y ~ x + offset(g) + (1 | g)"), DataError,
                              ("Column 'g'", "'offset(g)'", "uses it as a number")),
        "string-in-random-slope": Case(model("y ~ x + (0 + I(-g) | g)"), DataError,
                                       ("Column 'g'", "'I(-g)'", "holds strings")),
    },
    "family": {
        "gaussian-with-logit-link": Case(model(link="logit"), FamilyError,
                                         ("'gaussian'", "no link 'logit'", "Valid links: identity")),
        "family-is-none": Case(model(family=None), FamilyError, ("family must be a name", "NoneType")),
        "zi-formula-for-poisson": Case(model(family="poisson", zi="~ x"), FamilyError,
                                       ("'poisson'", "no 'zi' parameter", "zero-inflated or hurdle family")),
        "hu-formula-for-zero-inflated": Case(model(family="zero_inflated_poisson", hu="~ x"), FamilyError,
                                             ("'zero_inflated_poisson'", "no 'hu' parameter")),
        "binomial-counts-without-trials": Case(model(family="binomial"), FamilyError,
                                               ("'binomial'", "'y'", "0 or 1")),
    },
    "priors": {
        "unknown-preset": Case(sleep("brsm"), PriorError, ("'brsm'", "Did you mean 'brms'?", "Presets:")),
        "missing-prior-file": Case(sleep("/nonexistent/priors.toml"), PriorError,
                                   ("'/nonexistent/priors.toml'", "does not exist")),
        "lkj-eta-zero": Case(sleep({"cor": "lkj(0)"}), PriorError, ("eta", "'lkj(0)'", "must be positive")),
        "per-sigma-on-a-coefficient": Case(sleep({"b": "normal(0, 1) * sigma"}), PriorError,
                                           ("'normal(0, 1) * sigma'", "only random-effect SDs")),
        "per-sigma-uniform": Case(sleep({"sd": "uniform(0, 2) * sigma"}), PriorError,
                                  ("'uniform(0, 2) * sigma'", "units of sigma")),
        "uniform-bounds-reversed": Case(sleep({"b": "uniform(2, 1)"}), PriorError,
                                        ("'uniform(2, 1)'", "lower bound must be below")),
        "infinite-scale": Case(sleep({"b": "normal(0, inf)"}), PriorError, ("'normal(0, inf)'", "'inf'")),
        "cor-prior-without-correlation": Case(
            lambda: bmm.Model("Reaction ~ Days + (1 | Subject)", SLEEP, priors={"cor": "lkj(2)"}), PriorError,
            ("no parameter class 'cor'", "(x | g)", "drop the 'cor' prior")),
        "sd-prior-without-random-effects": Case(
            lambda: bmm.Model("Reaction ~ Days", SLEEP, priors={"sd": "half_normal(1)"}), PriorError,
            ("no parameter class 'sd'", "(1 | g)", "drop the 'sd' prior")),
        "non-string-class-name": Case(sleep({1: "normal(0, 1)"}), PriorError, ("no parameter class '1'", "Classes:")),
    },
    "sampler": {
        "draws-as-string": Case(sleep(draws="1000"), SamplerError, ("draws", "whole number", "'1000'")),
        "chains-none": Case(sleep(chains=None), SamplerError, ("chains", "whole number", "None")),
        "fractional-seed": Case(sleep(seed=1.5), SamplerError, ("seed", "non-negative whole number", "1.5")),
        "not-a-number-target-accept": Case(sleep(target_accept=float("nan")), SamplerError,
                                           ("target_accept", "strictly between 0 and 1", "nan")),
        "brms-iter-in-one-call": Case(lambda: bmm.fit(SLEEP_FORMULA, SLEEP, iter=2000), SamplerError,
                                      ("'iter'", "draws = iter - warmup", "Settings:")),
        "misspelt-setting": Case(sleep(draw=500), SamplerError, ("'draw'", "Did you mean 'draws'?")),
        "refit-as-string": Case(sleep(refit="no"), SamplerError, ("refit", "True, False or None")),
        "pymc-tune": Case(sleep(tune=500), SamplerError, ("'tune'", "Use warmup")),
        "marginalize-as-string": Case(sleep(marginalize="yes"), SamplerError,
                                      ("marginalize", "True, False or None", "'yes'")),
        "progress-as-string": Case(sleep(progress="no"), SamplerError, ("progress", "True, False or None")),
        "zero-prior-draws": Case(lambda: bmm.Model(SLEEP_FORMULA, SLEEP).sample_prior(draws=0), SamplerError,
                                 ("draws", "at least 1", "0")),
    },
    "predict": {
        "newdata-is-a-list": Case(lambda fit, tmp: fit.predict([[1.0, "308"]]), DataError,
                                  ("newdata", "pandas DataFrame", "not list")),
        "newdata-empty": Case(lambda fit, tmp: fit.predict(ONE_ROW.iloc[:0]), DataError, ("newdata", "no rows")),
        "newdata-lacks-a-column": Case(lambda fit, tmp: fit.predict(ONE_ROW.rename(columns={"Days": "Day"})),
                                       DataError, ("['Days']", "Did you mean 'Day'?")),
        "newdata-strings-for-numbers": Case(lambda fit, tmp: fit.predict(ONE_ROW.assign(Days="one")), DataError,
                                            ("'Days'", "fitted with numbers", "pd.to_numeric")),
        "newdata-infinite": Case(lambda fit, tmp: fit.predict(ONE_ROW.assign(Days=np.inf)), DataError,
                                 ("'Days'", "infinite", "finite")),
        "newdata-complex": Case(lambda fit, tmp: fit.predict(ONE_ROW.assign(Days=1 + 1j)), DataError,
                                ("'Days'", "complex")),
        "newdata-nullable-missing": Case(
            lambda fit, tmp: fit.predict(pd.DataFrame({"Days": pd.array([1.0, None], dtype="Float64"),
                                                       "Subject": ["308", "309"]})),
            DataError, ("missing values", "['Days']", "Drop or fill")),
        "newdata-duplicated-columns": Case(
            lambda fit, tmp: fit.predict(pd.concat([ONE_ROW, ONE_ROW[["Days"]]], axis=1)), DataError,
            ("duplicated column names", "['Days']")),
        "new-level-with-new-levels-error": Case(
            lambda fit, tmp: fit.predict(ONE_ROW.assign(Subject=["999"]), new_levels="error"), DataError,
            ("'Subject'", "['999']", "new_levels='sample'")),
        "unknown-kind": Case(lambda fit, tmp: fit.predict(ONE_ROW, kind="probability"), BayesMMError,
                             ("kind", "'probability'", "'mean'")),
        "negative-prediction-draws": Case(lambda fit, tmp: fit.predict(ONE_ROW, draws=-3), BayesMMError,
                                          ("draws", "positive whole number", "-3")),
    },
    "saved": {
        "load-a-folder": Case(lambda fit, tmp: bmm.load(tmp), BayesMMError, ("load()", "no file")),
        "load-a-number": Case(lambda fit, tmp: bmm.load(5), BayesMMError, ("load()", "file name", "int 5")),
        "load-none": Case(lambda fit, tmp: bmm.load(None), BayesMMError, ("load()", "NoneType")),
        "load-an-empty-file": Case(lambda fit, tmp: (open(tmp / "e.nc", "w").close(), bmm.load(tmp / "e.nc")),
                                   BayesMMError, ("e.nc", "not a readable netCDF file", "fit.save(path)")),
        "load-a-csv": Case(lambda fit, tmp: (SLEEP.to_csv(tmp / "s.csv"), bmm.load(tmp / "s.csv")), BayesMMError,
                           ("s.csv", "not a readable netCDF file")),
        "save-into-missing-folder": Case(lambda fit, tmp: fit.save(tmp / "no" / "fit.nc"), BayesMMError,
                                         ("save()", "does not exist", "create it first")),
        "save-to-a-number": Case(lambda fit, tmp: fit.save(3), BayesMMError, ("save()", "file name", "int 3")),
    },
}
CASES = [(area, name, case) for area, cases in CATALOGUE.items() for name, case in cases.items()]
NEEDS_FIT = ("predict", "saved")


@pytest.fixture(scope="module")
def small_fit():
    """A short sleepstudy fit: the predict and saved-file cases only need its structure."""
    return bmm.fit(SLEEP_FORMULA, SLEEP, chains=1, draws=30, warmup=30, seed=3, progress=False)


@pytest.fixture
def no_sampling(monkeypatch):
    """Any attempt to compile or sample fails the test: bad input must be refused first."""
    import bayesmm.sampler.run
    import bayesmm.model

    def refuse(*args, **kwargs):
        raise AssertionError("the model was compiled or sampled before the error was raised")

    monkeypatch.setattr(bayesmm.model, "compile_model", refuse)
    monkeypatch.setattr(bayesmm.sampler.run, "sample_posterior", refuse)


def check(build, case: Case) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        with pytest.raises(BayesMMError) as info:
            build()
    err = info.value
    assert type(err) is case.error, f"{type(err).__name__}: {err}"
    assert type(err).__module__ == "bayesmm.errors"
    assert err.__cause__ is None  # a foreign traceback is never chained on
    for needle in case.needles:
        assert needle in str(err), f"{needle!r} not in message:\n{err}"


@pytest.mark.parametrize("area, name, case", [c for c in CASES if c[0] not in NEEDS_FIT],
                         ids=[f"{a}-{n}" for a, n, _ in CASES if a not in NEEDS_FIT])
def test_bad_input(area, name, case, no_sampling):
    check(case.build, case)


@pytest.mark.parametrize("area, name, case", [c for c in CASES if c[0] in NEEDS_FIT],
                         ids=[f"{a}-{n}" for a, n, _ in CASES if a in NEEDS_FIT])
def test_bad_input_after_fit(area, name, case, small_fit, tmp_path):
    check(lambda: case.build(small_fit, tmp_path), case)
    assert not (tmp_path / "no").exists()


def test_catalogue_size():
    """The catalogue holds at least 40 bad inputs across seven areas; with tests/test_errors.py's cases."""
    from test_errors import CASES as FIRST_PART

    assert set(CATALOGUE) == {"formula", "data", "family", "priors", "sampler", "predict", "saved"}
    assert all(len(cases) >= 5 for cases in CATALOGUE.values())
    assert len(CASES) >= 40 and len(CASES) + len(FIRST_PART) >= 140
    assert not set(name for _, name, _ in CASES) & set(FIRST_PART)


# ------------------------------------------------------------------- inputs that convert cleanly are accepted
def test_table_with_to_pandas_is_accepted(no_sampling):
    m = bmm.Model("y ~ x + (1 | g)", Convertible(), family="poisson")
    np.testing.assert_array_equal(m.design.y, DATA["y"].to_numpy(dtype=float))
    np.testing.assert_allclose(m.design.X[:, 1], DATA["x"].to_numpy())


@pytest.mark.parametrize("scale", [1e-9, 1e9, 1e120])
def test_columns_at_extreme_scales_are_not_aliased(scale, no_sampling):
    """The rank check is scale-free: x at 1e-9 or 1e120 keeps its column and its prior scales with it."""
    m = bmm.Model("y ~ x + (1 | g)", data(x=DATA["x"] * scale), family="poisson")
    assert m.design.fixed_names == ("Intercept", "x")
    (prior,) = [e.prior for e in m.prior_entries if e.cls == "b"]
    np.testing.assert_allclose(prior.args[1] * scale, 2.5 / np.std(DATA["x"]), rtol=1e-9)


def test_object_column_of_numbers_and_missing_values_is_accepted(no_sampling):
    with pytest.warns(bmm.BayesMMWarning, match="Dropped 1 of 20 rows"):
        m = bmm.Model("y ~ x + (1 | g)", data(x=pd.Series([*DATA["x"][:-1], None], dtype=object)))
    np.testing.assert_allclose(m.design.X[:, 1], DATA["x"].to_numpy()[:-1])
