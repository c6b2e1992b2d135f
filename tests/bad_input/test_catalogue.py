"""The catalogue of bad inputs: every mistake a user can make raises the right :class:`bayesmm.BayesMMError`
(the subclass of its stage where there is one), with a message that names the culprit (column, term, level,
prior, setting) and says what to do; none lets a raw jax, numpy, pandas or formulae exception through (nor
chains one on), and none compiles or samples a model first: sampler settings are refused before compilation.

The cases are grouped by area: formula, data, family, priors, sampler settings, new data for prediction and
saved files. After them: where a formula error points, and the inputs near the edge that must be accepted.
"""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm import BayesMMError, DataError, FamilyError, FormulaError, PriorError, SamplerError

SLEEP = bmm.datasets.load("sleepstudy")
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"
RNG = np.random.default_rng(7)
N = 20
#: counts y, trials t >= y, a numeric x, a 5-level grouping factor g
DATA = pd.DataFrame({
    "y": RNG.poisson(3, N),
    "x": RNG.normal(size=N),
    "g": np.repeat(list("abcde"), 4),
})
DATA["t"] = DATA["y"] + RNG.poisson(3, N) + 1
#: positive (non-integer) and (0, 1) responses for gamma/lognormal and beta
POSITIVE = DATA.assign(y=DATA["t"] + 0.5)
UNIT = DATA.assign(y=(DATA["y"] + 0.5) / (DATA["t"] + 1))


class Case(NamedTuple):
    build: Callable  # no argument; for the 'predict' and 'saved' areas it takes (fit, tmp_path)
    error: type
    needles: tuple[str, ...]  # substrings the message must contain: the culprit and the advice


def model(formula="y ~ x + (1 | g)", data=None, **options) -> Callable[[], object]:
    return lambda: bmm.Model(formula, DATA if data is None else data, **options)


def data(**changes) -> pd.DataFrame:
    """A copy of DATA with ``column=(rows, value)`` or ``column=whole_new_column`` applied."""
    frame = DATA.copy()
    for name, change in changes.items():
        if isinstance(change, tuple):
            rows, value = change
            if isinstance(value, float) and frame[name].dtype.kind == "i":
                frame[name] = frame[name].astype(float)
            frame.loc[rows, name] = value
        else:
            frame[name] = change
    return frame


def with_y(frame: pd.DataFrame, rows, value) -> pd.DataFrame:
    frame = frame.copy()
    frame["y"] = frame["y"].astype(float)
    frame.loc[rows, "y"] = value
    return frame


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
        # --------------------------------------------------------------------------- formula syntax
        "empty-group": Case(
            lambda: bmm.Model("Reaction ~ Days + (1|)", SLEEP), FormulaError,
            ("no grouping variable", "(1 | group)")),
        "empty-lhs-of-bar": Case(
            lambda: bmm.Model("Reaction ~ Days + ( | Subject)", SLEEP), FormulaError,
            ("nothing before '|'", "(1 | g)")),
        "missing-operator": Case(
            lambda: bmm.Model("Reaction ~ Days Subject", SLEEP), FormulaError,
            ("'Days'", "'Subject'", "Missing operator", "join terms with +")),
        "not-an-operator": Case(
            lambda: bmm.Model("Reaction ~ Days % Subject + (1 | Subject)", SLEEP), FormulaError,
            ("'%'", "not a formula operator", "I(")),
        "unbalanced-bracket": Case(
            lambda: bmm.Model("Reaction ~ Days + (Days | Subject", SLEEP), FormulaError,
            ("Unbalanced '('", "Add the closing bracket")),
        "trailing-plus": Case(
            lambda: bmm.Model("Reaction ~ Days +", SLEEP), FormulaError,
            ("trailing '+'",)),
        "no-tilde": Case(
            lambda: bmm.Model("Reaction Days", SLEEP), FormulaError,
            ("no '~'", "y ~ x + (1 | g)")),
        "formula-not-a-string": Case(
            lambda: bmm.Model(["Reaction ~ Days"], SLEEP), FormulaError,
            ("must be a string", "list")),
        # ----------------------------------------------------- brackets, bars, backticks, functions
        "double-bar-with-nothing-after": Case(model("y ~ x + (x ||)"), FormulaError,
                                              ("no grouping variable", "(1 | group)", "^")),
        "extra-closing-bracket": Case(model("y ~ x + (1 | g))"), FormulaError,
                                      ("Unbalanced ')'", "Remove it")),
        "empty-formula": Case(model(""), FormulaError, ("empty", "y ~ x + (1 | g)")),
        "blank-formula": Case(model("   "), FormulaError, ("empty",)),
        "no-response": Case(model("~ x + (1 | g)"), FormulaError, ("no response", "y ~ x + (1 | g)")),
        "nothing-after-tilde": Case(model("y ~"), FormulaError, ("Nothing after '~'", "'~ 1'")),
        "three-bars-in-a-term": Case(model("y ~ x + (1 | p | g | y)"), FormulaError,
                                     ("more than two '|'", "(1 | p | g)")),
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
        # ---------------------------------------------------------------------------------- columns
        "unknown-column-response": Case(
            lambda: bmm.Model("Reactoin ~ Days + (Days | Subject)", SLEEP), DataError,
            ("'Reactoin'", "not in the data", "Did you mean 'Reaction'?", "Available columns")),
        "unknown-column-fixed": Case(
            lambda: bmm.Model("Reaction ~ Dyas + (1 | Subject)", SLEEP), DataError,
            ("'Dyas'", "Did you mean 'Days'?")),
        "unknown-column-in-transform": Case(
            lambda: bmm.Model("Reaction ~ log(Dyas) + (1 | Subject)", SLEEP), DataError,
            ("'Dyas'", "Did you mean 'Days'?")),
        "unknown-grouping-column": Case(
            lambda: bmm.Model("Reaction ~ Days + (1 | Subjetc)", SLEEP), DataError,
            ("'Subjetc'", "Did you mean 'Subject'?")),
        # ----------------------------------------------------------------------------- the response
        "string-response-gaussian": Case(
            lambda: bmm.Model("g ~ x + (1 | t)", DATA), DataError,
            ("'g'", "not numeric", "needs numbers")),
        "response-transform-not-finite": Case(
            lambda: bmm.Model("log(x) ~ 1 + (1 | g)", DATA), DataError,
            ("'log(x)'", "non-finite", "Check the transform")),
        "cbind-failures-not-finite": Case(
            lambda: bmm.Model("cbind(y, t / (x - x)) ~ 1 + (1 | g)", DATA, family="binomial"), DataError,
            ("'t / (x - x)'", "cbind(y, t / (x - x))", "non-finite", "division by zero")),
        # --------------------------------------------------------------------------------- grouping
        "single-level-group": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(g="a")), DataError,
            ("'g'", "single level", "('a')", "at least 2 levels", "Drop the term")),
        "gaussian-one-level-per-row": Case(
            lambda: bmm.Model("y ~ x + (1 | id)", data(id=np.arange(N))), DataError,
            ("'id'", f"as many levels ({N})", "non-gaussian family", "drop the term")),
        # ------------------------------------------------------------------------------ data values
        "all-rows-dropped": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(x=(list(range(1, N)), np.nan), y=(0, np.nan))), DataError,
            ("No complete rows", "y (1)", "x (19)", "impute")),
        "all-missing-column": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(x=np.nan)), DataError,
            ("'x'", "entirely missing", "Remove it from the formula")),
        "infinite-value": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(x=(5, np.inf))), DataError,
            ("'x'", "1 infinite values", "[5]", "replace them with missing values")),
        "minus-infinite-response": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(2, -np.inf))), DataError,
            ("'y'", "infinite", "[2]")),
        "na-action-error": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(x=(1, np.nan)), na_action="error"), DataError,
            ("1 rows", "x (1)", "na_action='omit'")),
        "na-action-unknown": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, na_action="drop"), DataError,
            ("na_action", "'omit' or 'error'", "'drop'")),
        "string-column-as-number": Case(
            lambda: bmm.Model("y ~ I(x**2) + (1 | g)", data(x=DATA["x"].astype(str))), DataError,
            ("'x'", "I(x**2)", "holds strings", "uses it as a number", "pd.to_numeric")),
        "string-column-in-log": Case(
            lambda: bmm.Model("y ~ log(x) + (1 | g)", data(x=DATA["x"].abs().astype(str))), DataError,
            ("log(x)", "pd.to_numeric")),
        "log-of-negative": Case(
            lambda: bmm.Model("y ~ log(x) + (1 | g)", data(x=DATA["x"] - 10)), DataError,
            ("log(x)", "non-finite", "non-positive")),
        "offset-not-finite": Case(
            lambda: bmm.Model("y ~ 1 + offset(log(x)) + (1 | g)", data(x=DATA["x"] - 10), family="poisson"),
            DataError, ("offset", "log(x)", "non-finite")),
        # -------------------------------------------------------------------------- the data object
        "data-is-a-list": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", [[1, 2], [3, 4]]), DataError,
            ("pandas DataFrame", "dict of columns", "not list")),
        "data-is-a-ragged-dict": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", {"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0], "g": ["a", "b", "c"]}),
            DataError, ("dict", "equal-length columns")),
        "duplicated-column-names": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", pd.concat([DATA, DATA[["x"]]], axis=1)), DataError,
            ("duplicated column names", "['x']", "rename")),
        "empty-dataframe": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA.iloc[:0]), DataError,
            ("no rows",)),
        "empty-dataframe-no-columns": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", pd.DataFrame()), DataError,
            ("no rows",)),
        # ----------------------------------------------- data objects, column types, weights, names
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
        "id-shared-with-the-zi-formula": Case(model("y ~ x + (1 | p | g)", family="zero_inflated_poisson",
                                                    zi="~ (1 | p | g)"), FormulaError,
                                              ("ID 'p'", "zi= formula", "(1 | g) in each")),
        "zi-random-term-unknown-group": Case(model(family="zero_inflated_poisson", zi="~ (1 | gg)"), DataError,
                                             ("'gg'", "in the zi= formula", "not in the data", "Did you mean 'g'?")),
        "dispersion-group-with-one-level": Case(model(data=data(h="a"), dispersion="~ (1 | h)"), DataError,
                                                ("'h'", "dispersion= formula (sigma)", "single level")),
        "zi-formula-offset": Case(model(family="zero_inflated_poisson", zi="~ offset(x)"), FormulaError,
                                  ("zi= formula", "offsets are supported in the main formula only")),
        "part-sd-prior-without-part-random-effects": Case(
            model(family="zero_inflated_poisson", zi="~ x", priors={"sd_zi": "half_normal(1)"}), PriorError,
            ("'sd_zi'", "no random-effect terms", "drop the 'sd_zi' prior")),
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
        # ----------------------------------------------------------------------------- the response
        "bernoulli-non-binary": Case(
            lambda: bmm.Model(SLEEP_FORMULA, SLEEP, family="bernoulli"), FamilyError,
            ("'bernoulli'", "'Reaction'", "0 or 1", "180 rows", "choose another family")),
        "bernoulli-three-strings": Case(
            lambda: bmm.Model("r ~ 1 + (1 | g)", data(r=["yes", "no", "maybe", "no"] * 5), family="bernoulli"),
            FamilyError, ("'r'", "3 distinct values", "'maybe'", "Recode it to two levels")),
        "poisson-negative": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(3, -1)), family="poisson"), FamilyError,
            ("'poisson'", "'y'", "non-negative whole counts", "[3]", "choose another family")),
        "poisson-non-integer": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(4, 1.5)), family="poisson"), FamilyError,
            ("'poisson'", "'y'", "non-negative whole counts", "[4]")),
        "binomial-successes-above-trials": Case(
            # row 0 is dropped for its missing x: the message must give the original row labels 2 and 7
            lambda: bmm.Model("p(y, t) ~ x + (1 | g)", data(x=(0, np.nan), y=([2, 7], 50)), family="binomial"),
            FamilyError, ("'binomial'", "p(y, t)", "successes no larger than trials", "2 rows", "[2, 7]")),
        "binomial-cbind-negative-failures": Case(
            lambda: bmm.Model("cbind(y, t - y - 100) ~ x + (1 | g)", DATA, family="binomial"), FamilyError,
            ("'binomial'", "cbind(y, t - y - 100)", "trials")),
        "negbinomial-non-integer": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(4, 2.5)), family="negbinomial"), FamilyError,
            ("'negbinomial'", "'y'", "non-negative whole counts", "1 rows", "[4]", "choose another family")),
        "negbinomial-alias-negative": Case(
            # the message names the family, not the alias it was asked for by
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=([1, 6], -2)), family="nbinom2"), FamilyError,
            ("'negbinomial'", "'y'", "non-negative whole counts", "2 rows", "[1, 6]")),
        "nbinom1-non-integer": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(7, 0.5)), family="nbinom1"), FamilyError,
            ("'nbinom1'", "'y'", "non-negative whole counts", "[7]")),
        "zero-inflated-poisson-non-integer": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(2, 3.25)), family="zero_inflated_poisson"), FamilyError,
            ("'zero_inflated_poisson'", "'y'", "non-negative whole counts", "[2]")),
        "zero-inflated-negbinomial-negative": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(9, -1)), family="zero_inflated_negbinomial"), FamilyError,
            ("'zero_inflated_negbinomial'", "'y'", "non-negative whole counts", "[9]")),
        "hurdle-poisson-non-integer": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(0, 1.5)), family="hurdle_poisson"), FamilyError,
            ("'hurdle_poisson'", "'y'", "non-negative whole counts", "[0]")),
        "hurdle-negbinomial-negative": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=(11, -3)), family="hurdle_negbinomial"), FamilyError,
            ("'hurdle_negbinomial'", "'y'", "non-negative whole counts", "[11]")),
        "gamma-zero": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", with_y(POSITIVE, 3, 0.0), family="gamma"), FamilyError,
            ("'gamma'", "'y'", "values above 0", "1 rows", "[3]", "choose another family")),
        "gamma-negative": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", with_y(POSITIVE, [5, 8, 13], -1.0), family="gamma", link="identity"),
            FamilyError, ("'gamma'", "'y'", "values above 0", "3 rows", "[5, 8, 13]")),
        "lognormal-zero": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", with_y(POSITIVE, [2, 5], 0.0), family="lognormal"), FamilyError,
            ("'lognormal'", "'y'", "values above 0", "2 rows", "[2, 5]")),
        "beta-zero": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", with_y(UNIT, 4, 0.0), family="beta"), FamilyError,
            ("'beta'", "'y'", "strictly between 0 and 1", "1 rows", "[4]", "choose another family")),
        "beta-one": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", with_y(UNIT, [6, 7], 1.0), family="beta", link="probit"), FamilyError,
            ("'beta'", "'y'", "strictly between 0 and 1", "2 rows", "[6, 7]")),
        "beta-percent": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", POSITIVE, family="beta"), FamilyError,
            ("'beta'", "'y'", "strictly between 0 and 1", f"{N} rows")),
        "beta-binomial-without-trials": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", data(y=DATA["y"] > 2), family="beta_binomial"), FamilyError,
            ("'beta_binomial'", "successes and trials", "cbind(successes, failures)", "'y'", "bernoulli")),
        "beta-binomial-successes-above-trials": Case(
            lambda: bmm.Model("p(y, t) ~ x + (1 | g)", data(y=(5, 60)), family="beta_binomial"), FamilyError,
            ("'beta_binomial'", "p(y, t)", "successes no larger than trials", "[5]")),
        "student-t-with-trials": Case(
            lambda: bmm.Model("cbind(y, t - y) ~ x + (1 | g)", DATA, family="student_t"), FamilyError,
            ("cbind(y, t - y)", "binomial-type families", "'student_t'")),
        # -------------------------------------------------------------------------- family and link
        "unknown-family": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="poison"), FamilyError,
            ("'poison'", "Valid families", "gaussian", "poisson", "binomial", "bernoulli", "negbinomial", "nbinom1",
             "nbinom2", "negative_binomial", "gamma", "beta", "beta_binomial", "student_t", "lognormal",
             "zero_inflated_poisson", "zero_inflated_negbinomial", "hurdle_poisson", "hurdle_negbinomial")),
        "unknown-family-gamma-typo": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", POSITIVE, family="gama"), FamilyError,
            ("'gama'", "Valid families", "gamma")),
        "family-not-a-string": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family=3), FamilyError,
            ("family must be a name", "'gaussian'", "int")),
        "unknown-link": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="poisson", link="logit"), FamilyError,
            ("'poisson'", "no link 'logit'", "Valid links: log, identity, sqrt")),
        "unknown-link-negbinomial": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="negative_binomial", link="logit"), FamilyError,
            ("'negbinomial'", "no link 'logit'", "Valid links: log, identity, sqrt")),
        "unknown-link-gamma": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", POSITIVE, family="gamma", link="sqrt"), FamilyError,
            ("'gamma'", "no link 'sqrt'", "Valid links: log, inverse, identity")),
        "unknown-link-beta": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", UNIT, family="beta", link="log"), FamilyError,
            ("'beta'", "no link 'log'", "Valid links: logit, probit, cloglog")),
        "unknown-link-lognormal": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", POSITIVE, family="lognormal", link="log"), FamilyError,
            ("'lognormal'", "no link 'log'", "Valid links: identity")),
        "unknown-link-hurdle": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="hurdle_poisson", link="identity"), FamilyError,
            ("'hurdle_poisson'", "no link 'identity'", "Valid links: log")),
        # -------------------------------------------------------------- links and family parameters
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
        # ------------------------------------------------------------------ prior strings and names
        "prior-misspelt": Case(
            sleep({"b": "nromal(0, 5)"}), PriorError,
            ("'nromal'", "Did you mean 'normal'?", "Valid names")),
        "prior-too-few-args": Case(
            sleep({"b": "normal(0)"}), PriorError,
            ("'normal' takes 2 argument(s)", "loc, scale", "'normal(0)' gives 1")),
        "prior-too-many-args": Case(
            sleep({"sd": "half_normal(1, 2)"}), PriorError,
            ("'half_normal' takes 1 argument(s)", "scale", "gives 2")),
        "prior-negative-scale": Case(
            sleep({"b": "normal(0, -1)"}), PriorError,
            ("scale", "'normal(0, -1)'", "must be positive")),
        "prior-non-numeric-arg": Case(
            sleep({"b": "normal(a, 1)"}), PriorError,
            ("'normal(a, 1)'", "must be numbers")),
        "prior-unreadable": Case(
            sleep({"b": "normal(0, 1"}), PriorError,
            ("'normal(0, 1'", "name(arguments)")),
        "prior-not-a-string": Case(
            sleep({"b": 5}), PriorError,
            ("must be a string", "'normal(0, 2.5)'", "5")),
        "prior-unknown-coefficient": Case(
            sleep({"b": {"Dyas": "normal(0, 1)"}}), PriorError,
            ("'b'", "no coefficient 'Dyas'", "Did you mean 'Days'?", "Valid: Days")),
        "prior-unknown-group": Case(
            sleep({"sd": {"Subjet": "half_normal(1)"}}), PriorError,
            ("no group 'Subjet'", "Did you mean 'Subject'?")),
        "prior-unknown-group-term": Case(
            sleep({"sd": {"Subject": {"Dyas": "half_normal(1)"}}}), PriorError,
            ("'Subject'", "no term 'Dyas'", "Did you mean 'Days'?", "Valid: Days, Intercept")),
        "prior-unknown-class": Case(
            sleep({"sigam": "half_normal(1)"}), PriorError,
            ("no parameter class 'sigam'", "Did you mean 'sigma'?", "Classes:")),
        "prior-class-absent-in-family": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="poisson", priors={"sigma": "half_normal(1)"}),
            PriorError, ("'sigma'", "Classes:")),
        "prior-class-absent-negbinomial": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="negbinomial", priors={"shape": "gamma(2, 1)"}),
            PriorError, ("'shape'", "Classes:", "phi")),
        "prior-real-dist-on-zi": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="zero_inflated_poisson", priors={"zi": "normal(0.5, 1)"}),
            PriorError, ("zi", "'normal(0.5, 1)'", "any real value", "values in (0, 1)")),
        "prior-positive-dist-on-hu": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="hurdle_poisson", priors={"hu": "gamma(2, 2)"}),
            PriorError, ("hu", "'gamma(2, 2)'", "positive values", "values in (0, 1)")),
        "prior-uniform-beyond-one-on-zi": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="zero_inflated_poisson", priors={"zi": "uniform(0, 2)"}),
            PriorError, ("zi", "'uniform(0, 2)'", "between 0 and 1", "bounds within [0, 1]")),
        "prior-unit-dist-on-phi": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", DATA, family="negbinomial", priors={"phi": "beta(2, 2)"}),
            PriorError, ("phi", "'beta(2, 2)'", "values in (0, 1)", "positive values")),
        "prior-located-t-on-nu": Case(
            lambda: bmm.Model("y ~ x + (1 | g)", POSITIVE, family="student_t", priors={"nu": "student_t(3, 10, 5)"}),
            PriorError, ("nu", "location 0", "gamma")),
        "prior-flat-on-sd": Case(
            sleep({"sd": "flat"}), PriorError,
            ("flat", "sd", "improper", "half_student_t(3, 1)")),
        "prior-flat-on-sigma": Case(
            sleep({"sigma": "flat()"}), PriorError,
            ("flat", "sigma", "improper", "proper prior")),
        "prior-positive-dist-on-b": Case(
            sleep({"b": "half_normal(1)"}), PriorError,
            ("b Days", "'half_normal(1)'", "positive values", "any real value")),
        "prior-located-normal-on-sd": Case(
            sleep({"sd": "normal(1, 2)"}), PriorError,
            ("sd Subject", "'normal(1, 2)'", "location 0", "half_normal")),
        "prior-non-lkj-on-cor": Case(
            sleep({"cor": "normal(0, 1)"}), PriorError,
            ("cor Subject", "lkj(eta)", "'normal(0, 1)'")),
        "priors-not-a-dict": Case(
            sleep(["normal(0, 1)"]), PriorError,
            ("priors must be a dict", "{'b': 'normal(0, 5)'}", "list")),
        # ------------------------------------------ presets, files, bounds, classes the model lacks
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
        # ------------------------------------------------------------------------- sampler settings
        "negative-draws": Case(sleep(draws=-1), SamplerError, ("draws", "at least 1", "-1")),
        "zero-chains": Case(sleep(chains=0), SamplerError, ("chains", "at least 1", "0")),
        "negative-warmup": Case(sleep(warmup=-5), SamplerError, ("warmup", "at least 0", "-5")),
        "fractional-draws": Case(sleep(draws=10.5), SamplerError, ("draws", "whole number", "10.5")),
        "boolean-chains": Case(sleep(chains=True), SamplerError, ("chains", "whole number", "True")),
        "target-accept-above-one": Case(
            sleep(target_accept=1.5), SamplerError, ("target_accept", "strictly between 0 and 1", "1.5")),
        "target-accept-zero": Case(
            sleep(target_accept=0.0), SamplerError, ("target_accept", "strictly between 0 and 1")),
        "zero-tree-depth": Case(sleep(max_tree_depth=0), SamplerError, ("max_tree_depth", "at least 1")),
        "negative-seed": Case(sleep(seed=-1), SamplerError, ("seed", "non-negative", "-1")),
        # ---------------------------------------------------------------- settings by name and type
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
    # exactly the expected stage's class, raised by bayesmm (not a jax/pandas/formulae error passed through)
    assert type(err) is case.error, f"{type(err).__name__}: {err}"
    assert type(err).__module__ == "bayesmm.errors"
    if case.error is not BayesMMError:
        assert isinstance(err, ValueError)  # every BayesMMError subclass is also a ValueError
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


def test_subclasses_share_the_base(no_sampling):
    for cls in (FormulaError, DataError, FamilyError, PriorError, SamplerError):
        assert issubclass(cls, bmm.BayesMMError)
        assert cls.__module__ == "bayesmm.errors"


@pytest.mark.parametrize(
    "formula, position, needle",
    [
        ("Reaction ~ Days + (1|)", 21, "no grouping variable"),
        ("Reaction ~ Days Subject", 16, "Missing operator"),
        ("Reaction ~ Days % Subject", 16, "'%'"),
        ("Reaction ~ Days + (Days | Subject", 18, "Unbalanced '('"),
        ("Reaction ~ Days ~ Subject", 16, "more than one '~'"),
        ("Reaction ~ Days + (1 | Subject) + (1 | Subject)", 35, "in two random-effect terms"),
    ],
)
def test_formula_error_points_at_the_culprit(formula, position, needle, no_sampling):
    with pytest.raises(FormulaError) as info:
        bmm.Model(formula, SLEEP)
    err = info.value
    lines = str(err).splitlines()
    assert needle in lines[0]
    assert lines[-2] == f"  {formula}"
    assert lines[-1] == "  " + " " * position + "^"
    assert err.formula == formula and err.position == position


def test_errors_chain_no_foreign_exception(no_sampling):
    """Errors re-raised from a foreign library hide the original traceback (``from None``)."""
    with pytest.raises(FormulaError, match="'foo' is neither a column of the data nor a function") as info:
        bmm.Model("y ~ foo(x) + (1 | g)", data())  # formulae raises KeyError('foo')
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_target_accept_not_a_number(no_sampling):
    with pytest.raises(SamplerError, match="target_accept"):
        bmm.Model(SLEEP_FORMULA, SLEEP).fit(target_accept="high")


# -------------------------------------------------------------------------- inputs that must work
def test_obs_level_effect_allowed_for_poisson(no_sampling):
    m = bmm.Model("y ~ x + (1 | id)", data(id=np.arange(N)), family="poisson")
    assert m.design.blocks[0].n_levels == N


def test_dict_of_columns_is_accepted(no_sampling):
    m = bmm.Model("y ~ x + (1 | g)", {c: DATA[c].tolist() for c in DATA.columns}, family="poisson")
    np.testing.assert_array_equal(m.design.y, DATA["y"].to_numpy(dtype=float))
    np.testing.assert_allclose(m.design.X[:, 1], DATA["x"].to_numpy())
    assert m.design.blocks[0].levels == tuple("abcde")


def test_nullable_dtypes_with_pd_na_drop_rows(no_sampling):
    data = pd.DataFrame({
        "y": pd.array([1, 0, 1, None, 0, 1, 1, 0, 0, 1, 0, 1], dtype="Int64"),
        "x": pd.array([0.5, None, 1.5, 2.0, -1.0, 0.0, 3.0, 2.5, 1.0, -0.5, 0.25, 4.0], dtype="Float64"),
        "n": pd.array([1, 2, 3, 4, 5, 6, 7, None, 9, 10, 11, 12], dtype="Int64"),
        "b": pd.array([True, False, True, True, False, None, True, False, True, False, True, False],
                      dtype="boolean"),
        "g": pd.array([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3], dtype="Int64"),
    })
    with pytest.warns(bmm.BayesMMWarning, match=r"Dropped 4 of 12 rows") as record:
        m = bmm.Model("y ~ x + n + b + (1 | g)", data, family="bernoulli")
    message = str(record[0].message)
    for piece in ("y (1)", "x (1)", "n (1)", "b (1)"):
        assert piece in message
    d = m.design
    keep = np.array([True, False, True, False, True, False, True, False, True, True, True, True])
    assert d.n_dropped == 4 and d.n_obs == keep.sum()
    assert list(d.row_labels) == list(np.flatnonzero(keep))
    np.testing.assert_array_equal(d.y, data["y"].to_numpy(dtype=float, na_value=np.nan)[keep])
    assert d.fixed_names == ("Intercept", "x", "n", "b")
    np.testing.assert_array_equal(d.X[:, 1], data["x"].to_numpy(dtype=float, na_value=np.nan)[keep])
    np.testing.assert_array_equal(d.X[:, 2], data["n"].to_numpy(dtype=float, na_value=np.nan)[keep])
    np.testing.assert_array_equal(d.X[:, 3], data["b"].to_numpy(dtype=float, na_value=np.nan)[keep])
    (block,) = d.blocks
    assert block.levels == ("1", "2", "3")
    np.testing.assert_array_equal(block.group_index, (data["g"].to_numpy(dtype=int, na_value=0)[keep] - 1))


def test_nullable_grouping_column_with_pd_na(no_sampling):
    data = pd.DataFrame({"y": np.arange(12.0), "g": pd.array([1, 2, 10, None] * 3, dtype="Int64")})
    with pytest.warns(bmm.BayesMMWarning, match=r"g \(3\)"):
        block = bmm.Model("y ~ 1 + (1 | g)", data).design.blocks[0]
    assert block.levels == ("1", "2", "10")
    np.testing.assert_array_equal(block.group_index, [0, 1, 2] * 3)


def test_string_dtype_grouping_with_missing(no_sampling):
    data = pd.DataFrame({"y": np.arange(12.0), "g": pd.array(["b", "a", None, "c"] * 3, dtype="string")})
    with pytest.warns(bmm.BayesMMWarning, match=r"Dropped 3 of 12 rows"):
        block = bmm.Model("y ~ 1 + (1 | g)", data).design.blocks[0]
    assert block.levels == ("a", "b", "c")
    np.testing.assert_array_equal(block.group_index, [1, 0, 2] * 3)


def test_categorical_with_unused_levels(no_sampling):
    data = pd.DataFrame({
        "y": np.arange(12.0) ** 1.3,
        "g": pd.Categorical(["u", "v", "w"] * 4, categories=["z", "u", "v", "w", "q"]),
        "f": pd.Categorical(["lo", "hi"] * 6, categories=["lo", "mid", "hi"]),
    })
    with warnings.catch_warnings():
        warnings.simplefilter("error", bmm.BayesMMWarning)  # no aliased all-zero column for 'mid'
        m = bmm.Model("y ~ f + (1 | g)", data)
    (block,) = m.design.blocks
    assert block.levels == ("u", "v", "w")  # category order kept, unused 'z' and 'q' left out
    assert "z" not in block.levels and "q" not in block.levels
    np.testing.assert_array_equal(block.group_index, [0, 1, 2] * 4)
    assert m.design.fixed_names == ("Intercept", "f[hi]")
    np.testing.assert_array_equal(m.design.X[:, 1], [0.0, 1.0] * 6)


def test_categorical_levels_unused_after_dropping_rows(no_sampling):
    data = pd.DataFrame({"y": [1.0, 2.0, np.nan, 4.0, 5.0, np.nan, 7.0, 8.0, np.nan],
                         "g": pd.Categorical(["a", "b", "c"] * 3)})
    with pytest.warns(bmm.BayesMMWarning):
        block = bmm.Model("y ~ 1 + (1 | g)", data).design.blocks[0]
    assert block.levels == ("a", "b")


@pytest.mark.parametrize("family", ["gaussian", "student_t", "lognormal"])
def test_observation_level_effect_refused_with_a_residual_sd(family, no_sampling):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.uniform(1, 2, 20), "id": np.arange(20)})
    with pytest.raises(DataError, match=f"with the {family} family its variance cannot be told apart"):
        bmm.Model("y ~ 1 + (1 | id)", df, family=family)


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
