"""bayesmm against Bambi (numpyro and nutpie backends) on the bundled suite, side by side in one run.

    python benchmarks/suite.py --bambi-python /path/to/bambi-env/bin/python [--models sleepstudy cbpp]
                               [--repeat 2] [--chains 4 --draws 1000 --warmup 1000]

Each fit runs in a fresh process. bayesmm is measured with a warm persistent compilation cache (one
untimed fit fills the cache: ``BAYESMM_CACHE_DIR`` or bayesmm's default), as rstanarm compiles nothing;
``cold.py`` measures the cold and second-fit figures. Bambi needs formulae < 0.7 and bayesmm formulae 0.9,
so Bambi runs in its own environment (``--bambi-python``); this script installs nothing. Prints wall
seconds, min bulk ESS (fixed effects and hyperparameters), ESS/s, and the ratio of bayesmm's ESS/s to each
other tool's (and to brms 2.18's reference figures, ``models.BRMS``). Timings on a shared machine are noisy: repeat, and
compare tools only within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys

from models import BRMS, MODELS

HERE = pathlib.Path(__file__).resolve().parent


def run(python: str, script: str, *args: str, env=None) -> list[dict]:
    out = subprocess.run([python, str(HERE / script), *args], capture_output=True, text=True, cwd=HERE,
                         env=env, timeout=3600)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not rows:
        print(f"  {script} {' '.join(args)} failed: {out.stderr.strip()[-600:]}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="*", default=[m for m in MODELS if m != "insteval"])
    parser.add_argument("--bambi-python", default=os.environ.get("BAMBI_PYTHON"))
    parser.add_argument("--backends", nargs="*", default=["numpyro", "nutpie"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--chains", default="4")
    parser.add_argument("--draws", default="1000")
    parser.add_argument("--warmup", default="1000")
    args = parser.parse_args()
    sizes = ["--chains", args.chains, "--draws", args.draws, "--warmup", args.warmup]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    results = []
    for model in args.models:
        run(sys.executable, "bayesmm_fit.py", model, *sizes, env=env)  # fills the compilation cache
        for _ in range(args.repeat):
            results += run(sys.executable, "bayesmm_fit.py", model, *sizes, "--fits", "2", env=env)
            for backend in args.backends if args.bambi_python else []:
                results += run(args.bambi_python, "bambi_fit.py", model, backend, *sizes)
        print_table([r for r in results if r["model"] == model])
    print("\n## all models\n")
    print_table(results)


def print_table(rows: list[dict]) -> None:
    best = {}
    for r in rows:
        r["ess_s"] = r["min_ess"] / r["seconds"]
        if r["tool"] == "bayesmm":
            best[r["model"]] = max(best.get(r["model"], 0.0), r["ess_s"])
    print("| model | tool | wall s | min bulk ESS | ESS/s | bayesmm ESS/s ratio | divergences |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = best.get(r["model"], float("nan")) / r["ess_s"] if r["ess_s"] else float("nan")
        print(f"| {r['model']} | {r['tool']} | {r['seconds']:.1f} | {r['min_ess']:.0f} | {r['ess_s']:.0f} | "
              f"{ratio:.2f}x | {r.get('divergences', '')} |")
    for model in sorted({r["model"] for r in rows} & set(BRMS)):
        seconds, ess = BRMS[model]
        print(f"| {model} | brms 2.18 (reference) | {seconds} | {ess} | {ess / seconds:.0f} | "
              f"{best.get(model, float('nan')) / (ess / seconds):.1f}x | |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
