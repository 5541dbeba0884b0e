"""brms's ``kfold()``: K-fold cross-validation of a fit (``fit.kfold(K=10, seed=1)``).

The rows the model used are split into ``K`` folds (at random, as balanced as possible, as
``loo::kfold_split_random``; or given by ``folds``). For each fold the model is refitted
without the fold's rows, with the priors of the full model (not re-scaled to the smaller data
set, as :func:`~pyglmm.recover` does) and the original fit's sampling arguments, and each
held-out row ``i`` gets its log predictive density ::

    elpd_i = log( 1/S sum_s p(y_i | theta_s) )

over the refit's ``S`` draws, its random effects those of its level, or drawn from their
fitted distribution for a level the fold's training rows lack (``new_levels="gaussian"``, as
brms's ``kfold`` does with ``allow_new_levels = TRUE``). As in brms, ``elpd_kfold = sum_i
elpd_i`` with ``SE = sqrt(n var(elpd_i))``, ``p_kfold = lpd - elpd_kfold`` (``lpd`` the full
fit's log pointwise predictive density) and ``kfoldic = -2 elpd_kfold``.

The K refits run through the executors of :func:`~pyglmm.recover`
(:mod:`pyglmm.workflow.executors`): ``executor=None``/``"serial"``, ``"processes"``, a
``concurrent.futures.Executor`` or a ``dask.distributed.Client``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from .. import stack
from ..errors import ArgumentError, UnsupportedModelError
from ..families import Family
from ..posterior import flat_draws
from .executors import _seeds, prior_spec, run_jobs
from .update import fit_arguments


@dataclass
class KFoldResult:
    """``estimates`` (rows elpd_kfold, p_kfold, kfoldic; columns Estimate, SE), ``pointwise``
    (per used row: ``elpd_kfold``, its ``fold``) and ``K``."""

    estimates: pd.DataFrame
    pointwise: pd.DataFrame
    K: int

    @property
    def elpd_kfold(self) -> float:
        return float(self.estimates["Estimate"].iloc[0])

    @property
    def se(self) -> float:
        return float(self.estimates["SE"].iloc[0])

    def __str__(self) -> str:
        body = self.estimates.to_string(float_format=lambda v: f"{v:.1f}")
        return f"\nBased on {self.K}-fold cross-validation.\n\n{body}"

    def __repr__(self) -> str:
        return str(self)


def split_folds(n: int, K: int, seed: Any = None) -> np.ndarray:
    """Fold ids 1..K for ``n`` rows: a random permutation dealt out in turn (fold sizes differ
    by at most one)."""
    rng = np.random.default_rng(seed)
    folds = np.empty(n, dtype=int)
    folds[rng.permutation(n)] = np.arange(n) % K + 1
    return folds


def heldout_elpd(
    model_type: Callable[..., Any],
    formula: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    family: Family,
    priors: Mapping[str, Any] | None,
    fit_kwargs: Mapping[str, Any],
    y_test: np.ndarray,
    trials_test: np.ndarray | None,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The job of one fold: fit ``model_type(formula, train, ...)`` and return ``{"elpd":
    elpd_i of the test rows, "error": None}`` (or the error's text)."""
    out: dict[str, Any] = {"elpd": None, "error": None}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = model_type(formula, train, family=family, priors=priors, **extra)
            fit = model.fit(**{**dict(fit_kwargs), "progressbar": False, "warn": False})
            seed = fit_kwargs.get("seed")
            eta = fit.predict(test, kind="link", new_levels="gaussian", summary=False, seed=seed)
            mu = family.linkinv_np(np.asarray(eta))  # not kind="mean": E[y] of a mixture
            post = fit.posterior
            params = {p: flat_draws(post, p) for p in family.params}
            ll = family.loglik(y_test, np.asarray(mu), params, trials_test)
            out["elpd"] = logsumexp(ll, axis=0) - np.log(ll.shape[0])
    except Exception as err:  # reported below, with the fold
        out["error"] = f"{type(err).__name__}: {err}"
    return out


def _lpd(fit: Any) -> np.ndarray | None:
    """The full fit's log pointwise predictive density per row, from its stored
    log-likelihood (None when it has none)."""
    group = stack.group(fit.idata, "log_likelihood")
    if group is None or not len(group.data_vars):
        return None
    arr = np.asarray(next(iter(group.data_vars.values())).values)
    arr = arr.reshape(-1, arr.shape[-1])
    return np.asarray(logsumexp(arr, axis=0) - np.log(arr.shape[0]))


def kfold(
    fit: Any,
    K: int = 10,
    seed: Any = None,
    folds: np.ndarray | None = None,
    executor: Any = None,
    workers: int | None = None,
    progressbar: bool = False,
    fit_kwargs: Mapping[str, Any] | None = None,
) -> KFoldResult:
    """K-fold cross-validation of ``fit`` (see the module docstring). ``seed`` sets the folds
    and each refit's seed; ``folds`` (ids per used row) replaces the random split;
    ``fit_kwargs`` override the original fit's arguments in the refits."""
    model, design = fit.model, fit.design
    if design.dpars:
        what = "family 'categorical'" if design.categorical else "distributional formulas (pg.bf)"
        raise UnsupportedModelError(f"kfold does not support {what} yet")
    if not design.has_data:
        raise ArgumentError("kfold needs the fitted rows: this fit was saved with data=False")
    n = design.n_obs
    if folds is None:
        if not 2 <= K <= n:
            raise ArgumentError(f"K must lie between 2 and the number of rows ({n}), got {K}")
        seeds = _seeds(seed, K + 1)
        fold = split_folds(n, K, seeds[-1])
    else:
        fold = np.asarray(folds)
        if fold.shape != (n,):
            raise ArgumentError(f"folds must give one fold id per used row ({n}), got {fold.shape}")
        ids = np.unique(fold)
        fold = np.searchsorted(ids, fold) + 1
        K = len(ids)
        seeds = _seeds(seed, K + 1)
    data = model.data
    positions = data.index.get_indexer(design.index)
    if (positions < 0).any() or not data.index.is_unique:
        raise ArgumentError("kfold needs the data's index to be unique")
    rows = data.iloc[positions]
    y = np.asarray(design.y, dtype=float)
    trials = None if design.trials is None else np.asarray(design.trials, dtype=float)
    formula = model.bf if getattr(model, "bf", None) is not None else design.formula.formula
    priors = prior_spec(model)
    extra: dict[str, Any] = {"parameterization": model.parameterization}
    if getattr(model, "data2", None) is not None:
        extra["data2"] = model.data2
    base = fit_arguments(fit, **dict(fit_kwargs or {}))
    cpu = os.cpu_count() or 1
    if executor == "processes" and "cores" not in (fit_kwargs or {}):
        base["cores"] = max(1, cpu // min(K, cpu))
    jobs = []
    for k in range(1, K + 1):
        test = fold == k
        fit_seed = int(seeds[k - 1].generate_state(1)[0] % (2**31 - 1))
        job_kwargs = {**base, "seed": fit_seed}
        jobs.append(
            (
                type(model),
                formula,
                rows[~test].copy(),
                rows[test].copy(),
                model.family,
                priors,
                job_kwargs,
                y[test],
                None if trials is None else trials[test],
                extra,
            )
        )
    results = run_jobs(
        jobs, executor, workers=min(K, cpu), progressbar=progressbar, desc="kfold", fn=heldout_elpd
    )
    failed = [(k + 1, r["error"]) for k, r in enumerate(results) if r["error"]]
    if failed:
        detail = "; ".join(f"fold {k}: {e}" for k, e in failed[:3])
        raise RuntimeError(f"{len(failed)} of {K} fold refits failed: {detail}")
    elpd = np.empty(n)
    for k, r in enumerate(results):
        elpd[fold == k + 1] = r["elpd"]
    total, se = float(elpd.sum()), float(np.sqrt(n * np.var(elpd, ddof=1)))
    lpd = _lpd(fit)
    if lpd is not None and lpd.shape == elpd.shape:
        p = lpd - elpd
        p_row = (float(p.sum()), float(np.sqrt(n * np.var(p, ddof=1))))
    else:
        p_row = (np.nan, np.nan)
    estimates = pd.DataFrame(
        [(total, se), p_row, (-2 * total, 2 * se)],
        index=["elpd_kfold", "p_kfold", "kfoldic"],
        columns=["Estimate", "SE"],
    )
    pointwise = pd.DataFrame({"elpd_kfold": elpd, "fold": fold}, index=design.index)
    return KFoldResult(estimates, pointwise, K)
