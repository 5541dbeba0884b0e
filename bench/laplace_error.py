"""The error of ``parameterization="laplace"`` against exact NUTS (issue #16; ``docs/laplace.md``).

    python bench/laplace_error.py                          # all models, 4 chains x 1000 + 1000
    python bench/laplace_error.py --models cbpp,bern_500x5 --draws 500 --tune 500

For each model, two kernel fits with the same seed, draws, tuning and chains: the exact one
(``parameterization="auto"``: every block latent, centered or non-centered by rows per level)
and the Laplace one (the same, with one block, ``block`` below, integrated out by the embedded
Laplace approximation, :mod:`pyglmm.kernel.laplace`). Per parameter (fixed effects, ``sd`` and
``cor`` of each block, the family parameter) and, summarised, per effect ``r`` of the integrated
block (``r[block]``: the largest and median |z| over levels, the median SD ratio and coverage):

* ``z = (mean_laplace - mean_exact) / sd_exact``: the error of the mean in posterior SDs;
* ``sd_ratio = sd_laplace / sd_exact``;
* ``cov90`` / ``cov50``: the share of the exact draws inside the Laplace fit's central 90% /
  50% interval (0.90 / 0.50 if the two posteriors agree);
* ``mcse_sd = mcse_exact / sd_exact``: the Monte Carlo error of the exact mean in the same
  units, so a ``|z|`` of a few ``mcse_sd`` is noise, not bias (``z_mcse`` divides the
  difference by both fits' MCSEs combined);

plus R-hat of each parameter, and per fit the divergences, max R-hat, min bulk ESS and wall
time (``pg.Model`` to the returned fit, including the kernel load / compile). Prints markdown
tables and writes the CSV (``--out``, relative paths under ``bench/results/``, gitignored).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

import azcompat  # noqa: E402  (bench/, on the path above)
import data  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    formula: str
    family: str
    load: Callable[[], pd.DataFrame]
    block: str  # the block integrated out by the Laplace fit
    note: str
    trials: str | None = None  # a binomial's trials column


def _bench(key: str) -> tuple[str, str, Callable[[], pd.DataFrame]]:
    """Formula, family and loader of ``bench/data.py``'s model ``key`` (run.py's models)."""
    m = data.MODELS[key]
    return m.formula_for("pyglmm"), m.family, m.load


def _bern(n_groups: int, n_per_group: int) -> Callable[[], pd.DataFrame]:
    # y ~ x + (1 | g): intercept -0.5, slope 0.8, sd 1 (data.simulate_bernoulli, no slope SD)
    return lambda: data.simulate_bernoulli(n_groups, n_per_group, sd=(1.0, 0.0))


CASES: dict[str, Case] = {
    "cbpp": Case("cbpp", *_bench("6"), "herd", "15 herds x ~4 periods, binomial", "size"),
    "epilepsy": Case("epilepsy", *_bench("7"), "patient", "59 patients x 4 visits, Poisson counts"),
    "epilepsy_obs": Case(
        "epilepsy_obs", *_bench("8"), "obs", "(1 | obs): one Poisson count per level"
    ),
    "epilepsy_obs_patient": Case(
        "epilepsy_obs_patient", *_bench("8"), "patient", "the same, patient integrated out"
    ),
    "verbagg": Case("verbagg", *_bench("9"), "id", "316 respondents x 24 items, Bernoulli"),
    "bern_1000x2": Case(
        "bern_1000x2", "y ~ x + (1 | g)", "bernoulli", _bern(1000, 2), "g", "2 rows per level"
    ),
    "bern_500x5": Case(
        "bern_500x5", "y ~ x + (1 | g)", "bernoulli", _bern(500, 5), "g", "5 rows per level"
    ),
    "bern_250x20": Case(
        "bern_250x20", "y ~ x + (1 | g)", "bernoulli", _bern(250, 20), "g", "20 rows per level"
    ),
    "bern_200x50": Case(
        "bern_200x50", "y ~ x + (1 | g)", "bernoulli", _bern(200, 50), "g", "50 rows per level"
    ),
}


def _key(p: Any) -> str:
    """``b:Intercept``, ``sd:herd:sd(Intercept)``, ``cor:...``, ``shape`` (as run.py)."""
    if p.label == p.cls:
        return str(p.cls)
    return f"{p.cls}:{p.group}:{p.label}".replace("::", ":")


def _params(fit: Any) -> dict[str, np.ndarray]:
    """Every reported scalar parameter (fixed effects, sd, cor, family) as (chain, draw)."""
    return {_key(p): np.asarray(p.draws, dtype=float) for p in fit.params}


def _effects(fit: Any, block: str) -> np.ndarray:
    """``r_<block>`` as (chain, draw, level * term)."""
    arr = np.asarray(azcompat.posterior(fit.idata)[f"r_{block}"].values, dtype=float)
    return arr.reshape(arr.shape[0], arr.shape[1], -1)


def _coverage(exact: np.ndarray, approx: np.ndarray, level: float) -> float:
    """Share of ``exact``'s draws inside ``approx``'s central ``level`` interval."""
    lo, hi = np.quantile(approx, [(1 - level) / 2, (1 + level) / 2])
    return float(np.mean((exact >= lo) & (exact <= hi)))


def _compare(name: str, ex: np.ndarray, la: np.ndarray) -> dict[str, Any]:
    """The error measures of one scalar parameter, draws (chain, draw) of both fits."""
    stats = azcompat.mean_mcse({"e": ex, "l": la})
    e, a = stats["e"], stats["l"]
    sd = float(np.std(ex, ddof=1))
    diff = a["mean"] - e["mean"]
    return {
        "param": name,
        "mean_exact": e["mean"],
        "sd_exact": sd,
        "mcse_exact": e["mcse_mean"],
        "mean_laplace": a["mean"],
        "sd_laplace": float(np.std(la, ddof=1)),
        "mcse_laplace": a["mcse_mean"],
        "z": diff / sd,
        "mcse_sd": e["mcse_mean"] / sd,
        "z_mcse": diff / math.hypot(e["mcse_mean"], a["mcse_mean"]),
        "sd_ratio": float(np.std(la, ddof=1)) / sd,
        "cov90": _coverage(ex, la, 0.9),
        "cov50": _coverage(ex, la, 0.5),
        "rhat_exact": azcompat.rhat(ex),
        "rhat_laplace": azcompat.rhat(la),
    }


def _effects_summary(block: str, ex: np.ndarray, la: np.ndarray) -> dict[str, Any]:
    """One row summarising the integrated block's effects: max and median |z| over levels,
    the median SD ratio, the median coverages."""
    m_e, m_l = ex.mean(axis=(0, 1)), la.mean(axis=(0, 1))
    s_e, s_l = ex.std(axis=(0, 1), ddof=1), la.std(axis=(0, 1), ddof=1)
    z = (m_l - m_e) / s_e
    flat_e = ex.reshape(-1, ex.shape[-1])
    flat_l = la.reshape(-1, la.shape[-1])
    cov90 = [_coverage(flat_e[:, k], flat_l[:, k], 0.9) for k in range(ex.shape[-1])]
    cov50 = [_coverage(flat_e[:, k], flat_l[:, k], 0.5) for k in range(ex.shape[-1])]
    # a typical MCSE of an effect's exact mean, in its SDs: 1 / sqrt(ESS) of the median level
    ess = [azcompat.ess(ex[..., k]) for k in range(ex.shape[-1])]
    return {
        "param": f"r[{block}] ({ex.shape[-1]})",
        "z": float(np.max(np.abs(z))),
        "z_median": float(np.median(np.abs(z))),
        "mcse_sd": 1.0 / math.sqrt(float(np.median(ess))),
        "sd_ratio": float(np.median(s_l / s_e)),
        "cov90": float(np.median(cov90)),
        "cov50": float(np.median(cov50)),
    }


def _information(case: Case, df: pd.DataFrame, fit: Any) -> float:
    """The median over the integrated block's levels of the Fisher information its rows carry
    about the linear predictor, ``sum_i W_i`` (bernoulli ``p (1 - p)``, binomial ``n p (1 -
    p)``, Poisson ``mu``), at the exact fit's posterior mean of each row's ``eta``."""
    eta = np.asarray(fit.predict(kind="link")["Estimate"], dtype=float)
    if case.family == "poisson":
        w = np.exp(eta)
    else:
        prob = 1.0 / (1.0 + np.exp(-eta))
        w = prob * (1.0 - prob)
        if case.trials is not None:
            w = w * df[case.trials].to_numpy(dtype=float)
    return float(pd.Series(w).groupby(df[case.block].to_numpy()).sum().median())


def _fit(case: Case, df: pd.DataFrame, spec: Any, a: argparse.Namespace) -> tuple[Any, float]:
    import pyglmm as pg

    t0 = time.perf_counter()
    fit = pg.Model(case.formula, df, family=case.family).fit(
        parameterization=spec,
        draws=a.draws,
        tune=a.tune,
        chains=a.chains,
        cores=a.cores,
        seed=a.seed,
        progressbar=False,
        warn=False,
        log_likelihood=False,
        kernel=True,
    )
    return fit, time.perf_counter() - t0


def _fit_info(fit: Any, wall: float, params: dict[str, np.ndarray]) -> dict[str, Any]:
    return {
        "wall_s": wall,
        "sample_s": float(fit.timing.get("sample", math.nan)),
        "div": int(fit.n_divergent),
        "max_rhat": max(azcompat.rhat(v) for v in params.values()),
        "min_ess": min(azcompat.ess(v) for v in params.values()),
        "param": ", ".join(f"{k}={v}" for k, v in fit.parameterization.items()),
    }


def run_case(case: Case, a: argparse.Namespace) -> tuple[list[dict], dict[str, Any]]:
    """Both fits of ``case``: the per-parameter rows and the per-model summary."""
    df = case.load()
    exact, wall_e = _fit(case, df, "auto", a)
    spec = {**exact.parameterization, case.block: "laplace"}
    lap, wall_l = _fit(case, df, spec, a)
    pe, pl = _params(exact), _params(lap)
    rows = [_compare(k, pe[k], pl[k]) for k in pe]
    r_exact, r_lap = _effects(exact, case.block), _effects(lap, case.block)
    rows.append(_effects_summary(case.block, r_exact, r_lap))
    ie, il = _fit_info(exact, wall_e, pe), _fit_info(lap, wall_l, pl)
    hyper = [r for r in rows if not r["param"].startswith("r[")]
    sd_block = next(r["mean_exact"] for r in hyper if r["param"].startswith(f"sd:{case.block}:"))
    info = _information(case, df, exact)
    summary = {
        "model": case.name,
        "rows": len(df),
        "block": case.block,
        "levels": int(df[case.block].nunique()),
        "rows_per_level": len(df) / df[case.block].nunique(),
        "info_per_level": info,  # median sum_i W_i over the block's levels
        "info_sd2": info * sd_block**2,  # the same relative to the prior precision 1 / sd^2
        "max_abs_z": max(abs(r["z"]) for r in hyper),
        "max_abs_z_param": max(hyper, key=lambda r: abs(r["z"]))["param"],
        "min_sd_ratio": min(r["sd_ratio"] for r in hyper),
        "max_sd_ratio": max(r["sd_ratio"] for r in hyper),
        "min_cov90": min(r["cov90"] for r in hyper),
        "r_max_abs_z": rows[-1]["z"],
        "r_median_abs_z": rows[-1]["z_median"],
        **{f"{k}_exact": v for k, v in ie.items()},
        **{f"{k}_laplace": v for k, v in il.items()},
        "note": case.note,
    }
    for r in rows:
        r.update(model=case.name, block=case.block)
    return rows, summary


def _fmt(x: Any, digits: int = 2) -> str:
    if isinstance(x, float):
        return "nan" if math.isnan(x) else f"{x:.{digits}f}"
    return str(x)


def markdown_tables(summaries: list[dict], rows: list[dict]) -> str:
    out = [
        "| model | block (levels, rows/level) | info/level (x sd^2) | max \\|z\\| (param) | "
        "SD ratio | min cov90 | "
        "r: max / median \\|z\\| | div exact / laplace | max R-hat exact / laplace | "
        "min ESS exact / laplace | wall s exact / laplace |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        if "error" in s:
            out.append(f"| {s['model']} | error: {s['error']} | | | | | | | | | |")
            continue
        out.append(
            f"| {s['model']} | {s['block']} ({s['levels']}, {s['rows_per_level']:.0f}) | "
            f"{s['info_per_level']:.1f} ({s['info_sd2']:.1f}) | "
            f"{s['max_abs_z']:.2f} ({s['max_abs_z_param']}) | "
            f"{s['min_sd_ratio']:.2f}-{s['max_sd_ratio']:.2f} | {s['min_cov90']:.2f} | "
            f"{s['r_max_abs_z']:.2f} / {s['r_median_abs_z']:.2f} | "
            f"{s['div_exact']} / {s['div_laplace']} | "
            f"{s['max_rhat_exact']:.3f} / {s['max_rhat_laplace']:.3f} | "
            f"{s['min_ess_exact']:.0f} / {s['min_ess_laplace']:.0f} | "
            f"{s['wall_s_exact']:.1f} / {s['wall_s_laplace']:.1f} |"
        )
    out += [
        "",
        "| model | param | mean exact (sd) | mean laplace (sd) | z | mcse/sd | SD ratio | cov90 | "
        "cov50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["param"].startswith("r["):
            out.append(
                f"| {r['model']} | {r['param']} | | | max {r['z']:.2f}, median "
                f"{r['z_median']:.2f} | {r['mcse_sd']:.2f} | {r['sd_ratio']:.2f} (median) | "
                f"{r['cov90']:.2f} | {r['cov50']:.2f} |"
            )
            continue
        out.append(
            f"| {r['model']} | {r['param']} | {r['mean_exact']:.3f} ({r['sd_exact']:.3f}) | "
            f"{r['mean_laplace']:.3f} ({r['sd_laplace']:.3f}) | {r['z']:+.2f} | "
            f"{r['mcse_sd']:.2f} | {r['sd_ratio']:.2f} | {r['cov90']:.2f} | {r['cov50']:.2f} |"
        )
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(CASES), help=f"from {', '.join(CASES)}")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="laplace_error.csv", help="CSV; relative: bench/results/")
    a = ap.parse_args(argv)
    a.models = [m.strip() for m in a.models.split(",") if m.strip()]
    unknown = [m for m in a.models if m not in CASES]
    if unknown:
        ap.error(f"unknown models {unknown}; known: {list(CASES)}")
    return a


def main(argv: list[str] | None = None) -> None:
    import pyglmm as pg

    a = parse_args(argv)
    out = Path(a.out)
    if not out.is_absolute():
        out = RESULTS / out
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, pyglmm {pg.__version__}; {a.chains} chains x "
        f"{a.draws} draws + {a.tune} tune, cores={a.cores}, seed={a.seed}"
    )
    print(header, flush=True)
    rows: list[dict] = []
    summaries: list[dict] = []
    for name in a.models:
        t0 = time.perf_counter()
        try:
            r, s = run_case(CASES[name], a)
        except Exception as err:  # one model's failure does not lose the others
            traceback.print_exc()
            summaries.append({"model": name, "error": f"{type(err).__name__}: {err}"})
            continue
        rows += r
        summaries.append(s)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
        # written after every model, so an interrupted run keeps what it finished
        pd.DataFrame(rows).to_csv(out, index=False)
        pd.DataFrame(summaries).to_csv(out.with_name(out.stem + "-models.csv"), index=False)
    text = f"{header}\n\n{markdown_tables(summaries, rows)}\n"
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
