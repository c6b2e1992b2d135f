"""The model stage: the only place (with ``bayesmm.inference``) that imports jax and numpyro.

:func:`compile_model` turns a :class:`~bayesmm.design.Design`, a family and the resolved priors into a
hashable :class:`ModelStructure` and the :class:`ModelData` arrays; ``make_model(structure)`` is the
NumPyro model.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..design import Design
from ..families import Family
from ..priors import PriorEntry
from .likelihoods import INVERSE_LINKS, likelihood
from .program import (BlockStructure, ModelData, ModelStructure, generated, linear_predictor, make_model,
                      prior_distribution)

__all__ = ["compile_model", "make_model", "generated", "linear_predictor", "ModelStructure", "ModelData",
           "BlockStructure", "prior_distribution", "likelihood", "INVERSE_LINKS", "model_data"]


def _lookup(entries: list[PriorEntry], cls: str, group: str = "", coef: str = ""):
    for entry in entries:
        if entry.cls == cls and entry.group == group and entry.coef == coef:
            return entry.prior
    return None


def model_data(design: Design, X: np.ndarray | None = None, y=None, offset=None, trials=None,
               group_index=None, Z=None) -> ModelData:
    """Arrays for the model; ``X`` etc. default to the design's (new data passes its own)."""
    names = list(design.fixed_names)
    keep = [j for j, n in enumerate(names) if n != "Intercept"]
    x_full = design.X if X is None else X
    x_means = design.X[:, keep].mean(axis=0)
    as_float = lambda a: None if a is None else jnp.asarray(a, dtype=jnp.result_type(float))  # noqa: E731
    return ModelData(
        y=as_float(design.y if y is None else y),
        X=as_float(x_full[:, keep] - x_means),
        x_means=as_float(x_means),
        offset=as_float(design.offset if offset is None else offset),
        trials=as_float(design.trials if trials is None else trials),
        group_index=tuple(jnp.asarray(g) for g in (group_index or [b.group_index for b in design.blocks])),
        Z=tuple(as_float(z) for z in (Z or [b.Z for b in design.blocks])),
    )


def compile_model(design: Design, family: Family, entries: list[PriorEntry]) -> tuple[ModelStructure, ModelData]:
    """The static structure and the data arrays of a model."""
    names = list(design.fixed_names)
    blocks = tuple(
        BlockStructure(
            n_levels=block.n_levels,
            n_columns=block.n_columns,
            correlated=block.correlated and block.n_columns > 1,
            sd_priors=tuple(_lookup(entries, "sd", block.group, c) for c in block.columns),
            cor_prior=_lookup(entries, "cor", block.group) if block.correlated and block.n_columns > 1 else None,
        )
        for block in design.blocks
    )
    structure = ModelStructure(
        family=family.name,
        link=family.link,
        intercept_prior=_lookup(entries, "Intercept") if "Intercept" in names else None,
        b_priors=tuple(_lookup(entries, "b", "", n) for n in names if n != "Intercept"),
        blocks=blocks,
        aux_priors=tuple((aux.name, _lookup(entries, aux.name)) for aux in family.aux),
    )
    return structure, model_data(design)
