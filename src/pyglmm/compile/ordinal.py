"""The thresholds of an ordinal model (``cumulative``, :mod:`pyglmm.families.ordinal`) in PyMC.

As brms's Stan code, the thresholds are sampled on centred predictors and reported shifted
back::

    Intercept   ~ prior, ordered (K - 1,)         (dims "thres"; centred thresholds)
    b_Intercept = Intercept + xbar . b            (reported: P(y <= k) = F(b_Intercept[k] - eta))

with ``eta = X b + Z r`` (no intercept column) and ``xbar`` the column means of ``X``, so
``b_Intercept[k] - eta = Intercept[k] - (X - xbar) b - Z r``: the sampled thresholds are
nearly uncorrelated with the slopes. The ordering is PyMC's ``ordered`` transform; the start
is the empirical cumulative proportions on the link scale (increasing, as the transform needs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names as _names
from ..design import Design
from ..errors import PriorError
from ..families import Family
from ..priors import PriorSet
from .listing import _Code, _kw


def threshold_coords(design: Design) -> dict[str, list[str]]:
    """The ``thres`` dim's coordinates, ``"1"``..``"K-1"`` (none without categories)."""
    n = len(design.categories) - 1
    return {_names.THRESHOLD_DIM: [str(k) for k in range(1, n + 1)]} if n > 0 else {}


def start_thresholds(design: Design, family: Family) -> np.ndarray:
    """Increasing starting thresholds: ``F^-1`` of the cumulative proportions of the
    categories (with half a count added to each, so none is 0 or 1)."""
    n_cat = len(design.categories)
    counts = np.bincount(np.asarray(design.y, dtype=np.int64) - 1, minlength=n_cat) + 0.5
    cum = np.cumsum(counts)[:-1] / counts.sum()
    return np.asarray(family.linkfun_np(cum), dtype=float)


def add_thresholds(design: Design, priors: PriorSet, family: Family, b: Any, code: _Code) -> Any:
    """Add ``Intercept`` (centred, ordered) and ``b_Intercept`` (reported) to the current PyMC
    model (module docstring) and return ``b_Intercept``; ``b``: the slopes (None without)."""
    dim, name = _names.THRESHOLD_DIM, _names.THRESHOLDS
    dists = {p.dist for p in priors.thresholds}
    if len(dists) != 1 or len({tuple(sorted(p.params)) for p in priors.thresholds}) != 1:
        raise PriorError(
            "the thresholds (class 'Intercept') of an ordinal model form one ordered vector: "
            f"give them priors of one distribution (got {sorted(dists)})"
        )
    params = {
        k: np.array([p.params[k] for p in priors.thresholds]) for k in priors.thresholds[0].params
    }
    dist = priors.thresholds[0].dist
    code(
        f"Intercept = pm.{dist}('Intercept', {_kw(params)}, dims={dim!r}, "
        "transform=ordered)  # thresholds on centred predictors"
    )
    centred = getattr(pm, dist)(
        "Intercept",
        dims=dim,
        transform=pm.distributions.transforms.ordered,
        initval=start_thresholds(design, family),
        **params,
    )
    X = np.asarray(design.X, dtype=float)
    if b is None or not X.shape[1]:
        code(f"{name} = pm.Deterministic({name!r}, Intercept, dims={dim!r})")
        return pm.Deterministic(name, centred, dims=dim)
    xbar = X.mean(axis=0)
    code(
        f"{name} = pm.Deterministic({name!r}, Intercept + xbar @ b, dims={dim!r})"
        f"  # xbar = {_kw({'': xbar})[1:]}"
    )
    return pm.Deterministic(name, centred + pt.dot(xbar, b), dims=dim)
