"""Likelihood profiles and profile confidence intervals, as lme4's ``profile.merMod`` and
``confint.thpr``.

For a natural parameter ``psi`` (:mod:`pyglmm.lmm.natural`) with ML estimate ``psi_hat`` the
profiled deviance is ``d(x) = min { -2 log L : psi = x }`` over all other parameters, and the
signed square-root deviance difference is ::

    zeta(x) = sign(x - psi_hat) sqrt(d(x) - d(psi_hat))

which is the standard-normal quantile of a likelihood-ratio interval: the level-``1 - a``
profile interval is ``{x : |zeta(x)| <= z_{1 - a/2}}`` (a straight line ``zeta`` would mean a
quadratic log-likelihood, where the profile and Wald intervals coincide).

Stepping (lme4's algorithm). From ``psi_hat`` one first step goes to ``1.01 psi_hat`` (0.001
when ``psi_hat = 0``; ``psi_hat + delta SE`` for a fixed effect); each further step
extrapolates the last two points linearly to raise ``|zeta|`` by ``delta = cutoff / 8`` (the
step at most ``maxmult`` times the previous one), until ``|zeta| > cutoff =
sqrt(qchisq(1 - alphamax, n_params))``, the parameter reaches a bound (SDs >= 0, correlations
in [-1, 1]) or ``maxpts`` points were used; then the same downward. Each point re-optimises
all other parameters from the previous point's (warm start). The profile of a REML fit is
that of the ML refit, as in lme4 (``profile`` calls ``refitML``).

Intervals: an interpolating natural cubic spline ``zeta(x)`` through the points and its
inverse (a cubic Hermite spline through ``(zeta_i, x_i)`` with slopes ``1 / zeta'(x_i)``, R's
``backSpline``), evaluated at ``+-z``; where the profile does not reach ``+-z`` (an SD whose
profile ends at 0) the limit is the parameter's bound, as lme4 gives.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.interpolate import CubicHermiteSpline, CubicSpline
from scipy.stats import chi2, norm

from .optimize import blas_threads
from .pointfit import PointFit, natural_bounds, percent_labels

MINSTEP = 1e-6


@dataclass(frozen=True, eq=False)
class Profile:
    """The profile of a fit: per parameter a frame of the points (``zeta`` and every natural
    parameter at the conditional optimum), sorted by the parameter's value.

    ``estimate``: the ML natural parameters; ``lower``/``upper``: their bounds.
    """

    frames: dict[str, pd.DataFrame]
    estimate: pd.Series
    lower: pd.Series
    upper: pd.Series
    cutoff: float

    @property
    def params(self) -> list[str]:
        return list(self.frames)

    def table(self) -> pd.DataFrame:
        """Tidy table: one row per profile point with columns ``param``, ``value``, ``zeta``."""
        parts = [
            pd.DataFrame({"param": p, "value": f[p].to_numpy(), "zeta": f["zeta"].to_numpy()})
            for p, f in self.frames.items()
        ]
        return pd.concat(parts, ignore_index=True)

    def _splines(self, p: str) -> tuple[CubicSpline | None, Any]:
        f = self.frames[p]
        x, z = f[p].to_numpy(), f["zeta"].to_numpy()
        ok = np.isfinite(z)
        x, z = x[ok], z[ok]
        if len(x) < 2:
            return None, None
        if len(x) < 3:
            fwd = CubicSpline(x, z, bc_type="not-a-knot")
        else:
            fwd = CubicSpline(x, z, bc_type="natural")
        dz = fwd(x, 1)
        if np.all(np.diff(z) > 0) and np.all(dz > 0):
            return fwd, CubicHermiteSpline(z, x, 1.0 / dz)
        if np.all(np.diff(z) > 0):  # monotone points, bad spline: linear (lme4 warns too)
            warnings.warn(
                f"bad spline fit for {p}: falling back to linear interpolation", stacklevel=3
            )
            return fwd, lambda zz: np.interp(zz, z, x, left=np.nan, right=np.nan)
        warnings.warn(f"non-monotonic profile for {p}", stacklevel=3)
        return fwd, None

    def zeta(self, param: str, values: Any) -> np.ndarray:
        """The interpolated ``zeta`` (forward spline) of ``param`` at ``values``."""
        fwd, _ = self._splines(param)
        v = np.asarray(values, dtype=float)
        return np.full(v.shape, np.nan) if fwd is None else np.asarray(fwd(v))

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Profile intervals (``confint.thpr``): columns named from ``level`` (``2.5 %``)."""
        cols = percent_labels(level)
        zq = [float(norm.ppf((1 - level) / 2)), float(norm.ppf((1 + level) / 2))]
        out = pd.DataFrame(np.nan, index=pd.Index(self.params), columns=cols)
        for p in self.params:
            f = self.frames[p]
            _, back = self._splines(p)
            if back is None:
                continue
            z = f["zeta"].to_numpy()
            zmin, zmax = np.nanmin(z), np.nanmax(z)
            lim = []
            for q, bound in zip(zq, (self.lower[p], self.upper[p]), strict=True):
                lim.append(float(back(q)) if zmin <= q <= zmax else float(bound))
            out.loc[p] = lim
        return out

    def plot(self, params: list[str] | None = None, level: float = 0.95, ncols: int = 3) -> Any:
        """``zeta`` against each parameter's value (lme4's ``xyplot(profile(fm))``): the
        points, the spline, the ``+-z`` lines of ``level`` and the interval limits."""
        import matplotlib.pyplot as plt

        params = self.params if params is None else list(params)
        ncols = min(ncols, len(params))
        nrows = -(-len(params) // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
        ci = self.confint(level)
        zq = norm.ppf((1 + level) / 2)
        for ax, p in zip(axes.ravel(), params, strict=False):
            f = self.frames[p]
            x = f[p].to_numpy()
            fwd, _ = self._splines(p)
            if fwd is not None:
                grid = np.linspace(x.min(), x.max(), 200)
                ax.plot(grid, fwd(grid), color="C0")
            ax.plot(x, f["zeta"], "o", color="C0", ms=3)
            for s in (-zq, zq):
                ax.axhline(s, color="grey", lw=0.8, ls="--")
            for lim in ci.loc[p].to_numpy(dtype=float):
                if np.isfinite(lim):
                    ax.axvline(lim, color="C3", lw=0.8)
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_xlabel(p)
            ax.set_ylabel("zeta")
        for ax in axes.ravel()[len(params) :]:
            ax.set_visible(False)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        n = sum(len(f) for f in self.frames.values())
        return f"<Profile of {len(self.frames)} parameter(s), {n} points>"

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(repr(self))}</pre>" + self.confint().to_html()


def profile(
    fit: PointFit,
    which: Any = None,
    alphamax: float = 0.01,
    maxpts: int = 100,
    delta: float | None = None,
    delta_cutoff: float = 1 / 8,
    maxmult: float = 10.0,
    devtol: float = 1e-9,
) -> Profile:
    """Profile the ML deviance of ``fit`` for the natural parameters ``which`` (None: all;
    names, indices, ``"theta_"`` or ``"beta_"``), as lme4's ``profile.merMod`` (module
    docstring for the algorithm and the arguments, which keep lme4's names and defaults)."""
    from .pointfit import _select

    ml = fit.to_ml()
    est = ml.natural_params()
    names = list(est.index)
    idx = _select(est, which)
    base = ml.deviance
    lower, upper = natural_bounds(names, len(fit.beta))
    cutoff = float(np.sqrt(chi2.ppf(1 - alphamax, len(names))))
    step = cutoff * delta_cutoff if delta is None else delta
    se = np.sqrt(np.diag(np.asarray(ml.vcov(), dtype=float)))
    nv = len(names) - len(fit.beta)
    opt = est.to_numpy()
    frames = {}
    with blas_threads(1):
        for w in idx:
            rows = _profile_one(
                ml,
                w,
                opt,
                base,
                lower[w],
                upper[w],
                cutoff,
                step,
                maxpts,
                maxmult,
                devtol,
                None if w < nv else se[w - nv],
            )
            frame = pd.DataFrame(
                [np.concatenate([[z], v]) for z, v in rows], columns=["zeta", *names]
            )
            frame = frame.drop_duplicates(subset=names[w]).sort_values(names[w])
            frames[names[w]] = frame.reset_index(drop=True)
    return Profile(
        frames, est, pd.Series(lower, index=names), pd.Series(upper, index=names), cutoff
    )


def _profile_one(
    fit: PointFit,
    w: int,
    opt: np.ndarray,
    base: float,
    lo: float,
    up: float,
    cutoff: float,
    delta: float,
    maxpts: int,
    maxmult: float,
    devtol: float,
    se: float | None,
) -> list[tuple[float, np.ndarray]]:
    pw = float(opt[w])

    def zeta(x: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        dev, v = fit.conditional_fit(w, x, start)
        diff = dev - base
        if diff < -devtol:
            warnings.warn(
                f"profiling detected a lower deviance (by {-diff:.3g}) at "
                f"{x:.6g}: the fit may not be at its optimum",
                stacklevel=4,
            )
        return float(np.sign(x - pw) * np.sqrt(max(diff, 0.0))), v

    shift = (0.001 if pw == 0 else pw * 1.01) if se is None else pw + delta * se
    shift = float(np.clip(shift, lo, up))
    first = (shift, *zeta(shift, opt))
    centre = (pw, 0.0, opt.copy())
    rows = [(0.0, opt.copy()), (first[1], first[2])]
    rows += _fill(centre, first, zeta, lo, up, cutoff, delta, maxpts, maxmult)
    if pw > lo:
        rows += _fill(first, centre, zeta, lo, up, cutoff, delta, maxpts, maxmult)
    return rows


def _fill(
    prev: tuple[float, float, np.ndarray],
    cur: tuple[float, float, np.ndarray],
    zeta: Any,
    lo: float,
    up: float,
    cutoff: float,
    delta: float,
    maxpts: int,
    maxmult: float,
) -> list[tuple[float, np.ndarray]]:
    """Extend the profile beyond ``cur`` (away from ``prev``) until ``|zeta| > cutoff``."""
    out: list[tuple[float, np.ndarray]] = []
    while len(out) < maxpts - 2 and lo < cur[0] < up and abs(cur[1]) <= cutoff:
        num, den = cur[0] - prev[0], cur[1] - prev[1]
        if not np.isfinite(den) or den == 0:
            step = MINSTEP
        else:
            step = delta * num / den
            if step < 0:
                step = MINSTEP
            elif abs(step) > maxmult * abs(num):
                step = maxmult * abs(num)
        x = float(np.clip(cur[0] + np.sign(num) * step, lo, up))
        z, v = zeta(x, cur[2])
        prev, cur = cur, (x, z, v)
        out.append((z, v))
    return out
