"""Parameter recovery and simulation-based calibration (:func:`~pyglmm.recover`).

:func:`recover` simulates data from the model's design (:mod:`pyglmm.workflow.simulation`) at
given parameters, or, with ``params=None``, at parameters drawn from the prior for every
simulation (simulation-based calibration, Talts et al. 2018), refits each data set with the same
formula, family, priors and ``data2`` (through :mod:`pyglmm.workflow.executors`), and reports per
parameter the truth, posterior mean, 95% interval and coverage, plus the SBC rank of the truth
among ``n_ranks`` thinned posterior draws and a chi-square test of the ranks' uniformity.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design.distributional import model_formula
from ..errors import ArgumentError
from ..results.diagnostics import uniform_pvalue
from ..results.params import ParamDraws, label_class
from ..spec import FittableModel
from .executors import _seeds, prior_spec, run_jobs
from .prior_draws import draw_prior, params_from_dict
from .simulation import _frame, apply_censoring, draw_responses, model_data

if TYPE_CHECKING:
    import matplotlib.figure


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

    def __repr__(self) -> str:  # the table, not the dataclass fields (a notebook's text view)
        return str(self)

    def _repr_html_(self) -> str:
        head = str(self).splitlines()[0]
        n = len(self.diagnostics)
        cols = ["parameter", "true", "mean", "q2.5", "q97.5", "covered"]
        table = self.table[cols].to_html(index=False) if n == 1 else self.coverage.to_html()
        return f"<p>{html.escape(head)}</p>{table}"

    def plot(self, bins: int | None = None) -> matplotlib.figure.Figure:
        """Rank histograms per parameter with the 99% band of a uniform histogram."""
        from .plots import plot_ranks

        return plot_ranks(self.ranks, self.n_ranks, bins=bins)


def recover(
    model: FittableModel,
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

    ``params``: true values in the format of :mod:`pyglmm.workflow.prior_draws`; None draws them
    from the priors for each simulation (simulation-based calibration proper). Each data set is
    refitted as ``Model(formula, sim, family, priors=<the model's priors>, data2=<the
    model's>)`` with ``fit_kwargs`` (defaults ``progressbar=False, warn=False``, the model's
    parameterization, a seed per simulation derived from ``seed``). ``executor``: None or
    ``"serial"`` (in this process, the default), ``"processes"`` (a local spawn process pool
    with ``min(n_sims, cpu_count)`` workers, each fit on ``cpu_count // workers`` cores; a
    script needs the ``if __name__ == "__main__":`` guard), a ``concurrent.futures.Executor`` or
    a ``dask.distributed.Client``.
    ``n_ranks`` (L): the number of evenly thinned posterior draws the SBC rank is computed
    among.
    """
    if n_sims < 1:
        raise ArgumentError(f"n_sims must be >= 1, got {n_sims}")
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
        y, codes = apply_censoring(design, y)
        frame = _frame(model, base, y[0], this, effects, None if codes is None else codes[0])
        sims.append(frame)
        truths.append(this.flat(design))
        job_data = frame.copy()
        job_data.attrs = {}
        fit_seed = int(seeds[i].generate_state(1)[0] % (2**31 - 1))
        job_kwargs = {"seed": fit_seed, **kwargs}
        jobs.append(
            (
                type(model),
                model_formula(design),
                job_data,
                model.family if design.mv is None else list(design.mv.families),
                priors,
                job_kwargs,
                n_ranks,
                False,
                model.data2,
                None if design.mv is None else design.mv.rescor,
            )
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
            "rank_pvalue": uniform_pvalue(ranks_df[label].to_numpy(), n_ranks),
        }
    coverage = pd.DataFrame.from_dict(cov_rows, orient="index")
    coverage.index.name = "parameter"
    diagnostics = pd.DataFrame(diag_rows)
    diagnostics.index.name = "sim"
    return RecoveryResult(table, coverage, ranks_df, diagnostics, n_ranks, sbc, sims)
