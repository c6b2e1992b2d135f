"""The progress line and Ctrl-C (bayesmm.sampler.progress, bayesmm.sampler.ticks): a line per stage on standard
error, in order, ended by a newline; silent when asked or when nobody watches; the same draws either way; Ctrl-C
stops the chains, raises ``KeyboardInterrupt`` and leaves the process able to fit again."""
from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import warnings

import bayesmm as bmm  # before jax: bmm sets the CPU device count, which jax fixes once imported  # noqa: I001
from bayesmm.sampler.progress import showing

import numpy as np
import pytest

SLEEP = "Reaction ~ Days + (Days | Subject)"
ROOT = pathlib.Path(__file__).parents[2]


@pytest.fixture(scope="module")
def model():
    return bmm.Model(SLEEP, bmm.datasets.load("sleepstudy"))


def _final_lines(err: str) -> list[str]:
    """Each line of standard error as it reads at its end (its last rewrite after ``\\r``)."""
    return [line.rsplit("\r", 1)[-1].strip() for line in err.split("\n") if line.strip()]


def test_progress_line_shows_each_stage_in_order_and_changes_no_draw(model, capsys, monkeypatch):
    """``progress=True``: a sampling line (rewritten in place, its percent never going back, ending at 100%),
    then a summarising line, the whole ending with a newline; ``progress=False``: nothing; the default in a
    terminal shows it too; the three fits have the very same draws."""
    settings = dict(chains=2, draws=300, warmup=300, seed=4, refit=False)
    shown = model.fit(progress=True, **settings)
    err = capsys.readouterr().err
    quiet = model.fit(progress=False, **settings)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    in_terminal = model.fit(**settings)
    terminal_err = capsys.readouterr().err

    assert err.endswith("\n")
    lines = _final_lines(err)
    stages = [line.split()[1] for line in lines]
    assert stages[-2:] == ["sampling", "summarising"] and set(stages) <= {"compiling", "sampling", "summarising"}
    assert lines[-2].startswith("bayesmm: sampling 2 chains 100% ... ") and "draws/s" in lines[-2]
    sampling = err.split("\n")[stages.index("sampling")]
    percents = [int(p) for p in re.findall(r"(\d+)%", sampling)]
    assert percents == sorted(percents) and percents[-1] == 100
    assert _final_lines(terminal_err)[-1].startswith("bayesmm: summarising")
    for other in (quiet, in_terminal):
        np.testing.assert_array_equal(shown.idata.posterior["b"].values, other.idata.posterior["b"].values)
        np.testing.assert_array_equal(shown.idata.sample_stats["energy"].values,
                                      other.idata.sample_stats["energy"].values)


def test_shown_by_default_in_a_terminal_or_a_jupyter_kernel(monkeypatch):
    """``progress=None`` shows the line where someone watches: a terminal, or a Jupyter kernel (an IPython shell
    of the kernel's class; its standard error is a pipe); not in an IPython terminal's pipe or a script's log."""
    from bayesmm.sampler.progress import shows

    assert not shows(None) and shows(True) and not shows(False)  # pytest captures standard error
    shell_class = {}
    ipython = type(sys)("IPython")
    ipython.get_ipython = lambda: shell_class["shell"]()
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    shell_class["shell"] = type("TerminalInteractiveShell", (), {})
    assert not shows(None)
    shell_class["shell"] = type("ZMQInteractiveShell", (), {})
    assert shows(None) and not shows(False)


def test_a_warning_starts_on_a_line_of_its_own(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with showing(True) as line:
            line.stage("sampling", "sampling 2 chains  40%")
            warnings.warn("a note", bmm.BayesMMWarning)
            assert capsys.readouterr().err == "bayesmm: sampling 2 chains  40%\n"
            line.update("sampling 2 chains  60%")
    err = capsys.readouterr().err
    assert err.split("\r")[0] == "bayesmm: sampling 2 chains  60%"
    assert err.endswith("\n") and err.rstrip().endswith(" s") and err.count("\n") == 1


_INTERRUPTED = """
import os, signal, threading, time
import numpy as np, bayesmm as bmm
from bayesmm.sampler import ticks

model = bmm.Model("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy"))
def short():
    return model.fit(chains=2, draws=100, warmup=100, seed=3, refit=False).idata.posterior["b"].values
before = short()

def interrupt():  # Ctrl-C once the long run's chains have ticked
    while ticks.listener() is None or not ticks.listener().done:
        time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt, daemon=True).start()
try:
    model.fit(chains=2, draws=100, warmup=1_000_000, seed=3)
    print("not interrupted")
except KeyboardInterrupt:
    print("KeyboardInterrupt", ticks.listener() is None)
print("same draws" if np.array_equal(short(), before) else "other draws")
"""


def test_ctrl_c_in_python_stops_the_chains_and_the_next_fit_works():
    """A fit of a million warmup iterations per chain, interrupted once its chains run: ``KeyboardInterrupt``
    (the chains stopped at their next tick: a million iterations would take minutes), nothing left listening,
    and the next fit gives the draws it gave before."""
    out = subprocess.run([sys.executable, "-c", _INTERRUPTED], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[:2] == ["KeyboardInterrupt True", "same draws"], out.stdout + out.stderr[-2000:]


def test_ctrl_c_on_the_command_line_prints_one_line_and_exits_130():
    """``bayesmm example sleepstudy`` interrupted while its chains sample: status 130 and one line on standard
    error after the progress line, no traceback."""
    command = [sys.executable, "-m", "bayesmm", "example", "sleepstudy", "--chains", "2", "--draws", "100",
               "--warmup", "1000000", "--progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    err, deadline = b"", time.monotonic() + 240
    while b"draws/s" not in err and process.poll() is None and time.monotonic() < deadline:
        err += os.read(process.stderr.fileno(), 4096)
    process.send_signal(signal.SIGINT)
    out, rest = process.communicate(timeout=60)
    err = (err + rest).decode()
    assert process.returncode == 130, err[-2000:]
    assert err.endswith("\nbayesmm: interrupted; nothing saved\n"), err[-2000:]
    assert "Traceback" not in err and out == b""


_PORTABLE_TICKS = """
import hashlib, numpy as np, bayesmm as bmm
import bayesmm.sampler.ticks as ticks
ticks.ensure_registered = lambda: False  # as on a GPU: ticks through io_callback, the program traced, not stored
fit = bmm.Model("Reaction ~ Days + (Days | Subject)", bmm.datasets.load("sleepstudy")).fit(
    chains=2, draws=100, warmup=100, seed=2, refit=False)
print(hashlib.sha256(np.asarray(fit.idata.posterior["b"]).tobytes()).hexdigest())
"""


def test_ticks_through_io_callback_give_the_same_draws(model, tmp_path):
    """Where the tick's custom call is not available (backends other than the CPU), ticks are ``io_callback``\\ s:
    the same draws as the custom call's (checked on the CPU, in a fresh process with its own cache)."""
    import hashlib

    fit = model.fit(chains=2, draws=100, warmup=100, seed=2, refit=False)
    expected = hashlib.sha256(np.asarray(fit.idata.posterior["b"]).tobytes()).hexdigest()
    out = subprocess.run([sys.executable, "-c", _PORTABLE_TICKS], capture_output=True, text=True, timeout=300,
                         cwd=ROOT, env=dict(os.environ, BAYESMM_CACHE_DIR=str(tmp_path)))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [expected]
