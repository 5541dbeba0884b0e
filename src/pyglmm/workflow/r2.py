"""Bayesian R² (Gelman, Goodrich, Gabry & Vehtari 2019), like brms's ``bayes_R2``.

Per draw s, with ``e_s`` the expected response of every row (``Family.expected_response``) and
``v_s`` the mean residual variance over the rows (``Family.residual_variance``)::

    R2_s = var(e_s) / (var(e_s) + v_s)

so the fraction of the predictive variance explained by the linear predictor (fixed and random
parts); for the gaussian family ``v_s = sigma_s^2``. A parameter with its own formula
(``pg.bf(..., "sigma ~ x")``) enters per row, ``v_s = mean_i sigma_{s,i}^2``.

A multivariate model (``mvbind``, ``bf() + bf()``) has one R² per response, over the rows
where it is observed, from its own predictor, family and parameters (brms's rows ``R2y1``,
``R2y2``); residual correlations do not enter (each response's marginal variance does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UnsupportedModelError
from ..spec import FittedModel


def bayes_r2(fit: FittedModel, summary: bool = True) -> pd.DataFrame | np.ndarray:
    """Bayesian R^2 (Gelman, Goodrich, Gabry & Vehtari 2019), like brms's ``bayes_R2``.

    Per draw s: ``R2_s = var_i(E[y_i | s]) / (var_i(E[y_i | s]) + mean residual variance_s)``,
    with ``E[y | s]`` from :meth:`Family.expected_response` (``mu``; ``n mu`` for binomial,
    ``exp(mu + sigma^2/2)`` for lognormal) and the residual variance from
    :meth:`Family.residual_variance` (each family's variance function, e.g. gaussian
    ``sigma^2``, bernoulli ``mean mu(1-mu)``; residual-based where there is none). Random
    effects are included. Returns a one-row DataFrame (index ``R2``; Estimate, Est.Error,
    Q2.5, Q97.5) or, with ``summary=False``, the draws.
    """
    from ..posterior import family_params

    family, design = fit.family, fit.design
    if design.mv is not None:
        return _mv_r2(fit, summary)
    if design.additions is not None and design.additions.changes_likelihood:
        raise UnsupportedModelError(
            f"Bayesian R2 of a model with {design.additions.describe()} is not defined here "
            "(the residual variance of censored, truncated, weighted or known-SE rows)"
        )
    # mu, not predict(kind="mean"): that is already E[y] for the zero-inflated and hurdle
    mu = family.linkinv_np(np.asarray(fit.predict(kind="link", summary=False)))  # S x n
    # each (S,), or (S, n) for a parameter with a formula (pg.bf)
    p = family_params(design, family, fit.posterior)
    ey = family.expected_response(mu, p, design.trials)
    res_var = family.residual_variance(mu, p, design.trials, design.y)
    var_fit = np.var(ey, axis=1, ddof=1)
    r2 = var_fit / (var_fit + res_var)
    return _table(r2[:, None], ["R2"]) if summary else r2


def _mv_r2(fit: FittedModel, summary: bool) -> pd.DataFrame | np.ndarray:
    """R² per response of a multivariate model (module docstring): draws x responses, or one
    row per response (``R2y1``, ...)."""
    from ..posterior_mv import resp_params

    mv = fit.design.mv
    assert mv is not None
    out = []
    for k, resp in enumerate(mv.responses):
        family, rows, trials = mv.families[k], mv.observed(k), mv.trials[k]
        trials = None if trials is None else trials[rows]
        mu = np.asarray(fit.predict(kind="mean", summary=False, resp=resp))[:, rows]
        p = resp_params(fit.design, fit.posterior, k)
        ey = family.expected_response(mu, p, trials)
        res_var = family.residual_variance(mu, p, trials, mv.Y[rows, k])
        var_fit = np.var(ey, axis=1, ddof=1)
        out.append(var_fit / (var_fit + res_var))
    r2 = np.column_stack(out)
    return _table(r2, [f"R2{r}" for r in mv.responses]) if summary else r2


def _table(r2: np.ndarray, index: list[str]) -> pd.DataFrame:
    """Estimate, Est.Error, Q2.5, Q97.5 of each column of ``r2`` (draws x columns)."""
    q = np.quantile(r2, [0.025, 0.975], axis=0)
    return pd.DataFrame(
        {"Estimate": r2.mean(0), "Est.Error": r2.std(0, ddof=1), "Q2.5": q[0], "Q97.5": q[1]},
        index=pd.Index(index),
    )
