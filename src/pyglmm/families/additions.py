"""The pointwise log-likelihood under brms's addition terms, in numpy (``loo``'s values), and
the check of which family takes which term.

brms's likelihood (its Stan code, ``stan_log_lik_cens``/``_trunc``/``_weights``) for row i
with censoring code ``c_i``, weight ``w_i`` and truncation bounds ``[lb_i, ub_i]``::

    l_i = log p(y_i)                          c_i = 0  (observed)
          log P(Y > y_i)      (lccdf)         c_i = 1  (right censored)
          log P(Y <= y_i)     (lcdf)          c_i = -1 (left censored)
          log(F(y2_i) - F(y_i))               c_i = 2  (interval (y_i, y2_i])
    l_i = l_i - log(F(ub_i) - F(lb'_i))       with trunc(): lb' = lb - 1 for integer
                                              families (the lower bound is included),
                                              lb' = lb otherwise
    l_i = w_i l_i                             with weights()

For a discrete family these are Stan's conventions: ``lccdf(y) = log P(Y > y)``, so a right
censored count ``y`` means "more than y" and a left censored one "at most y". brms's
``log_lik()`` (what ``loo`` reads) multiplies by the weights too, and so does this.

``se(s)`` (gaussian) is not a term here but a change of ``sigma``: :func:`with_se`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..design.additions import Additions
from ..errors import FamilyError
from .base import Family


def check_additions(additions: Additions | None, family: Family, has_rate: bool = False) -> None:
    """Refuse addition terms the family cannot take (:class:`FamilyError` naming both)."""
    if has_rate and family.link != "log":
        raise FamilyError(
            f"rate() adds log(exposure) to the linear predictor, which needs the log link; "
            f"family {family.name!r} has link {family.link!r}"
        )
    if additions is None:
        return
    if additions.se is not None and not family.is_gaussian_identity:
        raise FamilyError(
            f"se() (known standard errors) is for family 'gaussian' with the identity link, "
            f"not {family.name!r}({family.link})"
        )
    for name in ("cens", "trunc"):
        if name in additions.names and not family.has_cdf:
            raise FamilyError(
                f"{name}() is not available for family {family.name!r} (brms does not take "
                f"it either): {name}() needs a distribution function of y, which a 0/1 or "
                "ordinal response has not in brms's sense; the other families take it"
            )


def with_se(params: dict[str, Any], se: np.ndarray | None, se_sigma: bool) -> dict[str, Any]:
    """``params`` with the gaussian's ``sigma`` replaced by the per-row SD of ``se(s)``:
    ``s_i`` (brms's default ``sigma = FALSE``) or ``sqrt(sigma^2 + s_i^2)``; (draws x rows)
    from a (draws,) sigma, (1 x rows) without one."""
    if se is None:
        return params
    out = dict(params)
    if se_sigma:
        sigma = np.asarray(params["sigma"])
        sigma = sigma.reshape(-1, 1) if sigma.ndim == 1 else sigma
        out["sigma"] = np.sqrt(sigma**2 + se**2)
    else:
        out["sigma"] = np.asarray(se, dtype=float)[None, :]
    return out


def _columns(params: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The parameters of rows ``rows``: (draws x rows) ones subset, (draws,) ones kept."""
    out = {}
    for k, v in params.items():
        a = np.asarray(v)
        out[k] = a[:, rows] if a.ndim == 2 and a.shape[1] > 1 else a
    return out


def log_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(exp(a) - exp(b))`` for ``a >= b`` (Stan's ``log_diff_exp``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(a + np.log(-np.expm1(b - a)))


def additions_loglik(
    family: Family,
    additions: Additions,
    y: np.ndarray,
    mu: np.ndarray,
    params: dict[str, np.ndarray],
    trials: np.ndarray | None,
) -> np.ndarray:
    """The pointwise log-likelihood (draws x rows) under ``additions`` (module docstring);
    ``params`` as :meth:`Family.loglik` takes them (``se`` is applied here)."""
    params = with_se(params, additions.se, additions.se_sigma)
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    cens = np.zeros(n, dtype=np.int64) if additions.cens is None else additions.cens
    out = np.empty(np.broadcast_shapes(np.shape(mu), (n,)))
    for code in (0, 1, -1, 2):
        rows = np.flatnonzero(cens == code)
        if not rows.size:
            continue
        m, p = mu[..., rows], _columns(params, rows)
        t = None if trials is None else trials[rows]
        if code == 0:
            out[..., rows] = family.loglik(y[rows], m, p, t)
        elif code == 1:
            out[..., rows] = family.logsf(y[rows], m, p, t)
        elif code == -1:
            out[..., rows] = family.logcdf(y[rows], m, p, t)
        else:
            assert additions.y2 is not None
            upper = family.logcdf(additions.y2[rows], m, p, t)
            out[..., rows] = log_diff(upper, family.logcdf(y[rows], m, p, t))
    if additions.lb is not None and additions.ub is not None:
        out = out - truncation_norm(family, additions.lb, additions.ub, mu, params, trials)
    if additions.weights is not None:
        out = out * additions.weights
    return np.asarray(out)


def truncation_norm(
    family: Family,
    lb: np.ndarray,
    ub: np.ndarray,
    mu: np.ndarray,
    params: dict[str, np.ndarray],
    trials: np.ndarray | None,
) -> np.ndarray:
    """``log(F(ub) - F(lb'))`` per draw and row (``lb' = lb - 1`` for integer families):
    ``logsf(lb')`` without an upper bound, ``logcdf(ub)`` without a lower one."""
    low = lb - 1.0 if family.discrete else lb
    has_lb, has_ub = np.isfinite(low), np.isfinite(ub)
    upper = family.logcdf(np.where(has_ub, ub, 0.0), mu, params, trials)
    lower = family.logcdf(np.where(has_lb, low, 0.0), mu, params, trials)
    survive = family.logsf(np.where(has_lb, low, 0.0), mu, params, trials)
    both = log_diff(upper, lower)
    return np.asarray(
        np.where(has_lb & has_ub, both, np.where(has_lb, survive, np.where(has_ub, upper, 0.0)))
    )


def draw_truncated(
    family: Family,
    rng: np.random.Generator,
    mu: np.ndarray,
    params: dict[str, np.ndarray],
    trials: np.ndarray | None,
    lb: np.ndarray,
    ub: np.ndarray,
    rounds: int = 1000,
) -> np.ndarray:
    """Draws of :meth:`Family.draw` restricted to ``[lb, ub]`` (broadcast against ``mu``) by
    rejection: the draws outside are drawn again, at most ``rounds`` times (a
    :class:`FamilyError` when the interval is that improbable)."""
    out = family.draw(rng, mu, params, trials)
    bad = (out < lb) | (out > ub)
    for _ in range(rounds):
        if not bad.any():
            return np.asarray(out)
        again = family.draw(rng, mu, params, trials)
        out = np.where(bad, again, out)
        bad = (out < lb) | (out > ub)
    raise FamilyError(
        f"trunc(): {int(bad.sum())} draw(s) still outside [lb, ub] after {rounds} rounds of "
        "rejection (the bounds hold almost none of the distribution's mass)"
    )


def censor(
    y: np.ndarray, codes: np.ndarray, bound: np.ndarray, y2: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated values ``y`` (draws x rows) censored as the data's rows are: a row right
    censored at ``bound_i`` (the data's response) reports ``bound_i`` with code 1 when its draw
    lies above it, a left censored one ``bound_i`` with -1 when the draw is at most
    ``bound_i``, an interval one ``bound_i`` with 2 when the draw lies in ``(bound_i, y2_i]``;
    every other draw is reported as drawn, with code 0 (observed). Returns the values and the
    codes (draws x rows)."""
    with np.errstate(invalid="ignore"):
        right = (codes == 1) & (y > bound)
        left = (codes == -1) & (y <= bound)
        upper = np.full_like(bound, np.nan, dtype=float) if y2 is None else y2
        inside = (codes == 2) & (y > bound) & (y <= upper)
    new = np.where(right, 1, np.where(left, -1, np.where(inside, 2, 0)))
    return np.asarray(np.where(right | left | inside, bound, y)), np.asarray(new)
