"""A fit's records without its training rows, as bytes: what :func:`bayesmm.io.save` writes for a fit saved
with ``data=False``.

The design's encoders of new data are formulae objects (the training data's levels, contrasts and the state
of ``scale()``, ``center()``, ``poly()``). They are pickled with three things left out: every array or pandas
object with one entry per training row (stored as an empty one of the same dtype and trailing shape), the
formula environment (rebuilt on load from formulae's transforms and :data:`bayesmm.design.FORMULAE_NAMESPACE`)
and modules (stored by name). Reading accepts only the classes such records are made of (bayesmm's records,
formulae's terms and transforms, numpy and pandas containers), so a file cannot run other code when it is
loaded. :func:`bayesmm.io.save` checks that the encoders read back give the training rows' own design.
"""
from __future__ import annotations

import importlib
import io
import pickle
import types

import numpy as np
import pandas as pd

from .design import FORMULAE_NAMESPACE, NAMESPACE
from .errors import BayesMMError

__all__ = ["dumps", "loads", "formulae_version"]

_FUNCTIONS = {**FORMULAE_NAMESPACE, **NAMESPACE}
#: module prefixes whose classes a record may hold
_PACKAGES = ("bayesmm.", "formulae.")
#: numpy's and pandas' reconstructors and containers, operators formulae's lazy calls keep, plain builtins
_ALLOWED = {
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("pandas", "DataFrame"), ("pandas", "Index"), ("pandas", "RangeIndex"), ("pandas", "Series"),
    ("pandas", "StringDtype"), ("pandas", "CategoricalDtype"), ("pandas", "Categorical"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"), ("pandas._libs.internals", "_unpickle_block"),
    ("pandas.arrays", "StringArray"), ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.internals.managers", "BlockManager"), ("pandas.core.internals.managers", "SingleBlockManager"),
    ("pandas.core.arrays.categorical", "Categorical"), ("pandas.core.dtypes.dtypes", "CategoricalDtype"),
    ("builtins", "slice"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "range"),
    ("builtins", "complex"), ("collections", "OrderedDict"),
} | {("_operator", name) for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos")}


def formulae_version() -> str:
    return importlib.import_module("formulae").__version__


class _Writer(pickle.Pickler):
    def __init__(self, file, n_rows: int, keep):
        super().__init__(file, protocol=4)
        self.n_rows = n_rows
        self.keep = {id(value) for value in keep}
        self.functions = {id(f): name for name, f in _FUNCTIONS.items() if callable(f)}

    def persistent_id(self, obj):
        kind = type(obj)
        if kind.__module__ == "formulae.environment" and kind.__name__ == "Environment":
            return ("environment",)
        if isinstance(obj, types.ModuleType):
            return ("module", obj.__name__)
        if callable(obj) and _FUNCTIONS.get(self.functions.get(id(obj))) is obj:
            return ("function", self.functions[id(obj)])
        if id(obj) in self.keep:
            return None
        if isinstance(obj, np.ndarray) and obj.ndim and obj.shape[0] == self.n_rows:
            return ("rows", obj[:0].copy())
        if isinstance(obj, (pd.Series, pd.DataFrame, pd.Index)) and len(obj) == self.n_rows:
            return ("rows", obj[:0].copy())
        return None


class _Reader(pickle.Unpickler):
    def persistent_load(self, pid):
        if pid[0] == "environment":
            from formulae.environment import Environment
            from formulae.terms.call import ENCODINGS
            from formulae.transforms import TRANSFORMS

            return Environment([{**TRANSFORMS, **ENCODINGS}, dict(_FUNCTIONS)])
        if pid[0] == "module" and pid[1] in ("numpy", "np"):
            return np
        if pid[0] == "function" and pid[1] in _FUNCTIONS:
            return _FUNCTIONS[pid[1]]
        if pid[0] == "rows":
            return pid[1]
        raise pickle.UnpicklingError(f"unknown reference {pid[0]!r}")

    def find_class(self, module, name):
        found = super().find_class(module, name) if (module, name) in _ALLOWED else None
        if found is None and module.startswith(_PACKAGES):
            candidate = super().find_class(module, name)
            found = candidate if isinstance(candidate, type) else None
        if found is None:
            raise pickle.UnpicklingError(f"'{module}.{name}' is not part of a bayesmm record")
        return found


def dumps(value, n_rows: int, keep=()) -> bytes:
    """``value`` as bytes, without anything that has one entry per training row (``n_rows`` of them) except the
    arrays in ``keep`` (per-column summaries that may happen to have ``n_rows`` entries)."""
    buffer = io.BytesIO()
    try:
        _Writer(buffer, n_rows, keep).dump(value)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise BayesMMError(f"save(): the model's records cannot be stored without the training data ({err}); "
                           "save with data=True.") from None
    return buffer.getvalue()


def loads(data: bytes):
    """What :func:`dumps` wrote; a record holding anything else is refused."""
    try:
        return _Reader(io.BytesIO(bytes(data))).load()
    except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError, ValueError) as err:
        raise BayesMMError(f"load(): the file's model record cannot be read ({err}); it is damaged, or written by "
                           "versions of bayesmm and formulae other than these.") from None
