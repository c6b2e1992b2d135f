"""The ``bayesmm`` command line: ``bayesmm fit DATA.csv "FORMULA" --family F`` and ``bayesmm example NAME``.

Errors print one line and exit with status 2 (``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import sys
import warnings

__all__ = ["main"]


def _sampler_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampler")
    group.add_argument("--chains", type=int, default=4, help="number of chains (default 4)")
    group.add_argument("--draws", type=int, default=1000, help="post-warmup draws per chain (default 1000)")
    group.add_argument("--warmup", type=int, default=1000, help="warmup iterations per chain (default 1000)")
    group.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same draws")
    group.add_argument("--target-accept", type=float, default=None,
                       help="NUTS target acceptance (default: the family's, 0.8 for most)")
    group.add_argument("--max-tree-depth", type=int, default=10, help="NUTS maximum tree depth (default 10)")
    group.add_argument("--progress", action="store_true", help="show a progress bar")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="bayesmm", description="Bayesian mixed models from lme4-style formulas.")
    parser.add_argument("--version", action="version", version=f"bayesmm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    fit = commands.add_parser("fit", help="fit a model to a CSV or Parquet file and print the summary",
                              description="Fit FORMULA to DATA and print a brms-like summary.")
    fit.add_argument("data", help="a .csv or .parquet file")
    fit.add_argument("formula", help="lme4-style formula, e.g. \"y ~ x + (x | g)\"")
    fit.add_argument("--family", default="gaussian", help="response family (default gaussian)")
    fit.add_argument("--link", default=None, help="link function (default: the family's first)")
    fit.add_argument("--factors", default="", help="comma-separated columns to read as factors (strings)")
    _sampler_options(fit)
    example = commands.add_parser("example", help="fit a bundled example and print the summary",
                                  description="Fit one of the bundled examples and print its summary.")
    from .datasets import EXAMPLES

    example.add_argument("name", choices=sorted(EXAMPLES), help="which example")
    _sampler_options(example)
    return parser


def _read(path: str, factors: list[str]):
    import pandas as pd

    from .errors import DataError

    try:
        if path.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={c: str for c in factors} or None)
    except FileNotFoundError:
        raise DataError(f"No such file: {path}") from None
    except (ValueError, OSError, ImportError) as err:
        raise DataError(f"Cannot read {path}: {err}") from None
    frame.attrs["name"] = path
    return frame


def _run(args) -> int:
    from . import datasets
    from .api import fit

    sampler = dict(chains=args.chains, draws=args.draws, warmup=args.warmup, seed=args.seed,
                   target_accept=args.target_accept, max_tree_depth=args.max_tree_depth,
                   progress=True if args.progress else None)
    if args.command == "example":
        data_name, formula, family = datasets.EXAMPLES[args.name]
        data, link = datasets.load(data_name), None
    else:
        data = _read(args.data, [c.strip() for c in args.factors.split(",") if c.strip()])
        formula, family, link = args.formula, args.family, args.link
    print(fit(formula, data, family=family, link=link, **sampler))
    return 0


def main(argv=None) -> int:
    """Entry point of the ``bayesmm`` console script."""
    from .errors import BayesMMError, BayesMMWarning

    args = _parser().parse_args(argv)
    warnings.simplefilter("always", BayesMMWarning)
    warnings.formatwarning = lambda message, category, *rest: f"{category.__name__}: {message}\n"
    try:
        return _run(args)
    except BayesMMError as err:
        if args.debug:
            raise
        print(f"bayesmm: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
