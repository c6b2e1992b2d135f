"""Design + family + priors -> a NumPyro program.

Parameterisation (what the sampler sees):

* ``Intercept_c``: the intercept at the predictors' means (brms's ``Intercept``); the columns of ``X`` are
  centred, which decorrelates it from the slopes. The reported ``Intercept`` is
  ``Intercept_c - x_means @ b``.
* ``b``: the other fixed effects; priors with different distributions are sampled in groups and joined.
* per random-effect block ``k`` with ``q`` columns and ``L`` levels: ``sd_k`` (q), for correlated blocks
  ``L_k`` (LKJ Cholesky factor, ``lkj.py``), and raw effects ``z_k`` (L x q). With ``F_k = diag(sd_k) L_k``, a level
  sampled non-centred has standard-normal ``z_kj`` and effects ``F_k z_kj``; a level sampled centred
  (``data.centred[k][j]``, chosen from the data by ``centring.py``) has ``z_kj ~ N(loc, F_k F_k')`` and
  effects ``z_kj - loc``: hierarchical centring, with ``loc`` the intercept in the intercept column of one
  block (``centre_on``), plus the level's mean row of ``X b`` (``level_X``) and the effects of the blocks
  the level nests in (``parents``, ``parent_pairs``). Levels of blocks with independent columns can be partly
  centred, with weights that follow the draw's SDs (``effects.level_weights_at``, ``effects.dynamic_weights``).
  The effects ``r_k`` enter the linear predictor by a gather:
  ``sum_j Z_k[:, j] * r_k[group_index_k, j]``.
* the family's auxiliary parameters by name (``sigma``, ...).
* gaussian models: all random effects integrated out (``structure.marginal``), or, when there are too
  many for that, one block (``structure.marginal_block``) integrated out level by level given the others.
* other families: an observation-level effect (``structure.row_block``) integrated out of each row by
  quadrature (``quadrature.py``); only its SD is sampled.

The model function is cached per :class:`ModelStructure` (a hashable record of shapes and priors), and all
arrays travel as arguments, so a second fit of a model of the same structure reuses the compiled program.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.handlers import substitute, trace

from ..distributions import DISTRIBUTIONS
from ..priors import PriorSpec, in_units_of
from ..structures import PARAMETERS, parameter_shape
from .autocor import AR1Normal, whitened_marginal, whitening_log_det
from .categorical import categorical_model
from .effects import (BlockEffects, fixed_coefficients, block_effects, block_order, centring_loc, dynamic_weights,
                      level_weights_at, split_aliased)
from .likelihoods import TabledCounts, likelihood
from .lkj import lkj_cholesky
from .marginal import (cell_statistics, conditional_effects, dense_woodbury, marginal_log_likelihood, one_block_effects,
                       one_block_log_likelihood)
from .means import INVERSE_LINKS
from .ordinal import threshold_sites
from .panels import markov_block_log_likelihood
from .quadrature import RowIntegrated
from .records import BlockStructure, ModelData, ModelStructure
from .structured import MARKOV, markov_effects, structure_factor

__all__ = ["make_model", "prior_distribution", "generated", "linear_predictor", "grouped_priors", "keeps_log_lik"]


class _Flat(dist.ImproperUniform):
    """A flat prior whose ``sample`` gives zeros (tracing the model for its sites works); never drawn from."""

    def sample(self, key, sample_shape=()):
        return jnp.zeros(tuple(sample_shape) + self.batch_shape + self.event_shape)


def prior_distribution(spec: PriorSpec, shape=(), size: int | None = None):
    """A numpyro distribution for a parsed prior, from :data:`bayesmm.distributions.DISTRIBUTIONS`; ``shape``
    broadcasts the arguments (for grouped priors, each argument may already be an array of length ``size``)."""
    record = DISTRIBUTIONS[spec.dist]
    if not record.proper:
        return _Flat(constraints.real, (size,) if size else (), ())
    if record.numpyro is None:  # lkj: built per block, with its dimension (``_block_factor``)
        raise ValueError(f"no numpyro distribution for prior {spec}")
    if record.support == "interval":  # numpy bounds: the support must not hold tracers (latent_sites)
        return record.numpyro(dist, [np.asarray(x, dtype=float) for x in spec.args])
    return record.numpyro(dist, [jnp.asarray(x, dtype=jnp.result_type(float)) for x in spec.args])


def grouped_priors(specs: tuple[PriorSpec, ...]):
    """Indices of specs by distribution name, with the stacked arguments of each group."""
    groups = {}
    for i, spec in enumerate(specs):
        groups.setdefault(spec.dist + (f"_per_{spec.per}" if spec.per else ""), []).append(i)
    return [(name, idx, PriorSpec(specs[idx[0]].dist, tuple(np.array([specs[i].args[k] for i in idx])
                                                            for k in range(len(specs[idx[0]].args))), specs[idx[0]].per))
            for name, idx in groups.items()]


def _vector_distribution(spec: PriorSpec, size: int, sigma=None):
    """The prior of ``size`` elements sharing a distribution; a prior in units of sigma is rescaled by the
    draw of sigma (so prior draws, starting points and the density all see the same prior)."""
    if spec.per:
        spec = in_units_of(spec, sigma)
    d = prior_distribution(spec, size=size)
    return d.expand([size]) if spec.dist != "flat" else d


def _sample_vector(name: str, specs: tuple[PriorSpec, ...], sigma=None):
    """Sample a vector whose elements may have different priors, one sample site per distribution."""
    groups = grouped_priors(specs)
    if len(groups) == 1:
        _, idx, spec = groups[0]
        return numpyro.sample(name, _vector_distribution(spec, len(idx), sigma))
    out = jnp.zeros(len(specs))
    for dist_name, idx, spec in groups:
        value = numpyro.sample(f"{name}_{dist_name}", _vector_distribution(spec, len(idx), sigma))
        out = out.at[jnp.asarray(idx)].set(value)
    return numpyro.deterministic(name, out)


def per_sigma(structure: ModelStructure) -> bool:
    """Whether some SD's prior is in units of sigma (then sigma is drawn before the random effects)."""
    return any(spec.per for block in structure.blocks for spec in block.sd_priors)


def _block_parameters(k: int, block: BlockStructure, sigma=None):
    """Block k's SDs and, for a structured block, its parameter (``rho_k``, ``lscale_k``; ``toep``: one per lag)."""
    sd = _sample_vector(f"sd_{k}", block.sd_priors, sigma)
    if not block.structure:
        return sd, None
    prior = prior_distribution(block.structure_prior).expand(parameter_shape(block.structure, block.n_columns))
    return sd, numpyro.sample(f"{PARAMETERS[block.structure]}_{k}", prior)


def _block_factor(k: int, block: BlockStructure, data: ModelData, sigma=None):
    """diag(sd_k) L_k: the per-level factor of block k's covariance (L_k = I for independent columns)."""
    sd, param = _block_parameters(k, block, sigma)
    if block.structure:
        return structure_factor(block.structure, sd, param, data.positions[k])
    if block.correlated and block.n_columns > 1:
        chol = numpyro.sample(f"L_{k}", lkj_cholesky(block.n_columns, block.cor_prior.args[0]))
        return sd[:, None] * chol
    return jnp.diag(sd)


def _block_effects(structure: ModelStructure, k: int, block: BlockStructure, data: ModelData, params: dict,
                   sigma=None):
    """(effects, raw draws ``z``, factor) of block ``k``."""
    factor = _block_factor(k, block, data, sigma)
    if not block.any_centred:
        z = numpyro.sample(f"z_{k}", dist.Normal(0.0, 1.0).expand([block.n_levels, block.n_columns]).to_event(2))
        if not block.correlated or block.n_columns == 1:
            return z * jnp.diagonal(factor), z, factor
        return z @ factor.T, z, factor
    centred, diagonal = level_weights_at(data, k, jnp.diagonal(factor)), not block.correlated or block.n_columns == 1
    loc = centring_loc(structure, k, data, params)
    z = numpyro.sample(f"z_{k}", BlockEffects(factor, centred, loc, diagonal))
    return block_effects(z, factor, centred, loc, diagonal), z, factor


def _by_level_sites(structure, k, data, params, sigma, raw, integrated):
    """A block integrated out level by level: only its factor is sampled (its likelihood comes after the rest)."""
    block = structure.blocks[k]
    if block.structure in MARKOV:  # its tridiagonal algebra takes the SD and the parameter
        integrated["markov"] = _block_parameters(k, block, sigma)
    else:
        integrated["factor"] = _block_factor(k, block, data, sigma)


def _quadrature_sites(structure, k, data, params, sigma, raw, integrated):
    """An observation-level block integrated out by quadrature: only its SD is sampled."""
    integrated["row_sd"] = _sample_vector(f"sd_{k}", structure.blocks[k].sd_priors)[0]


def _sampled_sites(structure, k, data, params, sigma, raw, integrated):
    """A sampled block: its SDs, correlations and effects."""
    effects, z, factor = _block_effects(structure, k, structure.blocks[k], data, params, sigma)
    params[f"r_{k}"], raw[k] = effects, (z, factor)


#: per block kind (``bayesmm.plan``), the sample sites of a block of a model that is not integrated out jointly
BLOCK_SITES = {"by_level": _by_level_sites, "quadrature": _quadrature_sites, "sampled": _sampled_sites}


def _row_weights(data: ModelData):
    """Frequency weights of the rows (1 when there are none): each row's log-likelihood is multiplied by it."""
    return 1.0 if data.weights is None else data.weights


def linear_predictor(structure: ModelStructure, data: ModelData, params: dict, skip: int = -1):
    """eta = Intercept_c + X b + offset + block gathers of the mean but ``skip`` (``params``: b, r_k, Intercept_c)."""
    eta = data.X @ params["b"] if structure.b_priors else jnp.zeros(data.y.shape[0])
    if structure.intercept_prior is not None:
        eta = eta + params["Intercept_c"]
    if data.offset is not None:
        eta = eta + data.offset
    return _with_effects(structure, data, params, eta, "cond", skip)


def _with_effects(structure: ModelStructure, data: ModelData, params: dict, eta, part: str, skip: int = -1):
    """``eta`` plus the gathers ``sum_j Z_k[:, j] r_k[group_index_k, j]`` of ``part``'s blocks but ``skip``."""
    for k, block in enumerate(structure.blocks):
        if k == skip or block.part != part:
            continue
        r, Z = params[f"r_{k}"], data.Z[k]
        if block.intercept_only or Z.ndim == 1:  # one column, or each row's one indicator column (build.py)
            eta = eta + (r[:, 0][data.group_index[k]] if block.intercept_only else r[data.group_index[k], Z])
        else:
            eta = eta + jnp.sum(Z * r[data.group_index[k]], axis=-1)
    return eta


@functools.lru_cache(maxsize=64)
def make_model(structure: ModelStructure):
    """The NumPyro model function for ``structure`` (cached: same structure, same function object)."""
    if structure.categories:  # one linear predictor per category but the reference
        return categorical_model(structure)

    def model(data: ModelData, observed: bool = True):
        params = {}
        if structure.intercept_prior is not None:
            params["Intercept_c"] = numpyro.sample("Intercept_c", prior_distribution(structure.intercept_prior))
        if structure.b_priors:
            params["b"] = _sample_vector("b", structure.b_priors)
            if structure.intercept_prior is not None:
                numpyro.deterministic("Intercept", params["Intercept_c"] - data.x_means @ params["b"])
        elif structure.intercept_prior is not None:
            numpyro.deterministic("Intercept", params["Intercept_c"])
        # SDs in units of sigma need its draw first; otherwise the family's parameters come after the effects
        first = {"sigma": numpyro.sample("sigma", prior_distribution(dict(structure.aux_priors)["sigma"]))
                 } if per_sigma(structure) else {}
        sigma = first.get("sigma")
        if structure.marginal:
            factors = [_block_factor(k, block, data, sigma) for k, block in enumerate(structure.blocks)]
            if sigma is None:
                sigma = numpyro.sample("sigma", prior_distribution(dict(structure.aux_priors)["sigma"]))
            if structure.autocor:
                params[structure.autocor] = numpyro.sample(
                    structure.autocor, prior_distribution(dict(structure.aux_priors)[structure.autocor]))
            numpyro.factor("y_marginal", marginal_log_likelihood(structure.blocks, factors, fixed_coefficients(structure, params),
                                                                 sigma, _marginal_of(structure, data, params))
                           + _whitening(structure, data, params))
            return
        raw, integrated = {}, {}
        for k in block_order(structure):
            BLOCK_SITES[structure.blocks[k].kind](structure, k, data, params, sigma, raw, integrated)
        for (a, b), (levels_a, levels_b, x_guess, guess) in zip(structure.aliases, data.aliases):
            (z_a, f_a), (z_b, f_b) = raw[a], raw[b]
            weight = dynamic_weights(x_guess, (f_a[0, 0] ** 2 + f_b[0, 0] ** 2) / guess)
            params[f"r_{a}"], params[f"r_{b}"], correction = split_aliased(
                params[f"r_{a}"], params[f"r_{b}"], z_a, z_b, f_a[0, 0], f_b[0, 0], levels_a, levels_b, weight)
            numpyro.factor(f"sum_{a}_{b}", correction)
        for k in raw:
            numpyro.deterministic(f"r_{k}", params[f"r_{k}"])
        aux = {name: first[name] if name in first else numpyro.sample(name, prior_distribution(spec))
               for name, spec in structure.aux_priors}
        if structure.marginal_block >= 0:
            numpyro.factor("y_marginal", _one_block_likelihood(structure, data, params, integrated, aux["sigma"]))
            return
        aux.update(threshold_sites(structure, data, params))
        for (name, link, priors), X in zip(structure.parts, data.part_X):
            linear = X @ _sample_vector(f"b_{name}", priors)
            aux[name] = INVERSE_LINKS[link](_with_effects(structure, data, params, linear, name))
        eta = linear_predictor(structure, data, params, skip=structure.row_block)
        if structure.row_block >= 0:
            law = RowIntegrated(structure.family, structure.link, eta, integrated["row_sd"], aux, data.trials)
        else:
            law = likelihood(structure.family, structure.link, eta, aux, data.trials,
                             data.y_table if observed else None, data.bounds)
        if structure.autocor:
            law = AR1Normal(law.loc, law.scale, aux[structure.autocor], data.autocor)
        if isinstance(law, TabledCounts):  # the log-gammas once per distinct count, the rows without them
            numpyro.factor("y_constants", law.constant_sum(data.y_table[2]))
            law = law.rows()
        with numpyro.handlers.scale(scale=_row_weights(data)):
            numpyro.sample("y", law, obs=data.y if observed else None)

    return model


def _marginal_of(structure: ModelStructure, data: ModelData, params: dict):
    """The dense marginal's cross-products: the data's, or with autocorrelated residuals the whitened ones at the
    draw's rho (:func:`.autocor.whitened_marginal`)."""
    return (whitened_marginal(data.autocor, params[structure.autocor], data.marginal) if structure.autocor
            else data.marginal)


def _whitening(structure: ModelStructure, data: ModelData, params: dict):
    return whitening_log_det(data.autocor, params[structure.autocor]) if structure.autocor else 0.0


def _one_block_likelihood(structure: ModelStructure, data: ModelData, params: dict, integrated: dict, sigma):
    """The log-likelihood with ``structure.marginal_block`` integrated out level by level."""
    statistics, block = _one_block_statistics(structure, data, params), data.one_block  # a balanced panel ignores them
    k = structure.marginal_block
    if "markov" in integrated:
        return markov_block_log_likelihood(structure.blocks[k].structure, *integrated["markov"], data.positions[k],
                                           sigma, data, statistics, fixed_coefficients(structure, params))
    return one_block_log_likelihood(integrated["factor"], sigma, block.ZtZ, *statistics, block.n, block.kinds)


def _factor_of(structure: ModelStructure, data: ModelData, sample: dict, k: int):
    """diag(sd_k) L_k of a draw (the replay's counterpart of :func:`_block_factor`)."""
    sd, kind = sample[f"sd_{k}"], structure.blocks[k].structure
    if kind:  # a structured block's
        return structure_factor(kind, sd, sample[f"{PARAMETERS[kind]}_{k}"], data.positions[k])
    return sd[:, None] * sample[f"L_{k}"] if f"L_{k}" in sample else jnp.diag(sd)


def _with_log_lik(structure: ModelStructure, data: ModelData, sample: dict, effects: dict) -> dict:
    """The drawn effects and the gaussian pointwise log-likelihood given them."""
    eta = linear_predictor(structure, data, dict(sample, **effects))
    law = likelihood(structure.family, structure.link, eta, {"sigma": sample["sigma"]})
    if structure.autocor:
        law = AR1Normal(law.loc, law.scale, sample[structure.autocor], data.autocor)
    return dict(effects, log_lik=law.log_prob(data.y) * _row_weights(data))


def _marginal_draw(structure: ModelStructure, data: ModelData, sample: dict, key):
    """Random effects from their exact conditional, then the conditional pointwise log-likelihood."""
    factors = [_factor_of(structure, data, sample, k) for k in range(len(structure.blocks))]
    noise = jax.random.normal(key, (data.marginal.ZtZ.shape[0],))
    effects = conditional_effects(structure.blocks, factors, fixed_coefficients(structure, sample), sample["sigma"],
                                  _marginal_of(structure, data, sample), noise)
    return _with_log_lik(structure, data, sample, {f"r_{k}": r for k, r in enumerate(effects)})


def _one_block_statistics(structure: ModelStructure, data: ModelData, params: dict):
    """``(Z_l' W e_l per level, e' W e)`` for the integrated-out block, ``e`` the residual without it, from the
    linear predictor of the rows' cells (:func:`.marginal.cell_statistics`)."""
    k = structure.marginal_block
    eta = linear_predictor(structure, data.cells if data.cells is not None else data, params, skip=k)
    return cell_statistics(data.one_block, eta)


def _one_block_draw(structure: ModelStructure, data: ModelData, sample: dict, key):
    """The integrated-out block's effects from their exact conditional, then the pointwise log-likelihood."""
    k = structure.marginal_block
    ZtZ = data.one_block.ZtZ
    noise = jax.random.normal(key, (ZtZ.shape[0] * ZtZ.shape[1],))
    Zte, kind = _one_block_statistics(structure, data, sample)[0], structure.blocks[k].structure
    if kind in MARKOV:
        effects = markov_effects(kind, sample[f"sd_{k}"], sample[f"{PARAMETERS[kind]}_{k}"], data.positions[k],
                                 sample["sigma"], ZtZ, Zte, noise)
    else:
        effects = one_block_effects(_factor_of(structure, data, sample, k), sample["sigma"], ZtZ, Zte, noise)
    return _with_log_lik(structure, data, sample, {f"r_{k}": effects})


def _row_block_draw(structure: ModelStructure, data: ModelData, law: RowIntegrated, key) -> dict:
    """The observation-level block's effects, one per row from its conditional given the row's response."""
    k = structure.row_block
    effects = law.sd * law.conditional(data.y, key)
    return {f"r_{k}": jnp.zeros((structure.blocks[k].n_levels, 1)).at[data.group_index[k], 0].set(effects)}


#: Above this many draws x rows the pointwise log-likelihood is not kept (8 bytes each: 1.6 GB). A 1-million-row
#: model with 4000 draws would need 32 GB for it, which ran a GPU out of memory after sampling.
LOG_LIK_MAX_VALUES = 200_000_000


def keeps_log_lik(n_draws: int, n_rows: int) -> bool:
    """Whether :func:`generated` returns the pointwise log-likelihood for this many draws and rows."""
    return n_draws * n_rows <= LOG_LIK_MAX_VALUES


def generated(structure: ModelStructure, data: ModelData, samples: dict, key=None, batch_size: int = 256) -> dict:
    """Replay the model on each draw: deterministic sites (``Intercept``, ``r_k``; for marginalised models
    the random effects drawn from their conditional with ``key``) and the pointwise log-likelihood
    ``log_lik`` (only while draws x rows stays within ``LOG_LIK_MAX_VALUES``). ``samples`` are flat over
    draws (leading axis)."""
    model = make_model(structure)
    n_draws = next(iter(samples.values())).shape[0]
    with_log_lik = keeps_log_lik(n_draws, data.y.shape[0])
    keys = jax.random.split(jax.random.PRNGKey(0) if key is None else key, n_draws)

    def one(args):
        sample, k = args
        tr = trace(substitute(model, data=sample)).get_trace(data)
        out = {name: site["value"] for name, site in tr.items() if site["type"] == "deterministic"}
        if structure.marginal:
            out.update(_marginal_draw(structure, data, {**sample, **out}, k))
        elif structure.marginal_block >= 0:
            out.update(_one_block_draw(structure, data, {**sample, **out}, k))
        else:
            law = tr["y"]["fn"]
            law = law.complete() if isinstance(law, TabledCounts) else law  # with its log-gammas
            out["log_lik"] = law.log_prob(tr["y"]["value"]) * _row_weights(data)
            if structure.row_block >= 0:
                out.update(_row_block_draw(structure, data, tr["y"]["fn"], k))
        if not with_log_lik:
            out.pop("log_lik")
        return out

    if structure.marginal and (dense_woodbury(data.marginal) if not structure.autocor
                               else data.autocor.level_index is None):
        batch_size = None  # one draw at a time (see dense_woodbury: batched LAPACK calls can deadlock)
    return jax.lax.map(jax.jit(one), (samples, keys), batch_size=_dividing_batch(n_draws, batch_size, data.y.shape[0]))


def _dividing_batch(n: int, size: int | None, rows: int = 1, values: int = 4_000_000) -> int | None:
    """A batch for ``lax.map`` over ``n`` draws of ``rows`` rows: at most ``size`` draws and ``values`` per row array
    (InstEval's 73,421 rows, 1,000 draws: 2.0 s CPU in batches of 250, 1.4 s of 50), the largest divisor of ``n`` up to
    that if at least a quarter of it (a remainder is a second copy of the replay: 1,000 draws by 250, not 256)."""
    if not (size := size and max(1, min(size, values // max(rows, 1)))) or n <= size:
        return size
    divisor = max(d for d in range(1, size + 1) if n % d == 0)
    return divisor if 4 * divisor >= size else size
