"""A checked model and its fit: :class:`CheckedModel` samples the posterior with NUTS and the safeguard, and
:func:`update` refits a fit with some of its arguments changed (brms's ``update``).

The fit record's class comes in as an argument (:class:`bayesmm.Model` passes :class:`~bayesmm.fit.Fit`, and
:func:`update` the class of the fit it refits), so that ``Fit.update`` can call this module without an import
cycle.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .answers.convergence import warn_convergence
from .column_types import with_factors
from .data import as_dataframe
from .errors import BayesMMError, SamplerError, closest
from .fitting_laplace import check_method, fit_laplace
from .pipeline import Call, data_name, prepare, updated_call
from .priors import priors_frame
from .sampler.progress import current_line, showing
from .separation import refuse_flat_priors

if TYPE_CHECKING:
    from .fit import Fit

__all__ = ["CheckedModel", "update", "MODEL_ARGUMENTS", "SETTINGS", "ALIASES"]


class CheckedModel:
    """A mixed model (its :class:`~bayesmm.pipeline.Call` and data) checked and ready to sample; ``record`` is the
    class of the fits it returns. ``keep_priors``: priors in effect to keep instead of resolving them again, where
    they are on the same parameters (:func:`update`). See :class:`bayesmm.Model`."""

    def __init__(self, call: Call, data, record, keep_priors=None):
        #: The constructor's arguments except the data (:class:`bayesmm.pipeline.Call`): a saved fit keeps them.
        self.call = call
        data = with_factors(data, call.factors)  # the fit keeps the data as the model read them
        prepared = prepare(self.call, data, keep_priors)
        self.spec, self.family, self.design = prepared.spec, prepared.family, prepared.design
        self.prior_entries, self.separation = prepared.prior_entries, prepared.separation
        self.data = data
        self.data_name = data_name(data)
        self._record = record
        self._plan = None

    @property
    def arguments(self) -> dict:
        """The constructor's arguments except the data."""
        return self.call.arguments()

    @property
    def plan(self):
        """The sampling plan at default settings (:class:`bayesmm.plan.ModelPlan`): for each random-effect
        block, whether it is integrated out or sampled, how its levels are centred, and why;
        ``print(model.plan)``. ``fit.plan`` is the plan of the fit kept (the safeguard may change it)."""
        from .plan import make_plan

        if self._plan is None:
            self._plan = make_plan(self.design, self.family)
        return self._plan

    @property
    def priors(self) -> pd.DataFrame:
        """Every prior in effect, after autoscaling, with the rule that produced it."""
        return priors_frame(self.prior_entries)

    def sample_prior(self, draws: int = 1000, seed: int = 0):
        """Draws of every parameter from its prior and of the response from the prior predictive
        distribution: an InferenceData with ``prior``, ``prior_predictive`` and ``observed_data``."""
        from .answers.prior_predictive import sample_prior

        return sample_prior(self, draws, seed)

    def fit(self, chains: int = 4, draws: int = 1000, warmup: int = 1000, seed: int = 0,
            target_accept: float | None = None, max_tree_depth: int = 10, progress: bool | None = None,
            marginalize: bool | None = None, centered: bool | None = None, refit: bool = True, shards: int = 1,
            **unknown) -> "Fit":
        """Sample the posterior with NUTS and return a :class:`~bayesmm.fit.Fit`.

        ``target_accept``: NUTS's target acceptance rate (default: the family's, 0.8 for most and 0.95 for
        beta_binomial and zero_inflated_negbinomial, whose parameters trade off along a ridge, and for
        identity/inverse/sqrt links of positive means, whose edge rejects steps); raise it towards 0.99 if a
        fit reports divergent transitions.
        ``progress``: a line per stage on standard error (compiling, sampling with percent, draws per second and
        time left, summarising); by default shown when standard error is a terminal or in Jupyter, ``True``
        shows it anywhere, ``False`` never. It does not change the draws. Ctrl-C stops the chains and raises
        ``KeyboardInterrupt``.
        ``marginalize``: for gaussian models, integrate the random effects out exactly and draw them from
        their conditional afterwards (default: whenever the model allows it; ``False`` samples them).
        ``centered``: sample the random effects centred (``True``) or non-centred (``False``, as brms and
        Bambi do); by default each level is centred where its data pin its effect down more than the prior
        does (``bayesmm.plan.centring``), which removes the funnel both ways.
        ``refit``: when ``centered`` is left to the data and a sampled block's SDs, correlations or levels mix
        poorly (Rhat >= 1.01 or ESS < 400), refit once with that block in the other parameterisation, and
        after divergent transitions with ``target_accept`` raised to 0.95 (0.99 from 0.95), and to 0.99 once more
        if divergences remain; the best fit is kept. Then a fit still short of those checks, without a
        divergence and with every Rhat below 1.05, has its chains run longer from where they stopped, half
        of ``draws`` at a time while a check still fails, at most ``draws`` more (:mod:`bayesmm.safeguard`;
        ``fit.idata.posterior.attrs["refit"]`` says what was done, and ``fit.settings.draws`` counts the draws
        kept). ``False`` keeps the first fit as it is.
        ``shards``: split the rows over this many devices per chain (CPU devices, GPUs, or the devices of several
        processes under ``jax.distributed``), the log density and its gradient summed across them: the same draws
        to float rounding, for data larger than one device holds (docs/sampling.md, "Devices and sharding").
        """
        _check_switches(unknown, progress=progress, marginalize=marginalize, centered=centered, refit=refit)
        if target_accept is None:
            target_accept = self.family.default_target_accept
        from .sampler.settings import SamplerSettings

        settings = SamplerSettings(chains, draws, warmup, seed, target_accept, max_tree_depth, progress, shards)
        refuse_flat_priors(self.separation, self.prior_entries)
        start = time.perf_counter()
        with showing(progress):
            run = self._sample(settings, marginalize, centered)
            if refit and chains > 1:
                run = self._refit_poor_blocks(run, settings, marginalize, centered)
                run = self._run_longer(run)
        fit = run.fit.timed(time.perf_counter() - start)
        # the call's own settings (the safeguard may have kept a fit with other ones): the report's call
        fit.idata.posterior.attrs.update(call_draws=int(draws), call_target_accept=float(target_accept))
        warn_convergence(fit)  # one BayesMMWarning with the status line, when a check failed
        return fit

    def _fit_record(self, idata, settings, plan, seconds: float) -> "Fit":
        return self._record(idata, self.design, self.family, self.prior_entries, settings, self.call, plan=plan,
                            separation=self.separation, data=self.data, data_name=self.data_name, seconds=seconds)

    def _sample(self, settings, marginalize, centered, label: str = "sampling") -> "_Run":
        """One NUTS run: the Fit, with what the safeguard needs (the chains' state, the sampled blocks and their
        mean centring weights). ``label`` names the run on the progress line."""
        from .version import __version__
        from .sampler.run import sample_posterior
        from .model import build_model
        from .plan import make_plan
        from .posterior import build_idata

        start = time.perf_counter()
        plan = make_plan(self.design, self.family, marginalize, centered)
        structure, data = build_model(plan, self.design, self.family, self.prior_entries)
        samples = sample_posterior(structure, data, settings, label)
        _summarising()
        attrs = {"formula": self.spec.text, "family": self.family.name, "link": self.family.link,
                 "bayesmm_version": __version__, "seed": int(settings.seed), "n_dropped_rows": self.design.n_dropped,
                 "marginalized": int(any(kind != "sampled" for kind in plan.kinds)),
                 "sampler": samples.path, "refit": "", "plan": plan.line(),
                 "centered_levels": sum(block.centred for block in plan.blocks),
                 "exact_groups": json.dumps(_exact_groups(self.design, plan))}
        idata = build_idata(samples, self.design, self.family, attrs)
        fit = self._fit_record(idata, settings, plan, time.perf_counter() - start)
        sampled = [k for k, kind in enumerate(plan.kinds) if kind == "sampled"]
        return _Run(fit, (structure, data, samples, attrs), sampled,
                    [float(np.mean(plan.blocks[k].weights)) for k in sampled])

    def _refit_poor_blocks(self, run: "_Run", settings, marginalize, centered) -> "_Run":
        """The safeguard (:mod:`bayesmm.safeguard`): one refit with each poorly mixed block in the other
        parameterisation (when the centring is the data's choice) and, after divergent transitions, a higher
        target acceptance rate (and a second refit at 0.99 if divergences remain); the best fit is kept and
        says what was done."""
        from .safeguard import block_mixing, describe, fit_quality, flip, raised_target

        fit, sampled = run.fit, run.sampled
        poor = [m for m in block_mixing(fit, sampled, run.weights) if m.poor] if centered is None else []
        divergent = fit.n_divergent
        target = raised_target(float(settings.target_accept)) if divergent else None
        if not poor and target is None:
            return run
        first_centered = centered
        if poor:
            centered = tuple(next((flip(m) for m in poor if m.block == k), None)
                             for k in range(len(self.design.blocks)))
        second_settings = dataclasses.replace(settings, target_accept=target) if target is not None else settings
        second = self._sample(second_settings, marginalize, centered, "refitting")
        after = block_mixing(second.fit, sampled, second.weights)
        kept_refit = fit_quality(second.fit) > fit_quality(fit)
        kept = second if kept_refit else run
        steps = (None if target is None
                 else [(float(settings.target_accept), divergent), (target, second.fit.n_divergent)])
        # divergences left after the smaller steps: smaller still, once (0.95 -> 0.99), in the kept fit's
        # parameterisation
        higher = raised_target(target) if target is not None and kept.fit.n_divergent else None
        if higher is not None:
            third = self._sample(dataclasses.replace(second_settings, target_accept=higher), marginalize,
                                 centered if kept is second else first_centered, "refitting")
            steps.append((higher, third.fit.n_divergent))
            if fit_quality(third.fit) > fit_quality(kept.fit):
                kept, kept_refit = third, 2
        kept.fit.idata.posterior.attrs["refit"] = describe(poor, after, kept_refit, steps)
        return kept

    def _run_longer(self, run: "_Run") -> "_Run":
        """The safeguard's last step (:func:`bayesmm.safeguard.runs_longer`): chains that fail a check without a
        divergence or an Rhat of 1.05 run longer from where they stopped, half as many draws again at a time
        (:func:`bayesmm.safeguard.longer_steps`) while a check still fails, up to as many draws again; the longer
        fit is kept (the same chains, more draws) and its summary says so."""
        from .sampler.run import continue_posterior
        from .posterior import build_idata
        from .safeguard import describe_longer, longer_steps, runs_longer

        first = longer = run.fit
        structure, data, samples, attrs = run.chains
        if samples.end is None or not runs_longer(first):
            return run
        attrs = dict(attrs, refit=first.idata.posterior.attrs.get("refit", ""))
        draws, added = int(first.settings.draws), 0
        for step in longer_steps(draws):
            if added and not runs_longer(longer):
                break
            samples = continue_posterior(structure, data, first.settings, samples, step)
            added += step
            _summarising()
            longer = self._fit_record(build_idata(samples, self.design, self.family, attrs),
                                      dataclasses.replace(first.settings, draws=draws + added), first.plan,
                                      first.seconds)
        note = describe_longer(first, longer, added)
        before = attrs["refit"].rstrip(".")
        longer.idata.posterior.attrs["refit"] = (f"{before}; then {note}." if before else f"{note}.")
        return dataclasses.replace(run, fit=longer, chains=(structure, data, samples, attrs))


def _exact_groups(design, plan) -> list[str]:
    """The groups whose level effects the fit draws exactly from their conditional: every block of the group
    integrated out (their Rhats are judged against chance, :func:`bayesmm.answers.convergence.chance_rhat`)."""
    cond = [(block.group, kind) for block, kind in zip(design.blocks, plan.kinds) if block.part == "cond"]
    return sorted({group for group, _ in cond} - {group for group, kind in cond if kind == "sampled"})


def _summarising() -> None:
    """The progress line's last stage of a run: the draws become the fit record and are checked."""
    line = current_line()
    if line is not None:
        line.stage("summarising")


@dataclasses.dataclass(frozen=True)
class _Run:
    """One sampler run: its Fit and what the safeguard needs (structure, arrays, samples and attributes of the
    chains, to run them longer; the sampled blocks and their mean centring weights)."""

    fit: "Fit"
    chains: tuple
    sampled: list
    weights: list


#: the sampler settings of ``fit`` and ``update``
SETTINGS = ("chains", "draws", "warmup", "seed", "target_accept", "max_tree_depth", "progress", "marginalize",
            "centered", "refit", "shards")
#: brms / rstanarm / PyMC names users reach for, and what bayesmm calls them
ALIASES = {"iter": "draws (brms's iter counts warmup + draws: draws = iter - warmup)",
            "cores": "chains (chains already run in parallel over the CPU cores)", "tune": "warmup",
            "samples": "draws", "adapt_delta": "target_accept", "random_seed": "seed",
            "max_treedepth": "max_tree_depth", "num_samples": "draws", "num_warmup": "warmup",
            "num_chains": "chains", "centred": "centered (numpyro's spelling)"}


def _check_switches(unknown: dict, **switches) -> None:
    """Refuse unknown sampler keywords (naming the nearest valid one) and switches that are not True,
    False or None: a misspelt setting must never be ignored silently."""
    for name in unknown:
        # method= is taken by Model.fit before the settings reach here; a misspelling of it is one of them
        hint = f" Use {ALIASES[name]}." if name in ALIASES else closest(name, SETTINGS + ("method",))
        raise SamplerError(f"Unknown sampler setting {name!r}.{hint} Settings: {', '.join(SETTINGS)}, method.")
    for name, value in switches.items():
        if value is not None and not isinstance(value, (bool, np.bool_)):
            raise SamplerError(f"{name} must be True, False or None (automatic), not {value!r}.")


#: the model's arguments ``update`` takes besides ``data`` (the fields of :class:`~bayesmm.pipeline.Call`)
MODEL_ARGUMENTS = tuple(field.name for field in dataclasses.fields(Call))
#: what a change of these makes a new model, whose priors are resolved again
_NEW_MODEL = ("formula", "family", "link", "priors", "zi", "hu", "dispersion", "levels", "autocor")


def update(fit: "Fit", **changes) -> "Fit":
    """Refit ``fit`` with some of its arguments changed, the rest kept (brms's ``update``): new ``data``, a new
    ``formula`` (in full, or R's shorthand ``". ~ . + x"`` / ``". ~ . - x"``), ``priors``, ``family``, ``link``,
    ``weights``, ``zi``, ``hu``, ``dispersion``, ``autocor``, ``na_action``, and any of ``Model.fit``'s sampler settings.

    With new data only (or new ``weights``/``na_action``) the priors in effect are kept, as brms's ``update`` keeps
    its data-dependent default priors, so a model with the same parameters and data of the same shapes runs the
    program compiled for ``fit`` without compiling anything; pass ``priors=`` (e.g. ``fit.call.priors``) to have
    them resolved on the new data. A changed formula, family or priors resolves them again. ``method``: the fit's
    own (``"nuts"`` or ``"laplace"``) unless given."""
    method = check_method(changes.pop("method", fit.method))
    unknown = [name for name in changes if name not in ("data",) + MODEL_ARGUMENTS + SETTINGS]
    if unknown:
        name, allowed = unknown[0], ("data",) + MODEL_ARGUMENTS + SETTINGS
        hint = {"newdata": " Use data.", "prior": " Use priors."}.get(name) or (
            f" Use {ALIASES[name]}." if name in ALIASES else closest(name, allowed))
        raise BayesMMError(f"update(): unknown argument {name!r}.{hint} It takes data, the model's arguments "
                           f"({', '.join(MODEL_ARGUMENTS)}) and the sampler's ({', '.join(SETTINGS)}).")
    data = changes.pop("data", None)
    if data is None and fit.data is None:
        raise SamplerError("update(): this fit does not keep its training data (it was saved with data=False); "
                           "pass the data: fit.update(data=frame).")
    data = fit.data if data is None else as_dataframe(data, "update(): data")
    call = updated_call(fit.call, {k: v for k, v in changes.items() if k in MODEL_ARGUMENTS})
    # priors= named (even as they were) resolves them again on the data
    same_model = "priors" not in changes and not any(_differs(getattr(call, name), getattr(fit.call, name))
                                                     for name in _NEW_MODEL)
    model = CheckedModel(call, data, type(fit), keep_priors=fit.prior_entries if same_model else None)
    if method == "laplace":
        kept = {name: getattr(fit.settings, name) for name in ("chains", "draws", "seed")}
        return fit_laplace(model, type(fit), **dict(kept, **{k: v for k, v in changes.items() if k in SETTINGS}))
    return model.fit(**_settings(fit, model, {k: v for k, v in changes.items() if k in SETTINGS}))


def _differs(new, old) -> bool:
    if new is old:
        return False
    try:
        return bool(new != old)
    except (TypeError, ValueError):  # a table of priors compares element by element: call it changed
        return True


def _settings(fit: "Fit", model: CheckedModel, changes: dict) -> dict:
    """The fit's own sampler settings (the call's draws and target_accept: the safeguard may have changed them)
    with ``changes``; a new family's default target_accept in place of the old family's default."""
    settings = {name: getattr(fit.settings, name) for name in ("chains", "draws", "warmup", "seed", "target_accept",
                                                               "max_tree_depth")}
    attrs = fit.idata.posterior.attrs
    settings["draws"] = int(attrs.get("call_draws", settings["draws"]))
    settings["target_accept"] = float(attrs.get("call_target_accept", settings["target_accept"]))
    if settings["target_accept"] == fit.family.default_target_accept:
        settings["target_accept"] = model.family.default_target_accept
    return dict(settings, **changes)
