"""The hurdle families (brms's names and parameterizations; the first link is the default).
``hu`` is the probability of a zero (PyMC's ``psi = 1 - hu``); the positive values follow the
distribution ``p_c`` truncated to ``y > 0``:

===================  ====================  ====================================================
family               links                 density of y > 0 (``p(0) = hu``)
===================  ====================  ====================================================
hurdle_poisson       log, identity, sqrt   (1 - hu) Poisson(y | mu) / (1 - exp(-mu))
hurdle_negbinomial   log, identity, sqrt   (1 - hu) NB(y | mu, shape) / (1 - NB(0 | mu, shape))
hurdle_lognormal     identity (on log y)   (1 - hu) LogNormal(y | mu, sigma)
===================  ====================  ====================================================

``mu`` is the mean of the untruncated distribution: with ``m`` and ``V_c`` its mean and
variance and ``p_0 = p_c(0)`` (0 for the lognormal), ``E[y] = (1 - hu) m / (1 - p_0)`` and
``E[y^2] = (1 - hu) (V_c + m^2) / (1 - p_0)``.

Default prior of ``hu``: ``Beta(1, 1)`` (brms's ``beta(1, 1)``); ``shape`` and ``sigma`` have
the defaults of the negative binomial and the lognormal (``sigma`` and the Intercept scaled to
``log y`` of the positive responses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import stats

from ..priors import Prior, prior, r_mad
from .base import Family, _per_draw
from .continuous import Lognormal
from .discrete import NegativeBinomial, Poisson
from .registry import register
from .rows import HurdleRows, log1mexp
from .scaled import _IdentityScaled, _LogScaled
from .validation import _check
from .zero_inflated import _count_variance, zero_prior

_POISSON = Poisson()
_NEGBIN = NegativeBinomial()
# rejection rounds for zero-truncated draws before the rest is drawn by inversion
_REJECTION_ROUNDS = 20


class _Hurdle(Family):
    """A point mass ``hu`` at 0 and, with weight ``1 - hu``, ``p_c`` truncated to ``y > 0``:
    ``log p(y) = log(1 - hu) + log p_c(y) - log(1 - p_c(0))`` for ``y > 0``."""

    _base: ClassVar[Family]
    unit_params: ClassVar[tuple[str, ...]] = ("hu",)

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {**self._base.default_priors(y, trials), "hu": zero_prior()}

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"psi": 1 - params["hu"], **self._base.pymc_kwargs(mu, params, trials)}

    def likelihood(
        self, name: str, mu: Any, y: np.ndarray, params: dict[str, Any], trials: Any
    ) -> Any:
        observed = np.asarray(y).astype(np.int64) if self.discrete else np.asarray(y, float)
        dist = getattr(pm, self.pymc_dist)
        return dist(name, **self.pymc_kwargs(mu, params, trials), observed=observed, dims="obs")

    def _log_p0(self, mu: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        """``log p_c(0)`` of the untruncated distribution."""
        return self._base.loglik(np.zeros(np.shape(mu)[-1]), mu, params, None)

    def _positive_draw(
        self, rng: np.random.Generator, mu: np.ndarray, params: dict[str, np.ndarray]
    ) -> np.ndarray:
        """Draws of ``p_c`` truncated to ``y > 0`` (rejection, then inversion of the rest)."""
        x = np.asarray(self._base.draw(rng, mu, params, None))
        for _ in range(_REJECTION_ROUNDS):
            zero = x == 0
            if not zero.any():
                return x
            x = np.where(zero, self._base.draw(rng, mu, params, None), x)
        zero = x == 0
        if zero.any():
            p0 = np.broadcast_to(np.exp(self._log_p0(mu, params)), np.shape(mu))
            u = p0 + rng.random(np.shape(mu)) * (1 - p0)
            x = np.where(zero, np.maximum(self._ppf(u, mu, params), 1), x)
        return x

    def _ppf(self, u: np.ndarray, mu: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        hu = _per_draw(params["hu"], mu)
        positive = self._positive_draw(rng, mu, params)
        return np.asarray(np.where(rng.random(np.shape(mu)) < hu, 0, positive))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        hu = _per_draw(params["hu"], mu)
        safe_y = np.where(y > 0, y, 1)  # the positive part at y = 0 is not used
        lp = self._base.loglik(safe_y, mu, params, None) - log1mexp(self._log_p0(mu, params))
        with np.errstate(divide="ignore"):
            return np.asarray(np.where(y == 0, np.log(hu), np.log1p(-hu) + lp))

    def _moments(
        self, mu: np.ndarray, params: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``E[y]`` and ``E[y^2]`` (draws x n)."""
        keep = 1 - _per_draw(params["hu"], mu)
        m = self._base.expected_response(mu, params, None)
        second = _count_variance(self._base, mu, params, None) + m**2
        positive = -np.expm1(self._log_p0(mu, params))
        return np.asarray(keep * m / positive), np.asarray(keep * second / positive)

    def expected_response(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """``(1 - hu) m / (1 - p_0)``."""
        return self._moments(mu, params)[0]

    def predict_mean(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """E[y], ``(1 - hu) m / (1 - p_0)`` (:meth:`expected_response`)."""
        return self._moments(mu, params)[0]

    def pymc_logcdf(self, kwargs: dict[str, Any], value: Any, upper: bool = False) -> Any:
        """``log P(Y > y) = log(1 - hu) + log S_c(y) - log S_c(0)`` for ``y > 0`` (``log(1 -
        hu)`` at 0, 0 below), and ``log P(Y <= y)`` as ``log1mexp`` of it, from the base
        distribution's PyMC cdfs (PyMC's own logcdf of a hurdle builds slowly)."""
        value = np.asarray(value)
        base = {k: v for k, v in kwargs.items() if k != "psi"}
        positive = value > 0
        at = np.where(positive, value, 1).astype(value.dtype)  # a safe point where unused
        tail = self._base.pymc_logcdf(base, at, upper=True)
        if self.discrete:  # S_c(0) < 1; the lognormal's positive part has S_c(0) = 1
            tail = tail - self._base.pymc_logcdf(base, np.zeros_like(at), upper=True)
        tail = pt.log(kwargs["psi"]) + pt.switch(positive, tail, 0.0)
        tail = pt.switch(value < 0, 0.0, tail)
        return tail if upper else pt.log1mexp(tail)

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        hu = _per_draw(params["hu"], mu)
        return HurdleRows(self._base.row_distribution(mu, params, None), hu)

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``E[y^2] - E[y]^2``."""
        first, second = self._moments(mu, params)
        return np.asarray(np.mean(second - first**2, axis=1))


@register
@dataclass(frozen=True)
class HurdlePoisson(_LogScaled, _Hurdle):
    """``p(0) = hu``, ``p(y) = (1 - hu) Poisson(y | mu) / (1 - exp(-mu))`` for ``y > 0``; PyMC
    ``HurdlePoisson(psi=1 - hu, mu)``."""

    link: str = "log"
    name: ClassVar[str] = "hurdle_poisson"
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "sqrt")
    params: ClassVar[tuple[str, ...]] = ("hu",)
    discrete: ClassVar[bool] = True
    _base: ClassVar[Family] = _POISSON
    pymc_dist: ClassVar[str] = "HurdlePoisson"
    pymc_args: ClassVar[str] = "psi=1 - hu, mu=mu"

    count_response: ClassVar[bool] = True

    def _ppf(self, u: np.ndarray, mu: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(stats.poisson.ppf(u, mu))


@register
@dataclass(frozen=True)
class HurdleNegBinomial(_LogScaled, _Hurdle):
    """``p(0) = hu``, ``p(y) = (1 - hu) NB(y | mu, shape) / (1 - (shape / (mu + shape))^shape)``
    for ``y > 0``; PyMC ``HurdleNegativeBinomial(psi=1 - hu, mu, alpha=shape)``."""

    link: str = "log"
    name: ClassVar[str] = "hurdle_negbinomial"
    aliases: ClassVar[tuple[str, ...]] = ("hurdle_negativebinomial",)
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "sqrt")
    params: ClassVar[tuple[str, ...]] = ("shape", "hu")
    positive_params: ClassVar[tuple[str, ...]] = ("shape",)
    discrete: ClassVar[bool] = True
    _base: ClassVar[Family] = _NEGBIN
    pymc_dist: ClassVar[str] = "HurdleNegativeBinomial"
    pymc_args: ClassVar[str] = "psi=1 - hu, mu=mu, alpha=shape"

    count_response: ClassVar[bool] = True

    def _ppf(self, u: np.ndarray, mu: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        shape = _per_draw(params["shape"], mu)
        return np.asarray(stats.nbinom.ppf(u, shape, shape / (shape + mu)))


@register
@dataclass(frozen=True)
class HurdleLognormal(_IdentityScaled, _Hurdle):
    """``p(0) = hu``, density ``(1 - hu) LogNormal(y | mu, sigma)`` for ``y > 0`` (``mu``,
    ``sigma`` the mean and SD of ``log y``); PyMC ``HurdleLogNormal(psi=1 - hu, mu, sigma)``.

    Default priors: brms's lognormal ones computed on ``log y`` of the positive responses
    (Intercept ``StudentT(3, median, max(2.5, mad))``, ``sigma ~ HalfStudentT(3, same
    scale)``), ``hu ~ Beta(1, 1)``.
    """

    link: str = "identity"
    name: ClassVar[str] = "hurdle_lognormal"
    links: ClassVar[tuple[str, ...]] = ("identity",)
    params: ClassVar[tuple[str, ...]] = ("sigma", "hu")
    positive_params: ClassVar[tuple[str, ...]] = ("sigma",)
    _base: ClassVar[Family] = Lognormal()  # its cdfs (cens, trunc)
    pymc_dist: ClassVar[str] = "HurdleLogNormal"
    pymc_args: ClassVar[str] = "psi=1 - hu, mu=mu, sigma=sigma"

    def _response_scale(self, y: np.ndarray) -> np.ndarray:
        positive = np.asarray(y, dtype=float)[np.asarray(y) > 0]
        return np.log(positive) if positive.size else np.zeros(1)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        Family.validate(self, y, trials)
        _check(self.name, y < 0, "the response must be non-negative; negative values")

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        scale = max(2.5, r_mad(self._response_scale(y)))
        return {"sigma": prior("HalfStudentT", nu=3, sigma=scale), "hu": zero_prior()}

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"psi": 1 - params["hu"], "mu": mu, "sigma": params["sigma"]}

    def _log_p0(self, mu: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        return np.full(np.shape(mu), -np.inf)

    def _positive_draw(
        self, rng: np.random.Generator, mu: np.ndarray, params: dict[str, np.ndarray]
    ) -> np.ndarray:
        return np.asarray(rng.lognormal(mu, _per_draw(params["sigma"], mu)))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        hu, sigma = _per_draw(params["hu"], mu), _per_draw(params["sigma"], mu)
        logy = np.log(np.where(y > 0, y, 1.0))
        lp = stats.norm.logpdf(logy, mu, sigma) - logy
        with np.errstate(divide="ignore"):
            return np.asarray(np.where(y == 0, np.log(hu), np.log1p(-hu) + lp))

    def _moments(
        self, mu: np.ndarray, params: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        keep = 1 - _per_draw(params["hu"], mu)
        s2 = _per_draw(params["sigma"], mu) ** 2
        return np.asarray(keep * np.exp(mu + s2 / 2)), np.asarray(keep * np.exp(2 * mu + 2 * s2))
