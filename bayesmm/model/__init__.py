"""The model stage: plan -> NumPyro program (the log density, likelihoods, the integrated-out blocks).

:func:`compile_model` (:mod:`.build`) turns a :class:`~bayesmm.design.Design`, a family, the resolved priors and
the sampling plan (:mod:`bayesmm.plan`) into a hashable :class:`ModelStructure` and the :class:`ModelData`
arrays (:mod:`.records`); ``make_model(structure)`` (:mod:`.program`) is the NumPyro model.
"""
from .build import build_model, compile_model, model_data
from .likelihoods import likelihood
from .means import INVERSE_LINKS
from .program import generated, linear_predictor, make_model, prior_distribution
from .records import BlockStructure, ModelData, ModelStructure

__all__ = ["compile_model", "build_model", "make_model", "generated", "linear_predictor", "ModelStructure",
           "ModelData", "BlockStructure", "prior_distribution", "likelihood", "INVERSE_LINKS", "model_data"]
