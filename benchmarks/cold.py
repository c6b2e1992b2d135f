"""Sleepstudy with the correlation, 4 x (1000 + 1000), as a user feels it.

    python benchmarks/cold.py [--model sleepstudy] [--repeat 2]

Three figures, each from ``bmm.fit(...)`` called to results ready (imports excluded), wall and the process's CPU
seconds (all threads: the chains run on both cores, and on a shared machine CPU is the steadier figure): a fresh
process with an empty compilation cache (a new temporary ``BAYESMM_CACHE_DIR``), a fresh process with that cache
now warm, and a second fit in the same process. Installs nothing; Bambi's figures come from ``suite.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent


def fits(model: str, cache: str, n: int) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), BAYESMM_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, str(HERE / "bayesmm_fit.py"), model, "--fits", str(n)], env=env,
                         capture_output=True, text=True, cwd=HERE, timeout=1800)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not rows:
        raise SystemExit(out.stderr[-2000:])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="sleepstudy")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print("| run | wall s | CPU s | min bulk ESS | divergences | max Rhat |\n|---|---|---|---|---|---|")
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            cold = fits(args.model, cache, 1)[0]
            warm, second = fits(args.model, cache, 2)
        for label, r in (("fresh process, empty cache", cold), ("fresh process, warm cache", warm),
                         ("second fit, same process", second)):
            print(f"| {label} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['min_ess']:.0f} | {r['divergences']} "
                  f"| {r['max_rhat']:.3f} |",
                  flush=True)


if __name__ == "__main__":
    main()
