"""How advice names a setting: as a Python argument (``target_accept=0.99``) or, while the command line runs, as
its flag (``--target-accept 0.99``).

Messages and paste-able advice are written once. The command line runs its work inside :func:`for_command_line`
(the data file as the user named it, and the flags that read it as it was read), so that what it prints can be
typed at a shell: ``bayesmm fit cbpp.csv "..." --priors boundary``. Python users get code for Python.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import re
import shlex
from dataclasses import dataclass

__all__ = ["CommandLine", "for_command_line", "command_line", "setting", "flag_words", "shell_word", "fit_command",
           "reading_code", "FLAGS"]


@dataclass(frozen=True)
class CommandLine:
    """Advice for the command line: ``data``, the data file as the user named it; ``read``, the flags that read it
    as it was read (``("--sep", ";")``); ``example``, the bundled example's name for ``bayesmm example NAME``."""

    data: str
    read: tuple = ()
    example: str | None = None


_AUDIENCE: contextvars.ContextVar = contextvars.ContextVar("bayesmm_audience", default=None)

#: the Python arguments that the command line takes, and their flags
FLAGS = {"family": "--family", "link": "--link", "priors": "--priors", "weights": "--weights", "zi": "--zi",
         "hu": "--hu", "dispersion": "--dispersion", "factors": "--factors", "chains": "--chains",
         "draws": "--draws", "warmup": "--warmup", "seed": "--seed", "target_accept": "--target-accept",
         "max_tree_depth": "--max-tree-depth", "centered": "--centered", "trials": "--trials"}


@contextlib.contextmanager
def for_command_line(data: str = "DATA.csv", read=(), example: str | None = None):
    """Advice written inside this block names command-line flags and the ``bayesmm fit`` command."""
    token = _AUDIENCE.set(CommandLine(str(data), tuple(read), example))
    try:
        yield
    finally:
        _AUDIENCE.reset(token)


def command_line() -> CommandLine | None:
    """The command line's :class:`CommandLine` while it runs, else None (advice for Python)."""
    return _AUDIENCE.get()


def flag_words(name: str, value) -> list[str]:
    """``["--target-accept", "0.99"]``: a setting as shell words (lists joined by commas, booleans in lower case)."""
    flag = FLAGS.get(name, "--" + name.replace("_", "-"))
    if isinstance(value, (list, tuple)):
        value = ",".join(map(str, value))
    elif isinstance(value, bool):
        value = str(value).lower()
    return [flag, shell_word(str(value))]


def setting(name: str, value) -> str:
    """``target_accept=0.99`` for Python, ``--target-accept 0.99`` on the command line."""
    if command_line() is None:
        return f"{name}={value!r}"
    return " ".join(flag_words(name, value))


def shell_word(text: str) -> str:
    """``text`` as one shell word: bare when it is safe, in double quotes when it holds only spaces and formula
    characters (``"y ~ x + (1 | g)"``), else in single quotes."""
    if re.fullmatch(r"[\w.,:/=+@%-]+", text):
        return text
    if not re.search(r'["$`\\!]', text):
        return f'"{text}"'
    return shlex.quote(text)


def fit_command(formula: str, arguments: dict, model_changed: bool = True) -> str:
    """The ``bayesmm fit DATA "FORMULA" --flag value ...`` command of the command line's data with ``arguments``
    (Python names; those without a flag, such as ``na_action``, are left out). Priors given as a dict go to a TOML
    file written by a line before the command; ``bayesmm example NAME ...`` where only the sampler's settings
    change (``model_changed=False``) on a bundled example, else a line that writes the example's data first."""
    cli = command_line()
    if cli.example is not None and not model_changed:
        words, before = ["bayesmm", "example", cli.example], []
        arguments = {k: v for k, v in arguments.items() if k in SAMPLER_FLAGS}
    else:
        words, before = ["bayesmm", "fit", shell_word(cli.data), shell_word(formula), *map(shell_word, cli.read)], []
        if cli.example is not None:  # the bundled data as the file the command reads
            before.append(f"bayesmm data {shell_word(cli.data.removesuffix('.csv'))} --out {shell_word(cli.data)}")
    for name, value in arguments.items():
        if name == "priors":
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    lines = " ".join(shell_word(f"{_toml_key(k)} = {_toml_value(v)}") for k, v in item.items())
                    before.append(f"printf '%s\\n' {lines} > priors.toml")
                    item = "priors.toml"
                words += ["--priors", shell_word(str(item))]
        elif name in FLAGS and value is not None:
            words += flag_words(name, value)
    return "\n".join(before + [" ".join(words)])


#: the settings ``bayesmm example`` takes
SAMPLER_FLAGS = ("chains", "draws", "warmup", "seed", "target_accept", "max_tree_depth", "centered")


def _toml_key(key) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", str(key)) else json.dumps(str(key))


def _toml_value(value) -> str:
    """A TOML inline value: tables as ``{a = "x", b = {c = "y"}}``, strings in double quotes."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(value if isinstance(value, (int, float, bool)) else str(value))


def reading_code(fit) -> str:
    """Python lines (after ``import bayesmm as bmm``) that define ``data`` as the fit's data were read: ``pd.read_csv`` of the file the command line
    read (with its delimiter and decimal mark), ``pd.read_parquet``, a bundled data set, or the data the fit keeps."""
    from .datasets import names

    name = str(fit.data_name)
    attrs = getattr(fit.data, "attrs", {}) if fit.data is not None else {}
    if name.lower().endswith((".parquet", ".pq")):
        return f"import pandas as pd\n\ndata = pd.read_parquet({name!r})"
    if re.search(r"\.(csv|tsv|txt|dat)$", name.lower()):
        options = "".join(f", {key}={attrs[key]!r}" for key, plain in (("sep", ","), ("decimal", "."))
                          if attrs.get(key, plain) != plain)
        return f"import pandas as pd\n\ndata = pd.read_csv({name!r}{options})"
    if name in names():
        return f"\ndata = bmm.datasets.load({name!r})"
    return "\ndata = fit.data  # the data the model was fitted to (a saved fit keeps them)"
