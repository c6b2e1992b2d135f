"""The plan of the random effects in a family parameter's formula (bayesmm.plan.parts): sampled, non-centred unless
the caller centres them, the reason saying why none of the integrated-out kinds applies; the mean's blocks planned
exactly as without them."""
import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.plan import make_plan

SALAMANDERS = bmm.datasets.load("salamanders")


def _zip(zi="~ spp + (1 | site)", formula="count ~ spp * mined + (1 | site)"):
    return bmm.Model(formula, SALAMANDERS, family="zero_inflated_poisson", zi=zi)


def test_a_parts_blocks_are_sampled_after_the_means_and_say_why():
    model = _zip()
    plan = make_plan(model.design, model.family)
    assert [(b.group, b.part, b.kind) for b in plan.blocks] == [("site", "cond", "sampled"), ("site", "zi", "sampled")]
    zi = plan.blocks[1]
    assert not zi.weights.any() and zi.centre_on == () and zi.parents == () and zi.basis is None
    assert "logit of the zero-inflation probability" in zi.reason and "quadrature" in zi.reason
    assert zi.label == "site (zi)" and "site (zi) sampled (non-centred)" in plan.line()
    assert "(Intercept | site) in zi: sampled." in str(plan)


def test_the_means_blocks_are_planned_as_without_the_parts():
    """The PQL guess and the centring of the mean's block do not see the zi part's block."""
    with_part, without = _zip(), _zip(zi="~ spp")
    plan, reference = (make_plan(m.design, m.family) for m in (with_part, without))
    np.testing.assert_array_equal(plan.blocks[0].weights, reference.blocks[0].weights)
    assert plan.blocks[0].reason == reference.blocks[0].reason
    assert plan.blocks[0].centre_on == reference.blocks[0].centre_on


@pytest.mark.parametrize("centred,expected", [(True, (1.0, 1.0)), (False, (0.0, 0.0)), ((None, True), (None, 1.0)),
                                              ((False, None), (0.0, 0.0))])
def test_the_caller_can_centre_a_parts_block(centred, expected):
    model = _zip()
    plan = make_plan(model.design, model.family, centred=centred)
    for block, weight in zip(plan.blocks, expected):
        if weight is not None:
            assert np.all(block.weights == weight), (block.label, block.weights)
    if centred is True:
        assert "23 of 23 levels centred" in plan.blocks[1].reason


def test_a_gaussian_with_a_dispersion_effect_samples_every_block():
    rng = np.random.default_rng(4)
    data = pd.DataFrame({"y": rng.normal(size=200), "x": rng.normal(size=200), "g": np.repeat(np.arange(20), 10)})
    model = bmm.Model("y ~ x + (1 | g)", data, dispersion="~ (1 | g)")
    plan = make_plan(model.design, model.family)
    assert plan.kinds == ("sampled", "sampled") and "log sigma" in plan.blocks[1].reason
    with pytest.raises(bmm.BayesMMError, match="without formulas for family parameters"):
        make_plan(model.design, model.family, marginalize=True)
