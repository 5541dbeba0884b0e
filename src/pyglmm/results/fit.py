"""Stage 5: the fitted model, its brms-style tables and its sampling diagnostics.

All tables are computed from ``fit.idata.posterior`` (chains x draws): ``Estimate`` is the
posterior mean, ``Est.Error`` the posterior SD, the interval the equal-tailed 2.5%/97.5%
quantiles; ``Rhat`` is the rank-normalized split R-hat and ``Bulk_ESS``/``Tail_ESS`` the
effective sample sizes of Vehtari et al. (2021), all from ArviZ.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .. import names, stack
from ..design import Design, REBlock
from ..design.grouping import columns_by_group
from ..errors import ArgumentError, UnsupportedModelError
from ..errors import SamplingWarning as SamplingWarning  # issued by Fit.check
from ..families import Family
from ..spec import ModelSpec
from .diagnostics import ESS_PER_CHAIN, RHAT_LIMIT, STAT_COLUMNS, SUMMARY_COLUMNS, describe
from .params import ME_CLASSES, ParamRef, parameters, summary_order

if TYPE_CHECKING:
    from .predict import Kind, NewLevels


@dataclass(frozen=True)
class Param:
    """One reported scalar parameter (:class:`~pyglmm.results.params.ParamRef`) and its draws
    (chains x draws)."""

    ref: ParamRef
    draws: np.ndarray

    @property
    def cls(self) -> str:
        return self.ref.cls

    @property
    def group(self) -> str:
        return self.ref.group

    @property
    def var1(self) -> str:
        return self.ref.var1

    @property
    def var2(self) -> str:
        return self.ref.var2

    @property
    def label(self) -> str:
        return self.ref.label


class Fit:
    """A Bayesian fit: ``idata`` plus lme4/brms-style accessors.

    Created by :meth:`pyglmm.Model.fit`; ``fit.model`` is the :class:`~pyglmm.Model`,
    ``fit.timing`` the seconds spent building, compiling and sampling.
    """

    def __init__(
        self,
        model: ModelSpec,
        idata: Any,
        *,
        draws: int,
        tune: int,
        chains: int,
        sampler: str,
        parameterization: dict[str, str],
        timing: dict[str, float],
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.idata = idata
        self.draws, self.tune, self.chains = draws, tune, chains
        self.sampler = sampler
        self.parameterization = parameterization
        self.timing = timing
        # the other arguments of the Model.fit call (seed, target_accept, ...), for update()
        self.settings: dict[str, Any] = dict(settings or {})

    # --- shortcuts -----------------------------------------------------------------------
    @property
    def design(self) -> Design:
        return self.model.design

    @property
    def family(self) -> Family:
        return self.model.family

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior draws as an ``xarray.Dataset`` (chain, draw, ...), on either ArviZ."""
        return stack.posterior(self.idata)

    def _post(self, name: str) -> np.ndarray:
        return np.asarray(self.idata["posterior"][name].values)

    @property
    def n_divergent(self) -> int:
        """Divergent transitions after warm-up, over all chains."""
        stats = stack.group(self.idata, "sample_stats")
        if stats is None or "diverging" not in stats:
            return 0
        return int(np.asarray(stats["diverging"].values).sum())

    # --- the parameter table ---------------------------------------------------------------
    @cached_property
    def params(self) -> list[Param]:
        """Every reported scalar: hyperparameters (per block), fixed effects, family params."""
        refs = summary_order(self.design, parameters(self.design, self.family.params))
        return [Param(ref, ref.take(self._post(ref.var))) for ref in refs]

    @cached_property
    def _stats(self) -> list[dict[str, float]]:
        return [describe(p.draws) for p in self.params]

    def _table(self, rows: list[int], columns: list[str]) -> pd.DataFrame:
        data = [{c: self._stats[i][c] for c in columns} for i in rows]
        return pd.DataFrame(data, columns=columns)

    # --- public tables -------------------------------------------------------------------
    def fixef(self) -> pd.DataFrame:
        """Fixed effects: index coefficient names, columns Estimate, Est.Error, Q2.5, Q97.5."""
        rows = [i for i, p in enumerate(self.params) if p.cls == "b"]
        df = self._table(rows, STAT_COLUMNS)
        df.index = pd.Index([self.params[i].var1 for i in rows], name="coef")
        return df

    def varcorr(self) -> pd.DataFrame:
        """Like lme4's ``as.data.frame(VarCorr(fit))``: one row per SD and correlation.

        Columns: group, var1, var2 ("" for SDs), kind ("sd"/"cor"), Estimate, Est.Error,
        Q2.5, Q97.5. The residual SD (gaussian) is the row with group ``"Residual"``.
        """
        rows, meta = [], []
        for i, p in enumerate(self.params):
            if p.cls in ("sd", "cor"):
                rows.append(i)
                meta.append((p.group, p.var1, p.var2, p.cls))
            elif p.cls == self.family.residual_sd:
                rows.append(i)
                meta.append(("Residual", "", "", "sd"))
        head = pd.DataFrame(meta, columns=["group", "var1", "var2", "kind"])
        return pd.concat([head, self._table(rows, STAT_COLUMNS)], axis=1)

    def summary(self) -> pd.DataFrame:
        """All reported parameters with brms's columns, and class/group/term columns."""
        meta = pd.DataFrame(
            [(p.cls, p.group, p.label) for p in self.params], columns=["class", "group", "term"]
        )
        table = self._table(list(range(len(self.params))), list(self._stats[0]))
        table = table.rename(columns={"Q2.5": "l-95% CI", "Q97.5": "u-95% CI"})
        return pd.concat([meta, table], axis=1)

    def _level_draws(self, blk: REBlock) -> np.ndarray:
        return self._post(names.effects(blk.name))  # chains x draws x levels x q

    def ranef(self, intervals: bool = False) -> dict[str, pd.DataFrame]:
        """Random effects per group: DataFrame levels x terms of posterior means.

        ``intervals=True``: columns are (term, stat) with stat in Estimate, Est.Error, Q2.5,
        Q97.5. Several blocks on one grouping factor share one DataFrame.
        """
        return self._per_group(intervals, by_fixed=False)

    def coef(self, intervals: bool = False) -> dict[str, pd.DataFrame]:
        """Per-level coefficients (fixed + random), like ``coef()`` in lme4/brms: one column per
        fixed effect, the random term of the same name added to it; a random term without a
        fixed twin (``(0 + c | g)`` with no fixed ``c``) is a column of its own, as in lme4."""
        return self._per_group(intervals, by_fixed=True)

    def _per_group(self, intervals: bool, by_fixed: bool) -> dict[str, pd.DataFrame]:
        tables = self.group_draws(by_fixed)
        return {g: _level_table(cols, levels, intervals) for g, (levels, cols) in tables.items()}

    def group_draws(self, by_fixed: bool) -> dict[str, tuple[list[object], dict[str, np.ndarray]]]:
        """Per grouping factor, its levels and the draws (chains x draws x levels) of each
        term's random effect (``by_fixed=False``, ``ranef``) or coefficient (``coef``)."""
        blocks = tuple(blk for blk in self.design.blocks if not blk.is_smooth)
        effects = {blk.name: self._level_draws(blk) for blk in blocks}
        fixed = None
        if by_fixed:
            fixed = {}
            if self.design.x_names:  # (empty in a multivariate model: its parts hold them)
                b = self._post("b")
                fixed = {name: b[..., j] for j, name in enumerate(self.design.x_names)}
            for part in self.design.dpars:  # sigma_Intercept + the sigma block's effects
                bd = self._post(names.dpar_fixed(part.name))
                fixed.update({name: bd[..., j] for j, name in enumerate(part.labels)})
        return columns_by_group(blocks, effects, fixed)

    # --- predictions -------------------------------------------------------------------
    def predict(
        self,
        newdata: pd.DataFrame | None = None,
        kind: Kind = "mean",
        include_random: bool = True,
        new_levels: NewLevels = "error",
        seed: int | None = None,
        summary: bool = True,
        resp: str | None = None,
    ) -> Any:
        """Posterior predictions (see :mod:`pyglmm.predict`): ``kind`` "mean" (response
        scale), "link" or "response" (posterior-predictive draws); ``new_levels`` "error",
        "gaussian" or "uncertainty" (levels of a ``gr(g, cov = A)`` factor that ``A`` holds
        but the data did not are drawn from their conditional normal given the fitted levels
        under either of the last two, as brms does). ``summary=True`` gives a DataFrame per row
        (Estimate, Est.Error, Q2.5, Q97.5); ``summary=False`` the draws (chains*draws x
        rows). Rows of a model with ``me()`` terms use the latent values of the fitted rows;
        new data use their observed values.

        A multivariate model: ``resp`` gives one response's predictions (as above; with
        ``rescor`` its marginal ones); without it every response, as draws
        (chains*draws x rows x responses) or a DataFrame with columns (response, statistic),
        ``kind="response"`` drawn jointly under ``rescor`` (:mod:`pyglmm.results.predict_mv`)."""
        from .predict import predict_draws

        if self.design.mv is not None and resp is None:
            from .predict_mv import mv_predict_draws

            return mv_predict_draws(self, newdata, kind, include_random, new_levels, seed, summary)
        return predict_draws(
            self,
            newdata,
            kind=kind,
            include_random=include_random,
            new_levels=new_levels,
            seed=seed,
            summary=summary,
            resp=resp,
        )

    # --- workflow: plots and R^2 (see pyglmm.plots, pyglmm.workflow) ----------------------
    def plot_trace(self, var_names: list[str] | None = None, **kwargs: Any) -> Any:
        """Trace plot of b, sd, cor and family parameters (a matplotlib Figure)."""
        from ..workflow.plots import plot_trace

        return plot_trace(self, var_names, **kwargs)

    def plot_forest(self, include_intercept: bool = True) -> Any:
        """Forest plot: medians with 50%/95% intervals, one row (own x axis) per parameter,
        grouped by class (a Figure)."""
        from ..workflow.plots import plot_forest

        return plot_forest(self, include_intercept=include_intercept)

    def pp_check(self, ndraws: int = 50, seed: int | None = None) -> Any:
        """Posterior-predictive check: observed y against ``ndraws`` replicated data sets."""
        from ..workflow.plots import pp_check

        self._refuse_multivariate("fit.pp_check()")
        return pp_check(self, ndraws=ndraws, seed=seed)

    def plot_effects(self, effect: str, **kwargs: Any) -> Any:
        """Conditional effect of one predictor (random effects excluded), a Figure."""
        from ..workflow.plots import plot_effects

        self._refuse_multivariate("fit.plot_effects()")
        return plot_effects(self, effect, **kwargs)

    def r2(self, summary: bool = True) -> Any:
        """Bayesian R^2 (Gelman et al. 2019) like brms's ``bayes_R2`` (a multivariate model: one
        row per response, ``R2y1``, ...)."""
        from ..workflow.r2 import bayes_r2

        return bayes_r2(self, summary=summary)

    def _refuse_multivariate(self, what: str) -> None:
        """:class:`UnsupportedModelError` for ``what`` on a multivariate model."""
        if self.design.mv is not None:
            raise UnsupportedModelError(f"{what} does not support multivariate models yet")

    # --- saving (see pyglmm.persist) -------------------------------------------------------
    def save(self, path: Any, data: bool = True) -> None:
        """Write the fit to one netCDF file: the posterior groups plus a ``pyglmm`` group with
        the formula, family, priors, parameterization, sampling settings and versions;
        :func:`pyglmm.load_fit` reads it back (no sampling).

        ``data=True`` (default) stores the data columns the model uses, all rows, from which
        the model is rebuilt on load. ``data=False`` leaves them out and stores the design's
        data-dependent state (levels, contrasts, ``scale()`` constants) as a pickle instead:
        the loaded fit prints its summary and gives ``fixef``/``varcorr``/``ranef``/``coef``,
        ``loo`` and ``predict(newdata)``, but not ``predict()`` on the fitted rows. Loading
        such a file unpickles it: as with any pickle, load only files you trust.
        """
        from ..persist.write import save_fit

        self._refuse_multivariate("fit.save()")
        save_fit(self, path, data=data)

    # --- brms's post-processing (see pyglmm.workflow.hypothesis, .update, .kfold) -----------
    def hypothesis(
        self,
        hypothesis: str | list[str],
        group: str | None = None,
        scope: str = "standard",
        alpha: float = 0.05,
        seed: int | None = None,
    ) -> Any:
        """brms's ``hypothesis()``: ``fit.hypothesis("Days > 5")``, ``"a - b = 0"``, a list,
        or per level of ``group`` (``scope="ranef"`` or ``"coef"``); the table is
        ``.hypothesis`` (see :mod:`pyglmm.workflow.hypothesis`)."""
        from ..workflow.hypothesis import hypothesis as run

        return run(self, hypothesis, group=group, scope=scope, alpha=alpha, seed=seed)

    def update(
        self,
        newdata: pd.DataFrame | None = None,
        formula: Any = None,
        draws: int | None = None,
        **fit_kwargs: Any,
    ) -> Fit:
        """brms's ``update()``: refit with new data and/or a new formula, with the same
        family, user priors, parameterization and sampling settings unless overridden (see
        :func:`pyglmm.workflow.update.update_fit`)."""
        from ..workflow.update import update_fit

        return update_fit(self, newdata=newdata, formula=formula, draws=draws, **fit_kwargs)

    def kfold(self, K: int = 10, seed: int | None = None, **kwargs: Any) -> Any:
        """brms's ``kfold()``: K-fold cross-validation, ``elpd_kfold`` with its SE (see
        :func:`pyglmm.workflow.kfold.kfold`)."""
        from ..workflow.kfold import kfold

        return kfold(self, K=K, seed=seed, **kwargs)

    # --- model criteria ------------------------------------------------------------------
    def loo(self, resp: str | None = None, **kwargs: Any) -> Any:
        """PSIS-LOO (``arviz.loo``, the installed ArviZ's ``ELPDData``) from the stored
        pointwise log-likelihood. A multivariate model: of the rows' joint log-likelihood, or
        with ``resp`` of one response's (its observed rows; :mod:`pyglmm.posterior_mv`)."""
        return stack.loo(self.idata, **self._ll_var(resp), **kwargs)

    def waic(self, resp: str | None = None, **kwargs: Any) -> Any:
        """WAIC from the stored pointwise log-likelihood (see :func:`pyglmm.stack.waic`);
        ``resp`` as in :meth:`loo`."""
        return stack.waic(self.idata, **self._ll_var(resp), **kwargs)

    def _ll_var(self, resp: str | None) -> dict[str, str]:
        """``var_name`` of the log-likelihood of ``resp`` (multivariate models)."""
        mv = self.design.mv
        if mv is None:
            if resp is not None:
                raise ArgumentError("resp is for multivariate models")
            return {}
        if resp is None:
            return {"var_name": "y"}
        mv.index_of(resp)
        return {"var_name": f"y_{resp}"}

    # --- diagnostics ---------------------------------------------------------------------
    def diagnostics(self) -> dict[str, float]:
        """Divergences, max R-hat and min bulk/tail ESS over the reported parameters."""
        rhat = [s["Rhat"] for s in self._stats if np.isfinite(s["Rhat"])]
        bulk = [s["Bulk_ESS"] for s in self._stats if np.isfinite(s["Bulk_ESS"])]
        tail = [s["Tail_ESS"] for s in self._stats if np.isfinite(s["Tail_ESS"])]
        return {
            "divergences": float(self.n_divergent),
            "max_rhat": max(rhat, default=np.nan),
            "min_bulk_ess": min(bulk, default=np.nan),
            "min_tail_ess": min(tail, default=np.nan),
        }

    def check(self) -> list[str]:
        """Issue brms-style warnings (SamplingWarning) and return their texts."""
        msgs = []
        n_div = self.n_divergent
        if n_div:
            msgs.append(
                f"There were {n_div} divergent transitions after warmup. Increasing "
                "target_accept (e.g. model.fit(target_accept=0.95)) may help; so may a "
                "different parameterization: 'marginal' for gaussian models, 'centered' for "
                "blocks with many observations per level (pg.compare(model) measures them)."
            )
        labels = [f"{p.label}" + (f" [{p.group}]" if p.group else "") for p in self.params]
        high = [lab for lab, s in zip(labels, self._stats, strict=True) if s["Rhat"] > RHAT_LIMIT]
        if high:
            msgs.append(
                f"Parameters with R-hat above {RHAT_LIMIT}: {', '.join(high)}. The chains have "
                "not mixed; run more iterations or reparameterize."
            )
        ess_limit = ESS_PER_CHAIN * self.chains
        for kind in ("Bulk", "Tail"):
            low = [
                lab
                for lab, s in zip(labels, self._stats, strict=True)
                if s[f"{kind}_ESS"] < ess_limit
            ]
            if low:
                msgs.append(
                    f"{kind} effective sample size below {ess_limit} for: {', '.join(low)}. "
                    f"{'Posterior means and medians' if kind == 'Bulk' else 'Tail quantiles'} "
                    f"may be unreliable; run more iterations (the limit is {ESS_PER_CHAIN} per "
                    f"chain, as in Stan and brms)."
                )
        for msg in msgs:
            warnings.warn(msg, SamplingWarning, stacklevel=3)
        return msgs

    # --- printing ------------------------------------------------------------------------
    def __str__(self) -> str:
        d = self.design
        post = self.draws * self.chains
        modelled = tuple(p.name for p in d.dpars)
        lines = [
            f" Family: {self.family.name} ",
            f"  Links: {self.family.links_line(modelled)} ",
            f"Formula: {d.formula.formula} ",
            *(
                f"         {p.formula.formula} "
                for p in d.dpars
                if d.mv is None and not d.categorical
            ),
            f"   Data: {self.model.data_name} (Number of observations: {d.n_obs}) ",
            f"  Draws: {self.chains} chains, each with iter = {self.draws + self.tune}; "
            f"warmup = {self.tune}; thin = 1;",
            f"         total post-warmup draws = {post}",
            "",
        ]
        summary = self.summary()
        smooth = summary[summary["class"] == "sds"]
        if len(smooth):
            lines.append("Smoothing Spline Hyperparameters:")
            lines += _format_rows(smooth)
        hyper = summary[summary["class"].isin(["sd", "cor"])]
        if len(hyper):
            lines.append("Multilevel Hyperparameters:")
            for group in dict.fromkeys(hyper["group"]):
                n_lev = next(b.n_levels for b in d.blocks if b.group == group)
                lines.append(f"~{group} (Number of levels: {n_lev}) ")
                lines += _format_rows(hyper[hyper["group"] == group])
        lines.append("Regression Coefficients:")
        lines += _format_rows(summary[summary["class"] == "b"])
        me = summary[summary["class"].isin(list(ME_CLASSES))]
        if len(me):
            lines.append("Measurement-Error Parameters (latent values of me() terms):")
            lines += _format_rows(me)
        shown = ["b", "sd", "sds", "cor", "rescor", *ME_CLASSES]
        extra = summary[~summary["class"].isin(shown)]
        if len(extra):
            lines.append("Further Distributional Parameters:")
            lines += _format_rows(extra)
        rescor = summary[summary["class"] == "rescor"]
        if len(rescor):
            lines.append("Residual Correlations: ")
            lines += _format_rows(rescor)
        lines += [
            f"Draws were sampled using {self.sampler} (NUTS); parameterization: "
            + ", ".join(f"{k}={v}" for k, v in self.parameterization.items())
            + ".",
            "For each parameter, Bulk_ESS and Tail_ESS are effective sample size measures, "
            "and Rhat is",
            "the potential scale reduction factor on split chains (at convergence, Rhat = 1).",
        ]
        if self.n_divergent:
            lines.append(f"Warning: {self.n_divergent} divergent transitions after warmup.")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A notebook's view: the printed header and the summary as an HTML table."""
        text = str(self)
        head = text.split("\n\n", 1)[0]
        table = self.summary().to_html(index=False, float_format="{:.3g}".format)
        warn = f"<p>Warning: {self.n_divergent} divergent transitions after warmup.</p>"
        return f"<pre>{html.escape(head)}</pre>{table}" + (warn if self.n_divergent else "")

    def __repr__(self) -> str:
        return f"<pyglmm.Fit {self.design.formula.formula!r}, {self.chains}x{self.draws} draws>"


def _format_rows(df: pd.DataFrame) -> list[str]:
    body = df.set_index("term")[SUMMARY_COLUMNS].copy()
    body.index.name = None
    fmt: dict[str, Any] = {c: "{:.2f}".format for c in SUMMARY_COLUMNS[:5]}
    fmt |= {c: (lambda v: "NA" if not np.isfinite(v) else f"{v:.0f}") for c in SUMMARY_COLUMNS[5:]}
    text = body.to_string(formatters=fmt)
    return [*text.splitlines(), ""]


def _level_table(
    cols: dict[str, np.ndarray], levels: list[object], intervals: bool
) -> pd.DataFrame:
    index = pd.Index(levels, name="level")
    if not intervals:
        return pd.DataFrame({k: v.mean(axis=(0, 1)) for k, v in cols.items()}, index=index)
    parts = {}
    for k, v in cols.items():
        flat = v.reshape(-1, v.shape[-1])
        q = np.quantile(flat, [0.025, 0.975], axis=0)
        parts[k] = pd.DataFrame(
            {
                "Estimate": flat.mean(0),
                "Est.Error": flat.std(0, ddof=1),
                "Q2.5": q[0],
                "Q97.5": q[1],
            },
            index=index,
        )
    return pd.concat(parts, axis=1)
