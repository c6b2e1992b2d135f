"""Start-up: how long ``import bayesmm``, ``bayesmm --help`` and ``bayesmm --version`` take, each in a fresh
process (the median of ``--runs`` runs, after one unmeasured run that warms the file cache).

    python benchmarks/startup.py [--runs 9] [--root PATH]

Prints a Markdown table: command, median and fastest wall seconds, with what a bare ``python -c pass`` costs
on the same machine (the floor under every row) and what the first use of a public name costs (it imports
jax, numpyro, arviz, ...). ``--root`` measures another checkout of bayesmm (put first on ``PYTHONPATH``), e.g.
an older commit's ``git worktree``.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import bayesmm": [sys.executable, "-c", "import bayesmm"],
    "bayesmm --help": [sys.executable, "-m", "bayesmm", "--help"],
    "bayesmm --version": [sys.executable, "-m", "bayesmm", "--version"],
    "import bayesmm as bmm; bmm.Model": [sys.executable, "-c", "import bayesmm as bmm; bmm.Model"],
}


def seconds(command: list[str], root: pathlib.Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=root, env=dict(os.environ, PYTHONPATH=str(root)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per command (default 9)")
    parser.add_argument("--root", type=pathlib.Path, default=ROOT, help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    print("| command | median s | fastest s |\n|---|---|---|")
    for name, command in COMMANDS.items():
        seconds(command, args.root)
        times = [seconds(command, args.root) for _ in range(args.runs)]
        print(f"| `{name}` | {statistics.median(times):.3f} | {min(times):.3f} |", flush=True)


if __name__ == "__main__":
    main()
