"""The row distributions behind cens() and trunc(): what :meth:`Family.row_distribution`
returns (numpy, ``loo``'s values) and the PyMC log cdfs :meth:`Family.pymc_logcdf` needs
beyond PyMC's own.

A row distribution is any object with scipy's ``logcdf(y)`` (``log P(Y <= y)``) and
``logsf(y)`` (``log P(Y > y)``) broadcasting against the means (draws x rows): a frozen scipy
distribution for most families, and here

* :class:`OnLogScale`: ``y`` whose log follows a distribution (lognormal: ``F(log y)``);
* :class:`ZeroInflatedRows`: ``zi [y = 0] + (1 - zi) p_c(y)``, so for ``y >= 0`` ::

      P(Y > y) = (1 - zi) S_c(y),     P(Y <= y) = 1 - P(Y > y)

  (brms's ``zero_inflated_*_lccdf``, and its ``lcdf`` as ``log1m_exp`` of it);
* :class:`HurdleRows`: ``hu`` at 0 and ``(1 - hu)`` times ``p_c`` truncated to ``y > 0``,
  so for ``y >= 0`` ::

      P(Y > y) = (1 - hu) S_c(y) / S_c(0)

  (``S_c(0) = 1`` for the lognormal's positive part).

Both mixtures have ``P(Y > y) = 1`` below 0 (a count's ``trunc(lb = 0)`` asks ``P(Y > -1)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pymc as pm
import pytensor.tensor as pt


class RowDistribution(Protocol):
    """What :meth:`Family.row_distribution` returns: scipy's ``logcdf`` and ``logsf``."""

    def logcdf(self, y: Any) -> Any: ...

    def logsf(self, y: Any) -> Any: ...


def log1mexp(a: np.ndarray) -> np.ndarray:
    """``log(1 - exp(a))`` for ``a <= 0``, accurate on both sides of ``-log 2`` (Maechler)."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(a > -np.log(2.0), np.log(-np.expm1(a)), np.log1p(-np.exp(a))))


@dataclass(frozen=True)
class OnLogScale:
    """The distribution of ``y`` whose ``log y`` follows ``inner`` (a bound of 0: log 0 =
    -inf, so ``P(Y <= 0) = 0``)."""

    inner: Any

    def logcdf(self, y: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.asarray(self.inner.logcdf(np.log(y)))

    def logsf(self, y: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.asarray(self.inner.logsf(np.log(y)))


@dataclass(frozen=True)
class ZeroInflatedRows:
    """``zi [y = 0] + (1 - zi) p_c``, ``count`` the row distribution of ``p_c``."""

    count: Any
    zi: np.ndarray

    def logsf(self, y: Any) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        with np.errstate(divide="ignore"):
            tail = np.log1p(-self.zi) + self.count.logsf(y)
        return np.asarray(np.where(y < 0, 0.0, tail))

    def logcdf(self, y: Any) -> np.ndarray:
        return log1mexp(self.logsf(y))


@dataclass(frozen=True)
class HurdleRows:
    """``hu`` at 0 and ``(1 - hu) p_c(y) / S_c(0)`` for ``y > 0``, ``base`` the row
    distribution of the untruncated ``p_c``."""

    base: Any
    hu: np.ndarray

    def logsf(self, y: Any) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        with np.errstate(divide="ignore"):
            tail = np.log1p(-self.hu) + self.base.logsf(y) - self.base.logsf(np.zeros_like(y))
        return np.asarray(np.where(y < 0, 0.0, tail))

    def logcdf(self, y: Any) -> np.ndarray:
        return log1mexp(self.logsf(y))


# --- the PyMC side ----------------------------------------------------------------------
_SQRT2 = np.sqrt(np.float64(2.0))


def normal_lcdf(z: Any) -> Any:
    """``log Phi(z)`` in pytensor (PyMC's ``normal_lcdf`` with a float64 ``sqrt(2)``: PyMC's
    own is float32 there, relative errors near 1e-8)."""
    return pt.switch(
        pt.lt(z, -1.0),
        pt.log(pt.erfcx(-z / _SQRT2) / 2.0) - pt.sqr(z) / 2.0,
        pt.log1p(-pt.erfc(z / _SQRT2) / 2.0),
    )


def summed_logcdf(dist: Any, value: np.ndarray, top: int, upper: bool) -> Any:
    """``log P(Y <= value)`` (``upper``: ``log P(Y > value)``) of a distribution on
    ``0..top`` by summing its probabilities (PyMC's ``BetaBinomial.logcdf`` takes scalars
    only): ``logsumexp`` over ``k`` of ``logp(k)`` with ``k <= value`` (``k > value``)."""
    k = np.arange(top + 1)[:, None]
    keep = k > value if upper else k <= value
    logp = pm.logp(dist, np.broadcast_to(k, (top + 1, np.size(value))))
    terms = pt.switch(keep, logp, -np.inf)
    return pm.math.logsumexp(terms, axis=0, keepdims=False)
