"""bayesmm: Bayesian (generalized) linear mixed models from lme4-style formulas, sampled with NumPyro NUTS.

>>> import bayesmm as bmm
>>> fit = bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), seed=1)  # doctest: +SKIP
>>> print(fit)  # doctest: +SKIP
"""
from .config import configure_host_devices

configure_host_devices()

from . import datasets  # noqa: E402
from .api import Model, fit, update  # noqa: E402
from .errors import (BayesMMError, BayesMMWarning, DataError, FamilyError, FormulaError, PriorError,  # noqa: E402
                     SamplerError)
from .fit import Fit, load  # noqa: E402
from .formula import parse_formula  # noqa: E402
from .answers.compare import compare  # noqa: E402
from .priors import Prior, prior  # noqa: E402

from .version import __version__  # noqa: E402

__all__ = ["Model", "fit", "Fit", "datasets", "parse_formula", "BayesMMError", "BayesMMWarning", "FormulaError",
           "DataError", "FamilyError", "PriorError", "SamplerError", "__version__", "compare", "load", "prior",
           "Prior", "update"]
