"""The benchmark suite: one entry per model, as bayesmm and Bambi spell it (shared by the scripts here).

Kept free of bayesmm and bambi imports: ``bambi_fit.py`` runs in Bambi's own environment (Bambi 0.17
needs formulae < 0.7, bayesmm formulae 0.9), and reads the same CSV files bayesmm bundles.
"""
from __future__ import annotations

import pathlib

DATASETS = pathlib.Path(__file__).resolve().parents[1] / "bayesmm" / "datasets"

#: name -> (data set, bayesmm formula, bayesmm family, Bambi formula, Bambi family, factor columns)
MODELS = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "gaussian",
                   "Reaction ~ Days + (Days | Subject)", "gaussian", ["Subject"]),
    "cbpp": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial",
             "p(incidence, size) ~ period + (1 | herd)", "binomial", ["herd", "period"]),
    "penicillin": ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "gaussian",
                   "diameter ~ 1 + (1 | plate) + (1 | sample)", "gaussian", ["plate", "sample"]),
    "pastes": ("pastes", "strength ~ 1 + (1 | batch/cask)", "gaussian",
               "strength ~ 1 + (1 | batch) + (1 | batch:cask)", "gaussian", ["batch", "cask"]),
    "orthodont": ("orthodont", "distance ~ age * Sex + (age | Subject)", "gaussian",
                  "distance ~ age * Sex + (age | Subject)", "gaussian", ["Subject", "Sex"]),
    "grouseticks": ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson",
                    "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "poisson",
                    ["INDEX", "BROOD", "YEAR", "LOCATION"]),
    "salamanders": ("salamanders", "count ~ spp * mined + (1 | site)", "negbinomial",
                    "count ~ spp * mined + (1 | site)", "negativebinomial", ["spp", "mined", "site"]),
    "verbagg": ("verbagg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "bernoulli",
                "r2['Y'] ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "bernoulli",
                ["id", "item", "Gender", "btype", "situ", "r2"]),
    "insteval": ("insteval", "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", "gaussian",
                 "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)", "gaussian", ["s", "d", "dept", "service"]),
}

#: brms 2.18 wall seconds and min bulk ESS (4 x (1000 + 1000), 2 cores, run once; tests/reference).
BRMS = {"sleepstudy": (63, 991), "cbpp": (38, 1571), "verbagg": (161, 639), "insteval": (2211, 614)}


def sampler_arguments(parser, rows: int):
    """``--rows`` (default ``rows``) and the sampler's ``--chains/--draws/--warmup`` (4 x (1000 + 1000)), as
    the benchmark goals state them; returns the parser."""
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    return parser
