"""Draws -> :class:`Fit`: an ArviZ InferenceData with named coordinates, and tidy tables.

Posterior variables (dimensions in brackets):

* ``b`` [``coef``]: fixed effects by their formulae names, ``Intercept`` on the data's scale;
* ``sd_<group>`` [``<group>__term``]: random-effect SDs; ``cor_<group>`` [term x term]: correlations
  (0 between terms in different blocks, as lme4's VarCorr);
* ``r_<group>`` [``<group>__level``, ``<group>__term``]: random effects with level names;
* ``b_<part>`` [``<part>_coef``]: coefficients of a family parameter's own formula (``b_zi``);
* ``sd_<group>__<part>``, ``cor_<group>__<part>``, ``r_<group>__<part>`` (dimensions ``<group>__<part>__term``,
  ``<group>__<part>__level``): the random effects of a family parameter's formula (``r_site__zi``), ``<part>``
  its component (``zi``, ``hu``, ``disp``);
* family parameters by name (``sigma``, ...);
* the residual autocorrelation ``ar1__rho`` (``car1__rho``) of ``autocor=``.

The names come from :mod:`bayesmm.naming`.
"""
from __future__ import annotations

import contextlib

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

from . import naming
from .categories import threshold_names
from .design import Design
from .families import Family, part_component
from .structures import lag_correlations, parameter_terms

__all__ = ["build_idata", "parameter_table", "TIDY_COLUMNS", "group_terms", "random_parts", "scalar_parameters",
           "level_parameters", "parameter_names", "level_table"]

TIDY_COLUMNS = ["effect", "component", "group", "term", "estimate", "std_error", "conf_low", "conf_high",
                "rhat", "ess_bulk", "ess_tail"]


def group_terms(design: Design, part: str = "cond") -> dict:
    """group -> (terms in order, [(block index, slice of the group's terms)]) for the random effects of ``part``:
    the mean's (``"cond"``) or a family parameter's formula's (``"zi"``, ``"sigma"``: ``RandomBlock.part``)."""
    groups = {}
    for k, block in design.part_blocks(part):
        terms, parts = groups.setdefault(block.group, ([], []))
        parts.append((k, slice(len(terms), len(terms) + block.n_columns)))
        terms.extend(block.columns)
    return groups


def random_parts(design: Design) -> list[tuple[str, str]]:
    """``(part, component)`` of every linear predictor with random effects, the mean's (``("cond", "cond")``)
    first, then the family parameters' formulas' in the design's order (``("sigma", "disp")``)."""
    parts = dict.fromkeys(block.part for block in design.blocks)
    return [(part, "cond" if part == "cond" else part_component(part)) for part in parts]


def build_idata(samples, design: Design, family: Family, attrs: dict) -> az.InferenceData:
    """Assemble the InferenceData from :class:`~bayesmm.sampler.run.Samples`."""
    draws, gen = samples.draws, samples.generated
    chains, n_draws = next(iter(gen.values())).shape[:2]
    names = list(design.fixed_names)
    b = np.zeros((chains, n_draws, len(names)))
    slopes = [j for j, n in enumerate(names) if n != "Intercept"]
    if slopes:
        b[..., slopes] = draws["b"]
    if "Intercept" in names:
        b[..., names.index("Intercept")] = gen["Intercept"]
    if "thresholds" in gen:  # ordinal: brms's Intercept[1] .. Intercept[K-1] come first (bayesmm.categories)
        b, names = np.concatenate([gen["thresholds"], b], axis=-1), list(threshold_names(design, family)) + names
    posterior = {naming.variable("fixed"): (("chain", "draw", naming.coef_dim()), b)}
    coords = {naming.coef_dim(): names}
    for part, component in random_parts(design):
        _random_variables(design, part, component, draws, gen, posterior, coords, (chains, n_draws))
    for aux in family.aux:
        if aux.name in design.parts:
            component = part_component(aux.name)
            posterior[naming.variable("fixed", part=component)] = (("chain", "draw", naming.coef_dim(component)),
                                                                    draws[f"b_{aux.name}"])
            coords[naming.coef_dim(component)] = list(design.parts[aux.name][1])
        else:
            posterior[aux.name] = (("chain", "draw"), draws[aux.name])
    if design.autocor is not None:
        posterior[design.autocor.parameter] = (("chain", "draw"), draws[design.autocor.parameter])
    coords.update(chain=np.arange(chains), draw=np.arange(n_draws))
    obs = np.arange(design.n_obs)
    stats = samples.stats
    sample_stats = {
        "diverging": stats["diverging"].astype(bool),
        "n_steps": stats["num_steps"],
        "tree_depth": np.floor(np.log2(stats["num_steps"] + 1)).astype(int),
        "acceptance_rate": stats["accept_prob"],
        "energy": stats["energy"],
        "lp": -stats["potential_energy"],
        "step_size": stats["step_size"],
    }
    constant = {"trials": ("obs_id", design.trials)} if design.trials is not None else {}
    idata = az.InferenceData(
        posterior=xr.Dataset(posterior, coords=coords, attrs=attrs),
        sample_stats=xr.Dataset({k: (("chain", "draw"), v) for k, v in sample_stats.items()},
                                coords={"chain": coords["chain"], "draw": coords["draw"]}, attrs=attrs),
        observed_data=xr.Dataset({"y": ("obs_id", design.y)}, coords={"obs_id": obs}, attrs=attrs),
    )
    if "log_lik" in gen:
        idata.add_groups(log_likelihood=xr.Dataset({"y": (("chain", "draw", "obs_id"), gen["log_lik"])},
                                                   coords={"chain": coords["chain"], "draw": coords["draw"],
                                                           "obs_id": obs}))
    if constant:
        idata.add_groups(constant_data=xr.Dataset(constant, coords={"obs_id": obs}))
    return idata


def _random_variables(design, part, component, draws, gen, posterior: dict, coords: dict, shape) -> None:
    """The SDs, correlations and effects of ``part``'s groups, per group one variable each, into ``posterior``."""
    for group, (terms, parts) in group_terms(design, part).items():
        level_dim, term_dim = naming.level_dim(group, component), naming.term_dim(group, component)
        levels, q = design.blocks[parts[0][0]].levels, len(terms)
        sd = np.zeros(shape + (q,))
        # one block holding every term: its effects as they are (no copy of draws x levels x terms)
        whole = len(parts) == 1
        r = np.asarray(gen[f"r_{parts[0][0]}"], dtype=float) if whole else np.zeros(shape + (len(levels), q))
        cor = np.broadcast_to(np.eye(q), shape + (q, q)).copy()
        for k, columns in parts:
            sd[..., columns] = draws[f"sd_{k}"]
            if not whole:
                r[..., columns] = gen[f"r_{k}"]
            structure = design.blocks[k].structure
            if structure is not None:  # its rho or lscale: one scalar variable (ar1_g); toep's correlation per lag
                name = naming.structure_parameter(group, f"{structure.kind}__{structure.parameter}", component)
                values = draws[f"{structure.parameter}_{k}"]
                if structure.kind == "toep":
                    lags = naming.lag_dim(group, component)
                    posterior[naming.variable(name)] = (("chain", "draw", lags), lag_correlations(values))
                    coords[lags] = np.arange(1, values.shape[-1] + 1)
                else:
                    posterior[naming.variable(name)] = (("chain", "draw"), values)
            if f"L_{k}" in draws:
                chol = draws[f"L_{k}"]
                cor[..., columns, columns] = chol @ np.swapaxes(chol, -1, -2)
        posterior[naming.variable("sd", group, component)] = (("chain", "draw", term_dim), sd)
        posterior[naming.variable("ranef", group, component)] = (("chain", "draw", level_dim, term_dim), r)
        if any(f"L_{k}" in draws for k, _ in parts):
            bis_dim = naming.term_bis_dim(group, component)
            posterior[naming.variable("cor", group, component)] = (("chain", "draw", term_dim, bis_dim), cor)
            coords[bis_dim] = terms
        coords[level_dim], coords[term_dim] = list(levels), terms


@contextlib.contextmanager
def _plain_numpy():
    """ArviZ's numpy code paths: with numba installed, ArviZ compiles a kernel for ``rhat``/``ess`` once per
    process (0.4 s, most of a small model's first summary) and runs no faster for it (measured on 4,000
    parameters x 4,000 draws: 11.3 s either way). The user's setting is restored afterwards."""
    flag = az.Numba.numba_flag
    az.Numba.numba_flag = False
    try:
        yield
    finally:
        az.Numba.numba_flag = flag


@dataclass
class _Table:
    """Draws of named scalar quantities, stacked as (chain, draw, quantity), with row labels."""

    rows: list
    values: np.ndarray

    def frame(self, prob: float, interval: str = "eti") -> pd.DataFrame:
        flat = self.values.reshape(-1, self.values.shape[-1])
        if interval == "hdi":
            bounds = np.array([az.hdi(flat[:, j], hdi_prob=prob) for j in range(flat.shape[1])]).reshape(-1, 2)
        else:
            tail = (1 - prob) / 2
            bounds = np.quantile(flat, [tail, 1 - tail], axis=0).T
        data = xr.Dataset({"x": (("chain", "draw", "p"), self.values)})
        with warnings.catch_warnings(), np.errstate(all="ignore"), _plain_numpy():
            warnings.simplefilter("ignore")
            rhat = az.rhat(data)["x"].values if self.values.shape[0] > 1 else np.full(flat.shape[1], np.nan)
            bulk = az.ess(data, method="bulk")["x"].values
            tail_ess = az.ess(data, method="tail")["x"].values
        table = pd.DataFrame(self.rows, columns=["effect", "component", "group", "term"])
        table["estimate"] = flat.mean(axis=0)
        table["std_error"] = flat.std(axis=0, ddof=1)
        table["conf_low"], table["conf_high"] = bounds[:, 0], bounds[:, 1]
        table["rhat"], table["ess_bulk"], table["ess_tail"] = rhat, bulk, tail_ess
        return table[TIDY_COLUMNS]


def scalar_parameters(posterior, design: Design, family: Family) -> list[tuple[naming.Name, tuple]]:
    """Every reported scalar parameter in broom.mixed's order (fixed, ran_pars, family), each with the index of
    its draws in its posterior variable (:func:`bayesmm.naming.variable`)."""
    out = [(naming.fixed(name), (j,)) for j, name in enumerate(posterior[naming.coef_dim()].values)]
    out += _random_parameters(design, "cond", "cond")
    for aux in family.aux:
        if aux.name in design.parts:
            component = part_component(aux.name)
            out += [(naming.fixed(name, component), (j,))
                    for j, name in enumerate(posterior[naming.coef_dim(component)].values)]
            out += _random_parameters(design, aux.name, component)
        else:
            out.append((naming.family_parameter(aux.name), ()))
    if design.autocor is not None:
        out.append((naming.autocor(design.autocor.parameter), ()))
    return out


def _random_parameters(design: Design, part: str, component: str) -> list[tuple[naming.Name, tuple]]:
    """The SDs and correlations of ``part``'s groups, each with the index of its draws."""
    out = []
    for group, (terms, parts) in group_terms(design, part).items():
        for k, columns in parts:
            structure = design.blocks[k].structure
            if structure is not None and structure.positional:  # one SD for every position
                out.append((naming.sd(group, structure.label, component), (columns.start,)))
            else:
                out += [(naming.sd(group, terms[j], component), (j,)) for j in range(columns.start, columns.stop)]
            if structure is not None:  # toep: one correlation per lag, at its index along the lags
                terms_here = parameter_terms(structure, columns.stop - columns.start)
                out += [(naming.structure_parameter(group, term, component), (j,) if structure.kind == "toep" else ())
                        for j, term in enumerate(terms_here)]
            elif design.blocks[k].correlated and design.blocks[k].n_columns > 1:
                out += [(naming.cor(group, terms[a], terms[c], component), (a, c))
                        for a in range(columns.start, columns.stop) for c in range(a + 1, columns.stop)]
    return out


def level_parameters(posterior, design: Design) -> list[tuple[naming.Name, tuple]]:
    """Every random effect (part, group, then level, then term), with the index of its draws."""
    out = []
    for part, component in random_parts(design):
        for group, (terms, _) in group_terms(design, part).items():
            levels = posterior[naming.level_dim(group, component)].values
            out += [(naming.random_effect(group, level, term, component), (i, j))
                    for i, level in enumerate(levels) for j, term in enumerate(terms)]
    return out


def level_table(idata, design: Design, prob: float, with_fixed: bool) -> pd.DataFrame:
    """``Fit.ranef``/``Fit.coef``: per part, group, level and term the posterior mean, SD and equal-tailed ``prob``
    interval of the random effect (``with_fixed``: plus the fixed coefficient of the same term in the same part)."""
    post = idata.posterior
    tail = (1 - prob) / 2
    frames = []
    for part, component in random_parts(design):
        for group, (terms, _) in group_terms(design, part).items():
            values = post[naming.variable("ranef", group, component)].values.copy()
            if with_fixed:
                fixed = post[naming.variable("fixed", part=component)].values
                names = list(post[naming.coef_dim(component)].values)
                for j, term in enumerate(terms):
                    if term in names:
                        values[..., j] += fixed[..., names.index(term)][..., None]
            flat = values.reshape((-1,) + values.shape[2:])
            levels = post[naming.level_dim(group, component)].values
            for j, term in enumerate(terms):
                column = flat[..., j]
                frames.append(pd.DataFrame({
                    "component": component, "group": group, "level": levels, "term": term,
                    "estimate": column.mean(axis=0), "std_error": column.std(axis=0, ddof=1),
                    "conf_low": np.quantile(column, tail, axis=0), "conf_high": np.quantile(column, 1 - tail, axis=0)}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["component", "group", "level", "term", "estimate", "std_error", "conf_low", "conf_high"])


def parameter_names(idata, design: Design, family: Family) -> list[naming.Name]:
    """The :class:`~bayesmm.naming.Name` of each row of ``tidy()``, in its order."""
    return [name for name, _ in scalar_parameters(idata.posterior, design, family)]


def parameter_table(idata, design: Design, family: Family) -> _Table:
    """Every reported scalar parameter in broom.mixed's order: fixed, ran_pars, family."""
    post = idata.posterior
    residual = family.name == "gaussian"  # its sigma is broom.mixed's residual SD
    rows, columns = [], []
    for name, index in scalar_parameters(post, design, family):
        rows.append(naming.tidy_row(name, residual=residual))
        columns.append(post[naming.variable(name)].values[(Ellipsis, *index)])
    return _Table(rows, np.stack(columns, axis=-1))
