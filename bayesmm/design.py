"""FormulaSpec + data -> :class:`Design`: the response, the fixed-effect matrix and one record per
random-effect block.

A block is stored as MixedModels.jl stores a ``ReMat``: one level index per row (``group_index``), the
per-row covariate columns ``Z`` (rows x q), the level names and the column names.  The model adds
``sum_j Z[:, j] * b[group_index, j]``, a gather, so memory is O(rows x q): there is no rows x levels
dummy matrix anywhere.  Fixed-effect columns that are linear combinations of earlier ones are dropped
with a warning, as lme4 does (``fixef.add.aliased``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from .data import CleanData, as_dataframe, frequency_weights, prepare_data, used_categories
from .errors import BayesMMWarning, DataError, FormulaError, closest
from .families import part_component
from .formula import FormulaSpec, RandomTerm, with_data_columns
from .formula_lexing import column_references, in_arithmetic, python_code
from .censoring import response_bounds
from .formula_structures import POSITIONAL, structure_of
from .structures import check_coordinates, positional_columns, term_structure

__all__ = ["Design", "RandomBlock", "build_design", "evaluate_expression", "formulae_matrix", "NAMESPACE",
           "FORMULAE_NAMESPACE"]

#: Functions and constants available to formula expressions (formulae adds its own: I, C, scale, center,
#: poly, ...). ``pi`` is the constant unless the data has a column ``pi`` (:func:`~bayesmm.formula.with_data_columns`).
NAMESPACE = {
    "np": np, "log": np.log, "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "exp": np.exp,
    "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos, "round": np.round, "floor": np.floor,
    "logit": lambda p: np.log(p) - np.log1p(-p), "expit": lambda x: 1.0 / (1.0 + np.exp(-x)), "pi": np.pi,
}
#: formulae looks a dotted name that is not called (``np.pi``) up whole, as a variable.
FORMULAE_NAMESPACE = {**NAMESPACE, "np.pi": np.pi, "np.e": np.e}
#: a response or offset is evaluated without formulae: its ``I()`` (``I(y^0.5) ~ ...``) is the identity
NAMESPACE["I"] = lambda x: x


@dataclass(frozen=True)
class RandomBlock:
    """One random-effect block (a covariance block): ``q`` columns varying over ``len(levels)`` levels."""

    group: str
    group_factors: tuple[str, ...]
    group_index: np.ndarray
    levels: tuple[str, ...]
    Z: np.ndarray
    columns: tuple[str, ...]
    correlated: bool
    column_scale: np.ndarray
    term: RandomTerm | None = None
    column_slice: slice | None = None
    #: formulae's encoder of the term's left side (new data's Z columns, with the training data's encodings)
    encoder: object = field(default=None, repr=False, compare=False)
    #: the linear predictor the block's effects enter: ``"cond"`` (the mean) or the family parameter whose formula
    #: holds the term (``"zi"``, ``"hu"``, ``"sigma"``, ``"phi"``, ...; a key of :attr:`Design.parts`)
    part: str = "cond"
    #: the block's covariance structure (``structures.Structure``: ``ar1``, ``ou``, ``cs``, ...), or None
    structure: object = None

    @property
    def component(self) -> str:
        """The part as :mod:`bayesmm.naming` names it: ``cond``, ``zi``, ``hu`` or ``disp``."""
        return "cond" if self.part == "cond" else part_component(self.part)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_columns(self) -> int:
        return len(self.columns)


@dataclass(frozen=True)
class Design:
    """Arrays the model needs, with names; ``X`` excludes aliased columns (listed in ``aliased``). ``spec`` and
    ``part_specs`` (family parameter -> its formula's spec) are read against the data's columns. ``blocks`` holds
    the mean's random-effect blocks first, then those of each family parameter's formula (``RandomBlock.part``)."""

    spec: FormulaSpec
    y: np.ndarray
    response_name: str
    X: np.ndarray
    fixed_names: tuple[str, ...]
    blocks: tuple[RandomBlock, ...]
    offset: np.ndarray | None = None
    trials: np.ndarray | None = None
    aliased: tuple[str, ...] = ()
    n_dropped: int = 0
    dropped: dict = field(default_factory=dict)
    row_labels: pd.Index | None = None
    fixed_encoder: object = None
    weights: np.ndarray | None = None
    parts: dict = field(default_factory=dict)
    part_specs: dict = field(default_factory=dict)
    #: per family-parameter formula, formulae's encoder of new data (as ``fixed_encoder`` for the fixed part)
    part_encoders: dict = field(default_factory=dict, repr=False)
    #: the formulas' columns that hold numbers (not booleans) in the training data: new data must too
    numeric_columns: frozenset = frozenset()
    autocor: object = None  #: the residuals' correlation structure (``autocor=``: :class:`bayesmm.autocor.Autocor`)
    #: the fixed-effect columns' means, kept when the rows are not (:meth:`without_rows`)
    fixed_means: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: the response's censoring and truncation (``y | cens(c)``, ``y | trunc(lb = 0)``: :mod:`bayesmm.censoring`)
    bounds: object = None
    #: ordinal responses: the categories in order, ``y`` holding their codes 1 .. K (:mod:`bayesmm.categories`)
    response_levels: tuple = ()

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0])

    @property
    def has_rows(self) -> bool:
        """False for the design of a fit saved without its training data (:meth:`without_rows`)."""
        return self.X is not None

    def part_blocks(self, part: str = "cond") -> list[tuple[int, RandomBlock]]:
        """``(index in blocks, block)`` of the blocks whose effects enter ``part``'s linear predictor."""
        return [(k, b) for k, b in enumerate(self.blocks) if b.part == part]

    def column_means(self) -> np.ndarray:
        """The fixed-effect columns' means over the training rows."""
        return self.X.mean(axis=0) if self.X is not None else self.fixed_means

    def without_rows(self) -> "Design":
        """This design without its per-row arrays (``y`` aside, which a fit's draws keep): the names, levels,
        encoders and column means that summaries and predictions on new data need, nothing of the rows."""
        blocks = tuple(replace(b, group_index=None, Z=None) for b in self.blocks)
        parts = {name: (None, names) for name, (_, names) in self.parts.items()}
        return replace(self, X=None, offset=None, trials=None, weights=None, row_labels=None, blocks=blocks,
                       parts=parts, fixed_means=self.column_means())


def evaluate_expression(expr: str, frame: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate a response or offset expression (``size - incidence``, ``log(y)``, ``log(`my col`)``) on the
    data; columns are bound to plain identifiers, so any column name works."""
    code, columns = python_code(expr)
    missing = [name for name in columns.values() if name not in frame.columns]
    if missing:
        raise DataError(f"Cannot evaluate the {what} '{expr}': column '{missing[0]}' is not in the data.")
    env = dict(NAMESPACE)
    env.update({identifier: frame[name].to_numpy() for identifier, name in columns.items()})
    try:
        with np.errstate(all="ignore"):  # non-finite results are reported by the callers
            value = eval(compile(code, f"<{what}>", "eval"), {"__builtins__": {}}, env)  # noqa: S307
    except NameError as err:
        raise DataError(f"Cannot evaluate the {what} '{expr}': {err}.") from None
    except (TypeError, ValueError) as err:
        raise DataError(f"Cannot evaluate the {what} '{expr}': {err}. Is a column of strings used "
                        "as a number?") from None
    except SyntaxError as err:
        raise FormulaError(f"The {what} '{expr}' is not a valid expression: {err.msg}.") from None
    value = np.asarray(value)
    if value.ndim == 0:
        value = np.full(len(frame), value)
    return value


def formulae_matrix(rhs: str, frame: pd.DataFrame, spec: FormulaSpec, what: str):
    """(matrix, column names, encoder) of one formula side by formulae (the fixed part, a random term's left
    side, a part's formula); the encoder re-applies stateful transforms (``scale(x)``) to new data
    (:mod:`bayesmm.answers.predict`). formulae's errors become a :class:`FormulaError` or :class:`DataError` naming
    ``what``."""
    from formulae import design_matrices  # imported lazily: formulae is slow to import

    # formulae sorts the levels of an unordered pandas Categorical alphabetically; mark them ordered so the
    # declared level order (the first level is the reference, as in R) is kept, as in the grouping factors.
    unordered = [c for c in frame.columns
                 if isinstance(frame[c].dtype, pd.CategoricalDtype) and not frame[c].cat.ordered]
    if unordered:
        frame = frame.copy()
        for name in unordered:
            frame[name] = frame[name].cat.as_ordered()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matrices = design_matrices(rhs, frame, na_action="pass", extra_namespace=FORMULAE_NAMESPACE)
    except Exception as err:  # noqa: BLE001 - formulae raises many types; re-raised with context
        message = str(err) or type(err).__name__
        if isinstance(err, KeyError) and err.args:
            message = (f"'{err.args[0]}' is neither a column of the data nor a function formulae knows (functions: "
                       f"{', '.join(sorted(k for k in NAMESPACE if k != 'pi'))}, I, C, scale, center, poly, ...)")
        if isinstance(err, TypeError) or "could not convert" in message or "unsupported operand" in message:
            raise DataError(f"The {what} '{rhs}' cannot be built: {message}. A column of strings used as a "
                            "number? Convert it with pd.to_numeric or use it as a factor.") from None
        raise FormulaError(f"The {what} '{rhs}' cannot be built: {message}.", spec.text) from None
    common = matrices.common
    if common is None:  # '0' alone: formulae builds no matrix at all
        raise FormulaError(f"The {what} '{rhs}' has no columns (no intercept and no terms). Add '1' for an "
                           "intercept or a term; bayesmm does not fit models without fixed effects.", spec.text)
    frame_out = common.as_dataframe()
    values = frame_out.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        bad = [c for c in frame_out.columns if not np.all(np.isfinite(frame_out[c].to_numpy(dtype=float)))]
        raise DataError(f"The {what} produced non-finite values in {bad} (log or sqrt of a non-positive "
                        "value?). Check the transform and the column's range.")
    return values, tuple(str(c) for c in frame_out.columns), common


def _drop_aliased(X: np.ndarray, names: tuple[str, ...]):
    """Keep columns in order, dropping each one that is a linear combination of the kept ones."""
    keep = []
    peak = np.max(np.abs(X), axis=0) if X.size else np.zeros(X.shape[1])
    unit = X / np.where(peak > 0, peak, 1.0)  # scale-free: columns at 1e300 or 1e-300 are not aliased
    gram = unit.T @ unit  # cross-products decide the clear cases (rounding about 1e-10): no fit over the rows
    for j in range(X.shape[1]):
        column = unit[:, j]
        norm = np.linalg.norm(column)
        if norm == 0:
            continue
        residual = norm
        inner, cross = gram[np.ix_(keep, keep)], gram[keep, j]
        if keep and gram[j, j] - cross @ np.linalg.lstsq(inner, cross, rcond=None)[0] <= 1e-6 * gram[j, j]:
            coef, *_ = np.linalg.lstsq(unit[:, keep], column, rcond=None)
            residual = np.linalg.norm(column - unit[:, keep] @ coef)
        if residual > 1e-7 * norm:
            keep.append(j)
    aliased = tuple(n for j, n in enumerate(names) if j not in keep)
    return X[:, keep], tuple(names[j] for j in keep), aliased


def _factor(series: pd.Series) -> pd.Categorical:
    """A grouping column as a factor; numeric columns become factors with numerically sorted levels."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return used_categories(series).array
    if pd.api.types.is_float_dtype(series) and np.all(np.mod(series.to_numpy(), 1) == 0):
        series = series.astype(np.int64)
    return pd.Categorical(series)


def _group_index(frame: pd.DataFrame, factors: tuple[str, ...], group: str, where: str = "", single=False):
    """Each row's level (int32) and the levels' names (``a:b`` for an interaction), in the factors' level order."""
    factor_values = [_factor(frame[f]) for f in factors]
    index, parts = np.asarray(factor_values[0].codes), [np.arange(len(factor_values[0].categories))]
    for factor in factor_values[1:]:  # ranks of (level so far, code): below rows x levels, no overflow
        size = len(factor.categories)
        codes, index = np.unique(index.astype(np.int64) * size + np.asarray(factor.codes), return_inverse=True)
        parts = [part[codes // size] for part in parts] + [codes % size]
    names = [[str(c) for c in f.categories] for f in factor_values]
    levels = tuple(map(":".join, zip(*([names[k][i] for i in part.tolist()] for k, part in enumerate(parts)))))
    if len(levels) < 2 and not single:  # a structured block's variance is told apart across its positions
        raise DataError(f"Grouping factor '{group}'{where} has a single level ('{levels[0]}'): a variance needs at "
                        "least 2 levels (5 or more to estimate it well). Drop the term or use a fixed effect.")
    return index.reshape(-1).astype(np.int32), levels


def _part_where(part: str) -> str:
    """How messages name a family parameter's formula: `` in the zi= formula``, `` in the dispersion= formula
    (sigma)``."""
    if part == "cond":
        return ""
    return f" in the {part}= formula" if part in ("zi", "hu") else f" in the dispersion= formula ({part})"


def _blocks(term: RandomTerm, frame: pd.DataFrame, spec: FormulaSpec, part: str = "cond") -> list[RandomBlock]:
    """A ``|`` term is one block; a ``||`` term is one block per column of its whole left side, so a factor
    ``f`` in ``(f || g)`` gets the intercept and f's contrasts (afex's ``expand_re``), not a dummy per level.
    ``part``: the linear predictor the term belongs to (``"cond"`` or a family parameter)."""
    where = _part_where(part)
    positional = structure_of(term) in POSITIONAL
    group_index, levels = _group_index(frame, term.group_factors, term.group, where, positional)
    if positional:
        Z, columns, structure = positional_columns(term, frame, group_index)
        return [RandomBlock(term.group, term.group_factors, group_index, levels, Z, columns, True,
                            np.ones(len(columns)), term, slice(0, len(columns)), None, part, structure)]
    Z, columns, encoder = formulae_matrix(term.lhs, frame, spec, f"random-effect term {term}{where}")
    scale = np.array([1.0 if c == "Intercept" else (np.std(Z[:, j]) or 1.0) for j, c in enumerate(columns)])
    if term.correlated or Z.shape[1] == 1:
        return [RandomBlock(term.group, term.group_factors, group_index, levels, Z, columns, term.correlated,
                            scale, term, slice(0, len(columns)), encoder, part, term_structure(term, columns))]
    return [RandomBlock(term.group, term.group_factors, group_index, levels, Z[:, [j]], (c,), False,
                        scale[[j]], term, slice(j, j + 1), encoder, part) for j, c in enumerate(columns)]


def _check_part_columns(parts: dict, spec: FormulaSpec, columns) -> None:
    """A family parameter's formula naming a column that is not in the data: refused naming that formula."""
    for name, part in parts.items():
        for variable in part.variables:
            if variable not in columns and variable not in spec.variables:
                raise DataError(f"Column '{variable}'{_part_where(name)} is not in the data."
                                f"{closest(variable, columns)} Available columns: {', '.join(map(str, columns))}.")


def _check_finite(value: np.ndarray, what: str, row_labels) -> None:
    """A transformed response (``log(y)``, ``y / n``) must be finite, as the raw columns are."""
    if np.issubdtype(value.dtype, np.number) and value.dtype != bool:
        bad = np.flatnonzero(~np.isfinite(value.astype(float)))
        if len(bad):
            rows = [row_labels[i] if row_labels is not None else i for i in bad[:5]]
            raise DataError(f"{what} has {len(bad)} non-finite values (first rows: {rows}): log or "
                            "sqrt of a non-positive value, or a division by zero? Check the transform and the "
                            "column's range.")


def _lone_column(expr: str) -> str | None:
    """The column ``expr`` is, if it is one column and nothing else (``y``, ```my col```)."""
    refs = column_references(expr)
    return refs[0].name if len(refs) == 1 and (refs[0].start, refs[0].end) == (0, len(expr)) else None


def _response(spec: FormulaSpec, frame: pd.DataFrame, row_labels=None):
    response = spec.response
    if response.kind == "expr":
        expr, column = response.exprs[0], _lone_column(response.exprs[0])
        value = frame[column].to_numpy() if column is not None else evaluate_expression(expr, frame, "response")
        _check_finite(value, f"The response '{response.text}'", row_labels)
        return value, None
    first = evaluate_expression(response.exprs[0], frame, "response")
    second = evaluate_expression(response.exprs[1], frame, "response")
    for expr, value in zip(response.exprs, (first, second)):
        if not np.issubdtype(np.asarray(value).dtype, np.number):
            raise DataError(f"'{expr}' in the response {response.text} must be numeric counts.")
        _check_finite(value, f"'{expr}' in the response {response.text}", row_labels)
    if response.kind == "cbind":
        return first.astype(float), (first + second).astype(float)
    return first.astype(float), second.astype(float)


def _holds(series: pd.Series) -> str | None:
    """What a non-numeric column holds (``"strings"``, ``"categories"``), or None for numbers and booleans."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "categories"
    return None if pd.api.types.is_numeric_dtype(series) else "strings"


def _check_numeric_uses(spec: FormulaSpec, frame: pd.DataFrame) -> None:
    """A factor or string column transformed as a number (``I(g * 2)``, ``log(g)``, ``scale(g)``, a response
    ``n - g``, any column of an offset) is refused, naming the column and the expression: formulae would
    repeat strings (``I(g * 2)`` is ``"aa"``), or fail with an unrelated message."""
    pieces = [(t.removeprefix("- "), "formula") for t in spec.fixed_terms]
    pieces += [(t, "formula") for r in spec.random for t in r.terms]
    pieces += [(e, "evaluated") for e in spec.response.exprs] + [(o, "offset") for o in spec.offsets]
    for expr, kind in pieces:
        for ref in column_references(expr):
            holds = _holds(frame[ref.name]) if ref.name in frame.columns else None
            if holds and (kind == "offset" or in_arithmetic(ref, kind == "evaluated")):
                use = f"offset({expr})" if kind == "offset" else expr
                raise DataError(
                    f"Column '{ref.name}' holds {holds} (it is a factor), but '{use}' uses it as a number. "
                    f"Convert it with pd.to_numeric if it holds numbers, or use it as a factor without arithmetic "
                    f"(e.g. '{ref.name}' or 'C({ref.name})').")


def build_design(spec: FormulaSpec, data, na_action: str = "omit", weights: str | None = None,
                 parts: dict | None = None) -> Design:
    """Build the :class:`Design` of ``spec`` on ``data``; see the module docstring. ``weights`` names a
    column of frequency weights; ``parts`` maps a family parameter (``zi``, ``phi``, ...) to the
    :class:`FormulaSpec` of its own fixed-effects formula. Both take part in dropping incomplete rows. The
    design keeps ``spec`` as read against the data's columns (a column ``pi`` is the column, not the
    constant: :func:`~bayesmm.formula.with_data_columns`)."""
    if weights is not None and not isinstance(weights, str):
        raise DataError(f"weights must be the name of a column, not {type(weights).__name__}.")
    data = as_dataframe(data)
    spec = with_data_columns(spec, data.columns)
    check_coordinates(spec, data)
    parts = {name: with_data_columns(part, data.columns) for name, part in (parts or {}).items()}
    _check_part_columns(parts, spec, list(data.columns))
    variables = spec.variables + ((weights,) if weights and weights not in spec.variables else ())
    for part in parts.values():
        variables += tuple(v for v in part.variables if v not in variables)
    clean: CleanData = prepare_data(data, variables, spec.text, na_action)
    frame = clean.frame
    for checked in (spec, *parts.values()):
        _check_numeric_uses(checked, frame)
    y, trials = _response(spec, frame, clean.row_labels)
    X, names, encoder = formulae_matrix(spec.fixed, frame, spec, "fixed part")
    X, names, aliased = _drop_aliased(X, names)
    if aliased:
        warnings.warn(f"Fixed-effect columns {list(aliased)} are linear combinations of other columns "
                      "(rank-deficient design) and were dropped, as lme4 does.", BayesMMWarning, stacklevel=3)
    offset = None
    if spec.offsets:
        offset = sum(evaluate_expression(o, frame, "offset").astype(float) for o in spec.offsets)
        if not np.all(np.isfinite(offset)):
            raise DataError(f"The offset {list(spec.offsets)} has non-finite values; check the transform.")
    blocks = tuple(b for term in spec.random for b in _blocks(term, frame, spec))
    part_matrices, part_encoders = {}, {}
    for name, part in parts.items():
        Xp, part_names, part_encoders[name] = formulae_matrix(part.fixed, frame, part, f"formula of {name}")
        Xp, part_names, part_aliased = _drop_aliased(Xp, part_names)
        if part_aliased:
            warnings.warn(f"Columns {list(part_aliased)} of the {name} formula are aliased and were dropped.",
                          BayesMMWarning, stacklevel=3)
        part_matrices[name] = (Xp, part_names)
        blocks += tuple(b for term in part.random for b in _blocks(term, frame, part, name))
    response_name = _lone_column(spec.response.exprs[0]) if spec.response.kind == "expr" else None
    numbers = frozenset(c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
                        and not pd.api.types.is_bool_dtype(frame[c]))
    return Design(spec, y, response_name or spec.response.text, X, names, blocks, offset, trials, aliased,
                  clean.n_dropped, clean.dropped, clean.row_labels, encoder, frequency_weights(frame, weights, clean.row_labels),
                  part_matrices, parts, part_encoders, numbers,
                  bounds=response_bounds(spec.response, frame, y, clean.row_labels, evaluate_expression))
