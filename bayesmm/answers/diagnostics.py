"""``fit.diagnose()``: what can be wrong with a fit, each finding with a message and advice: code to paste.

Convergence (Vehtari et al. 2021, Stan's and brms's thresholds; :mod:`bayesmm.answers.convergence`): one finding per
parameter with Rhat >= 1.01 or bulk/tail ESS < 400 (kind ``rhat``, ``ess_bulk`` or ``ess_tail``: its worst
failure), one per group whose level effects have Rhat >= 1.01, each naming its likely causes
(:func:`bayesmm.answers.remedies.causes_of`: too few levels of its group, an SD piled at zero, a ridge with another
parameter, a run too short to adapt) and the code for each; ``divergences`` after warmup; ``treedepth``
(transitions that hit the maximum tree depth); ``ebfmi`` < 0.3 in a chain (Betancourt 2016).

Where maximum likelihood breaks down (GLMM FAQ, "Singular models" and "Penalization/handling complete
separation"):

* ``singular_sd``: a random-effect SD whose posterior is piled against zero relative to its prior: its
  posterior mode is at (or next to) zero and its posterior density at zero is at least the prior's (the
  Savage-Dickey ratio p(0 | y) / p(0) >= 1: the data do not move it away from zero; with a prior that
  vanishes at zero, a mode next to zero alone). lme4 reports such a fit as ``isSingular``.
* ``singular_cor``: a correlation whose posterior is piled at +/-1 (more than half its mass beyond 0.9).
* ``singular_cov``: the covariance matrix of a correlated block, with each term in units of one SD of its
  column, has a near-zero smallest eigenvalue (posterior median of smallest / largest < 0.01): the block
  has fewer dimensions than terms (lme4's ``rePCA``).
* ``separation``: a coefficient whose maximum-likelihood estimate is infinite (:mod:`bayesmm.separation`).
* ``few_levels``: a grouping factor with fewer than 5 levels carrying a variance.

The random effects of a family parameter's formula (``zi="~ (1 | site)"``) are checked part by part as the mean's:
their findings name them as brms does (``sd_site__zi_Intercept``) and the advice drops the term from that formula
or sets a boundary-avoiding prior on its class (``sd_zi``).

Priors: ``prior_conflict``: a family parameter or SD whose posterior median lies in its prior's tail
(:func:`bayesmm.answers.checks.check_prior_conflict`); the advice is the same call with the prior widened (or moved
towards zero) by a round factor, far enough that the posterior's 97.5% quantile lies well inside it.

Model checking: ``pareto_k``: observations whose PSIS-LOO Pareto k exceeds 0.7 (Vehtari et al. 2017, 2024): their
leave-one-out estimates, so ``fit.loo()`` and ``bmm.compare``, are unreliable; computed when the pointwise log-likelihood
has at most ``LOO_MAX_VALUES`` values (draws x rows), else ``fit.loo()`` gives it. ``autocor_edge``, ``structure_edge``,
``lscale_edge``: residual autocorrelation, a structure's rho or length scale at its edge (:mod:`.structure_checks`).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from .. import naming
from ..posterior import group_terms, random_parts
from ..families import part_component
from ..priors import random_class
from .autocor import autocor_findings
from .structure_checks import structure_findings
from .convergence import ESS_LIMIT as ESS_MIN
from .convergence import RHAT_LIMIT as RHAT_MAX
from .convergence import mixing_table, tree_depth_hits
from .density import density_at_zero_and_mode

__all__ = ["diagnose", "Diagnosis", "FINDING_COLUMNS", "density_at_zero_and_mode"]

FINDING_COLUMNS = ["kind", "parameter", "message", "advice"]
EBFMI_MIN, MIN_LEVELS = 0.3, 5
LOO_MAX_VALUES = 20_000_000


def _simplify(fit, group: str) -> str:
    """The GLMM FAQ's advice for a singular fit, written for ``group``'s terms: the code for a model without
    the correlations and for the boundary-avoiding prior, then the advice in words."""
    import dataclasses

    from .remedies import formula_code

    spec = fit.design.spec
    # the group's correlated terms as the formula writes them, correlations dropped (names quoted as needed)
    correlated = [r for r in spec.random if r.group == group and r.correlated and r.terms]
    independent = " + ".join(str(dataclasses.replace(r, correlated=False)).replace("(1 + ", "(", 1) if r.intercept
                             else str(dataclasses.replace(r, correlated=False)) for r in correlated) or None
    lines = []
    if correlated:
        random = tuple(dataclasses.replace(r, correlated=False) if r.group == group else r for r in spec.random)
        lines.append(f"{formula_code(fit, formula=str(dataclasses.replace(spec, random=random)))}  # no correlations")
    lines.append(f"{formula_code(fit, priors='boundary')}  # keeps the posterior mode off the boundary")
    return "\n".join(lines) + ("\n# Simplify the random effects of '" + group + "' (drop a term that carries no variance"
                               + (f", or write {independent} to drop the correlations" if independent else "")
                               + "), use priors='boundary' to keep the posterior mode off the boundary, or collect "
                               "more levels of '" + group + "'.")


class Diagnosis(pd.DataFrame):
    """The findings of :func:`diagnose`, one row each (kind, parameter, message, advice); prints readably."""

    @property
    def _constructor(self):
        return Diagnosis

    def lines(self) -> list[str]:
        return [f"[{r.kind}] " + (f"{r.parameter}: " if r.parameter else "") + r.message
                for r in self.itertuples()]

    def __repr__(self) -> str:
        if not len(self):
            return "No problems found: convergence, singular fits, separation and group sizes all look fine."
        out = []
        for row in self.itertuples():
            out.append(f"[{row.kind}] " + (f"{row.parameter}: " if row.parameter else "") + row.message)
            first, *rest = str(row.advice).split("\n")
            out += [f"    advice: {first}"] + [f"            {line}" for line in rest]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.__repr__()


def _finding(kind: str, parameter: str, message: str, advice: str) -> dict:
    return {"kind": kind, "parameter": parameter, "message": message, "advice": advice}


def _convergence(fit) -> list[dict]:
    """One finding per parameter that fails a check (its worst failure as ``kind``), one per group whose level
    effects reach their Rhat limit (1.01; :func:`~.convergence.chance_rhat` for levels drawn exactly), each with
    its likely causes and their code; then divergences, tree depth and E-BFMI."""
    from .remedies import causes_of

    if fit.method != "nuts":  # no chains: nothing to converge (the status line says the fit is approximate)
        return []
    found = []
    for row in mixing_table(fit).itertuples():
        if not row.n_poor:
            continue
        if row.effect == "ranef":
            message = (f"{row.n_poor} of {row.n_levels} level effects have Rhat >= {row.rhat_limit:.4g} (worst "
                       f"{row.label}: {row.rhat:.3f}): the chains disagree on them")
            kind = "rhat"
        else:
            kind = ("rhat" if row.rhat >= RHAT_MAX else "ess_bulk" if row.ess_bulk < ESS_MIN else "ess_tail")
            message = (f"Rhat {row.rhat:.3f}, bulk ESS {row.ess_bulk:.0f}, tail ESS {row.ess_tail:.0f} (wanted: "
                       f"Rhat < {RHAT_MAX}, ESS >= {ESS_MIN}): "
                       + ("the chains disagree" if kind == "rhat" else "the estimates are imprecise"))
        causes = causes_of(fit, row)
        found.append(_finding(kind, row.parameter, message + ". Likely cause: "
                              + "; or ".join(c.text for c in causes) + ".", "\n".join(c.code for c in causes)))
    found += _sampler_findings(fit)
    return found


def _sampler_findings(fit) -> list[dict]:
    """Divergences, tree depth hits and E-BFMI, with the settings that address them."""
    from .remedies import centred_levels, refit_code

    found = []
    stats_ = fit.idata.sample_stats
    n_div = int(stats_["diverging"].values.sum())
    total = stats_["diverging"].size
    if n_div:
        current = float(getattr(fit.settings, "target_accept", 0.8))
        target = 0.95 if current < 0.95 else 0.99
        found.append(_finding("divergences", "", f"{n_div} of {total} transitions after warmup diverged: the "
                              "posterior may be biased where the sampler could not go.",
                              f"{refit_code(fit, target_accept=target)}  # smaller steps (target_accept was "
                              f"{current:g})\n"
                              + (f"{refit_code(fit, centered=False)}  # levels non-centred: no funnel\n"
                                 if centred_levels(fit) else "")
                              + f"{formula_code_boundary(fit)}  # if they remain: keep SDs off zero"))
    hits, depth = tree_depth_hits(fit)
    if hits:
        found.append(_finding("treedepth", "", f"{hits} of {total} transitions hit the maximum tree depth "
                              f"({depth}): sampling was cut short, which is inefficient (not biased).",
                              f"{refit_code(fit, max_tree_depth=depth + 2)}  # or rescale the covariates "
                              "(scale(x) in the formula)"))
    if stats_["energy"].sizes["draw"] > 1:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            import arviz as az

            bfmi = np.atleast_1d(az.bfmi(fit.idata))
        for chain, value in enumerate(bfmi):
            if value < EBFMI_MIN:
                found.append(_finding("ebfmi", f"chain {chain}", f"E-BFMI = {value:.2f} < {EBFMI_MIN}: the "
                                      "sampler explores the energy levels poorly (heavy tails, funnels).",
                                      f"{formula_code_boundary(fit)}  # more informative priors on the SDs"))
    return found


def formula_code_boundary(fit) -> str:
    from .remedies import formula_code

    return formula_code(fit, priors="boundary")


def few_levels_code(fit, group: str) -> str:
    """A stronger prior on each SD of ``group``, or ``group`` as a fixed effect."""
    from .remedies import few_levels_causes

    causes = few_levels_causes(fit, group)
    return causes[0].code if causes else f"# Treat '{group}' as a fixed effect."


def _prior_density_at_zero(spec) -> float:
    """The prior density of an SD at zero (infinite or zero for gamma shapes below or above 1)."""
    a = spec.args
    densities = {
        "half_normal": lambda: 2 * stats.norm.pdf(0) / a[0],
        "half_student_t": lambda: 2 * stats.t.pdf(0, a[0]) / a[1],
        "half_cauchy": lambda: 2 / (np.pi * a[0]),
        "exponential": lambda: a[0],
        "gamma": lambda: np.inf if a[0] < 1 else (a[1] if a[0] == 1 else 0.0),
        "uniform": lambda: 1 / (a[1] - a[0]) if a[0] == 0 else 0.0,
    }
    return float(densities.get(spec.dist, lambda: 0.0)())


def _prior_spec(fit, group: str, term: str, part: str = "cond"):
    from .checks import prior_in_effect

    return prior_in_effect(fit, random_class("sd", part), group, term)


def _part_advice(fit, part: str, group: str) -> str:
    """A family parameter's formula's singular SD: that formula without ``group``'s terms, or a boundary-avoiding
    prior on its SDs (the ``boundary`` preset's gamma(2.5, ...) on the part's link scale)."""
    from .remedies import formula_code

    argument = part if part in ("zi", "hu") else "dispersion"
    spec = fit.design.part_specs[part]
    kept = [piece for piece in [spec.fixed] + [str(r) for r in spec.random if r.group != group] if piece]
    return (f"{formula_code(fit, **{argument: '~ ' + ' + '.join(kept)})}  # without ({group}) in {argument}=\n"
            f"{formula_code(fit, priors={random_class('sd', part): {group: 'gamma(2.5, 0.2)'}})}  # keeps the "
            f"posterior mode off the boundary\n# Simplify the random effects of '{group}' in the {argument}= formula, "
            "or collect more levels.")


def _singular_sd(fit, group: str, term: str, draws: np.ndarray, part: str = "cond") -> dict | None:
    spec = _prior_spec(fit, group, term, part)
    if spec is not None and spec.per == "sigma" and "sigma" in fit.idata.posterior:
        draws = draws / fit.idata.posterior["sigma"].values.ravel()  # the prior is on sd / sigma
    at_zero, mode = density_at_zero_and_mode(draws)
    upper = float(np.quantile(draws, 0.95))
    if not mode <= 0.05 * upper:
        return None
    prior_zero = _prior_density_at_zero(spec) if spec is not None else 0.0
    ratio = at_zero / prior_zero if prior_zero > 0 else np.inf
    if np.isfinite(prior_zero) and prior_zero > 0 and ratio < 1:
        return None
    evidence = (f"posterior density at zero {ratio:.1f} times the prior's" if np.isfinite(ratio)
                else "although its prior vanishes at zero")
    component = "cond" if part == "cond" else part_component(part)
    return _finding("singular_sd", naming.canonical(naming.sd(group, term, component)),
                    f"the posterior is piled against zero (mode {mode:.3g}, 95% quantile {upper:.3g}; "
                    f"{evidence}): the data cannot tell this variance from zero (lme4 would report a singular "
                    "fit).", _simplify(fit, group) if part == "cond" else _part_advice(fit, part, group))


def _block_findings(fit, block, terms: list[str], sd: np.ndarray, cor: np.ndarray | None) -> list[dict]:
    """Correlations piled at +/-1 and a near-zero eigenvalue of the block's covariance draws."""
    found = []
    if cor is None:
        return found
    advice = _simplify(fit, block.group) if block.part == "cond" else _part_advice(fit, block.part, block.group)
    where = "" if block.part == "cond" else f" in {block.part}"
    idx = [terms.index(c) for c in block.columns]
    for a in range(len(idx)):
        for b in range(a + 1, len(idx)):
            rho = cor[:, idx[a], idx[b]]
            share = float(np.mean(np.abs(rho) > 0.9))
            if share > 0.5:
                name = naming.cor(block.group, terms[idx[a]], terms[idx[b]], block.component)
                found.append(_finding("singular_cor", naming.canonical(name),
                                      f"the posterior is piled at {'+' if np.median(rho) > 0 else '-'}1 "
                                      f"({share:.0%} of it beyond 0.9 in absolute value): the terms vary "
                                      "together along one line, the block is (nearly) singular.", advice))
    scaled = sd[:, idx] * np.asarray(block.column_scale)[None, :]
    cov = scaled[:, :, None] * cor[:, idx][:, :, idx] * scaled[:, None, :]
    eigen = np.linalg.eigvalsh(cov)
    ratio = float(np.median(eigen[:, 0] / np.maximum(eigen[:, -1], 1e-300)))
    if ratio < 0.01:
        found.append(_finding("singular_cov", f"cov_{naming.variable('sd', block.group, block.component)[3:]}",
                              f"the covariance of ({' + '.join(block.columns)} | {block.group}){where}, each term per "
                              f"SD of its column, has a near-zero eigenvalue (median smallest/largest {ratio:.2g}): "
                              "it spans fewer dimensions than it has terms.", advice))
    return found


def _random_effects(fit) -> list[dict]:
    """Singular SDs, correlations and covariances, part by part (the mean's, then each family parameter's formula's),
    and groups with too few levels."""
    post = fit.idata.posterior
    found = []
    for part, component in random_parts(fit.design):
        for group, (terms, parts) in group_terms(fit.design, part).items():
            sd = post[naming.variable("sd", group, component)].values.reshape(-1, len(terms))
            cor_name = naming.variable("cor", group, component)
            cor = post[cor_name].values.reshape(-1, len(terms), len(terms)) if cor_name in post else None
            for j, term in enumerate(terms):
                hit = _singular_sd(fit, group, term, sd[:, j], part)
                if hit:
                    found.append(hit)
            for k, _ in parts:
                block = fit.design.blocks[k]
                if block.correlated and block.n_columns > 1:
                    found += _block_findings(fit, block, terms, sd, cor)
    for group in dict.fromkeys(b.group for b in fit.design.blocks):
        block = next(b for b in fit.design.blocks if b.group == group)
        if block.n_levels < MIN_LEVELS:
            found.append(_finding("few_levels", naming.variable("sd", group, block.component), f"'{group}' has only "
                                  f"{block.n_levels} levels: a variance estimated from so few is mostly prior (GLMM "
                                  "FAQ: at least 5-6 levels).", few_levels_code(fit, group) if block.part == "cond"
                                  else _part_advice(fit, block.part, group)))
    return found


def _separation(fit) -> list[dict]:
    found = fit.separation
    if not found:
        return []
    from .remedies import formula_code

    code = formula_code(fit, priors="separation")
    return [_finding("separation", naming.canonical(naming.fixed(name)), f"{found.kind} separation: {detail}; its "
                     "posterior is set by the prior.", f"{code}  # Cauchy priors (Gelman et al. 2008)\n# Keep a "
                     "proper prior on it (the default, or priors='separation'), merge the level with another, or "
                     "report it as a bound.")
            for name, detail in found.details.items()]


def _pareto_k(fit) -> list[dict]:
    from .compare import K_THRESHOLD, loo

    log_lik = getattr(fit.idata, "log_likelihood", None)
    if log_lik is None or sum(v.size for v in log_lik.data_vars.values()) > LOO_MAX_VALUES:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            k = np.asarray(loo(fit).pareto_k)
        except Exception:  # noqa: BLE001 - a non-finite log-likelihood is reported by convergence findings
            return []
    bad = np.flatnonzero(k > K_THRESHOLD)
    if not bad.size:
        return []
    labels = fit.design.row_labels
    rows = ", ".join(str(labels[i] if labels is not None else i) for i in bad[:8]) + (", ..." if bad.size > 8 else "")
    robust = {"gaussian": "student_t", "poisson": "negbinomial", "binomial": "beta_binomial"}.get(fit.family.name)
    code = ""
    if robust is not None:
        from .remedies import formula_code

        code = f"{formula_code(fit, family=robust)}  # a family with heavier tails\n# "
    return [_finding("pareto_k", "", f"{bad.size} of {k.size} observations have PSIS-LOO Pareto k > {K_THRESHOLD} "
                     f"(rows {rows}): fit.loo() and bmm.compare() are unreliable for them.",
                     code + "These are influential observations (an outlier, a small group, an observation-level effect). "
                     "Compare models by K-fold cross-validation, or try a more robust family (student_t, "
                     "negbinomial) and check the rows.")]


def _prior_conflicts(fit) -> list[dict]:
    """Family parameters and SDs whose posterior sits in their prior's tail
    (:func:`bayesmm.answers.checks.check_prior_conflict`), with a prior wide enough to let the data speak."""
    from .checks import CONFLICT_TAIL, DOMINATED_TAIL, check_prior_conflict, prior_distribution, prior_in_effect
    from .remedies import formula_code, prior_text

    found = []
    for name, row in check_prior_conflict(fit).query("conflict != ''").iterrows():
        parameter = naming.parse(name, family=[a.name for a in fit.family.aux],
                                 parts=[b.component for b in fit.design.blocks if b.part != "cond"])
        part = next((b.part for b in fit.design.blocks if b.component == parameter.part), "cond")
        cls, group, coef = ((random_class("sd", part), parameter.group, parameter.term) if parameter.kind == "sd"
                            else (parameter.term, "", ""))
        spec = prior_in_effect(fit, cls, group, coef)
        distribution = prior_distribution(spec)
        above = row["conflict"] == "above"
        tail = 1 - row["prior_quantile"] if above else row["prior_quantile"]
        level = CONFLICT_TAIL if tail < CONFLICT_TAIL else DOMINATED_TAIL
        percentile = f"{100 * (1 - level if above else level):.0f}{'th' if above else ('st' if level < 0.02 else 'th')}"
        message = (f"prior-data conflict: the posterior median {row['posterior_median']:.3g} lies "
                   f"{'beyond' if above else 'below'} the {percentile} percentile "
                   f"({distribution.ppf(1 - level if above else level):.3g}) of the prior {spec} (prior probability "
                   f"{tail:.2g} {'above' if above else 'below'} it): the data pull {name} {'up' if above else 'down'} "
                   "where the prior leaves little mass, so the prior holds the estimate back.")
        factor, moved = _moved_prior(spec, distribution, row, above)
        advice = (f"{formula_code(fit, priors=prior_text(cls, group, coef, moved))}  # the prior "
                  + (f"{factor:g}x wider" if above else f"{1 / factor:g}x closer to 0") if moved is not None else
                  f"{formula_code(fit, priors=prior_text(cls, group, coef, 'beta(1, 1)'))}  # a flat prior")
        found.append(_finding("prior_conflict", name, message, advice))
    return found


def _moved_prior(spec, distribution, row, above: bool):
    """The prior scaled by a round factor so that 3 times the posterior's 97.5% quantile is below the new
    prior's 90th percentile (above), or a third of its 2.5% quantile above the new 10th percentile (below)."""
    from .remedies import nice_factor, scaled_prior

    if above:
        factor = nice_factor(3 * row["posterior_q975"] / distribution.ppf(0.9))
    else:
        factor = 1 / nice_factor(3 * distribution.ppf(0.1) / max(row["posterior_q025"], 1e-300))
    return factor, scaled_prior(spec, factor)


def diagnose(fit) -> Diagnosis:
    """Every finding for ``fit`` (see the module docstring), convergence first."""
    rows = (_convergence(fit) + _random_effects(fit) + _separation(fit) + _prior_conflicts(fit) + _pareto_k(fit)
            + autocor_findings(fit) + structure_findings(fit))
    return Diagnosis(rows, columns=FINDING_COLUMNS)
