"""Report side of the sampling benchmark: what the driver makes of the workers' results.

* :func:`add_rates`: ESS per second and the reference row's ESS/s over each row's;
* :func:`display_table` (:data:`TABLE_COLUMNS`, number formatting) and :func:`markdown`: the
  printed table and its markdown;
* :func:`agreement`, :func:`display_agreement`, :func:`agreement_verdicts`: the parameter by
  parameter comparison of the :data:`AGREEMENT` fitters (issue #3: means within
  :data:`AGREEMENT_LIMIT` MCSE);
* :func:`environment`: the run's header (machine, settings, each interpreter's versions).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
from typing import Any

import pandas as pd
from interpreters import Interpreter

AGREEMENT = ("pyglmm-auto", "pyglmm-noncentered")  # compared parameter by parameter
AGREEMENT_LIMIT = 3.0  # |mean difference| / combined MCSE

# Columns of the printed / markdown table (the CSV holds every field).
TABLE_COLUMNS = {
    "model": "model",
    "fitter": "fitter",
    "interpreter": "python",
    "status": "status",
    "wall_s": "wall s",
    "compile_s": "compile s",
    "sample_s": "sample s",
    "min_ess": "min ESS",
    "ess_per_s_wall": "ESS/s wall",
    "ess_per_s_sample": "ESS/s sample",
    "max_rhat": "max R-hat",
    "divergences": "div",
    "steps_per_draw": "steps/draw",
    "n_params": "params",
    "peak_rss_mb": "peak RSS MB",
    "auto_ratio_wall": "auto/x wall",
    "auto_ratio_sample": "auto/x sample",
    "note": "note",
}


def add_rates(df: pd.DataFrame, reference: str) -> pd.DataFrame:
    """ESS per second, and the reference row's ESS/s over each row's (same model)."""
    df = df.copy()
    for col in ("wall_s", "sample_s", "min_ess", "compile_s", "build_s", "max_rhat"):
        if col not in df:
            df[col] = math.nan
    df["ess_per_s_wall"] = df["min_ess"] / df["wall_s"]
    df["ess_per_s_sample"] = df["min_ess"] / df["sample_s"]
    df.loc[df["status"] != "ok", ["ess_per_s_wall", "ess_per_s_sample"]] = math.nan
    for kind in ("wall", "sample"):
        col = f"ess_per_s_{kind}"
        ref = df[(df["fitter"] == reference) & (df["status"] == "ok")].set_index("model")[col]
        df[f"auto_ratio_{kind}"] = df["model"].map(ref) / df[col]
    return df


def _fmt(value: Any, col: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if col == "max_rhat":
            return f"{value:.3f}"
        if col.startswith("auto_ratio"):
            return f"{value:.2f}"
        if col in ("min_ess", "peak_rss_mb", "steps_per_draw"):
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def display_table(df: pd.DataFrame, reference: str) -> pd.DataFrame:
    names = dict(TABLE_COLUMNS)
    if reference.split("@")[0] != "pyglmm-auto":  # "auto/x" would mislead
        names["auto_ratio_wall"], names["auto_ratio_sample"] = "ref/x wall", "ref/x sample"
    cols = [c for c in names if c in df]
    shown = pd.DataFrame({names[c]: [_fmt(v, c) for v in df[c]] for c in cols})
    return shown


def markdown(shown: pd.DataFrame) -> str:
    head = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = [
        "| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
        for row in shown.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


AGREEMENT_TEXT = (
    "z = |mean_auto - mean_nc| / sqrt(mcse_auto^2 + mcse_nc^2) (arviz `summary` mean and "
    f"mcse_mean); the fits agree on a parameter when z <= {AGREEMENT_LIMIT:g}"
)


def agreement(
    posteriors: dict[tuple[str, str], dict[str, Any]],
    names: dict[str, str],
    pyglmm: list[Interpreter],
) -> Any:
    """One row per (model, interpreter, parameter) fitted by both :data:`AGREEMENT` fitters
    under the same interpreter: their means, MCSEs, ``z`` and whether ``z <= AGREEMENT_LIMIT``.
    """
    rows = []
    for m, name in names.items():
        for interp in pyglmm:

            def label(f: str, interp: Interpreter = interp) -> str:
                return f if len(pyglmm) == 1 else f"{f}@{interp.label}"

            pa = posteriors.get((m, label(AGREEMENT[0])))
            pb = posteriors.get((m, label(AGREEMENT[1])))
            if pa is None or pb is None:
                continue
            param_a = ", ".join(f"{k}={v}" for k, v in pa["parameterization"].items())
            for p, sa in pa["params"].items():
                sb = pb["params"].get(p)
                if sb is None:
                    continue
                se = math.hypot(sa["mcse_mean"], sb["mcse_mean"])
                diff = abs(sa["mean"] - sb["mean"])
                z = diff / se if se > 0 else (0.0 if diff == 0 else math.inf)
                rows.append(
                    {
                        "model": f"{m} {name}",
                        "interpreter": interp.label,
                        "auto_parameterization": param_a,
                        "parameter": p,
                        "mean_auto": sa["mean"],
                        "mcse_auto": sa["mcse_mean"],
                        "mean_nc": sb["mean"],
                        "mcse_nc": sb["mcse_mean"],
                        "z": z,
                        "agree": bool(z <= AGREEMENT_LIMIT),
                    }
                )
    return pd.DataFrame(rows)


def display_agreement(agree: pd.DataFrame) -> pd.DataFrame:
    def num(v: float) -> str:
        return f"{v:.4g}"

    cols: dict[str, Any] = {"model": agree["model"]}
    if agree["interpreter"].nunique() > 1:
        cols["python"] = agree["interpreter"]
    return pd.DataFrame(
        {
            **cols,
            "parameter": agree["parameter"],
            "auto mean": [num(v) for v in agree["mean_auto"]],
            "auto mcse": [num(v) for v in agree["mcse_auto"]],
            "nc mean": [num(v) for v in agree["mean_nc"]],
            "nc mcse": [num(v) for v in agree["mcse_nc"]],
            "z": [f"{v:.2f}" for v in agree["z"]],
            f"z <= {AGREEMENT_LIMIT:g}": ["yes" if v else "NO" for v in agree["agree"]],
        }
    )


def agreement_verdicts(agree: pd.DataFrame, bullet: str = "  ") -> str:
    """One line per model (and interpreter): how many parameters agree, and auto's
    parameterization."""
    multi = agree["interpreter"].nunique() > 1
    lines = []
    for (model, interp), grp in agree.groupby(["model", "interpreter"], sort=False):
        n_ok = int(grp["agree"].sum())
        verdict = "all agree" if n_ok == len(grp) else f"{len(grp) - n_ok} DISAGREE"
        where = f" @{interp}" if multi else ""
        lines.append(
            f"{bullet}model {model}{where}: {n_ok}/{len(grp)} within {AGREEMENT_LIMIT:g} MCSE "
            f"({verdict}; max z {grp['z'].max():.2f}; auto = "
            f"{grp['auto_parameterization'].iloc[0]})"
        )
    return "\n".join(lines)


def environment(
    a: argparse.Namespace, interps: list[Interpreter], reference: str, planned: bool
) -> dict[str, str]:
    """The run's header: machine, settings, and per interpreter its path and versions (as
    reported by that interpreter)."""
    env = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": str(os.cpu_count()),
        "settings": f"chains={a.chains} draws={a.draws} tune={a.tune} cores={a.cores} "
        f"seed={a.seed}",
    }
    for interp in interps:
        env[f"python {interp.label} ({', '.join(interp.roles)})"] = interp.describe()
    env["ratio reference"] = (
        f"{reference} (ratio columns: its ESS/s divided by the row's, same model)"
        if planned
        else f"{reference} (not in this run: no ratios)"
    )
    return env
