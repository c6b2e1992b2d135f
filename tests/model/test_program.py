"""The NumPyro program's log density, checked number by number against a hand computation with scipy.

For every family and link in :data:`bayesmm.families.FAMILIES`, a small simulated data set with a
covariate ``x`` and a correlated random intercept and slope ``(x | g)`` is compiled, the joint log density
is evaluated at a fixed point of the latent sites (in constrained space) with
``numpyro.infer.util.log_density``, and compared with the same quantity computed by hand:

* priors from ``model.prior_entries`` through ``scipy.stats`` (half-t as ``log 2 + t.logpdf``, the
  2 x 2 LKJ-Cholesky density as the Beta(eta, eta) density of ``(r + 1) / 2`` times 1/2),
* the linear predictor in numpy from the raw data frame (centred ``x``, the group codes, the
  non-centred ``r = (z @ L.T) * sd``), and the likelihood from ``scipy.stats``.

Also: the pointwise ``log_lik`` of :func:`bayesmm.model.generated` for three draws, an offset that must
shift the linear predictor exactly, user priors of every kind (grouped prior sites included), and frequency
weights: a row with weight w counts exactly as w copies of it (brms's ``weights()``).
"""
from __future__ import annotations

from bayesmm.model.backend import use_float64

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from numpyro.infer.util import log_density
from scipy import special, stats

import bayesmm as bmm
from bayesmm.families import FAMILIES
from bayesmm.model import compile_model, generated, linear_predictor, make_model
from bayesmm.model.likelihoods import TabledCounts
from simulators import nb_draws, zero_truncated

use_float64()  # as every fit does, before jax arrays are made here

RTOL = 1e-8
#: the NB2's rows take softplus's bounded correction from float32 arithmetic (bayesmm.model.softplus)
ROW_RTOL = {("negbinomial", "log"): 3e-7}
N_ROWS, N_GROUPS = 60, 6
#: every family and link but those of categories: ordinal ones have thresholds for an intercept, categorical ones a
#: linear predictor per category (tests/model/test_ordinal.py, tests/model/test_categorical.py)
CASES = [(name, link) for name, family in FAMILIES.items() if family.response not in ("ordinal", "categorical")
         for link in family.links]

# Links with a restricted range: keep the test point's linear predictor where the mean is valid.
_POSITIVE_ETA = {("poisson", "identity"), ("negbinomial", "identity"), ("gamma", "identity"), ("gamma", "inverse"),
                 ("weibull", "identity"), ("weibull", "inverse"), ("exponential", "identity"),
                 ("exponential", "inverse")}
#: the auxiliary parameters at the test point
_AUX = {"sigma": 0.8, "phi": 2.5, "alpha": 1.5, "shape": 3.0, "nu": 4.5, "zi": 0.25, "hu": 0.35, "zoi": 0.2,
        "coi": 0.6, "cutzero": -1.5, "cutgap": 3.0}
_AUX_BY_FAMILY = {("beta", "phi"): 12.0, ("beta_binomial", "phi"): 6.0}


# ------------------------------------------------------------------------------------------- data
def _inverse_link(link: str, eta: np.ndarray) -> np.ndarray:
    return {
        "identity": lambda e: e,
        "log": np.exp,
        "logit": special.expit,
        "probit": stats.norm.cdf,
        "cloglog": lambda e: -np.expm1(-np.exp(e)),
        "sqrt": np.square,
        "inverse": lambda e: 1.0 / e,
    }[link](eta)


def _simulation_mean(link: str, x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A mean in the valid range of ``link``'s family (counts, positive values or probabilities)."""
    return {
        "log": lambda: np.exp(1.0 + 0.3 * x + u),
        "identity": lambda: np.maximum(6.0 + 0.4 * x + u, 0.5),
        "sqrt": lambda: np.square(1.8 + 0.2 * x + u),
        "inverse": lambda: 1.0 / (0.6 + 0.05 * x + 0.1 * u),
        "logit": lambda: special.expit(-0.3 + 0.8 * x + u),
        "probit": lambda: stats.norm.cdf(-0.2 + 0.5 * x + u),
        "cloglog": lambda: -np.expm1(-np.exp(-0.5 + 0.5 * x + u)),
    }[link]()


def _frame(family: str, link: str, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """60 rows, 6 groups (labels deliberately not in sorted order of appearance), a covariate ``x``."""
    rng = np.random.default_rng(seed)
    g = rng.permutation(np.repeat([f"grp{k}" for k in (3, 0, 5, 1, 4, 2)], N_ROWS // N_GROUPS))
    x = rng.normal(0.5, 1.2, N_ROWS)
    u = rng.normal(0.0, 0.4, N_GROUPS)[np.unique(g, return_inverse=True)[1]]
    df = pd.DataFrame({"g": g, "x": x})
    if family == "gaussian":
        df["y"] = rng.normal(2.0 + 0.5 * x + u, 0.7) if link == "identity" else np.exp(0.3 + 0.2 * x + u) + \
            rng.normal(0, 0.2, N_ROWS)
        return df, "y ~ x + (x | g)"
    if family == "bernoulli":
        df["y"] = rng.binomial(1, special.expit(-0.3 + 0.8 * x + u))
        return df, "y ~ x + (x | g)"
    if family == "binomial":
        n = rng.integers(1, 12, N_ROWS)
        df["s"] = rng.binomial(n, special.expit(-0.2 + 0.6 * x + u))
        df["f"] = n - df["s"]
        return df, "cbind(s, f) ~ x + (x | g)"
    if family == "poisson":
        df["y"] = rng.poisson(np.exp(1.0 + 0.3 * x + u))
        return df, "y ~ x + (x | g)"
    mu = _simulation_mean(link, x, u)
    if family == "negbinomial":
        df["y"] = nb_draws(rng, mu, 2.0)
    elif family == "nbinom1":
        df["y"] = nb_draws(rng, mu, mu / 1.2)
    elif family == "gamma":
        df["y"] = rng.gamma(2.5, mu / 2.5)
    elif family == "beta":
        df["y"] = np.clip(rng.beta(mu * 10, (1 - mu) * 10), 1e-6, 1 - 1e-6)
    elif family == "beta_binomial":
        n = rng.integers(1, 15, N_ROWS)
        df["s"] = rng.binomial(n, rng.beta(mu * 5, (1 - mu) * 5))
        df["f"] = n - df["s"]
        return df, "cbind(s, f) ~ x + (x | g)"
    elif family == "student_t":
        mu = 2.0 + 0.5 * x + u if link == "identity" else mu
        df["y"] = mu + 0.7 * rng.standard_t(4, N_ROWS)
    elif family == "lognormal":
        df["y"] = np.exp(rng.normal(0.5 + 0.3 * x + u, 0.6))
    elif family == "zero_inflated_poisson":
        df["y"] = rng.poisson(mu) * (rng.uniform(size=N_ROWS) > 0.3)
    elif family == "zero_inflated_negbinomial":
        df["y"] = nb_draws(rng, mu, 2.0) * (rng.uniform(size=N_ROWS) > 0.3)
    elif family == "hurdle_poisson":
        df["y"] = zero_truncated(rng, rng.poisson, mu) * (rng.uniform(size=N_ROWS) > 0.3)
    elif family == "hurdle_negbinomial":
        df["y"] = zero_truncated(rng, lambda m: nb_draws(rng, m, 2.0), mu) * (rng.uniform(size=N_ROWS) > 0.3)
    elif family == "weibull":
        df["y"] = mu / special.gamma(1 + 1 / 1.5) * rng.weibull(1.5, N_ROWS)
    elif family == "exponential":
        df["y"] = rng.exponential(mu)
    elif family == "com_poisson":
        df["y"] = rng.poisson(mu)
    elif family == "zero_inflated_binomial":
        n = rng.integers(1, 12, N_ROWS)
        df["s"] = rng.binomial(n, mu) * (rng.uniform(size=N_ROWS) > 0.3)
        df["f"] = n - df["s"]
        return df, "cbind(s, f) ~ x + (x | g)"
    elif family == "hurdle_gamma":
        df["y"] = rng.gamma(2.5, mu / 2.5) * (rng.uniform(size=N_ROWS) > 0.3)
    elif family == "hurdle_lognormal":
        df["y"] = np.exp(rng.normal(0.5 + 0.3 * x + u, 0.6)) * (rng.uniform(size=N_ROWS) > 0.3)
    elif family in ("zero_one_inflated_beta", "ordbeta"):
        ends = rng.uniform(size=N_ROWS)
        df["y"] = np.where(ends < 0.1, 0.0, np.where(ends > 0.85, 1.0, rng.beta(mu * 8, (1 - mu) * 8)))
    else:
        raise AssertionError(f"no simulator for family {family!r}: add one to this test")
    return df, "y ~ x + (x | g)"


def _model(family: str, link: str, seed: int = 0, priors=None):
    df, formula = _frame(family, link, seed)
    return df, bmm.Model(formula, df, family=family, link=link, priors=priors)


# ------------------------------------------------------------------------------------------- params
def _cholesky_2x2(r: float) -> np.ndarray:
    return np.linalg.cholesky(np.array([[1.0, r], [r, 1.0]]))


def _params(family: str, link: str, seed: int = 0, r: float = 0.3) -> dict:
    """A fixed point of all latent sites (constrained space)."""
    rng = np.random.default_rng(100 + seed)
    if (family, link) in _POSITIVE_ETA:
        intercept, b, sd = 6.0, 0.4, np.array([0.3, 0.2])
    elif family in ("gaussian", "student_t") and link == "identity":
        intercept, b, sd = 2.1, 0.45, np.array([0.5, 0.25])
    elif link == "sqrt":
        intercept, b, sd = 1.8, 0.2, np.array([0.3, 0.15])
    else:
        intercept, b, sd = 0.4 - 0.1 * seed, 0.35, np.array([0.6, 0.3])
    params = {
        "Intercept_c": np.float64(intercept),
        "b": np.array([b]),
        "sd_0": sd,
        "z_0": rng.normal(size=(N_GROUPS, 2)),
        "L_0": _cholesky_2x2(r),
    }
    for aux in FAMILIES[family].aux:
        params[aux.name] = _AUX_BY_FAMILY.get((family, aux.name), _AUX[aux.name])
    return {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}


# ------------------------------------------------------------------------------------------- by hand
def _prior(entries, cls: str, group: str = "", coef: str = ""):
    found = [e.prior for e in entries if e.cls == cls and e.group == group and e.coef == coef]
    assert len(found) == 1, (cls, group, coef, found)
    return found[0]


def _prior_logpdf(spec, x) -> float:
    """log density of a parsed prior at ``x`` (scipy.stats parameterisations)."""
    a, x = spec.args, np.asarray(x, dtype=float)
    name = spec.dist
    if name == "normal":
        out = stats.norm.logpdf(x, a[0], a[1])
    elif name == "student_t":
        out = stats.t.logpdf(x, a[0], a[1], a[2])
    elif name == "cauchy":
        out = stats.cauchy.logpdf(x, a[0], a[1])
    elif name == "logistic":
        out = stats.logistic.logpdf(x, a[0], a[1])
    elif name == "laplace":
        out = stats.laplace.logpdf(x, a[0], a[1])
    elif name == "uniform":
        out = stats.uniform.logpdf(x, a[0], a[1] - a[0])
    elif name == "flat":
        out = np.zeros_like(x)
    elif name == "half_normal":
        out = stats.halfnorm.logpdf(x, 0.0, a[0])
    elif name == "half_student_t":
        assert np.all(x > 0)
        out = np.log(2.0) + stats.t.logpdf(x, a[0], 0.0, a[1])
    elif name == "half_cauchy":
        out = stats.halfcauchy.logpdf(x, 0.0, a[0])
    elif name == "exponential":
        out = stats.expon.logpdf(x, 0.0, 1.0 / a[0])
    elif name == "gamma":  # shape, rate
        out = stats.gamma.logpdf(x, a[0], 0.0, 1.0 / a[1])
    elif name == "inverse_gamma":  # shape, scale
        out = stats.invgamma.logpdf(x, a[0], 0.0, a[1])
    elif name == "lognormal":
        out = stats.lognorm.logpdf(x, a[1], 0.0, np.exp(a[0]))
    elif name == "beta":
        out = stats.beta.logpdf(x, a[0], a[1])
    else:
        raise AssertionError(f"no scipy density for prior {spec}")
    return float(np.sum(out))


def _lkj_2x2_logpdf(L: np.ndarray, eta: float) -> float:
    """LKJ(eta) for a 2 x 2 correlation, as a density of the Cholesky factor's free entry ``L[1, 0] = r``:
    ``(r + 1) / 2 ~ Beta(eta, eta)``, so ``p(r) = Beta.pdf((r + 1) / 2) / 2``."""
    assert np.allclose(L @ L.T, [[1.0, L[1, 0]], [L[1, 0], 1.0]])
    r = L[1, 0]
    return float(stats.beta.logpdf((r + 1) / 2, eta, eta) - np.log(2.0))


def _hand_eta(df: pd.DataFrame, params: dict, offset=None) -> np.ndarray:
    """Linear predictor from the raw data: Intercept_c + (x - mean x) b + r[g, 0] + x r[g, 1] (+ offset)."""
    p = {k: np.asarray(v) for k, v in params.items()}
    x = df["x"].to_numpy(dtype=float)
    _, codes = np.unique(df["g"].to_numpy(), return_inverse=True)  # levels in sorted order
    r = (p["z_0"] @ p["L_0"].T) * p["sd_0"]
    eta = p["Intercept_c"] + (x - x.mean()) * p["b"][0] + r[codes, 0] + x * r[codes, 1]
    return eta if offset is None else eta + offset


def _hand_pointwise(family: str, link: str, df: pd.DataFrame, params: dict, eta: np.ndarray) -> np.ndarray:
    mu = _inverse_link(link, eta)
    if family == "gaussian":
        return stats.norm.logpdf(df["y"].to_numpy(float), mu, float(params["sigma"]))
    if family == "bernoulli":
        return stats.bernoulli.logpmf(df["y"].to_numpy(), mu)
    if family == "binomial":
        s, f = df["s"].to_numpy(), df["f"].to_numpy()
        return stats.binom.logpmf(s, s + f, mu)
    if family == "poisson":
        return stats.poisson.logpmf(df["y"].to_numpy(), mu)
    p = {k: float(params[k]) for k in ("sigma", "phi", "alpha", "shape", "nu", "zi", "hu", "zoi", "coi", "cutzero",
                                       "cutgap") if k in params}
    if family == "beta_binomial":
        s, f = df["s"].to_numpy(), df["f"].to_numpy()
        return stats.betabinom.logpmf(s, s + f, mu * p["phi"], (1 - mu) * p["phi"])
    if family == "zero_inflated_binomial":
        s, f = df["s"].to_numpy(), df["f"].to_numpy()
        binomial = np.log1p(-p["zi"]) + stats.binom.logpmf(s, s + f, mu)
        return np.where(s == 0, np.logaddexp(np.log(p["zi"]), binomial), binomial)
    y = df["y"].to_numpy(float)
    if family == "negbinomial":
        return stats.nbinom.logpmf(y, p["phi"], p["phi"] / (p["phi"] + mu))
    if family == "nbinom1":
        n = mu / p["alpha"]
        return stats.nbinom.logpmf(y, n, n / (n + mu))
    if family == "gamma":
        return stats.gamma.logpdf(y, p["shape"], scale=mu / p["shape"])
    if family == "beta":
        return stats.beta.logpdf(y, mu * p["phi"], (1 - mu) * p["phi"])
    if family == "student_t":
        return stats.t.logpdf(y, p["nu"], mu, p["sigma"])
    if family == "lognormal":
        return stats.lognorm.logpdf(y, p["sigma"], scale=np.exp(mu))
    if family == "weibull":
        return stats.weibull_min.logpdf(y, p["shape"], scale=mu / special.gamma(1 + 1 / p["shape"]))
    if family == "exponential":
        return stats.expon.logpdf(y, scale=mu)
    if family == "com_poisson":
        j = np.arange(2000.0)
        log_z = special.logsumexp(p["shape"] * (j[None, :] * np.log(mu)[:, None] - special.gammaln(j + 1)), axis=1)
        return p["shape"] * (y * np.log(mu) - special.gammaln(y + 1)) - log_z
    positive = np.where(y > 0, y, 1.0)
    if family == "hurdle_gamma":
        return np.where(y == 0, np.log(p["hu"]), np.log1p(-p["hu"]) + stats.gamma.logpdf(positive, p["shape"],
                                                                                          scale=mu / p["shape"]))
    if family == "hurdle_lognormal":
        return np.where(y == 0, np.log(p["hu"]),
                        np.log1p(-p["hu"]) + stats.lognorm.logpdf(positive, p["sigma"], scale=np.exp(mu)))
    inside = stats.beta.logpdf(np.clip(y, 1e-9, 1 - 1e-9), mu * p.get("phi", 1.0), (1 - mu) * p.get("phi", 1.0))
    if family == "zero_one_inflated_beta":
        zoi, coi = p["zoi"], p["coi"]
        return np.where(y == 1, np.log(zoi * coi), np.where(y == 0, np.log(zoi * (1 - coi)), np.log1p(-zoi) + inside))
    if family == "ordbeta":
        low, high = p["cutzero"], p["cutzero"] + p["cutgap"]
        middle = special.expit(eta - low) - special.expit(eta - high)
        return np.where(y == 0, np.log1p(-special.expit(eta - low)),
                        np.where(y == 1, np.log(special.expit(eta - high)), np.log(middle) + inside))
    if family.endswith("poisson"):
        pmf = lambda k: stats.poisson.pmf(k, mu)  # noqa: E731
    else:
        pmf = lambda k: stats.nbinom.pmf(k, p["phi"], p["phi"] / (p["phi"] + mu))  # noqa: E731
    if family.startswith("zero_inflated"):
        zi = p["zi"]
        return np.where(y == 0, np.log(zi + (1 - zi) * pmf(0)), np.log(1 - zi) + np.log(pmf(y)))
    if family.startswith("hurdle"):
        hu = p["hu"]
        return np.where(y == 0, np.log(hu), np.log(1 - hu) + np.log(pmf(y)) - np.log(1 - pmf(0)))
    raise AssertionError(f"no scipy likelihood for family {family!r}: add one to this test")


def _hand_log_prior(model, params: dict) -> float:
    entries = model.prior_entries
    p = {k: np.asarray(v) for k, v in params.items()}
    block = model.design.blocks[0]
    total = _prior_logpdf(_prior(entries, "Intercept"), p["Intercept_c"])
    total += sum(_prior_logpdf(_prior(entries, "b", "", name), p["b"][j])
                 for j, name in enumerate(n for n in model.design.fixed_names if n != "Intercept"))
    total += sum(_prior_logpdf(_prior(entries, "sd", block.group, col), p["sd_0"][j])
                 for j, col in enumerate(block.columns))
    total += float(np.sum(stats.norm.logpdf(p["z_0"])))
    total += _lkj_2x2_logpdf(p["L_0"], _prior(entries, "cor", block.group).args[0])
    for aux in model.family.aux:
        total += _prior_logpdf(_prior(entries, aux.name), p[aux.name])
    return total


def _numpyro_log_density(model, params: dict, with_trace: bool = False):
    structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize=False, centred=False)
    value, trace = log_density(make_model(structure), (data,), {}, params)
    return (float(value), trace) if with_trace else float(value)


# ------------------------------------------------------------------------------------------- tests
def test_every_family_and_link_is_covered():
    assert len(CASES) == 41
    assert set(CASES) == {("gaussian", "identity"), ("gaussian", "log"), ("bernoulli", "logit"),
                          ("bernoulli", "probit"), ("bernoulli", "cloglog"), ("binomial", "logit"),
                          ("binomial", "probit"), ("binomial", "cloglog"), ("poisson", "log"),
                          ("poisson", "identity"), ("poisson", "sqrt"),
                          ("negbinomial", "log"), ("negbinomial", "identity"), ("negbinomial", "sqrt"),
                          ("nbinom1", "log"), ("gamma", "log"), ("gamma", "inverse"), ("gamma", "identity"),
                          ("beta", "logit"), ("beta", "probit"), ("beta", "cloglog"), ("beta_binomial", "logit"),
                          ("student_t", "identity"), ("student_t", "log"), ("lognormal", "identity"),
                          ("zero_inflated_poisson", "log"), ("zero_inflated_negbinomial", "log"),
                          ("hurdle_poisson", "log"), ("hurdle_negbinomial", "log"), ("weibull", "log"),
                          ("weibull", "identity"), ("weibull", "inverse"), ("exponential", "log"),
                          ("exponential", "identity"), ("exponential", "inverse"), ("zero_inflated_binomial", "logit"),
                          ("hurdle_gamma", "log"), ("hurdle_lognormal", "identity"),
                          ("zero_one_inflated_beta", "logit"), ("ordbeta", "logit"), ("com_poisson", "log")}
    # the default link comes first
    assert {name: f.links[0] for name, f in FAMILIES.items()} == {
        "gaussian": "identity", "bernoulli": "logit", "binomial": "logit", "poisson": "log",
        "negbinomial": "log", "nbinom1": "log", "gamma": "log", "beta": "logit", "beta_binomial": "logit",
        "student_t": "identity", "lognormal": "identity", "zero_inflated_poisson": "log",
        "zero_inflated_negbinomial": "log", "hurdle_poisson": "log", "hurdle_negbinomial": "log", "weibull": "log",
        "cumulative": "logit", "categorical": "logit", "exponential": "log", "zero_inflated_binomial": "logit",
        "hurdle_gamma": "log", "hurdle_lognormal": "identity", "zero_one_inflated_beta": "logit", "ordbeta": "logit",
        "com_poisson": "log"}
    # every auxiliary parameter is sampled and reported under its name, with a support its prior fits
    assert {name: tuple((a.name, a.support) for a in f.aux) for name, f in FAMILIES.items() if f.aux} == {
        "gaussian": (("sigma", "positive"),), "negbinomial": (("phi", "positive"),),
        "nbinom1": (("alpha", "positive"),), "gamma": (("shape", "positive"),), "beta": (("phi", "positive"),),
        "beta_binomial": (("phi", "positive"),), "student_t": (("sigma", "positive"), ("nu", "positive")),
        "lognormal": (("sigma", "positive"),), "zero_inflated_poisson": (("zi", "unit"),),
        "zero_inflated_negbinomial": (("phi", "positive"), ("zi", "unit")), "hurdle_poisson": (("hu", "unit"),),
        "hurdle_negbinomial": (("phi", "positive"), ("hu", "unit")), "weibull": (("shape", "positive"),),
        "zero_inflated_binomial": (("zi", "unit"),), "hurdle_gamma": (("shape", "positive"), ("hu", "unit")),
        "hurdle_lognormal": (("sigma", "positive"), ("hu", "unit")),
        "zero_one_inflated_beta": (("phi", "positive"), ("zoi", "unit"), ("coi", "unit")),
        "ordbeta": (("phi", "positive"), ("cutzero", "real"), ("cutgap", "positive")),
        "com_poisson": (("shape", "positive"),)}


def test_float64_is_on():
    assert jnp.zeros(1).dtype == jnp.float64


@pytest.mark.parametrize("family,link", CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_joint_log_density_matches_scipy(family, link):
    df, model = _model(family, link)
    params = _params(family, link)
    assert model.family.link == link
    block = model.design.blocks[0]
    assert block.columns == ("Intercept", "x") and block.correlated and block.n_levels == N_GROUPS

    eta = _hand_eta(df, params)
    if (family, link) in _POSITIVE_ETA:
        assert np.all(eta > 0.5)
    pointwise = _hand_pointwise(family, link, df, params, eta)
    assert np.all(np.isfinite(pointwise))
    log_prior = _hand_log_prior(model, params)
    expected = log_prior + float(np.sum(pointwise))

    rtol = ROW_RTOL.get((family, link), RTOL)
    got, trace = _numpyro_log_density(model, params, with_trace=True)
    assert got == pytest.approx(expected, rel=rtol, abs=0)
    # the observed site alone pins the split between prior and likelihood; counts with a log link take their
    # log-gammas once per distinct count, in a factor of their own (``likelihoods.TabledCounts``)
    y_site = trace["y"]
    law = y_site["fn"]
    if (family, link) in (("poisson", "log"), ("negbinomial", "log")):
        assert isinstance(law, TabledCounts) and law.rows_only
        constants = float(trace["y_constants"]["fn"].log_prob(trace["y_constants"]["value"]))
        assert float(np.sum(law.log_prob(y_site["value"]))) + constants == pytest.approx(float(np.sum(pointwise)),
                                                                                        rel=rtol)
        law = law.complete()
    np.testing.assert_allclose(np.asarray(law.log_prob(y_site["value"])), pointwise, rtol=rtol, atol=0)


@pytest.mark.parametrize("family,link", CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_pointwise_log_lik_matches_scipy(family, link):
    df, model = _model(family, link, seed=1)
    structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize=False, centred=False)
    draws = [_params(family, link, seed=1, r=r) for r in (0.3, -0.55, 0.05)]
    # vary the draws beyond the correlation, too
    for i, d in enumerate(draws):
        d["Intercept_c"] = d["Intercept_c"] + 0.1 * i
        d["b"] = d["b"] * (1.0 - 0.2 * i)
        d["sd_0"] = d["sd_0"] * (1.0 + 0.25 * i)
    samples = {k: jnp.stack([d[k] for d in draws]) for k in draws[0]}
    out = generated(structure, data, samples)
    log_lik = np.asarray(out["log_lik"])
    assert log_lik.shape == (3, N_ROWS)
    for i, d in enumerate(draws):
        eta = _hand_eta(df, d)
        expected = _hand_pointwise(family, link, df, d, eta)
        np.testing.assert_allclose(log_lik[i], expected, rtol=ROW_RTOL.get((family, link), RTOL), atol=0)
        # deterministic sites of the same replay
        p = {k: np.asarray(v) for k, v in d.items()}
        np.testing.assert_allclose(np.asarray(out["r_0"][i]), (p["z_0"] @ p["L_0"].T) * p["sd_0"], rtol=1e-12)
        np.testing.assert_allclose(float(out["Intercept"][i]),
                                   p["Intercept_c"] - df["x"].mean() * p["b"][0], rtol=1e-12)


def test_replay_in_batches_that_divide_the_draws_is_the_same():
    """``generated`` replays draws in batches of a divisor of their number (one compiled copy of the replay, not
    two for a remainder); the values are those of replaying every draw at once, draw by draw."""
    from bayesmm.model.program import _dividing_batch

    assert _dividing_batch(1000, 256) == 250 and _dividing_batch(4000, 256) == 250
    assert _dividing_batch(997, 256) == 256  # a prime: the remainder copy is the price
    assert _dividing_batch(100, 256) == 256 and _dividing_batch(1000, None) is None
    assert _dividing_batch(1000, 256, 73421) == 50  # InstEval's rows: batches of about 4 M values, not 18 M
    family, link = "poisson", "log"
    df, model = _model(family, link, seed=1)
    structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize=False, centred=False)
    draws = [_params(family, link, seed=1, r=r) for r in np.linspace(-0.6, 0.6, 10)]
    samples = {k: jnp.stack([d[k] for d in draws]) for k in draws[0]}
    key = jax.random.PRNGKey(3)
    batched, whole = generated(structure, data, samples, key, batch_size=4), generated(structure, data, samples, key,
                                                                                       batch_size=None)
    assert set(batched) == set(whole)
    for name in whole:
        np.testing.assert_allclose(np.asarray(batched[name]), np.asarray(whole[name]), rtol=1e-12, atol=1e-12)


def _offset_frame(seed: int = 3):
    df, _ = _frame("poisson", "log", seed)
    rng = np.random.default_rng(seed)
    df["e"] = rng.uniform(0.5, 20.0, N_ROWS)
    df["y"] = rng.poisson(df["e"] * np.exp(0.2 + 0.3 * df["x"]))
    return df


def test_offset_shifts_eta_exactly():
    df = _offset_frame()
    with_offset = bmm.Model("y ~ x + (x | g) + offset(log(e))", df, family="poisson")
    without = bmm.Model("y ~ x + (x | g)", df, family="poisson")
    params = _params("poisson", "log", seed=3)
    log_e = np.log(df["e"].to_numpy())

    s1, d1 = compile_model(with_offset.design, with_offset.family, with_offset.prior_entries, marginalize=False, centred=False)
    s0, d0 = compile_model(without.design, without.family, without.prior_entries, marginalize=False, centred=False)
    np.testing.assert_array_equal(np.asarray(d1.offset), log_e)
    assert d0.offset is None

    # the linear predictor: exactly the offset-free one plus log(e), and the hand one
    r = {"b": params["b"], "Intercept_c": params["Intercept_c"],
         "r_0": (params["z_0"] @ params["L_0"].T) * params["sd_0"]}
    eta1, eta0 = np.asarray(linear_predictor(s1, d1, r)), np.asarray(linear_predictor(s0, d0, r))
    np.testing.assert_allclose(eta1 - eta0, log_e, rtol=0, atol=1e-12)
    np.testing.assert_allclose(eta1, _hand_eta(df, params, offset=log_e), rtol=1e-12)

    # the joint density: priors (same data, same priors) plus Poisson(e * exp(eta))
    assert with_offset.prior_entries == without.prior_entries
    expected_ll = stats.poisson.logpmf(df["y"].to_numpy(), df["e"].to_numpy() * np.exp(_hand_eta(df, params)))
    expected = _hand_log_prior(with_offset, params) + float(np.sum(expected_ll))
    assert _numpyro_log_density(with_offset, params) == pytest.approx(expected, rel=RTOL, abs=0)

    # and pointwise
    samples = {k: v[None] for k, v in params.items()}
    log_lik = np.asarray(generated(s1, d1, samples)["log_lik"])[0]
    np.testing.assert_allclose(log_lik, expected_ll, rtol=RTOL, atol=0)


def test_constant_offset_equals_intercept_shift():
    """offset(log(e)) with e = exp(c) for every row is the same likelihood as Intercept_c + c."""
    df = _offset_frame()
    c = 1.7
    df["e"] = np.exp(c)
    with_offset = bmm.Model("y ~ x + (x | g) + offset(log(e))", df, family="poisson")
    without = bmm.Model("y ~ x + (x | g)", df, family="poisson")
    params = _params("poisson", "log", seed=3)
    shifted = dict(params, Intercept_c=params["Intercept_c"] + c)
    s1, d1 = compile_model(with_offset.design, with_offset.family, with_offset.prior_entries, marginalize=False, centred=False)
    s0, d0 = compile_model(without.design, without.family, without.prior_entries, marginalize=False, centred=False)
    ll1 = np.asarray(generated(s1, d1, {k: v[None] for k, v in params.items()})["log_lik"])[0]
    ll0 = np.asarray(generated(s0, d0, {k: v[None] for k, v in shifted.items()})["log_lik"])[0]
    np.testing.assert_allclose(ll1, ll0, rtol=1e-10, atol=0)


# ------------------------------------------------------------------------------------------- priors
PRIOR_SETS = {
    "real-priors": {"Intercept": "normal(2, 3)", "b": {"x": "cauchy(0, 2)", "x2": "normal(0.5, 1.5)"},
                    "sd": {"g": {"Intercept": "half_normal(2)", "x": "exponential(1.5)"}},
                    "cor": "lkj(1.5)", "sigma": "gamma(2, 1.5)"},
    "more-priors": {"Intercept": "logistic(1, 2)", "b": {"x": "laplace(0, 1)", "x2": "student_t(4, 0, 2)"},
                    "sd": {"g": {"Intercept": "half_cauchy(1)", "x": "inverse_gamma(3, 1)"}},
                    "cor": "lkj(3)", "sigma": "lognormal(0, 1)"},
    "half-forms": {"Intercept": "student_t(5, 1, 4)", "b": "normal(0, 4)",
                   "sd": {"g": {"Intercept": "student_t(3, 0, 1.5)", "x": "normal(0, 2)"}},
                   "sigma": "cauchy(0, 1)"},
    "bounded": {"Intercept": "uniform(-10, 10)", "b": {"x": "flat", "x2": "normal(0, 3)"},
                "sd": {"g": {"Intercept": "uniform(0, 5)", "x": "gamma(2, 2)"}},
                "sigma": "exponential(1)"},
}


@pytest.mark.parametrize("name", list(PRIOR_SETS))
def test_user_priors_match_scipy(name):
    """Every prior family (grouped b / sd sites when a vector mixes distributions) against scipy."""
    df, _ = _frame("gaussian", "identity", seed=4)
    df["x2"] = np.random.default_rng(7).normal(size=N_ROWS)
    df["y"] = df["y"] + 0.3 * df["x2"]
    model = bmm.Model("y ~ x + x2 + (x | g)", df, priors=PRIOR_SETS[name])
    structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize=False, centred=False)
    entries = model.prior_entries

    b = np.array([0.4, -0.3])
    sd = np.array([0.6, 0.3])
    values = {"Intercept_c": 2.2, "b": b, "sd_0": sd, "z_0": np.random.default_rng(8).normal(size=(N_GROUPS, 2)),
              "L_0": _cholesky_2x2(-0.4), "sigma": 0.9}

    # latent sites as the program names them: one per distribution when a vector mixes them
    params = {k: v for k, v in values.items() if k not in ("b", "sd_0")}
    for site, specs, vec in (("b", [_prior(entries, "b", "", n) for n in ("x", "x2")], b),
                             ("sd_0", [_prior(entries, "sd", "g", c) for c in ("Intercept", "x")], sd)):
        dists = list(dict.fromkeys(s.dist for s in specs))
        if len(dists) == 1:
            params[site] = vec
        else:
            for dist_name in dists:
                params[f"{site}_{dist_name}"] = vec[[j for j, s in enumerate(specs) if s.dist == dist_name]]
    params = {k: jnp.asarray(v, dtype=jnp.float64) for k, v in params.items()}

    log_prior = (_prior_logpdf(_prior(entries, "Intercept"), values["Intercept_c"])
                 + sum(_prior_logpdf(_prior(entries, "b", "", n), b[j]) for j, n in enumerate(("x", "x2")))
                 + sum(_prior_logpdf(_prior(entries, "sd", "g", c), sd[j]) for j, c in enumerate(("Intercept", "x")))
                 + float(np.sum(stats.norm.logpdf(values["z_0"])))
                 + _lkj_2x2_logpdf(values["L_0"], _prior(entries, "cor", "g").args[0])
                 + _prior_logpdf(_prior(entries, "sigma"), values["sigma"]))
    x, x2 = df["x"].to_numpy(), df["x2"].to_numpy()
    _, codes = np.unique(df["g"].to_numpy(), return_inverse=True)
    r = (values["z_0"] @ values["L_0"].T) * sd
    eta = values["Intercept_c"] + (x - x.mean()) * b[0] + (x2 - x2.mean()) * b[1] + r[codes, 0] + x * r[codes, 1]
    expected = log_prior + float(np.sum(stats.norm.logpdf(df["y"].to_numpy(), eta, values["sigma"])))

    got, trace = log_density(make_model(structure), (data,), {}, params)
    assert float(got) == pytest.approx(expected, rel=RTOL, abs=0)
    # the joined vectors come back in coefficient order
    np.testing.assert_allclose(np.asarray(trace["b"]["value"]), b, rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(trace["sd_0"]["value"]), sd, rtol=0, atol=0)


# --------------------------------------------------------------------- frequency weights (brms's weights())
def _weighted_frames(family):
    rng = np.random.default_rng(5)
    base = pd.DataFrame({"g": np.repeat(list("abcde"), 6), "x": rng.normal(0, 1, 30)})
    base["y"] = rng.poisson(3, 30) if family == "poisson" else rng.normal(2 + base.x, 1)
    base["w"] = rng.integers(1, 4, 30)
    replicated = base.loc[base.index.repeat(base.w)].reset_index(drop=True)
    return base, replicated


def _weights_params(structure):
    p = {"Intercept_c": jnp.asarray(1.1), "b": jnp.asarray([0.4]), "sd_0": jnp.asarray([0.7])}
    if structure.family == "gaussian":
        p["sigma"] = jnp.asarray(0.9)
    if not structure.marginal:
        p["z_0"] = jnp.linspace(-1, 1, 5).reshape(5, 1)
    return p


@pytest.mark.parametrize("family,marginalize", [("poisson", None), ("gaussian", True), ("gaussian", False)])
def test_weights_equal_replicated_rows(family, marginalize):
    base, replicated = _weighted_frames(family)
    # same priors in both (the autoscaled defaults would differ: the data's SDs change with replication)
    priors = {"Intercept": "normal(0, 5)", "b": "normal(0, 2)", "sd": "half_normal(1)", "sigma": "half_normal(2)"}
    if family == "poisson":
        priors.pop("sigma")
    weighted = bmm.Model("y ~ x + (1 | g)", base, family=family, weights="w", priors=priors)
    copies = bmm.Model("y ~ x + (1 | g)", replicated, family=family, priors=priors)
    values = []
    for model in (weighted, copies):
        structure, data = compile_model(model.design, model.family, model.prior_entries, marginalize, centred=False)
        # centring X differs between the two data sets; compare at the same uncentred intercept
        params = _weights_params(structure)
        params["Intercept_c"] = params["Intercept_c"] + data.x_means @ params["b"]
        _, trace = log_density(make_model(structure), (data,), {}, params)
        # the likelihood part (observed sites, with their scale): priors sit at different centred intercepts
        values.append(sum(float(jnp.sum(site["fn"].log_prob(site["value"]) *
                                        (1.0 if site["scale"] is None else site["scale"])))
                          for site in trace.values() if site["type"] == "sample" and site["is_observed"]))
    assert values[0] == pytest.approx(values[1], rel=1e-10)


def test_weighted_pointwise_log_lik_scales_rows():
    base, _ = _weighted_frames("poisson")
    model = bmm.Model("y ~ x + (1 | g)", base, family="poisson", weights="w")
    plain = bmm.Model("y ~ x + (1 | g)", base, family="poisson")
    outs = []
    for m in (model, plain):
        structure, data = compile_model(m.design, m.family, m.prior_entries, centred=False)
        samples = {k: v[None] for k, v in _weights_params(structure).items()}
        outs.append(np.asarray(generated(structure, data, samples)["log_lik"])[0])
    np.testing.assert_allclose(outs[0], outs[1] * base.w.to_numpy(), rtol=1e-12)


# ----------------------------------------------------------- random effects of a family parameter's formula
def _part_data(seed=5, n=120, groups=8):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": rng.poisson(2.0, n) * (rng.uniform(size=n) > 0.3), "x": rng.normal(size=n),
                         "w": rng.integers(0, 2, n), "g": np.repeat([f"g{i}" for i in range(groups)], n // groups)})


def _part_log_density(model, params):
    structure, data = compile_model(model.design, model.family, model.prior_entries, centred=False)
    assert [b.part for b in structure.blocks] == [b.part for b in model.design.blocks]
    _, trace = log_density(make_model(structure), (data,), {}, params)
    site = trace["y"]
    return np.asarray(site["fn"].log_prob(site["value"])), trace


def test_a_zi_formulas_random_effects_enter_the_zero_inflation_probability():
    """zi = expit(X_zi b_zi + sd_zi z_zi[g]) row by row, the mean's effects only in mu (scipy by hand)."""
    df = _part_data()
    model = bmm.Model("y ~ x + (1 | g)", df, family="zero_inflated_poisson", zi="~ w + (1 | g)")
    rng = np.random.default_rng(6)
    z_mean, z_zi = rng.normal(size=(8, 1)), rng.normal(size=(8, 1))
    params = {"Intercept_c": jnp.asarray(0.7), "b": jnp.asarray([0.4]), "sd_0": jnp.asarray([0.5]),
              "z_0": jnp.asarray(z_mean), "sd_1": jnp.asarray([1.3]), "z_1": jnp.asarray(z_zi),
              "b_zi_logistic": jnp.asarray([-0.8]), "b_zi_normal": jnp.asarray([1.1])}
    pointwise, trace = _part_log_density(model, params)
    g = pd.Categorical(df["g"]).codes
    mu = np.exp(0.7 + 0.4 * (df["x"] - df["x"].mean()) + 0.5 * z_mean[g, 0])
    zi = special.expit(-0.8 + 1.1 * df["w"] + 1.3 * z_zi[g, 0])
    y = df["y"].to_numpy()
    expected = np.where(y == 0, np.log(zi + (1 - zi) * np.exp(-mu)), np.log1p(-zi) + stats.poisson.logpmf(y, mu))
    np.testing.assert_allclose(pointwise, expected, rtol=1e-10)
    sd_prior = trace["sd_1"]["fn"].log_prob(trace["sd_1"]["value"])  # class sd_zi: half_student_t(3, 2.5)
    np.testing.assert_allclose(float(jnp.sum(sd_prior)), np.log(2) + stats.t.logpdf(1.3, 3, scale=2.5), rtol=1e-10)


def test_a_dispersion_formulas_random_effects_enter_log_sigma():
    df = _part_data(7)
    df["y"] = df["y"] + df["x"]
    model = bmm.Model("y ~ x + (1 | g)", df, dispersion="~ x + (1 | g)")
    rng = np.random.default_rng(8)
    z_mean, z_sigma = rng.normal(size=(8, 1)), rng.normal(size=(8, 1))
    params = {"Intercept_c": jnp.asarray(1.2), "b": jnp.asarray([0.9]), "sd_0": jnp.asarray([0.6]),
              "z_0": jnp.asarray(z_mean), "sd_1": jnp.asarray([0.45]), "z_1": jnp.asarray(z_sigma),
              "b_sigma_student_t": jnp.asarray([0.2]), "b_sigma_normal": jnp.asarray([-0.3])}
    pointwise, _ = _part_log_density(model, params)
    g = pd.Categorical(df["g"]).codes
    mean = 1.2 + 0.9 * (df["x"] - df["x"].mean()) + 0.6 * z_mean[g, 0]
    sigma = np.exp(0.2 - 0.3 * df["x"] + 0.45 * z_sigma[g, 0])
    np.testing.assert_allclose(pointwise, stats.norm.logpdf(df["y"], mean, sigma), rtol=1e-10)
