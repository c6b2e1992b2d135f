"""``method="laplace"``: a fit from the Laplace approximation instead of NUTS (:mod:`bayesmm.sampler.laplace`),
in the same :class:`~bayesmm.fit.Fit` record, marked approximate (``fit.method``; the summary, the status line,
``tidy()``'s Rhat and ESS, which do not apply, and the report say so)."""
from __future__ import annotations

import time

from .errors import SamplerError
from .separation import refuse_flat_priors

__all__ = ["fit_laplace", "check_method", "METHODS", "REFUSED_KINDS"]

#: the ``method=`` values of ``fit``
METHODS = ("nuts", "laplace")
#: response kinds the approximation refuses: several linear predictors with thresholds or categories, not checked
#: against a reference
REFUSED_KINDS = ("ordinal", "categorical")


def check_method(method) -> str:
    if method not in METHODS:
        raise SamplerError(f"method must be one of {', '.join(repr(m) for m in METHODS)}, not {method!r}.")
    return method


def fit_laplace(model, record, chains: int = 4, draws: int = 1000, warmup: int = 1000, seed: int = 0,
                progress: bool | None = None, target_accept: float | None = None, max_tree_depth: int = 10,
                marginalize: bool | None = None, centered: bool | None = None, refit: bool = True, shards: int = 1,
                **unknown):
    """The Laplace approximation of ``model``'s posterior (a :class:`~bayesmm.fitting.CheckedModel`) as a ``record``
    (the :class:`~bayesmm.fit.Fit` class) with
    ``chains x draws`` independent draws from it. NUTS's own settings do not apply: ``warmup`` and ``refit`` are
    ignored, the others refused when set."""
    from .plan import make_plan
    from .model import build_model
    from .posterior import build_idata
    from .sampler.laplace import laplace_posterior
    from .sampler.settings import SamplerSettings
    from .version import __version__

    if model.family.response in REFUSED_KINDS:
        raise SamplerError(f"method='laplace' does not approximate {model.family.name} models (their thresholds or "
                           "categories are not checked against a reference); fit them with method='nuts'.")
    for name in unknown:
        raise SamplerError(f"Unknown setting {name!r} of method='laplace'; it takes chains, draws and seed.")
    nuts_only = [name for name, value in (("target_accept", target_accept), ("marginalize", marginalize),
                                          ("centered", centered)) if value is not None]
    nuts_only += ["max_tree_depth"] if max_tree_depth != 10 else []
    nuts_only += ["shards"] if shards != 1 else []
    if nuts_only:
        raise SamplerError(f"{', '.join(nuts_only)}: NUTS settings, which method='laplace' does not use; drop them "
                           "or fit with method='nuts'.")
    settings = SamplerSettings(chains, draws, 0, seed, progress=progress)
    refuse_flat_priors(model.separation, model.prior_entries)
    start = time.perf_counter()
    plan = make_plan(model.design, model.family, None, False)  # non-centred: the effects enter linearly
    structure, data = build_model(plan, model.design, model.family, model.prior_entries)
    result = laplace_posterior(structure, data, int(chains), int(draws), int(seed))
    attrs = {"formula": model.spec.text, "family": model.family.name, "link": model.family.link,
             "bayesmm_version": __version__, "seed": int(seed), "n_dropped_rows": model.design.n_dropped,
             "marginalized": int(any(kind != "sampled" for kind in plan.kinds)), "sampler": "laplace",
             "method": "laplace", "refit": "", "plan": plan.line(), "centered_levels": 0,
             "laplace_log_marginal": result.log_marginal, "laplace_iterations": result.iterations,
             **{f"laplace_{stage}_seconds": seconds for stage, seconds in result.seconds.items()}}
    idata = build_idata(result.samples, model.design, model.family, attrs)
    return record(idata, model.design, model.family, model.prior_entries, settings, model.call, plan=plan,
                  separation=model.separation, data=model.data, data_name=model.data_name,
                  seconds=time.perf_counter() - start)
