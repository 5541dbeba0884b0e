"""The protocol of a mixed-model point fit (REML/ML ``LmmFit``, Laplace ``GlmmFit``), and the
pieces every such fit shares: ``isSingular`` and a generic conditional minimiser for profiles
(:func:`minimize_conditional`, :func:`conditional_fit_by_deviance`). Intervals are in
:mod:`pyglmm.lmm.intervals`.

A point fit is a design plus estimates: ``theta`` (relative covariance factors, lme4 scale),
``beta`` (fixed effects) and, for families with a scale, ``sigma``. Its *natural parameters*
(:mod:`pyglmm.lmm.natural`) are the SDs and correlations of the random effects, ``sigma`` and
``beta``, in lme4's ``confint`` order. Everything here talks to a fit only through
:class:`PointFit`, so the profile (:mod:`pyglmm.lmm.profile`), the parametric bootstrap
(:mod:`pyglmm.workflow.bootstrap`) and ``anova`` (:mod:`pyglmm.lmm.anova`) work for any fit
implementing it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from ..design import Design
from ..errors import ArgumentError, UnsupportedModelError


@runtime_checkable
class PointFit(Protocol):
    """What a point fit provides (``LmmFit`` implements it; ``GlmmFit`` must too).

    Attributes: ``design``; ``beta`` (p,); ``theta`` (design block order, lme4 scale);
    ``reml`` (False for GLMMs); ``loglik`` (log-likelihood, restricted for REML fits);
    ``deviance`` (``-2 loglik``); ``n_params`` (``p + len(theta)`` plus 1 with a scale);
    ``aic`` (``deviance + 2 n_params``); ``bic`` (``deviance + log(n) n_params``).
    """

    @property
    def design(self) -> Design: ...

    @property
    def beta(self) -> np.ndarray: ...

    @property
    def theta(self) -> np.ndarray: ...

    @property
    def reml(self) -> bool: ...

    @property
    def loglik(self) -> float: ...

    @property
    def deviance(self) -> float: ...

    @property
    def n_params(self) -> int: ...

    @property
    def n_obs(self) -> int: ...

    @property
    def aic(self) -> float: ...

    @property
    def bic(self) -> float: ...

    def natural_params(self) -> pd.Series:
        """The natural parameters at the estimate, named and ordered as lme4's ``confint``."""
        ...

    def deviance_at(self, values: Any) -> float:
        """The fit's criterion (REML criterion for REML fits, ``-2 log L`` otherwise) at
        arbitrary natural parameters (a vector in :meth:`natural_params` order or a Series),
        nothing profiled."""
        ...

    def to_ml(self) -> PointFit:
        """The same model fitted by maximum likelihood (``self`` when it already is)."""
        ...

    def conditional_fit(
        self, index: int, value: float, start: np.ndarray | None = None
    ) -> tuple[float, np.ndarray]:
        """``(min deviance, natural vector at the minimum)`` of the ML deviance (``-2 log L``)
        over all natural parameters but ``index``, which is held at ``value``; ``start``: a
        natural vector to warm-start from. The building block of :func:`profile`; a fit may
        use :func:`minimize_conditional` for it."""
        ...

    def refit(self, y: Any) -> PointFit:
        """The same model (design, method) fitted to a new response, warm-started here."""
        ...

    def simulate(self, n: int = 1, seed: Any = None) -> np.ndarray:
        """``(n, n_obs)`` responses simulated from the fit with new random effects drawn from
        the estimated covariance (lme4's ``simulate(use.u = FALSE)``)."""
        ...

    def vcov(self) -> pd.DataFrame: ...

    def is_singular(self, tol: float = 1e-4) -> bool: ...


# ----- isSingular ---------------------------------------------------------------------
def is_singular(theta: np.ndarray, diagonal: np.ndarray, tol: float = 1e-4) -> bool:
    """lme4's ``isSingular``: some diagonal entry of a ``T_k`` (the theta entries bounded below
    by 0, ``diagonal``) is below ``tol``. That is a zero SD, or (in a correlated block) a
    covariance matrix of reduced rank, e.g. a correlation of +-1."""
    theta = np.asarray(theta, dtype=float)
    return bool(np.any(theta[np.asarray(diagonal, dtype=bool)] < tol))


SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"


# ----- intervals ----------------------------------------------------------------------
def percent_labels(level: float) -> list[str]:
    """Column names of an interval at ``level``, as R's ``format.perc(a, 3)``: 2.5 %, 97.5 %."""
    if not 0 < level < 1:
        raise ArgumentError(f"level must be between 0 and 1, got {level!r}")
    a = (1 - level) / 2
    return [f"{100 * p:.3g} %" for p in (a, 1 - a)]


def _select(nat: pd.Series, parm: Any) -> list[int]:
    nv = len(nat) - sum(1 for n in nat.index if not _is_variance(n))
    if parm is None:
        return list(range(len(nat)))
    items = [parm] if isinstance(parm, (str, int, np.integer)) else list(parm)
    names = list(nat.index)
    out: list[int] = []
    for it in items:
        if it == "theta_":
            out += list(range(nv))
        elif it == "beta_":
            out += list(range(nv, len(nat)))
        elif isinstance(it, (int, np.integer)):
            out.append(int(it))
        elif it in names:
            out.append(names.index(it))
        else:
            raise ArgumentError(f"unknown parameter {it!r}; parameters: {names}")
    return sorted(set(out))


def _is_variance(name: str) -> bool:
    return name.startswith(("sd_", "cor_")) or name == "sigma"


# ----- a generic conditional minimiser ------------------------------------------------
def minimize_conditional(
    deviance: Callable[[np.ndarray], float],
    estimate: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    index: int,
    value: float,
    start: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    free: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Minimise ``deviance(v)`` over the coordinates of ``v`` other than ``index`` (held at
    ``value``) within ``[lower, upper]``, from ``start`` (default: the estimate).

    ``free`` (a boolean mask) restricts the optimisation to some coordinates (the others keep
    their ``start`` values, e.g. when the deviance profiles them itself); ``scale`` sets the
    unit of each coordinate (default: ``max(|estimate|, 1)``), so that finite-difference
    gradients see comparable steps. L-BFGS-B, then a bounded Newton polish with central
    differences (:func:`pyglmm.lmm.optimize._grad_hess`).
    """
    from .optimize import _grad_hess

    est = np.asarray(estimate, dtype=float)
    x = (est if start is None else np.asarray(start, dtype=float)).copy()
    x[index] = value
    mask = np.ones(len(x), bool) if free is None else np.asarray(free, bool).copy()
    mask[index] = False
    idx = np.flatnonzero(mask)
    sc = np.maximum(np.abs(est), 1.0) if scale is None else np.asarray(scale, dtype=float)
    sc = sc[idx]
    lo, up = lower[idx] / sc, upper[idx] / sc

    def f(z: np.ndarray) -> float:
        v = x.copy()
        v[idx] = z * sc
        try:
            d = deviance(v)
        except (ValueError, np.linalg.LinAlgError):
            return float("inf")
        return d if np.isfinite(d) else float("inf")

    if idx.size == 0:
        return f(np.zeros(0)), x
    z0 = np.clip(x[idx] / sc, lo, up)
    # an SD starting at its bound 0 sees a zero slope (the deviance depends on its square)
    z0 = np.where((lo == 0) & (z0 < 1e-2), 1e-2, z0)
    bounds = [
        (a if np.isfinite(a) else None, b if np.isfinite(b) else None)
        for a, b in zip(lo, up, strict=True)
    ]
    res = minimize(
        f,
        z0,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500, "maxls": 50},
    )
    z, fz = np.asarray(res.x), float(res.fun)
    for _ in range(6):  # bounded Newton polish
        act = np.flatnonzero((z > lo + 1e-9) & (z < up - 1e-9))
        if act.size == 0:
            break
        g, H = _grad_hess(f, z, fz, act, 1e-4)
        try:
            np.linalg.cholesky(H)
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        t, moved = 1.0, False
        while t > 1e-3:
            zn = z.copy()
            zn[act] = np.clip(z[act] - t * step, lo[act], up[act])
            fn = f(zn)
            if fn <= fz:
                moved = fz - fn > 1e-12
                z, fz = zn, fn
                break
            t /= 2
        if not moved or float(np.max(np.abs(step))) < 1e-8:
            break
    v = x.copy()
    v[idx] = z * sc
    return fz, v


def natural_bounds(names: list[str] | pd.Index, n_beta: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of natural parameters: SDs and sigma ``[0, inf)``, correlations ``[-1, 1]``,
    fixed effects free."""
    names = list(names)
    nv = len(names) - n_beta
    lo = [-1.0 if n.startswith("cor_") else 0.0 for n in names[:nv]] + [-np.inf] * n_beta
    up = [1.0 if n.startswith("cor_") else np.inf for n in names[:nv]] + [np.inf] * n_beta
    return np.array(lo), np.array(up)


def conditional_fit_by_deviance(
    fit: PointFit, index: int, value: float, start: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """A :meth:`PointFit.conditional_fit` from :meth:`PointFit.deviance_at` alone: minimise
    the deviance over every other natural parameter numerically (what lme4's ``profile`` does
    for GLMMs, whose Laplace deviance is a function of theta and beta jointly). Units: the
    estimate for SDs and sigma, 1 for correlations, the standard errors for fixed effects.
    ``fit`` must be an ML fit (``fit.deviance_at`` is then ``-2 log L``)."""
    est = fit.natural_params()
    p = len(fit.beta)
    lo, up = natural_bounds(est.index, p)
    v = est.to_numpy(dtype=float)
    sc = np.where(lo == -1.0, 1.0, np.maximum(np.abs(v), 1e-3))
    se = np.sqrt(np.diag(np.asarray(fit.vcov(), dtype=float)))
    sc[len(v) - p :] = np.maximum(se, 1e-12)
    return minimize_conditional(fit.deviance_at, v, lo, up, index, value, start, scale=sc)


def check_point_fit_blocks(design: Design) -> None:
    """Refuse, with :class:`UnsupportedModelError` naming the block, a design whose blocks have
    a structured kind (a known covariance among levels, ``gr(g, cov = ...)``; ``ar1``; ``cs``):
    lme4's relative factor ``T`` per level cannot express them here; nor a design with
    distributional formulas (``pg.bf``)."""
    if getattr(design, "dpars", ()):
        raise UnsupportedModelError(
            "model.optimize() (REML/ML point fit) does not support distributional parameters "
            "(pg.bf); sample the model with model.fit()"
        )
    for blk in design.blocks:
        kind = blk.covariance
        if kind.structured:
            what = "a known covariance among its levels" if blk.level_cov else f"{kind.name}()"
            raise UnsupportedModelError(
                f"model.optimize() (REML/ML point fit) does not support block {blk.name!r} "
                f"with {what}; sample it with model.fit() (the PyMC model)"
            )
