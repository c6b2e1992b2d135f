"""Traced programs kept between processes, so that a fresh process skips tracing the sampler.

JAX's persistent compilation cache (switched on in :mod:`bayesmm.sampler.run`) skips XLA compilation in a
fresh process, but not the Python tracing and lowering that produce the program it is keyed on: for NUTS
that is 1-2 s per model, most of what a small fit costs once the cache is warm. Here a traced program is
exported to StableHLO with ``jax.export`` and written to ``<cache directory>/programs/<key>.stablehlo``. A
later process that needs the same program reads it back and calls it (``Exported.call`` traces only a
thin wrapper; XLA's compiled code comes from the persistent cache).

The key is a SHA-256 of everything the trace depends on: the caller's parts (the model structure, which
holds the priors, the data shapes and dtypes, the sampler settings), the number and platform of the
devices, float64 on or off, the versions of jax, jaxlib and numpyro, and the text of bayesmm's own
source files (an edit to bayesmm gives new keys). Parts whose ``repr`` is not stable between processes
(``... at 0x...``) get no key, and so are traced every time. Any failure to export, store, read or call
a stored program falls back to tracing it, silently: the cache only ever saves time. ``BAYESMM_CACHE_DIR=""``
turns it off along with the compilation cache.
"""
from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import pickle
import tempfile

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

from ..config import cache_directory
from .ticks import export_checks

__all__ = ["program_key", "stored_program", "stored_value", "enable_compilation_cache"]

_SOURCE = pathlib.Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache in a user cache directory (``BAYESMM_CACHE_DIR``, default
    ``~/.cache/bayesmm/jax``; set it to an empty string to turn the cache off), set when the first fit starts
    unless the process has its own (``jax_compilation_cache_dir``), and kept for the process: a fresh process that
    fits a model compiled before skips XLA compilation."""
    directory = cache_directory()
    if not directory or jax.config.jax_compilation_cache_dir:
        return
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return  # a read-only home: run without the cache
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)


@functools.lru_cache(maxsize=1)
def _environment() -> str:
    import jaxlib
    import numpyro

    digest = hashlib.sha256()
    for path in sorted(_SOURCE.rglob("*.py")):
        digest.update(path.relative_to(_SOURCE).as_posix().encode())
        digest.update(path.read_bytes())
    return repr((jax.__version__, jaxlib.__version__, numpyro.__version__, digest.hexdigest()))


def program_key(*parts) -> str | None:
    """A file-name-safe key for a program traced from ``parts`` in this environment, or ``None`` when the
    parts cannot be told apart by their ``repr`` (then the program is not stored)."""
    text = repr(parts)
    if " at 0x" in text:
        return None
    environment = (jax.default_backend(), jax.device_count(), bool(jax.config.jax_enable_x64), _environment())
    return hashlib.sha256((text + repr(environment)).encode()).hexdigest()[:40]


def _path(key: str | None, suffix: str = ".stablehlo") -> pathlib.Path | None:
    directory = cache_directory()
    if not key or not directory:
        return None
    return pathlib.Path(directory) / "programs" / f"{key}{suffix}"


def _read(path: pathlib.Path):
    try:
        return jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # noqa: BLE001 - a missing, truncated or foreign file: trace the program again
        return None


def _write(path: pathlib.Path, exported) -> None:
    _write_bytes(path, lambda: exported.serialize())


def _write_bytes(path: pathlib.Path, payload) -> None:
    handle = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            handle.write(payload())
        os.replace(handle.name, path)  # atomic: a concurrent reader sees the old file or the whole new one
    except Exception:  # noqa: BLE001 - a read-only or full disk, no flatbuffers: run without storing
        if handle is not None and os.path.exists(handle.name):
            os.unlink(handle.name)


def stored_value(key: str | None, compute, check=lambda value: True):
    """``compute()``, kept between processes under ``key`` (a pickle beside the stored programs): what a program's
    caller learns by tracing (a model's latent sites) and would otherwise trace again in each fresh process. A
    stored value that cannot be read or that fails ``check`` is computed again."""
    path = _path(key, ".pickle")
    if path is not None and path.exists():
        try:
            value = pickle.loads(path.read_bytes())
            if check(value):
                return value
        except Exception:  # noqa: BLE001 - a truncated or foreign file: compute it again
            pass
    value = compute()
    if path is not None:
        _write_bytes(path, lambda: pickle.dumps(value))
    return value


def stored_program(key: str | None, fn, mesh=None, split: int = 0, compiler_options: dict | None = None,
                   specs=None):
    """``run(*args)`` computing ``fn(*args)``, from the program stored under ``key`` when there is one, else
    traced on the first call (and stored under ``key``). With a ``mesh`` (one axis, ``"chain"``), the
    leaves of ``args[:split]`` are split over its devices along their leading axis and the others copied
    to each, unless ``specs(args)`` gives each leaf's ``PartitionSpec`` (a mesh of chains and row shards); on
    several processes the outputs are replicated, so that each process reads them whole. ``compiler_options`` go
    to XLA when it compiles the program (they are part of the compilation
    cache's key, not of the stored program's)."""
    resolved = {}

    def resolve(args, reuse: bool):
        leaves, treedef = jax.tree.flatten(args)
        shardings = outputs = None
        if mesh is not None:
            n = len(jax.tree.leaves(args[:split]))
            leaf_specs = specs(args) if specs is not None else (
                [PartitionSpec("chain")] * n + [PartitionSpec()] * (len(leaves) - n))
            shardings = tuple(NamedSharding(mesh, spec) for spec in leaf_specs)
            if jax.process_count() > 1:
                outputs = NamedSharding(mesh, PartitionSpec())
        path = _path(key)
        exported = _read(path) if reuse and path is not None and path.exists() else None
        read = exported is not None
        if exported is None:
            flat = jax.jit(lambda *xs: fn(*treedef.unflatten(xs)), in_shardings=shardings, out_shardings=outputs,
                           compiler_options=compiler_options)
            try:
                shapes = [jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)) for x in leaves]
                exported = jax.export.export(flat, disabled_checks=export_checks())(*shapes)
            except Exception:  # noqa: BLE001 - a program jax cannot export: run it traced
                return flat, shardings, False
            if path is not None:
                _write(path, exported)
        return (jax.jit(exported.call, in_shardings=shardings, out_shardings=outputs,
                        compiler_options=compiler_options), shardings, read)

    def call(args):
        leaves = jax.tree.leaves(args)
        if resolved["shardings"] is not None:  # arguments made elsewhere live on one device: spread them first
            leaves = [jax.device_put(leaf, sharding) for leaf, sharding in zip(leaves, resolved["shardings"])]
        return resolved["call"](*leaves)

    def run(*args):
        if "call" not in resolved:
            resolved["call"], resolved["shardings"], read = resolve(args, reuse=True)
            if read:
                try:
                    return call(args)
                except Exception:  # noqa: BLE001 - a stored program that no longer loads: trace it again
                    resolved["call"], resolved["shardings"], _ = resolve(args, reuse=False)
        return call(args)

    return run
