"""Figures: the right axes holding the right data (not pixels), on the Agg backend."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import bayesmm as bmm  # noqa: E402

SLEEP = bmm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def sleep_fit():
    return bmm.fit("Reaction ~ Days + (Days | Subject)", SLEEP, chains=2, draws=300, warmup=300, seed=2)


@pytest.fixture(scope="module")
def count_fit():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(10), 20)
    x = rng.normal(size=200)
    y = rng.poisson(np.exp(0.5 + 0.5 * x + rng.normal(0, 0.3, 10)[g]))
    data = pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "f": np.where(g % 2 == 0, "a", "b")})
    return bmm.fit("y ~ x + f + (1 | g)", data, family="poisson", chains=2, draws=300, warmup=300, seed=2)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_trace_has_a_row_per_parameter_group(sleep_fit):
    fig = sleep_fit.plot_trace()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["b", "b", "sd_Subject", "sd_Subject", "sigma", "sigma"]
    # right-hand column: the draws of each chain against the draw index
    trace_lines = fig.axes[5].get_lines()
    sigma = sleep_fit.idata.posterior["sigma"].values
    np.testing.assert_allclose(np.sort(trace_lines[0].get_ydata()), np.sort(sigma[0]))
    with pytest.raises(bmm.BayesMMError, match="sigm"):
        sleep_fit.plot_trace(var_names=["sigm"])


def test_posterior_one_panel_per_fixed_effect(sleep_fit):
    fig = sleep_fit.plot_posterior()
    assert [ax.get_title().split("\n")[-1] for ax in fig.axes] == ["Intercept", "Days"]


def test_ppc_continuous_overlays_replicates(sleep_fit):
    fig = sleep_fit.plot_ppc(draws=20)
    assert "posterior_predictive" in sleep_fit.idata.groups()
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("Observed" in label for label in labels)
    assert len(fig.axes[0].get_lines()) >= 20


def test_ppc_discrete_bars_hold_the_observed_counts(count_fit):
    fig = count_fit.plot_ppc()
    bars, zeros = fig.axes
    y = count_fit.design.y
    heights = [patch.get_height() for patch in bars.patches]
    expected = [np.sum(y == v) for v in range(int(y.max()) + 1)]
    assert heights == expected
    assert zeros.get_xlabel() == "proportion of zeros"
    observed_line = [line for line in zeros.get_lines() if line.get_label() == "observed"][0]
    assert observed_line.get_xdata()[0] == pytest.approx(np.mean(y == 0))


def test_ranef_caterpillar_sorted_estimates(sleep_fit):
    fig = sleep_fit.plot_ranef()
    assert [ax.get_title() for ax in fig.axes] == ["Subject: Intercept", "Subject: Days"]
    ranef = sleep_fit.ranef().query("term == 'Days'").sort_values("estimate")
    ax = fig.axes[1]
    points = ax.get_lines()[0]
    np.testing.assert_allclose(np.asarray(points.get_xdata(), dtype=float), ranef["estimate"].to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(ranef["level"])
