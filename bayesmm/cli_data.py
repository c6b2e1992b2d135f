"""What the command line checks and reads before it fits: data files (delimiter sniffed or given), output paths,
arguments in the wrong order, flags from other tools; how it prints tables for a terminal; and the commands that
fit nothing (``bayesmm data``, ``bayesmm priors``).

Everything here runs before sampling, so that a mistake costs a second, not a fit.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import os
import re
import shutil
import sys
import textwrap

__all__ = ["HintingParser", "read_table", "write_dataset", "show_presets", "check_outputs", "check_order", "rounded", "wrapped", "PARQUET",
           "SEPARATORS"]

PARQUET = (".parquet", ".pq")
#: delimiters that are sniffed, and their names in messages
SEPARATORS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "vertical bar"}
#: flags other tools (brms, rstanarm, PyMC, numpyro) use for the sampler, and the Python names they map to
_OTHER_TOOLS = {"--iter": "iter", "--cores": "cores", "--tune": "tune", "--samples": "samples",
                "--adapt-delta": "adapt_delta", "--random-seed": "random_seed", "--max-treedepth": "max_treedepth",
                "--num-samples": "num_samples", "--num-warmup": "num_warmup", "--num-chains": "num_chains",
                "--centred": "centred"}


class HintingParser(argparse.ArgumentParser):
    """argparse with hints: a flag of another tool (``--iter``, ``--adapt-delta``) names the flag to use, as
    ``bmm.fit`` does for ``iter=``; an unknown flag names the closest one."""

    def error(self, message: str):
        found = re.match(r"unrecognized arguments: (.*)", message)
        if found:
            message += "".join(self._hint(word) for word in found.group(1).split() if word.startswith("--"))
        super().error(message)

    def _flags(self) -> list[str]:
        flags = []
        for action in self._actions:
            flags += action.option_strings
            choices = getattr(action, "choices", None)
            for parser in choices.values() if isinstance(choices, dict) else ():
                if isinstance(parser, HintingParser):
                    flags += parser._flags()
        return list(dict.fromkeys(flags))

    def _hint(self, word: str) -> str:
        from .errors import closest
        from .fitting import ALIASES
        from .phrasing import FLAGS

        flag = word.split("=")[0]
        if flag in _OTHER_TOOLS:
            name, _, why = ALIASES[_OTHER_TOOLS[flag]].partition(" ")
            return f". Use {FLAGS.get(name, '--' + name)}{' ' + why if why else ''}."
        hint = closest(flag, self._flags())
        return f".{hint.rstrip('?')}?" if hint else ""


def _sniff(path: str, sep: str | None = None) -> tuple[str, str]:
    """(delimiter, decimal mark) of a text table from its first lines: csv.Sniffer among :data:`SEPARATORS`,
    else the one most frequent in the header (``sep``: the delimiter given); a semicolon file with numbers such as
    1,5 has a decimal comma."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            sample = "".join(handle.readline() for _ in range(20))
    except OSError:
        return ",", "."  # read_csv reports the missing or unreadable file
    try:
        sep = sep or csv.Sniffer().sniff(sample, delimiters="".join(SEPARATORS)).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        sep = max(SEPARATORS, key=header.count) if any(s in header for s in SEPARATORS) else ","
    decimal = "," if sep == ";" and re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", sample, flags=re.M) else "."
    return sep, decimal


def read_table(path: str, sep: str | None = None, text_columns=()):
    """A CSV (any of :data:`SEPARATORS`, sniffed unless ``sep`` is given) or Parquet file as a DataFrame, with
    ``attrs`` ``name`` (the path) and ``sep`` (the delimiter of a text file); ``text_columns`` are read as text
    (a new file's columns that were text in the training data). Says on standard error which delimiter a text file
    had when it was sniffed and not a comma."""
    import pandas as pd

    from .errors import DataError

    parquet = path.lower().endswith(PARQUET)
    if parquet:
        try:
            importlib.import_module("pyarrow")
        except ImportError:
            raise DataError(f"Reading the Parquet file {path} needs pyarrow: pip install pyarrow, or save the "
                            "data as CSV.") from None
    decimal, sep, sniffed = ".", _separator(sep), sep is None
    if not parquet and (sniffed or sep == ";"):
        sep, decimal = _sniff(path, sep)
    if not parquet and sniffed:
        if (sep, decimal) != (",", ".") and os.path.isfile(path):
            print(f"Read {path} as {SEPARATORS[sep]}-separated" + (" with decimal commas" if decimal == "," else "")
                  + " (--sep to choose).", file=sys.stderr)
    try:
        if parquet:
            frame = pd.read_parquet(path)
            for column in text_columns:
                if column in frame.columns:
                    frame[column] = frame[column].astype(str)
        else:
            frame = pd.read_csv(path, sep=sep, decimal=decimal, dtype={c: str for c in text_columns} or None)
    except FileNotFoundError:
        raise DataError(f"No such file: {path}") from None
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"Cannot read {path}: {err}") from None
    frame.attrs.update(name=path, sep=None if parquet else sep, decimal=decimal)
    return frame


def _separator(text: str | None) -> str | None:
    """``--sep``: a delimiter's name (``tab``, ``semicolon``, ...), ``\\t``, or the character itself."""
    if text is None:
        return None
    names = {name.replace(" ", "-"): sep for sep, name in SEPARATORS.items()} | {"bar": "|", "\\t": "\t"}
    return names.get(text.lower(), text)


def read_flags(frame) -> tuple:
    """The flags that read a file as ``frame`` was read (``("--sep", "semicolon")``), for advice."""
    sep = frame.attrs.get("sep")
    return ("--sep", SEPARATORS.get(sep, sep).replace(" ", "-")) if sep not in (None, ",") else ()


#: output formats by suffix: what a path of each option must end with, and the advice when it does not
OUTPUTS = {"report": ((".html", ".htm", ".md", ".markdown"), "name it .html or .md (an HTML or Markdown report)"),
           "save": ((".nc", ".nc4", ".netcdf"), "name it .nc (a netCDF file)"),
           "out": ((".csv",), "name it .csv")}


def check_outputs(args) -> None:
    """Refuse, before any sampling, an output path whose folder does not exist (or cannot be written) or whose
    suffix names a format the option cannot write (``--report out.pdf``)."""
    from .errors import BayesMMError

    for option, (suffixes, advice) in OUTPUTS.items():
        path = getattr(args, option, None)
        if not path:
            continue
        folder = os.path.dirname(os.path.abspath(path))
        if not path.lower().endswith(suffixes):
            raise BayesMMError(f"--{option} {path}: cannot write that format; {advice}.")
        if not os.path.isdir(folder):
            raise BayesMMError(f"--{option} {path}: the folder {os.path.dirname(path) or folder} does not exist; "
                               "create it first or choose another path.")
        if not os.access(folder, os.W_OK):
            raise BayesMMError(f"--{option} {path}: the folder {folder} cannot be written to.")


def check_order(first: str, second: str, command: str, expected: tuple[str, str]) -> None:
    """Refuse arguments in the wrong order (``bayesmm fit "y ~ x" data.csv``) with the command the right way round;
    ``expected``: what each argument is, for the message."""
    from .errors import BayesMMError
    from .phrasing import shell_word

    swapped = ("~" in first and "~" not in second) if command == "fit" else (
        first.lower().endswith((".csv", ".tsv", ".txt") + PARQUET) and second.lower().endswith((".nc", ".nc4")))
    if swapped:
        raise BayesMMError(f"The {expected[0]} comes first, then the {expected[1]}: bayesmm {command} "
                           f"{shell_word(second)} {shell_word(first)} ...")


def rounded(table):
    """Predictions rounded for reading: each column to the decimals that show its typical posterior SD (the
    median ``Est.Error``) to 3 significant digits, between 0 and 6."""
    import numpy as np

    error = table["Est.Error"].abs() if "Est.Error" in table.columns else None
    spread = float(np.median(error[error > 0])) if error is not None and (error > 0).any() else 1.0
    decimals = int(min(6, max(0, 2 - np.floor(np.log10(spread)))))
    return table.round(decimals)


def wrapped(name: str, description: str, width: int = 10) -> str:
    """``name`` and its description wrapped at word boundaries to the terminal's width (at most 100), the lines
    after the first indented under the description."""
    columns = min(100, shutil.get_terminal_size((100, 24)).columns)
    return textwrap.fill(" ".join(description.split()), width=columns, initial_indent=f"{name:<{width}} ",
                         subsequent_indent=" " * (width + 1), break_long_words=False, break_on_hyphens=False)


def new_trials(text: str | None, newdata):
    """``--trials``: None (the trials come from the response's columns), a whole number for every row, or a column
    of the new data."""
    from .errors import DataError

    if text is None:
        return None
    if text in newdata.columns:
        return newdata[text].to_numpy()
    try:
        return int(text)
    except ValueError:
        from .errors import closest

        raise DataError(f"--trials {text}: neither a whole number nor a column of the new data."
                        f"{closest(text, newdata.columns)} Columns: {', '.join(map(str, newdata.columns))}.") from None


def write_dataset(name: str, out: str | None) -> None:
    """``bayesmm data NAME [--out FILE]``: a bundled data set as CSV, to a file (refused before writing when its
    folder is missing or it is not named .csv) or to standard output."""
    from . import datasets

    frame = datasets.load(name)
    if out is None:
        frame.to_csv(sys.stdout, index=False)
        return
    check_outputs(argparse.Namespace(out=out))
    frame.to_csv(out, index=False)
    print(f"Wrote {name} ({len(frame):,} rows) to {out}", file=sys.stderr)


def show_presets(action: str, name: str | None) -> None:
    """``bayesmm priors list`` (each preset with its description) and ``bayesmm priors show NAME`` (its file)."""
    import tomllib

    from .errors import PriorError, closest
    from .prior_rules import PRESET_DIR, preset_names

    names = preset_names()
    if action == "list":
        for preset in names:
            description = tomllib.loads((PRESET_DIR / f"{preset}.toml").read_text()).get("description", "")
            print(wrapped(preset, description))
        return
    if name is None:
        raise PriorError(f"'bayesmm priors show' needs a preset name: one of {', '.join(names)}.")
    if name not in names:
        raise PriorError(f"Unknown prior preset '{name}'.{closest(name, names)} Presets: {', '.join(names)}.")
    print((PRESET_DIR / f"{name}.toml").read_text(), end="")
