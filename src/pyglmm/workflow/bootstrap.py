"""Parametric bootstrap of a point fit (lme4's ``bootMer``) and its percentile intervals.

``B`` responses are simulated from the fit (new random effects from the estimated covariance
and new residuals: :meth:`~pyglmm.lmm.pointfit.PointFit.simulate`, lme4's ``use.u = FALSE``),
the model is refitted to each (:meth:`~pyglmm.lmm.pointfit.PointFit.refit`, warm-started at the
estimate) and the natural parameters of every refit are collected. All responses are drawn in
the calling process from one seeded generator before any refit runs, so the replicates depend
on the seed only, not on the executor (serial, a process pool or a dask client: what
:func:`pyglmm.recover` takes, see :mod:`pyglmm.workflow.executors`). Refits run in chunks (one
job per chunk), so a process pool pickles the fit once per chunk, not once per replicate.

Percentile intervals (``boot.ci(type = "perc")``, which lme4's ``confint(method = "boot")``
uses): for the sorted replicates ``t_(1) <= ... <= t_(R)`` of a parameter, the ``a`` quantile
is ``t_(k)`` at ``k = (R + 1) a`` when that is an integer and otherwise interpolated between
``t_(k)`` and ``t_(k+1)``, ``k = floor((R + 1) a)``, linearly on the normal-quantile scale::

    t_(k) + (Phi^{-1}(a) - Phi^{-1}(k / (R+1))) / (Phi^{-1}((k+1) / (R+1)) - Phi^{-1}(k / (R+1)))
            * (t_(k+1) - t_(k))

Failed refits give NaN rows (counted in ``n_failed``) and are left out of the intervals.
"""

from __future__ import annotations

import contextlib
import html
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..errors import ArgumentError
from ..lmm.pointfit import PointFit, percent_labels
from .executors import run_jobs

CHUNK = 10  # replicates per job


def refit_chunk(fit: PointFit, ys: np.ndarray) -> np.ndarray:
    """Natural parameters of ``fit.refit(y)`` for each row of ``ys`` (NaN rows for failures);
    a top-level function, so process pools can run it."""
    k = len(fit.natural_params())
    out = np.full((len(ys), k), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, y in enumerate(ys):
            with contextlib.suppress(Exception):  # a failed refit: a NaN row
                out[i] = fit.refit(y).natural_params().to_numpy()
    return out


def percentile_interval(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``boot``'s ``norm.inter``: quantiles ``alpha`` of replicates ``t`` (module docstring)."""
    t = np.sort(np.asarray(t, dtype=float)[np.isfinite(t)])
    R = len(t)
    out = np.full(len(alpha), np.nan)
    if R == 0:
        return out
    for i, a in enumerate(alpha):
        rk = (R + 1) * a
        k = int(np.floor(rk + 1e-10 * max(1.0, rk)))
        if abs(rk - round(rk)) < 1e-10 * max(1.0, rk) and 1 <= round(rk) <= R:
            out[i] = t[round(rk) - 1]
        elif k == 0:
            out[i] = t[0]
        elif k >= R:
            out[i] = t[-1]
        else:
            lo, hi = norm.ppf(k / (R + 1)), norm.ppf((k + 1) / (R + 1))
            out[i] = t[k - 1] + (norm.ppf(a) - lo) / (hi - lo) * (t[k] - t[k - 1])
    return out


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Replicates of a parametric bootstrap: ``replicates`` (one row per replicate, one column
    per natural parameter), ``estimate`` (the fit's natural parameters), ``seed``,
    ``n_failed`` (refits that raised)."""

    replicates: pd.DataFrame
    estimate: pd.Series
    seed: Any
    n_failed: int

    @property
    def n(self) -> int:
        return len(self.replicates)

    def confint(self, level: float = 0.95, type: str = "perc") -> pd.DataFrame:
        """Intervals at ``level``: ``"perc"`` (percentile, lme4's default), ``"basic"``
        (``2 estimate - percentile``) or ``"norm"`` (``estimate - bias +- z SD``)."""
        cols = percent_labels(level)
        a = np.array([(1 - level) / 2, (1 + level) / 2])
        rows = []
        for name in self.replicates.columns:
            t = self.replicates[name].to_numpy()
            est = float(self.estimate[name])
            if type == "perc":
                rows.append(percentile_interval(t, a))
            elif type == "basic":
                rows.append(2 * est - percentile_interval(t, a[::-1]))
            elif type == "norm":
                ok = t[np.isfinite(t)]
                bias = ok.mean() - est
                sd = ok.std(ddof=1)
                rows.append(est - bias + norm.ppf(a) * sd)
            else:
                raise ArgumentError(
                    f"unknown bootstrap interval type {type!r}; use perc, basic or norm"
                )
        return pd.DataFrame(rows, index=self.replicates.columns, columns=cols)

    def summary(self) -> pd.DataFrame:
        """lme4's ``print(bootMer)``: original, bias and standard error per parameter."""
        r = self.replicates
        return pd.DataFrame(
            {"original": self.estimate, "bias": r.mean() - self.estimate, "std. error": r.std()}
        )

    def __repr__(self) -> str:
        head = f"Parametric bootstrap: {self.n} replicates (seed {self.seed!r})"
        if self.n_failed:
            head += f", {self.n_failed} failed"
        return head + "\n" + self.summary().to_string()

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>"


def bootstrap(
    fit: PointFit,
    n: int = 500,
    seed: Any = 1,
    executor: Any = None,
    progressbar: bool = True,
    workers: int | None = None,
    chunk: int = CHUNK,
) -> BootstrapResult:
    """Parametric bootstrap of ``fit`` with ``n`` replicates (module docstring).

    ``seed`` seeds the simulation (same seed, same replicates, whatever the executor);
    ``executor``: None/"serial", "processes", a ``concurrent.futures.Executor`` or a dask
    ``Client``; ``workers`` caps the "processes" pool; ``chunk`` replicates per job.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ArgumentError(f"n must be a positive integer, got {n!r}")
    ys = fit.simulate(int(n), seed=seed)
    jobs = [(fit, ys[i : i + chunk]) for i in range(0, int(n), max(1, int(chunk)))]
    parts = run_jobs(jobs, executor, workers, progressbar, desc="bootstrap", fn=refit_chunk)
    values = np.vstack(parts)
    est = fit.natural_params()
    reps = pd.DataFrame(values, columns=est.index)
    n_failed = int(np.sum(~np.isfinite(values).all(axis=1)))
    if n_failed:
        warnings.warn(f"{n_failed} of {n} bootstrap refits failed", stacklevel=2)
    return BootstrapResult(reps, est, seed, n_failed)
