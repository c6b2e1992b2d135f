"""Design + family -> :class:`~bayesmm.plan.records.ModelPlan`: which random-effect block is integrated out,
how, and how each sampled level is centred. Numpy only.

Each decider fills one part of the plan: :func:`integrated_kinds` the blocks integrated out,
:func:`centring_weights` the sampled levels' weights, then the sum-and-split pairs, the blocks nested in others,
the block centred on the intercept and the level-level covariates' bases (:mod:`.centring`, :mod:`.bases`).
"""
from __future__ import annotations

import numpy as np

from ..errors import BayesMMError
from .bases import level_bases
from .centring import aliased_levels, level_information, level_weights, parent_links
from .parts import mean_centring, mean_design, with_part_blocks
from .records import AliasPlan, BlockPlan, ModelPlan, ParentPlan

__all__ = ["make_plan", "can_marginalize", "n_coefficients", "row_cells", "intercept_only", "PER_LEVEL_COLUMNS",
           "MAX_COEFFICIENTS", "MAX_APPROXIMATED", "QUADRATURE_LINKS", "CELL_SHARE"]

#: A single block with at most this many columns uses the per-level algebra (unrolled q x q Cholesky).
PER_LEVEL_COLUMNS = 3

#: Above this many random-effect coefficients the dense O(Q^3) algebra costs more than sampling them (or
#: integrating the largest block out level by level): scotssec's crossed (1 | primary) + (1 | second), 167
#: coefficients, took 700 s dense and 43 s with primary integrated out level by level and second sampled.
MAX_COEFFICIENTS = 100

#: Families (with their link) whose observation-level effect is integrated out by quadrature
#: (``model.quadrature``): each row's log-likelihood is concave in the linear predictor.
QUADRATURE_LINKS = {"poisson": "log", "negbinomial": "log", "binomial": "logit", "bernoulli": "logit"}

#: The integrated-out block's likelihood runs on cells (rows sharing every sampled term) when there are at most
#: this share as many cells as rows; otherwise on the rows themselves (a gather saved per step).
CELL_SHARE = 0.5


def n_coefficients(blocks) -> int:
    return int(sum(b.n_levels * b.n_columns for b in blocks))


def intercept_only(block) -> bool:
    """``(1 | g)``: one column, of ones."""
    return tuple(block.columns) == ("Intercept",) and bool(np.all(np.asarray(block.Z) == 1.0))


def _gaussian(design, family) -> bool:
    return family.name == "gaussian" and family.link == "identity" and not design.parts and design.bounds is None


#: Autocorrelated residuals (``autocor=``) enter the dense marginal through cross-products kept per distinct time
#: step between successive rows (``model.autocor``): at most this many steps.
MAX_AUTOCOR_STEPS = 16


def can_marginalize(design, family) -> bool:
    """Gaussian, identity link, random effects present and few enough for the dense Woodbury algebra (and, with
    autocorrelated residuals, few distinct time steps)."""
    steps_ok = design.autocor is None or len(design.autocor.steps) <= MAX_AUTOCOR_STEPS
    limit = MAX_APPROXIMATED if any(_approximated(b) for b in design.blocks) else MAX_COEFFICIENTS
    return _gaussian(design, family) and 0 < n_coefficients(design.blocks) <= limit and steps_ok


#: A spatial block fitted with the Hilbert-space approximation (``bayesmm.hsgp``, at most 1,024 basis functions by
#: default) is integrated out densely up to this many coefficients: its weights are a few hundred independent
#: normals that, sampled, need deep trees, while the marginal leaves NUTS four parameters.
MAX_APPROXIMATED = 1024


def _approximated(block) -> bool:
    return block.structure is not None and block.structure.approximated


def _by_level_block(design, family) -> int:
    """The block to integrate out of a gaussian model too large for :func:`can_marginalize` (the one with the
    most coefficients among those of at most ``PER_LEVEL_COLUMNS`` columns), or -1."""
    if not _gaussian(design, family) or not design.blocks or design.autocor is not None:
        return -1  # autocorrelated residuals tie a level's rows to its neighbours': no per-level algebra
    fits = [k for k, b in enumerate(design.blocks) if b.n_columns <= PER_LEVEL_COLUMNS or _markov(b)]
    return max(fits, key=lambda k: design.blocks[k].n_levels * design.blocks[k].n_columns) if fits else -1


def _markov(block) -> bool:
    """An ``ar1``/``ou`` block: its per-level algebra runs on a tridiagonal precision, whatever its columns."""
    return block.structure is not None and block.structure.markov


def _structure(block) -> str:
    return "" if block.structure is None else block.structure.kind


def _observation_block(design, family) -> int:
    """The first intercept-only block with exactly one row per level (an observation-level effect) when the family
    and link allow integrating it out by quadrature, else -1."""
    if design.parts or design.bounds is not None or QUADRATURE_LINKS.get(family.name) != family.link:
        return -1
    for k, block in enumerate(design.blocks):
        if (intercept_only(block) and block.n_levels == design.n_obs
                and np.all(np.bincount(np.asarray(block.group_index), minlength=block.n_levels) == 1)):
            return k
    return -1


def integrated_kinds(design, family, marginalize) -> tuple[list[str], list[str]]:
    """Per block, ``"dense"``, ``"by_level"``, ``"quadrature"`` or ``"sampled"`` (still to be refined), with
    the reason. ``marginalize``: None chooses, False samples every block, True insists on integrating."""
    q, blocks = n_coefficients(design.blocks), design.blocks
    dense = can_marginalize(design, family) and marginalize is not False
    one_block = -1 if can_marginalize(design, family) or marginalize is False else _by_level_block(design, family)
    row_block = -1 if marginalize is False else _observation_block(design, family)
    if marginalize and not dense and one_block < 0 and row_block < 0:
        raise BayesMMError(f"marginalize=True needs a gaussian identity-link model without formulas for family "
                           f"parameters, with a random-effect block of at most {PER_LEVEL_COLUMNS} columns, or an "
                           f"observation-level effect (1 | obs) in a poisson, negbinomial, binomial or bernoulli "
                           f"model with its default link (this one: {family.name}/{family.link}); use "
                           f"marginalize=None or False.")
    kinds, reasons = [], []
    for k, block in enumerate(blocks):
        if dense:
            kinds.append("dense")
            most = MAX_APPROXIMATED if any(_approximated(b) for b in blocks) else MAX_COEFFICIENTS
            reasons.append(f"A gaussian model with {q} random-effect coefficients (at most {most}): "
                           f"only the SDs and correlations are sampled, the effects drawn from their exact "
                           f"conditional.")
        elif k == one_block:
            kinds.append("by_level")
            reasons.append(f"A gaussian model with {q} random-effect coefficients, too many to integrate out "
                           f"jointly (more than {MAX_COEFFICIENTS}); this block has the most coefficients of those "
                           f"with at most {PER_LEVEL_COLUMNS} columns.")
        elif k == row_block:
            kinds.append("quadrature")
            reasons.append(f"One level per row (an observation-level effect) in a {family.name} model: only "
                           f"its SD is sampled.")
        else:
            kinds.append("sampled")
            reasons.append("")
    return kinds, reasons


def centring_weights(design, family, kinds, centred):
    """Per block, a weight per level (0 non-centred, 1 centred, between: partly), with the PQL guess's
    information and variances (None without it). ``centred``: None chooses from the data, True / False every
    level, a tuple a choice per block (None: keep the data's)."""
    information = tau2 = None
    if not any(kind == "sampled" and block.structure is None for kind, block in zip(kinds, design.blocks)):
        # nothing sampled that could be centred (integrated-out blocks, whitened structured ones): no PQL guess
        weights = [np.zeros(block.n_levels) for block in design.blocks]
    elif centred is None or isinstance(centred, tuple):
        information, tau2 = level_information(design, family.name, family.link)
        weights = list(level_weights(design.blocks, information, tau2))
        if isinstance(centred, tuple):
            weights = [w if c is None else np.full(w.shape, float(bool(c))) for w, c in zip(weights, centred)]
    else:
        weights = [np.full(block.n_levels, float(bool(centred))) for block in design.blocks]
    # a structured block is sampled whitened (non-centred): its levels' effects are correlated across columns
    weights = [w if kind == "sampled" and block.structure is None else np.zeros_like(w)
               for w, kind, block in zip(weights, kinds, design.blocks)]

    return weights, information, tau2


def _chosen(centred, k: int) -> bool:
    """Whether the caller fixed block ``k``'s centring (then its weights stay as given)."""
    return centred is True or (isinstance(centred, tuple) and centred[k] is not None)


def aliases(design, kinds, weights, tau2, centred) -> dict:
    """Sum-and-split pairs, ``{block a: [AliasPlan, ...]}``, with both blocks' paired levels set non-centred in
    ``weights``. The sum is partly centred: information x its variance is about the sum of the two levels' own
    (``x = w / (1 - w)`` from each level's weight), at the sum's guessed variance; its weight follows the draws'
    variances (``model.effects.dynamic_weights``)."""
    usable = [kind == "sampled" and not _chosen(centred, k) and intercept_only(block)
              for k, (kind, block) in enumerate(zip(kinds, design.blocks))]
    out = {}
    for a, b, levels_a, levels_b in aliased_levels(design.blocks, usable):
        x = sum(weights[k][levels] / np.maximum(1.0 - weights[k][levels], 1e-3)
                for k, levels in ((a, levels_a), (b, levels_b)))
        out.setdefault(a, []).append(AliasPlan(b, levels_a, levels_b, x, 1.0 if tau2 is None else tau2[a][0] + tau2[b][0]))
        weights[a], weights[b] = weights[a].copy(), weights[b].copy()
        weights[a][levels_a] = weights[b][levels_b] = 0.0
    return out


def row_cells(design, X: np.ndarray, skip: int):
    """(each row's cell, the first row of each cell) for the rows' distinct combinations of the sampled terms
    (fixed-effect row, offset, every block but ``skip``: level and columns); None when there are more than
    ``CELL_SHARE`` as many cells as rows."""
    parts = [X] + ([np.asarray(design.offset, dtype=float)[:, None]] if design.offset is not None else [])
    for k, block in enumerate(design.blocks):
        if k != skip:
            parts += [np.asarray(block.group_index, dtype=float)[:, None], np.asarray(block.Z, dtype=float)]
    keys = np.column_stack(parts) if parts else np.zeros((design.n_obs, 1))
    _, first, index = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    if first.size > CELL_SHARE * design.n_obs:
        return None
    return index.ravel(), first


def centred_X(design) -> np.ndarray:
    """The fixed-effect columns but the intercept, centred at their means (the model's ``X``)."""
    keep = [j for j, n in enumerate(design.fixed_names) if n != "Intercept"]
    return design.X[:, keep] - design.X[:, keep].mean(axis=0)


def _sampled_reason(block, weights, guess, alias_of, parents, centre_on) -> str:
    centred, partly = int(np.sum(weights >= 0.5)), int(np.sum((weights > 0) & (weights < 0.5)))
    if not weights.any():
        text = "Every level non-centred"
    else:
        text = f"{centred} of {block.n_levels} levels centred, {partly} partly centred, the rest non-centred"
    text += (" (weights from a quick PQL guess of each level's information, following each draw's SD)."
             if guess is not None else " (from a quick PQL guess of each level's information)." if weights.any()
             else ".")
    for partner, n in alias_of:
        text += f" {n} levels hold the same rows as levels of {partner}: sampled as their sum and a split."
    if parents:
        text += f" Centred levels centre on the effects of {', '.join(parents)}, which they nest in."
    if centre_on:
        text += " Centred levels centre on the intercept."
    return text


def make_plan(design, family, marginalize: bool | None = None, centred=None) -> ModelPlan:
    """The sampling plan of a model. ``marginalize``: integrate random effects out where possible (None),
    never (False) or insist (True: an error where it is not possible). ``centred``: sample every level centred
    (True), non-centred (False), choose per level from the data (None, :mod:`.centring`), or a tuple with one
    entry per block (True, False or None) overriding the choice block by block (the refit safeguard). Blocks of a
    family parameter's formula are sampled (:mod:`.parts`)."""
    if any(block.part != "cond" for block in design.blocks):
        mean = mean_design(design)
        return with_part_blocks(make_plan(mean, family, marginalize, mean_centring(centred, len(mean.blocks))),
                                design, centred)
    blocks = design.blocks
    kinds, reasons = integrated_kinds(design, family, marginalize)
    weights, information, tau2 = centring_weights(design, family, kinds, centred)
    paired = aliases(design, kinds, weights, tau2, centred)
    dynamic = [None if information is None or not weights[k].any() or (b.correlated and b.n_columns > 1)
               or (isinstance(centred, tuple) and centred[k] is not None)
               else (np.where(weights[k][:, None] > 0, information[k] * tau2[k][None, :], 0.0), tau2[k])
               for k, b in enumerate(blocks)]
    names = list(design.fixed_names)
    # One block (the sampled one with the most centred levels) centres on the intercept and its slopes: with
    # two, both pull on the intercept (a crossed poisson model took 4x the leapfrog steps per draw).
    candidates = [k for k, b in enumerate(blocks) if "Intercept" in b.columns and "Intercept" in names
                  and weights[k].any()]
    on_intercept = max(candidates, key=lambda k: float(weights[k].sum())) if candidates else -1
    coefficients = ["Intercept"] + [n for n in names if n != "Intercept"]
    skip = max([k for k, kind in enumerate(kinds) if kind in ("by_level", "quadrature")], default=-1)
    links = parent_links(blocks, weights, design.weights, skip=skip)
    has_slopes = any(n != "Intercept" for n in names)
    X = centred_X(design)
    out = []
    for k, block in enumerate(blocks):
        if kinds[k] != "sampled":
            out.append(BlockPlan(block.group, tuple(block.columns), block.n_levels, kinds[k], reasons[k],
                                 weights=weights[k], structure=_structure(block)))
            continue
        centre_on = (tuple(coefficients.index(c) if c in coefficients else -1 for c in block.columns)
                     if k == on_intercept else ())
        parents = tuple(ParentPlan(a, columns, *pairs) for a, columns, pairs in links[k])
        alias_of = [(blocks[p.partner].group if a == k else blocks[a].group, len(p.levels))
                    for a, pairs in paired.items() for p in pairs if k in (a, p.partner)]
        reason = _sampled_reason(block, weights[k], dynamic[k], alias_of, [blocks[p.block].group for p in parents],
                                 centre_on)
        out.append(BlockPlan(
            block.group, tuple(block.columns), block.n_levels, "sampled", reason, weights=weights[k],
            guess=dynamic[k], parents=parents, aliases=tuple(paired.get(k, ())), centre_on=centre_on,
            mean_column=(block.columns.index("Intercept") if "Intercept" in block.columns and weights[k].any()
                         and has_slopes else -1),
            basis=None if block.structure is not None else level_bases(block.group_index, block.n_levels, X),
            structure=_structure(block)))
    by_level = kinds.index("by_level") if "by_level" in kinds else -1
    cells = row_cells(design, X, by_level) if by_level >= 0 else None
    return ModelPlan(tuple(out), cells, information, tau2)
