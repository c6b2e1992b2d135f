"""``A x`` for a sparse matrix ``A`` held by its nonzeros, by gathers only, and its transpose ``A' y`` the same way.

The integrated-out block's statistics sum every row's residual into its level (InstEval: 73,421 rows into 2,972
students), and their gradient sums back into the cells. As a segment sum that is a scatter-add, which XLA's CPU
backend runs one row at a time. Here each row of ``A`` gathers ``x`` at its nonzeros' columns, padded to a common
width within a few buckets of rows with similar counts (the padding at most a quarter of the width), and sums along
the width; ``A'`` is held the same way, so that the gradient gathers too: InstEval's students x cells product with its
gradient 190 -> 130 us CPU against segment sums in a scattered row order (``benchmarks/README.md``, InstEval). A
linear primitive carries ``A x`` with ``A' y`` as its transpose, so reverse mode (the potential's gradient) applies
``A'``, forward mode (the curvature's Hessian-vector products) applies ``A``, and ``vmap`` maps over ``x``.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import ShapedArray
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .arrays import as_float, on_device

__all__ = ["Gathers", "SparseSums", "sparse_sums", "apply_sums", "BUCKET_GROWTH"]

#: A bucket holds the rows whose count of nonzeros is at most this factor above its smallest count (at least one)
BUCKET_GROWTH = 1.25


class Gathers(NamedTuple):
    """One direction of a sparse matrix, by rows: per bucket of rows, where each row gathers and with what weight."""

    index: tuple  # per bucket (rows, width) int32: the nonzeros' columns, padded with n_columns (a zero appended)
    value: tuple | None  # per bucket (rows, width): the nonzeros' values (0 in the padding); None when all are 1
    order: jnp.ndarray  # (n_rows,) int32: each row's place among the buckets' results, concatenated


class SparseSums(NamedTuple):
    """A sparse matrix ``A`` (:func:`sparse_sums`) for :func:`apply_sums`: ``A`` by its rows and ``A'`` by its
    columns."""

    forward: Gathers
    backward: Gathers


def _gathers(rows: np.ndarray, columns: np.ndarray, values: np.ndarray | None, n_rows: int,
             n_columns: int) -> Gathers:
    counts = np.bincount(rows, minlength=n_rows)
    by_count = np.argsort(counts, kind="stable")
    ordered = counts[by_count]
    starts, i = [], 0
    while i < n_rows:  # one pass per bucket (a few dozen), not per row
        starts.append(i)
        i = int(np.searchsorted(ordered, max(int(np.ceil(max(ordered[i], 1) * BUCKET_GROWTH)), 1), side="right"))
    starts = np.asarray(starts)
    place = np.empty(n_rows, dtype=np.int64)
    place[by_count] = np.arange(n_rows)
    bucket_of_row = np.searchsorted(starts, place, side="right") - 1
    slot_of_row = place - starts[bucket_of_row]
    nonzeros = np.argsort(rows, kind="stable")
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(rows.size, dtype=np.int64)
    rank[nonzeros] = np.arange(rows.size) - first[rows[nonzeros]]
    bucket = bucket_of_row[rows]
    ends = np.append(starts[1:], n_rows)
    index, value = [], []
    for b, (start, end) in enumerate(zip(starts, ends)):
        width = max(int(ordered[end - 1]), 1)
        mine = bucket == b
        table = np.full((end - start, width), n_columns, dtype=np.int32)
        table[slot_of_row[rows[mine]], rank[mine]] = columns[mine]
        index.append(on_device(table))
        if values is not None:
            weights = np.zeros((end - start, width))
            weights[slot_of_row[rows[mine]], rank[mine]] = values[mine]
            value.append(as_float(weights))
    return Gathers(tuple(index), None if values is None else tuple(value), on_device(place.astype(np.int32)))


def sparse_sums(rows, columns, values, n_rows: int, n_columns: int) -> SparseSums:
    """The sparse matrix with nonzeros ``values`` (None: all 1) at ``(rows, columns)`` (repeated positions add up),
    ``n_rows x n_columns``, for :func:`apply_sums`; numpy, once per model."""
    rows, columns = np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)
    values = None if values is None else np.asarray(values, dtype=float)
    return SparseSums(_gathers(rows, columns, values, n_rows, n_columns),
                      _gathers(columns, rows, values, n_columns, n_rows))


def _flat(sums: SparseSums) -> tuple[tuple, dict]:
    """The primitive's array operands and its static parameters."""
    arrays, counts, valued = [], [], []
    for gathers in sums:
        arrays += [*gathers.index, *(gathers.value or ()), gathers.order]
        counts.append(len(gathers.index))
        valued.append(gathers.value is not None)
    return tuple(arrays), {"counts": tuple(counts), "valued": tuple(valued)}


def _direction(arrays, counts, valued, transposed: bool) -> Gathers:
    """The :class:`Gathers` of ``A`` (or of ``A'``, ``transposed``) from the primitive's operands."""
    at = 0
    for k, (count, has_values) in enumerate(zip(counts, valued)):
        size = count * (2 if has_values else 1) + 1
        if k == int(transposed):
            part = arrays[at:at + size]
            return Gathers(part[:count], part[count:2 * count] if has_values else None, part[-1])
        at += size
    raise ValueError("a sparse matrix has two directions")


def _apply(x, *arrays, counts, valued, transposed):
    gathers = _direction(arrays, counts, valued, transposed)
    padded = jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (1,), x.dtype)], axis=-1)
    sums = [(padded[..., index] if gathers.value is None else padded[..., index] * gathers.value[b]).sum(axis=-1)
            for b, index in enumerate(gathers.index)]
    return jnp.concatenate(sums, axis=-1)[..., gathers.order]


_sums_p = Primitive("bayesmm_sparse_sums")
_sums_p.def_impl(_apply)
_sums_p.def_abstract_eval(lambda x, *arrays, counts, valued, transposed: ShapedArray(
    x.shape[:-1] + _direction(arrays, counts, valued, transposed).order.shape, x.dtype))
mlir.register_lowering(_sums_p, mlir.lower_fun(_apply, multiple_results=False))


def _jvp(primals, tangents, **params):
    """Linear in ``x``; the index and value tables are data (their tangents are not taken)."""
    out = _sums_p.bind(*primals, **params)
    if type(tangents[0]) is ad.Zero:
        return out, ad.Zero.from_primal_value(out)
    return out, _sums_p.bind(tangents[0], *primals[1:], **params)


def _transpose(cotangent, x, *arrays, counts, valued, transposed):
    if type(cotangent) is ad.Zero:
        return [ad.Zero(x.aval)] + [None] * len(arrays)
    back = _sums_p.bind(cotangent, *arrays, counts=counts, valued=valued, transposed=not transposed)
    return [back] + [None] * len(arrays)


def _batch(arguments, axes, **params):
    """``x`` mapped along an axis (draws replayed in batches, vectorized chains); the tables are shared."""
    if any(axis is not None for axis in axes[1:]):  # tables mapped too: the gathers as they are, per element
        return jax.vmap(lambda *a: _apply(*a, **params), in_axes=axes)(*arguments), 0
    return _sums_p.bind(jnp.moveaxis(arguments[0], axes[0], 0), *arguments[1:], **params), 0


ad.primitive_jvps[_sums_p] = _jvp
ad.primitive_transposes[_sums_p] = _transpose
batching.primitive_batchers[_sums_p] = _batch


def apply_sums(sums: SparseSums, x):
    """``A x`` over the last axis of ``x`` (``..., n_columns`` -> ``..., n_rows``)."""
    arrays, params = _flat(sums)
    return _sums_p.bind(x, *arrays, transposed=False, **params)
