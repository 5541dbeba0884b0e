"""Worker side of the sampling benchmark: one (model, fitter) fit in this process.

``run.py --worker`` parses its arguments and calls :func:`worker`, which loads the model's data
(``data.py``), runs one fitter and writes a JSON result (timings, min ESS / max R-hat over the
reported parameters, divergences, tree statistics, peak RSS) for the driver to collect:

* :func:`fit_pyglmm`: the :data:`PYGLMM_FITTERS` (a parameterization and an engine each:
  ``pyglmm-auto``, ``pyglmm-noncentered``, ``pyglmm-laplace`` on pyglmm's default engine, the
  compiled-once kernel where it covers the model; ``pyglmm-pymc`` = ``auto`` through the PyMC
  model, ``fit(kernel=False)``). Also writes the posterior mean, MCSE and SD of every parameter
  the agreement check compares (``--posterior-file``);
* :func:`fit_bambi`: ``bambi-pymc`` / ``bambi-nutpie`` on bambi 0.17 (PyMC 5) or 0.21 (PyMC 6);
* :func:`fit_handwritten`: the PyMC model of ``handwritten.py``, sampled with nutpie;
* ``brms``: ``brms_fit.fit_brms`` (``Rscript bench/brms_glmm.R``; ``skipped`` without R / brms);

plus the parameter naming that picks the same parameters out of each fitter's posterior and the
diagnostics computed on them.

This module runs under pyglmm's interpreter *and* under ``--peer-python``, which may not have
pyglmm installed: at module level it imports only the standard library, numpy, pandas and
``azcompat`` (the ArviZ 0.2x / 1.x shim); pyglmm, bambi, nutpie and ``handwritten`` are imported
inside the fitter that needs them.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import azcompat  # bench/ (on sys.path: run.py's folder); imports no pyglmm
import numpy as np
import pandas as pd

# pyglmm fitter -> (parameterization, kernel, init): kernel None = pyglmm's default engine (the
# compiled-once kernel when it covers the model), False = the PyMC model (fit(kernel=False));
# init "default" = fit()'s default start, else fit(init=...).
# A new parameterization is one more entry here (and in report.AGREEMENT_PAIRS to compare it).
PYGLMM_FITTERS: dict[str, tuple[str, bool | None, str | None]] = {
    "pyglmm-auto": ("auto", None, "default"),
    "pyglmm-noncentered": ("noncentered", None, "default"),
    "pyglmm-centered": ("centered", None, "default"),
    "pyglmm-pymc": ("auto", False, "default"),
    "pyglmm-laplace": ("laplace", None, "default"),
    "pyglmm-pointstart": ("auto", None, "auto"),
    "pyglmm-ownstart": ("auto", None, None),
}
PEER_FITTERS = ("bambi-pymc", "bambi-nutpie", "handwritten", "brms")
FITTERS = (*PYGLMM_FITTERS, *PEER_FITTERS)
# --fitters' default: all but brms (R, and minutes of C++ compile per model), the two start
# comparisons and the centered form (ask for them)
DEFAULT_FITTERS = tuple(
    f
    for f in FITTERS
    if f not in ("brms", "pyglmm-pointstart", "pyglmm-ownstart", "pyglmm-centered")
)


class NotRun(Exception):
    """A fit that did not run for a reason that is not a failure: ``status`` is ``n/a`` (the
    fitter does not cover the model) or ``skipped`` (its software is not installed)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def not_applicable(fitter: str, spec: Any) -> str | None:
    """Why ``fitter`` does not fit ``spec`` (a ``data.BenchModel``), or None if it does. Such
    rows are ``n/a`` in the table without starting a worker."""
    if fitter == "handwritten" and not spec.handwritten:
        return f"the hand-written model has no {spec.family} / interaction support"
    if fitter == "pyglmm-laplace" and not spec.glmm:
        return "laplace integrates out GLMM blocks (a gaussian model's is 'marginal')"
    return None


def _diagnostics(params: dict[str, np.ndarray]) -> dict[str, Any]:
    """Min bulk ESS, min tail ESS and max R-hat over scalar parameters given as (chain, draw)
    arrays (ArviZ 0.2x or 1.x, see ``azcompat``)."""
    if not params:
        raise ValueError("no parameters to diagnose")

    def lowest(values: dict[str, float]) -> str:
        # NaN (a constant draw) would make min/max order-dependent: rank it as worst
        return min(values, key=lambda k: -math.inf if math.isnan(values[k]) else values[k])

    ess = {k: azcompat.ess(v, "bulk") for k, v in params.items()}
    ess_tail = {k: azcompat.ess(v, "tail") for k, v in params.items()}
    rhat = {k: azcompat.rhat(v) for k, v in params.items()}
    worst, worst_tail = lowest(ess), lowest(ess_tail)
    worst_rhat = max(rhat, key=lambda k: math.inf if math.isnan(rhat[k]) else rhat[k])
    return {
        "min_ess": ess[worst],
        "min_ess_param": worst,
        "min_ess_tail": ess_tail[worst_tail],
        "min_ess_tail_param": worst_tail,
        "max_rhat": rhat[worst_rhat],
        "max_rhat_param": worst_rhat,
        "n_params": len(params),
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


def _pyglmm_named_params(idata: Any) -> dict[str, np.ndarray]:
    """``b``, ``sd_*``, ``cor_*`` (off-diagonal) and ``sigma`` from the posterior of a fit that
    uses pyglmm's names (the hand-written model does)."""
    posterior = azcompat.posterior(idata)
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


def _bambi_components(model: Any) -> dict[str, Any]:
    """The model's components by name: ``Model.parameters`` in bambi 0.21 (``components`` is
    deprecated there), ``Model.components`` in bambi 0.17."""
    comps = getattr(model, "parameters", None)
    return comps if isinstance(comps, dict) else model.components


def _bambi_names(model: Any) -> list[str]:
    """The bambi variables that correspond to pyglmm's ``b``, ``sd_*`` and ``sigma``: the
    fixed effects of the mean component (``Intercept``, ``x1``, ``service``...), its group SDs
    (``1|g_sigma``, ``x1|g_sigma``) and the family's other parameters when they are constants
    (``sigma``). Read from the built model, so per-level effects (``1|g``), their offsets,
    transformed variables (``*_log__``) and deterministics (``mu``, ``p``) are never included.
    """
    parent = model.family.likelihood.parent
    names: list[str] = []
    for cname, comp in _bambi_components(model).items():
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


def _bambi_params(idata: Any, names: list[str]) -> dict[str, np.ndarray]:
    """The ``names`` (see :func:`_bambi_names`) as scalar (chain, draw) arrays."""
    posterior = azcompat.posterior(idata)
    missing = [n for n in names if n not in posterior.data_vars]
    if missing:
        raise KeyError(f"bambi posterior lacks {missing}; has {list(posterior.data_vars)}")
    out: dict[str, np.ndarray] = {}
    for name in names:
        out.update(_flatten(name, np.asarray(posterior[name].values)))
    return out


def _n_divergent(idata: Any) -> int:
    stats = azcompat.group(idata, "sample_stats")
    if stats is None or "diverging" not in stats:
        return 0
    return int(np.asarray(stats["diverging"].values).sum())


def _tree_stats(idata: Any) -> dict[str, float]:
    """Mean leapfrog steps per draw (``n_steps``: nutpie and PyMC) and the share of draws that
    hit the maximum tree depth (nutpie ``maxdepth_reached``, PyMC ``reached_max_treedepth``),
    after warm-up. Unlike the timings, these do not depend on the load of the machine."""
    stats = azcompat.group(idata, "sample_stats")
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
    for a :class:`pyglmm.results.fit.Param`."""
    if p.label == p.cls:
        return str(p.cls)
    return f"{p.cls}:{p.group}:{p.label}".replace("::", ":")


def fit_pyglmm(spec: Any, df: pd.DataFrame, fitter: str, a: argparse.Namespace) -> dict[str, Any]:
    """One of :data:`PYGLMM_FITTERS`. ``wall_s`` runs from ``pg.Model(...)`` to the returned
    fit; ``build_s`` is the model's construction (design, priors) plus ``fit.timing["build"]``;
    ``start_s`` adds the point fit (``fit.timing["point_fit"]``: the Laplace / REML fit behind
    ``"auto"`` and the default start, run before sampling) and the compile (kernel load or PyMC
    compile): the time until sampling starts.
    A parameterization this pyglmm does not know raises ``ArgumentError`` and the row says so."""
    import pyglmm as pg

    param, kernel, init = PYGLMM_FITTERS[fitter]
    start = {} if init == "default" else {"init": init}

    def run(parameterization: str) -> tuple[Any, float, float]:
        t0 = time.perf_counter()
        model = pg.Model(
            spec.formula_for("pyglmm"), df, family=spec.family, parameterization=parameterization
        )
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
            kernel=kernel,
            **start,
        )
        return fit, t_model, time.perf_counter() - t0

    note = ""
    try:
        fit, t_model, wall = run(param)
    except ValueError as err:
        if "parameterization" not in str(err):
            raise
        if param != "auto":
            # e.g. "laplace" before pyglmm has it, or a model it does not cover
            raise ValueError(f"parameterization {param!r} not available here: {err}") from err
        note = "auto not available: ran noncentered"
        fit, t_model, wall = run("noncentered")
    resolved = ", ".join(f"{k}={v}" for k, v in fit.parameterization.items())
    cached = fit.timing.get("compile_cached")  # bool, or 1.0/0.0 (pyglmm's kernel)
    engine = fit.timing.get("kernel")
    engine_note = "" if engine is None else ("kernel" if engine else "PyMC model")
    cache_note = "" if cached is None else f"compile_cached={bool(cached)}"
    note = "; ".join(x for x in (note, engine_note, resolved, cache_note) if x)
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
                    "kernel": engine,
                    "draws": a.draws,
                    "chains": a.chains,
                    "python": platform.python_version(),
                    "params": azcompat.mean_mcse(params),
                },
                indent=1,
            )
        )
    build_s = t_model + fit.timing.get("build", 0.0)
    compile_s = fit.timing.get("compile", math.nan)
    return {
        "wall_s": wall,
        "build_s": build_s,
        "compile_s": compile_s,
        "start_s": build_s + fit.timing.get("point_fit", 0.0) + compile_s,
        "compile_cached": math.nan if cached is None else float(bool(cached)),
        "sample_s": fit.timing.get("sample", math.nan),
        "kernel": math.nan if engine is None else float(engine),
        "divergences": fit.n_divergent,
        **_tree_stats(fit.idata),
        "note": note,
        **{f"timing_{k}": float(v) for k, v in fit.timing.items()},
        **_diagnostics(params),
    }


def _major(package: str) -> int:
    from importlib.metadata import version

    return int(version(package).split(".")[0])


def fit_bambi(spec: Any, df: pd.DataFrame, method: str, a: argparse.Namespace) -> dict[str, Any]:
    """bambi 0.17 (PyMC 5, ArviZ 0.2x) or 0.21 (PyMC 6, ArviZ 1.x). Both select the sampler
    with ``fit(inference_method="pymc" | "nutpie")`` (passed on as ``pm.sample(nuts_sampler=)``)
    and pass other keywords to ``pm.sample``. PyMC 5's nutpie path ignores ``cores`` and keeps
    the warm-up unless told otherwise, so there they go in ``nuts_sampler_kwargs``; PyMC 6
    passes ``cores`` and ``save_warmup=not discard_tuned_samples`` to ``nutpie.sample`` itself
    (the same keys in ``nuts={...}`` would be passed twice), and bambi 0.21 deprecates
    ``nuts_sampler_kwargs`` in favour of ``nuts=``."""
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

        # PyMC's nutpie path looks the function up on the module at call time (PyMC 5 and 6).
        nutpie.compile_pymc_model = timed_compile
        if _major("pymc") < 6:
            kwargs["nuts_sampler_kwargs"] = {"cores": a.cores, "save_warmup": False}

    t0 = time.perf_counter()
    model = bmb.Model(spec.formula_for("bambi"), df, family=spec.family)
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
    sample_s = float(azcompat.posterior(idata).attrs.get("sampling_time", math.nan))
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
    params = _bambi_params(idata, _bambi_names(model))
    return {
        "wall_s": wall,
        "build_s": t_build,
        "compile_s": compile_s,
        "start_s": t_build + compile_s if method == "nutpie" else math.nan,
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
        "start_s": t_build + t_compile,
        "sample_s": t_sample,
        "divergences": _n_divergent(idata),
        **_tree_stats(idata),
        "note": f"PyMC, LKJ, non-centered, {spec.family}",
        **_diagnostics(_pyglmm_named_params(idata)),
    }


def worker(a: argparse.Namespace) -> None:
    """Fit one (model, fitter) pair and write a JSON result to ``a.result_file``."""
    from data import MODELS

    result: dict[str, Any] = {"status": "ok"}
    try:
        spec = MODELS[a.model]
        reason = not_applicable(a.fitter, spec)
        if reason is not None:
            raise NotRun("n/a", reason)
        df = spec.load()
        result["rows"] = len(df)
        if a.fitter in PYGLMM_FITTERS:
            res = fit_pyglmm(spec, df, a.fitter, a)
        elif a.fitter == "bambi-pymc":
            res = fit_bambi(spec, df, "pymc", a)
        elif a.fitter == "bambi-nutpie":
            res = fit_bambi(spec, df, "nutpie", a)
        elif a.fitter == "handwritten":
            res = fit_handwritten(spec, df, a)
        elif a.fitter == "brms":
            import brms_fit  # bench/

            res = brms_fit.fit_brms(spec, df, a)
        else:
            raise ValueError(f"unknown fitter {a.fitter!r}")
        result.update(res)
    except NotRun as why:
        result = {"status": why.status, "note": str(why)[:300]}
    except Exception as err:
        traceback.print_exc()
        result = {"status": "error", "note": f"{type(err).__name__}: {err}"[:300]}
    # the peer workers must not need pyglmm (it may not be installed under --peer-python)
    print(
        f"worker: python {platform.python_version()} ({sys.executable}); "
        f"pyglmm imported: {'pyglmm' in sys.modules}",
        flush=True,
    )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["peak_rss_mb"] = own
    result["peak_rss_children_mb"] = kids
    Path(a.result_file).write_text(json.dumps(result, default=float))
