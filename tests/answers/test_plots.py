"""Figures: the right axes holding the right data (not pixels), on the Agg backend."""
import matplotlib
import matplotlib.text

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


SUMMARY_NAMES = ["Intercept", "Days", "sd_Subject__Intercept", "sd_Subject__Days", "cor_Subject__Intercept__Days",
                 "sigma"]


def test_trace_has_a_row_per_parameter_titled_by_its_name_with_a_rank_plot(sleep_fit):
    """One row per parameter: the trace titled with its canonical name (the name fit.intervals() takes) and the
    rank plot beside it; a legend entry per chain; titles clear of the tick labels of the panel above."""
    fig = sleep_fit.plot_trace()
    trace_axes, rank_axes = fig.axes[0::2], fig.axes[1::2]
    assert [ax.get_title(loc="left") for ax in trace_axes] == SUMMARY_NAMES
    sigma = sleep_fit.idata.posterior["sigma"].values
    for chain, line in enumerate(trace_axes[5].get_lines()):
        np.testing.assert_allclose(line.get_ydata(), sigma[chain])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["chain 1", "chain 2"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for above, below, name in zip(trace_axes, trace_axes[1:], SUMMARY_NAMES[1:]):
        title = next(c for c in below.get_children() if isinstance(c, matplotlib.text.Text) and c.get_text() == name)
        ticks = [t.get_window_extent(renderer) for t in above.get_xticklabels() if t.get_visible() and t.get_text()]
        labels = [above.xaxis.label.get_window_extent(renderer)] if above.get_xlabel() else []
        for box in ticks + labels:
            assert not box.overlaps(title.get_window_extent(renderer))
    assert len(rank_axes) == 6
    with pytest.raises(bmm.BayesMMError, match="sigm"):
        sleep_fit.plot_trace(var_names=["sigm"])


def test_rank_histograms_count_each_chain_s_ranks(sleep_fit):
    """Each chain's ranks among all draws, binned: the bins of a chain add up to its draws, and the rank plot
    shows those counts."""
    from bayesmm.answers.parameter_plots import rank_histograms

    days = sleep_fit.idata.posterior["b"].sel(coef="Days").values
    counts, edges = rank_histograms(days)
    assert counts.shape == (2, 20) and (counts.sum(axis=1) == days.shape[1]).all()
    ranks = np.argsort(np.argsort(days.ravel())).reshape(days.shape) + 1
    assert counts[0, 0] == np.sum(ranks[0] <= edges[1])
    fig = sleep_fit.plot_trace(["Days"])
    np.testing.assert_allclose(fig.axes[1].patches[0].get_data()[0], counts[0])


def test_intervals_one_panel_per_scale(sleep_fit):
    fig = sleep_fit.plot_intervals()
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles == ["Intercepts", "Fixed effects", "Standard deviations", "Correlations"]
    labels = [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes]
    assert labels == [["Intercept"], ["Days"], ["sd_Subject__Intercept", "sd_Subject__Days", "sigma"],
                      ["cor_Subject__Intercept__Days"]]
    days = sleep_fit.idata.posterior["b"].sel(coef="Days").values.ravel()
    thin = fig.axes[1].collections[0].get_segments()[0]
    np.testing.assert_allclose(thin[:, 0], np.quantile(days, [0.025, 0.975]))


def test_posterior_one_panel_per_fixed_effect(sleep_fit):
    fig = sleep_fit.plot_posterior()
    assert [ax.get_title() for ax in fig.axes] == ["Intercept", "Days"]
    assert [ax.get_title() for ax in sleep_fit.plot_posterior(["sd_Subject__Days", "sigma"]).axes] == [
        "sd_Subject__Days", "sigma"]


def test_ppc_continuous_overlays_replicates(sleep_fit):
    fig = sleep_fit.plot_ppc(draws=20)
    assert "posterior_predictive" in sleep_fit.idata.groups()
    assert fig.axes[0].get_xlabel() == "Reaction"
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
    assert zeros.get_xlabel() == "proportion of zeros" and bars.get_xlabel() == "y"
    observed_line = [line for line in zeros.get_lines() if line.get_label() == "observed"][0]
    assert observed_line.get_xdata()[0] == pytest.approx(np.mean(y == 0))


def test_ranef_caterpillar_sorted_estimates(sleep_fit):
    fig = sleep_fit.plot_ranef()
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["r_Subject[·,Intercept]", "r_Subject[·,Days]"]
    ranef = sleep_fit.ranef().query("term == 'Days'").sort_values("estimate")
    ax = fig.axes[1]
    points = ax.get_lines()[0]
    np.testing.assert_allclose(np.asarray(points.get_xdata(), dtype=float), ranef["estimate"].to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(ranef["level"])
