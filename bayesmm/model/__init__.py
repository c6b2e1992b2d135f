"""The model stage: the only place (with ``bayesmm.inference``) that imports jax and numpyro.

:func:`compile_model` turns a :class:`~bayesmm.design.Design`, a family and the resolved priors into a
hashable :class:`ModelStructure` and the :class:`ModelData` arrays; ``make_model(structure)`` is the
NumPyro model.
"""
from __future__ import annotations

import numpy as np

from ..design import Design
from ..families import Family
from ..priors import PriorEntry
from ..errors import BayesMMError
from .likelihoods import INVERSE_LINKS, count_table, likelihood
from ..families import part_link
from .coordinates import level_bases
from .centring import aliased_levels, level_information, level_weights, parent_links
from .marginal import MAX_COEFFICIENTS, PER_LEVEL_COLUMNS, marginal_data, n_coefficients, on_device, one_block_data
from .quadrature import integrable
from .program import (BlockStructure, ModelData, ModelStructure, generated, linear_predictor, make_model,
                      prior_distribution)

__all__ = ["compile_model", "make_model", "generated", "linear_predictor", "ModelStructure", "ModelData",
           "BlockStructure", "prior_distribution", "likelihood", "INVERSE_LINKS", "model_data",
           "can_marginalize"]


def _lookup(entries: list[PriorEntry], cls: str, group: str = "", coef: str = ""):
    for entry in entries:
        if entry.cls == cls and entry.group == group and entry.coef == coef:
            return entry.prior
    return None


def _as_float(a):
    """A float array on the device, or None."""
    return None if a is None else on_device(a, float)


def model_data(design: Design, X: np.ndarray | None = None, y=None, offset=None, trials=None,
               group_index=None, Z=None, marginal: bool = False) -> ModelData:
    """Arrays for the model; ``X`` etc. default to the design's (new data passes its own). ``marginal``
    adds the cross-products the marginalised gaussian likelihood needs."""
    names = list(design.fixed_names)
    keep = [j for j, n in enumerate(names) if n != "Intercept"]
    x_full = design.X if X is None else X
    x_means = design.X[:, keep].mean(axis=0)
    cross = None
    if marginal:
        centred = design.X[:, keep] - x_means
        Xa = np.column_stack([np.ones(design.n_obs), centred]) if "Intercept" in names else centred
        target = design.y - (design.offset if design.offset is not None else 0.0)
        cross = marginal_data(design.blocks, Xa, target, design.weights)
    return ModelData(
        y=_as_float(design.y if y is None else y),
        X=_as_float(x_full[:, keep] - x_means),
        x_means=_as_float(x_means),
        offset=_as_float(design.offset if offset is None else offset),
        trials=_as_float(design.trials if trials is None else trials),
        group_index=tuple(on_device(g) for g in (group_index or [b.group_index for b in design.blocks])),
        Z=tuple(_as_float(z) for z in (Z or [b.Z for b in design.blocks])),
        marginal=cross,
        weights=_as_float(design.weights),
    )


def can_marginalize(design: Design, family: Family) -> bool:
    """Gaussian, identity link, random effects present and few enough for the dense Woodbury algebra."""
    q = n_coefficients(design.blocks)
    return family.name == "gaussian" and family.link == "identity" and 0 < q <= MAX_COEFFICIENTS and not design.parts


def marginal_block(design: Design, family: Family) -> int:
    """The block to integrate out of a gaussian model too large for :func:`can_marginalize` (the one with the
    most coefficients among those of at most ``PER_LEVEL_COLUMNS`` columns), or -1."""
    if family.name != "gaussian" or family.link != "identity" or design.parts or not design.blocks:
        return -1
    fits = [k for k, b in enumerate(design.blocks) if b.n_columns <= PER_LEVEL_COLUMNS]
    return max(fits, key=lambda k: design.blocks[k].n_levels * design.blocks[k].n_columns) if fits else -1


def _intercept_only(block) -> bool:
    """``(1 | g)``: one column, of ones."""
    return tuple(block.columns) == ("Intercept",) and bool(np.all(np.asarray(block.Z) == 1.0))


def observation_block(design: Design, family: Family) -> int:
    """The first intercept-only block with exactly one row per level (an observation-level effect) when the family
    and link allow integrating it out by quadrature (:mod:`.quadrature`), else -1."""
    if design.parts or not integrable(family.name, family.link):
        return -1
    for k, block in enumerate(design.blocks):
        if (_intercept_only(block) and block.n_levels == design.n_obs
                and np.all(np.bincount(np.asarray(block.group_index), minlength=block.n_levels) == 1)):
            return k
    return -1


#: The integrated-out block's likelihood runs on cells (rows sharing every sampled term) when there are at most
#: this share as many cells as rows; otherwise on the rows themselves (a gather saved per step).
CELL_SHARE = 0.5


def row_cells(design: Design, X: np.ndarray, skip: int):
    """(each row's cell, the first row of each cell) for the rows' distinct combinations of the sampled terms
    (fixed-effect row, offset, every block but ``skip``: level and columns); ``(None, None)`` when there are
    more than ``CELL_SHARE`` as many cells as rows."""
    parts = [X] + ([np.asarray(design.offset, dtype=float)[:, None]] if design.offset is not None else [])
    for k, block in enumerate(design.blocks):
        if k != skip:
            parts += [np.asarray(block.group_index, dtype=float)[:, None], np.asarray(block.Z, dtype=float)]
    keys = np.column_stack(parts) if parts else np.zeros((design.n_obs, 1))
    _, first, index = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    if first.size > CELL_SHARE * design.n_obs:
        return None, None
    return index.ravel(), first


def _level_means(design: Design, X: np.ndarray, k: int):
    """The weighted mean row of ``X`` in each level of block ``k`` (levels x columns), or None without columns."""
    if not X.shape[1]:
        return None
    g = np.asarray(design.blocks[k].group_index)
    w = np.ones(len(g)) if design.weights is None else np.asarray(design.weights, dtype=float)
    total = np.maximum(np.bincount(g, w, minlength=design.blocks[k].n_levels), 1e-300)
    return on_device(np.stack([np.bincount(g, w * X[:, j], minlength=total.size) for j in range(X.shape[1])],
                              axis=1) / total[:, None])


def compile_model(design: Design, family: Family, entries: list[PriorEntry],
                  marginalize: bool | None = None, centred: bool | None = None) -> tuple[ModelStructure, ModelData]:
    """The static structure and the data arrays of a model. ``marginalize``: integrate the random effects
    out (gaussian models; default: whenever :func:`can_marginalize`), ``False`` to sample them.
    ``centred``: sample every level's random effects centred (``True``), non-centred (``False``), or choose
    per level from the data (``None``, :func:`bayesmm.model.centring.centred_levels`); a tuple with one entry
    per block (``True``, ``False`` or ``None``) overrides the choice block by block (the refit safeguard)."""
    possible = can_marginalize(design, family)
    one_block = -1 if possible or marginalize is False else marginal_block(design, family)
    row_block = -1 if marginalize is False else observation_block(design, family)
    if marginalize and not possible and one_block < 0 and row_block < 0:
        raise BayesMMError(f"marginalize=True needs a gaussian identity-link model without formulas for family "
                           f"parameters, with a random-effect block of at most {PER_LEVEL_COLUMNS} columns, or an "
                           f"observation-level effect (1 | obs) in a poisson, negbinomial, binomial or bernoulli "
                           f"model with its default link (this one: {family.name}/{family.link}); use "
                           f"marginalize=None or False.")
    marginal = possible if marginalize is None else bool(marginalize) and possible
    names = list(design.fixed_names)
    information = tau2 = None
    if marginal:  # no random effect is sampled: nothing to centre (and no need for the PQL guess)
        masks = tuple(np.zeros(block.n_levels) for block in design.blocks)
    elif centred is None or isinstance(centred, tuple):  # a weight per level: 0 non-centred, 1 centred, between:
        # partly (effects.BlockEffects); a tuple overrides the chosen weights block by block (None: keep)
        information, tau2 = level_information(design, family.name, family.link)
        masks = level_weights(design.blocks, information, tau2)
        if isinstance(centred, tuple):
            masks = tuple(m if c is None else np.full(m.shape, float(bool(c))) for m, c in zip(masks, centred))
    else:
        masks = tuple(np.full(block.n_levels, float(bool(centred))) for block in design.blocks)
    if one_block >= 0 or row_block >= 0:  # integrated out, not sampled
        masks = tuple(np.zeros_like(m) if k in (one_block, row_block) else m for k, m in enumerate(masks))
    # levels of two blocks holding the same rows: sampled as sum and split, both non-centred (not when every
    # level is to be centred)
    usable = [not marginal and centred is not True and not (isinstance(centred, tuple) and centred[k] is not None)
              and k not in (one_block, row_block) and _intercept_only(block) for k, block in enumerate(design.blocks)]
    masks = list(masks)
    aliases = []
    for a, b, levels_a, levels_b in aliased_levels(design.blocks, usable):
        # the sum is partly centred: information x its variance is about the sum of the two levels' own
        # (x = w / (1 - w) from each level's weight), at the sum's guessed variance; its weight follows the
        # draws' variances (effects.dynamic_weights)
        x = sum(masks[k][levels] / np.maximum(1.0 - masks[k][levels], 1e-3)
                for k, levels in ((a, levels_a), (b, levels_b)))
        aliases.append((a, b, levels_a, levels_b, x, 1.0 if tau2 is None else tau2[a][0] + tau2[b][0]))
        masks[a], masks[b] = masks[a].copy(), masks[b].copy()
        masks[a][levels_a] = masks[b][levels_b] = 0.0
    masks = tuple(masks)
    # per block with independent columns and partly centred levels: information x variance per level and column
    # at the guessed variances, and those, from which each draw's weights follow its variances
    # (effects.dynamic_weights); None: the fixed weights above (correlated blocks, centring chosen by the caller)
    dynamic = tuple(
        None if information is None or not masks[k].any() or (block.correlated and block.n_columns > 1)
        or (isinstance(centred, tuple) and centred[k] is not None)
        else (np.where(masks[k][:, None] > 0, information[k] * tau2[k][None, :], 0.0), tau2[k])
        for k, block in enumerate(design.blocks))
    # One block (the sampled one with the most centred levels) centres on the intercept and its slopes: with
    # two, both pull on the intercept (a crossed poisson model took 4x the leapfrog steps per draw).
    candidates = [k for k, b in enumerate(design.blocks) if "Intercept" in b.columns and "Intercept" in names
                  and masks[k].any()]
    on_intercept = max(candidates, key=lambda k: float(masks[k].sum())) if candidates else -1
    coefficients = ["Intercept"] + [n for n in names if n != "Intercept"]  # the order of [Intercept_c, b]
    links = parent_links(design.blocks, masks, design.weights, skip=max(one_block, row_block))
    # centred levels also centre on their level's mean fixed-effect row (a covariate constant within a level)
    has_slopes = any(n != "Intercept" for n in names)
    mean_columns = [block.columns.index("Intercept") if "Intercept" in block.columns and masks[k].any() and has_slopes
                    else -1 for k, block in enumerate(design.blocks)]
    blocks = tuple(
        BlockStructure(
            n_levels=block.n_levels,
            n_columns=block.n_columns,
            correlated=block.correlated and block.n_columns > 1,
            sd_priors=tuple(_lookup(entries, "sd", block.group, c) for c in block.columns),
            cor_prior=_lookup(entries, "cor", block.group) if block.correlated and block.n_columns > 1 else None,
            intercept_only=_intercept_only(block),
            centre_on=(tuple(coefficients.index(c) if c in coefficients else -1 for c in block.columns)
                       if k == on_intercept else ()),
            any_centred=bool(masks[k].any()),
            parents=tuple((a, columns) for a, columns, _ in links[k]),
            mean_column=mean_columns[k],
        )
        for k, block in enumerate(design.blocks)
    )
    structure = ModelStructure(
        family=family.name,
        link=family.link,
        intercept_prior=_lookup(entries, "Intercept") if "Intercept" in names else None,
        b_priors=tuple(_lookup(entries, "b", "", n) for n in names if n != "Intercept"),
        blocks=blocks,
        aux_priors=tuple((aux.name, _lookup(entries, aux.name)) for aux in family.aux if aux.name not in design.parts),
        marginal=marginal,
        parts=tuple((name, part_link(name), tuple(_lookup(entries, "Intercept_" + name) if c == "Intercept"
                                                  else _lookup(entries, "b_" + name, "", c) for c in columns))
                    for name, (_, columns) in design.parts.items()),
        marginal_block=one_block,
        row_block=row_block,
        aliases=tuple((a, b) for a, b, *_ in aliases),
    )
    part_X = tuple(on_device(X, float) for X, _ in design.parts.values())
    data = model_data(design, marginal=marginal)
    data_X = np.asarray(data.X)
    if one_block >= 0:
        cell_index, first = row_cells(design, data_X, one_block)
        statistics = one_block_data(design.blocks[one_block], design.y, design.weights, cell_index)
        cells = None if cell_index is None else ModelData(  # the cells' first rows, taken in numpy
            y=statistics.cell_mean, X=on_device(data_X[first]), x_means=data.x_means,
            offset=None if design.offset is None else on_device(np.asarray(design.offset, dtype=float)[first]),
            trials=None, group_index=tuple(on_device(np.asarray(b.group_index)[first]) for b in design.blocks),
            Z=tuple(on_device(np.asarray(b.Z, dtype=float)[first]) for b in design.blocks))
        data = data._replace(one_block=statistics, cells=cells)
    table = (None if marginal or one_block >= 0 or row_block >= 0
             else count_table(design.y, family.name, family.link, design.weights))
    return structure, data._replace(
        y_table=None if table is None else tuple(None if a is None else on_device(a) for a in table),
        part_X=part_X, centred=tuple(on_device(m, float) for m in masks),
        guessed_weights=tuple(None if g is None else tuple(on_device(a, float) for a in g) for g in dynamic),
        level_bases=tuple(None if marginal or k in (one_block, row_block) else _as_float(
            level_bases(design.blocks[k].group_index, design.blocks[k].n_levels, data_X))
            for k in range(len(design.blocks))),
        level_X=tuple(_level_means(design, data_X, k) if mean_columns[k] >= 0 else None for k in range(len(design.blocks))),
        parent_pairs=tuple(tuple(tuple(on_device(a) for a in pairs) for _, _, pairs in link) for link in links),
        aliases=tuple((on_device(levels_a), on_device(levels_b), on_device(x, float), on_device(guess, float))
                      for _, _, levels_a, levels_b, x, guess in aliases))
