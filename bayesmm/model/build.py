"""Plan -> model: the :class:`~.records.ModelStructure` and :class:`~.records.ModelData` of a design, built block
by block from the sampling plan's kinds (:mod:`bayesmm.plan`)."""
from __future__ import annotations

import numpy as np

from ..autocor import AUTOCOR_CLASS
from ..categories import category_prefixes, column_predictors, threshold_coefs
from ..families import part_link
from ..plan import make_plan
from ..plan.choose import intercept_only
from ..priors import PriorEntry, random_class
from .arrays import as_float, on_device
from .autocor import autocor_data
from .censoring import model_bounds
from .likelihoods import count_table
from .marginal import indicator_columns, marginal_data, one_block_data
from .panels import panel_statistics
from .records import BlockStructure, ModelData, ModelStructure
from .structured import MARKOV

__all__ = ["compile_model", "build_model", "model_data"]


def _lookup(entries: list[PriorEntry], cls: str, group: str = "", coef: str = ""):
    for entry in entries:
        if entry.cls == cls and entry.group == group and entry.coef == coef:
            return entry.prior
    return None


def model_data(design, X: np.ndarray | None = None, y=None, offset=None, trials=None, group_index=None, Z=None,
               marginal: bool = False, centre: bool = True) -> ModelData:
    """Arrays for the model; ``X`` etc. default to the design's (new data passes its own). ``marginal``
    adds the cross-products the marginalised gaussian likelihood needs. ``centre``: the columns of ``X`` are
    centred at their means, which only a model with something to absorb the shift may do (an intercept, or an
    ordinal model's thresholds); ``y ~ 0 + x`` keeps ``x`` as it is."""
    names = list(design.fixed_names)
    keep = [j for j, n in enumerate(names) if n != "Intercept"]
    x_full = design.X if X is None else X
    x_means = design.X[:, keep].mean(axis=0) if centre else np.zeros(len(keep))
    cross = None
    if marginal:
        centred = design.X[:, keep] - x_means
        Xa = np.column_stack([np.ones(design.n_obs), centred]) if "Intercept" in names else centred
        target = design.y - (design.offset if design.offset is not None else 0.0)
        cross = marginal_data(design.blocks, Xa, target, design.weights)
    return ModelData(
        y=as_float(design.y if y is None else y),
        X=as_float(x_full[:, keep] - x_means),
        x_means=as_float(x_means),
        offset=as_float(design.offset if offset is None else offset),
        trials=as_float(design.trials if trials is None else trials),
        group_index=tuple(on_device(g) for g in (group_index or [b.group_index for b in design.blocks])),
        Z=tuple(as_float(z) for z in (Z or [b.Z for b in design.blocks])),
        marginal=cross,
        weights=as_float(design.weights),
    )


def _level_means(design, X: np.ndarray, k: int):
    """The weighted mean row of ``X`` in each level of block ``k`` (levels x columns), or None without columns."""
    if not X.shape[1]:
        return None
    g = np.asarray(design.blocks[k].group_index)
    w = np.ones(len(g)) if design.weights is None else np.asarray(design.weights, dtype=float)
    total = np.maximum(np.bincount(g, w, minlength=design.blocks[k].n_levels), 1e-300)
    return on_device(np.stack([np.bincount(g, w * X[:, j], minlength=total.size) for j in range(X.shape[1])],
                              axis=1) / total[:, None])


def _block_structure(design, block, plan_block, entries, prefixes) -> BlockStructure:
    correlated = block.correlated and block.n_columns > 1
    return BlockStructure(
        n_levels=block.n_levels, n_columns=block.n_columns, correlated=correlated,
        sd_priors=tuple(_lookup(entries, random_class("sd", block.part), block.group, c) for c in _sd_terms(block)),
        cor_prior=_lookup(entries, random_class("cor", block.part), block.group) if correlated else None,
        intercept_only=intercept_only(block), centre_on=plan_block.centre_on,
        any_centred=bool(plan_block.weights.any()), parents=tuple((p.block, p.columns) for p in plan_block.parents),
        mean_column=plan_block.mean_column, kind=plan_block.kind, part=block.part,
        predictors=column_predictors(block, prefixes) if prefixes else (), **_structured(block, entries))


def _structured(block, entries) -> dict:
    """A structured block's kind and the prior of its parameter (``rho`` or ``lscale``)."""
    if block.structure is None:
        return {}
    return {"structure": block.structure.model_kind,
            "structure_prior": _lookup(entries, block.structure.parameter, block.group)}


def _sd_terms(block) -> tuple:
    """The terms with an SD: the block's columns, or a positional structure's one shared SD (``time``)."""
    structure = block.structure
    return (structure.label,) if structure is not None and structure.positional else tuple(block.columns)


def _positions(block):
    """A structured block's column positions on the device (``cs``: zeros, one row per column; an approximated
    block: its basis functions' frequencies), or None."""
    if block.structure is None:
        return None
    if block.structure.approximated:
        return on_device(block.structure.basis.frequencies(), float)
    positions = block.structure.positions
    return on_device(np.zeros((block.n_columns, 1)) if positions is None else positions, float)


def _integrated(design, k, plan, data, X) -> dict:
    """A block integrated out (``dense``, ``quadrature``): no per-level arrays of its own."""
    return {}


def _by_level(design, k, plan, data, X) -> dict:
    """A block integrated out level by level: its per-level statistics, on the rows' cells where they are few."""
    cell_index, first = plan.cells if plan.cells is not None else (None, None)
    statistics = one_block_data(design.blocks[k], design.y, design.weights, cell_index)
    cells = None if cell_index is None else ModelData(  # the cells' first rows, taken in numpy
        y=statistics.cell_mean, X=on_device(X[first]), x_means=data.x_means,
        offset=None if design.offset is None else on_device(np.asarray(design.offset, dtype=float)[first]),
        trials=None, group_index=tuple(on_device(np.asarray(b.group_index)[first]) for b in design.blocks),
        Z=tuple(on_device(np.asarray(b.Z, dtype=float)[first]) for b in design.blocks))
    return {"one_block": statistics, "cells": cells, "panel": _panel(design, k, X)}


def _panel(design, k, X):
    """The sums of a balanced panel (:mod:`.panels`) when block ``k``, an ``ar1``/``ou`` block, is the model's only
    random-effect block (the rest of the mean is then the fixed effects); else None."""
    block = design.blocks[k]
    if (len(design.blocks) > 1 or design.parts or design.autocor is not None or block.structure is None
            or block.structure.model_kind not in MARKOV):
        return None
    column = indicator_columns(np.asarray(block.Z, dtype=float))
    if column is None:
        return None
    Xa = np.column_stack([np.ones(X.shape[0]), X]) if "Intercept" in design.fixed_names else X
    target = np.asarray(design.y, dtype=float) - (0.0 if design.offset is None else np.asarray(design.offset, float))
    return panel_statistics(block.group_index, column, block.n_levels, block.n_columns, Xa, target, design.weights)


def _sampled(design, k, plan, data, X) -> dict:
    """A sampled block: its centring weights (fixed or following the draws' SDs), parents, basis, level means."""
    block = plan.blocks[k]
    return {"guessed_weights": None if block.guess is None else tuple(on_device(a, float) for a in block.guess),
            "level_bases": as_float(block.basis),
            "level_X": _level_means(design, X, k) if block.mean_column >= 0 else None,
            "parent_pairs": tuple((on_device(p.level), on_device(p.parent_level), on_device(p.share))
                                  for p in block.parents)}


#: per kind, the block's arrays in ModelData (fields of one entry per block, None where a kind has none)
BLOCK_ARRAYS = {"dense": _integrated, "quadrature": _integrated, "by_level": _by_level, "sampled": _sampled}
_PER_BLOCK = ("guessed_weights", "level_bases", "level_X", "parent_pairs")


def build_model(plan, design, family, entries: list[PriorEntry]) -> tuple[ModelStructure, ModelData]:
    """The static structure and the data arrays of a model from its plan."""
    names = list(design.fixed_names)
    pairs = [(a, alias) for a, block in enumerate(plan.blocks) for alias in block.aliases]
    prefixes = category_prefixes(design, family)
    structure = ModelStructure(
        family=family.name, link=family.link,
        intercept_prior=_lookup(entries, "Intercept") if "Intercept" in names else None,
        b_priors=tuple(_lookup(entries, "b", "", n) for n in names if n != "Intercept"),
        blocks=tuple(_block_structure(design, b, p, entries, prefixes) for b, p in zip(design.blocks, plan.blocks)),
        aux_priors=tuple((aux.name, _lookup(entries, aux.name)) for aux in family.aux if aux.name not in design.parts)
        + (((design.autocor.parameter, _lookup(entries, AUTOCOR_CLASS)),) if design.autocor is not None else ()),
        parts=tuple((name, part_link(name), tuple(_lookup(entries, "Intercept_" + name) if c == "Intercept"
                                                  else _lookup(entries, "b_" + name, "", c) for c in columns))
                    for name, (_, columns) in design.parts.items()),
        aliases=tuple((a, alias.partner) for a, alias in pairs),
        thresholds=tuple(_lookup(entries, "Intercept", "", coef) for coef in threshold_coefs(design, family)),
        categories=len(category_prefixes(design, family)),
        autocor=design.autocor.parameter if design.autocor is not None else "")
    data = model_data(design, marginal=structure.marginal,
                      centre=structure.intercept_prior is not None or bool(structure.thresholds))
    X = np.asarray(data.X)
    per_block = {name: [] for name in _PER_BLOCK}
    extra = {}
    for k, block in enumerate(plan.blocks):
        arrays = BLOCK_ARRAYS[block.kind](design, k, plan, data, X)
        for name in _PER_BLOCK:
            per_block[name].append(arrays.pop(name, () if name == "parent_pairs" else None))
        extra.update(arrays)
    sampled_rows = all(kind in ("sampled",) for kind in plan.kinds)
    bounds = model_bounds(design, family)
    # one table of log-gammas per distinct count needs one phi for all rows: not with a dispersion formula
    tabled = sampled_rows and bounds is None and "phi" not in design.parts
    table = count_table(design.y, family.name, family.link, design.weights) if tabled else None
    return structure, data._replace(
        bounds=bounds, autocor=_autocor(design, structure, data),
        **extra, **{name: tuple(values) for name, values in per_block.items()},
        y_table=None if table is None else tuple(None if a is None else on_device(a) for a in table),
        Z=data.Z if structure.categories else _indicator_columns(data.Z),
        part_X=tuple(on_device(X_part, float) for X_part, _ in design.parts.values()),
        centred=tuple(on_device(b.weights, float) for b in plan.blocks),
        positions=tuple(_positions(b) for b in design.blocks),
        aliases=tuple((on_device(a.levels), on_device(a.partner_levels), on_device(a.information, float),
                       on_device(a.variance, float)) for _, a in pairs))


def _indicator_columns(Z: tuple) -> tuple:
    """Each block's ``Z``, or for a block whose rows hold one 1 each (a positional structure's, ``(0 + f | g)``) the
    column of that 1 per row: the linear predictor then gathers one effect per row instead of a rows x q product
    (1,000 series x 50 times: 2.5 million products per evaluation)."""
    columns = [indicator_columns(np.asarray(z)) for z in Z]
    return tuple(z if column is None else on_device(column.astype(np.int32)) for z, column in zip(Z, columns))


def _autocor(design, structure: ModelStructure, data: ModelData):
    """The arrays of autocorrelated residuals (:mod:`.autocor`), with the dense marginal's cross-products of
    ``[Z, Xa, y - offset]`` (``Xa``: the centred columns, after the intercept's ones) when it is integrated out."""
    if design.autocor is None or not structure.marginal:
        return None if design.autocor is None else autocor_data(design.autocor, design.blocks, None, None)
    X = np.asarray(data.X)
    Xa = np.column_stack([np.ones(design.n_obs), X]) if structure.intercept_prior is not None else X
    target = design.y - (design.offset if design.offset is not None else 0.0)
    return autocor_data(design.autocor, design.blocks, Xa, target)


def compile_model(design, family, entries: list[PriorEntry], marginalize: bool | None = None,
                  centred=None, plan=None) -> tuple[ModelStructure, ModelData]:
    """:func:`build_model` of :func:`bayesmm.plan.make_plan` (``marginalize``, ``centred``: see there), or of
    ``plan`` when given."""
    return build_model(plan or make_plan(design, family, marginalize, centred), design, family, entries)
