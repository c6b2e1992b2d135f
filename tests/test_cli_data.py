"""The command line's data and argument checks: delimiters sniffed or given, numbers that code categories
(--factors / factors=), a stray text value in a number column, output paths checked before sampling, hints for
flags of other tools and swapped arguments, advice phrased as flags, --trials for binomial predictions, the
report's reproduce snippet, and tables printed whole."""
import contextlib
import io
import re
import subprocess
import sys
import tomllib
import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.answers.remedies import formula_code, refit_code
from bayesmm.cli import main
from bayesmm.cli_data import read_table
from bayesmm.phrasing import for_command_line

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
SHORT = ["--chains", "2", "--draws", "300", "--warmup", "300", "--seed", "3"]


def _cbpp_numeric() -> pd.DataFrame:
    """cbpp as a CSV file reads it: herd and period as numbers."""
    frame = bmm.datasets.load("cbpp")
    return frame.astype({"herd": int, "period": int})


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("always")
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_data")
    sleep = bmm.datasets.load("sleepstudy")
    sleep.to_csv(path / "sleep.csv", index=False)
    sleep.to_csv(path / "sleep.tsv", index=False, sep="\t")
    sleep.to_csv(path / "sleep_semicolon.csv", index=False, sep=";")
    sleep.to_csv(path / "sleep_decimal_comma.csv", index=False, sep=";", decimal=",")
    bad = sleep.astype({"Reaction": object})
    bad.loc[4, "Reaction"] = "n/a?"
    bad.to_csv(path / "sleep_bad.csv", index=False)
    _cbpp_numeric().to_csv(path / "cbpp.csv", index=False, sep=";")
    return path


@pytest.mark.parametrize("name, sep, said", [("sleep.tsv", "\t", "tab-separated"),
                                             ("sleep_semicolon.csv", ";", "semicolon-separated"),
                                             ("sleep_decimal_comma.csv", ";", "semicolon-separated with decimal commas"),
                                             ("sleep.csv", ",", None)])
def test_the_delimiter_is_sniffed_and_named(folder, name, sep, said, capsys):
    frame = read_table(str(folder / name))
    pd.testing.assert_frame_equal(frame, pd.read_csv(folder / "sleep.csv"))
    assert frame.attrs["sep"] == sep
    err = capsys.readouterr().err
    assert (said in err and "--sep" in err) if said else err == ""


def test_sep_takes_a_name_or_the_character(folder, capsys):
    for sep in ("tab", "\t", "\\t"):
        assert read_table(str(folder / "sleep.tsv"), sep).shape == (180, 3)
    assert read_table(str(folder / "sleep_decimal_comma.csv"), "semicolon")["Reaction"].dtype == float
    assert capsys.readouterr().err == ""  # given, not sniffed: nothing to say


def test_a_tab_separated_file_fits(folder):
    """The file that once gave "Did you mean 'Reaction\\tDays\\tSubject'?" fits as its CSV does."""
    status, out, err = _run(["fit", str(folder / "sleep.tsv"), "Reaction ~ Days + (1 | Subject)", *SHORT])
    assert status == 0 and "Read " in err and "tab-separated" in err
    expected = bmm.fit("Reaction ~ Days + (1 | Subject)", pd.read_csv(folder / "sleep.csv"), chains=2, draws=300,
                       warmup=300, seed=3)
    assert f"{expected.fixef().loc['Days', 'Estimate']:.2f}" in out


def test_a_stray_value_in_a_number_column_names_column_row_and_value(folder):
    status, out, err = _run(["fit", str(folder / "sleep_bad.csv"), "Reaction ~ Days + (1 | Subject)"])
    assert status == 2 and out == ""
    assert "Column 'Reaction' holds numbers except 1 value: 'n/a?' (line 6 of" in err and "dtype" not in err
    with pytest.raises(bmm.DataError, match=r"Column 'Reaction' holds numbers except 1 value: 'n/a\?' \(row 4\)"):
        bmm.Model("Reaction ~ Days + (1 | Subject)", pd.read_csv(folder / "sleep_bad.csv"))
    frame = pd.read_csv(folder / "sleep.csv").astype({"Days": object})
    frame.loc[[3, 7], "Days"] = ["three", "1,5"]
    with pytest.raises(bmm.DataError, match=r"Column 'Days' holds numbers except 2 values: 'three' \(row 3\), '1,5' "
                                            r"\(row 7\).*factors=\['Days'\]"):
        bmm.Model("Reaction ~ Days + (1 | Subject)", frame)


def test_a_column_of_labels_is_not_taken_for_numbers():
    frame = bmm.datasets.load("cbpp")
    frame["herd"] = ["h" + h if int(h) > 1 else h for h in frame["herd"]]  # '1', 'h2', 'h3', ...: labels
    bmm.Model(CBPP, frame, family="binomial", factors=["period"])


def test_numbers_coding_categories_get_a_warning_naming_the_column():
    data = _cbpp_numeric()
    with pytest.warns(bmm.BayesMMWarning, match=r"Column 'period' holds only the whole numbers 1 to 4 .*one slope"
                                                r".*factors=\['period'\]"):
        model = bmm.Model(CBPP, data, family="binomial")
    assert model.design.fixed_names == ("Intercept", "period")
    with for_command_line("cbpp.csv"), pytest.warns(bmm.BayesMMWarning, match="--factors period"):
        bmm.Model(CBPP, data, family="binomial")
    with warnings.catch_warnings():  # counts from 0 (Days) and measurements (age 8-14) are numbers: no warning
        warnings.simplefilter("error", bmm.BayesMMWarning)
        bmm.Model("Reaction ~ Days + (1 | Subject)", bmm.datasets.load("sleepstudy"))
        bmm.Model("distance ~ age + (1 | Subject)", bmm.datasets.load("orthodont"))
        bmm.Model(CBPP, data, family="binomial", factors=["period"])


def test_factors_make_numbers_categories_in_numeric_order():
    data = _cbpp_numeric()
    model = bmm.Model(CBPP, data, family="binomial", factors="period")
    assert model.design.fixed_names == ("Intercept", "period[2]", "period[3]", "period[4]")
    # the same design as the bundled data's text column
    text = bmm.Model(CBPP, bmm.datasets.load("cbpp"), family="binomial")
    np.testing.assert_array_equal(model.design.X, text.design.X)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"y": rng.normal(size=120), "dose": np.tile(np.arange(1, 13), 10),
                          "g": np.repeat(np.arange(10), 12)})
    names = bmm.Model("y ~ dose + (1 | g)", frame, factors=["dose"]).design.fixed_names
    assert names[1:] == tuple(f"dose[{k}]" for k in range(2, 13))  # 2, 3, ..., 10, 11, 12; not 10, 11, 12, 2
    with pytest.raises(bmm.DataError, match="factors=\\['perod'\\] names 'perod'.*Did you mean 'period'"):
        bmm.Model(CBPP, data, family="binomial", factors=["perod"])


def test_command_line_factors_and_unknown_factors(folder):
    status, _, err = _run(["fit", str(folder / "cbpp.csv"), CBPP, "--family", "binomial", "--factors", "perod"])
    assert status == 2 and "--factors perod names 'perod'" in err and "Did you mean 'period'?" in err


@pytest.mark.parametrize("option, path, message", [
    ("--report", "out.pdf", "--report out.pdf: cannot write that format; name it .html or .md"),
    ("--save", "nodir/fit.nc", "--save nodir/fit.nc: the folder nodir does not exist"),
    ("--save", "fit.rds", "name it .nc"),
    ("--report", "nodir/r.html", "the folder nodir does not exist"),
])
def test_output_paths_are_checked_before_sampling(folder, option, path, message, monkeypatch):
    monkeypatch.chdir(folder)
    status, out, err = _run(["fit", "sleep.csv", "Reaction ~ Days + (1 | Subject)", option, path])
    assert status == 2 and message in err
    assert out == ""  # no summary: nothing was sampled


@pytest.mark.parametrize("argv, hint", [
    (["fit", "d.csv", "y ~ x", "--iter", "2000"], "--iter 2000. Use --draws (brms's iter counts warmup + draws"),
    (["fit", "d.csv", "y ~ x", "--adapt-delta", "0.99"], "Use --target-accept"),
    (["fit", "d.csv", "y ~ x", "--famly", "poisson"], "Did you mean '--family'?"),
])
def test_flags_of_other_tools_get_the_flag_to_use(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and hint in capsys.readouterr().err


def test_swapped_arguments_get_the_right_order(folder, monkeypatch):
    monkeypatch.chdir(folder)
    status, _, err = _run(["fit", "Reaction ~ Days + (1 | Subject)", "sleep.csv"])
    assert status == 2
    assert 'The data file comes first, then the formula: bayesmm fit sleep.csv "Reaction ~ Days + (1 | Subject)"' in err
    status, _, err = _run(["predict", "new.csv", "fit.nc"])
    assert status == 2 and "The saved fit comes first, then the new data file: bayesmm predict fit.nc new.csv" in err


@pytest.fixture(scope="module")
def cbpp_cli(folder):
    """``bayesmm fit cbpp.csv ... --factors period --save --report`` on the semicolon file; (stdout, fit)."""
    status, out, err = _run(["fit", str(folder / "cbpp.csv"), CBPP, "--family", "binomial", "--factors", "period",
                             "--save", str(folder / "cbpp.nc"), "--report", str(folder / "cbpp.md"), *SHORT])
    assert status == 0, err
    return out, bmm.load(folder / "cbpp.nc")


def test_cli_factors_fit_as_python_factors(cbpp_cli, folder):
    out, saved = cbpp_cli
    assert "period[2]" in out and "period[4]" in out
    api = bmm.fit(CBPP, pd.read_csv(folder / "cbpp.csv", sep=";"), family="binomial", factors=["period"], chains=2,
                  draws=300, warmup=300, seed=3)
    np.testing.assert_allclose(saved.tidy()["estimate"], api.tidy()["estimate"], rtol=1e-10)
    # lme4's glmer on cbpp: period2 -0.992, period4 -1.582 (tests/reference/cbpp_binomial.lme4.json)
    fixef = saved.fixef()["Estimate"]
    assert fixef["period[2]"] == pytest.approx(-0.99, abs=0.3) and fixef["period[4]"] == pytest.approx(-1.58, abs=0.4)


def test_the_report_snippet_reads_the_data_as_the_command_line_did(cbpp_cli, folder, monkeypatch):
    _, saved = cbpp_cli
    text = (folder / "cbpp.md").read_text(encoding="utf-8")
    snippet = re.search(r"```(?:python)?\n(import bayesmm as bmm\n.*?)```", text, flags=re.S).group(1)
    assert f"data = pd.read_csv({str(folder / 'cbpp.csv')!r}, sep=';')" in snippet
    assert "factors=('period',)" in snippet
    monkeypatch.chdir(folder)
    scope = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(snippet, scope)  # the snippet runs as it stands and gives the same draws
    np.testing.assert_allclose(scope["fit"].tidy()["estimate"], saved.tidy()["estimate"], rtol=1e-10)


def test_predict_takes_trials_for_a_cbind_fit(cbpp_cli, folder):
    _, saved = cbpp_cli
    pd.DataFrame({"herd": [1, 1, 99], "period": [1, 4, 2]}).to_csv(folder / "new_herds.csv", index=False)
    status, _, err = _run(["predict", str(folder / "cbpp.nc"), str(folder / "new_herds.csv")])
    assert status == 2 and "lacks the column(s) ['incidence', 'size']" in err and "--trials 10" in err
    status, out, _ = _run(["predict", str(folder / "cbpp.nc"), str(folder / "new_herds.csv"), "--trials", "20"])
    assert status == 0
    printed = pd.read_csv(io.StringIO(out))
    expected = saved.predict(pd.DataFrame({"herd": [1, 1, 99], "period": [1, 4, 2]}), trials=20)
    # counts out of 20 with an Est.Error of about 1 to 3: printed to two decimals
    np.testing.assert_allclose(printed["Estimate"], expected["Estimate"], atol=0.005)
    assert all(len(v.partition(".")[2]) <= 2 for line in out.splitlines()[1:] for v in line.split(",")[2:])
    status, out, _ = _run(["predict", str(folder / "cbpp.nc"), str(folder / "new_herds.csv"), "--trials", "herd"])
    assert status == 0 and pd.read_csv(io.StringIO(out))["Estimate"].iloc[2] > printed["Estimate"].iloc[2]


def test_advice_on_the_command_line_names_flags(cbpp_cli, folder):
    _, fit = cbpp_cli
    with for_command_line("cbpp.csv", ("--sep", "semicolon")):
        refit = refit_code(fit, target_accept=0.99)
        boundary = formula_code(fit, priors="boundary")
        stronger = formula_code(fit, priors={"sd": {"herd": {"Intercept": "half_normal(0.5)"}}})
    start = f'bayesmm fit cbpp.csv "{CBPP}" --sep semicolon --family binomial '
    for command in (refit, boundary):
        assert command.startswith(start) and "--factors period --chains 2 " in command
    assert "--target-accept 0.99" in refit and "target_accept=" not in refit
    assert "--priors boundary" in boundary
    # a prior for one parameter: a TOML file written by the line before, which bayesmm reads as that prior
    write, command = stronger.split("\n")
    assert write.startswith("printf") and write.endswith("> priors.toml") and "--priors priors.toml" in command
    subprocess.run(write, shell=True, cwd=folder, check=True)
    assert tomllib.loads((folder / "priors.toml").read_text()) == {"sd": {"herd": {"Intercept": "half_normal(0.5)"}}}
    model = bmm.Model(CBPP, fit.data, family="binomial", priors=str(folder / "priors.toml"))
    assert "half_normal(0.5)" in list(model.priors["prior"])
    assert refit_code(fit, target_accept=0.99).startswith("fit = bmm.update(fit, ")  # Python outside the block


def test_advice_on_an_example_writes_the_bundled_data_first(cbpp_cli, folder, capsys):
    """``bayesmm example cbpp``'s advice to change the model: the user has no cbpp.csv, so a line writes it with
    ``bayesmm data``, and the command reads it with the flags that make herd and period factors again."""
    _, fit = cbpp_cli
    frame = bmm.datasets.load("cbpp")
    with for_command_line("cbpp.csv", bmm.datasets.reading_flags(frame), example="cbpp"):
        write, command = formula_code(fit, priors="boundary").split("\n")
        rerun = refit_code(fit, target_accept=0.99)
    assert write == "bayesmm data cbpp --out cbpp.csv"
    assert command.startswith(f'bayesmm fit cbpp.csv "{CBPP}" --factors herd,period --family binomial ')
    assert rerun.startswith("bayesmm example cbpp ") and "\n" not in rerun  # same model: the example itself
    assert main(["data", "cbpp", "--out", str(folder / "bundled.csv")]) == 0
    assert "Wrote cbpp (56 rows)" in capsys.readouterr().err
    read = read_table(str(folder / "bundled.csv"))
    assert read.astype({"herd": str, "period": str}).equals(frame)  # the same table once --factors applies
    assert main(["data", "cbp"]) == 2 and "Did you mean 'cbpp'?" in capsys.readouterr().err


def test_priors_list_wraps_at_words(capsys):
    assert main(["priors", "list"]) == 0
    out = capsys.readouterr().out
    from bayesmm.prior_rules import PRESET_DIR

    description = " ".join(tomllib.loads((PRESET_DIR / "rstanarm.toml").read_text())["description"].split())
    block = out[out.index("rstanarm "):out.index("\nseparation ")]
    assert " ".join(block.split()[1:]) == description  # whole, every word intact
    assert max(len(line) for line in out.splitlines()) <= 100


def test_printed_priors_show_every_prior_whole():
    """In a plain script (no terminal) pandas would cut the table to 80 characters and elide the priors."""
    code = ("import bayesmm as bmm; m = bmm.Model('Reaction ~ Days + (Days | Subject)', "
            "bmm.datasets.load('sleepstudy')); print(m.priors); print(list(m.priors['prior']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    table, listed = out.rsplit("\n", 2)[0], eval(out.rsplit("\n", 2)[1])  # noqa: S307 - our own printout
    assert "..." not in table
    for prior in listed:
        assert prior in table
