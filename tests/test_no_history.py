"""No work history and no development machine's paths in what readers of the repository see.

The history of the work (issue and pull-request numbers, work sessions, who led it, dates written as lab notes,
words that compare with an older state of the code) belongs in git log; a comment says why the code is as it is, and a figure that
will go stale names the commit that measured it in a benchmark document. A path of one machine (a home or a
work folder) does not exist on another: code and docs use paths relative to the repository, an environment
variable or a command-line option.

Scanned: the Markdown documents (README, docs/, benchmarks/, validation/, tests/), the comments, docstrings
and test names of every Python file (and the whole text of each for paths), every notebook cell, and the
comments of the R scripts and prior presets. Not scanned: benchmarks/logs/ (raw output) and
validation/corpus/SCOREBOARD.md (generated; it records when and at which commits its fits ran).
"""
from __future__ import annotations

import ast
import io
import json
import pathlib
import re
import tokenize

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

HISTORY = re.compile(
    r"\b(?:issues?|sessions?|PR|pull request|sprint)\s+#?\d+"          # a numbered issue, session or PR
    r"|(?<![\w/.-])#\d{1,4}\b"                                        # a bare number sign and number, not owner/repo#N
    r"|\bthe lead\b|\bpreviously\b|\bformerly\b|\bwork[- ]?log\b"
    r"|\b(?:this|next|last|earlier|previous) session\b"
    r"|\bbefore (?:this|the|these) (?:release|changes?|fix|rewrite)\b|\bused before the\b"
    r"|\b20\d\d-[01]\d-[0-3]\d\b",                                    # a date
    re.IGNORECASE)
MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:work|home|Users)/|\b[A-Z]:\\\\?Users\\")

GENERATED = {ROOT / "validation" / "corpus" / "SCOREBOARD.md"}
MARKDOWN = sorted({ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("benchmarks/*.md"),
                   *ROOT.glob("validation/**/*.md"), *ROOT.glob("tests/**/*.md")} - GENERATED)
PYTHON = sorted(p for pattern in ("bayesmm/**/*.py", "tests/**/*.py", "benchmarks/*.py", "validation/**/*.py")
                for p in ROOT.glob(pattern))
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb"))
HASH_COMMENTED = sorted(p for pattern in ("tests/reference/*.R", "validation/**/*.R", "priors/*.toml",
                                          "bayesmm/**/*.toml") for p in ROOT.glob(pattern))


def python_prose(source: str) -> list[tuple[int, str]]:
    """(line, text) of every comment, docstring and test name of a Python module: the prose a reader sees."""
    found = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append((getattr(node, "lineno", 1), doc))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            found.append((node.lineno, node.name.replace("_", " ")))
    return found


def hash_comments(text: str) -> list[tuple[int, str]]:
    return [(number, line[line.index("#"):]) for number, line in enumerate(text.splitlines(), 1) if "#" in line]


def notebook_cells(text: str) -> list[tuple[int, str]]:
    return [(index, "".join(cell["source"])) for index, cell in enumerate(json.loads(text)["cells"])]


def findings(path: pathlib.Path) -> list[str]:
    """'place: matched text' for each history word or machine path in the reader-facing text of ``path``."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        prose, whole = python_prose(text), [(0, text)]
    elif path.suffix == ".ipynb":
        prose = whole = notebook_cells(text)
    elif path.suffix in (".R", ".toml"):
        prose = whole = hash_comments(text)
    else:
        prose = whole = [(0, text)]
    found = [f"{where}: {match.group(0)!r}" for where, part in prose for match in HISTORY.finditer(part)]
    found += [f"{where}: {match.group(0)!r}" for where, part in whole for match in MACHINE_PATH.finditer(part)]
    return found


@pytest.mark.parametrize("path", MARKDOWN + PYTHON + NOTEBOOKS + HASH_COMMENTED,
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_history_and_no_machine_paths(path):
    assert findings(path) == [], (f"{path.relative_to(ROOT)}: history belongs in git log, stale figures in a "
                                  "benchmark document with the commit that measured them, paths relative to the "
                                  "repository (or an environment variable or option)")


def test_every_kind_of_file_is_scanned():
    assert len(MARKDOWN) >= 12 and len(PYTHON) >= 100 and len(NOTEBOOKS) >= 9 and HASH_COMMENTED


def test_the_scan_catches_history_and_paths_but_not_code(tmp_path):
    """History in a comment, a docstring or a test name and a machine path anywhere are found; the same words
    in a string literal that is not a docstring (test data) and a GitHub reference are not."""
    home = "/" + "home/me/data.csv"
    module = tmp_path / "module.py"
    module.write_text(
        f'"""Reads data.\n\nPreviously this read {home}."""\n'
        "DATES = ['2020-01-01']  # the format pandas parses\n"
        "LABEL = 'issue 25'\n"
        "# numpyro: see pyro-ppl/numpyro#2225; jax-ml/jax#38806\n"
        "def test_issue_25_is_fixed():\n"
        "    x = 1  # formerly 2, see #12\n", encoding="utf-8")
    found = findings(module)
    assert [f.split(": ", 1)[1] for f in found] == ["'formerly'", "'#12'", "'Previously'", "'issue 25'",
                                                    repr(home[:6])]
    page = tmp_path / "page.md"
    page.write_text("Measured on 2026-11-27 in session 11.\n\nRun `python x.py --data data/x.csv`.\n",
                    encoding="utf-8")
    assert [f.split(": ", 1)[1] for f in findings(page)] == ["'2026-11-27'", "'session 11'"]
