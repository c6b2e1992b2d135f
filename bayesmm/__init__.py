"""bayesmm: Bayesian (generalized) linear mixed models from lme4-style formulas, sampled with NumPyro NUTS.

>>> import bayesmm as bmm
>>> fit = bmm.fit("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"), seed=1)  # doctest: +SKIP
>>> print(fit)  # doctest: +SKIP

The public names are imported when first used (module ``__getattr__``, PEP 562): ``import bayesmm`` and the
command line's ``--help`` then cost a few hundredths of a second instead of the seconds that jax, numpyro,
arviz and matplotlib take to import.
"""
import importlib
import sys
import types

from .config import configure_host_devices
from .errors import (BayesMMError, BayesMMWarning, DataError, FamilyError, FormulaError, PriorError,
                     SamplerError)
from .version import __version__

configure_host_devices()

__all__ = ["Model", "fit", "Fit", "datasets", "parse_formula", "BayesMMError", "BayesMMWarning", "FormulaError",
           "DataError", "FamilyError", "PriorError", "SamplerError", "__version__", "compare", "load", "prior",
           "Prior", "update"]

#: where each public name lives, imported on first use
_LAZY = {"Model": ".api", "update": ".api", "Fit": ".fit", "load": ".fit", "parse_formula": ".formula",
         "compare": ".answers.compare", "Prior": ".priors", "prior": ".priors"}


def __getattr__(name: str):
    if name == "datasets":
        return importlib.import_module(".datasets", __name__)
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package's module type: ``bayesmm.fit`` is the function :func:`bayesmm.api.fit`, although
    ``bayesmm/fit.py`` is a submodule too. Importing a submodule binds it as an attribute of its package; here
    that binding is ignored for ``fit``, so the name stays the function however the submodule was imported."""

    @property
    def fit(self):
        from .api import fit

        return fit

    @fit.setter
    def fit(self, value):
        pass


sys.modules[__name__].__class__ = _Package
