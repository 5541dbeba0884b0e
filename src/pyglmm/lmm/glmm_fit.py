"""The optimizer of the GLMM point fits (:func:`pyglmm.lmm.glmm_result.fit_glmm`), as lme4's
``glmer`` runs it.

Two stages, as glmer (Bates et al. 2015; lme4's ``glmer`` with ``nAGQ``):

1. ``nAGQ = 0``: ``beta`` is a PIRLS unknown beside ``u`` (:func:`~pyglmm.lmm.pirls.pirls`
   with ``beta=None``), so the outer problem is over ``theta`` (and the family's own
   parameters, :attr:`~pyglmm.families.base.Family.point_params`, on the log scale) alone.
2. ``nAGQ >= 1``: from stage 1, the Laplace (``nAGQ = 1``) or adaptive Gauss-Hermite
   deviance is minimised over ``(theta, beta, log params)`` jointly, PIRLS finding ``u`` for
   each; ``u`` is warm-started from the previous evaluation.

Each stage runs L-BFGS-B with finite-difference gradients (diagonal entries of ``theta`` >= 0);
the last stage then runs, for at most :data:`~pyglmm.lmm.fit.MAX_POLISH` coordinates, the
bounded Newton polish of :func:`~pyglmm.lmm.fit.fit_lmm` (Nelder-Mead when it fails) unless
``polish=False``. ``nagq=0, polish=False`` is stage 1 exactly as ``nAGQ >= 1`` runs it before
stage 2, so it never costs more than the full fit: the estimates ``Model.fit`` takes for
``"auto"`` and its starting values (:func:`pyglmm.information.point_estimates`).

The fixed effects' covariance is lme4's default for ``nAGQ >= 1`` (``use.hessian = TRUE``):
``2 H^{-1}`` restricted to ``beta``, with ``H`` the central-difference Hessian of the deviance
over ``(theta, beta)`` at the optimum; for ``nAGQ = 0`` it is PIRLS's ``R_X^{-1} R_X^{-T}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from ..design import Design
from ..errors import ArgumentError, FamilyError
from ..families import Family
from .optimize import MAX_POLISH, _grad_hess, _newton_polish
from .pirls import GlmmData, PirlsResult, agq_deviance, pirls, weighted_system
from .profiled import ThetaLayout

# the finite-difference step of the covariance's Hessian: lme4's deriv12 uses 1e-4, where the
# rounding of PIRLS's deviance (about 1e-11 relative) still moves the negative binomial's
# standard errors in the third digit; at 1e-3 the truncation error is about 1e-6 relative
HESSIAN_STEP = 1e-3
LOG_PARAM_BOUNDS = (-12.0, 16.0)  # log of a family parameter (shape): 6e-6 .. 9e6


def check_nagq(design: Design, nagq: int) -> None:
    """Refuse an ``nagq`` glmer refuses: not an integer >= 0, or > 1 with anything but a
    single scalar random-effect term."""
    if isinstance(nagq, bool) or not isinstance(nagq, int | np.integer) or nagq < 0:
        raise ArgumentError(f"nagq must be an integer >= 0, got {nagq!r}")
    if nagq > 1:
        blocks = design.blocks
        if len(blocks) != 1 or blocks[0].q != 1:
            terms = ", ".join(
                f"({' + '.join('1' if t == 'Intercept' else t for t in b.terms)} | {b.group})"
                for b in blocks
            )
            raise ArgumentError(
                f"nagq = {nagq} (adaptive Gauss-Hermite) needs a single scalar random-effect "
                f"term, as glmer; this model has {terms}: use nagq=1 (Laplace) or nagq=0"
            )
        if nagq > 100:
            raise ArgumentError(f"nagq must be at most 100, got {nagq}")


class _Objective:
    """The deviance as a function of the packed outer parameters, with warm-started PIRLS."""

    def __init__(self, data: GlmmData, layout: ThetaLayout, nagq: int, stage0: bool) -> None:
        self.data, self.layout, self.nagq, self.stage0 = data, layout, nagq, stage0
        self.p = data.X.shape[1]
        self.names = data.family.point_params
        self.u: list[np.ndarray] | None = None
        self.beta: np.ndarray | None = None
        self.n_evals = 0

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, dict[str, float]]:
        nt = self.layout.size
        theta = x[:nt]
        if self.stage0:
            beta, rest = None, x[nt:]
        else:
            beta, rest = x[nt : nt + self.p], x[nt + self.p :]
        params = {k: float(np.exp(v)) for k, v in zip(self.names, rest, strict=True)}
        return theta, beta, params

    def evaluate(self, x: np.ndarray) -> PirlsResult:
        theta, beta, params = self.unpack(np.asarray(x, float))
        res = pirls(
            self.data,
            theta,
            params,
            self.layout.unpack(theta),
            beta=beta,
            u0=self.u,
            beta0=self.beta if beta is None else None,
        )
        return res

    def deviance_of(self, res: PirlsResult, x: np.ndarray) -> float:
        theta, _, params = self.unpack(np.asarray(x, float))
        if self.nagq > 1 and not self.stage0:
            return agq_deviance(self.data, res, theta, params, self.nagq)
        return res.laplace

    def __call__(self, x: np.ndarray) -> float:
        self.n_evals += 1
        try:
            res = self.evaluate(x)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return float("inf")
        dev = self.deviance_of(res, x)
        if np.isfinite(dev):
            self.u = res.u
            if self.stage0:
                self.beta = res.beta
        return float(dev) if np.isfinite(dev) else float("inf")


def _minimize(
    f: Callable[[np.ndarray], float],
    x0: np.ndarray,
    bounds: list,
    maxiter: int,
    polish: bool = True,
) -> tuple[np.ndarray, float, bool, str]:
    res = minimize(
        f,
        x0,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-10, "gtol": 1e-6, "maxls": 50},
    )
    x, fx = np.asarray(res.x), float(res.fun)
    lower = np.array([-np.inf if lo is None else lo for lo, _ in bounds])
    message = f"L-BFGS-B: {res.message}"
    converged = bool(res.success)
    if not polish:
        return x, fx, converged, message
    if len(x) <= MAX_POLISH:
        x, fx, converged = _newton_polish(f, x, fx, lower, h=1e-4)
        message += f"; Newton polish {'converged' if converged else 'failed'}"
        if not converged and _gradient_small(f, x, fx, lower):
            converged = True
            message += ", scaled gradient below lme4's tolerance 0.002"
    if not converged:
        res2 = minimize(
            f,
            x,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 600 * max(len(x), 1), "xatol": 1e-8, "fatol": 1e-10},
        )
        if res2.fun <= fx:
            x, fx = np.asarray(res2.x), float(res2.fun)
        converged = bool(res2.success)
        message += f"; Nelder-Mead: {res2.message}"
    x, fx = _snap_to_bounds(f, x, fx, lower)
    return x, fx, converged, message


def _snap_to_bounds(
    f: Callable[[np.ndarray], float], x: np.ndarray, fx: float, lower: np.ndarray, tol: float = 1e-6
) -> tuple[np.ndarray, float]:
    """Coordinates within ``tol`` of their lower bound (an SD estimated at 0) put on it when
    that does not raise ``f`` (beyond rounding): a singular fit reports 0 exactly, as lme4's
    bounded bobyqa does, whatever digits L-BFGS-B stopped at."""
    near = np.isfinite(lower) & (x - lower < tol) & (x != lower)
    if not near.any():
        return x, fx
    snapped = np.where(near, lower, x)
    f_snapped = float(f(snapped))
    if f_snapped <= fx + 1e-10 * (1.0 + abs(fx)):
        return snapped, f_snapped
    return x, fx


def _gradient_small(
    f: Callable[[np.ndarray], float], x: np.ndarray, fx: float, lower: np.ndarray
) -> bool:
    """lme4's ``checkConv``: the Newton step ``H^{-1} g`` over the free coordinates (finite
    differences) is below 0.002 in every coordinate; a finite-difference polish may fail
    near an optimum only because the deviance's rounding noise stops its line search."""
    free = np.flatnonzero(x > lower + 1e-10)
    if free.size == 0:
        return True
    g, H = _grad_hess(f, x, fx, free, 1e-4)
    try:
        np.linalg.cholesky(H)
        scaled = np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.isfinite(scaled)) and np.max(np.abs(scaled)) < 2e-3)


def _start_params(data: GlmmData) -> np.ndarray:
    """log starting values of the family's point parameters (shape 1: a moderate
    overdispersion, which the optimizer leaves quickly)."""
    return np.zeros(len(data.family.point_params))


class GlmmStart(NamedTuple):
    """Estimates that start the optimization (a previous fit's), skipping the nAGQ=0 stage."""

    theta: np.ndarray
    beta: np.ndarray
    params: dict[str, float]
    u: list[np.ndarray] | tuple[np.ndarray, ...]


@dataclass(frozen=True)
class GlmmOptimum:
    """What :func:`optimize_glmm` found: estimates, the PIRLS state at them, the minimised
    deviance and the covariance of the fixed effects."""

    theta: np.ndarray
    beta: np.ndarray
    params: dict[str, float]
    u: tuple[np.ndarray, ...]
    vcov_beta: np.ndarray
    criterion: float
    converged: bool
    n_evals: int
    message: str
    information: str
    pirls_result: PirlsResult


def check_family(family: Family) -> None:
    if not family.has_point_fit:
        raise FamilyError(
            f"optimize() has no point fit for family {family.name!r}; it covers "
            "bernoulli, binomial, poisson, negativebinomial and gamma"
        )


def check_information(information: str | None) -> None:
    if information not in (None, "expected", "observed"):
        raise ArgumentError(f"information must be 'expected' or 'observed', got {information!r}")


def optimize_glmm(
    design: Design,
    family: Family,
    nagq: int,
    maxiter: int = 1000,
    information: str | None = None,
    start: GlmmStart | None = None,
    polish: bool = True,
) -> GlmmOptimum:
    """The two stages of the module docstring (checks of the arguments are the caller's);
    ``polish=False``: the last stage is L-BFGS-B alone (no Newton polish, no Nelder-Mead)."""
    data = GlmmData.from_design(design, family, information)
    layout = ThetaLayout.from_blocks(design.blocks)
    nt, p, npar = layout.size, data.X.shape[1], len(family.point_params)
    theta_bounds = layout.bounds()
    par_bounds = [LOG_PARAM_BOUNDS] * npar
    if start is None or nagq == 0:  # stage 1: nAGQ = 0
        obj0 = _Objective(data, layout, nagq, stage0=True)
        x0 = np.concatenate([layout.start(), _start_params(data)])
        if start is not None:
            logp0 = [np.log(start.params[k]) for k in family.point_params]
            x0 = np.concatenate([start.theta, logp0])
        x, fx, converged, message = _minimize(
            obj0, x0, theta_bounds + par_bounds, maxiter, polish=nagq == 0 and polish
        )
        res = obj0.evaluate(x)
        n_evals = obj0.n_evals
        theta, logp, beta, u = x[:nt], x[nt:], res.beta, res.u
    else:
        theta, beta, u = start.theta, start.beta, list(start.u)
        logp = np.log(np.array([start.params[k] for k in family.point_params], dtype=float))
        message, n_evals = "started from a previous fit", 0
    if nagq >= 1:
        obj = _Objective(data, layout, nagq, stage0=False)
        obj.u = u
        x1 = np.concatenate([theta, beta, logp])
        bounds = theta_bounds + [(None, None)] * p + par_bounds
        x, fx, converged, msg1 = _minimize(obj, x1, bounds, maxiter, polish)
        message = f"stage nAGQ=0: {message}; stage nAGQ={nagq}: {msg1}"
        res = obj.evaluate(x)
        theta, beta, logp = x[:nt], x[nt : nt + p], x[nt + p :]
        u = res.u
        n_evals += obj.n_evals
        vcov = _hessian_vcov(obj, x, fx, nt, p)
    else:
        vcov = _rx_vcov(res)
    return GlmmOptimum(
        theta=np.asarray(theta, float),
        beta=np.asarray(beta, float),
        params={k: float(np.exp(v)) for k, v in zip(family.point_params, logp, strict=True)},
        u=tuple(u),
        vcov_beta=vcov,
        criterion=float(fx),
        converged=converged,
        n_evals=n_evals,
        message=message,
        information=data.information,
        pirls_result=res,
    )


def _rx_vcov(res: PirlsResult) -> np.ndarray:
    """``R_X^{-1} R_X^{-T}`` of the PIRLS system with ``X`` (``nAGQ = 0``)."""
    Rinv = res.system.rx_inverse(res.factor)
    return np.asarray(Rinv @ Rinv.T)


def _hessian_vcov(obj: _Objective, x: np.ndarray, fx: float, nt: int, p: int) -> np.ndarray:
    """lme4's ``vcov(use.hessian = TRUE)``: the ``beta`` block of ``(H / 2)^{-1}``, ``H``
    the central-difference Hessian of the deviance over ``(theta, beta)`` (family parameters
    held; theta entries on their bound 0 left out). Falls back to PIRLS's ``R_X`` when ``H``
    is not positive definite.

    This is also glmmTMB's covariance (the ``beta`` block of the inverse Hessian does not
    depend on how theta is parameterized at the optimum); lme4's own Laplace values differ
    from it by up to about 1% because its PIRLS stops at a looser tolerance than the
    finite differences need (measured on cbpp: glmmTMB 0.23247, here 0.23247, lme4 0.23121).
    """
    diag = obj.layout.is_diagonal()
    free_theta = [i for i in range(nt) if not (diag[i] and x[i] <= 1e-8)]
    idx = np.array(free_theta + list(range(nt, nt + p)), dtype=int)
    u_keep = obj.u

    def at(z: np.ndarray) -> float:  # every evaluation from the optimum's modes: no path
        obj.u = u_keep  # dependence between the finite differences
        return obj(z)

    _, H = _grad_hess(at, x, at(x), idx, HESSIAN_STEP)
    obj.u = u_keep
    try:
        np.linalg.cholesky(0.5 * H)
        V = np.linalg.inv(0.5 * H)[len(free_theta) :, len(free_theta) :]
    except np.linalg.LinAlgError:
        return _rx_vcov_fixed_beta(obj, obj.evaluate(x))
    return np.asarray(0.5 * (V + V.T))


def _rx_vcov_fixed_beta(obj: _Objective, res: PirlsResult) -> np.ndarray:
    """``R_X^{-1} R_X^{-T}`` of the PIRLS system at the final weights, ``X`` included."""
    data = obj.data
    # any response with a non-zero residual keeps the augmented matrix positive definite;
    # R_X does not depend on it
    z = np.arange(1.0, data.design.n_obs + 1.0)
    system = weighted_system(data, res.weights, z, with_x=True)
    f = system.factor(res.factor.theta)
    Rinv = system.rx_inverse(f)
    return np.asarray(Rinv @ Rinv.T)
