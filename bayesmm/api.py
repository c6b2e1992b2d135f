"""The convenience layer: :class:`Model` (constructors store, ``fit`` computes), :func:`fit` and :func:`update`;
the sampling itself is :mod:`bayesmm.fitting`'s."""
from __future__ import annotations

from .fit import Fit
from .fitting import CheckedModel, update
from .fitting_laplace import check_method, fit_laplace
from .pipeline import Call

__all__ = ["Model", "fit", "update"]


class Model(CheckedModel):
    """A mixed model: formula + data + family + priors, checked and ready to sample (``model.fit(...)``; its
    priors, plan and prior draws: :class:`~bayesmm.fitting.CheckedModel`).

    >>> import bayesmm as bmm
    >>> model = bmm.Model("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"))
    >>> list(model.priors["class"])
    ['Intercept', 'b', 'sd', 'sd', 'cor', 'sigma']
    """

    def __init__(self, formula: str, data, family="gaussian", priors=None, link: str | None = None,
                 na_action: str = "omit", weights: str | None = None, zi: str | None = None,
                 hu: str | None = None, dispersion: str | None = None, levels=None, autocor: str | None = None,
                 factors=None):
        factors = None if factors is None else tuple([factors] if isinstance(factors, str) else factors)
        super().__init__(Call(formula, family, priors, link, na_action, weights, zi, hu, dispersion, levels,
                              autocor=autocor, factors=factors),
                         data, Fit)

    def fit(self, *args, method: str = "nuts", **settings) -> Fit:
        """Fit the model. ``method="nuts"`` (default): sample the posterior with NUTS
        (:meth:`bayesmm.fitting.CheckedModel.fit`, which describes the settings). ``method="laplace"``: a fast
        approximate answer, the posterior mode of the fixed effects and hyperparameters with the random effects
        integrated out by the Laplace approximation, and ``chains x draws`` draws from a Gaussian around it
        (``docs/inference.md``, "Approximate fits"); the fit says it is approximate everywhere it prints, and Rhat
        and ESS do not apply."""
        if check_method(method) == "laplace":
            return fit_laplace(self, Fit, *args, **settings)
        return super().fit(*args, **settings)


def fit(formula: str, data, family="gaussian", priors=None, link: str | None = None, na_action: str = "omit",
        weights: str | None = None, zi: str | None = None, hu: str | None = None, dispersion: str | None = None,
        levels=None, autocor: str | None = None, factors=None, **sampler) -> Fit:
    """Build a :class:`Model` and fit it in one call: ``bmm.fit("y ~ x + (1|g)", df, seed=1)``.

    ``weights`` names a column of frequency weights (each row counts that many times). ``levels`` gives an
    ordinal response's categories from lowest to highest (``family="cumulative"``; an ordered pandas Categorical
    or whole-number scores need none: :mod:`bayesmm.categories`). ``zi``, ``hu`` and
    ``dispersion`` take one-sided formulas (``zi="~ mined"``) for the zero-inflation or hurdle probability
    (logit link) and the family's dispersion parameter (log link), as glmmTMB's ``ziformula`` /
    ``dispformula`` and brms's ``bf(y ~ ..., zi ~ ...)``; their rows in ``tidy()`` carry component
    ``zi``, ``hu`` or ``disp``. ``autocor`` gives a gaussian model autocorrelated residuals, nlme's ``correlation =
    corAR1(form = ~ time | g)``: ``"ar1(time | g)"``, ``"ar1(~ 1 | g)"`` or ``"car1(time | g)"``
    (:mod:`bayesmm.autocor`). ``factors`` lists columns to treat as factors (categories) although they hold
    numbers (cbpp's ``period``, 1 to 4: ``factors=["period"]``), as R's ``factor()``: levels in numeric order."""
    return Model(formula, data, family, priors, link, na_action, weights, zi, hu, dispersion, levels,
                 autocor, factors).fit(**sampler)
