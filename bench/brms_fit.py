"""The ``brms`` fitter of the sampling benchmark: ``Rscript bench/brms_glmm.R`` on one model.

brms (Stan through rstan) is a peer with pyglmm's own model and priors: pyglmm's defaults are
brms's. On Debian ``apt-get install r-cran-brms libboost-dev`` installs it (if
``/usr/lib/R/site-library/BH/include`` lacks the Boost headers, link it to ``/usr/include``).
The worker writes the data to a CSV with the factor levels in their order (so treatment
contrasts share pyglmm's reference level), calls the R script and reads its JSON result; the
timings are R's (``brm(chains = 0)`` builds and compiles the Stan program, ``update()`` samples
with it; see the script). R's memory is the worker's child process: ``peak_rss_children_mb``.

Without ``Rscript`` or the R packages the row is ``skipped`` with a note (not an error).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from workers import NotRun

SCRIPT = Path(__file__).resolve().parent / "brms_glmm.R"
R_PACKAGES = ("brms", "rstan", "posterior", "jsonlite")
CHECK = (
    "ok <- sapply(commandArgs(TRUE), requireNamespace, quietly = TRUE); "
    "if (!all(ok)) { cat(names(ok)[!ok]); quit(status = 3) }"
)


def check_r() -> str:
    """The ``Rscript`` path; raises :class:`NotRun` (``skipped``) without R or its packages."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise NotRun("skipped", "no Rscript on PATH (apt-get install r-cran-brms)")
    proc = subprocess.run(
        [rscript, "-e", CHECK, *R_PACKAGES], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        missing = proc.stdout.strip() or proc.stderr.strip()[-200:]
        raise NotRun("skipped", f"R lacks {missing} (apt-get install r-cran-brms)")
    return rscript


def fit_brms(spec: Any, df: pd.DataFrame, a: argparse.Namespace) -> dict[str, Any]:
    """brms on ``spec`` (its ``formula_for("brms")``): chains, draws + tune per chain, tune as
    warm-up, ``cores`` and ``seed`` as the other fitters."""
    rscript = check_r()
    factors = {
        str(col): [str(v) for v in df[col].cat.categories]
        for col in df.columns
        if isinstance(df[col].dtype, pd.CategoricalDtype)
    }
    with tempfile.TemporaryDirectory(prefix="bench-brms-") as tmp:
        data, out, spec_file = (Path(tmp) / n for n in ("data.csv", "out.json", "spec.json"))
        df.to_csv(data, index=False)
        spec_file.write_text(
            json.dumps(
                {
                    "data": str(data),
                    "formula": spec.formula_for("brms"),
                    "family": spec.family,
                    "factors": factors,
                    "chains": a.chains,
                    "iter": a.draws + a.tune,
                    "warmup": a.tune,
                    "cores": a.cores,
                    "seed": a.seed,
                    "out": str(out),
                }
            )
        )
        proc = subprocess.run([rscript, str(SCRIPT), str(spec_file)], check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"{SCRIPT.name} exited with code {proc.returncode} (see the log)")
        res = json.loads(out.read_text())
    versions = res.pop("versions", "")
    res["note"] = f"rstan; compile = brm(chains = 0); {versions}"
    return res
