"""A design without its rows as bytes: nothing of the rows is written, and reading refuses anything but the
classes such records are made of."""
import os
import pickle

import numpy as np
import pytest

import bayesmm as bmm
from answers_fits import sleep_fit
from bayesmm import portable


def test_the_record_holds_no_row_and_reads_back_the_encoders():
    fit = sleep_fit()
    design = fit.design
    blob = portable.dumps(design.without_rows(), design.n_obs)
    # neither the response nor a column of the data is in the bytes
    assert design.y.astype(float).tobytes()[:64] not in blob
    assert np.asarray(fit.data["Reaction"], dtype=float).tobytes()[:64] not in blob
    stored = portable.loads(blob)
    assert stored.fixed_names == design.fixed_names and stored.blocks[0].levels == design.blocks[0].levels
    np.testing.assert_array_equal(stored.fixed_means, design.X.mean(axis=0))
    new = fit.data.iloc[[3, 50, 170]]
    np.testing.assert_array_equal(stored.fixed_encoder.evaluate_new_data(new).as_dataframe().to_numpy(),
                                  design.fixed_encoder.evaluate_new_data(new).as_dataframe().to_numpy())


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo unsafe",))


@pytest.mark.parametrize("value", [_Payload(), {"f": eval}, [np.load]])
def test_reading_refuses_what_is_not_a_record(value):
    with pytest.raises(bmm.BayesMMError, match="cannot be read"):
        portable.loads(pickle.dumps(value))


def test_damaged_bytes_are_a_clear_error():
    fit = sleep_fit()
    blob = portable.dumps(fit.design.without_rows(), fit.design.n_obs)
    with pytest.raises(bmm.BayesMMError, match="damaged"):
        portable.loads(blob[: len(blob) // 2])
