"""Every mistake a user can make raises the right :class:`bayesmm.BayesMMError` subclass, with a message
that names the culprit (column, term, level, prior, setting) and says what to do; never a raw jax, pandas,
numpy or formulae exception.  No case samples: sampler settings must be refused before compilation.
"""
from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm import DataError, FamilyError, FormulaError, PriorError, SamplerError

SLEEP = bmm.datasets.load("sleepstudy")
CBPP = bmm.datasets.load("cbpp")
RNG = np.random.default_rng(7)
N = 20
#: counts y, trials t >= y, a numeric x, a 5-level grouping factor g
COUNTS = pd.DataFrame({
    "y": RNG.poisson(3, N),
    "x": RNG.normal(size=N),
    "g": np.repeat(list("abcde"), 4),
})
COUNTS["t"] = COUNTS["y"] + RNG.poisson(3, N) + 1
#: positive (non-integer) and (0, 1) responses for gamma/lognormal and beta
POSITIVE = COUNTS.assign(y=COUNTS["t"] + 0.5)
UNIT = COUNTS.assign(y=(COUNTS["y"] + 0.5) / (COUNTS["t"] + 1))
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"


def counts(**changes) -> pd.DataFrame:
    """A copy of COUNTS with ``column=(rows, value)`` or ``column=whole_new_column`` applied."""
    data = COUNTS.copy()
    for name, change in changes.items():
        if isinstance(change, tuple):
            rows, value = change
            if isinstance(value, float) and data[name].dtype.kind == "i":
                data[name] = data[name].astype(float)
            data.loc[rows, name] = value
        else:
            data[name] = change
    return data


def with_y(frame: pd.DataFrame, rows, value) -> pd.DataFrame:
    data = frame.copy()
    data["y"] = data["y"].astype(float)
    data.loc[rows, "y"] = value
    return data


def sleep_priors(priors) -> Callable[[], object]:
    return lambda: bmm.Model(SLEEP_FORMULA, SLEEP, priors=priors)


def sleep_fit(**settings) -> Callable[[], object]:
    return lambda: bmm.Model(SLEEP_FORMULA, SLEEP).fit(**settings)


class Case(NamedTuple):
    build: Callable[[], object]
    error: type
    needles: tuple[str, ...]  # substrings the message must contain: the culprit and the advice


CASES = {
    # ------------------------------------------------------------------------------------ columns
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
    # ------------------------------------------------------------------------------------ formula
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
    # ------------------------------------------------------------------------------- the response
    "bernoulli-non-binary": Case(
        lambda: bmm.Model(SLEEP_FORMULA, SLEEP, family="bernoulli"), FamilyError,
        ("'bernoulli'", "'Reaction'", "0 or 1", "180 rows", "choose another family")),
    "bernoulli-three-strings": Case(
        lambda: bmm.Model("r ~ 1 + (1 | g)", counts(r=["yes", "no", "maybe", "no"] * 5), family="bernoulli"),
        FamilyError, ("'r'", "3 distinct values", "'maybe'", "Recode it to two levels")),
    "poisson-negative": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(3, -1)), family="poisson"), FamilyError,
        ("'poisson'", "'y'", "non-negative whole counts", "[3]", "choose another family")),
    "poisson-non-integer": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(4, 1.5)), family="poisson"), FamilyError,
        ("'poisson'", "'y'", "non-negative whole counts", "[4]")),
    "binomial-successes-above-trials": Case(
        # row 0 is dropped for its missing x: the message must give the original row labels 2 and 7
        lambda: bmm.Model("p(y, t) ~ x + (1 | g)", counts(x=(0, np.nan), y=([2, 7], 50)), family="binomial"),
        FamilyError, ("'binomial'", "p(y, t)", "successes no larger than trials", "2 rows", "[2, 7]")),
    "binomial-cbind-negative-failures": Case(
        lambda: bmm.Model("cbind(y, t - y - 100) ~ x + (1 | g)", COUNTS, family="binomial"), FamilyError,
        ("'binomial'", "cbind(y, t - y - 100)", "trials")),
    "negbinomial-non-integer": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(4, 2.5)), family="negbinomial"), FamilyError,
        ("'negbinomial'", "'y'", "non-negative whole counts", "1 rows", "[4]", "choose another family")),
    "negbinomial-alias-negative": Case(
        # the message names the family, not the alias it was asked for by
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=([1, 6], -2)), family="nbinom2"), FamilyError,
        ("'negbinomial'", "'y'", "non-negative whole counts", "2 rows", "[1, 6]")),
    "nbinom1-non-integer": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(7, 0.5)), family="nbinom1"), FamilyError,
        ("'nbinom1'", "'y'", "non-negative whole counts", "[7]")),
    "zero-inflated-poisson-non-integer": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(2, 3.25)), family="zero_inflated_poisson"), FamilyError,
        ("'zero_inflated_poisson'", "'y'", "non-negative whole counts", "[2]")),
    "zero-inflated-negbinomial-negative": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(9, -1)), family="zero_inflated_negbinomial"), FamilyError,
        ("'zero_inflated_negbinomial'", "'y'", "non-negative whole counts", "[9]")),
    "hurdle-poisson-non-integer": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(0, 1.5)), family="hurdle_poisson"), FamilyError,
        ("'hurdle_poisson'", "'y'", "non-negative whole counts", "[0]")),
    "hurdle-negbinomial-negative": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(11, -3)), family="hurdle_negbinomial"), FamilyError,
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
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=COUNTS["y"] > 2), family="beta_binomial"), FamilyError,
        ("'beta_binomial'", "successes and trials", "cbind(successes, failures)", "'y'", "bernoulli")),
    "beta-binomial-successes-above-trials": Case(
        lambda: bmm.Model("p(y, t) ~ x + (1 | g)", counts(y=(5, 60)), family="beta_binomial"), FamilyError,
        ("'beta_binomial'", "p(y, t)", "successes no larger than trials", "[5]")),
    "student-t-with-trials": Case(
        lambda: bmm.Model("cbind(y, t - y) ~ x + (1 | g)", COUNTS, family="student_t"), FamilyError,
        ("cbind(y, t - y)", "binomial-type families", "'student_t'")),
    "string-response-gaussian": Case(
        lambda: bmm.Model("g ~ x + (1 | t)", COUNTS), DataError,
        ("'g'", "not numeric", "needs numbers")),
    "response-transform-not-finite": Case(
        lambda: bmm.Model("log(x) ~ 1 + (1 | g)", COUNTS), DataError,
        ("'log(x)'", "non-finite", "Check the transform")),
    "cbind-failures-not-finite": Case(
        lambda: bmm.Model("cbind(y, t / (x - x)) ~ 1 + (1 | g)", COUNTS, family="binomial"), DataError,
        ("'t / (x - x)'", "cbind(y, t / (x - x))", "non-finite", "division by zero")),
    # -------------------------------------------------------------------------------- grouping
    "single-level-group": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(g="a")), DataError,
        ("'g'", "single level", "('a')", "at least 2 levels", "Drop the term")),
    "gaussian-one-level-per-row": Case(
        lambda: bmm.Model("y ~ x + (1 | id)", counts(id=np.arange(N))), DataError,
        ("'id'", f"as many levels ({N})", "non-gaussian family", "drop the term")),
    # ------------------------------------------------------------------------------ data values
    "all-rows-dropped": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(x=(list(range(1, N)), np.nan), y=(0, np.nan))), DataError,
        ("No complete rows", "y (1)", "x (19)", "impute")),
    "all-missing-column": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(x=np.nan)), DataError,
        ("'x'", "entirely missing", "Remove it from the formula")),
    "infinite-value": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(x=(5, np.inf))), DataError,
        ("'x'", "1 infinite values", "[5]", "replace them with missing values")),
    "minus-infinite-response": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(y=(2, -np.inf))), DataError,
        ("'y'", "infinite", "[2]")),
    "na-action-error": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", counts(x=(1, np.nan)), na_action="error"), DataError,
        ("1 rows", "x (1)", "na_action='omit'")),
    "na-action-unknown": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, na_action="drop"), DataError,
        ("na_action", "'omit' or 'error'", "'drop'")),
    "string-column-as-number": Case(
        lambda: bmm.Model("y ~ I(x**2) + (1 | g)", counts(x=COUNTS["x"].astype(str))), DataError,
        ("'x'", "I(x**2)", "holds strings", "uses it as a number", "pd.to_numeric")),
    "string-column-in-log": Case(
        lambda: bmm.Model("y ~ log(x) + (1 | g)", counts(x=COUNTS["x"].abs().astype(str))), DataError,
        ("log(x)", "pd.to_numeric")),
    "log-of-negative": Case(
        lambda: bmm.Model("y ~ log(x) + (1 | g)", counts(x=COUNTS["x"] - 10)), DataError,
        ("log(x)", "non-finite", "non-positive")),
    "offset-not-finite": Case(
        lambda: bmm.Model("y ~ 1 + offset(log(x)) + (1 | g)", counts(x=COUNTS["x"] - 10), family="poisson"),
        DataError, ("offset", "log(x)", "non-finite")),
    # -------------------------------------------------------------------------- the data object
    "data-is-a-list": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", [[1, 2], [3, 4]]), DataError,
        ("pandas DataFrame", "dict of columns", "not list")),
    "data-is-a-ragged-dict": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", {"y": [1.0, 2.0, 3.0], "x": [1.0, 2.0], "g": ["a", "b", "c"]}),
        DataError, ("dict", "equal-length columns")),
    "duplicated-column-names": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", pd.concat([COUNTS, COUNTS[["x"]]], axis=1)), DataError,
        ("duplicated column names", "['x']", "rename")),
    "empty-dataframe": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS.iloc[:0]), DataError,
        ("no rows",)),
    "empty-dataframe-no-columns": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", pd.DataFrame()), DataError,
        ("no rows",)),
    # ---------------------------------------------------------------------------------- family
    "unknown-family": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="poison"), FamilyError,
        ("'poison'", "Valid families", "gaussian", "poisson", "binomial", "bernoulli", "negbinomial", "nbinom1",
         "nbinom2", "negative_binomial", "gamma", "beta", "beta_binomial", "student_t", "lognormal",
         "zero_inflated_poisson", "zero_inflated_negbinomial", "hurdle_poisson", "hurdle_negbinomial")),
    "unknown-family-gamma-typo": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", POSITIVE, family="gama"), FamilyError,
        ("'gama'", "Valid families", "gamma")),
    "family-not-a-string": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family=3), FamilyError,
        ("family must be a name", "'gaussian'", "int")),
    "unknown-link": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="poisson", link="logit"), FamilyError,
        ("'poisson'", "no link 'logit'", "Valid links: log, identity, sqrt")),
    "unknown-link-negbinomial": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="negative_binomial", link="logit"), FamilyError,
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
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="hurdle_poisson", link="identity"), FamilyError,
        ("'hurdle_poisson'", "no link 'identity'", "Valid links: log")),
    # ---------------------------------------------------------------------------------- priors
    "prior-misspelt": Case(
        sleep_priors({"b": "nromal(0, 5)"}), PriorError,
        ("'nromal'", "Did you mean 'normal'?", "Valid names")),
    "prior-too-few-args": Case(
        sleep_priors({"b": "normal(0)"}), PriorError,
        ("'normal' takes 2 argument(s)", "loc, scale", "'normal(0)' gives 1")),
    "prior-too-many-args": Case(
        sleep_priors({"sd": "half_normal(1, 2)"}), PriorError,
        ("'half_normal' takes 1 argument(s)", "scale", "gives 2")),
    "prior-negative-scale": Case(
        sleep_priors({"b": "normal(0, -1)"}), PriorError,
        ("scale", "'normal(0, -1)'", "must be positive")),
    "prior-non-numeric-arg": Case(
        sleep_priors({"b": "normal(a, 1)"}), PriorError,
        ("'normal(a, 1)'", "must be numbers")),
    "prior-unreadable": Case(
        sleep_priors({"b": "normal(0, 1"}), PriorError,
        ("'normal(0, 1'", "name(arguments)")),
    "prior-not-a-string": Case(
        sleep_priors({"b": 5}), PriorError,
        ("must be a string", "'normal(0, 2.5)'", "5")),
    "prior-unknown-coefficient": Case(
        sleep_priors({"b": {"Dyas": "normal(0, 1)"}}), PriorError,
        ("'b'", "no coefficient 'Dyas'", "Did you mean 'Days'?", "Valid: Days")),
    "prior-unknown-group": Case(
        sleep_priors({"sd": {"Subjet": "half_normal(1)"}}), PriorError,
        ("no group 'Subjet'", "Did you mean 'Subject'?")),
    "prior-unknown-group-term": Case(
        sleep_priors({"sd": {"Subject": {"Dyas": "half_normal(1)"}}}), PriorError,
        ("'Subject'", "no term 'Dyas'", "Did you mean 'Days'?", "Valid: Days, Intercept")),
    "prior-unknown-class": Case(
        sleep_priors({"sigam": "half_normal(1)"}), PriorError,
        ("no parameter class 'sigam'", "Did you mean 'sigma'?", "Classes:")),
    "prior-class-absent-in-family": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="poisson", priors={"sigma": "half_normal(1)"}),
        PriorError, ("'sigma'", "Classes:")),
    "prior-class-absent-negbinomial": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="negbinomial", priors={"shape": "gamma(2, 1)"}),
        PriorError, ("'shape'", "Classes:", "phi")),
    "prior-real-dist-on-zi": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="zero_inflated_poisson", priors={"zi": "normal(0.5, 1)"}),
        PriorError, ("zi", "'normal(0.5, 1)'", "any real value", "values in (0, 1)")),
    "prior-positive-dist-on-hu": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="hurdle_poisson", priors={"hu": "gamma(2, 2)"}),
        PriorError, ("hu", "'gamma(2, 2)'", "positive values", "values in (0, 1)")),
    "prior-uniform-beyond-one-on-zi": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="zero_inflated_poisson", priors={"zi": "uniform(0, 2)"}),
        PriorError, ("zi", "'uniform(0, 2)'", "between 0 and 1", "bounds within [0, 1]")),
    "prior-unit-dist-on-phi": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", COUNTS, family="negbinomial", priors={"phi": "beta(2, 2)"}),
        PriorError, ("phi", "'beta(2, 2)'", "values in (0, 1)", "positive values")),
    "prior-located-t-on-nu": Case(
        lambda: bmm.Model("y ~ x + (1 | g)", POSITIVE, family="student_t", priors={"nu": "student_t(3, 10, 5)"}),
        PriorError, ("nu", "location 0", "gamma")),
    "prior-flat-on-sd": Case(
        sleep_priors({"sd": "flat"}), PriorError,
        ("flat", "sd", "improper", "half_student_t(3, 1)")),
    "prior-flat-on-sigma": Case(
        sleep_priors({"sigma": "flat()"}), PriorError,
        ("flat", "sigma", "improper", "proper prior")),
    "prior-positive-dist-on-b": Case(
        sleep_priors({"b": "half_normal(1)"}), PriorError,
        ("b Days", "'half_normal(1)'", "positive values", "any real value")),
    "prior-located-normal-on-sd": Case(
        sleep_priors({"sd": "normal(1, 2)"}), PriorError,
        ("sd Subject", "'normal(1, 2)'", "location 0", "half_normal")),
    "prior-non-lkj-on-cor": Case(
        sleep_priors({"cor": "normal(0, 1)"}), PriorError,
        ("cor Subject", "lkj(eta)", "'normal(0, 1)'")),
    "priors-not-a-dict": Case(
        sleep_priors(["normal(0, 1)"]), PriorError,
        ("priors must be a dict", "{'b': 'normal(0, 5)'}", "list")),
    # ----------------------------------------------------------------------------- sampler settings
    "negative-draws": Case(sleep_fit(draws=-1), SamplerError, ("draws", "at least 1", "-1")),
    "zero-chains": Case(sleep_fit(chains=0), SamplerError, ("chains", "at least 1", "0")),
    "negative-warmup": Case(sleep_fit(warmup=-5), SamplerError, ("warmup", "at least 0", "-5")),
    "fractional-draws": Case(sleep_fit(draws=10.5), SamplerError, ("draws", "whole number", "10.5")),
    "boolean-chains": Case(sleep_fit(chains=True), SamplerError, ("chains", "whole number", "True")),
    "target-accept-above-one": Case(
        sleep_fit(target_accept=1.5), SamplerError, ("target_accept", "strictly between 0 and 1", "1.5")),
    "target-accept-zero": Case(
        sleep_fit(target_accept=0.0), SamplerError, ("target_accept", "strictly between 0 and 1")),
    "zero-tree-depth": Case(sleep_fit(max_tree_depth=0), SamplerError, ("max_tree_depth", "at least 1")),
    "negative-seed": Case(sleep_fit(seed=-1), SamplerError, ("seed", "non-negative", "-1")),
}


@pytest.fixture(autouse=True)
def _no_sampling(monkeypatch):
    """Any attempt to compile or sample fails the test: settings must be refused first."""
    import bayesmm.sampler.run
    import bayesmm.model

    def refuse(*args, **kwargs):
        raise AssertionError("the model was compiled or sampled before the error was raised")

    monkeypatch.setattr(bayesmm.model, "compile_model", refuse)
    monkeypatch.setattr(bayesmm.sampler.run, "sample_posterior", refuse)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_error(case: Case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)  # e.g. dropped rows before the error
        with pytest.raises(bmm.BayesMMError) as info:
            case.build()
    err = info.value
    # exactly the expected stage's class, raised by bayesmm (not a jax/pandas/formulae error passed through)
    assert type(err) is case.error, f"{type(err).__name__}: {err}"
    assert type(err).__module__ == "bayesmm.errors"
    assert isinstance(err, ValueError)  # every BayesMMError subclass is also a ValueError
    message = str(err)
    for needle in case.needles:
        assert needle in message, f"{needle!r} not in message:\n{message}"


def test_subclasses_share_the_base():
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
def test_formula_error_points_at_the_culprit(formula, position, needle):
    with pytest.raises(FormulaError) as info:
        bmm.Model(formula, SLEEP)
    err = info.value
    lines = str(err).splitlines()
    assert needle in lines[0]
    assert lines[-2] == f"  {formula}"
    assert lines[-1] == "  " + " " * position + "^"
    assert err.formula == formula and err.position == position


def test_errors_chain_no_foreign_exception():
    """Errors re-raised from a foreign library hide the original traceback (``from None``)."""
    with pytest.raises(FormulaError, match="'foo' is neither a column of the data nor a function") as info:
        bmm.Model("y ~ foo(x) + (1 | g)", counts())  # formulae raises KeyError('foo')
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_target_accept_not_a_number():
    with pytest.raises(SamplerError, match="target_accept"):
        bmm.Model(SLEEP_FORMULA, SLEEP).fit(target_accept="high")


# -------------------------------------------------------------------------- inputs that must work
def test_obs_level_effect_allowed_for_poisson():
    m = bmm.Model("y ~ x + (1 | id)", counts(id=np.arange(N)), family="poisson")
    assert m.design.blocks[0].n_levels == N


def test_dict_of_columns_is_accepted():
    m = bmm.Model("y ~ x + (1 | g)", {c: COUNTS[c].tolist() for c in COUNTS.columns}, family="poisson")
    np.testing.assert_array_equal(m.design.y, COUNTS["y"].to_numpy(dtype=float))
    np.testing.assert_allclose(m.design.X[:, 1], COUNTS["x"].to_numpy())
    assert m.design.blocks[0].levels == tuple("abcde")


def test_nullable_dtypes_with_pd_na_drop_rows():
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


def test_nullable_grouping_column_with_pd_na():
    data = pd.DataFrame({"y": np.arange(12.0), "g": pd.array([1, 2, 10, None] * 3, dtype="Int64")})
    with pytest.warns(bmm.BayesMMWarning, match=r"g \(3\)"):
        block = bmm.Model("y ~ 1 + (1 | g)", data).design.blocks[0]
    assert block.levels == ("1", "2", "10")
    np.testing.assert_array_equal(block.group_index, [0, 1, 2] * 3)


def test_string_dtype_grouping_with_missing():
    data = pd.DataFrame({"y": np.arange(12.0), "g": pd.array(["b", "a", None, "c"] * 3, dtype="string")})
    with pytest.warns(bmm.BayesMMWarning, match=r"Dropped 3 of 12 rows"):
        block = bmm.Model("y ~ 1 + (1 | g)", data).design.blocks[0]
    assert block.levels == ("a", "b", "c")
    np.testing.assert_array_equal(block.group_index, [1, 0, 2] * 3)


def test_categorical_with_unused_levels():
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


def test_categorical_levels_unused_after_dropping_rows():
    data = pd.DataFrame({"y": [1.0, 2.0, np.nan, 4.0, 5.0, np.nan, 7.0, 8.0, np.nan],
                         "g": pd.Categorical(["a", "b", "c"] * 3)})
    with pytest.warns(bmm.BayesMMWarning):
        block = bmm.Model("y ~ 1 + (1 | g)", data).design.blocks[0]
    assert block.levels == ("a", "b")


@pytest.mark.parametrize("family", ["gaussian", "student_t", "lognormal"])
def test_observation_level_effect_refused_with_a_residual_sd(family):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": rng.uniform(1, 2, 20), "id": np.arange(20)})
    with pytest.raises(DataError, match=f"with the {family} family its variance cannot be told apart"):
        bmm.Model("y ~ 1 + (1 | id)", df, family=family)
