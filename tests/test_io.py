"""fit.save and bmm.load: an exact round trip (draws, tables, encodings for new data), the stored data's
dtypes, and clear errors for truncated or foreign files."""
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesmm as bmm
from answers_fits import cbpp_fit, null_data, sleep_fit
from bayesmm.io import decode_frame, encode_frame


def quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return call(*args, **kwargs)


def round_trip(fit, tmp_path, name="fit.nc"):
    path = tmp_path / name
    assert fit.save(path) == str(path)
    return bmm.load(path)


def assert_same_fit(fit, loaded):
    assert set(loaded.idata.groups()) == set(fit.idata.groups())
    for group in fit.idata.groups():
        xr.testing.assert_identical(getattr(loaded.idata, group).drop_attrs(),
                                    getattr(fit.idata, group).drop_attrs())
    pd.testing.assert_frame_equal(loaded.tidy(), fit.tidy())
    pd.testing.assert_frame_equal(loaded.tidy(prob=0.8, interval="hdi"), fit.tidy(prob=0.8, interval="hdi"))
    pd.testing.assert_frame_equal(quiet(loaded.pvalues), quiet(fit.pvalues))
    pd.testing.assert_frame_equal(loaded.ranef(), fit.ranef())
    pd.testing.assert_frame_equal(loaded.priors, fit.priors)
    assert loaded.formula == fit.formula and loaded.family == fit.family and loaded.settings == fit.settings
    assert loaded.data_name == fit.data_name and str(loaded) == str(fit)
    assert [e.prior for e in loaded.prior_entries] == [e.prior for e in fit.prior_entries]
    assert [e.source for e in loaded.prior_entries] == [e.source for e in fit.prior_entries]
    a, b = loaded.design, fit.design
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.fixed_names == b.fixed_names
    for p, q in zip(a.blocks, b.blocks):
        assert p.levels == q.levels and p.columns == q.columns
        np.testing.assert_array_equal(p.group_index, q.group_index)
        np.testing.assert_array_equal(p.Z, q.Z)


def test_sleepstudy_round_trip_is_exact(tmp_path):
    fit = sleep_fit()
    loaded = round_trip(fit, tmp_path)
    assert_same_fit(fit, loaded)
    hypotheses = ["Days > 5", "Days = 10"]
    pd.testing.assert_frame_equal(loaded.hypothesis(hypotheses), fit.hypothesis(hypotheses))
    pd.testing.assert_frame_equal(loaded.data, fit.data)
    assert loaded.idata.posterior.attrs["formula"] == fit.formula
    # a loaded fit saves again to the same content
    again = round_trip(loaded, tmp_path, "again.nc")
    assert_same_fit(fit, again)


def test_glmm_round_trip_and_encodings_for_new_data(tmp_path):
    fit = cbpp_fit()
    loaded = round_trip(fit, tmp_path)
    assert_same_fit(fit, loaded)
    assert quiet(loaded.loo).elpd_loo == quiet(fit.loo).elpd_loo
    new = pd.DataFrame({"incidence": [1, 2], "size": [10, 12], "period": ["3", "1"], "herd": ["1", "99"]})
    encoded = [f.design.fixed_encoder.evaluate_new_data(new).as_dataframe() for f in (fit, loaded)]
    pd.testing.assert_frame_equal(*encoded)
    assert list(encoded[0].iloc[0]) == [1.0, 0.0, 1.0, 0.0]  # period 3 against the reference level 1


def test_stateful_transforms_factors_and_priors_survive(tmp_path):
    """scale(x) keeps the training mean and SD; a categorical keeps its level order; user priors stay."""
    data = null_data(3)
    data["f"] = pd.Categorical(data["f"], categories=["c", "a", "b"])
    data.index = [f"row{i}" for i in range(len(data))]
    priors = {"b": {"scale(x)": "normal(0, 0.5)"}, "sigma": "exponential(1)"}
    fit = bmm.fit("y ~ scale(x) + f + (1 | g)", data, priors=priors, chains=1, draws=300, warmup=300, seed=3)
    loaded = round_trip(fit, tmp_path)
    assert_same_fit(fit, loaded)
    assert list(loaded.idata.posterior["coef"].values) == ["Intercept", "scale(x)", "f[a]", "f[b]"]
    new = pd.DataFrame({"x": [0.0, 2.5], "f": pd.Categorical(["b", "c"], categories=["c", "a", "b"])})
    encoded = [f.design.fixed_encoder.evaluate_new_data(new).as_dataframe() for f in (fit, loaded)]
    pd.testing.assert_frame_equal(*encoded)
    expected = (np.array([0.0, 2.5]) - data["x"].mean()) / data["x"].std(ddof=0)
    np.testing.assert_allclose(encoded[0]["scale(x)"], expected, rtol=1e-6)
    assert loaded.priors.set_index("class").loc["sigma", "source"] == "user"
    if hasattr(fit, "predict"):  # predict(), where this version has it
        pd.testing.assert_frame_equal(loaded.predict(new.assign(g=["g1", "new"]), seed=1),
                                      fit.predict(new.assign(g=["g1", "new"]), seed=1))


def test_stored_data_is_exact_for_every_supported_dtype():
    frame = pd.DataFrame({
        "float": [0.1, np.nan, 1e-300, 2.0 / 3.0],
        "int": np.array([1, -2, 3, 2**40], dtype=np.int64),
        "flag": [True, False, True, True],
        "text": pd.array(["a", None, "ü", ""], dtype="str"),
        "objects": np.array(["x", "y", "x", "z"], dtype=object),
        "ordered": pd.Categorical(["lo", "hi", "mid", "lo"], categories=["lo", "mid", "hi"], ordered=True),
        "numbers": pd.Categorical([3, 1, 2, 3]),
        "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
        "when": pd.to_datetime(["2020-01-01", "2021-06-30", "1999-12-31", "2024-02-29"]),
    }, index=pd.Index([10, 20, 30, 40], name="id"))
    layout, variables = encode_frame(frame)
    group = xr.Dataset({k: ("row_" + k, v) for k, v in variables.items()})
    decoded = decode_frame(layout, group)
    pd.testing.assert_frame_equal(decoded, frame)
    assert decoded["ordered"].cat.ordered and list(decoded["ordered"].cat.categories) == ["lo", "mid", "hi"]


def test_truncated_foreign_and_missing_files_are_clear_errors(tmp_path):
    fit = sleep_fit()
    path = tmp_path / "fit.nc"
    fit.save(path)
    content = path.read_bytes()
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(content[: len(content) // 2])
    with pytest.raises(bmm.BayesMMError, match="truncated"):
        bmm.load(truncated)
    text = tmp_path / "notes.nc"
    text.write_text("not a netCDF file\n")
    with pytest.raises(bmm.BayesMMError, match="not a readable netCDF file"):
        bmm.load(text)
    foreign = tmp_path / "foreign.nc"
    fit.idata.to_netcdf(str(foreign))  # ArviZ's file without bayesmm's model record
    with pytest.raises(bmm.BayesMMError, match="not a bayesmm fit file"):
        bmm.load(foreign)
    with pytest.raises(bmm.BayesMMError, match="no file"):
        bmm.load(tmp_path / "missing.nc")


def test_save_overwrites_and_refuses_a_fit_without_its_data(tmp_path):
    import dataclasses

    fit = sleep_fit()
    path = tmp_path / "fit.nc"
    path.write_text("old content")
    fit.save(path)
    assert bmm.load(path).formula == fit.formula
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]  # no temporary file left behind
    with pytest.raises(bmm.BayesMMError, match="does not keep its training data"):
        dataclasses.replace(fit, data=None).save(tmp_path / "other.nc")
    changed = fit.data.assign(Reaction=fit.data["Reaction"] + 1)
    with pytest.raises(bmm.BayesMMError, match="changed after fitting"):
        dataclasses.replace(fit, data=changed).save(tmp_path / "other.nc")
    assert not (tmp_path / "other.nc").exists()


def test_a_fit_saved_without_its_data_predicts_new_data_as_the_original(tmp_path):
    """data=False: no column of the data in the file; the encoders (scale(), poly(), contrasts, a dispersion
    formula, random slopes) are stored, so tables and predictions on new data are those of the original."""
    data = null_data(4)
    data["f"] = pd.Categorical(data["f"], categories=["c", "a", "b"])
    fit = quiet(bmm.fit, "y ~ scale(x) + poly(x, 2) + f + (1 + x | g)", data, dispersion="~ f", chains=1, draws=200,
                warmup=200, seed=2)
    path = tmp_path / "lean.nc"
    fit.save(path, data=False)
    with xr.open_dataset(path, group="bayesmm_model", engine="h5netcdf") as stored:
        assert list(stored.data_vars) == ["record"]  # no row_* variable: no column of the data
        assert stored["record"].size < 100_000
    loaded = bmm.load(path)
    assert loaded.data is None and not loaded.design.has_rows
    pd.testing.assert_frame_equal(loaded.tidy(), fit.tidy())
    pd.testing.assert_frame_equal(quiet(loaded.pvalues), quiet(fit.pvalues))
    pd.testing.assert_frame_equal(loaded.hypothesis("scale(x) > 0"), fit.hypothesis("scale(x) > 0"))
    pd.testing.assert_frame_equal(loaded.priors, fit.priors)
    assert quiet(loaded.loo).elpd_loo == quiet(fit.loo).elpd_loo and str(loaded) == str(fit)
    new = pd.DataFrame({"x": [-1.5, 0.0, 3.0], "f": pd.Categorical(["b", "c", "a"], categories=["c", "a", "b"]),
                        "g": [data["g"].iloc[0], data["g"].iloc[-1], "a new group"]})
    for kind in ("mean", "response", "link"):
        pd.testing.assert_frame_equal(loaded.predict(new, kind=kind, seed=4), fit.predict(new, kind=kind, seed=4))
    # what needs the training rows says so
    for call in (loaded.predict, loaded.plot_ppc, lambda: loaded.plot_effects("x"), lambda: bmm.update(loaded)):
        with pytest.raises(bmm.BayesMMError, match="data=False"):
            call()
    # saved again without data it reads back the same; with data it cannot be
    again = tmp_path / "again.nc"
    loaded.save(again, data=False)
    pd.testing.assert_frame_equal(bmm.load(again).predict(new, seed=4), fit.predict(new, seed=4))
    with pytest.raises(bmm.BayesMMError, match="save it with data=False"):
        loaded.save(tmp_path / "other.nc")
    with pytest.raises(bmm.BayesMMError, match="data must be True"):
        fit.save(tmp_path / "other.nc", data="no")


def test_a_fit_with_random_effects_in_its_zi_formula_round_trips(tmp_path):
    """The zi part's blocks, draws, tables and its new-level predictions survive save/load, with and without the
    training data."""
    from parts_fits import zip_fit

    fit = zip_fit()
    assert_same_fit(fit, round_trip(fit, tmp_path))
    pd.testing.assert_frame_equal(round_trip(fit, tmp_path, "b.nc").varcorr(), fit.varcorr())
    path = tmp_path / "rows.nc"
    fit.save(path, data=False)
    loaded = bmm.load(path)
    assert [(b.group, b.part) for b in loaded.design.blocks] == [("site", "cond"), ("site", "zi")]
    new = pd.DataFrame({"x": [0.5, -1.0], "w": [0, 1], "site": ["s04", "unseen"]})
    pd.testing.assert_frame_equal(loaded.predict(new, seed=3), fit.predict(new, seed=3))
    pd.testing.assert_frame_equal(loaded.tidy(), fit.tidy())


@pytest.mark.slow
def test_a_spatial_fit_with_a_position_per_row_saved_without_its_data_krigs_as_the_original(tmp_path):
    """An exp field with one position per row: its positions are as many as the rows, and are the structure's own
    record (kept by data=False, not dropped as a column of the data), so new positions are kriged as by the
    original."""
    rng = np.random.default_rng(6)
    sites = np.round(rng.uniform(0, 10, (24, 2)), 3)
    distance = np.sqrt(((sites[:, None] - sites[None]) ** 2).sum(-1))
    data = pd.DataFrame({"x": sites[:, 0], "y2": sites[:, 1], "g": "field"})
    data["y"] = 1.0 + np.linalg.cholesky(np.exp(-distance / 2) + 1e-9 * np.eye(24)) @ rng.normal(size=24)
    fit = quiet(bmm.fit, "y ~ 1 + exp(x + y2 + 0 | g)", data, chains=1, draws=200, warmup=200, seed=3)
    assert fit.design.blocks[0].structure.positions.shape == (len(data), 2)
    path = tmp_path / "field.nc"
    fit.save(path, data=False)
    loaded = bmm.load(path)
    np.testing.assert_array_equal(loaded.design.blocks[0].structure.positions, fit.design.blocks[0].structure.positions)
    new = pd.DataFrame({"x": [0.5, 5.0, sites[0, 0]], "y2": [9.5, 5.0, sites[0, 1]], "g": "field"})
    for kind in ("mean", "response"):
        pd.testing.assert_frame_equal(loaded.predict(new, kind=kind, seed=5), fit.predict(new, kind=kind, seed=5))
    pd.testing.assert_frame_equal(loaded.tidy(), fit.tidy())
