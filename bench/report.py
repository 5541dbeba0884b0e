"""Report side of the sampling benchmark: what the driver makes of the workers' results.

* :func:`add_rates`: ESS per second, the reference row's ESS/s over each row's (``auto/x``),
  each row's ESS/s over the peer's (``vs bambi``: bambi + nutpie by default) and the
  convergence check (R-hat <= 1.01, no divergences);
* :func:`display_table` (:data:`TABLE_COLUMNS`, number formatting) and :func:`markdown`: the
  printed table and its markdown;
* :func:`agreement`, :func:`display_agreement`, :func:`agreement_verdicts`: the parameter by
  parameter comparison of the :data:`AGREEMENT_PAIRS` (issue #3 and #16: means within
  :data:`AGREEMENT_LIMIT` MCSE; for an approximation its error in posterior SDs);
* :func:`targets`: issue #16's targets per model (ESS/s against bambi, time to the first draw);
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

# Pairs of fitters compared parameter by parameter, (a, b, kind). "exact": both sample the same
# posterior (another parameterization, another engine), so their means agree within
# AGREEMENT_LIMIT Monte Carlo standard errors; "approx": b approximates a's posterior (laplace
# integrates blocks out approximately): its error is |mean_b - mean_a| / sd_a, reported, not
# tested.
AGREEMENT_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("pyglmm-auto", "pyglmm-noncentered", "exact"),
    ("pyglmm-auto", "pyglmm-pymc", "exact"),
    ("pyglmm-auto", "pyglmm-laplace", "approx"),
)
# the fitters whose workers write their posterior means and MCSEs
AGREEMENT = tuple(dict.fromkeys(f for a, b, _ in AGREEMENT_PAIRS for f in (a, b)))
AGREEMENT_LIMIT = 3.0  # |mean difference| / combined MCSE
RHAT_LIMIT = 1.01  # the convergence check of the table (with no divergences)
PEER = "bambi-nutpie"  # the "vs bambi" columns divide by its ESS/s
START_LIMIT = 1.0  # seconds from pg.Model(...) to the first draw (issue #16, a second fit)

# Columns of the printed / markdown table (the CSV holds every field).
TABLE_COLUMNS = {
    "model": "model",
    "fitter": "fitter",
    "interpreter": "python",
    "status": "status",
    "wall_s": "wall s",
    "start_s": "start s",
    "compile_s": "compile s",
    "sample_s": "sample s",
    "min_ess": "min ESS",
    "ess_per_s_wall": "ESS/s wall",
    "ess_per_s_sample": "ESS/s sample",
    "max_rhat": "max R-hat",
    "divergences": "div",
    "check": "check",
    "steps_per_draw": "steps/draw",
    "n_params": "params",
    "peak_rss_mb": "peak RSS MB",
    "vs_peer_wall": "vs bambi wall",
    "vs_peer_sample": "vs bambi sample",
    "auto_ratio_wall": "auto/x wall",
    "auto_ratio_sample": "auto/x sample",
    "note": "note",
}


def convergence(max_rhat: float, divergences: float) -> str:
    """``ok`` when R-hat <= :data:`RHAT_LIMIT` and there are no divergences, else what
    failed."""
    problems = []
    if not max_rhat <= RHAT_LIMIT:  # NaN fails too
        problems.append(f"R-hat {max_rhat:.3f}")
    if divergences != 0:  # NaN too
        problems.append(f"{divergences:.0f} div")
    return "ok" if not problems else ", ".join(problems)


def add_rates(df: pd.DataFrame, reference: str, peer: str = PEER) -> pd.DataFrame:
    """ESS per second; the reference row's ESS/s over each row's (``auto_ratio_*``) and each
    row's ESS/s over ``peer``'s (``vs_peer_*``: > 1 means faster than the peer), same model;
    the convergence ``check`` of each fitted row."""
    df = df.copy()
    for col in ("wall_s", "sample_s", "min_ess", "compile_s", "build_s", "start_s", "max_rhat"):
        if col not in df:
            df[col] = math.nan
    if "divergences" not in df:
        df["divergences"] = math.nan
    df["ess_per_s_wall"] = df["min_ess"] / df["wall_s"]
    df["ess_per_s_sample"] = df["min_ess"] / df["sample_s"]
    df.loc[df["status"] != "ok", ["ess_per_s_wall", "ess_per_s_sample"]] = math.nan
    for kind in ("wall", "sample"):
        col = f"ess_per_s_{kind}"

        def rate_of(fitter: str, col: str = col) -> pd.Series:
            ok = df[(df["fitter"] == fitter) & (df["status"] == "ok")]
            return df["model"].map(ok.set_index("model")[col])

        df[f"auto_ratio_{kind}"] = rate_of(reference) / df[col]
        df[f"vs_peer_{kind}"] = df[col] / rate_of(peer)
    df["check"] = [
        convergence(r, d) if st == "ok" else ""
        for r, d, st in zip(df["max_rhat"], df["divergences"], df["status"], strict=True)
    ]
    return df


def _fmt(value: Any, col: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        if col == "max_rhat":
            return f"{value:.3f}"
        if col.startswith(("auto_ratio", "vs_peer")):
            return f"{value:.2f}"
        if col in ("min_ess", "peak_rss_mb", "steps_per_draw"):
            return f"{value:.0f}"
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def display_table(df: pd.DataFrame, reference: str, peer: str = PEER) -> pd.DataFrame:
    names = dict(TABLE_COLUMNS)
    if reference.split("@")[0] != "pyglmm-auto":  # "auto/x" would mislead
        names["auto_ratio_wall"], names["auto_ratio_sample"] = "ref/x wall", "ref/x sample"
    if peer != PEER:
        names["vs_peer_wall"], names["vs_peer_sample"] = f"vs {peer} wall", f"vs {peer} sample"
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
    "z = |mean_a - mean_b| / sqrt(mcse_a^2 + mcse_b^2) (arviz `summary` mean and mcse_mean); "
    f"two fits of the same posterior agree on a parameter when z <= {AGREEMENT_LIMIT:g}. "
    "err/sd = |mean_a - mean_b| / sd_a, the error of an approximation (laplace) in posterior SDs"
)


def _short(fitter: str) -> str:
    return fitter.removeprefix("pyglmm-")


def agreement(
    posteriors: dict[tuple[str, str], dict[str, Any]],
    names: dict[str, str],
    pyglmm: list[Interpreter],
) -> Any:
    """One row per (model, interpreter, pair of :data:`AGREEMENT_PAIRS`, parameter) where both
    fitters of the pair succeeded under the same interpreter: their means, MCSEs, ``z``,
    whether ``z <= AGREEMENT_LIMIT`` and ``err_sd`` = |difference| / sd of the first."""
    rows = []
    for m, name in names.items():
        for interp in pyglmm:

            def label(f: str, interp: Interpreter = interp) -> str:
                return f if len(pyglmm) == 1 else f"{f}@{interp.label}"

            for fa, fb, kind in AGREEMENT_PAIRS:
                pa = posteriors.get((m, label(fa)))
                pb = posteriors.get((m, label(fb)))
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
                    sd = sa.get("sd", math.nan)
                    rows.append(
                        {
                            "model": f"{m} {name}",
                            "interpreter": interp.label,
                            "pair": f"{_short(fa)} vs {_short(fb)}",
                            "kind": kind,
                            "a_parameterization": param_a,
                            "parameter": p,
                            "mean_a": sa["mean"],
                            "mcse_a": sa["mcse_mean"],
                            "mean_b": sb["mean"],
                            "mcse_b": sb["mcse_mean"],
                            "z": z,
                            "agree": bool(z <= AGREEMENT_LIMIT),
                            "err_sd": diff / sd if sd > 0 else math.nan,
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
            "pair (a vs b)": agree["pair"],
            "parameter": agree["parameter"],
            "a mean": [num(v) for v in agree["mean_a"]],
            "a mcse": [num(v) for v in agree["mcse_a"]],
            "b mean": [num(v) for v in agree["mean_b"]],
            "b mcse": [num(v) for v in agree["mcse_b"]],
            "z": [f"{v:.2f}" for v in agree["z"]],
            f"z <= {AGREEMENT_LIMIT:g}": [
                ("yes" if v else "NO") if k == "exact" else "-"
                for v, k in zip(agree["agree"], agree["kind"], strict=True)
            ],
            "err/sd": [f"{v:.3f}" for v in agree["err_sd"]],
        }
    )


def agreement_verdicts(agree: pd.DataFrame, bullet: str = "  ") -> str:
    """One line per model, pair (and interpreter): for two fits of one posterior how many
    parameters agree; for an approximation its largest and mean error in posterior SDs."""
    multi = agree["interpreter"].nunique() > 1
    lines = []
    groups = agree.groupby(["model", "pair", "interpreter"], sort=False)
    for (model, pair, interp), grp in groups:
        where = f" @{interp}" if multi else ""
        a_param = grp["a_parameterization"].iloc[0]
        if grp["kind"].iloc[0] == "exact":
            n_ok = int(grp["agree"].sum())
            verdict = "all agree" if n_ok == len(grp) else f"{len(grp) - n_ok} DISAGREE"
            lines.append(
                f"{bullet}model {model}{where}, {pair}: {n_ok}/{len(grp)} within "
                f"{AGREEMENT_LIMIT:g} MCSE ({verdict}; max z {grp['z'].max():.2f}; "
                f"a = {a_param})"
            )
        else:
            worst = grp.loc[grp["err_sd"].idxmax()] if grp["err_sd"].notna().any() else None
            where_worst = "" if worst is None else f" ({worst['parameter']})"
            lines.append(
                f"{bullet}model {model}{where}, {pair} (approximation): error max "
                f"{grp['err_sd'].max():.3f}{where_worst}, mean {grp['err_sd'].mean():.3f} "
                f"posterior SDs over {len(grp)} parameters (max z {grp['z'].max():.2f}; "
                f"a = {a_param})"
            )
    return "\n".join(lines)


def targets(
    table: pd.DataFrame, goals: dict[str, float | None], reference: str, peer: str = PEER
) -> pd.DataFrame:
    """Issue #16's targets, one row per model of ``goals`` (the table's model label -> the
    required ratio of ESS/s, wall, over ``peer``'s, or None for no ratio target) that the
    reference fitted: the ratio, the reference's convergence check, its time to the first
    draw (``start_s`` < :data:`START_LIMIT`) and whether each target is met."""
    rows = []
    for model, goal in goals.items():
        ref = table[(table["model"] == model) & (table["fitter"] == reference)]
        if ref.empty or ref["status"].iloc[0] != "ok":
            continue
        r = ref.iloc[0]
        ratio = r["vs_peer_wall"]
        rows.append(
            {
                "model": model,
                f"ESS/s wall vs {peer}": "" if math.isnan(ratio) else f"{ratio:.2f}x",
                "target": "" if goal is None else f">= {goal:g}x",
                "ratio met": ""
                if goal is None or math.isnan(ratio)
                else ("yes" if ratio >= goal else "NO"),
                "check": r["check"],
                "start s": _fmt(r["start_s"], "start_s"),
                f"start < {START_LIMIT:g} s": ""
                if math.isnan(r["start_s"])
                else ("yes" if r["start_s"] < START_LIMIT else "NO"),
                "wall s": _fmt(r["wall_s"], "wall_s"),
                "peak RSS MB": _fmt(r.get("peak_rss_mb", math.nan), "peak_rss_mb"),
            }
        )
    return pd.DataFrame(rows)


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
