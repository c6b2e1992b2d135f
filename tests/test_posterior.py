"""bayesmm.posterior with random effects in a family parameter's formula: the posterior variables
(``sd_site__zi``, ``r_site__zi``), tidy()'s rows with their component, ranef()/coef()/varcorr() per component and
the brms-like summary, each checked against the draws."""
import numpy as np
import pytest

from parts_fits import gaussian_disp_fit, zip_fit


def _flat(fit, name):
    values = fit.idata.posterior[name].values
    return values.reshape((-1,) + values.shape[2:])


@pytest.fixture(scope="module")
def fit():
    return zip_fit()


def test_a_parts_draws_are_variables_of_their_own(fit):
    post = fit.idata.posterior
    assert {"sd_site", "r_site", "sd_site__zi", "r_site__zi", "b_zi"} <= set(post.data_vars)
    assert post["r_site__zi"].dims == ("chain", "draw", "site__zi__level", "site__zi__term")
    assert list(post["site__zi__level"].values) == list(post["site__level"].values) == sorted(fit.data["site"].unique())
    # the zi part's effects are its own: not a copy of the mean's
    assert np.corrcoef(_flat(fit, "r_site")[:, :, 0].mean(0), _flat(fit, "r_site__zi")[:, :, 0].mean(0))[0, 1] < 0.9


def test_tidy_rows_carry_the_component_and_brms_names(fit):
    table = fit.tidy()
    rows = list(zip(table["effect"], table["component"], table["group"], table["term"]))
    assert rows == [("fixed", "cond", "", "Intercept"), ("fixed", "cond", "", "x"),
                    ("ran_pars", "cond", "site", "sd__Intercept"), ("fixed", "zi", "", "Intercept"),
                    ("fixed", "zi", "", "w"), ("ran_pars", "zi", "site", "sd__Intercept")]
    zi_sd = table.iloc[5]
    np.testing.assert_allclose(zi_sd["estimate"], _flat(fit, "sd_site__zi").mean(), rtol=1e-12)
    np.testing.assert_allclose(zi_sd["conf_high"], np.quantile(_flat(fit, "sd_site__zi"), 0.975), rtol=1e-12)
    names = fit.intervals().index
    assert "sd_site__zi_Intercept" in names and "sd_site__Intercept" in names


def test_ranef_coef_and_varcorr_per_component(fit):
    ranef = fit.ranef()
    assert list(ranef.columns[:4]) == ["component", "group", "level", "term"]
    zi = ranef.query("component == 'zi'").set_index("level")
    r = _flat(fit, "r_site__zi")[:, :, 0]
    levels = list(fit.idata.posterior["site__zi__level"].values)
    np.testing.assert_allclose(zi.loc[levels, "estimate"], r.mean(axis=0), rtol=1e-12)
    coef = fit.coef().query("component == 'zi'").set_index("level")
    np.testing.assert_allclose(coef.loc[levels, "estimate"], (r + _flat(fit, "b_zi")[:, [0]]).mean(axis=0), rtol=1e-12)
    cond = fit.coef().query("component == 'cond'").set_index("level")
    np.testing.assert_allclose(cond.loc[levels, "estimate"],
                               (_flat(fit, "r_site")[:, :, 0] + _flat(fit, "b")[:, [0]]).mean(axis=0), rtol=1e-12)
    varcorr = fit.varcorr()
    assert [tuple(row) for row in varcorr[["component", "grp", "var1"]].to_numpy()] == [
        ("cond", "site", "Intercept"), ("zi", "site", "Intercept")]
    np.testing.assert_allclose(varcorr["sdcor"], [_flat(fit, "sd_site").mean(), _flat(fit, "sd_site__zi").mean()])


def test_the_summary_shows_a_parts_sds_under_their_group_as_brms_does(fit):
    text = str(fit)
    group = text[text.index("~site (Number of levels: 16)"):text.index("Population-Level Effects")]
    labels = [line.split()[0] for line in group.splitlines()[2:] if line.strip()]
    assert labels == ["sd(Intercept)", "sd(zi_Intercept)"]
    assert "site (zi) sampled (non-centred)" in text and "zi = logit" in text


def test_a_dispersion_parts_rows_are_disp():
    fit = gaussian_disp_fit()
    table = fit.tidy().query("component == 'disp'")
    assert list(zip(table["effect"], table["term"])) == [("fixed", "Intercept"), ("fixed", "x"),
                                                         ("ran_pars", "sd__Intercept")]
    assert "sd(disp_Intercept)" in str(fit) and "sd_g__disp_Intercept" in fit.intervals().index
