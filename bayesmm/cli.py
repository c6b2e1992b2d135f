"""The ``bayesmm`` command line.

    bayesmm fit DATA.csv "FORMULA" --family F [--priors PRESET|FILE] [--factors A,B] [--sep ';']
                [--chains --draws --warmup --seed] [--report out.html|out.md] [--save fit.nc]
    bayesmm summary fit.nc
    bayesmm predict fit.nc NEW.csv --out pred.csv [--trials N|COLUMN]
    bayesmm means fit.nc FACTOR [--by F] [--at x=0,1,2] [--pairs] [--scale link] [--re average]
    bayesmm r2 fit.nc
    bayesmm example NAME
    bayesmm data NAME [--out FILE.csv]
    bayesmm priors list | bayesmm priors show NAME

Data files are CSV (comma, semicolon, tab or bar separated: sniffed, or ``--sep``) or Parquet (Parquet needs
pyarrow). Errors print one line and exit with status 2
(``--debug`` shows the traceback). A fit that failed a convergence check prints its status line first
(``WARNING: not converged: ...``), on standard output, before the summary.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings

__all__ = ["main"]


def _sampler_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampler")
    group.add_argument("--chains", type=int, default=4, help="number of chains (default 4)")
    group.add_argument("--draws", type=int, default=1000, help="post-warmup draws per chain (default 1000)")
    group.add_argument("--warmup", type=int, default=1000, help="warmup iterations per chain (default 1000)")
    group.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same draws")
    group.add_argument("--method", choices=["nuts", "laplace"], default="nuts",
                       help="nuts (default): sample the posterior; laplace: a fast approximate answer (the mode "
                            "with a Gaussian around it, random effects integrated by the Laplace approximation)")
    group.add_argument("--target-accept", type=float, default=None,
                       help="NUTS target acceptance (default: the family's, 0.8 for most)")
    group.add_argument("--max-tree-depth", type=int, default=10, help="NUTS maximum tree depth (default 10)")
    group.add_argument("--centered", choices=["auto", "true", "false"], default="auto",
                       help="sample random effects centred, non-centred, or as the data suggest (default auto)")
    shown = group.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true",
                       help="show the progress line even when standard error is not a terminal")
    shown.add_argument("--quiet", action="store_true", help="no progress line (by default shown in a terminal)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--report", metavar="PATH", default=None,
                       help="also write a report: .html (plots embedded) or .md (plots in a folder beside it)")
    group.add_argument("--embed-images", action="store_true",
                       help="put a Markdown report's plots inside it (base64), not in a folder beside it")
    group.add_argument("--save", metavar="PATH", default=None,
                       help="also save the fit (netCDF, e.g. fit.nc) for 'bayesmm summary' and 'bayesmm predict'")


def _debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def _fit_parser(commands) -> None:
    fit = commands.add_parser("fit", help="fit a model to a CSV or Parquet file and print the summary",
                              description="Fit FORMULA to DATA with NUTS and print a brms-like summary.")
    fit.add_argument("data", help="a .csv or .parquet file (Parquet needs pyarrow)")
    fit.add_argument("formula", help="lme4-style formula, e.g. \"y ~ x + (x | g)\"")
    fit.add_argument("--family", default="gaussian", help="response family (default gaussian), e.g. binomial, "
                     "poisson, negbinomial, zero_inflated_poisson, weibull (docs/families.md lists them all)")
    fit.add_argument("--link", default=None, help="link function (default: the family's first)")
    fit.add_argument("--priors", metavar="PRESET|FILE", default=None, action="append",
                     help="a prior preset (see 'bayesmm priors list') or a TOML file of priors; repeatable, later ones win")
    fit.add_argument("--factors", default="", help="comma-separated columns to use as factors (categories), e.g. "
                     "numeric codes such as period 1-4")
    fit.add_argument("--sep", default=None, help="the data file's delimiter: comma, semicolon, tab, bar or the "
                     "character (default: sniffed)")
    fit.add_argument("--zi", metavar="FORMULA", default=None, help="formula of the zero-inflation probability, "
                     "e.g. \"~ x\" (zero-inflated families)")
    fit.add_argument("--hu", metavar="FORMULA", default=None, help="formula of the hurdle probability (hurdle families)")
    fit.add_argument("--dispersion", metavar="FORMULA", default=None,
                     help="formula of the family's dispersion (sigma, phi, shape, ...), e.g. \"~ x\"")
    fit.add_argument("--weights", metavar="COLUMN", default=None, help="column of frequency weights")
    fit.add_argument("--autocor", metavar="STRUCTURE", default=None, help="autocorrelated residuals of a gaussian "
                     "model, e.g. \"ar1(time | g)\", \"ar1(~ 1 | g)\" (row order) or \"car1(time | g)\"")
    _sampler_options(fit)
    _output_options(fit)
    _debug(fit)


def _means_parser(commands) -> None:
    means = commands.add_parser("means", help="estimated marginal means (and their comparisons) of a saved fit",
                                description="Estimated marginal means of FACTOR (emmeans), with credible "
                                            "intervals; --pairs prints their pairwise comparisons instead.")
    means.add_argument("fit", help="a saved fit (netCDF)")
    means.add_argument("specs", nargs="+", help="factor(s) of the fixed part")
    means.add_argument("--by", default=None, help="comma-separated factors to compute the means within")
    means.add_argument("--at", action="append", default=[], metavar="NAME=V1,V2",
                       help="values of a numeric predictor (repeatable), e.g. --at Days=0,5,9")
    means.add_argument("--pairs", action="store_true", help="pairwise comparisons of the means")
    means.add_argument("--scale", choices=["response", "link"], default="response",
                       help="response (default) or link scale")
    means.add_argument("--re", default="none", metavar="none|average|GROUP=LEVEL",
                       help="none: random effects at 0 (default); average: integrated over their distribution; "
                            "GROUP=LEVEL: that level's fitted effects")
    means.add_argument("--weights", choices=["equal", "proportional"], default="equal",
                       help="how other factors are averaged over (default equal, as emmeans)")
    means.add_argument("--prob", type=float, default=0.95, help="credible interval probability (default 0.95)")
    means.add_argument("--out", metavar="PATH", default=None, help="write a CSV here (default: print a table)")
    _debug(means)


def _parser() -> argparse.ArgumentParser:
    from .version import __version__
    from .datasets import EXAMPLES, names

    from .cli_data import HintingParser

    parser = HintingParser(prog="bayesmm", description="Bayesian mixed models from lme4-style formulas.")
    parser.add_argument("--version", action="version", version=f"bayesmm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _fit_parser(commands)
    summary = commands.add_parser("summary", help="print the summary of a saved fit",
                                  description="Print the brms-like summary of a fit saved with --save.")
    summary.add_argument("fit", help="a fit saved with 'bayesmm fit ... --save fit.nc' or fit.save()")
    summary.add_argument("--report", metavar="PATH", default=None, help="also write a report (.html or .md)")
    summary.add_argument("--embed-images", action="store_true", help="put a Markdown report's plots inside it")
    _debug(summary)
    predict = commands.add_parser("predict", help="predict new data from a saved fit",
                                  description="Predict the rows of NEW from a saved fit: Estimate, Est.Error and "
                                              "the credible interval per row, appended to NEW's columns.")
    predict.add_argument("fit", help="a saved fit (netCDF)")
    predict.add_argument("newdata", help="a .csv or .parquet file with the predictors (and grouping columns)")
    predict.add_argument("--out", metavar="PATH", default=None, help="write a CSV here (default: print it)")
    predict.add_argument("--kind", choices=["mean", "response", "link"], default="mean",
                         help="mean: expected response (default); response: new observations; link: linear predictor")
    predict.add_argument("--re", default="all", metavar="all|none|GROUP[,GROUP]",
                         help="all: include random effects (default); none: population level; group names: only "
                              "those groups' effects")
    predict.add_argument("--new-levels", choices=["sample", "population", "error"], default="sample",
                         help="levels not in the training data: draw their effects (default), set them to 0, or refuse")
    predict.add_argument("--prob", type=float, default=0.95, help="credible interval probability (default 0.95)")
    predict.add_argument("--seed", type=int, default=0, help="seed for new levels and --kind response")
    predict.add_argument("--trials", default=None, metavar="N|COLUMN",
                         help="binomial trials of the new rows: a number or a column of NEW (default: from the "
                              "response's columns)")
    predict.add_argument("--sep", default=None, help="NEW's delimiter: comma, semicolon, tab, bar or the character "
                         "(default: sniffed)")
    _debug(predict)
    _means_parser(commands)
    r2 = commands.add_parser("r2", help="marginal, conditional and Bayesian R² of a saved fit",
                             description="Nakagawa's marginal and conditional R² and the Bayesian R² (Gelman et "
                                         "al. 2019) of a fit saved with its training data, with intervals.")
    r2.add_argument("fit", help="a saved fit (netCDF)")
    r2.add_argument("--prob", type=float, default=0.95, help="credible interval probability (default 0.95)")
    _debug(r2)
    example = commands.add_parser("example", help="fit a bundled example and print the summary",
                                  description="Fit one of the bundled examples and print its summary.")
    example.add_argument("name", choices=sorted(EXAMPLES), help="which example")
    _sampler_options(example)
    _output_options(example)
    _debug(example)
    data = commands.add_parser("data", help="write a bundled data set to a CSV file",
                               description="Write a bundled data set (those of 'bayesmm example') as CSV, to fit it "
                                           "with 'bayesmm fit' or read it elsewhere.")
    data.add_argument("name", help=f"which data set: {', '.join(names())}")
    data.add_argument("--out", default=None, help="the CSV file to write (default: standard output)")
    _debug(data)
    priors = commands.add_parser("priors", help="list the prior presets or show one",
                                 description="'bayesmm priors list' lists the presets; 'bayesmm priors show NAME' "
                                             "prints a preset's TOML file (its rules and where they come from).")
    priors.add_argument("action", choices=["list", "show"], help="list the presets or show one")
    priors.add_argument("name", nargs="?", default=None, help="the preset to show")
    _debug(priors)
    return parser


def _write_outputs(fit, args) -> None:
    if getattr(args, "save", None):
        print(f"Saved the fit to {fit.save(args.save)}")
    if getattr(args, "report", None):
        embed = True if getattr(args, "embed_images", False) else None  # None: the format's default
        print(f"Wrote the report to {fit.report(args.report, embed)}")


def _fit(args) -> int:
    from . import datasets
    from .api import fit
    from .errors import BayesMMWarning

    from .cli_data import check_order, check_outputs, read_flags, read_table
    from .phrasing import for_command_line

    sampler = dict(chains=args.chains, draws=args.draws, warmup=args.warmup, seed=args.seed,
                   target_accept=args.target_accept, max_tree_depth=args.max_tree_depth,
                   progress=False if args.quiet else (True if args.progress else None),
                   centered={"auto": None, "true": True, "false": False}[args.centered])
    if args.method != "nuts":  # --warmup's default is NUTS's; the approximation has no warmup
        sampler = dict(sampler, method=args.method, warmup=0)
    check_outputs(args)
    if args.command == "example":
        data_name, formula, family = datasets.EXAMPLES[args.name]
        data, link, priors, factors = datasets.load(data_name), None, None, None
        audience = for_command_line(f"{data_name}.csv", datasets.reading_flags(data), example=args.name)
    else:
        check_order(args.data, args.formula, "fit", ("data file", "formula"))
        data = read_table(args.data, args.sep)
        formula, family, link = args.formula, args.family, args.link
        priors = args.priors[0] if args.priors and len(args.priors) == 1 else args.priors
        factors = [c.strip() for c in args.factors.split(",") if c.strip()] or None
        audience = for_command_line(args.data, read_flags(data))
    with audience, warnings.catch_warnings():  # the status line opens the printed summary: not twice
        warnings.filterwarnings("ignore", message=r"(WARNING|NOTE): ", category=BayesMMWarning)
        parts = {name: getattr(args, name, None) for name in ("zi", "hu", "dispersion", "weights", "autocor")}
        result = fit(formula, data, family=family, link=link, priors=priors, factors=factors, **parts, **sampler)
        print(result)
    _write_outputs(result, args)
    return 0


def _summary(args) -> int:
    from .cli_data import check_outputs
    from .fit import load

    check_outputs(args)
    result = load(args.fit)
    print(result)
    if args.report:
        embed = True if getattr(args, "embed_images", False) else None  # None: the format's default
        print(f"Wrote the report to {result.report(args.report, embed)}")
    return 0


def _predict(args) -> int:
    import pandas as pd

    from .cli_data import check_order, check_outputs, new_trials, read_table, rounded
    from .fit import load
    from .phrasing import for_command_line

    check_order(args.fit, args.newdata, "predict", ("saved fit", "new data file"))
    check_outputs(args)
    result = load(args.fit)
    design = result.design
    columns = list(design.spec.variables) + [v for part in design.part_specs.values() for v in part.variables]
    newdata = read_table(args.newdata, args.sep, [c for c in columns if c not in design.numeric_columns])
    re = args.re if args.re in ("all", "none") else [g.strip() for g in args.re.split(",") if g.strip()]
    with for_command_line(args.newdata):
        table = result.predict(newdata, kind=args.kind, re=re, new_levels=args.new_levels, prob=args.prob,
                               seed=args.seed, trials=new_trials(args.trials, newdata))
    out = pd.concat([newdata.reset_index(drop=True), table.reset_index(drop=True)], axis=1)
    if args.out:
        try:
            out.to_csv(args.out, index=False)
        except OSError as err:
            from .errors import DataError

            raise DataError(f"Cannot write {args.out}: {err.strerror}.") from None
        print(f"Wrote {len(out)} predictions to {args.out}")
    else:
        print(pd.concat([newdata.reset_index(drop=True), rounded(table).reset_index(drop=True)], axis=1)
              .to_csv(index=False), end="")
    return 0


def _at_values(items) -> dict | None:
    from .errors import BayesMMError

    values = {}
    for item in items:
        name, sep, text = item.partition("=")
        try:
            values[name.strip()] = [float(v) for v in text.split(",")]
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise BayesMMError(f"--at takes NAME=V1,V2,... with numbers, e.g. --at Days=0,5,9; not '{item}'.")
    return values or None


def _print_table(table, out) -> None:
    import pandas as pd

    if out:
        try:
            table.to_csv(out, index=not isinstance(table.index, pd.RangeIndex))
        except OSError as err:
            from .errors import DataError

            raise DataError(f"Cannot write {out}: {err.strerror}.") from None
        print(f"Wrote {len(table)} rows to {out}")
    else:
        with pd.option_context("display.max_rows", 500, "display.max_columns", None, "display.width", 250,
                               "display.max_colwidth", 80, "display.precision", 4):
            print(table)


def _means(args) -> int:
    from .cli_data import check_outputs
    from .fit import load

    check_outputs(args)
    result = load(args.fit)
    group, chosen, level = args.re.partition("=")
    re = {group.strip(): level.strip()} if chosen else args.re
    options = dict(by=[b.strip() for b in args.by.split(",")] if args.by else None, at=_at_values(args.at),
                   scale=args.scale, re=re, weights=args.weights, prob=args.prob)
    specs = args.specs if len(args.specs) > 1 else args.specs[0]
    table = result.comparisons(specs, **options) if args.pairs else result.means(specs, **options)
    _print_table(table, args.out)
    return 0


def _r2(args) -> int:
    from .fit import load

    _print_table(load(args.fit).r2(prob=args.prob), None)
    return 0


def _priors(args) -> int:
    from .cli_data import show_presets

    show_presets(args.action, args.name)
    return 0


def _data(args) -> int:
    from .cli_data import write_dataset

    write_dataset(args.name, args.out)
    return 0


_COMMANDS = {"fit": _fit, "example": _fit, "summary": _summary, "predict": _predict, "means": _means, "r2": _r2,
             "data": _data, "priors": _priors}


def main(argv=None) -> int:
    """Entry point of the ``bayesmm`` console script: returns the exit status (0, or 2 on an error)."""
    from .errors import BayesMMError, BayesMMWarning

    args = _parser().parse_args(argv)
    warnings.simplefilter("always", BayesMMWarning)
    warnings.formatwarning = lambda message, category, *rest: f"{category.__name__}: {message}\n"
    restore = _end_on_interrupt()
    try:
        return _COMMANDS[args.command](args)
    except BrokenPipeError:  # `bayesmm priors list | head`: the reader left; as Python's docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as err:  # noqa: BLE001 - the command line prints one line, never a traceback
        if args.debug:
            raise
        if isinstance(err, BayesMMError):
            print(f"bayesmm: error: {err}", file=sys.stderr)
        else:
            print(f"bayesmm: unexpected error ({type(err).__name__}): {err}. Run again with --debug for the "
                  "traceback and report it.", file=sys.stderr)
        return 2
    finally:
        restore()


def _interrupted(signum, frame) -> None:
    """Ctrl-C: one line and exit status 130 (128 + SIGINT), at once, whatever runs. The process ends without
    Python's shutdown, which a compiled program still running in another thread could crash."""
    from .sampler.progress import current_line

    line = current_line()
    if line is not None:
        line.break_line()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is sys.stderr:
                stream.write("bayesmm: interrupted; nothing saved\n")
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(130)


def _end_on_interrupt():
    """Make Ctrl-C end the command (:func:`_interrupted`); returns what puts the previous handler back (for
    ``main`` called from Python). Only the main thread can set a signal handler: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGINT, _interrupted)
    return lambda: signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


if __name__ == "__main__":
    sys.exit(main())
