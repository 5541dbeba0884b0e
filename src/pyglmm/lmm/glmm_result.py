"""``fit_glmm`` and its fit object, :class:`GlmmFit`, with glmer's accessors and summary.

Conventions (lme4's ``glmerMod``): the random-effect covariance of block k is ``T_k T_k'``
(no residual scale); ``loglik`` is ``-criterion / 2`` with ``criterion`` the Laplace (or
adaptive Gauss-Hermite) deviance, all constants included; ``deviance`` is ``-2 loglik`` (the
summary's ``deviance`` column); AIC/BIC count ``p + len(theta)`` parameters plus the family's
own (the negative binomial's shape); Wald ``z`` tests use ``vcov`` (see
:mod:`pyglmm.lmm.glmm_fit` for how it is computed).

A :class:`GlmmFit` is a :class:`~pyglmm.lmm.pointfit.PointFit`: its natural parameters are the
SDs and correlations and the fixed effects (lme4's ``confint`` order; the family's shape is
held at its estimate by ``deviance_at`` and the profiles, as ``glmer.nb``'s profile does), so
it has profiles, intervals, the bootstrap and ``anova``.
"""

from __future__ import annotations

import dataclasses
import html
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from ..design import Design
from ..design.grouping import columns_by_group
from ..errors import ArgumentError, ConvergenceWarning, SingularFitWarning
from ..families import Family
from ..posterior import block_term
from . import intervals, pointfit
from .glmm_fit import (
    GlmmOptimum,
    GlmmStart,
    check_family,
    check_information,
    check_nagq,
    optimize_glmm,
)
from .likelihood import block_conditional_covariances
from .natural import NaturalLayout, lme4_name
from .optimize import blas_threads
from .pirls import GlmmData, PirlsResult, agq_deviance, pirls
from .pointfit import check_point_fit_blocks
from .printing import (
    coefmat_lines,
    criterion_lines,
    data_line,
    fixef_correlation_lines,
    method_title_lines,
    r_format,
    residual_lines,
    varcorr_lines,
)
from .profiled import ThetaLayout
from .result import (
    attach_post_var,
    condvar_tables,
    pickle_state,
    theta_to_sd_cor,
    varcorr_groups,
    varcorr_table,
)

if TYPE_CHECKING:
    from .profile import Profile


def fit_glmm(
    design: Design,
    family: Family,
    nagq: int = 1,
    *,
    maxiter: int = 1000,
    blas_threads_: int | None = 1,
    data_name: str | None = None,
    information: str | None = None,
    start: GlmmFit | None = None,
    polish: bool = True,
) -> GlmmFit:
    """GLMM point estimates: glmer's Laplace (``nagq=1``), ``nagq=0``, or adaptive
    Gauss-Hermite for ``nagq > 1`` with one scalar random-effect term
    (:mod:`pyglmm.lmm.glmm_fit`).

    ``information``: the weights of the Laplace log-determinant, ``"expected"`` (Fisher:
    glmer, glmer.nb) or ``"observed"`` (the exact Hessian: glmmTMB); default the family's
    :attr:`~pyglmm.families.base.Family.laplace_information`; identical for canonical links.
    ``start``: a fit of the same model whose estimates start the optimization (its nAGQ=0
    stage is then skipped: the refits of a parametric bootstrap and of profiles). ``polish``:
    False stops the last stage at L-BFGS-B (:mod:`~pyglmm.lmm.glmm_fit`). Warns
    :class:`~pyglmm.errors.ConvergenceWarning` when the optimizer did not converge and
    :class:`~pyglmm.errors.SingularFitWarning` (lme4's message) for a singular fit.
    """
    check_point_fit_blocks(design)
    check_family(family)
    if not design.blocks:
        raise ArgumentError("optimize() needs at least one random-effect term")
    check_nagq(design, nagq)
    check_information(information)
    fit = _fit(design, family, nagq, maxiter, blas_threads_, data_name, information, start, polish)
    if not fit.converged:
        warnings.warn(
            f"the GLMM optimizer did not converge ({fit.message})",
            ConvergenceWarning,
            stacklevel=2,
        )
    if fit.is_singular():
        warnings.warn(pointfit.SINGULAR_MESSAGE, SingularFitWarning, stacklevel=2)
    return fit


def _fit(
    design: Design,
    family: Family,
    nagq: int,
    maxiter: int,
    threads: int | None,
    data_name: str | None,
    information: str | None,
    start: GlmmFit | None,
    polish: bool = True,
) -> GlmmFit:
    t0 = time.perf_counter()
    begin = None if start is None else GlmmStart(start.theta, start.beta, start.params, start.u)
    with blas_threads(threads), np.errstate(all="ignore"):
        opt = optimize_glmm(design, family, nagq, maxiter, information, begin, polish)
    return GlmmFit.from_optimum(design, family, nagq, opt, time.perf_counter() - t0, data_name)


@dataclass(frozen=True, eq=False)
class GlmmFit:
    """A fitted generalized linear mixed model (glmer's point estimates).

    ``theta``: relative covariance parameters (lme4 scale, design block order); ``beta``:
    fixed effects; ``params``: the family's own estimated parameters (``shape``); ``u``: the
    spherical conditional modes per block ``(m_k, q_k)`` (``b_k = u_k T_k'``);
    ``criterion``: the minimised deviance; ``nagq``: 0, 1 (Laplace) or the number of
    adaptive Gauss-Hermite nodes; ``information``: the Laplace weights (see :func:`fit_glmm`).
    """

    design: Design
    family: Family
    nagq: int
    theta: np.ndarray
    beta: np.ndarray
    params: dict[str, float]
    u: tuple[np.ndarray, ...]
    vcov_beta: np.ndarray
    criterion: float
    converged: bool
    n_evals: int
    fit_time: float
    message: str = ""
    data_name: str | None = None
    information: str = "expected"
    pirls_result: PirlsResult | None = field(default=None, repr=False)

    reml = False  # a GLMM point fit is a maximum-likelihood fit

    @classmethod
    def from_optimum(
        cls,
        design: Design,
        family: Family,
        nagq: int,
        opt: GlmmOptimum,
        fit_time: float,
        data_name: str | None,
    ) -> GlmmFit:
        return cls(
            design=design,
            family=family,
            nagq=nagq,
            theta=opt.theta,
            beta=opt.beta,
            params=opt.params,
            u=opt.u,
            vcov_beta=opt.vcov_beta,
            criterion=opt.criterion,
            converged=opt.converged,
            n_evals=opt.n_evals,
            fit_time=fit_time,
            message=opt.message,
            data_name=data_name,
            information=opt.information,
            pirls_result=opt.pirls_result,
        )

    # ----- scalars -------------------------------------------------------------------
    @property
    def n_obs(self) -> int:
        return self.design.n_obs

    @property
    def n_params(self) -> int:
        return len(self.beta) + len(self.theta) + len(self.params)

    @property
    def loglik(self) -> float:
        return -0.5 * self.criterion

    @property
    def deviance(self) -> float:
        """``-2 loglik`` (the ``deviance`` column of glmer's summary)."""
        return self.criterion

    @property
    def aic(self) -> float:
        return self.criterion + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return self.criterion + np.log(self.n_obs) * self.n_params

    @property
    def sigma(self) -> float:
        """1: a GLMM without a residual scale (glmer's ``sigma()`` for binomial/poisson)."""
        return 1.0

    @property
    def b(self) -> tuple[np.ndarray, ...]:
        """Conditional modes on the scale of the effects, per block ``(m_k, q_k)``."""
        Ts = self._layout.unpack(self.theta)
        return tuple(uk @ T.T for uk, T in zip(self.u, Ts, strict=True))

    @cached_property
    def _layout(self) -> ThetaLayout:
        return ThetaLayout.from_blocks(self.design.blocks)

    def is_singular(self, tol: float = 1e-4) -> bool:
        """lme4's ``isSingular``: a diagonal entry of theta below ``tol`` (a zero SD, or a
        correlation matrix of less than full rank)."""
        return pointfit.is_singular(self.theta, self._layout.is_diagonal(), tol)

    # ----- tables --------------------------------------------------------------------
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates."""
        names = list(self.design.x_names)
        return pd.DataFrame(self.vcov_beta, index=names, columns=names)

    def fixef(self) -> pd.DataFrame:
        """Estimates, standard errors, Wald z values and their two-sided p values."""
        se = np.sqrt(np.diag(self.vcov_beta))
        z = self.beta / se
        return pd.DataFrame(
            {
                "Estimate": self.beta,
                "Std. Error": se,
                "z value": z,
                "Pr(>|z|)": 2.0 * special.ndtr(-np.abs(z)),
            },
            index=pd.Index(list(self.design.x_names)),
        )

    def theta_to_sd_cor(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block: SD vector and correlation matrix of ``T T'``."""
        return theta_to_sd_cor(self.theta, self.design.blocks, 1.0)

    def varcorr(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(fit))`` columns, as :meth:`LmmFit.varcorr` (no
        ``Residual`` row: the family has no residual scale)."""
        return varcorr_table(self.design.blocks, self.theta_to_sd_cor(), None)

    def ranef(self, condvar: bool = False) -> dict[str, pd.DataFrame]:
        """Conditional modes per grouping factor (levels x terms), as lme4's ``ranef``;
        ``condvar=True``: each table carries ``attrs["postVar"]``, the conditional covariance
        matrices ``(levels, q, q)`` (:meth:`LmmFit.ranef`'s layout)."""
        out = self._by_group(dict(self._effects()), None)
        if condvar:
            attach_post_var(self.design, out, self._conditional_covariances())
        return out

    def ranef_condvar(self) -> dict[str, pd.DataFrame]:
        """Conditional variances of the random effects at the modes, keyed like :meth:`ranef`
        (the diagonals of lme4's ``postVar``: ``T (A^{-1})_{ll} T'`` with ``A = Lambda' Z' W
        Z Lambda + I`` and W the working weights)."""
        return condvar_tables(self.design, self._conditional_covariances())

    def _conditional_covariances(self) -> list[np.ndarray]:
        res = self._pirls()
        return block_conditional_covariances(res.system, self.theta, 1.0)

    def coef(self) -> dict[str, pd.DataFrame]:
        """Per level, fixed effects plus the matching random effects (lme4's ``coef``)."""
        beta = {n: np.asarray(v) for n, v in zip(self.design.x_names, self.beta, strict=True)}
        return self._by_group(dict(self._effects()), beta)

    def _effects(self) -> list[tuple[str, np.ndarray]]:
        return [(blk.name, bk) for blk, bk in zip(self.design.blocks, self.b, strict=True)]

    def _by_group(
        self, effects: dict[str, np.ndarray], beta: dict[str, np.ndarray] | None
    ) -> dict[str, pd.DataFrame]:
        return {
            group: pd.DataFrame(cols, index=pd.Index(levels))
            for group, (levels, cols) in columns_by_group(self.design.blocks, effects, beta).items()
        }

    @cached_property
    def _data(self) -> GlmmData:
        return GlmmData.from_design(self.design, self.family, self.information)

    def _pirls(self) -> PirlsResult:
        if self.pirls_result is not None:
            return self.pirls_result
        Ts = self._layout.unpack(self.theta)
        return pirls(self._data, self.theta, self.params, Ts, beta=self.beta, u0=list(self.u))

    # ----- predictions -----------------------------------------------------------------
    def fitted(self, kind: str = "response") -> np.ndarray:
        """Conditional fitted values on the ``"link"`` or ``"response"`` (mean) scale."""
        return self.predict(None, kind=kind, re=True)

    def predict(
        self, newdata: pd.DataFrame | None = None, kind: str = "link", re: bool = True
    ) -> np.ndarray:
        """Predictions as lme4's ``predict.merMod``: ``kind="link"`` (the linear predictor)
        or ``"response"`` (the mean ``mu``, a probability for binomial models); ``re=False``
        is the population level (``re.form = NA``; no grouping columns needed in
        ``newdata``). Levels not seen in the fit get no random effect (the population
        value), as lme4's ``allow.new.levels = TRUE``."""
        if kind not in ("link", "response"):
            raise ArgumentError(f"kind must be 'link' or 'response', got {kind!r}")
        d = self.design
        effects = dict(self._effects())
        if newdata is None:
            X, offset = np.asarray(d.X, float), d.offset
            terms = [(blk, blk.codes, np.asarray(blk.Z, float)) for blk in d.blocks]
        else:
            new = d.transform(newdata, random=re)
            X, offset = np.asarray(new.X, float), new.offset
            terms = (
                [(b, new.codes[b.name], np.asarray(new.Z[b.name], float)) for b in d.blocks]
                if re
                else []
            )
        eta = X @ self.beta
        if offset is not None:
            eta = eta + offset
        if re:
            for blk, codes, z in terms:
                r = np.vstack([effects[blk.name], np.zeros((1, blk.q))])  # code -1: zero
                eta = eta + block_term(z, np.where(codes < 0, blk.n_levels, codes), r)
        return eta if kind == "link" else self.family.linkinv_np(eta)

    # ----- the point-fit protocol (pyglmm.lmm.pointfit) ------------------------------
    @cached_property
    def natural_layout(self) -> NaturalLayout:
        return NaturalLayout.from_blocks(self.design.blocks, self.design.x_names, False)

    def natural_params(self) -> pd.Series:
        """SDs and correlations (lme4's block and ``confint`` order), then the fixed effects,
        named as lme4's ``confint(oldNames = FALSE)``: ``sd_(Intercept)|herd``, ..."""
        lay = self.natural_layout
        return lay.series(lay.from_theta(self.theta, None, self.beta))

    def deviance_at(self, values: Any) -> float:
        """``-2 log L`` (Laplace, or adaptive Gauss-Hermite for ``nagq > 1``) at natural
        parameters ``values`` (array in :meth:`natural_params` order, Series or dict), the
        conditional modes found by PIRLS and the family's shape held at its estimate. An
        ``nagq = 0`` fit is evaluated with the Laplace deviance."""
        names = list(self.natural_layout.names)
        if isinstance(values, pd.Series | dict):
            v = pd.Series(values).reindex(names).to_numpy(dtype=float)
        else:
            v = np.asarray(values, dtype=float)
        theta, _, beta = self.natural_layout.to_theta(v)
        Ts = self._layout.unpack(theta)
        with np.errstate(all="ignore"):
            res = pirls(self._data, theta, self.params, Ts, beta=beta, u0=list(self.u))
            if self.nagq > 1:
                return agq_deviance(self._data, res, theta, self.params, self.nagq)
        return float(res.laplace)

    def to_ml(self) -> GlmmFit:
        """``self``: a GLMM point fit is a maximum-likelihood fit."""
        return self

    def conditional_fit(
        self, index: int, value: float, start: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """The deviance minimised over every natural parameter but ``index`` (held at
        ``value``), numerically, as lme4's ``profile`` does for GLMMs."""
        return pointfit.conditional_fit_by_deviance(self, index, value, start)

    def refit(self, y: Any) -> GlmmFit:
        """The same model fitted to a new response ``y`` (n_obs,; successes for the
        binomial, the trials unchanged), started from this fit's estimates."""
        y = np.asarray(y, dtype=float)
        if y.shape != (self.n_obs,):
            raise ArgumentError(f"y must have shape ({self.n_obs},), got {y.shape}")
        design = dataclasses.replace(self.design, y=y)
        return _fit(design, self.family, self.nagq, 1000, 1, self.data_name, self.information, self)

    def simulate(self, n: int = 1, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """``n`` new responses (n, n_obs) from the estimates, as lme4's ``simulate`` with
        ``use.u = FALSE``: replicate by replicate, new effects ``b ~ N(0, T T')`` for every
        block (design order), then ``y | b`` from the family (binomial: successes out of the
        same trials); so the first ``k`` replicates do not depend on ``n``."""
        rng = np.random.default_rng(seed)
        d = self.design
        Ts = self._layout.unpack(self.theta)
        eta0 = np.asarray(d.X, float) @ self.beta
        if d.offset is not None:
            eta0 = eta0 + d.offset
        params = {k: np.full(1, v) for k, v in self.params.items()}
        out = np.empty((n, d.n_obs))
        for i in range(n):
            eta = eta0.copy()
            for blk, T in zip(d.blocks, Ts, strict=True):
                u = rng.standard_normal((blk.n_levels, blk.q))
                eta += block_term(np.asarray(blk.Z, float), blk.codes, u @ T.T)
            mu = self.family.linkinv_np(eta)[None, :]
            out[i] = self.family.draw(rng, mu, params, d.trials)[0]
        return out

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
        """Parametric bootstrap (lme4's ``bootMer``); see
        :func:`pyglmm.workflow.bootstrap.bootstrap`."""
        return intervals.bootstrap(
            self, n=n, seed=seed, executor=executor, progressbar=progressbar, **kwargs
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without caches, the PIRLS state and the design's patsy objects (see
        :func:`pyglmm.lmm.result.pickle_state`)."""
        state = pickle_state(self, ("natural_layout", "_layout", "_data"))
        state["pirls_result"] = None
        return state

    # ----- printing ------------------------------------------------------------------
    def __str__(self) -> str:
        d, fam = self.design, self.family
        approx = (  # lme4's methTitle, nAGQ = 0 included
            "Laplace Approximation"
            if self.nagq == 1
            else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nagq}"
        )
        extra = "".join(f"({r_format([v], 5)[0].strip()})" for v in self.params.values())
        out = [
            *method_title_lines(
                f"Generalized linear mixed model fit by maximum likelihood ({approx})", "glmerMod"
            ),
            f" Family: {fam.r_name or fam.name}{extra}  ( {fam.link} )",
            f"Formula: {d.formula.formula}",
            *data_line(self.data_name),
            "",
        ]
        df_resid = self.n_obs - self.n_params
        out += criterion_lines(None, self.aic, self.bic, self.loglik, self.deviance, df_resid)
        out.append("")
        res, data = self._pirls(), self._data
        with np.errstate(divide="ignore", invalid="ignore"):
            pearson = (data.ywork - res.mu) * np.sqrt(
                data.weights / fam.variance(res.mu, self.params)
            )
        out += residual_lines(pearson[np.isfinite(pearson)])
        out.append("")
        out += varcorr_lines(varcorr_groups(d.blocks, self.theta_to_sd_cor()), None)
        seen: dict[str, int] = {}
        for b in sorted(d.blocks, key=lambda b: -b.n_levels):
            seen.setdefault(b.group, b.n_levels)
        groups = "; ".join(f"{g}, {m}" for g, m in seen.items())
        out += [f"Number of obs: {self.n_obs}, groups:  {groups}", "", "Fixed effects:"]
        fe = self.fixef()
        names = [lme4_name(str(i)) for i in fe.index]
        out += coefmat_lines(names, list(fe.columns), fe.to_numpy())
        if len(names) > 1:
            se = np.sqrt(np.diag(self.vcov_beta))
            out.append("")
            out += fixef_correlation_lines(self.vcov_beta / np.outer(se, se), names)
        if self.is_singular():
            out.append(pointfit.SINGULAR_MESSAGE)
        if not self.converged:
            out.append(f"\nWarning: optimizer did not converge ({self.message})")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """A notebook's view: glmer's printout, preformatted."""
        return f"<pre>{html.escape(str(self))}</pre>"

    def __repr__(self) -> str:
        return (
            f"<GlmmFit {self.family.name}({self.family.link}) nAGQ={self.nagq} "
            f"{self.design.formula.formula!r} deviance={self.criterion:.4f}>"
        )
