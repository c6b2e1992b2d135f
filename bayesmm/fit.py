"""The fitted model: :class:`Fit`, with the tables users ask for first.

``tidy()`` follows broom.mixed's layout; ``fixef``/``ranef``/``coef``/``varcorr`` follow lme4's and
brms's functions of the same names, with posterior means and credible intervals.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .design import Design
from .families import Family
from .posterior import group_terms, parameter_table

__all__ = ["Fit"]


@dataclass
class Fit:
    """A fitted model: the InferenceData plus what produced it.

    Attributes: ``idata`` (ArviZ InferenceData), ``design``, ``family``, ``priors`` (DataFrame of the
    priors in effect), ``settings`` (sampler settings), ``formula`` and ``model`` (the
    :class:`~bayesmm.api.Model` that was fitted, which keeps the training data for predictions).
    """

    idata: object
    design: Design
    family: Family
    priors: pd.DataFrame
    settings: object
    data_name: str = "data"
    seconds: float = float("nan")
    model: object = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def formula(self) -> str:
        return self.design.spec.text

    # ------------------------------------------------------------------------------------- tables
    def tidy(self, prob: float = 0.95, interval: str = "eti") -> pd.DataFrame:
        """One row per parameter in broom.mixed's layout: effect, component, group, term, estimate
        (posterior mean), std_error (posterior SD), conf_low/conf_high (equal-tailed, or ``"hdi"``),
        rhat, ess_bulk, ess_tail."""
        from .errors import BayesMMError

        if not 0 < prob < 1:
            raise BayesMMError(f"prob must lie strictly between 0 and 1, not {prob}.")
        if interval not in ("eti", "hdi"):
            raise BayesMMError(f"interval must be 'eti' or 'hdi', not {interval!r}.")
        key = ("tidy", prob, interval)
        if key not in self._cache:
            self._cache[key] = parameter_table(self.idata, self.design, self.family).frame(prob, interval)
        return self._cache[key].copy()

    def fixef(self, prob: float = 0.95) -> pd.DataFrame:
        """Fixed effects: Estimate, Est.Error and the credible interval (brms's ``fixef``)."""
        table = self.tidy(prob).query("effect == 'fixed'").set_index("term")
        return _brms_columns(table, prob)

    def ranef(self, prob: float = 0.95) -> pd.DataFrame:
        """Random effects (conditional modes as posterior means): one row per group, level and term."""
        return self._per_level(prob, with_fixed=False)

    def coef(self, prob: float = 0.95) -> pd.DataFrame:
        """Fixed plus random effects per level (lme4's and brms's ``coef``)."""
        return self._per_level(prob, with_fixed=True)

    def _per_level(self, prob: float, with_fixed: bool) -> pd.DataFrame:
        post = self.idata.posterior
        tail = (1 - prob) / 2
        frames = []
        for group, (terms, _) in group_terms(self.design).items():
            values = post[f"r_{group}"].values.copy()
            if with_fixed:
                fixed = post["b"].values
                names = list(post["coef"].values)
                for j, term in enumerate(terms):
                    if term in names:
                        values[..., j] += fixed[..., names.index(term)][..., None]
            flat = values.reshape((-1,) + values.shape[2:])
            levels = post[f"{group}__level"].values
            for j, term in enumerate(terms):
                column = flat[..., j]
                frames.append(pd.DataFrame({
                    "group": group, "level": levels, "term": term, "estimate": column.mean(axis=0),
                    "std_error": column.std(axis=0, ddof=1), "conf_low": np.quantile(column, tail, axis=0),
                    "conf_high": np.quantile(column, 1 - tail, axis=0)}))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["group", "level", "term", "estimate", "std_error", "conf_low", "conf_high"])

    def varcorr(self, prob: float = 0.95) -> pd.DataFrame:
        """Random-effect SDs and correlations in lme4's ``as.data.frame(VarCorr(fit))`` layout: grp, var1,
        var2, then the posterior mean (``sdcor``), SD and interval; the residual SD last for gaussian."""
        table = self.tidy(prob).query("effect == 'ran_pars'")
        rows = []
        for _, row in table.iterrows():
            kind, _, names = row["term"].partition("__")
            var1, _, var2 = names.partition(".") if kind == "cor" else (names, "", "")
            rows.append({"grp": row["group"], "var1": None if row["group"] == "Residual" else var1,
                         "var2": var2 or None, "sdcor": row["estimate"], "std_error": row["std_error"],
                         "conf_low": row["conf_low"], "conf_high": row["conf_high"]})
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "sdcor", "std_error", "conf_low", "conf_high"])

    # ------------------------------------------------------------------ diagnostics (priors issue)
    def diagnose(self) -> pd.DataFrame:
        """Findings (kind, parameter, message, advice): convergence (Rhat, ESS, divergences, tree depth,
        E-BFMI), singular random-effect SDs, correlations and covariances, separation, too few levels.
        See :mod:`bayesmm.diagnostics`."""
        from .diagnostics import diagnose

        if "diagnose" not in self._cache:
            self._cache["diagnose"] = diagnose(self)
        return self._cache["diagnose"].copy()

    # ------------------------------------------------------------- evidence, comparison, save/load

    # -------------------------------------------------------------- predictions, checks, plots

    # ----------------------------------------------------------------------------------- display
    @property
    def n_divergent(self) -> int:
        return int(self.idata.sample_stats["diverging"].values.sum())

    def __str__(self) -> str:
        from .summary import summary_text

        return summary_text(self)

    def __repr__(self) -> str:
        return self.__str__()


def _brms_columns(table: pd.DataFrame, prob: float) -> pd.DataFrame:
    low, high = f"Q{100 * (1 - prob) / 2:g}", f"Q{100 * (1 + prob) / 2:g}"
    out = table[["estimate", "std_error", "conf_low", "conf_high"]].copy()
    out.columns = ["Estimate", "Est.Error", low, high]
    out.index.name = None
    return out
