"""The random effects of predictions: each part's groups on the training rows or on new data, and their effects per
draw (levels the fit has seen from the draws, new ones by ``new_levels``; see :mod:`bayesmm.answers.predict`).

A part is a linear predictor: the mean's (``"cond"``) or a family parameter's formula's (``"zi"``, ``"sigma"``,
``RandomBlock.part``). Per part, ``groups`` maps each kept group to ``(level index per row, Z rows x terms, names
of new levels)``, an index ``>= n_levels`` pointing into the new levels.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .. import naming
from ..errors import DataError
from ..families import part_component
from ..posterior import group_terms
from .kriging import basis_columns, kriged_effects, new_positions, structure_draws, structured_new_levels

__all__ = ["evaluate", "level_labels", "training_groups", "new_groups", "flat_draws", "new_level_effects",
           "add_group_effects", "part_label"]


def evaluate(encoder, frame: pd.DataFrame, names, what: str) -> np.ndarray:
    """Columns ``names`` of a training encoder evaluated on new data, with formulae's errors re-raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = encoder.evaluate_new_data(frame).as_dataframe()
    except Exception as err:  # noqa: BLE001 - formulae raises many types; re-raised with context
        raise DataError(f"newdata cannot be encoded for the {what}: {err}. New data must use the levels and "
                        "types of the training data.") from None
    values = (out if names is None else out[list(names)]).to_numpy(dtype=float)
    if not np.all(np.isfinite(values)):
        raise DataError(f"newdata gives non-finite values in the {what} (log of a non-positive value?).")
    return values


def level_labels(series: pd.Series) -> np.ndarray:
    """Level names as the design names them (a numeric column of whole numbers reads as integers)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    elif pd.api.types.is_float_dtype(series) and np.all(np.mod(series.to_numpy(), 1) == 0):
        series = series.astype(np.int64)
    return series.astype(str).to_numpy(dtype=object)


def part_label(part: str) -> str:
    """How messages name a part: '' for the mean, `` in the zi part`` otherwise."""
    return "" if part == "cond" else f" in the {part} part"


def training_groups(design, kept: tuple, part: str = "cond") -> dict:
    """``part``'s kept groups on the training rows."""
    groups = {}
    for group, (_, parts) in group_terms(design, part).items():
        if group in kept:
            blocks = [design.blocks[k] for k, _ in parts]
            groups[group] = (blocks[0].group_index, np.column_stack([b.Z for b in blocks]), ())
    return groups


def _positional(block) -> bool:
    """A block with one column per time/position (kriged at new ones); an approximated one's columns are basis
    functions, evaluated at any position."""
    return block.structure is not None and block.structure.positional and not block.structure.approximated


def _block_columns(block, frame: pd.DataFrame, part: str, found: dict, group: str) -> np.ndarray:
    """A block's Z on new data; a positional block's indicator columns of its fitted positions, its new positions'
    indicators going into ``found[group]`` (they follow the group's terms, :mod:`.kriging`)."""
    if _positional(block):
        codes, positions = new_positions(block, frame)
        indicators = np.zeros((len(frame), block.n_columns + len(positions)))
        indicators[np.arange(len(frame)), codes] = 1.0
        found[group] = (positions, indicators[:, block.n_columns:])
        return indicators[:, :block.n_columns]
    if block.structure is not None and block.structure.approximated:
        return basis_columns(block, frame)
    # a '||' term is one block per column: evaluate the whole term, keep the block's columns
    return evaluate(block.encoder, frame, None, f"random term {block.term}{part_label(part)}")[:, block.column_slice]


def new_groups(design, frame: pd.DataFrame, kept: tuple, part: str = "cond", positions: dict | None = None) -> dict:
    """``part``'s kept groups on new data: covariates through the training encoders, levels matched by name. A group
    with a positional structure gets columns for the new times/positions after its terms, and those positions go
    into ``positions`` (group -> new positions x coordinates)."""
    groups = {}
    for group, (_, parts) in group_terms(design, part).items():
        if group not in kept:
            continue
        blocks = [design.blocks[k] for k, _ in parts]
        found: dict = {}
        Z = np.column_stack([_block_columns(b, frame, part, found, group) for b in blocks]
                            + ([found[group][1]] if found else []))
        if found and positions is not None:
            positions[group] = found[group][0]
        labels = level_labels(frame[blocks[0].group_factors[0]])
        for factor in blocks[0].group_factors[1:]:
            labels = labels + ":" + level_labels(frame[factor])
        known = {level: i for i, level in enumerate(blocks[0].levels)}
        new = tuple(dict.fromkeys(level for level in labels if level not in known))
        known.update({level: blocks[0].n_levels + j for j, level in enumerate(new)})
        groups[group] = (np.array([known[level] for level in labels], dtype=np.int64), Z, new)
    return groups


def flat_draws(fit, name: str, index: np.ndarray) -> np.ndarray:
    """A posterior variable's draws flattened over chains, at ``index``."""
    values = fit.idata.posterior[name].values
    return values.reshape((-1,) + values.shape[2:])[index]


def new_level_effects(fit, group: str, n_new: int, index, new_levels: str, rng, component: str = "cond",
                      positions=None) -> np.ndarray:
    """(draws x new levels x terms) effects of levels the fit has not seen: per draw from ``N(0, diag(sd) R
    diag(sd))`` of the group in ``component`` (``"sample"``), or 0 (``"population"``); a group with a covariance
    structure draws from the structure's prior, also at the new ``positions`` (columns after the terms)."""
    sd = flat_draws(fit, naming.variable("sd", group, component), index)
    extra = 0 if positions is None else len(positions)
    if new_levels == "population" or n_new == 0:
        return np.zeros((len(index), n_new, sd.shape[1] + extra))
    q = sd.shape[1]
    cor_name = naming.variable("cor", group, component)
    cor = flat_draws(fit, cor_name, index) if cor_name in fit.idata.posterior else np.eye(q)[None]
    blocks, columns = _group_blocks(fit, group, component)
    if any(b.structure is not None for b in blocks):
        params = {id(b): structure_draws(fit, group, b.structure, index, component)
                  for b in blocks if b.structure is not None}
        return structured_new_levels(blocks, columns, sd, np.broadcast_to(cor, (len(index), q, q)), params,
                                     positions, n_new, rng)
    chol = np.linalg.cholesky(np.broadcast_to(cor, (len(index), q, q)) + 1e-12 * np.eye(q))
    factor = sd[:, :, None] * chol
    z = rng.standard_normal((len(index), n_new, q))
    return np.einsum("sij,snj->sni", factor, z)


def _group_blocks(fit, group: str, component: str):
    """The blocks of ``group`` in ``component``'s linear predictor and their slices of the group's terms."""
    part = "cond" if component == "cond" else next(b.part for b in fit.design.blocks
                                                    if b.part != "cond" and part_component(b.part) == component)
    parts = group_terms(fit.design, part)[group][1]
    return [fit.design.blocks[k] for k, _ in parts], [where for _, where in parts]


def _known_levels(fit, group: str, index, component: str, positions, rng) -> np.ndarray:
    """(draws x fitted levels x (terms + new positions)): the fitted effects, and at new positions of the group's
    positional block the effects kriged from each level's fitted ones (:mod:`.kriging`)."""
    fitted = flat_draws(fit, naming.variable("ranef", group, component), index)
    if positions is None or not len(positions):
        return fitted
    blocks, columns = _group_blocks(fit, group, component)
    block, where = next((b, w) for b, w in zip(blocks, columns) if _positional(b))
    sd = flat_draws(fit, naming.variable("sd", group, component), index)[:, where.start]
    param = structure_draws(fit, group, block.structure, index, component)
    kriged = kriged_effects(block.structure.kind, sd, param, block.structure.positions, positions,
                            fitted[:, :, where], rng)
    return np.concatenate([fitted, kriged], axis=2)


def add_group_effects(fit, eta: np.ndarray, groups: dict, index, new_levels: str, rng, part: str = "cond",
                      positions: dict | None = None):
    """``eta`` (draws x rows) plus ``sum_j Z[:, j] r[level, j]`` over ``part``'s ``groups``; ``positions``: the new
    times/positions of groups with a positional structure (:func:`new_groups`)."""
    component = "cond" if part == "cond" else part_component(part)
    positions = positions or {}
    for group, (levels, Z, new) in groups.items():
        if new and new_levels == "error":
            raise DataError(f"newdata has {len(new)} level(s) of '{group}'{part_label(part)} that the fit has not "
                            f"seen ({list(new[:5])}). Use new_levels='sample' (draw them from the fitted "
                            "distribution) or 'population' (leave their effects out).")
        at = positions.get(group)
        effects = np.concatenate([_known_levels(fit, group, index, component, at, rng),
                                  new_level_effects(fit, group, len(new), index, new_levels, rng, component, at)],
                                 axis=1)
        for j in np.flatnonzero(np.any(Z != 0, axis=0)):  # a positional block's indicators: most columns unused
            eta = eta + effects[:, levels, j] * Z[:, j]
    return eta
