"""Fit <-> one netCDF file: :func:`save` and :func:`read` (``bmm.load`` makes the Fit of what it reads).

The file is ArviZ's netCDF layout of ``fit.idata`` (every group: posterior, sample_stats, log_likelihood,
observed_data, and any other a fit has gained) plus one extra group, ``bayesmm_model``, that holds as JSON in
its attributes the formula, family, link, the user's prior overrides, ``na_action``,
``weights``/``zi``/``hu``/``dispersion``, the sampler settings, the priors table in effect and the package
version, and then either

* (``data=True``, the default) the training data, one variable per column, stored exactly (numbers as
  themselves, categoricals as codes with their categories, strings as strings): :func:`read` rebuilds the
  design and priors from it (:func:`bayesmm.pipeline.prepare`), so every answer works as on the original fit;
* or (``data=False``) the design without its rows (:mod:`bayesmm.portable`: names, levels, the encoders of
  new data with the training data's ``scale()`` centres and contrasts, the priors and the separation
  finding), and no column of the data. Summaries, tests, LOO and predictions on new data work; answers about
  the training rows (fitted values, posterior predictive checks, refits) say that the data is needed.

Either way the loaded fit gives the same ``tidy()``, ``pvalues()`` and predictions as the original:
:func:`save` checks that before it writes, and writes through a temporary file so a failed save leaves no
partial file.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from .errors import BayesMMError, BayesMMWarning

__all__ = ["save", "read", "FORMAT", "encode_frame", "decode_frame"]

FORMAT = "bayesmm-fit"
FORMAT_VERSION = 1
_GROUP = "bayesmm_model"


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


# ------------------------------------------------------------------------------------- data frames
def _encode_column(series: pd.Series, key: str) -> tuple[dict, dict]:
    """(description, {variable name: array}) for one column, or raise for a dtype we cannot store exactly."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories, values = _encode_column(pd.Series(dtype.categories), key + "_categories")
        values[key] = series.cat.codes.to_numpy(dtype=np.int64)
        return {"kind": "category", "ordered": bool(dtype.ordered), "categories": categories}, values
    if pd.api.types.is_bool_dtype(dtype) and not series.isna().any():
        return {"kind": "bool", "dtype": str(dtype)}, {key: series.to_numpy(dtype=np.int8)}
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return {"kind": "numeric", "dtype": str(dtype)}, {key: series.to_numpy()}
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return {"kind": "datetime", "dtype": str(dtype)}, {key: series.to_numpy().view(np.int64)}
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):  # nullable Int64, boolean, ...
        return {"kind": "nullable", "dtype": str(dtype)}, {key: series.to_numpy(dtype=float, na_value=np.nan)}
    missing = series.isna().to_numpy()
    present = series[~missing]
    if pd.api.types.is_string_dtype(dtype) and all(isinstance(v, str) for v in present):
        text = np.array(["" if m else v for v, m in zip(series.tolist(), missing)], dtype=object)
        return {"kind": "string", "dtype": str(dtype)}, {key: text, key + "_missing": missing.astype(np.int8)}
    raise TypeError(f"dtype {dtype}")


def _decode_column(description: dict, group: xr.Dataset, key: str) -> pd.Series:
    kind = description["kind"]
    values = group[key].values
    if kind == "category":
        categories = _decode_column(description["categories"], group, key + "_categories")
        return pd.Series(pd.Categorical.from_codes(values.astype(int), categories=pd.Index(categories),
                                                   ordered=description["ordered"]))
    if kind == "bool":
        return pd.Series(values.astype(bool))
    if kind == "numeric":
        return pd.Series(values.astype(description["dtype"]))
    if kind == "datetime":
        return pd.Series(values.astype(np.int64).view(description["dtype"]))
    if kind == "nullable":
        return pd.Series(values).astype(description["dtype"])
    missing = group[key + "_missing"].values.astype(bool)
    text = np.array([str(v) for v in values], dtype=object)
    text[missing] = None
    return pd.Series(text).astype(description["dtype"])


def encode_frame(frame: pd.DataFrame) -> tuple[dict, dict]:
    """(layout for the JSON record, {variable name: array}) of a data frame's columns and index."""
    columns, variables = [], {}
    for j, name in enumerate(frame.columns):
        key = f"column_{j}"
        try:
            description, values = _encode_column(frame[name], key)
        except TypeError:
            warnings.warn(f"save(): column '{name}' (dtype {frame[name].dtype}) cannot be stored exactly and is left "
                          "out of the saved training data.", BayesMMWarning, stacklevel=4)
            continue
        columns.append({"name": name, "key": key, **description})
        variables.update(values)
    index = frame.index
    index_name = index.name if isinstance(index.name, (str, int)) else None
    if isinstance(index, pd.RangeIndex):
        index_description = {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step}
    else:
        try:
            index_description, values = _encode_column(pd.Series(index), "index")
            variables.update(values)
        except TypeError:
            index_description = {"kind": "range", "start": 0, "stop": len(frame), "step": 1}
    return {"columns": columns, "index": dict(index_description, name=index_name)}, variables


def decode_frame(layout: dict, group: xr.Dataset) -> pd.DataFrame:
    """The data frame :func:`encode_frame` stored."""
    frame = pd.DataFrame({c["name"]: _decode_column(c, group, c["key"]) for c in layout["columns"]})
    index = layout["index"]
    if index["kind"] == "range":
        frame.index = pd.RangeIndex(index["start"], index["stop"], index["step"])
    else:
        frame.index = pd.Index(_decode_column(index, group, "index"))
    frame.index.name = index.get("name")
    return frame


# ------------------------------------------------------------------------------------------ metadata
def _prior_text(spec) -> str:
    """A PriorSpec at full precision (``str(spec)`` rounds to 4 digits)."""
    return f"{spec.dist}({', '.join(repr(float(a)) for a in spec.args)})" if spec.args else spec.dist


def _explicit_priors(entries) -> dict:
    """Every prior in effect as an override dict (``{"b": {coef: prior}, "sd": {group: {coef: prior}}, ...}``):
    the rebuilt model then has exactly these priors whatever the defaults, presets or files were."""
    out = {}
    for entry in entries:
        text = _prior_text(entry.prior)
        if entry.group and entry.coef:
            out.setdefault(entry.cls, {}).setdefault(entry.group, {})[entry.coef] = text
        elif entry.group or entry.coef:
            out.setdefault(entry.cls, {})[entry.group or entry.coef] = text
        else:
            out[entry.cls] = text
    return out


def _metadata(fit) -> dict:
    from .version import __version__

    arguments = dict(fit.call.arguments(), family=fit.family.name, link=fit.family.link,
                     priors=_explicit_priors(fit.prior_entries))
    try:
        given = json.loads(json.dumps(fit.call.priors))
    except (TypeError, ValueError):
        given = repr(fit.call.priors)
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "bayesmm_version": __version__,
            "arguments": arguments, "priors_argument": given, "settings": dataclasses.asdict(fit.settings),
            "data_name": fit.data_name, "seconds": float(fit.seconds),
            "prior_sources": [entry.source for entry in fit.prior_entries],
            "priors": fit.priors.to_dict(orient="records")}


def _json_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _rebuild(meta: dict, frame: pd.DataFrame):
    """The stored call and its checked design and priors (:func:`bayesmm.pipeline.prepare`), the priors' sources
    as stored."""
    from .pipeline import Call, prepare

    call = Call(**meta["arguments"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BayesMMWarning)
        prepared = prepare(call, frame)
    entries = prepared.prior_entries
    sources = meta.get("prior_sources", [])
    if len(sources) == len(entries):
        entries = tuple(dataclasses.replace(e, source=s) for e, s in zip(entries, sources))
    return dataclasses.replace(call, priors=meta.get("priors_argument")), dataclasses.replace(
        prepared, prior_entries=entries)


def _same_design(a, b) -> bool:
    same = (np.array_equal(a.y, b.y) and np.array_equal(a.X, b.X) and a.fixed_names == b.fixed_names
            and len(a.blocks) == len(b.blocks))
    return same and all(np.array_equal(p.group_index, q.group_index) and np.array_equal(p.Z, q.Z)
                        and p.levels == q.levels for p, q in zip(a.blocks, b.blocks))


# ---------------------------------------------------------------------------------------- save/load
def _with_data(fit, meta: dict) -> dict:
    """The training data's variables (and its layout in ``meta``), after checking that they rebuild the fit."""
    from .data import as_dataframe

    if fit.data is None:
        raise BayesMMError("save(): this Fit does not keep its training data; save it with data=False (the draws, "
                           "priors and the encoders of new data, without the rows), or refit it with bmm.fit().")
    layout, variables = encode_frame(as_dataframe(fit.data))
    meta["data"] = layout
    try:
        _, rebuilt = _rebuild(meta, decode_frame(layout, xr.Dataset({k: ("row_" + k, v)
                                                                     for k, v in variables.items()})))
    except BayesMMError as err:
        raise BayesMMError(f"save(): the model cannot be rebuilt from the stored data ({err}).") from None
    same_priors = [e.prior for e in rebuilt.prior_entries] == [e.prior for e in fit.prior_entries]
    if not _same_design(rebuilt.design, fit.design) or not same_priors:
        raise BayesMMError("save(): the model rebuilt from the stored data differs from the fitted one: was the "
                           "data frame changed after fitting, or does a column have a dtype that cannot be stored "
                           "exactly? Refit on an unchanged copy of the data.")
    return {k: ("row_" + k, v) for k, v in variables.items()}


def _without_data(fit, meta: dict) -> dict:
    """The design without its rows, the priors and the separation finding as one record (:mod:`.portable`),
    after checking that its encoders give the training rows' own design."""
    from . import portable

    design = fit.design
    record = {"design": design.without_rows(), "family": fit.family, "prior_entries": fit.prior_entries,
              "separation": fit.separation}
    blob = portable.dumps(record, design.n_obs, keep=(record["design"].fixed_means,)
                          + tuple(b.column_scale for b in design.blocks) + _structure_arrays(design))
    if design.has_rows and fit.data is not None:
        _check_encoders(fit, dataclasses.replace(portable.loads(blob)["design"], y=design.y))
    meta["rows"] = False
    meta["formulae_version"] = portable.formulae_version()
    return {"record": ("record_byte", np.frombuffer(blob, dtype=np.uint8))}


def _structure_arrays(design) -> tuple:
    """The covariance structures' own arrays (positions, the approximation's box), which new data is kriged or
    evaluated against: kept whatever their length, since a field with one position per row has as many as rows."""
    structures = [b.structure for b in design.blocks if b.structure is not None]
    return tuple(s.positions for s in structures if s.positions is not None) + tuple(
        array for s in structures if s.basis is not None for array in (s.basis.centre, s.basis.half_width))


def _check_encoders(fit, stored) -> None:
    """The stored encoders, applied to the training rows, must give the fitted design's arrays."""
    from .answers.predict import prediction_design, training_frame

    def same(a, b) -> bool:
        return (a is None) == (b is None) and (a is None or np.shape(a) == np.shape(b) and np.allclose(
            np.asarray(a, float), np.asarray(b, float), rtol=1e-12, atol=1e-12))

    original = prediction_design(fit)
    try:
        again = prediction_design(dataclasses.replace(fit, design=stored), training_frame(fit))
    except BayesMMError as err:
        raise BayesMMError(f"save(): the stored encoders cannot encode the training data ({err}); save with "
                           "data=True.") from None
    same_groups = original.groups.keys() == again.groups.keys() and all(
        same(original.groups[g][0], again.groups[g][0]) and same(original.groups[g][1], again.groups[g][1])
        and not again.groups[g][2] for g in original.groups)
    same_parts = original.parts.keys() == again.parts.keys() and all(same(original.parts[k], again.parts[k])
                                                                     for k in original.parts)
    if not (same(original.X, again.X) and same(original.offset, again.offset) and same_groups and same_parts):
        raise BayesMMError("save(): the stored encoders do not reproduce the training rows' design (a formula "
                           "transform that formulae cannot replay on new data?); save with data=True.")


def save(fit, path, data: bool = True) -> str:
    """Write ``fit`` to the netCDF file ``path`` (overwritten if it exists); returns the path. ``data=False``
    leaves the training data out (see the module docstring)."""
    if not isinstance(data, bool):
        raise BayesMMError(f"save(): data must be True (store the training data) or False, not {data!r}.")
    meta = _metadata(fit)
    variables = _with_data(fit, meta) if data else _without_data(fit, meta)
    extra = xr.Dataset(variables, attrs={"bayesmm": json.dumps(meta, default=_json_scalar)})
    path = _file_path(path, "save")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise BayesMMError(f"save(): the folder '{directory}' does not exist; create it first or choose another "
                           "path.")
    handle, temporary = tempfile.mkstemp(suffix=".nc", dir=directory)
    os.close(handle)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit.idata.to_netcdf(temporary)
            extra.to_netcdf(temporary, mode="a", group=_GROUP, engine="h5netcdf")
        os.replace(temporary, path)
    except OSError as err:
        raise BayesMMError(f"save(): cannot write '{path}': {err}.") from None
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def _read(path: str):
    az = _az()
    try:
        with warnings.catch_warnings(), az.rc_context({"data.load": "eager"}):
            warnings.simplefilter("ignore")
            idata = az.from_netcdf(path)
    except Exception as err:  # noqa: BLE001 - h5py/xarray raise many types for a damaged or foreign file
        raise BayesMMError(f"load(): '{path}' is not a readable netCDF file (truncated or written by another "
                           f"program?): {type(err).__name__}. Save fits with fit.save(path).") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with xr.open_dataset(path, group=_GROUP, engine="h5netcdf") as group:
                group = group.load()
    except Exception as err:  # noqa: BLE001 - as above
        raise BayesMMError(f"load(): '{path}' is not a bayesmm fit file (no '{_GROUP}' group: written by another "
                           f"program, or truncated?): {type(err).__name__}. Save fits with fit.save(path).") from None
    try:
        meta = json.loads(group.attrs["bayesmm"])
    except (KeyError, TypeError, ValueError):
        raise BayesMMError(f"load(): '{path}' is not a bayesmm fit file (no readable model record).") from None
    if meta.get("format") != FORMAT:
        raise BayesMMError(f"load(): '{path}' is not a bayesmm fit file.")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise BayesMMError(f"load(): '{path}' was written by bayesmm {meta.get('bayesmm_version')} in a newer file "
                           "format; upgrade bayesmm to read it.")
    return idata, group, meta


def read(path) -> dict:
    """The fields of the :class:`~bayesmm.fit.Fit` that :func:`save` wrote (``bmm.load`` makes the Fit): the
    stored draws, and the design and priors rebuilt from the stored data and call (the same encodings, level
    names and ``scale()`` centres for new data). A missing, truncated or foreign file is a
    :class:`BayesMMError`."""
    from .sampler.settings import SamplerSettings

    path = _file_path(path, "load")
    if not os.path.isfile(path):
        raise BayesMMError(f"load(): no file '{path}'.")
    idata, group, meta = _read(path)
    if _GROUP in idata.groups():
        del idata[_GROUP]
    observed = idata.observed_data["y"].values if "observed_data" in idata.groups() else None
    if observed is None:
        raise BayesMMError(f"load(): '{path}' has no observed_data group; the file is damaged.")
    records = _records_with_data(path, meta, group, observed) if meta.get("rows", True) else \
        _records_without_data(path, meta, group, observed)
    if meta["bayesmm_version"] != _version():
        warnings.warn(f"load(): '{path}' was written by bayesmm {meta['bayesmm_version']} (this is {_version()}); "
                      "the draws are as stored, derived tables use this version's code.", BayesMMWarning,
                      stacklevel=3)
    return dict(records, idata=idata, settings=SamplerSettings(**meta["settings"]), data_name=meta["data_name"],
                seconds=meta["seconds"])


def _records_with_data(path: str, meta: dict, group, observed) -> dict:
    frame = decode_frame(meta["data"], group)
    call, prepared = _rebuild(meta, frame)
    if not np.array_equal(observed, prepared.design.y):
        raise BayesMMError(f"load(): the model rebuilt from '{path}' does not reproduce the stored response; the "
                           "file is damaged or was written by an incompatible bayesmm version.")
    return {"design": prepared.design, "family": prepared.family, "prior_entries": prepared.prior_entries,
            "call": call, "separation": prepared.separation, "data": frame}


def _records_without_data(path: str, meta: dict, group, observed) -> dict:
    from . import portable
    from .pipeline import Call

    if "record" not in group:
        raise BayesMMError(f"load(): '{path}' holds neither the training data nor the model record; the file is "
                           "damaged.")
    if meta.get("formulae_version") != portable.formulae_version():
        warnings.warn(f"load(): '{path}' stores formulae {meta.get('formulae_version')}'s encoders (this is "
                      f"{portable.formulae_version()}); predictions on new data may differ. Save with data=True to "
                      "rebuild them from the data instead.", BayesMMWarning, stacklevel=4)
    record = portable.loads(group["record"].values.tobytes())
    design = dataclasses.replace(record["design"], y=observed)
    call = Call(**dict(meta["arguments"], priors=meta.get("priors_argument")))
    return {"design": design, "family": record["family"], "prior_entries": record["prior_entries"], "call": call,
            "separation": record["separation"], "data": None}


def _file_path(path, call: str) -> str:
    """``path`` as a string, or a BayesMMError naming what was passed instead of a file name."""
    try:
        return os.fspath(path)
    except TypeError:
        raise BayesMMError(f"{call}(): the path must be a file name (a string or pathlib.Path), not "
                           f"{type(path).__name__} {path!r}.") from None


def _version() -> str:
    from .version import __version__

    return __version__
