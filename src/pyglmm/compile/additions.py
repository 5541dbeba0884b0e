"""The PyMC likelihood under brms's addition terms (``weights``, ``se``, ``cens``,
``trunc``; ``rate`` is an offset of the linear predictor, :mod:`pyglmm.design.additions`).

The row terms are those of :mod:`pyglmm.families.additions` (brms's Stan code), built from the
family's PyMC distribution ``d = pm.<pymc_dist>.dist(**pymc_kwargs)``::

    l_i = pm.logp(d, y_i)                        observed rows
          pm.logccdf(d, y_i)                     right censored: log P(Y > y_i)
          pm.logcdf(d, y_i)                      left censored:  log P(Y <= y_i)
          log_diff_exp(logcdf(d, y2_i), logcdf(d, y_i))   interval censored
    l_i -= log(F(ub_i) - F(lb'_i))               trunc (lb' = lb - 1 for counts)
    pm.Potential("y_loglik", sum_i w_i l_i)

Each censoring kind is evaluated on its own rows only, and an absent truncation bound is a
constant (not a cdf at an infinite value), so no unused branch puts an infinite value or NaN
gradient into the sum. ``se(s)`` alone keeps the observed variable: ``pm.Normal("y", mu,
sigma=s)`` (or ``sqrt(sigma^2 + s^2)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..design import Design
from ..families import Family
from .listing import _Code


def _rows(value: Any, idx: np.ndarray) -> Any:
    """``value`` on rows ``idx`` when it has one entry per row (a vector), else itself."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return value[idx] if value.ndim == 1 else value
    return value[idx] if getattr(value, "ndim", 0) == 1 else value


class _Rows:
    """The family's PyMC distribution of rows ``idx`` (``pymc_kwargs``): its log density
    (of an unregistered ``.dist``), and its log cdf / log ccdf from
    :meth:`Family.pymc_logcdf` (``pm.logcdf`` of ``pymc_dist`` unless the family says
    otherwise: the normal's in float64, the beta binomial's as a sum, the mixtures' from
    their count part)."""

    def __init__(
        self, family: Family, mu: Any, params: dict[str, Any], trials: Any, idx: np.ndarray
    ) -> None:
        sub = {k: _rows(v, idx) for k, v in params.items()}
        self.family = family
        self.kwargs = family.pymc_kwargs(_rows(mu, idx), sub, _rows(trials, idx))

    def logp(self, value: Any) -> Any:
        # built only here: a mixture's .dist (hurdle: with a Truncated part) takes seconds
        return pm.logp(getattr(pm, self.family.pymc_dist).dist(**self.kwargs), value)

    def logcdf(self, value: Any) -> Any:
        return self.family.pymc_logcdf(self.kwargs, value)

    def logccdf(self, value: Any) -> Any:
        return self.family.pymc_logcdf(self.kwargs, value, upper=True)


def _log_diff(a: Any, b: Any) -> Any:
    """``log(exp(a) - exp(b))`` (Stan's ``log_diff_exp``)."""
    return a + pt.log1mexp(b - a)


def additions_likelihood(
    design: Design, family: Family, mu: Any, params: dict[str, Any], code: _Code
) -> None:
    """Register the likelihood of ``design`` (which has ``additions``) in the current model."""
    adds = design.additions
    assert adds is not None
    params = dict(params)
    if adds.se is not None:
        se = np.asarray(adds.se, dtype=float)
        if adds.se_sigma:
            code("sigma = pm.math.sqrt(sigma**2 + se**2)  # se(se, sigma = TRUE), one per row")
            params["sigma"] = pt.sqrt(params["sigma"] ** 2 + se**2)
        else:
            code("sigma = se  # se(se): the known SDs, no sigma parameter")
            params["sigma"] = pt.as_tensor(se)
    trials = design.trials
    if not set(adds.names) - {"se"}:
        code(family.likelihood_code("y"))
        family.likelihood("y", mu, design.y, params, trials)
        return
    y = np.asarray(design.y).astype(np.int64) if family.discrete else np.asarray(design.y)
    n = y.shape[0]
    cens = np.zeros(n, dtype=np.int64) if adds.cens is None else adds.cens
    order = []
    pieces = []
    dist_text = f"d = pm.{family.pymc_dist}.dist({family.pymc_args})"
    code(f"{dist_text}  # of the rows below")
    for value, text in ((0, "pm.logp(d, y)"), (1, "pm.logccdf(d, y)"), (-1, "pm.logcdf(d, y)")):
        idx = np.flatnonzero(cens == value)
        if idx.size:
            d = _Rows(family, mu, params, trials, idx)
            fn = {0: d.logp, 1: d.logccdf, -1: d.logcdf}[value]
            pieces.append(fn(y[idx]))
            order.append(idx)
            code(f"l[cens == {value}] = {text}" if adds.cens is not None else f"l = {text}")
    idx = np.flatnonzero(cens == 2)
    if idx.size:
        assert adds.y2 is not None
        d = _Rows(family, mu, params, trials, idx)
        y2 = adds.y2[idx].astype(np.int64) if family.discrete else adds.y2[idx]
        pieces.append(_log_diff(d.logcdf(y2), d.logcdf(y[idx])))
        order.append(idx)
        code("l[cens == 2] = log_diff_exp(pm.logcdf(d, y2), pm.logcdf(d, y))")
    perm = np.argsort(np.concatenate(order))
    loglik = pt.concatenate(pieces)[perm] if len(pieces) > 1 else pieces[0]
    if adds.lb is not None and adds.ub is not None:
        loglik = loglik - _truncation(family, mu, params, trials, y, adds.lb, adds.ub, code)
    if adds.weights is not None:
        code("l = weights * l")
        loglik = loglik * np.asarray(adds.weights, dtype=float)
    code("pm.Potential('y_loglik', l.sum())")
    pm.Potential("y_loglik", loglik.sum())


def _truncation(
    family: Family,
    mu: Any,
    params: dict[str, Any],
    trials: Any,
    y: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    code: _Code,
) -> Any:
    """``log(F(ub) - F(lb'))`` per row (lb' = lb - 1 for counts, so ``lb`` is included; a
    count bound below 0 is no bound). An absent bound enters as a constant: the cdf is
    evaluated at ``y`` there and not used (a finite value with a finite gradient)."""
    n = y.shape[0]
    low = lb - 1.0 if family.discrete else np.asarray(lb, dtype=float)
    has_lb = np.isfinite(low) & ~(family.discrete & (low < 0))
    has_ub = np.isfinite(ub)
    idx = np.arange(n)
    d = _Rows(family, mu, params, trials, idx)
    cast = (lambda v: v.astype(np.int64)) if family.discrete else (lambda v: v)
    norm: Any = pt.zeros(n)
    if has_ub.any():
        upper = d.logcdf(cast(np.where(has_ub, ub, y)))
        upper = pt.switch(has_ub, upper, 0.0)
    else:
        upper = pt.zeros(n)
    if has_lb.any():
        at = cast(np.where(has_lb, low, y))
        lower_cdf = pt.switch(has_lb, d.logcdf(at), -np.inf)
        survive = pt.switch(has_lb, d.logccdf(at), 0.0)
        norm = pt.switch(has_ub, _log_diff(upper, lower_cdf), survive)
    else:
        norm = upper
    lbt = "lb - 1" if family.discrete else "lb"
    code(f"l = l - log_diff_exp(pm.logcdf(d, ub), pm.logcdf(d, {lbt}))  # trunc(lb, ub)")
    return norm
