"""The fit object of :func:`pyglmm.lmm.fit_lmm`, with lme4-style accessors and summary.

Conventions (lme4): random-effect covariance of block k is ``sigma^2 T_k T_k'``; ``loglik``
is ``-criterion / 2`` (restricted log-likelihood for REML fits); AIC/BIC count
``p + len(theta) + 1`` parameters; ``vcov(beta) = sigma^2 R_X^{-1} R_X^{-T}``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design import Design, REBlock
from ..design.grouping import columns_by_group
from ..posterior import design_eta
from . import intervals, likelihood, pointfit
from .natural import NaturalLayout, lme4_block_order, lme4_name
from .optimize import blas_threads, optimize_theta
from .printing import (
    coefmat_lines,
    criterion_lines,
    data_line,
    fixef_correlation_lines,
    residual_lines,
    varcorr_lines,
)
from .profiled import ProfiledLmm, ThetaLayout

if TYPE_CHECKING:
    from .profile import Profile


def theta_to_sd_cor(
    theta: np.ndarray, blocks: tuple[REBlock, ...], sigma: float = 1.0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per block (design order): SD vector and correlation matrix of ``sigma^2 T T'``."""
    out = []
    for T in ThetaLayout.from_blocks(blocks).unpack(np.asarray(theta, dtype=float)):
        cov = sigma**2 * (T @ T.T)
        sd = np.sqrt(np.diag(cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = cov / np.outer(sd, sd)
        cor[~np.isfinite(cor)] = 0.0
        np.fill_diagonal(cor, 1.0)
        out.append((sd, cor))
    return out


def varcorr_table(
    blocks: tuple[REBlock, ...],
    sdcor: list[tuple[np.ndarray, np.ndarray]],
    residual: float | None,
) -> pd.DataFrame:
    """lme4's ``as.data.frame(VarCorr(fit))`` rows (group, var1, var2, kind, Estimate; the
    error and interval columns NaN), with a ``Residual`` row when ``residual`` is given."""
    rows: list[tuple[str, str, str, str, float]] = []
    for blk, (sd, cor) in zip(blocks, sdcor, strict=True):
        for j in blk.covariance.sd_index(blk.q):  # a smooth's one SD once
            rows.append((blk.group, blk.terms[j], "", "sd", float(sd[j])))
        for i, j in blk.covariance.cor_pairs(blk.q):
            rows.append((blk.group, blk.terms[i], blk.terms[j], "cor", cor[i, j]))
    if residual is not None:
        rows.append(("Residual", "", "", "sd", residual))
    df = pd.DataFrame(rows, columns=["group", "var1", "var2", "kind", "Estimate"])
    for c in ("Est.Error", "Q2.5", "Q97.5"):
        df[c] = np.nan
    return df


def varcorr_groups(
    blocks: tuple[REBlock, ...], sdcor: list[tuple[np.ndarray, np.ndarray]]
) -> list[tuple[str, list[str], np.ndarray, np.ndarray | None]]:
    """The rows of lme4's random-effects table: blocks in lme4's order, an uncorrelated
    block split into one term each (lme4 expands ``(x || g)`` so), a repeated group name
    made unique as R's ``make.unique`` (``Subject``, ``Subject.1``)."""
    rows: list[tuple[str, list[str], np.ndarray, np.ndarray | None]] = []
    for k in lme4_block_order(blocks):
        blk = blocks[k]
        sd, cor = sdcor[k]
        names = [lme4_name(t) for t in blk.terms]
        if blk.covariance.correlated:
            rows.append((blk.group, names, sd, cor))
        else:
            shown = blk.covariance.sd_index(blk.q)  # a smooth's one SD once
            rows += [(blk.group, [names[i]], sd[i : i + 1], None) for i in shown]
    count: dict[str, int] = {}
    out: list[tuple[str, list[str], np.ndarray, np.ndarray | None]] = []
    for g, names, sd, c in rows:
        n = count.get(g, 0)
        count[g] = n + 1
        out.append((g if n == 0 else f"{g}.{n}", names, sd, c))
    return out


def attach_post_var(
    design: Design, tables: dict[str, pd.DataFrame], covs: list[np.ndarray]
) -> None:
    """Set ``attrs["postVar"]`` of each ``ranef`` table: the conditional covariance matrices
    ``(levels, q, q)`` of its columns, block diagonal across the blocks on the factor."""
    for group, df in tables.items():
        blks = [k for k, b in enumerate(design.blocks) if b.group == group]
        q = sum(design.blocks[k].q for k in blks)
        pv, pos = np.zeros((len(df), q, q)), 0
        for k in blks:
            qk = design.blocks[k].q
            pv[:, pos : pos + qk, pos : pos + qk] = covs[k]
            pos += qk
        df.attrs["postVar"] = pv


def condvar_tables(design: Design, covs: list[np.ndarray]) -> dict[str, pd.DataFrame]:
    """The diagonals of the conditional covariances, as tables keyed like ``ranef``."""
    effects = {
        blk.name: np.diagonal(c, axis1=1, axis2=2)
        for blk, c in zip(design.blocks, covs, strict=True)
    }
    return {
        group: pd.DataFrame(cols, index=pd.Index(levels))
        for group, (levels, cols) in columns_by_group(design.blocks, effects, None).items()
    }


def pickle_state(fit: Any, cached: tuple[str, ...]) -> dict[str, Any]:
    """A point fit's ``__dict__`` for pickling (process pools): without the ``cached``
    attributes (rebuilt on use) and without the design's patsy state (patsy objects do not
    pickle; a pickled fit cannot transform new data)."""
    import dataclasses

    state = {k: v for k, v in fit.__dict__.items() if k not in cached}
    d = fit.design
    blocks = tuple(dataclasses.replace(b, design_info=None) for b in d.blocks)
    state["design"] = dataclasses.replace(
        d, blocks=blocks, x_design_info=None, offset_design_info=None
    )
    return state


@dataclass(frozen=True, eq=False)
class LmmFit:
    """A fitted linear mixed model (REML or ML point estimates).

    ``theta``: relative covariance parameters (lme4 scale, design block order); ``beta``:
    fixed effects; ``sigma``: residual SD; ``b``: conditional modes per block ``(m_k, q_k)``;
    ``criterion``: ``-2 log`` restricted likelihood (REML) or deviance (ML); ``data_name``:
    the data set's name for the printed ``Data:`` line (None: not printed).

    Implements :class:`pyglmm.lmm.pointfit.PointFit`: natural parameters, the deviance at any
    parameters, refits, simulation, profiles, intervals and the parametric bootstrap.
    """

    design: Design
    reml: bool
    theta: np.ndarray
    beta: np.ndarray
    sigma: float
    b: tuple[np.ndarray, ...]
    vcov_beta: np.ndarray
    criterion: float
    converged: bool
    n_evals: int
    fit_time: float
    message: str = ""
    data_name: str | None = None

    # ----- scalars -------------------------------------------------------------------
    @property
    def n_obs(self) -> int:
        return self.design.n_obs

    @property
    def n_params(self) -> int:
        return len(self.beta) + len(self.theta) + 1

    @property
    def loglik(self) -> float:
        return -0.5 * self.criterion

    @property
    def deviance(self) -> float:
        """``-2 loglik``: the REML criterion for REML fits, the deviance for ML fits."""
        return self.criterion

    @property
    def aic(self) -> float:
        return self.criterion + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return self.criterion + np.log(self.n_obs) * self.n_params

    # ----- tables --------------------------------------------------------------------
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates."""
        names = list(self.design.x_names)
        return pd.DataFrame(self.vcov_beta, index=names, columns=names)

    def fixef(self) -> pd.DataFrame:
        """Estimates, standard errors and t values of the fixed effects."""
        se = np.sqrt(np.diag(self.vcov_beta))
        return pd.DataFrame(
            {"Estimate": self.beta, "Std. Error": se, "t value": self.beta / se},
            index=pd.Index(list(self.design.x_names)),
        )

    def theta_to_sd_cor(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block: SD vector and correlation matrix (``sigma^2 T T'``)."""
        return theta_to_sd_cor(self.theta, self.design.blocks, self.sigma)

    def varcorr(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(fit))`` with point estimates (errors/CIs NaN)."""
        return varcorr_table(self.design.blocks, self.theta_to_sd_cor(), self.sigma)

    def ranef(self, condvar: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, as lme4's ``ranef``: grouping factor ->
        levels x terms (blocks on one factor share a table, as in :meth:`pyglmm.Fit.ranef`).

        ``condvar=True`` (lme4's ``condVar``): each table also carries
        ``attrs["postVar"]``, the conditional covariance matrices ``(levels, q, q)`` of its
        columns (block diagonal across blocks on the factor); :meth:`ranef_condvar` gives
        the conditional variances as tables keyed like these.
        """
        out = self._by_group(fixed=False)
        if condvar:
            attach_post_var(self.design, out, likelihood.conditional_covariances(self))
        return out

    def ranef_condvar(self) -> dict[str, pd.DataFrame]:
        """Conditional variances ``Var(b | y)`` of the random effects at the estimates (lme4's
        ``attr(ranef(fit, condVar = TRUE)[[g]], "postVar")`` diagonals; their square roots are
        lme4's ``condsd``), keyed and laid out like :meth:`ranef`."""
        return condvar_tables(self.design, likelihood.conditional_covariances(self))

    def coef(self) -> dict[str, pd.DataFrame]:
        """Per level, fixed effects plus the matching random effects (lme4's ``coef``)."""
        return self._by_group(fixed=True)

    def _by_group(self, fixed: bool) -> dict[str, pd.DataFrame]:
        d = self.design
        effects = {
            blk.name: np.asarray(bk, float) for blk, bk in zip(d.blocks, self.b, strict=True)
        }
        beta = dict(zip(d.x_names, np.asarray(self.beta, float), strict=True)) if fixed else None
        return {
            group: pd.DataFrame(cols, index=pd.Index(levels))
            for group, (levels, cols) in columns_by_group(d.blocks, effects, beta).items()
        }

    def fitted(self) -> np.ndarray:
        """Conditional fitted values ``X beta + Z b (+ offset)``."""
        d = self.design
        effects = {
            blk.name: np.asarray(bk, float) for blk, bk in zip(d.blocks, self.b, strict=True)
        }
        return design_eta(d, self.beta, effects)

    def residuals(self) -> np.ndarray:
        return np.asarray(self.design.y, float) - self.fitted()

    # ----- the point-fit protocol (pyglmm.lmm.pointfit) ------------------------------
    @cached_property
    def profiled(self) -> ProfiledLmm:
        """The cross-products of the design (built once, on first use)."""
        return ProfiledLmm(self.design)

    @cached_property
    def natural_layout(self) -> NaturalLayout:
        return NaturalLayout.from_blocks(self.design.blocks, self.design.x_names, True)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the cached cross-products (rebuilt on use) and without the design's
        patsy state (see :func:`pickle_state`)."""
        return pickle_state(self, ("profiled", "_ml", "natural_layout"))

    def natural_params(self) -> pd.Series:
        """SDs and correlations (lme4's block and ``confint`` order), ``sigma``, then the fixed
        effects, named as lme4's ``confint(oldNames = FALSE)``: ``sd_(Intercept)|Subject``,
        ``cor_Days.(Intercept)|Subject``, ``sd_Days|Subject``, ``sigma``, ``(Intercept)``, ...
        (see :mod:`pyglmm.lmm.natural`)."""
        lay = self.natural_layout
        return lay.series(lay.from_theta(self.theta, self.sigma, self.beta))

    def _values(self, values: Any) -> np.ndarray:
        names = list(self.natural_layout.names)
        if isinstance(values, pd.Series):
            return values.reindex(names).to_numpy(dtype=float)
        if isinstance(values, dict):
            return pd.Series(values).reindex(names).to_numpy(dtype=float)
        v = np.asarray(values, dtype=float)
        if v.shape != (len(names),):
            raise ValueError(f"expected {len(names)} natural parameters ({names}), got {v.shape}")
        return v

    def deviance_at(self, values: Any, reml: bool | None = None) -> float:
        """The criterion at natural parameters ``values`` (array in :meth:`natural_params`
        order, Series or dict), nothing profiled: ``-2 log L(theta, beta, sigma)`` for ML
        fits, the REML criterion ``-2 log L_R(theta, sigma)`` (beta ignored) for REML fits;
        ``reml`` overrides the choice. The formulas are in :mod:`pyglmm.lmm.likelihood`; at
        :meth:`natural_params` this is :attr:`criterion`."""
        r = self.reml if reml is None else reml
        return likelihood.deviance_at(self.profiled, self.natural_layout, self._values(values), r)

    @cached_property
    def _ml(self) -> LmmFit:
        return fit_design(
            self.design, False, self.theta, data_name=self.data_name, prof=self.profiled
        )

    def to_ml(self) -> LmmFit:
        """The ML fit of the same model (``self`` for an ML fit; lme4's ``refitML``)."""
        return self if not self.reml else self._ml

    def conditional_fit(
        self, index: int, value: float, start: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """See :meth:`pyglmm.lmm.pointfit.PointFit.conditional_fit` (ML fits only)."""
        return likelihood.conditional_fit(self, index, value, start, fit_design)

    def refit(self, y: Any) -> LmmFit:
        """The same model and method fitted to a new response ``y`` (n_obs,), warm-started
        from this fit's theta (lme4's ``refit``)."""
        import dataclasses

        y = np.asarray(y, dtype=float)
        if y.shape != (self.n_obs,):
            raise ValueError(f"y must have shape ({self.n_obs},), got {y.shape}")
        design = dataclasses.replace(self.design, y=y)
        return fit_design(design, self.reml, self.theta, data_name=self.data_name)

    def simulate(self, n: int = 1, seed: Any = None) -> np.ndarray:
        """``(n, n_obs)`` simulated responses with new random effects and residuals (lme4's
        ``simulate(fit, nsim = n, use.u = FALSE)``; see :func:`pyglmm.lmm.likelihood.simulate`)."""
        return likelihood.simulate(self, n, seed)

    def is_singular(self, tol: float = 1e-4) -> bool:
        """lme4's ``isSingular``: a diagonal entry of some ``T_k`` below ``tol`` (an SD of 0
        or a degenerate covariance matrix such as a correlation of +-1)."""
        return pointfit.is_singular(self.theta, self.profiled.layout.is_diagonal(), tol)

    def profile(self, which: Any = None, **kwargs: Any) -> Profile:
        """lme4's ``profile``: see :func:`pyglmm.lmm.profile.profile`."""
        from .profile import profile

        return profile(self, which=which, **kwargs)

    def confint(
        self, method: str = "profile", level: float = 0.95, parm: Any = None, **kwargs: Any
    ) -> pd.DataFrame:
        """lme4's ``confint``: ``method`` ``"profile"``, ``"wald"`` or ``"boot"``; see
        :func:`pyglmm.lmm.intervals.confint`."""
        return intervals.confint(self, method, level, parm, **kwargs)

    def bootstrap(
        self,
        n: int = 500,
        seed: Any = 1,
        executor: Any = None,
        progressbar: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Parametric bootstrap (lme4's ``bootMer``): a
        :class:`pyglmm.workflow.bootstrap.BootstrapResult`; see
        :func:`pyglmm.workflow.bootstrap.bootstrap`."""
        return intervals.bootstrap(
            self, n=n, seed=seed, executor=executor, progressbar=progressbar, **kwargs
        )

    # ----- printing ------------------------------------------------------------------
    def __str__(self) -> str:
        d = self.design
        method = "REML" if self.reml else "maximum likelihood "
        out = [f"Linear mixed model fit by {method} ['lmerMod']"]
        out.append(f"Formula: {d.formula.formula}")
        out.extend(data_line(self.data_name))
        out.append("")
        if self.reml:
            out.extend(criterion_lines(self.criterion))
        else:
            df_resid = self.n_obs - self.n_params
            out.extend(
                criterion_lines(None, self.aic, self.bic, self.loglik, self.criterion, df_resid)
            )
        out.append("")
        out.extend(residual_lines(self.residuals() / self.sigma))
        out.append("")
        out.extend(varcorr_lines(varcorr_groups(d.blocks, self.theta_to_sd_cor()), self.sigma))
        seen: dict[str, int] = {}
        for b in sorted(d.blocks, key=lambda b: -b.n_levels):
            seen.setdefault(b.group, b.n_levels)
        ngroups = "; ".join(f"{g}, {m}" for g, m in seen.items())
        out.append(f"Number of obs: {self.n_obs}, groups:  {ngroups}")
        out.append("")
        out.append("Fixed effects:")
        fe = self.fixef()
        names = [lme4_name(str(i)) for i in fe.index]
        out.extend(coefmat_lines(names, list(fe.columns), fe.to_numpy()))
        if len(names) > 1:
            se = np.sqrt(np.diag(self.vcov_beta))
            out.append("")
            out.extend(fixef_correlation_lines(self.vcov_beta / np.outer(se, se), names))
        if self.is_singular():
            out.append(f"{pointfit.SINGULAR_MESSAGE}")
        if not self.converged:
            out.append(f"\nWarning: optimizer did not converge ({self.message})")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """A notebook's view: lme4's printout, preformatted."""
        return f"<pre>{html.escape(str(self))}</pre>"

    def __repr__(self) -> str:
        kind = "REML" if self.reml else "ML"
        return f"<LmmFit {kind} {self.design.formula.formula!r} criterion={self.criterion:.4f}>"


def fit_design(
    design: Design,
    reml: bool,
    start: np.ndarray | None = None,
    maxiter: int = 1000,
    data_name: str | None = None,
    prof: ProfiledLmm | None = None,
) -> LmmFit:
    """Optimise theta (:func:`pyglmm.lmm.optimize.optimize_theta`) and build the fit: beta,
    the conditional modes and ``vcov(beta) = sigma^2 R_X^{-1} R_X^{-T}`` from the factor at
    the optimum, ``sigma^2 = r^2 / nu``. No checks of the response, no warnings (see
    :func:`pyglmm.lmm.fit_lmm`)."""
    import time

    t0 = time.perf_counter()
    with blas_threads(1):  # tiny BLAS calls: threads only contend
        prof = ProfiledLmm(design) if prof is None else prof
        opt = optimize_theta(prof, reml, start, maxiter)
    f = prof.factor(opt.theta)
    beta, b, Rinv = prof.solve(f)
    nu = prof.n - prof.p if reml else prof.n
    sigma = float(np.sqrt(f.pwrss / nu))
    return LmmFit(
        design=design,
        reml=reml,
        theta=opt.theta,
        beta=beta,
        sigma=sigma,
        b=tuple(b),
        vcov_beta=sigma**2 * (Rinv @ Rinv.T),
        criterion=prof.criterion_from(f, reml),
        converged=opt.converged,
        n_evals=opt.n_evals,
        fit_time=time.perf_counter() - t0,
        message=opt.message,
        data_name=data_name,
    )
