"""Rows split over devices: a mesh of (chains x row shards), the log density summed across the shards.

A fit with ``shards=S`` lays the devices out as a mesh with axes ``("chain", "rows")``: each chain runs on
``S`` devices, each holding a contiguous slice of the rows (padded at the end to a multiple of ``S`` by
repeating the last row with weight 0, so the padding adds nothing to the likelihood or its gradient), and
a copy of everything indexed by levels (random effects, their centring and bases). Every device evaluates
the prior once-terms only on the first shard and its own rows' likelihood; one all-reduce (``psum``) per
gradient sums the value and the gradient over the shards (:func:`summed_potential`). The draws are the
unsplit fit's to float rounding: the sums only run in another order. The devices may belong to several
processes (``jax.distributed``; ``benchmarks/cluster/``): the mesh is over ``jax.devices()``.

Which models split: those whose random effects are all sampled, without autocorrelated residuals and not
categorical. The gaussian marginal paths work on cross-products whose size does not grow with the rows, the
observation-level quadrature draws each row's effect from its own key, and autocorrelated rows need their
predecessor: :func:`check_shardable` refuses those, naming what to change.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec
from numpyro.infer.util import compute_log_probs

from ..errors import SamplerError
from ..model.program import keeps_log_lik, make_model
from ..model.records import ModelData, ModelStructure
from .stored import program_key, stored_program
from .ticks import ensure_registered

__all__ = ["ROWS", "RowLayout", "check_shardable", "layout", "split_rows", "row_specs", "summed_potential",
           "mesh_devices", "first_shard", "estimated_bytes",
           "sharded_program", "out_of_memory"]

#: the mesh axis over which the rows are split
ROWS = "rows"

#: ModelData fields holding one entry per row (leaves whose leading axis is the rows)
ROW_FIELDS = ("y", "X", "offset", "trials", "weights", "group_index", "Z", "part_X", "bounds")

#: sample sites whose log density is a sum over the rows; every other site (priors, the alias correction) is
#: counted once
ROW_SITES = ("y", "y_constants")


class RowLayout(NamedTuple):
    """How the rows lie over the shards: ``rows`` real rows, ``per_shard`` on each of ``shards``."""

    rows: int
    shards: int
    per_shard: int

    @property
    def padding(self) -> int:
        return self.shards * self.per_shard - self.rows


def check_shardable(structure: ModelStructure, rows: int, shards: int) -> None:
    """Refuse, naming what to change, a row split this model or these devices cannot take."""
    if isinstance(shards, bool) or not isinstance(shards, (int, np.integer)) or shards < 1:
        raise SamplerError(f"shards must be a whole number of at least 1 (the devices the rows are split over), "
                           f"not {shards!r}.")
    if shards == 1:
        return
    available = jax.device_count()
    if shards > available:
        raise SamplerError(f"shards={shards} asks for {shards} devices, but {available} "
                           f"{'is' if available == 1 else 'are'} available ({jax.default_backend()}): use "
                           f"shards={available} or fewer (CPU devices: set XLA_FLAGS="
                           f"--xla_force_host_platform_device_count=N before jax starts).")
    if shards > rows:
        raise SamplerError(f"shards={shards} is more than the model's {rows} rows: use shards={rows} or fewer.")
    kinds = {block.kind for block in structure.blocks} - {"sampled"}
    if kinds:
        what = {"dense": "integrates the random effects out through cross-products (Z'Z, X'y) that do not grow "
                         "with the rows", "by_level": "integrates one block out level by level over the rows' cells",
                "quadrature": "integrates the observation-level effect out by quadrature, drawing each row's "
                              "effect from one key"}
        reasons = "; ".join(what.get(kind, kind) for kind in sorted(kinds))
        raise SamplerError(f"This model cannot split its rows over devices: it {reasons}. Fit it with "
                           f"marginalize=False to sample the random effects (then the rows split), or with shards=1.")
    if structure.autocor:
        raise SamplerError(f"A model with autocorrelated residuals ({structure.autocor}) cannot split its rows over "
                           "devices (each row's density needs its predecessor): fit it with shards=1.")
    if structure.categories:
        raise SamplerError("A categorical model cannot split its rows over devices yet: fit it with shards=1.")


def layout(rows: int, shards: int) -> RowLayout:
    return RowLayout(int(rows), int(shards), math.ceil(int(rows) / int(shards)))


def _is_row_leaf(leaf, rows: int) -> bool:
    return leaf is not None and np.ndim(leaf) >= 1 and np.shape(leaf)[0] == rows


def _split(leaf, where: RowLayout):
    """A per-row array padded at the end (repeating the last row: valid values for any family) and shaped
    (shards, rows per shard, ...)."""
    array = np.asarray(leaf)
    if where.padding:
        array = np.concatenate([array, np.repeat(array[-1:], where.padding, axis=0)])
    return array.reshape((where.shards, where.per_shard) + array.shape[1:])


def split_rows(data: ModelData, shards: int) -> tuple[ModelData, RowLayout]:
    """``data`` with its per-row arrays shaped (shards, rows per shard, ...) and weights that are 0 on the padding
    (1, or the rows' own weights, elsewhere); the count table's weights per value are per shard."""
    rows = int(np.shape(data.y)[0])
    where = layout(rows, shards)
    weights = np.ones(rows) if data.weights is None else np.asarray(data.weights, dtype=float)
    weights = np.concatenate([weights, np.zeros(where.padding)]).reshape(shards, where.per_shard)
    fields = {}
    for name in ROW_FIELDS:
        if name == "weights":
            continue
        fields[name] = jax.tree.map(lambda leaf: _split(leaf, where) if _is_row_leaf(leaf, rows) else leaf,
                                    getattr(data, name))
    table = data.y_table
    if table is not None:  # per shard: its rows' total weight per distinct value
        values, code = table[0], _split(table[1], where)
        counts = np.stack([np.bincount(code[s], weights[s], minlength=np.shape(values)[0]) for s in range(shards)])
        table = (values, code, counts) + tuple(table[3:])
    return data._replace(**fields, weights=weights, y_table=table), where


def row_specs(data: ModelData, where: RowLayout) -> ModelData:
    """The ``PartitionSpec`` of each leaf of a :func:`split_rows` ``data``: over the rows axis for the split
    arrays, replicated for the rest."""
    split = PartitionSpec(ROWS)
    whole = PartitionSpec()
    specs = {name: jax.tree.map(lambda leaf: split if np.ndim(leaf) >= 2 and np.shape(leaf)[:2] == (
        where.shards, where.per_shard) else whole, getattr(data, name)) for name in ROW_FIELDS}
    specs = data._replace(**specs)
    specs = jax.tree.map(lambda leaf: leaf if isinstance(leaf, PartitionSpec) else whole, specs,
                         is_leaf=lambda leaf: isinstance(leaf, PartitionSpec))
    if data.y_table is not None:
        specs = specs._replace(y_table=(whole, split, split) + tuple(None if part is None else whole
                                                                    for part in data.y_table[3:]))
    return specs


def first_shard(data: ModelData, specs: ModelData) -> ModelData:
    """Inside the mesh: a device's slice of the split arrays without its leading axis of one."""
    return jax.tree.map(lambda leaf, spec: leaf[0] if spec == PartitionSpec(ROWS) else leaf, data, specs)


def summed_potential(structure: ModelStructure, sites: dict):
    """``potential(z, data)`` on a device of the mesh: minus the log joint density of all rows, from this
    device's rows (``data``, its shard) and the terms counted once, summed over the ``rows`` axis.

    The sum is one ``psum`` of the shard's value and gradient inside a ``custom_jvp`` rule: under
    ``shard_map`` without replication checks, differentiating through a ``psum`` would give each device its
    own gradient times the shard count, not the sum. The rule's tangent is linear in the tangent alone, so
    reverse mode (NUTS), forward mode and forward-over-reverse (the Hessian-vector products of
    :func:`~.coordinates.curvature`) all see the summed density."""
    model = make_model(structure)

    def shard_part(z, data):
        params = {name: sites[name][0](value) for name, value in z.items()}
        log_probs, _ = compute_log_probs(model, (data,), {}, params)
        rows = sum((value for name, value in log_probs.items() if name in ROW_SITES), start=0.0)
        once = sum((value for name, value in log_probs.items() if name not in ROW_SITES), start=0.0)
        for name, (transform, _) in sites.items():
            once = once + jnp.sum(transform.log_abs_det_jacobian(z[name], params[name]))
        return -(rows + jnp.where(jax.lax.axis_index(ROWS) == 0, once, 0.0))

    def summed(z, data):
        value, grad = jax.value_and_grad(shard_part)(z, data)
        return jax.lax.psum((value, grad), ROWS)

    @jax.custom_jvp
    def potential(z, data):
        return summed(z, data)[0]

    @potential.defjvp
    def potential_jvp(primals, tangents):
        z, data = primals
        value, grad = summed(z, data)
        slope = sum(jnp.vdot(g, t) for g, t in zip(jax.tree.leaves(grad), jax.tree.leaves(tangents[0])))
        return value, slope

    return potential


def mesh_devices(chains: int, shards: int) -> tuple[int, Mesh]:
    """``(devices along the chain axis, the mesh)``: the chains spread over the most devices that divide them
    evenly and leave ``shards`` devices to each; the mesh is over ``jax.devices()`` (every process's)."""
    limit = max(1, jax.device_count() // shards)
    along = max(d for d in range(1, min(chains, limit) + 1) if chains % d == 0)
    grid = np.array(jax.devices()[:along * shards]).reshape(along, shards)
    return along, Mesh(grid, ("chain", ROWS))


def estimated_bytes(data: ModelData) -> tuple[int, int, int]:
    """``(bytes per row, bytes of everything else, rows)`` of a model's arrays on the device: what the row
    arrays and the level-indexed arrays of one chain's data take, before the sampler's own work space."""
    rows = int(np.shape(data.y)[0])
    per_row = other = 0
    for name, value in data._asdict().items():
        for leaf in jax.tree.leaves(value):
            size = int(np.size(leaf)) * np.dtype(getattr(leaf, "dtype", np.float64)).itemsize
            if name in ROW_FIELDS + ("y_table",) and _is_row_leaf(leaf, rows):
                per_row += size // max(rows, 1)
            else:
                other += size
    return per_row, other, rows


def sharded_program(run, arguments: tuple[int, int], chains: int, shards: int, draws: int, shapes, options,
                    *key_parts):
    """``run`` (one chain: ``run(*own, *shared, specs=...)``; ``arguments``: how many of its arguments are the
    chain's own, first, and how many are shared, the data last) as the stored program of ``chains`` chains on
    the mesh of :func:`mesh_devices`: the chains' arguments and outputs split over the chain axis, the data's
    rows over the rows axis (:func:`split_rows`), the pointwise log-likelihood gathered back in row order
    without the padding. A device's chains run one after another, or vectorized on an accelerator."""
    per_chain, n_shared = arguments
    ensure_registered()  # a stored program calls the tick's custom call: XLA must know it before compiling
    along, mesh = mesh_devices(chains, shards)
    rows = int(shapes.tree.y.shape[0])
    where = layout(rows, shards)
    vectorized = jax.default_backend() != "cpu"
    key = program_key(*key_parts, chains, along, shards, ROWS, vectorized)
    chain = PartitionSpec("chain")

    def program(*args):
        specs = row_specs(args[-1], where)

        def one(*local):
            own, shared = local[:per_chain], local[per_chain:]
            call = lambda *mine: run(*mine, *shared, specs=specs)  # noqa: E731
            if chains == along:  # one chain per row of the mesh: no loop around it
                out = jax.tree.map(lambda leaf: leaf[None], call(*jax.tree.map(lambda leaf: leaf[0], own)))
            elif vectorized:
                out = jax.vmap(call)(*own)
            else:
                out = jax.lax.map(lambda mine: call(*mine), own)
            extra = dict(out[2])
            log_lik = extra.pop("log_lik", None)  # this shard's rows: gathered over the rows axis
            return (out[0], out[1], extra, *out[3:]), log_lik if keeps_log_lik(draws, rows) else None

        in_specs = (chain,) * per_chain + (PartitionSpec(),) * (n_shared - 1) + (specs,)
        out, log_lik = jax.shard_map(one, mesh=mesh, in_specs=in_specs,
                                     out_specs=(chain, PartitionSpec("chain", None, ROWS)), check_vma=False)(*args)
        if log_lik is not None:
            out[2]["log_lik"] = log_lik[:, :, :rows]
        return out

    def leaf_specs(args):
        specs = row_specs(args[-1], where)
        tree = (chain,) * per_chain + (PartitionSpec(),) * (n_shared - 1) + (specs,)
        prefix = jax.tree.map(lambda spec, arg: [spec] * len(jax.tree.leaves(arg)), tree, tuple(args),
                              is_leaf=lambda node: isinstance(node, PartitionSpec))
        return [spec for group in jax.tree.leaves(prefix, is_leaf=lambda node: isinstance(node, list))
                for spec in group]

    return stored_program(key, program, mesh=mesh, specs=leaf_specs, compiler_options=options)


def _gigabytes(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**27 else f"{n / 2**20:.1f} MiB"


def out_of_memory(data: ModelData, chains: int, draws: int, shards: int) -> SamplerError:
    """The error for a device that ran out of memory: the model's estimated bytes (:func:`estimated_bytes`) and
    what to change, in place of XLA's ``RESOURCE_EXHAUSTED`` traceback."""
    per_row, other, rows = estimated_bytes(data)
    arrays = per_row * rows / shards + other
    log_lik = 8 * chains * draws * rows if keeps_log_lik(chains * draws, rows) else 0
    available = jax.device_count()
    more = min(available, 2 * shards) if available > shards else None
    advice = (f"split the rows over more devices with shards={more} ({available} available)" if more else
              f"add devices (this run sees {available}) and split the rows over them with shards=N")
    return SamplerError(
        f"The {jax.default_backend()} device ran out of memory. This model's arrays take about "
        f"{_gigabytes(arrays)} per device ({per_row} bytes per row x {rows:,} rows"
        f"{f' / {shards} shards' if shards > 1 else ''} + {_gigabytes(other)} indexed by levels), plus the "
        f"sampler's work space, a few times the rows' share per chain on the device"
        f"{f', and the pointwise log-likelihood of every draw, {_gigabytes(log_lik)}' if log_lik else ''}. "
        f"To fit it, {advice}, or run fewer chains at once (chains=).")
