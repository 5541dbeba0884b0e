"""Positive continuous families for times (brms's names and parameterizations, log link on the
mean; the first link is the default):

===========  =======================  =========================================================
family       links                    distribution
===========  =======================  =========================================================
weibull      log, identity, inverse   Weibull(alpha=shape, beta=mu / Gamma(1 + 1 / shape))
exponential  log, identity, inverse   Exponential(lam=1 / mu)
===========  =======================  =========================================================

Weibull: with ``k = shape`` and scale ``s = mu / Gamma(1 + 1/k)`` (so that ``E[y] = mu``) ::

    f(y) = (k / s) (y / s)^(k - 1) exp(-(y / s)^k),   Var[y] = s^2 Gamma(1 + 2/k) - mu^2.

Exponential: ``f(y) = exp(-y / mu) / mu``, mean ``mu``, variance ``mu^2``.

Default prior of the Weibull's ``shape``: brms's ``Gamma(0.01, 0.01)``. The Intercept prior is
brms's data-scaled one on the link scale (as for gamma).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytensor.tensor as pt
from scipy import special, stats

from ..priors import Prior, prior
from .base import Family, _per_draw
from .registry import register
from .scaled import _LogScaled
from .validation import _check


def weibull_scale(mu: Any, shape: Any) -> Any:
    """The Weibull scale ``s = mu / Gamma(1 + 1 / shape)`` of mean ``mu`` (numpy)."""
    return mu / np.exp(special.gammaln(1 + 1 / shape))


@register
@dataclass(frozen=True)
class Weibull(_LogScaled, Family):
    """``y ~ Weibull(shape, scale = mu / Gamma(1 + 1 / shape))`` for ``y > 0`` (brms's
    ``weibull``: ``mu`` is the mean); PyMC ``Weibull(alpha=shape, beta=scale)``."""

    link: str = "log"
    name: ClassVar[str] = "weibull"
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "inverse")
    params: ClassVar[tuple[str, ...]] = ("shape",)
    positive_params: ClassVar[tuple[str, ...]] = ("shape",)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        super().validate(y, trials)
        _check(self.name, y <= 0, "the response must be positive; values <= 0")

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"shape": prior("Gamma", alpha=0.01, beta=0.01)}

    pymc_dist: ClassVar[str] = "Weibull"
    pymc_args: ClassVar[str] = "alpha=shape, beta=mu / pm.math.exp(pm.math.gammaln(1 + 1 / shape))"

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        shape = params["shape"]
        return {"alpha": shape, "beta": mu / pt.exp(pt.gammaln(1 + 1 / shape))}

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        shape = _per_draw(params["shape"], mu)
        scale = weibull_scale(mu, shape)
        return np.asarray(scale * rng.weibull(np.broadcast_to(shape, np.shape(mu))))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        k = _per_draw(params["shape"], mu)
        log_s = np.log(mu) - special.gammaln(1 + 1 / k)
        z = np.log(y) - log_s
        return np.asarray(np.log(k) - log_s + (k - 1) * z - np.exp(k * z))

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        """``P(Y > y) = exp(-(y / s)^k)``."""
        k = _per_draw(params["shape"], mu)
        return stats.weibull_min(k, scale=weibull_scale(mu, k))

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``s^2 Gamma(1 + 2 / k) - mu^2``."""
        k = _per_draw(params["shape"], mu)
        ratio = np.exp(special.gammaln(1 + 2 / k) - 2 * special.gammaln(1 + 1 / k))
        return np.asarray(np.mean(mu**2 * (ratio - 1), axis=1))


@register
@dataclass(frozen=True)
class Exponential(_LogScaled, Family):
    """``y ~ Exponential(rate = 1 / mu)`` for ``y > 0`` (brms's ``exponential``); PyMC
    ``Exponential(lam=1 / mu)``. No family parameters."""

    link: str = "log"
    name: ClassVar[str] = "exponential"
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "inverse")

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        super().validate(y, trials)
        _check(self.name, y <= 0, "the response must be positive; values <= 0")

    pymc_dist: ClassVar[str] = "Exponential"
    pymc_args: ClassVar[str] = "lam=1 / mu"

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"lam": 1 / mu}

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return np.asarray(rng.exponential(mu))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return np.asarray(-np.log(mu) - y / mu)

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        """``P(Y > y) = exp(-y / mu)``."""
        return stats.expon(scale=mu)

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``mu^2``."""
        return np.asarray(np.mean(mu**2, axis=1))
