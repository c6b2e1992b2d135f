"""Conditional effects (brms's conditional_effects): the table's estimates against the posterior draws worked by
hand and against lme4/glmmTMB's population-level predictions on the same grid (tests/reference/effects.json,
from tests/reference/effects_reference.R); the figure's lines, legend and data points; bad input."""
import functools
import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from scipy.special import expit  # noqa: E402

import bayesmm as bmm  # noqa: E402
from answers_fits import SHORT, cbpp_fit  # noqa: E402
from bayesmm import naming  # noqa: E402
from bayesmm.answers.effects import effects_table, plot_effects  # noqa: E402
from reference_tools import REFERENCE  # noqa: E402

ORTHODONT = bmm.datasets.load("orthodont")
SALAMANDERS = bmm.datasets.load("salamanders")
R = json.loads((REFERENCE / "effects.json").read_text())
ESTIMATES = ["estimate", "std_error", "conf_low", "conf_high"]


@functools.lru_cache(maxsize=None)
def orthodont_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("distance ~ age * Sex + (age | Subject)", ORTHODONT, seed=1, **SHORT)


@functools.lru_cache(maxsize=None)
def zip_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        return bmm.fit("count ~ cover * DOP + mined + (1 | site)", SALAMANDERS, family="zero_inflated_poisson",
                       seed=1, **SHORT)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _fixed_draws(fit) -> np.ndarray:
    b = fit.idata.posterior[naming.variable("fixed")].values
    return b.reshape(-1, b.shape[-1])


def _summary(draws: np.ndarray) -> dict:
    """(draws x rows) -> the table's columns, as predict_table summarises (mean, SD, equal-tailed 95%)."""
    low, high = np.quantile(draws, [0.025, 0.975], axis=0)
    return {"estimate": draws.mean(axis=0), "std_error": draws.std(axis=0, ddof=1), "conf_low": low,
            "conf_high": high}


def _orthodont_X(age, male) -> np.ndarray:
    age, male = np.asarray(age, float), np.asarray(male, float)
    return np.column_stack([np.ones_like(age), age, male, age * male])  # Intercept, age, Sex[Male], age:Sex[Male]


def test_gaussian_line_per_level_of_by_is_the_mean_over_draws_of_X_b():
    fit = orthodont_fit()
    assert fit.design.fixed_names == ("Intercept", "age", "Sex[Male]", "age:Sex[Male]")
    table = effects_table(fit, "age", by="Sex", resolution=7)
    assert list(table.columns) == ["age", "Sex"] + ESTIMATES  # re="none": no Subject column
    np.testing.assert_allclose(table["age"], np.tile(np.linspace(8, 14, 7), 2))
    assert list(table["Sex"]) == ["Female"] * 7 + ["Male"] * 7
    draws = _fixed_draws(fit) @ _orthodont_X(table["age"], table["Sex"] == "Male").T
    for column, expected in _summary(draws).items():
        np.testing.assert_allclose(table[column], expected, rtol=1e-10, err_msg=column)


def test_gaussian_line_agrees_with_lme4_on_the_same_grid():
    reference = R["orthodont"]["grid"]
    table = effects_table(orthodont_fit(), "age", by="Sex", resolution=4)
    np.testing.assert_allclose(table["age"], reference["age"])
    assert list(table["Sex"]) == reference["Sex"]
    # posterior mean of X b against lme4's REML X b: the same up to a fraction of the posterior SD
    difference = np.abs(table["estimate"].to_numpy() - np.array(reference["estimate"]))
    assert np.all(difference < 0.2 * table["std_error"].to_numpy()), difference


def test_at_fixes_a_held_predictor_and_chooses_the_effect_and_by_values():
    fit = orthodont_fit()
    both = effects_table(fit, "age", by="Sex", resolution=7)
    male = effects_table(fit, "age", at={"Sex": "Male", "age": [14, 8]})
    assert list(male["age"]) == [8.0, 14.0] and set(male["Sex"]) == {"Male"}
    expected = both[(both["Sex"] == "Male") & both["age"].isin([8.0, 14.0])]
    np.testing.assert_allclose(male["estimate"], expected["estimate"], rtol=1e-10)
    one_curve = effects_table(fit, "age", by="Sex", at={"Sex": ["Male"]}, resolution=7)
    np.testing.assert_allclose(one_curve["estimate"], both["estimate"][7:], rtol=1e-10)


def test_re_all_adds_the_random_effects_of_the_level_at_names():
    fit = orthodont_fit()
    table = effects_table(fit, "age", re="all", at={"Subject": "M01"}, resolution=3)
    assert list(table["Subject"]) == ["M01"] * 3 and list(table["Sex"]) == ["Female"] * 3
    effects = fit.idata.posterior[naming.variable("ranef", "Subject")].sel(Subject__level="M01").values
    effects = effects.reshape(-1, 2)  # Intercept, age
    age = table["age"].to_numpy()
    draws = _fixed_draws(fit) @ _orthodont_X(age, np.zeros(3)).T + effects[:, [0]] + effects[:, [1]] * age
    np.testing.assert_allclose(table["estimate"], draws.mean(axis=0), rtol=1e-10)
    named = effects_table(fit, "age", re=["Subject"], at={"Subject": "M01"}, resolution=3)
    np.testing.assert_allclose(named["estimate"], table["estimate"], rtol=1e-12)


def test_figure_has_a_line_and_band_per_level_named_in_the_legend_and_the_data_as_points():
    fit = orthodont_fit()
    table = effects_table(fit, "age", by="Sex")
    fig = fit.plot_effects("age", by="Sex")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2
    for line, sex in zip(lines, ["Female", "Male"]):
        rows = table[table["Sex"] == sex]
        assert len(line.get_xdata()) == 100
        np.testing.assert_allclose(line.get_xdata(), rows["age"])
        np.testing.assert_allclose(line.get_ydata(), rows["estimate"])
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
    assert not [c for c in ax.collections if isinstance(c, PathCollection)]
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "Sex"
    assert [t.get_text() for t in legend.get_texts()] == ["Female", "Male"]
    assert ax.get_xlabel() == "age" and "distance" in ax.get_ylabel()

    ax = fit.plot_effects("age", by="Sex", points=True).axes[0]
    (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    offsets = np.asarray(scatter.get_offsets())
    assert len(offsets) == len(ORTHODONT)
    np.testing.assert_allclose(np.sort(offsets[:, 1]), np.sort(ORTHODONT["distance"]))


def test_factor_effect_dodges_points_per_value_of_a_numeric_by_at_mean_and_one_sd():
    fit = orthodont_fit()
    ages = ORTHODONT["age"].mean() + np.array([-1, 0, 1]) * ORTHODONT["age"].std()
    table = effects_table(fit, "Sex", by="age")
    np.testing.assert_allclose(table["age"], np.repeat(ages, 2))
    assert list(table["Sex"]) == ["Female", "Male"] * 3
    ax = plot_effects(fit, "Sex", by="age", points=True).axes[0]
    assert len(ax.containers) == 3
    positions = []
    for container, age in zip(ax.containers, ages):
        marker = container.lines[0]
        np.testing.assert_allclose(marker.get_ydata(), table.loc[np.isclose(table["age"], age), "estimate"])
        positions.append(marker.get_xdata())
    assert np.all(np.diff(np.array(positions), axis=0) > 0)  # side by side within each level
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "age"
    np.testing.assert_allclose([float(t.get_text()) for t in legend.get_texts()], np.round(ages, 2))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Female", "Male"]
    (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatter.get_offsets()) == len(ORTHODONT)


def test_plot_draws_into_a_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_effects(orthodont_fit(), "age", ax=right, resolution=5) is fig
    assert len(right.get_lines()) == 1 and not left.get_lines()


def test_binomial_effect_is_the_inverse_logit_averaged_per_draw_and_points_are_proportions():
    fit = cbpp_fit()
    assert fit.design.fixed_names == ("Intercept", "period[2]", "period[3]", "period[4]")
    table = effects_table(fit, "period")
    assert list(table["period"]) == ["1", "2", "3", "4"]
    b = _fixed_draws(fit)
    X = np.vstack([np.zeros(3), np.eye(3)])
    draws = expit(b[:, [0]] + b[:, 1:] @ X.T)
    for column, expected in _summary(draws).items():
        np.testing.assert_allclose(table[column], expected, rtol=1e-10, err_msg=column)
    link = effects_table(fit, "period", kind="link")
    np.testing.assert_allclose(link["estimate"], (b[:, [0]] + b[:, 1:] @ X.T).mean(axis=0), rtol=1e-10)

    ax = fit.plot_effects("period", points=True).axes[0]
    assert ax.get_ylabel() == "P(success)"
    np.testing.assert_allclose(ax.containers[0].lines[0].get_ydata(), table["estimate"])
    (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    cbpp = bmm.datasets.load("cbpp")
    offsets = np.asarray(scatter.get_offsets())
    assert len(offsets) == len(cbpp)
    np.testing.assert_allclose(np.sort(offsets[:, 1]), np.sort(cbpp["incidence"] / cbpp["size"]))
    assert np.all(np.abs(offsets[:, 0] - np.round(offsets[:, 0])) <= 0.2)  # jittered around their level


def test_zero_inflated_mean_includes_the_zeros_by_a_numeric_predictor():
    fit = zip_fit()
    assert fit.design.fixed_names == ("Intercept", "cover", "DOP", "cover:DOP", "mined[yes]")
    dop = SALAMANDERS["DOP"].mean() + np.array([-1, 0, 1]) * SALAMANDERS["DOP"].std()
    table = effects_table(fit, "cover", by="DOP", resolution=3)
    cover = np.linspace(SALAMANDERS["cover"].min(), SALAMANDERS["cover"].max(), 3)
    np.testing.assert_allclose(table["cover"], np.tile(cover, 3))
    np.testing.assert_allclose(table["DOP"], np.repeat(dop, 3))
    assert set(table["mined"]) == {"no"}
    x, z = table["cover"].to_numpy(), table["DOP"].to_numpy()
    X = np.column_stack([np.ones_like(x), x, z, x * z, np.zeros_like(x)])
    eta = _fixed_draws(fit) @ X.T
    zi = fit.idata.posterior["zi"].values.reshape(-1, 1)
    for column, expected in _summary((1 - zi) * np.exp(eta)).items():
        np.testing.assert_allclose(table[column], expected, rtol=1e-10, err_msg=column)
    link = effects_table(fit, "cover", by="DOP", resolution=3, kind="link")
    np.testing.assert_allclose(link["estimate"], eta.mean(axis=0), rtol=1e-10)

    # glmmTMB's plug-in predictions on the same grid (R builds DOP's mean -/+ 1 SD itself)
    reference = R["salamanders_zip"]["grid"]
    np.testing.assert_allclose(table["cover"], reference["cover"], rtol=1e-8)
    np.testing.assert_allclose(table["DOP"], reference["DOP"], rtol=1e-8, atol=1e-9)
    assert np.all(np.abs(link["estimate"] - reference["link"]) < 0.2 * link["std_error"])
    # the posterior mean of (1 - zi) exp(eta) sits above the plug-in (Jensen), within 0.4 posterior SD
    assert np.all(np.abs(table["estimate"] - reference["estimate"]) < 0.4 * table["std_error"])

    ax = fit.plot_effects("cover", by="DOP", points=True).axes[0]
    assert len(ax.get_lines()) == 3
    np.testing.assert_allclose([float(t.get_text()) for t in ax.get_legend().get_texts()], np.round(dop, 2))
    (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatter.get_offsets()) == len(SALAMANDERS)


BAD_TABLE_INPUT = [
    (dict(effect="agee"), r"effect='agee'.*Did you mean 'age'"),
    (dict(effect="age", by="Sexx"), r"by='Sexx'.*Did you mean 'Sex'"),
    (dict(effect="distance"), r"effect='distance' is not a predictor of the fixed part"),
    (dict(effect="Subject"), r"effect='Subject' is not a predictor"),
    (dict(effect="age", by="age"), r"by='age' is the effect itself"),
    (dict(effect="age", at={"weight": 1}), r"at names 'weight'"),
    (dict(effect="age", at=[1, 2]), r"at must be a dict"),
    (dict(effect="age", at={"Sex": "Other"}), r"at\['Sex'\] has level\(s\) \['Other'\]"),
    (dict(effect="age", at={"age": ["old"]}), r"at\['age'\] must hold finite numbers"),
    (dict(effect="age", at={"age": []}), r"at\['age'\] is empty"),
    (dict(effect="age", at={"Sex": ["Male", "Female"]}), r"at\['Sex'\] holds 2 values.*by='Sex'"),
    (dict(effect="age", resolution=1), r"resolution must be a whole number .* at least 2, not 1"),
    (dict(effect="age", resolution=2.5), r"resolution .* not 2.5"),
    (dict(effect="age", kind="response"), r"kind must be 'mean'.*'link'"),
    (dict(effect="age", prob=1.5), r"prob must be a number strictly between 0 and 1"),
]


@pytest.mark.parametrize("options, message", BAD_TABLE_INPUT, ids=[m for _, m in BAD_TABLE_INPUT])
def test_bad_input_names_the_culprit(options, message):
    fit = orthodont_fit()
    with pytest.raises(bmm.BayesMMError, match=message):
        effects_table(fit, **options)
    with pytest.raises(bmm.BayesMMError, match=message):
        fit.plot_effects(**options)


def test_bad_plot_options_name_the_culprit():
    fit = orthodont_fit()
    with pytest.raises(bmm.BayesMMError, match="points must be True"):
        fit.plot_effects("age", points="yes")
    with pytest.raises(bmm.BayesMMError, match="ax must be a matplotlib Axes"):
        fit.plot_effects("age", ax="left")
    with pytest.raises(bmm.BayesMMError, match="kind='mean' to overlay the data"):
        cbpp_fit().plot_effects("period", kind="link", points=True)
