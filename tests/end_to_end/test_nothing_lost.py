"""Nothing lost, nothing silent: rows dropped for missing values are counted in the warning, in the
printed summary and in ``fit.idata`` attributes, and the count survives save/load. (The other items have
their tests elsewhere: bit-identical seeds in tests/test_fit.py::test_same_seed_same_draws_bit_for_bit, Rhat
and divergence findings in tests/answers/test_diagnostics.py, every InferenceData group and setting through
save/load in tests/test_io.py::assert_same_fit, extreme data in tests/sampler/test_potential.py.)"""
from __future__ import annotations

import re

import numpy as np
import pytest

import bayesmm as bmm

SLEEP = bmm.datasets.load("sleepstudy")
pytestmark = pytest.mark.slow  # one short fit and a save/load: ~15-45 s on the shared 2-core machine


@pytest.fixture(scope="module")
def holes():
    data = SLEEP.copy()
    data.loc[[3, 50, 51], "Reaction"] = np.nan
    data.loc[[50, 120], "Days"] = np.nan  # row 50 misses both: 4 rows dropped, 5 missing values
    return data


@pytest.fixture(scope="module")
def fit_with_holes(holes):
    with pytest.warns(bmm.BayesMMWarning) as record:
        fit = bmm.fit("Reaction ~ Days + (1 | Subject)", holes, chains=1, draws=100, warmup=100, seed=2,
                      progress=False)
    return fit, [str(w.message) for w in record]


def test_dropped_rows_are_counted_in_the_warning(fit_with_holes):
    _, messages = fit_with_holes
    (message,) = [m for m in messages if m.startswith("Dropped")]
    assert "Dropped 4 of 180 rows" in message
    assert "Reaction (3)" in message and "Days (2)" in message


def test_dropped_rows_are_counted_in_the_summary_and_the_attributes(fit_with_holes, tmp_path):
    fit, _ = fit_with_holes
    assert fit.design.n_obs == 176
    assert re.search(r"\b176\b.*4 rows with missing values dropped", str(fit), re.S)
    assert fit.idata.posterior.attrs["n_dropped_rows"] == 4
    loaded = bmm.load(fit.save(tmp_path / "holes.nc"))
    assert loaded.idata.posterior.attrs["n_dropped_rows"] == 4
    assert "4 rows with missing values dropped" in str(loaded)
    np.testing.assert_array_equal(loaded.design.row_labels, fit.design.row_labels)
    assert 50 not in set(fit.design.row_labels) and 49 in set(fit.design.row_labels)
