"""Minimising the profiled (restricted) deviance over theta (the engine of ``fit_lmm``).

lme4 minimises the profiled criterion ``d(theta)`` with bobyqa (bound-constrained,
derivative-free) from identity relative covariance factors. Here:

1. L-BFGS-B with forward-difference gradients brings theta close to the optimum (the
   criterion is smooth and costs one blocked Cholesky per evaluation);
2. a bounded Newton polish with central-difference gradient and Hessian,
   ``theta <- theta - H^{-1} g`` over the free coordinates (diagonal entries sitting on their
   bound 0 stay fixed), with step halving, converges quadratically to lme4's precision;
3. Nelder-Mead when the polish fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeResult, minimize

from .profiled import ProfiledLmm


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


WARM_FLOOR = 0.05
"""Smallest diagonal theta entry of a warm start: the criterion depends on a diagonal entry
through its square near 0 (zero slope there), so an optimiser started on the boundary of a
singular fit stays there even when the optimum of the new problem (a refit, a profile point)
is inside; from ``WARM_FLOOR`` it goes back to 0 when 0 is the optimum."""


@dataclass(frozen=True)
class ThetaOptimum:
    theta: np.ndarray
    criterion: float
    converged: bool
    n_evals: int
    message: str


def optimize_theta(
    prof: ProfiledLmm, reml: bool, start: np.ndarray | None = None, maxiter: int = 1000
) -> ThetaOptimum:
    """Minimise ``prof.criterion(theta, reml)`` (module docstring) from ``start`` (default:
    lme4's identity factors)."""
    n_evals = 0

    def objective(theta: np.ndarray) -> float:
        nonlocal n_evals
        n_evals += 1
        return prof.criterion(theta, reml)

    layout = prof.layout
    if start is None:
        x0 = layout.start()
    else:  # a warm start: lift diagonal entries off 0 (see WARM_FLOOR)
        x0 = np.asarray(start, dtype=float).copy()
        diag = layout.is_diagonal()
        x0[diag] = np.maximum(x0[diag], WARM_FLOOR)
    bounds = layout.bounds()
    lower = np.array([-np.inf if lo is None else lo for lo, _ in bounds])

    def lbfgs(x: np.ndarray) -> OptimizeResult:
        return minimize(
            objective,
            x,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": maxiter, "ftol": 1e-8, "gtol": 1e-5, "maxls": 50},
        )

    res = lbfgs(x0)
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
    # a diagonal entry at 0 is a stationary point (zero slope, see WARM_FLOOR) where L-BFGS-B
    # can stop although the criterion falls inside the box: restart once from WARM_FLOOR
    diag = layout.is_diagonal()
    stuck = diag & (theta <= 0.0)
    if stuck.any():
        x1 = theta.copy()
        x1[stuck] = WARM_FLOOR
        res3 = lbfgs(x1)
        if res3.fun < fun - 1e-10 * (1.0 + abs(fun)):
            theta, fun = np.asarray(res3.x), float(res3.fun)
            if layout.size <= MAX_POLISH:
                theta, fun, converged = _newton_polish(objective, theta, fun, lower)
            message += "; restarted off the boundary"
    return ThetaOptimum(np.asarray(theta, dtype=float), fun, converged, n_evals, message)


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
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
