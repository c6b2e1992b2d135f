"""The link table: the numpy and jax inverse links agree, invert the link, and stay in the range the table
says; every family's link is in it."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest

from bayesmm.families import FAMILIES, part_link
from bayesmm.links import LINKS, NUMPY_INVERSE_LINKS
from bayesmm.model.likelihoods import INVERSE_LINKS

numpyro.enable_x64()  # as every fit does

#: linear predictors where each link's mean is finite and in its family's range
ETA = {"identity": np.linspace(-50, 50, 41), "log": np.linspace(-30, 30, 41), "logit": np.linspace(-30, 30, 41),
       "probit": np.linspace(-8, 8, 41), "cloglog": np.linspace(-30, 3, 41), "inverse": np.linspace(0.01, 40, 41),
       "sqrt": np.linspace(0.01, 40, 41)}
RANGES = {"real": lambda mu: np.isfinite(mu), "positive": lambda mu: mu > 0, "non-negative": lambda mu: mu >= 0,
          "unit": lambda mu: (mu >= 0) & (mu <= 1)}


def test_every_link_of_every_family_is_in_the_table():
    used = {link for family in FAMILIES.values() for link in family.links}
    used |= {part_link(aux.name) for family in FAMILIES.values() for aux in family.aux}  # zi = ..., phi = ...
    assert used == set(LINKS) == set(ETA) == set(NUMPY_INVERSE_LINKS) == set(INVERSE_LINKS)


@pytest.mark.parametrize("name", list(LINKS))
def test_numpy_and_jax_inverse_links_agree(name):
    eta = ETA[name]
    numpy_mu = NUMPY_INVERSE_LINKS[name](eta)
    jax_mu = np.asarray(jax.jit(INVERSE_LINKS[name])(jnp.asarray(eta)))
    np.testing.assert_allclose(jax_mu, numpy_mu, rtol=1e-14)


@pytest.mark.parametrize("name", list(LINKS))
def test_inverse_inverts_the_link(name):
    eta = ETA[name]
    if LINKS[name].mean_range == "unit":  # a mean of 1 - 1e-13 keeps few digits
        eta = eta[np.abs(eta) <= (5 if name == "probit" else 12)]
    mu = NUMPY_INVERSE_LINKS[name](eta)
    np.testing.assert_allclose(LINKS[name].link(mu), eta, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(LINKS))
def test_mean_range(name):
    record = LINKS[name]
    wide = np.linspace(-30, 30, 121)
    wide = wide[wide != 0]
    assert np.all(RANGES[record.mean_range](NUMPY_INVERSE_LINKS[name](wide))), name
    if record.mean_range in ("real", "non-negative"):  # such a link can leave a positive mean's range
        assert np.any(NUMPY_INVERSE_LINKS[name](np.append(wide, 0.0 if name == "sqrt" else -1.0)) <= 0), name


def test_families_guard_positive_means_on_links_that_leave_the_range():
    edge = {(family.name, link) for family in FAMILIES.values() for link in family.links
            if family.with_link(link).default_target_accept == 0.95 and family.target_accept < 0.95}
    assert edge == {(family.name, link) for family in FAMILIES.values() for link in family.links
                    if family.response in ("count", "positive") and link in ("identity", "inverse", "sqrt")
                    and family.target_accept < 0.95}
