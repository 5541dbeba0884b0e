"""Sampling benchmark: pyglmm against bambi and a hand-written PyMC model (see bench/README.md).

    python bench/run.py                      # models 1,2,4,5, all fitters, 4 chains x 1000 + 1000
    python bench/run.py --quick --models 1,5 # smoke run: draws = tune = 100, 2 chains
    python bench/run.py --big                # adds model 3 (1M rows; pyglmm fitters only)

Every (model, fitter) pair runs in its own subprocess (``--worker``), so compile caches, memory
and thread pools do not leak between fitters and the peak RSS is per fitter. A fit that runs
longer than ``--timeout`` minutes is killed and recorded as ``timeout``. Prints one table and
writes it as CSV and markdown to ``bench/results/`` (or the path given to ``--out``).

The pyglmm workers also write the posterior mean and Monte Carlo standard error of every
reported parameter to ``<out stem>-model<N>-<fitter>.posterior.json`` beside the CSV; after the
run the auto and non-centered fits of each model are compared parameter by parameter (issue #3:
means within 3 MCSE) in ``<out stem>-agreement.csv`` and in the markdown.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

FITTERS = ("pyglmm-auto", "pyglmm-noncentered", "bambi-pymc", "bambi-nutpie", "handwritten")
PYGLMM_FITTERS = ("pyglmm-auto", "pyglmm-noncentered")
REFERENCE = "pyglmm-auto"
AGREEMENT = ("pyglmm-auto", "pyglmm-noncentered")  # compared parameter by parameter
AGREEMENT_LIMIT = 3.0  # |mean difference| / combined MCSE

# Columns of the printed / markdown table (the CSV holds every field).
TABLE_COLUMNS = {
    "model": "model",
    "fitter": "fitter",
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


# ------------------------------------------------------------------------------------------
# worker side: one fit in this process
# ------------------------------------------------------------------------------------------
def _diagnostics(params: dict[str, np.ndarray]) -> dict[str, Any]:
    """Min bulk ESS and max R-hat over scalar parameters given as (chain, draw) arrays."""
    import arviz as az

    if not params:
        raise ValueError("no parameters to diagnose")
    ess = {k: float(az.ess(v, method="bulk")) for k, v in params.items()}
    rhat = {k: float(az.rhat(v)) for k, v in params.items()}
    # NaN (a constant draw) would make min/max order-dependent: rank it as worst
    worst = min(ess, key=lambda k: -math.inf if math.isnan(ess[k]) else ess[k])
    worst_rhat = max(rhat, key=lambda k: math.inf if math.isnan(rhat[k]) else rhat[k])
    return {
        "min_ess": ess[worst],
        "min_ess_param": worst,
        "max_rhat": rhat[worst_rhat],
        "max_rhat_param": worst_rhat,
        "n_params": len(params),
    }


def _posterior_summary(params: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Posterior ``mean`` and ``mcse_mean`` per scalar parameter (``arviz.summary``, unrounded)."""
    import arviz as az

    names = list(params)
    # arviz wants identifier-like variable names: summarise p0, p1, ... and map back
    data = {f"p{i}": params[k] for i, k in enumerate(names)}
    table = az.summary(data, kind="all", round_to="none")
    return {
        k: {
            "mean": float(table.loc[f"p{i}", "mean"]),
            "mcse_mean": float(table.loc[f"p{i}", "mcse_mean"]),
        }
        for i, k in enumerate(names)
    }


def _flatten(name: str, arr: np.ndarray, upper_only: bool = False) -> dict[str, np.ndarray]:
    """Split a (chain, draw, ...) array into scalar (chain, draw) arrays; ``upper_only``
    keeps the strict upper triangle of a (chain, draw, q, q) correlation matrix."""
    if arr.ndim == 2:
        return {name: arr}
    if upper_only:
        q = arr.shape[-1]
        return {f"{name}[{j},{k}]": arr[..., j, k] for j in range(q) for k in range(j + 1, q)}
    flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
    return {f"{name}[{i}]": flat[..., i] for i in range(flat.shape[-1])}


def _pyglmm_named_params(posterior: Any) -> dict[str, np.ndarray]:
    """``b``, ``sd_*``, ``cor_*`` (off-diagonal) and ``sigma`` from a posterior Dataset that
    uses pyglmm's names (the hand-written model does)."""
    out: dict[str, np.ndarray] = {}
    for name in posterior.data_vars:
        name = str(name)
        arr = np.asarray(posterior[name].values)
        if name.endswith("__"):
            continue
        if name in ("b", "sigma") or name.startswith("sd_"):
            out.update(_flatten(name, arr))
        elif name.startswith("cor_"):
            out.update(_flatten(name, arr, upper_only=True))
    return out


def _bambi_names(model: Any) -> list[str]:
    """The bambi variables that correspond to pyglmm's ``b``, ``sd_*`` and ``sigma``: the
    fixed effects of the mean component (``Intercept``, ``x1``, ``service``...), its group SDs
    (``1|g_sigma``, ``x1|g_sigma``) and the family's other parameters when they are constants
    (``sigma``). Read from the built model, so per-level effects (``1|g``), their offsets,
    transformed variables (``*_log__``) and deterministics (``mu``, ``p``) are never included.
    """
    parent = model.family.likelihood.parent
    names: list[str] = []
    for cname, comp in model.components.items():
        if cname == parent:
            if getattr(comp, "intercept_term", None) is not None:
                names.append("Intercept")
            names.extend(comp.common_terms)
            names.extend(f"{term}_sigma" for term in comp.group_specific_terms)
        elif type(comp).__name__ == "ConstantComponent":
            names.append(cname)
        else:  # a distributional parameter with its own formula (not used here)
            raise ValueError(f"bambi component {cname!r} has a formula; not supported")
    return names


def _bambi_params(posterior: Any, names: list[str]) -> dict[str, np.ndarray]:
    """The ``names`` (see :func:`_bambi_names`) as scalar (chain, draw) arrays."""
    missing = [n for n in names if n not in posterior.data_vars]
    if missing:
        raise KeyError(f"bambi posterior lacks {missing}; has {list(posterior.data_vars)}")
    out: dict[str, np.ndarray] = {}
    for name in names:
        out.update(_flatten(name, np.asarray(posterior[name].values)))
    return out


def _n_divergent(idata: Any) -> int:
    stats = idata.get("sample_stats") if hasattr(idata, "get") else None
    if stats is None or "diverging" not in stats:
        return 0
    return int(np.asarray(stats["diverging"].values).sum())


def _tree_stats(idata: Any) -> dict[str, float]:
    """Mean leapfrog steps per draw (``n_steps``: nutpie and PyMC) and the share of draws that
    hit the maximum tree depth (nutpie ``maxdepth_reached``, PyMC ``reached_max_treedepth``),
    after warm-up. Unlike the timings, these do not depend on the load of the machine."""
    stats = idata.get("sample_stats") if hasattr(idata, "get") else None
    out = {"steps_per_draw": math.nan, "maxdepth_frac": math.nan}
    if stats is None:
        return out
    if "n_steps" in stats:
        out["steps_per_draw"] = float(np.asarray(stats["n_steps"].values).mean())
    for name in ("maxdepth_reached", "reached_max_treedepth"):
        if name in stats:
            out["maxdepth_frac"] = float(np.asarray(stats[name].values).mean())
    return out


def _pyglmm_key(p: Any) -> str:
    """``b:Intercept``, ``sd:Subject:sd(Days)``, ``cor:Subject:cor(Intercept,Days)``, ``sigma``
    for a :class:`pyglmm.fit.Param`."""
    if p.label == p.cls:
        return str(p.cls)
    return f"{p.cls}:{p.group}:{p.label}".replace("::", ":")


def fit_pyglmm(spec: Any, df: pd.DataFrame, param: str, a: argparse.Namespace) -> dict[str, Any]:
    import pyglmm as pg

    def run(parameterization: str) -> tuple[Any, float, float]:
        t0 = time.perf_counter()
        model = pg.Model(spec.formula, df, family=spec.family, parameterization=parameterization)
        t_model = time.perf_counter() - t0
        fit = model.fit(
            draws=a.draws,
            tune=a.tune,
            chains=a.chains,
            cores=a.cores,
            seed=a.seed,
            progressbar=False,
            warn=False,
            log_likelihood=False,
        )
        return fit, t_model, time.perf_counter() - t0

    note = ""
    try:
        fit, t_model, wall = run(param)
    except ValueError as err:
        if param != "auto" or "parameterization" not in str(err):
            raise
        note = "auto not available: ran noncentered"
        fit, t_model, wall = run("noncentered")
    resolved = ", ".join(f"{k}={v}" for k, v in fit.parameterization.items())
    cached = fit.timing.get("compile_cached")  # bool, or 1.0/0.0 (pyglmm's kernel)
    cache_note = "" if cached is None else f"compile_cached={bool(cached)}"
    note = "; ".join(x for x in (note, resolved, cache_note) if x)
    params = {
        _pyglmm_key(p): np.asarray(p.draws)
        for p in fit.params
        if p.cls in ("b", "sd", "cor", "sigma")
    }
    if a.posterior_file:
        Path(a.posterior_file).write_text(
            json.dumps(
                {
                    "model": spec.key,
                    "fitter": a.fitter,
                    "parameterization": fit.parameterization,
                    "draws": a.draws,
                    "chains": a.chains,
                    "params": _posterior_summary(params),
                },
                indent=1,
            )
        )
    return {
        "wall_s": wall,
        "build_s": t_model + fit.timing.get("build", 0.0),
        "compile_s": fit.timing.get("compile", math.nan),
        "compile_cached": math.nan if cached is None else float(bool(cached)),
        "sample_s": fit.timing.get("sample", math.nan),
        "divergences": fit.n_divergent,
        **_tree_stats(fit.idata),
        "note": note,
        **_diagnostics(params),
    }


def fit_bambi(spec: Any, df: pd.DataFrame, method: str, a: argparse.Namespace) -> dict[str, Any]:
    import bambi as bmb

    compile_times: list[float] = []
    kwargs: dict[str, Any] = {"compute_convergence_checks": False}
    if method == "nutpie":
        import nutpie

        original = nutpie.compile_pymc_model

        def timed_compile(*args: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            out = original(*args, **kw)
            compile_times.append(time.perf_counter() - t)
            return out

        # PyMC's nutpie path looks the function up on the module at call time.
        nutpie.compile_pymc_model = timed_compile
        kwargs = {"nuts_sampler_kwargs": {"cores": a.cores, "save_warmup": False}}

    t0 = time.perf_counter()
    model = bmb.Model(spec.formula, df, family=spec.family)
    model.build()
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    idata = model.fit(
        draws=a.draws,
        tune=a.tune,
        chains=a.chains,
        cores=a.cores,
        random_seed=a.seed,
        progressbar=False,
        inference_method=method,
        **kwargs,
    )
    t_fit = time.perf_counter() - t1
    wall = time.perf_counter() - t0
    sample_s = float(idata.posterior.attrs.get("sampling_time", math.nan))
    notes = []
    if any(len(terms) > 1 for _, terms in spec.blocks):
        notes.append("uncorrelated (bambi has no cor)")
    if method == "nutpie":
        compile_s = sum(compile_times) if compile_times else math.nan
    else:
        # pm.sample compiles inside; this is pm.sample's time minus its own sampling_time, i.e.
        # compile + initialisation + post-processing.
        compile_s = t_fit - sample_s
        notes.append("compile ~ fit - sampling_time")
    note = "; ".join(notes)
    params = _bambi_params(idata.posterior, _bambi_names(model))
    return {
        "wall_s": wall,
        "build_s": t_build,
        "compile_s": compile_s,
        "sample_s": sample_s,
        "divergences": _n_divergent(idata),
        **_tree_stats(idata),
        "note": note,
        **_diagnostics(params),
    }


def fit_handwritten(spec: Any, df: pd.DataFrame, a: argparse.Namespace) -> dict[str, Any]:
    import handwritten
    import nutpie

    t0 = time.perf_counter()
    model = handwritten.build(spec, df)
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    compiled = nutpie.compile_pymc_model(model)
    t_compile = time.perf_counter() - t1
    t2 = time.perf_counter()
    idata = nutpie.sample(
        compiled,
        draws=a.draws,
        tune=a.tune,
        chains=a.chains,
        cores=a.cores,
        seed=a.seed,
        progress_bar=False,
        save_warmup=False,
    )
    t_sample = time.perf_counter() - t2
    return {
        "wall_s": time.perf_counter() - t0,
        "build_s": t_build,
        "compile_s": t_compile,
        "sample_s": t_sample,
        "divergences": _n_divergent(idata),
        **_tree_stats(idata),
        "note": f"PyMC, LKJ, non-centered, {spec.family}",
        **_diagnostics(_pyglmm_named_params(idata.posterior)),
    }


def worker(a: argparse.Namespace) -> None:
    """Fit one (model, fitter) pair and write a JSON result to ``a.result_file``."""
    from data import MODELS

    result: dict[str, Any] = {"status": "ok"}
    try:
        spec = MODELS[a.model]
        df = spec.load()
        result["rows"] = len(df)
        if a.fitter in PYGLMM_FITTERS:
            res = fit_pyglmm(spec, df, a.fitter.split("-", 1)[1], a)
        elif a.fitter == "bambi-pymc":
            res = fit_bambi(spec, df, "pymc", a)
        elif a.fitter == "bambi-nutpie":
            res = fit_bambi(spec, df, "nutpie", a)
        elif a.fitter == "handwritten":
            res = fit_handwritten(spec, df, a)
        else:
            raise ValueError(f"unknown fitter {a.fitter!r}")
        result.update(res)
    except Exception as err:
        traceback.print_exc()
        result = {"status": "error", "note": f"{type(err).__name__}: {err}"[:300]}
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["peak_rss_mb"] = own
    result["peak_rss_children_mb"] = kids
    Path(a.result_file).write_text(json.dumps(result, default=float))


# ------------------------------------------------------------------------------------------
# driver side
# ------------------------------------------------------------------------------------------
def posterior_path(out: Path, model: str, fitter: str) -> Path:
    """Where the worker of a pyglmm fitter writes its posterior means and MCSEs."""
    return out.with_name(f"{out.stem}-model{model}-{fitter}.posterior.json")


def run_one(
    model: str, fitter: str, a: argparse.Namespace, log_dir: Path, post_file: Path | None
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result_file = Path(fh.name)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--model",
        model,
        "--fitter",
        fitter,
        "--draws",
        str(a.draws),
        "--tune",
        str(a.tune),
        "--chains",
        str(a.chains),
        "--cores",
        str(a.cores),
        "--seed",
        str(a.seed),
        "--result-file",
        str(result_file),
    ]
    if post_file is not None:
        post_file.unlink(missing_ok=True)  # never compare against a previous run's file
        cmd += ["--posterior-file", str(post_file)]
    log = log_dir / f"model{model}-{fitter}.log"
    t0 = time.perf_counter()
    with log.open("w") as out:
        # Own session: on timeout the whole process group (PyMC's chain workers too) is killed.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=a.timeout * 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            result_file.unlink(missing_ok=True)
            return {
                "status": "timeout",
                "wall_s": time.perf_counter() - t0,
                "note": f"killed after {a.timeout:g} min",
            }
    try:
        result = json.loads(result_file.read_text())
    except (OSError, ValueError):
        result = {"status": "error", "note": f"worker exited with code {rc}, no result; see {log}"}
    finally:
        result_file.unlink(missing_ok=True)
    return result


def add_rates(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in ("wall_s", "sample_s", "min_ess", "compile_s", "build_s", "max_rhat"):
        if col not in df:
            df[col] = math.nan
    df["ess_per_s_wall"] = df["min_ess"] / df["wall_s"]
    df["ess_per_s_sample"] = df["min_ess"] / df["sample_s"]
    df.loc[df["status"] != "ok", ["ess_per_s_wall", "ess_per_s_sample"]] = math.nan
    for kind in ("wall", "sample"):
        col = f"ess_per_s_{kind}"
        ref = df[(df["fitter"] == REFERENCE) & (df["status"] == "ok")].set_index("model")[col]
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


def display_table(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in TABLE_COLUMNS if c in df]
    shown = pd.DataFrame({TABLE_COLUMNS[c]: [_fmt(v, c) for v in df[c]] for c in cols})
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


def agreement(posteriors: dict[tuple[str, str], dict[str, Any]], names: dict[str, str]) -> Any:
    """One row per (model, parameter) fitted by both :data:`AGREEMENT` fitters: their means,
    MCSEs, ``z`` and whether ``z <= AGREEMENT_LIMIT``."""
    ref, other = AGREEMENT
    rows = []
    for m, name in names.items():
        pa, pb = posteriors.get((m, ref)), posteriors.get((m, other))
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

    return pd.DataFrame(
        {
            "model": agree["model"],
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
    """One line per model: how many parameters agree, and auto's parameterization."""
    lines = []
    for model, grp in agree.groupby("model", sort=False):
        n_ok = int(grp["agree"].sum())
        verdict = "all agree" if n_ok == len(grp) else f"{len(grp) - n_ok} DISAGREE"
        lines.append(
            f"{bullet}model {model}: {n_ok}/{len(grp)} within {AGREEMENT_LIMIT:g} MCSE "
            f"({verdict}; max z {grp['z'].max():.2f}; auto = "
            f"{grp['auto_parameterization'].iloc[0]})"
        )
    return "\n".join(lines)


def environment(a: argparse.Namespace) -> dict[str, str]:
    env = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "settings": f"chains={a.chains} draws={a.draws} tune={a.tune} cores={a.cores} "
        f"seed={a.seed}",
    }
    for pkg in ("pyglmm", "pymc", "pytensor", "nutpie", "bambi", "arviz", "numpy"):
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            env[pkg] = "not installed"
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--models", default="1,2,4,5", help="comma-separated model numbers (1-5)")
    ap.add_argument("--big", action="store_true", help="add model 3 (1M rows x 5000 groups)")
    ap.add_argument(
        "--big-peers",
        action="store_true",
        help="also run bambi and the hand-written model on model 3 (default: pyglmm only)",
    )
    ap.add_argument("--fitters", default=",".join(FITTERS), help="comma-separated fitters")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="draws = tune = 100, chains = 2")
    ap.add_argument("--timeout", type=float, default=45.0, help="minutes per fit")
    ap.add_argument(
        "--out",
        default="results.csv",
        help="CSV file; a relative path is under bench/results/. A .md table is written beside",
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--fitter", help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    ap.add_argument("--posterior-file", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.draws, a.tune, a.chains = 100, 100, 2
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    if a.worker:
        worker(a)
        return
    from data import MODELS

    models = [m.strip() for m in a.models.split(",") if m.strip()]
    if a.big and "3" not in models:
        models.append("3")
    fitters = [f.strip() for f in a.fitters.split(",") if f.strip()]
    for m in models:
        if m not in MODELS:
            sys.exit(f"unknown model {m!r}; choose from {sorted(MODELS)}")
    for f in fitters:
        if f not in FITTERS:
            sys.exit(f"unknown fitter {f!r}; choose from {', '.join(FITTERS)}")

    out = Path(a.out)
    if not out.is_absolute():
        out = RESULTS / out
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.parent / "logs"
    log_dir.mkdir(exist_ok=True)
    env = environment(a)

    rows = []
    posteriors: dict[tuple[str, str], dict[str, Any]] = {}
    for m in models:
        spec = MODELS[m]
        for f in fitters:
            if spec.big and f not in PYGLMM_FITTERS and not a.big_peers:
                continue
            print(
                f"[{time.strftime('%H:%M:%S')}] model {m} ({spec.name}) / {f} ...",
                file=sys.stderr,
                flush=True,
            )
            post = posterior_path(out, m, f) if f in AGREEMENT else None
            res = run_one(m, f, a, log_dir, post)
            print(
                f"    {res.get('status')} in {res.get('wall_s', math.nan):.1f} s "
                f"{res.get('note', '')}",
                file=sys.stderr,
                flush=True,
            )
            rows.append({"model": f"{m} {spec.name}", "fitter": f, **res})
            if res.get("status") == "ok" and post is not None and post.exists():
                posteriors[(m, f)] = json.loads(post.read_text())

    table = add_rates(pd.DataFrame(rows))
    shown = display_table(table)
    header = "\n".join(f"{k}: {v}" for k, v in env.items())
    print(header)
    print()
    with pd.option_context("display.max_colwidth", 60, "display.width", 250):
        print(shown.to_string(index=False))
    table.to_csv(out, index=False)

    agree_md = ""
    agree = agreement(posteriors, {m: MODELS[m].name for m in models})
    if not agree.empty:
        agree_csv = out.with_name(f"{out.stem}-agreement.csv")
        agree.to_csv(agree_csv, index=False)
        agree_shown = display_agreement(agree)
        print(f"\nPosterior agreement, {AGREEMENT[0]} vs {AGREEMENT[1]} ({AGREEMENT_TEXT}):")
        print(agreement_verdicts(agree))
        with pd.option_context("display.max_colwidth", 60, "display.width", 250):
            print(agree_shown.to_string(index=False))
        agree_md = (
            f"\n## Posterior agreement: {AGREEMENT[0]} vs {AGREEMENT[1]}\n\n"
            f"{AGREEMENT_TEXT}.\n\n"
            + agreement_verdicts(agree, bullet="- ")
            + "\n\n"
            + markdown(agree_shown)
            + "\n"
        )
    md = out.with_suffix(".md")
    md.write_text(
        "# pyglmm sampling benchmark\n\n"
        "One run on one machine; see bench/README.md for the columns.\n\n"
        + "\n".join(f"- {k}: {v}" for k, v in env.items())
        + "\n\n"
        + markdown(shown)
        + "\n"
        + agree_md
    )
    print(f"\nwrote {out} and {md} (worker logs in {log_dir})", file=sys.stderr)


if __name__ == "__main__":
    main()
