"""The fitted model: :class:`Fit`, with the tables users ask for first.

``tidy()`` follows broom.mixed's layout; ``fixef``/``ranef``/``coef``/``varcorr`` follow lme4's and
brms's functions of the same names, with posterior means and credible intervals.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import pandas as pd

from . import naming
from .design import Design
from .families import Family
from .pipeline import Call
from .plan import ModelPlan
from .posterior import level_table, parameter_names, parameter_table
from .priors import PriorEntry, priors_frame
from .sampler.settings import SamplerSettings
from .separation import Separation

__all__ = ["Fit", "load"]


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted model: the draws and everything the answers need, standing on its own (a saved fit is this
    record: :func:`load` reads it back without rebuilding a model).

    ``idata`` (ArviZ InferenceData), ``design`` (arrays, names and the encoders new data go through), ``family``,
    ``prior_entries`` (the priors in effect; ``priors`` as a table), ``settings`` (the sampler's), ``call`` (the
    formula and the other arguments), ``plan`` (how each random-effect block was sampled; None for a loaded
    fit), ``separation`` (found before sampling), ``data`` (the training data; None when not kept),
    ``data_name`` and ``seconds``.
    """

    idata: object
    design: Design
    family: Family
    prior_entries: tuple[PriorEntry, ...]
    settings: SamplerSettings
    call: Call
    plan: ModelPlan | None = field(default=None, repr=False)
    separation: Separation | None = field(default=None, repr=False)
    data: pd.DataFrame | None = field(default=None, repr=False)
    data_name: str = "data"
    seconds: float = float("nan")
    _memo: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def formula(self) -> str:
        return self.design.spec.text

    @property
    def method(self) -> str:
        """``"nuts"`` (draws from the posterior) or ``"laplace"`` (approximate: draws from a Gaussian around the
        posterior mode, the random effects integrated by the Laplace approximation; Rhat and ESS do not apply)."""
        return str(self.idata.posterior.attrs.get("method", "nuts"))

    @property
    def priors(self) -> pd.DataFrame:
        """Every prior in effect, with the rule that produced it."""
        return priors_frame(list(self.prior_entries))

    def timed(self, seconds: float) -> "Fit":
        """This fit with ``seconds`` as its wall time, keeping the tables already derived from its draws (the
        level effects' Rhats of 50,000 levels take seconds)."""
        out = replace(self, seconds=seconds)
        out._memo.update(self._memo)
        return out

    def memo(self, key, compute):
        """``compute()`` once per fit and ``key`` (tables derived from the draws are kept, not recomputed)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # ------------------------------------------------------------------------------------- tables
    def tidy(self, prob: float = 0.95, interval: str = "eti") -> pd.DataFrame:
        """One row per parameter in broom.mixed's layout: effect, component, group, term, estimate
        (posterior mean), std_error (posterior SD), conf_low/conf_high (equal-tailed, or ``"hdi"``),
        rhat, ess_bulk, ess_tail (NaN for an approximate fit, ``fit.method == "laplace"``: its draws are
        independent draws from a Gaussian, so there is no mixing to measure)."""
        from .answers.arguments import check_interval, check_prob

        prob, interval = check_prob(prob), check_interval(interval)

        def table():
            frame = parameter_table(self.idata, self.design, self.family).frame(prob, interval)
            if self.method != "nuts":
                frame[["rhat", "ess_bulk", "ess_tail"]] = float("nan")
            return frame
        return self.memo(("tidy", prob, interval), table).copy()

    def fixef(self, prob: float = 0.95) -> pd.DataFrame:
        """Fixed effects: Estimate, Est.Error and the credible interval (brms's ``fixef``)."""
        table = self.tidy(prob).query("effect == 'fixed'").set_index("term")
        return _brms_columns(table, prob)

    def ranef(self, prob: float = 0.95) -> pd.DataFrame:
        """Random effects (conditional modes as posterior means): one row per component (``cond``, or a family
        parameter's formula's: ``zi``, ``hu``, ``disp``), group, level and term."""
        return self._per_level(prob, with_fixed=False)

    def coef(self, prob: float = 0.95) -> pd.DataFrame:
        """Fixed plus random effects per level (lme4's and brms's ``coef``)."""
        return self._per_level(prob, with_fixed=True)

    def _per_level(self, prob: float, with_fixed: bool) -> pd.DataFrame:
        from .answers.arguments import check_prob

        return level_table(self.idata, self.design, check_prob(prob), with_fixed)

    def varcorr(self, prob: float = 0.95) -> pd.DataFrame:
        """Random-effect SDs and correlations in lme4's ``as.data.frame(VarCorr(fit))`` layout: grp, var1,
        var2, then the posterior mean (``sdcor``), SD and interval; the residual SD last for gaussian. ``component``
        says whose they are: ``cond`` (the mean's), or a family parameter's formula's (``zi``, ``hu``, ``disp``)."""
        table = self.tidy(prob)
        rows = []
        for name, (_, row) in zip(parameter_names(self.idata, self.design, self.family), table.iterrows()):
            if row["effect"] != "ran_pars":
                continue
            grp, var1, var2 = naming.varcorr_row(name)
            rows.append({"component": name.part, "grp": grp, "var1": var1, "var2": var2, "sdcor": row["estimate"],
                         "std_error": row["std_error"], "conf_low": row["conf_low"], "conf_high": row["conf_high"]})
        return pd.DataFrame(rows, columns=["component", "grp", "var1", "var2", "sdcor", "std_error", "conf_low",
                                           "conf_high"])

    # --------------------------------------------------------------------------------- diagnostics
    def diagnose(self) -> pd.DataFrame:
        """Findings (kind, parameter, message, advice): convergence (Rhat, ESS, divergences, tree depth,
        E-BFMI), each poorly mixing parameter with its likely causes, singular random-effect SDs,
        correlations and covariances, separation, too few levels, prior-data conflict. The advice is code
        to paste. See :mod:`bayesmm.answers.diagnostics`."""
        from .answers.diagnostics import diagnose

        return self.memo("diagnose", lambda: diagnose(self)).copy()

    def status(self) -> str:
        """The one-line verdict that ``print(fit)``, the report and the command line start with when a check
        failed (Rhat, ESS, divergences, tree depth, a refit); '' when all passed
        (:func:`bayesmm.answers.convergence.status_line`)."""
        from .answers.convergence import status_line

        return status_line(self)

    # ------------------------------------------------------------- evidence, comparison, save/load
    def intervals(self, parameters=None, prob: float = 0.95, interval: str = "eti") -> pd.DataFrame:
        """Mean, median, SD and credible interval (``"eti"`` or ``"hdi"``) of any parameters by name
        (``"Days"``, ``"sd_Subject__Days"``, ``"r_Subject[308,Intercept]"``, or a whole variable such as
        ``"r_Subject"``); default: all but the random effects. See :mod:`bayesmm.answers.evidence`."""
        from .answers.evidence import intervals

        return intervals(self, parameters, prob, interval)

    def pvalues(self, parameters=None, rope=None) -> pd.DataFrame:
        """p-value analogues per fixed effect (or the named parameters): ``pd``, ``p_direction = 2 (1 - pd)``,
        the share ``in_rope`` of the posterior inside the ROPE, ``p_map`` and the Savage-Dickey ``bf10``.
        See :func:`bayesmm.answers.evidence.pvalues` for what each is and is not."""
        from .answers.evidence import pvalues

        return pvalues(self, parameters, rope)

    def hypothesis(self, hypotheses, prob: float = 0.95) -> pd.DataFrame:
        """brms's hypothesis table for ``"Days > 5"``, ``"period[2] - period[3] = 0"`` or a list of them:
        Estimate, Est.Error, CI.Lower, CI.Upper, Evid.Ratio, Post.Prob, Star (:mod:`bayesmm.answers.hypothesis`)."""
        from .answers.hypothesis import hypothesis

        return hypothesis(self, hypotheses, prob)

    def loo(self):
        """PSIS-LOO through ArviZ (``elpd_loo``, ``p_loo``, Pareto k per observation)."""
        from .answers.compare import loo

        return loo(self)

    def waic(self):
        """WAIC through ArviZ (``elpd_waic``, ``p_waic``)."""
        from .answers.compare import waic

        return waic(self)

    def save(self, path, data: bool = True) -> str:
        """Write the fit (draws, formula, family, priors, settings and the training data) to a netCDF file; read
        it back with ``bmm.load(path)``. ``data=False`` leaves the training data out: the loaded fit summarises,
        tests, compares (LOO) and predicts for new data, but cannot answer about the training rows (fitted
        values, posterior predictive checks, refits)."""
        from .io import save

        return save(self, path, data)

    def update(self, **changes) -> "Fit":
        """Refit with some arguments changed and the rest kept (brms's ``update``): ``data``, ``formula`` (in full or
        ``". ~ . + x"``), ``priors``, ``family``, ``link``, ``weights``, ``zi``, ``hu``, ``dispersion``, ``na_action``
        and the sampler's settings: ``fit.update(data=new)``, ``fit.update(formula=". ~ . - x", seed=2)``. New data
        alone keeps the priors in effect and reuses the compiled program; see :func:`bayesmm.fitting.update`."""
        from .fitting import update

        return update(self, **changes)

    # -------------------------------------------------------------- predictions, checks, plots
    def predict(self, newdata=None, kind: str = "mean", re="all", new_levels: str = "sample",
                prob: float = 0.95, draws: int | None = None, seed: int = 0, summary: bool = True,
                trials=None) -> pd.DataFrame:
        """Predictions for the training rows or ``newdata``: ``kind="mean"`` the expected response (brms's
        ``fitted``/``posterior_epred``), ``"response"`` posterior predictive draws (brms's ``predict``),
        ``"link"`` the linear predictor, ``"probs"`` each category's probability (ordinal and categorical families:
        a column per category; :mod:`bayesmm.answers.probabilities`). ``re="none"``: without random effects (brms's
        ``re_formula = NA``);
        ``re=["Subject"]``: only the named groups' effects (brms's ``re_formula = ~ (1 | Subject)``).
        ``new_levels``: ``"sample"`` (from the fitted random-effect distribution, seeded by ``seed``),
        ``"population"`` (effects 0) or ``"error"``. ``draws``: use that many posterior draws (default all).
        ``trials``: binomial trials for new rows (default: from the response columns). Returns Estimate,
        Est.Error and the equal-tailed ``prob`` interval per row, or the draws with ``summary=False``.
        See :mod:`bayesmm.answers.predict`.

        >>> fit.predict(pd.DataFrame({"Days": [0, 9], "Subject": ["308", "new"]}))  # doctest: +SKIP
        """
        from .answers.predict import predict_table

        return predict_table(self, newdata, kind, re, new_levels, prob, draws, seed, summary, trials)

    def posterior_predictive(self, seed: int = 0):
        """Fill ``idata.posterior_predictive`` with one replicated response per draw for every training row
        (variable ``y``, dims chain, draw, obs_id) and return the InferenceData."""
        from .answers.predict import posterior_predictive

        dataset = posterior_predictive(self, seed)
        if "posterior_predictive" in self.idata.groups():
            del self.idata.posterior_predictive
        self.idata.add_groups(posterior_predictive=dataset)
        return self.idata

    def check_overdispersion(self, draws: int | None = None, seed: int = 0) -> pd.DataFrame:
        """Poisson/binomial overdispersion: the GLMM FAQ's Pearson ratio with its chi-square p-value and the
        posterior predictive version (see :mod:`bayesmm.answers.checks`)."""
        from .answers.checks import check_overdispersion

        return check_overdispersion(self, draws, seed)

    def check_prior_conflict(self) -> pd.DataFrame:
        """Family parameters and SDs whose posterior median sits in their prior's tail: the prior holds the
        estimate back (see :func:`bayesmm.answers.checks.check_prior_conflict`)."""
        from .answers.checks import check_prior_conflict

        return check_prior_conflict(self)

    def check_zero_inflation(self, prob: float = 0.95, draws: int | None = None, seed: int = 0) -> pd.DataFrame:
        """Observed zeros against their posterior predictive distribution (the FAQ's simulation recipe)."""
        from .answers.checks import check_zero_inflation

        return check_zero_inflation(self, prob, draws, seed)

    def plot_trace(self, var_names=None):
        """Trace and rank plots, one row per parameter (default: the summary's), or of ``var_names`` (names as
        ``intervals()`` takes them, or posterior variables); returns the figure."""
        from .answers.plots import plot_trace

        return plot_trace(self, var_names)

    def plot_intervals(self, parameters=None, prob: float = 0.95):
        """Medians with 50% and ``prob`` intervals of the parameters (default: the summary's), one panel per
        scale; returns the figure."""
        from .answers.plots import plot_intervals

        return plot_intervals(self, parameters, prob)

    def plot_posterior(self, var_names=None, prob: float = 0.95):
        """Posterior densities with HDIs (ArviZ), one panel per parameter, default the fixed effects; returns the
        figure."""
        from .answers.plots import plot_posterior

        return plot_posterior(self, var_names, prob)

    def plot_ppc(self, draws: int = 100, prob: float = 0.9, seed: int = 0):
        """Posterior predictive check: densities (continuous) or bars of counts and zeros (discrete)."""
        from .answers.plots import plot_ppc

        return plot_ppc(self, draws, prob, seed)

    def plot_ranef(self, group: str | None = None, prob: float = 0.95):
        """Caterpillar plot of the random effects, per group and term; returns the figure."""
        from .answers.plots import plot_ranef

        return plot_ranef(self, group, prob)

    def plot_effects(self, effect: str, **options):
        """Conditional effect of one predictor with its band (brms's ``conditional_effects``), by a factor or at
        chosen values of a second predictor; options in :func:`bayesmm.answers.plots.plot_effects`."""
        from .answers.plots import plot_effects

        return plot_effects(self, effect, **options)

    # ---------------------------------------------------------------------- reported quantities
    def means(self, specs, **options) -> pd.DataFrame:
        """Estimated marginal means of ``specs`` (emmeans): ``fit.means("period")``, ``by=``, ``at=``,
        ``scale=``, ``re=``, ``weights=``; see :func:`bayesmm.answers.means.marginal_means`."""
        from .answers.means import marginal_means

        return marginal_means(self, specs, **options)

    def comparisons(self, specs, **options) -> pd.DataFrame:
        """Pairwise differences (or ratios, odds ratios) or custom contrasts of marginal means, with pd and the
        ROPE share; see :func:`bayesmm.answers.means.comparisons`."""
        from .answers.means import comparisons

        return comparisons(self, specs, **options)

    def slopes(self, variable: str, **options) -> pd.DataFrame:
        """The derivative of the expected response in ``variable`` (marginal effects), averaged over the data
        or at given values; see :func:`bayesmm.answers.means.slopes`."""
        from .answers.means import slopes

        return slopes(self, variable, **options)

    def r2(self, **options) -> pd.DataFrame:
        """Marginal and conditional R² (Nakagawa & Schielzeth, as performance::r2_nakagawa) and the Bayesian
        R² (Gelman et al. 2019, brms's bayes_R2), each with an interval; see :func:`bayesmm.answers.r2.r2`."""
        from .answers.r2 import r2

        return r2(self, **options)

    # ------------------------------------------------------------------------------------ report
    def report(self, path, embed: bool | None = None) -> str:
        """Write a report (``.html`` or ``.md``) opening with the convergence status: model, priors, summary,
        p-value analogues, random-effect variances, diagnostics with advice, interval, trace and rank,
        caterpillar and posterior predictive plots, versions and seed. Plots are embedded in HTML and written
        beside a Markdown file (``report_files/``) unless ``embed`` says otherwise. Returns the path. See
        :mod:`bayesmm.answers.report`."""
        from .answers.report import report

        return report(self, path, embed)

    # ----------------------------------------------------------------------------------- display
    @property
    def n_divergent(self) -> int:
        return int(self.idata.sample_stats["diverging"].values.sum())

    def __str__(self) -> str:
        from .answers.summary import summary_text

        return summary_text(self)

    def __repr__(self) -> str:
        return self.__str__()


def _brms_columns(table: pd.DataFrame, prob: float) -> pd.DataFrame:
    low, high = f"Q{100 * (1 - prob) / 2:g}", f"Q{100 * (1 + prob) / 2:g}"
    out = table[["estimate", "std_error", "conf_low", "conf_high"]].copy()
    out.columns = ["Estimate", "Est.Error", low, high]
    out.index.name = None
    return out


def load(path) -> Fit:
    """Read a fit written by :meth:`Fit.save`: its draws and records as they were saved (the model is not
    rebuilt). A missing, truncated or foreign file is a :class:`~bayesmm.errors.BayesMMError`."""
    from .io import read

    return Fit(**read(path))
