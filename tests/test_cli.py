"""The command line: fit -> save -> summary -> predict on a bundled CSV, reports, priors, Parquet, help and
one-line errors, in this process and through ``python -m bayesmm``."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.cli import _parser, main
from bayesmm.cli_data import read_table
from bayesmm.answers.report import SECTIONS

FORMULA = "Reaction ~ Days + (Days | Subject)"
SAMPLER = ["--chains", "2", "--draws", "300", "--warmup", "300", "--seed", "5"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    bmm.datasets.load("sleepstudy").to_csv(folder / "sleep.csv", index=False)
    pd.DataFrame({"Days": [0, 9, 9], "Subject": ["308", "308", "new"]}).to_csv(folder / "new.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def fitted(workdir):
    """Runs ``bayesmm fit ... --priors boundary --save --report`` once; returns (exit status, stdout)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["fit", str(workdir / "sleep.csv"), FORMULA, "--factors", "Subject", "--priors", "boundary",
                       "--save", str(workdir / "fit.nc"), "--report", str(workdir / "report.html"), *SAMPLER])
    return status, out.getvalue()


def test_fit_matches_the_python_api(fitted, workdir):
    status, out = fitted
    assert status == 0
    frame = pd.read_csv(workdir / "sleep.csv")
    api = bmm.fit(FORMULA, frame, priors="boundary", factors=["Subject"], chains=2, draws=300, warmup=300, seed=5)
    saved = bmm.load(workdir / "fit.nc")
    np.testing.assert_allclose(saved.tidy()["estimate"], api.tidy()["estimate"], rtol=1e-10)
    assert f"{api.fixef().loc['Days', 'Estimate']:.2f}" in out
    assert "boundary" in " ".join(saved.priors["source"])  # --priors reached the model
    assert f"Saved the fit to {workdir / 'fit.nc'}" in out


def test_fit_takes_part_formulas_and_weights(workdir, capsys):
    """--zi, --dispersion and --weights reach the model as zi=, dispersion= and weights= do in Python."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=60), "g": np.repeat(list("abcdef"), 10), "w": rng.integers(1, 3, 60)})
    frame["y"] = rng.poisson(np.exp(0.5 + 0.4 * frame["x"])) * (rng.uniform(size=60) > 0.3)
    frame.to_csv(workdir / "zip.csv", index=False)
    options = ["--chains", "1", "--draws", "100", "--warmup", "100", "--seed", "2"]
    assert main(["fit", str(workdir / "zip.csv"), "y ~ x + (1 | g)", "--family", "zero_inflated_negbinomial",
                 "--zi", "~ x", "--dispersion", "~ x", "--weights", "w", "--save", str(workdir / "zinb.nc"),
                 *options]) == 0
    saved = bmm.load(workdir / "zinb.nc")
    api = bmm.fit("y ~ x + (1 | g)", pd.read_csv(workdir / "zip.csv"), family="zero_inflated_negbinomial",
                  zi="~ x", dispersion="~ x", weights="w", chains=1, draws=100, warmup=100, seed=2)
    np.testing.assert_allclose(saved.tidy()["estimate"], api.tidy()["estimate"], rtol=1e-10)
    assert {"zi", "disp"} <= set(saved.tidy()["component"])


def test_summary_of_saved_fit_prints_the_same_table(fitted, workdir, capsys):
    _, fit_out = fitted
    assert main(["summary", str(workdir / "fit.nc")]) == 0
    summary_out = capsys.readouterr().out
    section = fit_out[fit_out.index("Population-Level Effects"):fit_out.index("Family Specific")]
    assert section in summary_out


def test_predict_round_trip(fitted, workdir, capsys):
    assert main(["predict", str(workdir / "fit.nc"), str(workdir / "new.csv"), "--out",
                 str(workdir / "pred.csv")]) == 0
    assert "Wrote 3 predictions" in capsys.readouterr().out
    pred = pd.read_csv(workdir / "pred.csv", dtype={"Subject": str})
    assert list(pred.columns[:2]) == ["Days", "Subject"] and len(pred) == 3
    saved = bmm.load(workdir / "fit.nc")
    # Subject 308's expected reaction is the mean over draws of its own line: (b0 + r0) + Days (b1 + r1).
    post = saved.idata.posterior
    b = post["b"].values.reshape(-1, 2)
    r = post["r_Subject"].sel(Subject__level="308").values.reshape(-1, 2)
    truth = np.mean((b[:, 0] + r[:, 0]) + 9 * (b[:, 1] + r[:, 1]))
    assert pred.loc[1, "Estimate"] == pytest.approx(truth, rel=1e-8)
    expected = saved.predict(pd.DataFrame({"Days": [0, 9, 9], "Subject": ["308", "308", "new"]}))
    np.testing.assert_allclose(pred["Estimate"], expected["Estimate"], rtol=1e-10)
    assert pred.loc[2, "Est.Error"] > pred.loc[1, "Est.Error"]  # a new subject adds the between-subject spread


def test_predict_population_level_to_stdout(fitted, workdir, capsys):
    assert main(["predict", str(workdir / "fit.nc"), str(workdir / "new.csv"), "--re", "none"]) == 0
    from io import StringIO

    printed = capsys.readouterr().out
    pred = pd.read_csv(StringIO(printed))
    b = bmm.load(workdir / "fit.nc").idata.posterior["b"].values.reshape(-1, 2)
    # printed to 3 significant digits of the typical Est.Error (about 10 here: one decimal)
    assert pred.loc[1, "Estimate"] == pytest.approx(np.mean(b[:, 0] + 9 * b[:, 1]), abs=0.05)
    assert pred.loc[1, "Estimate"] == pred.loc[2, "Estimate"]
    assert all(len(value.partition(".")[2]) <= 1 for line in printed.splitlines()[1:] for value in line.split(",")[2:])


def test_report_from_the_command_line(fitted, workdir):
    text = (workdir / "report.html").read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'<section id="{section}">' in text
    assert "data:image/png;base64," in text


def test_priors_list_and_show(capsys):
    assert main(["priors", "list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    assert listed == ["boundary", "brms", "default", "rstanarm", "separation", "vague"]
    assert main(["priors", "show", "separation"]) == 0
    assert "cauchy(0, 2.5" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["fit", "missing.csv", "y ~ x"], "No such file: missing.csv"),
    (["summary", "missing.nc"], "no file 'missing.nc'"),
    (["priors", "show", "bondary"], "Did you mean 'boundary'"),
    (["priors", "show"], "needs a preset name"),
])
def test_errors_print_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bayesmm: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_formula_and_family_are_one_line(workdir, capsys):
    for argv in (["fit", str(workdir / "sleep.csv"), "Reaction ~ Days + (Days | Subjct)"],
                 ["fit", str(workdir / "sleep.csv"), FORMULA, "--family", "poison"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("bayesmm: error: ") and len(err.strip().splitlines()) == 1
    with pytest.raises(bmm.BayesMMError):
        main(["fit", str(workdir / "sleep.csv"), FORMULA, "--family", "poison", "--debug"])


def test_parquet_reads_like_csv(workdir):
    pytest.importorskip("pyarrow")
    frame = bmm.datasets.load("sleepstudy")
    frame.to_parquet(workdir / "sleep.parquet")
    from_parquet = read_table(str(workdir / "sleep.parquet"), text_columns=["Subject"])
    from_csv = read_table(str(workdir / "sleep.csv"), text_columns=["Subject"])
    pd.testing.assert_frame_equal(from_parquet.astype({"Subject": str}), from_csv.astype({"Subject": str}))


def test_parquet_without_pyarrow_says_what_to_install(monkeypatch, workdir):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(bmm.DataError, match="needs pyarrow: pip install pyarrow"):
        read_table(str(workdir / "data.parquet"))


@pytest.mark.parametrize("command, options", [
    ("fit", ["--family", "--link", "--priors", "--factors", "--sep", "--centered", "--chains", "--draws", "--warmup", "--seed",
             "--target-accept", "--report", "--save", "--debug", "--zi", "--hu", "--dispersion", "--weights"]),
    ("summary", ["--report", "--debug"]),
    ("predict", ["--out", "--kind", "--re", "--new-levels", "--prob", "--seed", "--trials", "--sep", "--debug"]),
    ("example", ["--chains", "--seed", "--report", "--save", "sleepstudy", "cbpp"]),
    ("priors", ["list", "show"]),
    ("data", ["--out", "cbpp", "sleepstudy"]),
    ("means", ["--by", "--at", "--pairs", "--scale", "--re", "--weights", "--prob", "--out", "--debug"]),
    ("r2", ["--prob", "--debug"]),
])
def test_help_is_complete(command, options, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in options:
        assert option in text


def test_a_poor_fit_prints_its_status_line_first_and_once(workdir, capsys):
    """30 warmup iterations and 30 draws: the first line on standard output is the status line; the fit's
    BayesMMWarning (the same text) is not repeated on standard error."""
    assert main(["fit", str(workdir / "sleep.csv"), FORMULA, "--factors", "Subject", "--chains", "2", "--draws", "30",
                 "--warmup", "30", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    first = captured.out.splitlines()[0]
    assert first.startswith("WARNING: not converged: Rhat ") and first.endswith(". See the advice after the summary.")
    assert " for " in first and "divergence" in first
    assert "WARNING: not converged" not in captured.err
    assert captured.out.splitlines()[2] == " Family: gaussian "
    # the advice is commands to type: flags, not Python arguments
    advice = captured.out[captured.out.index("\nAdvice:\n"):]
    assert f"bayesmm fit {workdir / 'sleep.csv'} \"{FORMULA}\" --factors Subject" in advice
    assert "--warmup 1000 --draws 1000 --seed 1" in advice  # a short run: the cause named, its remedy as flags
    assert "target_accept=" not in captured.out and "bmm." not in advice and "fit.diagnose" not in captured.out


@pytest.mark.slow  # a NUTS run in a fresh process (~6 s); the fast tests above run `fit` in this process
def test_command_line_example_and_errors(tmp_path):
    run = subprocess.run([sys.executable, "-m", "bayesmm", "example", "sleepstudy", "--chains", "2", "--draws",
                          "200", "--warmup", "200", "--seed", "3"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "Group-Level Effects:" in run.stdout and "~Subject (Number of levels: 18)" in run.stdout
    csv = tmp_path / "sleep.csv"
    bmm.datasets.load("sleepstudy").to_csv(csv, index=False)
    bad = subprocess.run([sys.executable, "-m", "bayesmm", "fit", str(csv), "Reaction ~ Dayz + (1 | Subject)"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2
    assert bad.stderr.startswith("bayesmm: error: Column 'Dayz'") and "Did you mean 'Days'?" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.fixture(scope="module")
def cbpp_saved(workdir):
    """A binomial fit saved with and without its data: (fit, path with data, path without)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bmm.BayesMMWarning)
        fit = bmm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", bmm.datasets.load("cbpp"),
                      family="binomial", chains=2, draws=300, warmup=300, seed=2)
    return fit, fit.save(workdir / "cbpp.nc"), fit.save(workdir / "cbpp_lean.nc", data=False)


def test_means_pairs_and_r2_print_the_fits_tables(cbpp_saved, workdir, capsys):
    fit, path, lean = cbpp_saved
    assert main(["means", path, "period", "--out", str(workdir / "means.csv")]) == 0
    assert "Wrote 4 rows" in capsys.readouterr().out
    means, expected = pd.read_csv(workdir / "means.csv", dtype={"period": str}), fit.means("period")
    assert list(means.columns) == list(expected.columns) and list(means["period"]) == ["1", "2", "3", "4"]
    np.testing.assert_allclose(means.iloc[:, 1:], expected.iloc[:, 1:], rtol=1e-12)
    assert main(["means", path, "period", "--pairs", "--re", "average", "--out", str(workdir / "pairs.csv")]) == 0
    pairs, expected = pd.read_csv(workdir / "pairs.csv"), fit.comparisons("period", re="average")
    assert list(pairs["contrast"]) == list(expected["contrast"])
    np.testing.assert_allclose(pairs.iloc[:, 1:], expected.iloc[:, 1:], rtol=1e-12)
    assert list(pairs["contrast"])[0] == "period1 / period2"  # odds ratios on the response scale
    assert main(["means", path, "period", "--re", "herd=3", "--out", str(workdir / "herd3.csv")]) == 0
    herd3 = pd.read_csv(workdir / "herd3.csv", dtype={"period": str})
    np.testing.assert_allclose(herd3["estimate"], fit.means("period", re={"herd": "3"})["estimate"], rtol=1e-12)
    assert main(["r2", path]) == 0
    printed = capsys.readouterr().out
    r2 = fit.r2()
    for measure in ("marginal", "conditional", "bayes"):
        assert measure in printed and f"{r2.loc[measure, 'conf_high']:.4f}"[:5] in printed  # every column shown
    # a fit saved without its data: means and R² need the rows, predictions for new rows do not
    assert main(["r2", lean]) == 2 and "data=False" in capsys.readouterr().err
    new = workdir / "herds.csv"
    pd.DataFrame({"period": ["1", "4"], "herd": ["1", "99"], "size": [10, 10], "incidence": [0, 0]}).to_csv(new,
                                                                                                          index=False)
    assert main(["predict", lean, str(new), "--re", "herd"]) == 0
    from io import StringIO

    from bayesmm.cli_data import rounded

    predicted = pd.read_csv(StringIO(capsys.readouterr().out))
    expected = fit.predict(pd.read_csv(new, dtype={"period": str, "herd": str}), re=["herd"])
    # printed to the digits that show the posterior SD (--out keeps every digit)
    np.testing.assert_allclose(predicted["Estimate"], rounded(expected)["Estimate"], rtol=1e-12)
    assert np.all(np.abs(predicted["Estimate"] - expected["Estimate"]) < 0.01 * expected["Est.Error"])


@pytest.mark.parametrize("argv, message", [
    (["means", "{path}", "perod"], "Did you mean 'period'"),
    (["means", "{path}", "period", "--at", "size"], "--at takes NAME=V1,V2"),
    (["predict", "{path}", "{new}", "--re", "farm"], "re names 'farm', which is not a grouping factor"),
])
def test_means_and_predict_errors_are_one_line(cbpp_saved, workdir, argv, message, capsys):
    _, path, _ = cbpp_saved
    new = workdir / "one_herd.csv"
    pd.DataFrame({"period": ["1"], "herd": ["1"], "size": [10], "incidence": [0]}).to_csv(new, index=False)
    assert main([a.format(path=path, new=new) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bayesmm: error:") and message in err and len(err.strip().splitlines()) == 1
