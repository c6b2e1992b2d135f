"""Fit the validation corpus (validation/corpus/models.toml) with bayesmm at its defaults and keep score.

    python validation/corpus.py                      # every model, seeds 1 2 3 4
    python validation/corpus.py --seeds 1            # one seed
    python validation/corpus.py --only cake ohio     # some models (their rows in results.csv are replaced)
    python validation/corpus.py --list               # the models

Each fit is ``bmm.fit(formula, data, family=..., seed=s)`` (plus the model's zi=/hu= formula, if it has
one): 4 chains x (1000 warmup + 1000 draws). A fit that raises is recorded as a row with the exception's
class and first line. Results go to validation/corpus/results.csv (one row per model and seed, written
after every fit) and SCOREBOARD.md is rebuilt from that file after every fit. The data are made by
validation/corpus/make_data.py, the R references by validation/corpus/reference_fits.R.
"""
from __future__ import annotations

import argparse
import datetime
import shlex
import subprocess
import sys
import time
import tomllib
import warnings
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent / "corpus"
sys.path.insert(0, str(HERE))

from fit_metrics import convergence, fixef_distance, is_clean, reasons, reference  # noqa: E402
from scoreboard import render  # noqa: E402

MODELS = HERE / "models.toml"
RESULTS = HERE / "results.csv"
PARTS = ("zi", "hu")


def load_models() -> dict:
    with MODELS.open("rb") as handle:
        return tomllib.load(handle)


def random_terms(ref: dict | None) -> int:
    """How many random-effect SDs the model has (from the R fit, so that a failed fit still has one)."""
    if ref is None:
        return 0
    block = ref.get("ML", ref)
    return sum(len(group["sd"]) for group in block["varcorr"].values())


def bayesmm_commit() -> str:
    """HEAD's short hash, marked when bayesmm/ has uncommitted changes (the fits ran on the working tree)."""
    root = Path(__file__).resolve().parent.parent
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--", "bayesmm") else "")


def fit_one(name: str, spec: dict, seed: int, commit: str) -> dict:
    """Fit one model at one seed; every failure becomes a row."""
    import bayesmm as bmm

    data = pd.read_csv(HERE / "data" / spec["data"])
    ref = reference(name)
    row = {"model": name, "seed": seed, "family": spec["family"], "rows": len(data),
           "random_terms": random_terms(ref), "bayesmm_commit": commit,
           "run_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
           "error": "", "warnings": ""}
    parts = {key: spec[key] for key in PARTS if key in spec}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = bmm.fit(spec["formula"], data, family=spec["family"], seed=seed, **parts)
        row["wall_s"] = time.perf_counter() - start
        row.update(convergence(fit.idata))
        if ref is not None:
            row["max_fixef_z"], row["fixef_z_param"], row["unmatched_fixef"] = fixef_distance(fit.idata.posterior, ref)
        messages = {f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught
                    if "bayesmm" in w.category.__module__}
        row["warnings"] = " | ".join(sorted(messages))[:500]
    except Exception as error:  # noqa: BLE001 - one failure is one row, not the end of the run
        row["wall_s"] = time.perf_counter() - start
        first = (str(error).strip().splitlines() or [""])[0]
        row["error"] = f"{type(error).__name__}: {first}"[:300]
    return row


def save(rows: list[dict], command: str, order: list[str], out: Path) -> None:
    """Merge the new rows into results.csv (replacing the same model and seed) and rebuild the scoreboard."""
    new = pd.DataFrame(rows)
    if RESULTS.exists():
        old = pd.read_csv(RESULTS, keep_default_na=False, na_values=[""])
        keys = set(zip(new["model"], new["seed"]))
        old = old[[(m, s) not in keys for m, s in zip(old["model"], old["seed"])]]
        new = pd.concat([old, new], ignore_index=True)
    new.to_csv(RESULTS, index=False, float_format="%.6g")
    table = pd.read_csv(RESULTS, keep_default_na=False, na_values=[""])
    out.write_text(render(table, order, command))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="fit only these models")
    parser.add_argument("--out", type=Path, default=HERE / "SCOREBOARD.md")
    parser.add_argument("--list", action="store_true", help="print the models and exit")
    args = parser.parse_args(argv)
    models = load_models()
    if args.list:
        for name, spec in models.items():
            extra = "".join(f", {k}={spec[k]!r}" for k in PARTS if k in spec)
            print(f"{name:24s} {spec['family']:26s} {spec['formula']}{extra}")
        return 0
    unknown = sorted(set(args.only or []) - set(models))
    if unknown:
        parser.error(f"unknown model(s): {', '.join(unknown)} (see --list)")
    names = args.only or list(models)
    command = "python validation/corpus.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    commit = bayesmm_commit()
    rows = []
    for name in names:
        for seed in args.seeds:
            row = fit_one(name, models[name], seed, commit)
            rows.append(row)
            save(rows, command.strip(), list(models), args.out)
            verdict = "clean" if is_clean(row) else reasons(row)
            print(f"{name:24s} seed {seed}  {row['wall_s']:7.1f} s  {verdict}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
