"""Read the lme4/glmmTMB and brms reference fits in tests/reference (see its README) in bayesmm's names."""
from __future__ import annotations

import json
import re
from pathlib import Path

REFERENCE = Path(__file__).parent / "reference"


def r_name(term: str) -> str:
    """bayesmm's 'period[2]' / 'age:Sex[Male]' -> R's 'period2' / 'age:SexMale'."""
    return re.sub(r"\[([^\]]*)\]", r"\1", term)


def group_key(group: str) -> frozenset:
    """lme4 writes nested groups as 'cask:batch' (bayesmm: 'batch:cask') and a second block of the same
    group as 'Subject.1'."""
    return frozenset(re.sub(r"\.\d+$", "", group).split(":"))


def lme4(case: str, method: str = "REML") -> dict:
    """{'fixef': {R name: value}, 'sd': {(group key, term): value}, 'cor': {...}, 'sigma': value}."""
    raw = json.loads((REFERENCE / f"{case}.lme4.json").read_text())
    block = raw.get(method, raw)
    fixef = {("Intercept" if k == "(Intercept)" else k): v for k, v in block["fixef"].items()}
    sd, cor = {}, {}
    for group, entry in block["varcorr"].items():
        terms = list(entry["sd"])
        for term, value in entry["sd"].items():
            sd[(group_key(group), "Intercept" if term == "(Intercept)" else term)] = value
        for i, a in enumerate(terms):
            for j in range(i + 1, len(terms)):
                if "cor" in entry:
                    cor[(group_key(group), a.strip("()"), terms[j].strip("()"))] = entry["cor"][i][j]
    return {"fixef": fixef, "se": block.get("se", {}), "sd": sd, "cor": cor, "sigma": block.get("sigma"),
            "dispersion": raw.get("dispersion")}


def has_brms(case: str) -> bool:
    return (REFERENCE / f"{case}.brms.json").exists()


def brms(case: str) -> dict:
    """brms summary rows keyed like bayesmm's tidy() rows: (effect, group key, R-style term) -> row."""
    raw = json.loads((REFERENCE / f"{case}.brms.json").read_text())
    rows = {}
    for row in raw["summary"]:
        var = row["variable"]
        if var.startswith("b_"):
            key = ("fixed", frozenset(), var[2:])
        elif var.startswith("sd_"):
            group, term = var[3:].split("__")
            key = ("ran_pars", group_key(group), f"sd__{term}")
        elif var.startswith("cor_"):
            group, a, b = var[4:].split("__")
            key = ("ran_pars", group_key(group), f"cor__{a}.{b}")
        elif var == "sigma":
            key = ("ran_pars", group_key("Residual"), "sd__Observation")
        else:  # brms calls the negative binomial's phi 'shape'
            key = ("family", frozenset(), {"shape": "phi"}.get(var, var))
        rows[key] = row
    return {"rows": rows, "divergences": raw["divergences"]}


def tidy_key(row, brms_names: bool = False) -> tuple:
    """(effect, group key, R-style term); brms also writes a '-' in a level name as 'M' ('EC-A' -> 'ECMA')."""
    group = group_key(row["group"]) if row["group"] else frozenset()
    term = r_name(row["term"])
    return (row["effect"], group, term.replace("-", "M") if brms_names else term)
