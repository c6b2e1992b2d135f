"""Level-level covariates (bayesmm.plan.bases): the columns constant within a block's levels, found from the
design, give the Householder vectors the sampler rotates the block's effects by (tests/sampler/test_coordinates.py
checks the rotation)."""
from __future__ import annotations

import numpy as np

from bayesmm.plan.bases import MAX_LEVEL_COVARIATES, level_bases


def test_level_bases_find_the_covariates_constant_within_levels():
    """Only columns that hold one value in every level count; one in the span of those before it is skipped; at
    most ``MAX_LEVEL_COVARIATES``; none found: ``None`` (the mean's single reflection)."""
    rng = np.random.default_rng(3)
    levels = 30
    group = np.repeat(np.arange(levels), 4)
    a, b = rng.normal(size=levels)[group], (rng.random(levels) > 0.5)[group].astype(float)
    varying = rng.normal(size=group.size)
    assert level_bases(group, levels, varying[:, None]) is None
    assert level_bases(group, levels, np.zeros((group.size, 0))) is None
    assert level_bases(group, levels, np.column_stack([varying, a])).shape == (2, levels)
    assert level_bases(group, levels, np.column_stack([a, varying, b, 2 * a - 1])).shape == (3, levels)
    many = np.column_stack([rng.normal(size=levels)[group] for _ in range(MAX_LEVEL_COVARIATES + 3)])
    assert level_bases(group, levels, many).shape == (1 + MAX_LEVEL_COVARIATES, levels)
    # three levels, two covariates: one contrast must stay
    few = np.repeat(np.arange(3), 5)
    assert level_bases(few, 3, rng.normal(size=(3, 2))[few]).shape == (2, 3)
