""":func:`~pyglmm.compare`: one model under several parameterizations, or several fits.

* ``compare(model, [...])`` fits each parameterization (through
  :mod:`pyglmm.workflow.executors`) and tabulates speed and sampling quality: wall, compile and
  sampling seconds, divergences, R-hat, bulk/tail ESS and ESS per second, elpd_loo; the verdict
  names the fastest fit among those that sampled cleanly.
* ``compare([fit1, fit2])`` (or a dict) adds PSIS-LOO (``arviz.compare`` through
  :mod:`pyglmm.stack`, ArviZ 0.x's columns on both stacks); the verdict names the best elpd_loo
  and whether its lead exceeds 2 standard errors.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import stack
from ..design.distributional import model_formula
from ..errors import ArgumentError
from ..results.diagnostics import RHAT_LIMIT
from ..spec import FittableModel
from .executors import run_jobs
from .recovery import prior_spec
from .simulation import model_data

if TYPE_CHECKING:
    from ..results.fit import Fit


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

    def __repr__(self) -> str:  # the table, not the dataclass fields (a notebook's text view)
        return str(self)

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


# the entries of ``fit.timing`` that are flags, not seconds (which engine sampled; whether the
# chains started at the point estimates), beside the ``*_cached`` ones
TIMING_FLAGS = ("kernel", "point_init")


def _timing_seconds(timing: Mapping[str, float]) -> float:
    """The seconds a fit's ``timing`` adds up to (point fit, build, compile, sampling, ...):
    finite entries only (a sampler that compiles inside sampling reports ``compile`` as NaN),
    and not flags (``TIMING_FLAGS``, the kernel's ``compile_cached``)."""
    return float(
        sum(
            float(v)
            for k, v in timing.items()
            if not k.endswith("_cached") and k not in TIMING_FLAGS and np.isfinite(float(v))
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
      and marginal when the family allows (gaussian), or laplace for a GLMM that the kernel
      covers with its largest block integrated out (nutpie, ``kernel`` not False; laplace is
      approximate, so its speed is not the whole story: see ``docs/laplace.md``). With a
      sampler that compiles inside sampling (``sampler="pymc"``, JAX), ``compile_s`` is 0 and
      ``sample_s`` includes the compilation.
    * ``compare([fit1, fit2])`` or ``compare({"corr": fit1, "uncorr": fit2})`` (Models are fitted
      here with ``fit_kwargs``): the same speed columns plus ``arviz.compare``'s LOO columns
      (rank, elpd_loo, elpd_loo_se, p_loo, elpd_diff, dse, weight); the verdict names the model
      with the highest elpd_loo and says whether its lead exceeds 2 standard errors.
    """
    from ..results.fit import Fit

    if isinstance(model_or_fits, FittableModel):
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
            raise ArgumentError("labels must have one entry per fit")
        items = list(zip(_unique(names), objs, strict=True))
    else:
        raise TypeError(
            f"compare() takes a Model or a list/dict of Fits, got {type(model_or_fits).__name__}"
        )
    if parameterizations is not None:
        raise ArgumentError(
            "parameterizations= applies to compare(model, ...), not to a list of fits"
        )
    if len(items) < 2:
        raise ArgumentError("compare() needs at least two fits to compare")
    fits: dict[str, Fit] = {}
    kwargs = {"progressbar": False, "warn": False, **fit_kwargs}
    for label, obj in items:
        if isinstance(obj, FittableModel):
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
    model: FittableModel,
    parameterizations: Sequence[str | Mapping[str, str]] | None,
    executor: Any,
    labels: Sequence[str] | None,
    data: pd.DataFrame | None,
    progressbar: bool,
    fit_kwargs: Mapping[str, Any],
) -> CompareResult:
    from ..compile import can_marginalize

    if parameterizations is None:
        parameterizations = ["noncentered", "centered"]
        if can_marginalize(model.family) and model.design.blocks:
            parameterizations.append("marginal")
        elif _kernel_covers_laplace(model, fit_kwargs):
            parameterizations.append("laplace")
    specs = list(parameterizations)
    if not specs:
        raise ArgumentError("give at least one parameterization")
    names = list(labels) if labels is not None else [_spec_label(p) for p in specs]
    if len(names) != len(specs):
        raise ArgumentError("labels must have one entry per parameterization")
    names = _unique(names)
    base = model_data(model, data).copy()
    base.attrs = {}
    priors = prior_spec(model)
    chains = int(fit_kwargs.get("chains", 4))
    cpu = os.cpu_count() or 1
    workers = max(1, cpu // max(chains, 1))
    jobs = [
        (
            type(model),
            model_formula(model.design),
            base,
            model.family,
            priors,
            {**fit_kwargs, "parameterization": spec},
            0,
            True,
            model.data2,
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


def _kernel_covers_laplace(model: FittableModel, fit_kwargs: Mapping[str, Any]) -> bool:
    """Whether ``parameterization="laplace"`` can fit ``model`` with ``fit_kwargs``: a GLMM
    whose kernel covers it with its block of most levels integrated out
    (:mod:`pyglmm.kernel.laplace`), sampled by nutpie through the kernel."""
    from ..compile import can_laplace, resolve_parameterization
    from ..kernel import KernelModel, kernel_model

    if fit_kwargs.get("sampler", "nutpie") != "nutpie" or fit_kwargs.get("kernel") is False:
        return False
    if not model.design.blocks or not can_laplace(model.family):
        return False
    try:
        resolved = resolve_parameterization("laplace", model.design.blocks, model.family)
    except ArgumentError:
        return False
    km = kernel_model(model.design, model.prior_set, model.family, resolved)
    return isinstance(km, KernelModel)


def _spec_label(spec: str | Mapping[str, str]) -> str:
    if isinstance(spec, Mapping):
        return ", ".join(f"{k}={v}" for k, v in spec.items())
    return str(spec)


def _compare_fits(fits: Mapping[str, Fit]) -> CompareResult:
    n_obs = {label: f.design.n_obs for label, f in fits.items()}
    if len(set(n_obs.values())) > 1:
        raise ArgumentError(f"LOO comparison needs the same observations in every fit; n = {n_obs}")
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
