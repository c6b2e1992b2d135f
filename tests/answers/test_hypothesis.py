"""fit.hypothesis (bayesmm.answers.hypothesis): brms's hypothesis table against the draws, the Savage-Dickey
ratio of a point hypothesis against the closed-form prior, linear combinations of any parameters, and the
errors for what it cannot read (short NUTS runs, shared through answers_fits.py)."""
import numpy as np
import pytest
from scipy import stats

import bayesmm as bmm
from answers_fits import null_fit, sleep_fit
from bayesmm.answers.evidence import log_density_at


@pytest.fixture(scope="module")
def sleep():
    return sleep_fit()


@pytest.fixture(scope="module")
def null():
    return null_fit(0)


def days(fit):
    return fit.idata.posterior["b"].sel(coef="Days").values.ravel()


def test_hypothesis_days_above_5_is_the_share_of_draws(sleep):
    table = sleep.hypothesis("Days > 5")
    draws = days(sleep)
    row = table.iloc[0]
    assert row["Hypothesis"] == "(Days)-(5) > 0"
    assert row["Post.Prob"] == np.mean(draws > 5)  # exactly
    assert row["Estimate"] == pytest.approx(draws.mean() - 5)
    assert row["Est.Error"] == pytest.approx(draws.std(ddof=1))
    assert row["CI.Lower"] == pytest.approx(np.quantile(draws - 5, 0.05)) and row["CI.Upper"] == np.inf
    p = row["Post.Prob"]
    assert row["Evid.Ratio"] == (np.inf if p == 1 else pytest.approx(p / (1 - p)))
    assert row["Star"] == "*"


def test_several_hypotheses_and_any_parameter(sleep):
    table = sleep.hypothesis(["Days < 10", "sd_Subject__Days > sigma / 10", "Days = 10",
                              "r_Subject[308, Days] - r_Subject[309,Days] > 0"])
    assert list(table["Hypothesis"]) == ["(Days)-(10) < 0", "(sd_Subject__Days)-(sigma/10) > 0", "(Days)-(10) = 0",
                                         "(r_Subject[308,Days]-r_Subject[309,Days]) > 0"]
    post = sleep.idata.posterior
    assert table.loc[0, "Post.Prob"] == np.mean(days(sleep) < 10)
    assert table.loc[0, "CI.Lower"] == -np.inf
    sd_days = post["sd_Subject"].values[..., 1].ravel()
    assert table.loc[1, "Post.Prob"] == np.mean(sd_days > post["sigma"].values.ravel() / 10)
    r = post["r_Subject"].sel(Subject__term="Days")
    diff = (r.sel(Subject__level="308") - r.sel(Subject__level="309")).values.ravel()
    assert table.loc[3, "Post.Prob"] == np.mean(diff > 0)
    # point hypothesis: Savage-Dickey with the closed-form normal prior of Days, evaluated at 10
    prior = next(e.prior for e in sleep.prior_entries if e.coef == "Days")
    expected = np.exp(log_density_at(days(sleep) - 10, 0.0)[0]) / stats.norm(0, prior.args[1]).pdf(10)
    assert table.loc[2, "Evid.Ratio"] == pytest.approx(expected, rel=1e-9)
    assert table.loc[2, "Post.Prob"] == pytest.approx(expected / (1 + expected))
    assert (table.loc[2, "CI.Lower"], table.loc[2, "CI.Upper"]) == pytest.approx(
        tuple(np.quantile(days(sleep) - 10, [0.025, 0.975])))


def test_hypothesis_linear_combination_of_factor_levels(null):
    table = null.hypothesis("f[b] - f[c] = 0")
    post = null.idata.posterior["b"]
    diff = (post.sel(coef="f[b]") - post.sel(coef="f[c]")).values.ravel()
    row = table.iloc[0]
    assert row["Estimate"] == pytest.approx(diff.mean())
    assert row["Star"] == ""  # the simulated levels are equal
    # normal priors on both: the prior of the difference is normal(0, sqrt(s_b^2 + s_c^2))
    scales = [next(e.prior for e in null.prior_entries if e.coef == c).args[1] for c in ("f[b]", "f[c]")]
    prior_at_0 = stats.norm(0, np.hypot(*scales)).pdf(0)
    assert row["Evid.Ratio"] == pytest.approx(stats.norm(diff.mean(), diff.std()).pdf(0) / prior_at_0, rel=0.15)
    assert row["Evid.Ratio"] > 1


def test_hypothesis_errors(sleep):
    with pytest.raises(bmm.BayesMMError, match=r"names 'Dayz'.*Did you mean 'Days'.*Valid names"):
        sleep.hypothesis("Dayz > 5")
    with pytest.raises(bmm.BayesMMError, match="exactly one comparison"):
        sleep.hypothesis("Days")
    with pytest.raises(bmm.BayesMMError, match="exactly one comparison"):
        sleep.hypothesis("0 < Days < 5")
    with pytest.raises(bmm.BayesMMError, match="not finite"):
        sleep.hypothesis("log(Days - 100) > 0")
    for text in ["Days % 2 > 0", "exp(Days, 2) > 0"]:
        with pytest.raises(bmm.BayesMMError, match="Cannot read"):
            sleep.hypothesis(text)
    for text in ["Days > 1j", "Days > True", "Days > 'a'"]:
        with pytest.raises(bmm.BayesMMError):
            sleep.hypothesis(text)
    with pytest.raises(bmm.BayesMMError, match="not a parameter"):
        sleep.hypothesis("Days.__class__ > 0")
    with pytest.raises(bmm.BayesMMError, match="names no parameter"):
        sleep.hypothesis("1 > 0")
    with pytest.raises(bmm.BayesMMError):
        sleep.hypothesis(5)
