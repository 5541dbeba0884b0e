"""Confidence intervals of point fits, as lme4's ``confint.merMod``: Wald, profile and
parametric bootstrap, for any :class:`~pyglmm.lmm.pointfit.PointFit`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..errors import ArgumentError
from .pointfit import PointFit, _select, percent_labels


def wald_confint(fit: PointFit, level: float = 0.95, parm: Any = None) -> pd.DataFrame:
    """lme4's ``confint(method = "Wald")``: ``beta_j +- z SE_j`` for the fixed effects, NaN for
    the variance parameters (lme4 gives NA)."""
    nat = fit.natural_params()
    cols = percent_labels(level)
    z = norm.ppf(1 - (1 - level) / 2)
    out = pd.DataFrame(np.nan, index=nat.index, columns=cols)
    p = len(fit.beta)
    se = np.sqrt(np.diag(np.asarray(fit.vcov(), dtype=float)))
    beta = np.asarray(fit.beta, dtype=float)
    out.iloc[len(nat) - p :, 0] = beta - z * se
    out.iloc[len(nat) - p :, 1] = beta + z * se
    return out.iloc[_select(nat, parm)]


def confint(
    fit: PointFit,
    method: str = "profile",
    level: float = 0.95,
    parm: Any = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """lme4's ``confint.merMod`` for any :class:`PointFit`: ``"profile"`` (likelihood profile,
    :func:`pyglmm.lmm.profile.profile`; keyword arguments go to it), ``"wald"`` (fixed effects
    only) or ``"boot"`` (parametric bootstrap percentile intervals; keyword arguments go to
    :func:`pyglmm.workflow.bootstrap.bootstrap`, e.g. ``n``, ``seed``, ``executor``).

    Returns a DataFrame indexed by natural parameter with columns ``"2.5 %"``, ``"97.5 %"``
    (named from ``level``).
    """
    m = method.lower()
    if m == "wald":
        return wald_confint(fit, level, parm)
    if m == "profile":
        from .profile import profile

        which = _select(fit.natural_params(), parm)
        return profile(fit, which=which, **kwargs).confint(level)
    if m == "boot":
        res = bootstrap(fit, **kwargs)
        return res.confint(level).iloc[_select(fit.natural_params(), parm)]
    raise ArgumentError(f"unknown confint method {method!r}; use 'profile', 'wald' or 'boot'")


def bootstrap(fit: PointFit, **kwargs: Any) -> Any:
    """Facade of :func:`pyglmm.workflow.bootstrap.bootstrap` (the driver runs fits through
    the workflow layer's executors, so it lives there; this lazy import is the one upward
    edge, listed in ``tests/test_layering.py``)."""
    from ..workflow.bootstrap import bootstrap as run

    return run(fit, **kwargs)
