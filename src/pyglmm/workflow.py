"""The Bayesian workflow around one model: parameter recovery, simulation-based calibration,
comparison of parameterizations or models, and Bayesian R^2.

* :func:`recover` simulates data from the model's design (:mod:`pyglmm.simulate`) at given
  parameters, or, with ``params=None``, at parameters drawn from the prior for every simulation
  (simulation-based calibration, Talts et al. 2018), refits each data set with the same formula,
  family and priors, and reports per parameter the truth, posterior mean, 95% interval and
  coverage, plus the SBC rank of the truth among ``n_ranks`` thinned posterior draws.
* :func:`compare` fits one model under several parameterizations and tabulates speed and
  sampling quality (ESS per second), or compares several fits by PSIS-LOO (``arviz.compare``).
* :func:`bayes_r2`: Gelman, Goodrich, Gabry & Vehtari (2019), like brms's ``bayes_R2``.

Fits run through an executor: by default (``None`` or ``"serial"``) one after the other in the
calling process, which works in a plain script and in a notebook (each fit already samples
its chains on every core);
``executor="processes"`` runs them in a local ``ProcessPoolExecutor`` with the spawn start
method, which re-imports the calling script in each worker, so a script needs the usual
``if __name__ == "__main__":`` guard (the error says so when it is missing); any
``concurrent.futures.Executor`` or a ``dask.distributed.Client`` (anything with
``submit(fn, *args)`` returning futures with ``result()``) works too. The worker,
:func:`fit_summary`, is a top-level function returning a small picklable summary.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from . import stack
from .errors import ArgumentError
from .fit import RHAT_LIMIT, describe
from .simulate import (
    ParamDraws,
    _frame,
    draw_prior,
    draw_responses,
    label_class,
    model_data,
    params_from_dict,
    posterior_params,
)

if TYPE_CHECKING:
    import matplotlib.figure

    from .families import Family
    from .fit import Fit
    from .model import Model

__all__ = [
    "CompareResult",
    "RecoveryResult",
    "bayes_r2",
    "compare",
    "fit_summary",
    "prior_spec",
    "recover",
]


# --------------------------------------------------------------------------------------------
# the worker


def prior_spec(model: Model) -> dict[str, Any]:
    """The model's priors as a ``Model(priors=...)`` dict, so a refit on other data uses the
    same (not re-scaled) priors."""
    ps = model.prior_set
    spec: dict[str, Any] = {"b": dict(ps.b), "sd": {k: dict(v) for k, v in ps.sd.items()}}
    if ps.intercept is not None:
        spec["Intercept"] = ps.intercept
    if ps.cor:
        spec["cor"] = dict(ps.cor)
    spec.update(ps.family)
    return spec


def fit_summary(
    formula: str,
    data: pd.DataFrame,
    family: Family | str,
    priors: Mapping[str, Any] | None,
    fit_kwargs: Mapping[str, Any] | None,
    n_thin: int = 0,
    loo: bool = False,
) -> dict[str, Any]:
    """Build ``Model(formula, data, family, priors)``, fit it with ``fit_kwargs`` and return a
    small picklable summary (no InferenceData):

    ``params``: label -> {mean, q2.5, q97.5, sd, rhat, ess_bulk, ess_tail};
    ``thinned``: label -> ``n_thin`` evenly spaced draws (for SBC ranks) when ``n_thin > 0``;
    ``diagnostics`` (divergences, max_rhat, min_bulk_ess, min_tail_ess), ``timing`` (the fit's),
    ``wall_s``; ``elpd_loo``/``elpd_loo_se`` when ``loo``; ``error`` (text) if anything failed.
    """
    from .model import Model

    t0 = time.perf_counter()
    kwargs = {"progressbar": False, "warn": False, **dict(fit_kwargs or {})}
    out: dict[str, Any] = {"error": None, "parameterization": kwargs.get("parameterization")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = Model(formula, data, family=family, priors=priors)
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


# --------------------------------------------------------------------------------------------
# executors


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
    fn: Any = fit_summary,
) -> list[Any]:
    """Run ``fn(*job)`` for every job through ``executor`` (see the module docstring) and return
    the results in job order, with one tqdm bar over completed jobs."""
    from tqdm.auto import tqdm

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


# --------------------------------------------------------------------------------------------
# recovery and SBC


@dataclass
class RecoveryResult:
    """Results of :func:`recover`.

    ``table``: one row per (simulation, parameter): sim, parameter, class, true, mean, sd,
    q2.5, q97.5, covered, rank, rhat, ess_bulk. ``coverage``: per parameter the share of
    95% intervals covering the truth, the number of simulations, the mean error (bias) and
    the chi-square uniformity p-value of the SBC ranks (NaN below 10 simulations).
    ``ranks``: simulations x parameters, ranks in 0..``n_ranks``. ``diagnostics``: per
    simulation divergences, max R-hat, min bulk ESS and wall seconds. ``data``: the simulated
    data sets.
    """

    table: pd.DataFrame
    coverage: pd.DataFrame
    ranks: pd.DataFrame
    diagnostics: pd.DataFrame
    n_ranks: int
    sbc: bool
    data: list[pd.DataFrame] = field(default_factory=list, repr=False)

    @property
    def all_covered(self) -> bool:
        return bool(self.table["covered"].all())

    def __str__(self) -> str:
        kind = "SBC (truth from the prior)" if self.sbc else "recovery at fixed parameters"
        n = len(self.diagnostics)
        lines = [f"{kind}: {n} simulation(s), ranks among {self.n_ranks} draws"]
        if n == 1:
            cols = ["parameter", "true", "mean", "q2.5", "q97.5", "covered"]
            lines.append(self.table[cols].to_string(index=False))
        else:
            lines.append(self.coverage.to_string())
        return "\n".join(lines)

    def plot(self, bins: int | None = None) -> matplotlib.figure.Figure:
        """Rank histograms per parameter with the 99% band of a uniform histogram."""
        from .plots import plot_ranks

        return plot_ranks(self.ranks, self.n_ranks, bins=bins)


def recover(
    model: Model,
    params: Mapping[str, Any] | None = None,
    n_sims: int = 1,
    seed: Any = None,
    executor: Any = None,
    fit_kwargs: Mapping[str, Any] | None = None,
    n_ranks: int = 100,
    data: pd.DataFrame | None = None,
    progressbar: bool = False,
) -> RecoveryResult:
    """Simulate ``n_sims`` data sets from ``model`` and refit each (``pg.recover``).

    ``params``: true values in the format of :mod:`pyglmm.simulate`; None draws them from the
    priors for each simulation (simulation-based calibration proper). Each data set is refitted
    as ``Model(formula, sim, family, priors=<the model's priors>)`` with ``fit_kwargs`` (defaults
    ``progressbar=False, warn=False``, the model's parameterization, a seed per simulation
    derived from ``seed``). ``executor``: None or ``"serial"`` (in this process, the
    default), ``"processes"`` (a local spawn process pool with ``min(n_sims, cpu_count)``
    workers, each fit on ``cpu_count // workers`` cores; a script needs the
    ``if __name__ == "__main__":`` guard), a ``concurrent.futures.Executor`` or a
    ``dask.distributed.Client``. ``n_ranks`` (L): the
    number of evenly thinned posterior draws the SBC rank is computed among.
    """
    if n_sims < 1:
        raise ValueError(f"n_sims must be >= 1, got {n_sims}")
    design = model.design
    base = model_data(model, data)
    seeds = _seeds(seed, n_sims + 1)
    rng = np.random.default_rng(seeds[-1])
    truth_draws: ParamDraws = (
        draw_prior(model, n_sims, rng) if params is None else params_from_dict(model, params)
    )
    kwargs = dict(fit_kwargs or {})
    kwargs.setdefault("parameterization", model.parameterization)
    cpu = os.cpu_count() or 1
    if executor == "processes" and "cores" not in kwargs:
        kwargs["cores"] = max(1, cpu // min(n_sims, cpu))
    priors = prior_spec(model)
    sims, truths, jobs = [], [], []
    for i in range(n_sims):
        this = truth_draws.draw(i if params is None else 0)
        sim_rng = np.random.default_rng(seeds[i])
        y, effects = draw_responses(model, this, sim_rng)
        frame = _frame(model, base, y[0], this, effects)
        sims.append(frame)
        truths.append(this.flat(design))
        job_data = frame.copy()
        job_data.attrs = {}
        fit_seed = int(seeds[i].generate_state(1)[0] % (2**31 - 1))
        job_kwargs = {"seed": fit_seed, **kwargs}
        jobs.append(
            (design.formula.formula, job_data, model.family, priors, job_kwargs, n_ranks, False)
        )
    results = run_jobs(
        jobs, executor, workers=min(n_sims, cpu), progressbar=progressbar, desc="recover"
    )
    failed = [(i, r["error"]) for i, r in enumerate(results) if r["error"]]
    if failed:
        detail = "; ".join(f"simulation {i}: {e}" for i, e in failed[:3])
        raise RuntimeError(f"{len(failed)} of {n_sims} refits failed: {detail}")
    return _recovery_result(results, truths, sims, n_ranks, sbc=params is None, seed=seeds[-1])


def _recovery_result(
    results: list[dict[str, Any]],
    truths: list[dict[str, float]],
    sims: list[pd.DataFrame],
    n_ranks: int,
    sbc: bool,
    seed: Any = None,
) -> RecoveryResult:
    rng = np.random.default_rng(seed)
    rows = []
    rank_rows = []
    diag_rows = []
    for i, (res, truth) in enumerate(zip(results, truths, strict=True)):
        ranks = {}
        for label, true in truth.items():
            s = res["params"][label]
            thin = res["thinned"][label]
            below = int((thin < true).sum())
            ties = int((thin == true).sum())
            rank = below + (int(rng.integers(0, ties + 1)) if ties else 0)
            ranks[label] = rank
            rows.append(
                {
                    "sim": i,
                    "parameter": label,
                    "class": label_class(label),
                    "true": true,
                    "mean": s["mean"],
                    "sd": s["sd"],
                    "q2.5": s["q2.5"],
                    "q97.5": s["q97.5"],
                    "covered": bool(s["q2.5"] <= true <= s["q97.5"]),
                    "rank": rank,
                    "rhat": s["rhat"],
                    "ess_bulk": s["ess_bulk"],
                }
            )
        rank_rows.append(ranks)
        diag_rows.append({**res["diagnostics"], "wall_s": res["wall_s"]})
    table = pd.DataFrame(rows)
    labels = list(truths[0])
    ranks_df = pd.DataFrame(rank_rows, columns=labels)
    ranks_df.index.name = "sim"
    cov_rows = {}
    for label in labels:
        part = table[table["parameter"] == label]
        cov_rows[label] = {
            "coverage": float(part["covered"].mean()),
            "n_sims": len(part),
            "bias": float((part["mean"] - part["true"]).mean()),
            "rank_pvalue": _uniform_pvalue(ranks_df[label].to_numpy(), n_ranks),
        }
    coverage = pd.DataFrame.from_dict(cov_rows, orient="index")
    coverage.index.name = "parameter"
    diagnostics = pd.DataFrame(diag_rows)
    diagnostics.index.name = "sim"
    return RecoveryResult(table, coverage, ranks_df, diagnostics, n_ranks, sbc, sims)


def rank_bins(n_sims: int, n_ranks: int) -> int:
    """Histogram bins for SBC ranks: about 5 simulations per bin, between 5 and 20 bins, at
    most the L + 1 possible ranks."""
    return int(max(1, min(20, max(5, n_sims // 5), n_ranks + 1)))


def _uniform_pvalue(ranks: np.ndarray, n_ranks: int) -> float:
    """Chi-square test that ranks (0..L) are uniform, over :func:`rank_bins` bins."""
    n = ranks.size
    bins = rank_bins(n, n_ranks)
    bins = min(bins, max(1, n // 5))  # at least ~5 expected per bin for the chi-square
    if n < 10 or bins < 2:
        return float("nan")
    counts = np.histogram(ranks, bins=bins, range=(0, n_ranks + 1))[0]
    return float(stats.chisquare(counts).pvalue)


# --------------------------------------------------------------------------------------------
# comparison


COMPARE_COLUMNS = [
    "wall_s",
    "compile_s",
    "sample_s",
    "divergences",
    "max_rhat",
    "min_bulk_ess",
    "min_tail_ess",
    "min_ess_per_s",
    "min_ess_per_sample_s",
    "elpd_loo",
    "elpd_loo_se",
]


@dataclass
class CompareResult:
    """Results of :func:`compare`: ``table`` (one row per parameterization or model),
    ``verdict`` (one line), ``best`` (the label the verdict names, or None) and, when fits were
    made in this process or given, ``fits`` (label -> Fit)."""

    table: pd.DataFrame
    verdict: str
    best: str | None
    fits: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        with pd.option_context("display.width", 200, "display.max_columns", 30):
            return f"{self.table.to_string()}\n{self.verdict}"

    def _repr_html_(self) -> str:
        return f"{self.table.to_html()}<p>{self.verdict}</p>"


def _speed_row(
    timing: Mapping[str, float], diag: Mapping[str, float], wall: float
) -> dict[str, float]:
    """One row of the speed columns from a fit's ``timing`` and ``diagnostics()``.

    ``compile_s`` is the time spent compiling before sampling (nutpie: compiling the PyMC
    model, or loading the kernel of :mod:`pyglmm.kernel`). Samplers that compile inside their
    sampling call (``sampler="pymc"``, ``"numpyro"``, ``"blackjax"``) report no separate
    compile time: their ``compile_s`` is 0 and ``sample_s`` includes the compilation, so
    ``min_ess_per_s`` (compile + sampling) stays comparable across samplers while
    ``min_ess_per_sample_s`` of those samplers counts the compilation too.
    """
    compile_s = float(timing.get("compile", np.nan))
    if not np.isfinite(compile_s):
        compile_s = 0.0  # compiled inside sampling: counted in sample_s
    sample_s = float(timing.get("sample", np.nan))
    ess = float(diag["min_bulk_ess"])
    total = np.nansum([compile_s, sample_s])
    return {
        "wall_s": wall,
        "compile_s": compile_s,
        "sample_s": sample_s,
        "divergences": float(diag["divergences"]),
        "max_rhat": float(diag["max_rhat"]),
        "min_bulk_ess": ess,
        "min_tail_ess": float(diag["min_tail_ess"]),
        "min_ess_per_s": ess / total if total > 0 else np.nan,
        "min_ess_per_sample_s": ess / sample_s if sample_s > 0 else np.nan,
    }


def _timing_seconds(timing: Mapping[str, float]) -> float:
    """The seconds a fit's ``timing`` adds up to (build, compile, sampling, ...): finite
    entries only (a sampler that compiles inside sampling reports ``compile`` as NaN), and
    not flags such as the kernel's ``compile_cached``."""
    return float(
        sum(
            float(v)
            for k, v in timing.items()
            if not k.endswith("_cached") and np.isfinite(float(v))
        )
    )


def _speed_verdict(table: pd.DataFrame, what: str) -> tuple[str, str | None]:
    ok = table[
        (table["divergences"] == 0)
        & (table["max_rhat"] <= RHAT_LIMIT)
        & table["min_ess_per_s"].notna()
    ]
    if ok.empty:
        return (
            f"no {what} sampled cleanly (0 divergences and R-hat <= {RHAT_LIMIT}); "
            "run longer or raise target_accept before comparing speed",
            None,
        )
    speeds = ok["min_ess_per_s"].to_numpy(dtype=float)
    best = str(ok.index[int(np.argmax(speeds))])
    rate = float(speeds.max())
    others = ok.drop(index=best)["min_ess_per_s"]
    tail = ""
    if len(others):
        top = float(others.max())
        ratio = rate / top if top > 0 else np.inf
        runner = str(others.index[int(np.argmax(others.to_numpy()))])
        tail = f", {ratio:.1f}x the next clean {what} ({runner})"
    excluded = [str(x) for x in table.index if x not in ok.index]
    note = f"; excluded (divergences, R-hat or failure): {', '.join(excluded)}" if excluded else ""
    return (
        f"best {what}: {best} ({rate:.0f} min bulk ESS per second of compile + sampling"
        f"{tail}){note}",
        best,
    )


def compare(
    model_or_fits: Any,
    parameterizations: Sequence[str | Mapping[str, str]] | None = None,
    executor: Any = None,
    *,
    labels: Sequence[str] | None = None,
    data: pd.DataFrame | None = None,
    progressbar: bool = True,
    **fit_kwargs: Any,
) -> CompareResult:
    """Compare parameterizations of one model, or several models by LOO (``pg.compare``).

    * ``compare(model, ["noncentered", "centered", "marginal"], draws=1000, seed=1)``: fits each
      parameterization (one after the other in this process by default; with
      ``executor="processes"`` in worker processes, as many at once as ``cpu_count // chains``
      allows; or through any ``executor``, see the module docstring) and tabulates
      wall/compile/sampling seconds, divergences, max R-hat, min bulk/tail ESS, min bulk ESS per
      second (compile + sampling, and sampling only), elpd_loo and its SE. The verdict names the
      fastest by ESS per second among the fits with no divergences and R-hat <= 1.01. A failed fit
      gets an ``error`` entry instead of numbers. Default parameterizations: noncentered, centered,
      and marginal when the family allows. With a sampler that compiles inside sampling
      (``sampler="pymc"``, JAX), ``compile_s`` is 0 and ``sample_s`` includes the compilation.
    * ``compare([fit1, fit2])`` or ``compare({"corr": fit1, "uncorr": fit2})`` (Models are fitted
      here with ``fit_kwargs``): the same speed columns plus ``arviz.compare``'s LOO columns
      (rank, elpd_loo, elpd_loo_se, p_loo, elpd_diff, dse, weight); the verdict names the model
      with the highest elpd_loo and says whether its lead exceeds 2 standard errors.
    """
    from .fit import Fit
    from .model import Model

    if isinstance(model_or_fits, Model):
        return _compare_parameterizations(
            model_or_fits, parameterizations, executor, labels, data, progressbar, fit_kwargs
        )
    if isinstance(model_or_fits, Fit):
        raise TypeError("compare() needs a Model, or a list/dict of at least two fits")
    if isinstance(model_or_fits, Mapping):
        items = [(str(k), v) for k, v in model_or_fits.items()]
    elif isinstance(model_or_fits, Sequence) and not isinstance(model_or_fits, str):
        objs = list(model_or_fits)
        names = list(labels) if labels is not None else [_fit_label(o) for o in objs]
        if len(names) != len(objs):
            raise ValueError("labels must have one entry per fit")
        items = list(zip(_unique(names), objs, strict=True))
    else:
        raise TypeError(
            f"compare() takes a Model or a list/dict of Fits, got {type(model_or_fits).__name__}"
        )
    if parameterizations is not None:
        raise ValueError("parameterizations= applies to compare(model, ...), not to a list of fits")
    if len(items) < 2:
        raise ValueError("compare() needs at least two fits to compare")
    fits: dict[str, Fit] = {}
    kwargs = {"progressbar": False, "warn": False, **fit_kwargs}
    for label, obj in items:
        if isinstance(obj, Model):
            obj = obj.fit(**kwargs)
        if not isinstance(obj, Fit):
            raise TypeError(f"compare(): {label!r} is a {type(obj).__name__}, not a Fit or Model")
        fits[label] = obj
    return _compare_fits(fits)


def _fit_label(obj: Any) -> str:
    design = getattr(obj, "design", None)
    return design.formula.formula if design is not None else type(obj).__name__


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n} ({seen[n]})")
    return out


def _compare_parameterizations(
    model: Model,
    parameterizations: Sequence[str | Mapping[str, str]] | None,
    executor: Any,
    labels: Sequence[str] | None,
    data: pd.DataFrame | None,
    progressbar: bool,
    fit_kwargs: Mapping[str, Any],
) -> CompareResult:
    from .compile import can_marginalize

    if parameterizations is None:
        parameterizations = ["noncentered", "centered"]
        if can_marginalize(model.family) and model.design.blocks:
            parameterizations.append("marginal")
    specs = list(parameterizations)
    if not specs:
        raise ValueError("give at least one parameterization")
    names = list(labels) if labels is not None else [_spec_label(p) for p in specs]
    if len(names) != len(specs):
        raise ValueError("labels must have one entry per parameterization")
    names = _unique(names)
    base = model_data(model, data).copy()
    base.attrs = {}
    priors = prior_spec(model)
    chains = int(fit_kwargs.get("chains", 4))
    cpu = os.cpu_count() or 1
    workers = max(1, cpu // max(chains, 1))
    jobs = [
        (
            model.design.formula.formula,
            base,
            model.family,
            priors,
            {**fit_kwargs, "parameterization": spec},
            0,
            True,
        )
        for spec in specs
    ]
    results = run_jobs(jobs, executor, workers=workers, progressbar=progressbar, desc="compare")
    rows = []
    for res in results:
        if res["error"]:
            row = dict.fromkeys(COMPARE_COLUMNS, np.nan)
            row["wall_s"] = res["wall_s"]
            row["error"] = res["error"]
        else:
            row = _speed_row(res["timing"], res["diagnostics"], res["wall_s"])
            row["elpd_loo"] = res.get("elpd_loo", np.nan)
            row["elpd_loo_se"] = res.get("elpd_loo_se", np.nan)
        rows.append(row)
    table = pd.DataFrame(rows, index=pd.Index(names, name="parameterization"))
    cols = [*COMPARE_COLUMNS, *(["error"] if "error" in table else [])]
    table = table[cols]
    verdict, best = _speed_verdict(table, "parameterization")
    return CompareResult(table, verdict, best)


def _spec_label(spec: str | Mapping[str, str]) -> str:
    if isinstance(spec, Mapping):
        return ", ".join(f"{k}={v}" for k, v in spec.items())
    return str(spec)


def _compare_fits(fits: Mapping[str, Fit]) -> CompareResult:
    n_obs = {label: f.design.n_obs for label, f in fits.items()}
    if len(set(n_obs.values())) > 1:
        raise ValueError(f"LOO comparison needs the same observations in every fit; n = {n_obs}")
    speed = pd.DataFrame(
        {
            label: _speed_row(f.timing, f.diagnostics(), _timing_seconds(f.timing))
            for label, f in fits.items()
        }
    ).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = stack.compare({label: f.idata for label, f in fits.items()})
    loo = loo.rename(columns={"se": "elpd_loo_se"})
    keep = ["rank", "elpd_loo", "elpd_loo_se", "p_loo", "elpd_diff", "dse", "weight", "warning"]
    table = loo[keep].join(speed.drop(columns=[], errors="ignore"))
    table.index.name = "model"
    table = table[[*keep, *[c for c in COMPARE_COLUMNS if c not in keep]]]
    best = str(table.index[0])
    second = str(table.index[1])
    diff, dse = np.asarray(table.loc[second, ["elpd_diff", "dse"]], dtype=float)
    if diff > 2 * dse:
        verdict = f"preferred: {best} (elpd_loo higher by {diff:.1f}, SE {dse:.1f}, than {second})"
    else:
        simpler = str(table.loc[[best, second], "p_loo"].astype(float).idxmin())
        verdict = (
            f"preferred: {best} by elpd_loo, but its lead over {second} ({diff:.1f}, SE "
            f"{dse:.1f}) is within 2 SE: the models predict about equally well; "
            f"the simpler one ({simpler}, lower p_loo) is a reasonable choice"
        )
    if table["warning"].astype(bool).any():
        verdict += " (PSIS-LOO warning: some Pareto k are high, see arviz.loo)"
    return CompareResult(table, verdict, best, dict(fits))


# --------------------------------------------------------------------------------------------
# Bayesian R^2


def bayes_r2(fit: Fit, summary: bool = True) -> pd.DataFrame | np.ndarray:
    """Bayesian R^2 (Gelman, Goodrich, Gabry & Vehtari 2019), like brms's ``bayes_R2``.

    Per draw s: ``R2_s = var_i(E[y_i | s]) / (var_i(E[y_i | s]) + mean residual variance_s)``,
    the residual variance from the family: gaussian ``sigma^2``; student ``sigma^2 nu/(nu-2)``
    (``var(y - mu)`` over the rows for draws with nu <= 2); bernoulli ``mean mu(1-mu)``;
    binomial (count scale) ``mean n mu(1-mu)``; poisson ``mean mu``; negative binomial
    ``mean mu + mu^2/shape``; gamma ``mean mu^2/shape``; lognormal (y scale)
    ``mean (exp(sigma^2) - 1) E[y]^2``; beta ``mean mu(1-mu)/(1+phi)``. Random effects are
    included. Returns a one-row DataFrame (index ``R2``; Estimate, Est.Error, Q2.5, Q97.5) or,
    with ``summary=False``, the draws.
    """
    from .posterior import flat_draws

    family, design = fit.family, fit.design
    mu = np.asarray(fit.predict(kind="mean", summary=False))  # S x n
    post = fit.posterior
    p = {name: flat_draws(post, name)[:, None] for name in family.params}  # S x 1
    name = family.name
    y = design.y
    if name == "gaussian":
        ey, res_var = mu, p["sigma"][:, 0] ** 2
    elif name == "student":
        ey = mu
        nu, sigma = p["nu"][:, 0], p["sigma"][:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            model_var = sigma**2 * nu / (nu - 2)
        res_var = np.where(nu > 2, model_var, np.var(y - mu, axis=1, ddof=1))
    elif name == "bernoulli":
        ey, res_var = mu, np.mean(mu * (1 - mu), axis=1)
    elif name == "binomial":
        assert design.trials is not None
        ey = mu * design.trials
        res_var = np.mean(design.trials * mu * (1 - mu), axis=1)
    elif name == "poisson":
        ey, res_var = mu, np.mean(mu, axis=1)
    elif name == "negativebinomial":
        ey, res_var = mu, np.mean(mu + mu**2 / p["shape"], axis=1)
    elif name == "gamma":
        ey, res_var = mu, np.mean(mu**2 / p["shape"], axis=1)
    elif name == "lognormal":
        s2 = p["sigma"] ** 2
        ey = np.exp(mu + s2 / 2)
        res_var = np.mean((np.exp(s2) - 1) * ey**2, axis=1)
    elif name == "beta":
        ey, res_var = mu, np.mean(mu * (1 - mu) / (1 + p["phi"]), axis=1)
    else:  # a family without a simple variance function: residual-based
        ey, res_var = mu, np.var(y - mu, axis=1, ddof=1)
    var_fit = np.var(ey, axis=1, ddof=1)
    r2 = var_fit / (var_fit + res_var)
    if not summary:
        return r2
    q = np.quantile(r2, [0.025, 0.975])
    return pd.DataFrame(
        {
            "Estimate": [float(r2.mean())],
            "Est.Error": [float(r2.std(ddof=1))],
            "Q2.5": [float(q[0])],
            "Q97.5": [float(q[1])],
        },
        index=pd.Index(["R2"]),
    )
