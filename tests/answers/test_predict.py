"""fit.predict and fit.posterior_predictive on short real NUTS runs: values against the posterior draws
(the linear predictor by hand), the fitted random-effect distribution, the training encodings, offsets and
binomial trials."""
import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm

SLEEP = bmm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def sleep_fit():
    return bmm.fit("Reaction ~ Days + (Days | Subject)", SLEEP, chains=2, draws=400, warmup=400, seed=3)


def _draws(fit, name):
    values = fit.idata.posterior[name].values
    return values.reshape((-1,) + values.shape[2:])


def test_re_none_is_the_fixed_effects_linear_predictor(sleep_fit):
    new = pd.DataFrame({"Days": [0.0, 2.5, 9.0]})  # no Subject column needed without random effects
    link = sleep_fit.predict(new, kind="link", re="none", summary=False).to_numpy()
    b = _draws(sleep_fit, "b")
    expected = b[:, [0]] + b[:, [1]] * new["Days"].to_numpy()
    np.testing.assert_allclose(link, expected, rtol=1e-12)
    table = sleep_fit.predict(new, re="none")  # gaussian identity link: mean = linear predictor
    np.testing.assert_allclose(table["Estimate"], expected.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["Q2.5"], np.quantile(expected, 0.025, axis=0), rtol=1e-12)


def test_existing_subject_adds_its_draws_of_the_random_effects(sleep_fit):
    new = pd.DataFrame({"Days": [3.0], "Subject": ["309"]})
    link = sleep_fit.predict(new, kind="link", summary=False).to_numpy()[:, 0]
    b, r = _draws(sleep_fit, "b"), _draws(sleep_fit, "r_Subject")
    level = list(sleep_fit.idata.posterior["Subject__level"].values).index("309")
    np.testing.assert_allclose(link, b[:, 0] + r[:, level, 0] + 3.0 * (b[:, 1] + r[:, level, 1]), rtol=1e-12)


def test_new_data_path_matches_training_arrays(sleep_fit):
    np.testing.assert_allclose(sleep_fit.predict(SLEEP).to_numpy(), sleep_fit.predict().to_numpy(), rtol=1e-12)


def test_new_subject_has_a_wider_interval_than_an_existing_one(sleep_fit):
    new = pd.DataFrame({"Days": [5.0, 5.0], "Subject": ["308", "new subject"]})
    table = sleep_fit.predict(new)
    width = (table["Q97.5"] - table["Q2.5"]).to_numpy()
    assert width[1] > 2 * width[0]
    # the new level's intercept effect is drawn from N(0, sd_Intercept^2), draw by draw
    at_zero = pd.DataFrame({"Days": [0.0], "Subject": ["new subject"]})
    effect = (sleep_fit.predict(at_zero, kind="link", summary=False, seed=5).to_numpy()[:, 0]
              - sleep_fit.predict(at_zero, kind="link", re="none", summary=False).to_numpy()[:, 0])
    sd = _draws(sleep_fit, "sd_Subject")[:, 0]
    assert np.var(effect) == pytest.approx(np.mean(sd**2), rel=0.15)
    assert abs(np.corrcoef(np.abs(effect), sd)[0, 1]) > 0.1  # scaled by each draw's SD, not a fixed one


def test_new_levels_options(sleep_fit):
    new = pd.DataFrame({"Days": [5.0], "Subject": ["new subject"]})
    same = sleep_fit.predict(new, summary=False, seed=1).to_numpy()
    np.testing.assert_array_equal(same, sleep_fit.predict(new, summary=False, seed=1).to_numpy())
    assert not np.array_equal(same, sleep_fit.predict(new, summary=False, seed=2).to_numpy())
    population = sleep_fit.predict(new, new_levels="population", summary=False).to_numpy()
    np.testing.assert_allclose(population, sleep_fit.predict(new, re="none", summary=False).to_numpy())
    with pytest.raises(bmm.DataError, match="new subject"):
        sleep_fit.predict(new, new_levels="error")


def test_response_draws_add_the_residual_sd(sleep_fit):
    new = pd.DataFrame({"Days": [5.0], "Subject": ["308"]})
    mean = sleep_fit.predict(new, summary=False).to_numpy()[:, 0]
    response = sleep_fit.predict(new, kind="response", summary=False, seed=4).to_numpy()[:, 0]
    sigma = _draws(sleep_fit, "sigma")
    assert np.std(response - mean) == pytest.approx(np.sqrt(np.mean(sigma**2)), rel=0.1)


def test_bad_newdata_and_options_are_bayesmm_errors(sleep_fit):
    with pytest.raises(bmm.DataError, match="Days"):
        sleep_fit.predict(pd.DataFrame({"Subject": ["308"]}))
    with pytest.raises(bmm.DataError, match="Subject"):
        sleep_fit.predict(pd.DataFrame({"Days": [1.0]}))  # re='all' needs the grouping column
    with pytest.raises(bmm.DataError, match="missing values"):
        sleep_fit.predict(pd.DataFrame({"Days": [1.0, None], "Subject": ["308", "309"]}))
    for bad in ({"kind": "probability"}, {"re": "some"}, {"new_levels": "drop"}, {"prob": 1.0}, {"draws": 0}):
        with pytest.raises(bmm.BayesMMError):
            sleep_fit.predict(**bad)


def test_draws_subsamples_evenly(sleep_fit):
    assert sleep_fit.predict(draws=100, summary=False).shape == (100, 180)


def test_posterior_predictive_group(sleep_fit):
    idata = sleep_fit.posterior_predictive(seed=2)
    y_rep = idata.posterior_predictive["y"]
    # as many draws as the fit holds (the safeguard may have run its chains longer)
    chains, draws = (sleep_fit.idata.posterior.sizes[d] for d in ("chain", "draw"))
    assert y_rep.dims == ("chain", "draw", "obs_id") and y_rep.shape == (chains, draws, 180) and chains == 2
    mean = sleep_fit.predict(summary=False).to_numpy().reshape(chains, draws, 180)
    sigma = sleep_fit.idata.posterior["sigma"].values
    z = (y_rep.values - mean) / sigma[..., None]
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(1.0, abs=0.02)


def test_scale_is_reapplied_with_the_training_mean_and_sd():
    fit = bmm.fit("Reaction ~ scale(Days) + (1 | Subject)", SLEEP, chains=2, draws=200, warmup=200, seed=1)
    new = pd.DataFrame({"Days": [4.0]})  # a single row: scale() on its own would give NaN
    link = fit.predict(new, kind="link", re="none", summary=False).to_numpy()[:, 0]
    days = SLEEP["Days"].to_numpy(dtype=float)
    scaled = (4.0 - days.mean()) / days.std()  # formulae's scale(): the training mean and (population) SD
    b = _draws(fit, "b")
    np.testing.assert_allclose(link, b[:, 0] + b[:, 1] * scaled, rtol=1e-12)


def test_offsets_are_honoured():
    rng = np.random.default_rng(11)
    n = 120
    data = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(8)], n // 8), "x": rng.normal(size=n),
                         "exposure": rng.uniform(1, 5, size=n)})
    data["y"] = rng.poisson(data["exposure"] * np.exp(0.3 + 0.5 * data["x"]))
    fit = bmm.fit("y ~ x + offset(log(exposure)) + (1 | g)", data, family="poisson", chains=2, draws=200,
                  warmup=200, seed=2)
    new = pd.DataFrame({"x": [0.2, 0.2], "exposure": [1.0, 3.0], "g": ["g1", "g1"]})
    mean = fit.predict(new, summary=False).to_numpy()
    np.testing.assert_allclose(mean[:, 1] / mean[:, 0], 3.0, rtol=1e-10)


def test_binomial_trials_are_honoured():
    cbpp = bmm.datasets.load("cbpp")
    binomial = bmm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial",
                       chains=2, draws=200, warmup=200, seed=2)
    rows = cbpp.iloc[:2].copy()
    expected = binomial.predict(rows, summary=False).to_numpy()
    probability = binomial.predict(rows, trials=1, summary=False).to_numpy()
    np.testing.assert_allclose(expected, probability * rows["size"].to_numpy(), rtol=1e-10)
    counts = binomial.predict(rows, kind="response", summary=False).to_numpy()
    assert np.all(counts <= rows["size"].to_numpy()) and np.all(counts == np.round(counts))
    with pytest.raises(bmm.DataError, match="size"):
        binomial.predict(rows.drop(columns="size"))


@pytest.fixture(scope="module")
def penicillin_fit():
    """Two crossed groups: 24 plates x 6 samples."""
    return bmm.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", bmm.datasets.load("penicillin"), chains=2,
                   draws=300, warmup=300, seed=2)


def test_re_keeps_the_named_groups_only(penicillin_fit):
    """re=["plate"] (brms's re_formula = ~ (1 | plate)) is, draw by draw, the intercept plus the plate's effect;
    newdata needs no sample column then; the training rows give the same."""
    data = bmm.datasets.load("penicillin")
    new = pd.DataFrame({"plate": ["a", "new plate", "c"]})
    link = penicillin_fit.predict(new.iloc[[0, 2]], kind="link", re=["plate"], summary=False).to_numpy()
    b, r = _draws(penicillin_fit, "b"), _draws(penicillin_fit, "r_plate")
    levels = list(penicillin_fit.idata.posterior["plate__level"].values)
    expected = b[:, [0]] + r[:, [levels.index("a"), levels.index("c")], 0]
    np.testing.assert_allclose(link, expected, rtol=1e-12)
    np.testing.assert_array_equal(link, penicillin_fit.predict(new.iloc[[0, 2]], kind="link", re="plate",
                                                               summary=False).to_numpy())
    # the training rows: X b + r_plate, and neither all effects nor none
    rows = penicillin_fit.predict(kind="link", re=["plate"], summary=False).to_numpy()
    by_hand = b[:, [0]] + r[:, [levels.index(p) for p in data["plate"]], 0]
    np.testing.assert_allclose(rows, by_hand, rtol=1e-12)
    np.testing.assert_allclose(rows, penicillin_fit.predict(data[["plate"]], kind="link", re=["plate"],
                                                            summary=False).to_numpy(), rtol=1e-12)
    everything = penicillin_fit.predict(kind="link", summary=False).to_numpy()
    sample = _draws(penicillin_fit, "r_sample")
    sample_levels = list(penicillin_fit.idata.posterior["sample__level"].values)
    np.testing.assert_allclose(everything - rows, sample[:, [sample_levels.index(s) for s in data["sample"]], 0],
                               rtol=1e-9, atol=1e-9)
    population = penicillin_fit.predict(kind="link", re="none", summary=False).to_numpy()
    assert np.abs(rows - population).mean(axis=0).min() > 0 and np.abs(everything - rows).mean(axis=0).min() > 0
    # a plate the fit has not seen: its effect drawn from N(0, sd_plate^2), the sample's still left out
    unseen = penicillin_fit.predict(new.iloc[[1]], kind="link", re=["plate"], summary=False, seed=3).to_numpy()[:, 0]
    sd = _draws(penicillin_fit, "sd_plate")[:, 0]
    assert np.var(unseen - b[:, 0]) == pytest.approx(np.mean(sd**2), rel=0.2)
    # both groups by name are "all"
    np.testing.assert_array_equal(penicillin_fit.predict(kind="link", re=["sample", "plate"], summary=False),
                                  everything)


def test_re_names_that_are_not_groups_are_refused(penicillin_fit):
    with pytest.raises(bmm.BayesMMError, match=r"'plates'.*Did you mean 'plate'.*\['plate', 'sample'\]"):
        penicillin_fit.predict(re=["plates"])
    with pytest.raises(bmm.BayesMMError, match="not a formula"):
        penicillin_fit.predict(re="(1 | plate)")
    with pytest.raises(bmm.BayesMMError, match="list of grouping factors"):
        penicillin_fit.predict(re=[1])
    with pytest.raises(bmm.DataError, match="plate"):  # a kept group still needs its column
        penicillin_fit.predict(pd.DataFrame({"sample": ["A"]}), re=["plate"])


def test_re_takes_nested_groups_as_the_formula_writes_them():
    """(1 | batch/cask) is (1 | batch) + (1 | batch:cask): re="batch/cask" keeps both, re="batch:cask" one."""
    pastes = bmm.datasets.load("pastes")
    fit = bmm.fit("strength ~ 1 + (1 | batch/cask)", pastes, chains=2, draws=200, warmup=200, seed=1)
    everything = fit.predict(kind="link", summary=False).to_numpy()
    np.testing.assert_array_equal(fit.predict(kind="link", re="batch/cask", summary=False), everything)
    b, r = _draws(fit, "b"), _draws(fit, "r_batch:cask")
    levels = list(fit.idata.posterior["batch:cask__level"].values)
    inner = fit.predict(pastes[["batch", "cask"]], kind="link", re=["batch : cask"], summary=False).to_numpy()
    labels = (pastes["batch"] + ":" + pastes["cask"]).tolist()
    np.testing.assert_allclose(inner, b[:, [0]] + r[:, [levels.index(x) for x in labels], 0], rtol=1e-12)
    outer = fit.predict(pastes[["batch"]], kind="link", re=["batch"], summary=False).to_numpy()  # no cask column
    r_batch = _draws(fit, "r_batch")
    batches = list(fit.idata.posterior["batch__level"].values)
    np.testing.assert_allclose(outer, b[:, [0]] + r_batch[:, [batches.index(x) for x in pastes["batch"]], 0],
                               rtol=1e-12)


# --------------------------------------------------- random effects of a family parameter's formula
def _zip_hand(fit, new, index=None, re=True):
    """(1 - zi) mu per draw from the draws: mu = exp(b0 + b1 x + r_site), zi = expit(c0 + c1 w + r_site__zi)."""
    b, c = _draws(fit, "b"), _draws(fit, "b_zi")
    post = fit.idata.posterior
    levels = [list(post[dim].values).index(s) for dim in ("site__level", "site__zi__level") for s in new["site"]]
    n = len(new)
    eta = b[:, [0]] + b[:, [1]] * new["x"].to_numpy()
    logit = c[:, [0]] + c[:, [1]] * new["w"].to_numpy()
    if re:
        eta = eta + _draws(fit, "r_site")[:, levels[:n], 0]
        logit = logit + _draws(fit, "r_site__zi")[:, levels[n:], 0]
    return (1.0 - 1.0 / (1.0 + np.exp(-logit))) * np.exp(eta)


def test_a_zi_formulas_effects_enter_the_predicted_mean_draw_by_draw():
    from parts_fits import zip_fit

    fit = zip_fit()
    new = pd.DataFrame({"x": [0.3, -1.2, 0.0], "w": [1, 0, 1], "site": ["s03", "s07", "s12"]})
    np.testing.assert_allclose(fit.predict(new, summary=False).to_numpy(), _zip_hand(fit, new), rtol=1e-12)
    np.testing.assert_allclose(fit.predict(new, re="none", summary=False).to_numpy(), _zip_hand(fit, new, re=False),
                               rtol=1e-12)
    np.testing.assert_allclose(fit.predict(new, re=["site"], summary=False).to_numpy(), _zip_hand(fit, new),
                               rtol=1e-12)
    fitted = fit.predict(summary=False).to_numpy()  # the training rows' arrays give the same
    rows = [5, 130, 377]
    training = fit.data.iloc[rows]
    np.testing.assert_allclose(fitted[:, rows], _zip_hand(fit, training), rtol=1e-12)
    draws = fit.predict(new, kind="response", summary=False, seed=2).to_numpy()
    assert np.all(draws == np.round(draws)) and 0.2 < np.mean(draws == 0) < 0.8
    no_site = fit.predict(new[["x", "w"]], re="none")  # without random effects, no site column is needed
    np.testing.assert_allclose(no_site["Estimate"], _zip_hand(fit, new, re=False).mean(axis=0), rtol=1e-12)
    with pytest.raises(bmm.DataError, match=r"lacks the column\(s\) \['site'\]"):
        fit.predict(new[["x", "w"]])


def test_a_new_levels_effects_in_a_part_are_drawn_from_that_parts_sds():
    from bayesmm.answers.predict import family_parameters, prediction_design
    from parts_fits import zip_fit

    fit = zip_fit()
    new = pd.DataFrame({"x": [0.0, 0.0], "w": [0, 1], "site": ["new site", "s03"]})
    design = prediction_design(fit, new)
    index = np.arange(fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"])  # every draw kept
    fixed = _draws(fit, "b_zi")[:, [0]] + _draws(fit, "b_zi")[:, [1]] * new["w"].to_numpy()
    logit = lambda aux: np.log(aux["zi"]) - np.log1p(-aux["zi"])  # noqa: E731
    sampled = logit(family_parameters(fit, design, index, "sample", seed=4)) - fixed
    standardised = sampled[:, 0] / _draws(fit, "sd_site__zi")[:, 0]
    assert abs(standardised.mean()) < 0.1 and 0.92 < standardised.std() < 1.08
    np.testing.assert_allclose(sampled[:, 1], _draws(fit, "r_site__zi")[:, list(
        fit.idata.posterior["site__zi__level"].values).index("s03"), 0], rtol=1e-9)
    mean_effect = fit.predict(new, kind="link", summary=False, seed=4).to_numpy()[:, 0] - _draws(fit, "b")[:, 0]
    assert abs(np.corrcoef(mean_effect, sampled[:, 0])[0, 1]) < 0.1  # drawn apart from the mean's new effect
    population = logit(family_parameters(fit, design, index, "population")) - fixed
    np.testing.assert_allclose(population[:, 0], 0.0, atol=1e-12)
    with pytest.raises(bmm.DataError, match="'new site'"):
        fit.predict(new, new_levels="error")


def test_a_dispersion_formulas_effects_enter_sigma_draw_by_draw():
    from bayesmm.answers.predict import family_parameters, prediction_design
    from parts_fits import gaussian_disp_data, gaussian_disp_fit

    fit = gaussian_disp_fit()
    new = gaussian_disp_data().iloc[[0, 200, 599]]
    total = fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"]
    index = np.arange(0, total, 7)
    sigma = family_parameters(fit, prediction_design(fit, new), index)["sigma"]
    c, r = _draws(fit, "b_disp")[index], _draws(fit, "r_g__disp")[index]
    levels = [list(fit.idata.posterior["g__disp__level"].values).index(g) for g in new["g"]]
    np.testing.assert_allclose(sigma, np.exp(c[:, [0]] + c[:, [1]] * new["x"].to_numpy() + r[:, levels, 0]),
                               rtol=1e-12)
    response = fit.predict(new, kind="response", summary=False, seed=3).to_numpy()
    mean = fit.predict(new, summary=False).to_numpy()
    spread = np.std(response - mean, axis=0) / np.sqrt(np.mean(np.exp(2 * np.log(
        family_parameters(fit, prediction_design(fit, new), np.arange(total))["sigma"])), axis=0))
    np.testing.assert_allclose(spread, 1.0, atol=0.1)
