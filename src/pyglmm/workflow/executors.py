"""Running independent fits: the executors of :func:`~pyglmm.recover` and :func:`~pyglmm.compare`,
and the job they run.

By default (``None`` or ``"serial"``) the fits run one after the other in the calling process,
which works in a plain script and in a notebook (each fit already samples its chains on every
core); ``executor="processes"`` runs them in a local ``ProcessPoolExecutor`` with the spawn
start method, which re-imports the calling script in each worker, so a script needs the usual
``if __name__ == "__main__":`` guard (the error says so when it is missing); any
``concurrent.futures.Executor`` or a ``dask.distributed.Client`` (anything with
``submit(fn, *args)`` returning futures with ``result()``) works too. The job,
:func:`fit_summary`, is a top-level function that builds the model with the class it is given
(the caller passes ``type(model)``, so this layer does not import :mod:`pyglmm.model`), fits it
and returns a small picklable summary.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import stack
from ..errors import ArgumentError
from ..families import Family
from ..formula import BrmsFormula
from ..results.diagnostics import describe
from ..results.params import posterior_params
from ..spec import FittableModel, ModelSpec

if TYPE_CHECKING:
    pass


EXECUTORS = ("serial", "processes")


def _default_executor(n_jobs: int, workers: int) -> cf.Executor:
    return cf.ProcessPoolExecutor(
        max_workers=max(1, min(n_jobs, workers)),
        mp_context=multiprocessing.get_context("spawn"),
    )


def run_jobs(
    jobs: Sequence[tuple[Any, ...]],
    executor: Any = None,
    workers: int | None = None,
    progressbar: bool = True,
    desc: str = "fits",
    fn: Any = None,
) -> list[Any]:
    """Run ``fn(*job)`` for every job through ``executor`` (see the module docstring) and return
    the results in job order, with one tqdm bar over completed jobs."""
    from tqdm.auto import tqdm

    fn = fit_summary if fn is None else fn

    n = len(jobs)
    bar = tqdm(total=n, desc=desc, disable=not progressbar)
    try:
        if executor is None:
            executor = "serial"
        if isinstance(executor, str) and executor not in EXECUTORS:
            raise ArgumentError(
                f"unknown executor {executor!r}; use None/'serial', 'processes' or an executor"
            )
        if executor == "serial":
            results = []
            for job in jobs:
                results.append(fn(*job))
                bar.update()
            return results
        own = executor == "processes"
        if own:
            executor = _default_executor(n, workers or os.cpu_count() or 1)
        if not hasattr(executor, "submit"):
            raise TypeError(
                "executor must have .submit(fn, *args) (concurrent.futures.Executor or "
                f"dask.distributed.Client), got {type(executor).__name__}"
            )
        try:
            futures = [executor.submit(fn, *job) for job in jobs]
            for _ in _completed(futures):
                bar.update()
            return [f.result() for f in futures]
        except cf.process.BrokenProcessPool as err:
            raise RuntimeError(
                "the worker processes died before finishing. With executor='processes' each "
                "worker re-imports the script that called pyglmm, so a script must put its "
                'top-level code under `if __name__ == "__main__":`; or use the default '
                "executor (serial), which needs no guard"
            ) from err
        finally:
            if own:
                executor.shutdown()
    finally:
        bar.close()


def _completed(futures: list[Any]) -> Any:
    """Futures in completion order: concurrent.futures, dask.distributed, else submit order."""
    if futures and all(isinstance(f, cf.Future) for f in futures):
        return cf.as_completed(futures)
    if futures and type(futures[0]).__module__.startswith("distributed"):
        from distributed import as_completed

        return as_completed(futures)
    return iter(futures)


def _seeds(seed: Any, n: int) -> list[np.random.SeedSequence]:
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return root.spawn(n)


def prior_spec(model: ModelSpec) -> dict[str, Any]:
    """The model's priors as a ``Model(priors=...)`` dict, so a refit on other data uses the
    same (not re-scaled) priors. A multivariate model's: each response's under its name
    (brms's ``resp``), plus ``rescor`` and a shared parameter (``nu``)."""
    ps: Any = model.prior_set
    resp_sets = getattr(ps, "resp_sets", None)
    if resp_sets:
        spec = {resp: prior_set_spec(s) for resp, s in resp_sets.items()}
        for resp in spec:  # a shared parameter has one prior, given once below
            for name in ps.shared:
                spec[resp].pop(name, None)
        spec.update(ps.shared)
        if ps.rescor is not None:
            spec["rescor"] = ps.rescor
        return spec
    return prior_set_spec(ps)


def prior_set_spec(ps: Any) -> dict[str, Any]:
    """One :class:`~pyglmm.priors.PriorSet` as a ``Model(priors=...)`` dict."""
    spec: dict[str, Any] = {"b": dict(ps.b), "sd": {k: dict(v) for k, v in ps.sd.items()}}
    if ps.intercept is not None:
        spec["Intercept"] = ps.intercept
    for block, p in ps.cor.items():  # by class: "cor" (LKJ, cs's rho) or "ar" (ar1's rho)
        spec.setdefault(ps.cor_class.get(block, "cor"), {})[block] = p
    spec.update(ps.family)
    for dpar, p in ps.dpar_intercept.items():  # a distributional formula's (pg.bf)
        spec[f"Intercept_{dpar}"] = p
    for dpar, coefs in ps.dpar_b.items():
        if coefs:
            spec[f"b_{dpar}"] = dict(coefs)
    if ps.thresholds:  # an ordinal model's, by index
        spec["Intercept"] = {str(k): p for k, p in enumerate(ps.thresholds, start=1)}
    return spec


def fit_summary(
    model_type: Callable[..., FittableModel],
    formula: str | BrmsFormula,
    data: pd.DataFrame,
    family: Family | str | list[Family],
    priors: Mapping[str, Any] | None,
    fit_kwargs: Mapping[str, Any] | None,
    n_thin: int = 0,
    loo: bool = False,
    data2: Mapping[str, Any] | None = None,
    rescor: bool | None = None,
) -> dict[str, Any]:
    """Build ``model_type(formula, data, family, priors, data2=data2)`` (the caller's model
    class, so this layer does not import :mod:`pyglmm.model`; ``data2``: the known matrices of
    ``gr(g, cov = ...)`` blocks; ``rescor``: a multivariate model's, with ``family`` a list of
    the responses' families), fit it with ``fit_kwargs`` and return a
    small picklable summary (no InferenceData):

    ``params``: label -> {mean, q2.5, q97.5, sd, rhat, ess_bulk, ess_tail};
    ``thinned``: label -> ``n_thin`` evenly spaced draws (for SBC ranks) when ``n_thin > 0``;
    ``diagnostics`` (divergences, max_rhat, min_bulk_ess, min_tail_ess), ``timing`` (the fit's),
    ``wall_s``; ``elpd_loo``/``elpd_loo_se`` when ``loo``; ``error`` (text) if anything failed.
    """
    t0 = time.perf_counter()
    kwargs = {"progressbar": False, "warn": False, **dict(fit_kwargs or {})}
    out: dict[str, Any] = {"error": None, "parameterization": kwargs.get("parameterization")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            extra: dict[str, Any] = {} if data2 is None else {"data2": data2}
            if rescor is not None:
                extra["rescor"] = rescor
            model = model_type(formula, data, family=family, priors=priors, **extra)
            fit = model.fit(**kwargs)
            draws = posterior_params(fit.posterior, model.design, model.family.params)
            params: dict[str, dict[str, float]] = {}
            thinned: dict[str, np.ndarray] = {}
            for label, d in draws.items():
                s = describe(d)
                params[label] = {
                    "mean": s["Estimate"],
                    "sd": s["Est.Error"],
                    "q2.5": s["Q2.5"],
                    "q97.5": s["Q97.5"],
                    "rhat": s["Rhat"],
                    "ess_bulk": s["Bulk_ESS"],
                    "ess_tail": s["Tail_ESS"],
                }
                if n_thin > 0:
                    flat = d.reshape(-1)
                    idx = np.linspace(0, flat.size - 1, n_thin).round().astype(int)
                    thinned[label] = flat[idx].copy()
            out.update(
                params=params,
                thinned=thinned,
                diagnostics=fit.diagnostics(),
                timing=dict(fit.timing),
                parameterization=dict(fit.parameterization),
            )
            if loo:
                out["elpd_loo"], out["elpd_loo_se"] = stack.elpd(fit.loo())
    except Exception as err:  # reported, so one failed fit does not lose the others
        out["error"] = f"{type(err).__name__}: {err}"
    out["wall_s"] = time.perf_counter() - t0
    return out
