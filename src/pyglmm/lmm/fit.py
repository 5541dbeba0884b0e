"""``fit_lmm``: minimise the profiled (restricted) deviance over theta, as lme4's ``lmer``.

lme4 minimises the profiled criterion ``d(theta)`` with bobyqa (bound-constrained,
derivative-free) from identity relative covariance factors. Here:

1. L-BFGS-B with forward-difference gradients brings theta close to the optimum (the
   criterion is smooth and costs one blocked Cholesky per evaluation);
2. a bounded Newton polish with central-difference gradient and Hessian,
   ``theta <- theta - H^{-1} g`` over the free coordinates (diagonal entries sitting on their
   bound 0 stay fixed), with step halving, converges quadratically to lme4's precision.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import numpy as np
from scipy.optimize import minimize

from ..design import Design
from ..errors import DesignError
from .profiled import ProfiledLmm
from .result import LmmFit


def _grad_hess(
    f: Callable[[np.ndarray], float], x: np.ndarray, fx: float, idx: np.ndarray, h: float
) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian of ``f`` over the coordinates ``idx``."""
    k = len(idx)
    g, H = np.zeros(k), np.zeros((k, k))
    e = [np.zeros_like(x) for _ in range(k)]
    for a, i in enumerate(idx):
        e[a][i] = h
    fp = [f(x + e[a]) for a in range(k)]
    fm = [f(x - e[a]) for a in range(k)]
    for a in range(k):
        g[a] = (fp[a] - fm[a]) / (2 * h)
        H[a, a] = (fp[a] - 2 * fx + fm[a]) / h**2
        for c in range(a):
            fpp = f(x + e[a] + e[c])
            fmm = f(x - e[a] - e[c])
            H[a, c] = H[c, a] = (fpp + fmm - fp[a] - fm[a] - fp[c] - fm[c] + 2 * fx) / (2 * h**2)
    return g, H


def _newton_polish(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    fx: float,
    lower: np.ndarray,
    h: float = 1e-4,
    max_iter: int = 8,
    tol: float = 1e-7,
) -> tuple[np.ndarray, float, bool]:
    """Bounded Newton iterations from ``x``; returns ``(x, f(x), converged)``.

    Converged when the Newton step is below ``tol`` (relative to ``max(1, |x|)``): beyond
    that the finite-difference gradient is dominated by rounding noise of ``f``.
    """
    for _ in range(max_iter):
        free = np.flatnonzero(x > lower + 1e-10)
        if free.size == 0:
            return x, fx, True
        g, H = _grad_hess(f, x, fx, free, h)
        try:
            np.linalg.cholesky(H)
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return x, fx, False
        small = float(np.max(np.abs(step))) < tol * max(1.0, float(np.max(np.abs(x))))
        t = 1.0
        while t > 1e-3:
            xn = x.copy()
            xn[free] = np.maximum(x[free] - t * step, lower[free])
            fn = f(xn)
            if fn <= fx:
                x, fx = xn, fn
                break
            t /= 2
        if small:
            return x, fx, True
        if t <= 1e-3:
            return x, fx, False
    return x, fx, False


MAX_POLISH = 15  # largest len(theta) for the finite-difference Newton polish


@contextlib.contextmanager
def _blas_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS threads (oversubscribed multi-threaded OpenBLAS can be 5x slower)."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with pymc
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


def fit_lmm(
    design: Design,
    reml: bool = True,
    *,
    start: np.ndarray | None = None,
    maxiter: int = 1000,
    blas_threads: int | None = 1,
) -> LmmFit:
    """Fit a linear mixed model by REML (default) or maximum likelihood.

    ``design`` comes from :func:`pyglmm.design.build_design`; ``start`` overrides the
    starting theta (lme4 scale, design block order); ``blas_threads`` caps BLAS threads
    during the fit (``None``: leave as is). Returns an :class:`LmmFit`.
    """
    _check_response(design)
    with _blas_threads(blas_threads):
        return _fit(design, reml, start, maxiter)


def _check_response(design: Design) -> None:
    """Refuse a response the fixed effects reproduce exactly (a constant one, in particular):
    the residual variance is 0 and the profiled deviance has no minimum."""
    y = np.asarray(design.y, dtype=float)
    if design.offset is not None:
        y = y - design.offset
    if np.ptp(y) == 0:
        raise DesignError(
            f"the response {design.response!r} is constant (every value is {y[0]:g}): a linear "
            "mixed model needs a varying response"
        )
    X = np.asarray(design.X, dtype=float)
    if X.shape[1]:
        resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        if float(np.linalg.norm(resid)) <= 1e-10 * max(float(np.linalg.norm(y)), 1e-300):
            raise DesignError(
                f"the response {design.response!r} is an exact linear function of the fixed "
                f"effects ({', '.join(design.x_names)}): the residual variance would be 0"
            )


def _fit(design: Design, reml: bool, start: np.ndarray | None, maxiter: int) -> LmmFit:
    t0 = time.perf_counter()
    prof = ProfiledLmm(design)
    layout = prof.layout
    n_evals = 0

    def objective(theta: np.ndarray) -> float:
        nonlocal n_evals
        n_evals += 1
        return prof.criterion(theta, reml)

    x0 = layout.start() if start is None else np.asarray(start, dtype=float)
    bounds = layout.bounds()
    lower = np.array([-np.inf if lo is None else lo for lo, _ in bounds])
    res = minimize(
        objective,
        x0,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-8, "gtol": 1e-5, "maxls": 50},
    )
    theta, fun = np.asarray(res.x), float(res.fun)
    if layout.size <= MAX_POLISH:
        theta, fun, converged = _newton_polish(objective, theta, fun, lower)
        message = f"L-BFGS-B: {res.message}; Newton polish {'converged' if converged else 'failed'}"
    else:  # the polish costs O(len(theta)^2) evaluations per step
        converged, message = bool(res.success), f"L-BFGS-B: {res.message}"
    if not converged:
        res2 = minimize(
            objective,
            theta,
            method="Nelder-Mead",
            bounds=bounds,
            options={"maxiter": 400 * max(len(theta), 1), "xatol": 1e-9, "fatol": 1e-12},
        )
        if res2.fun <= fun:
            theta, fun = np.asarray(res2.x), float(res2.fun)
        converged = bool(res2.success)
        message += f"; Nelder-Mead: {res2.message}"
    f = prof.factor(theta)
    beta, b, Rinv = prof.solve(f)
    nu = prof.n - prof.p if reml else prof.n
    sigma = float(np.sqrt(f.pwrss / nu))
    return LmmFit(
        design=design,
        reml=reml,
        theta=theta,
        beta=beta,
        sigma=sigma,
        b=tuple(b),
        vcov_beta=sigma**2 * (Rinv @ Rinv.T),
        criterion=prof.criterion_from(f, reml),
        converged=converged,
        n_evals=n_evals,
        fit_time=time.perf_counter() - t0,
        message=message,
    )
