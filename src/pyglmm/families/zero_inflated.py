"""The zero-inflated families (brms's names and parameterizations; the first link is the
default). ``zi`` is the probability of a structural zero (PyMC's ``psi = 1 - zi``):

=========================  ======================  =============================================
family                     links                   density of y
=========================  ======================  =============================================
zero_inflated_poisson      log, identity, sqrt     zi [y = 0] + (1 - zi) Poisson(y | mu)
zero_inflated_negbinomial  log, identity, sqrt     zi [y = 0] + (1 - zi) NB(y | mu, shape)
zero_inflated_binomial     logit, probit, cloglog  zi [y = 0] + (1 - zi) Binomial(y | trials, mu)
=========================  ======================  =============================================

so ``log p(0) = log(zi + (1 - zi) p_c(0))`` and ``log p(y) = log(1 - zi) + log p_c(y)`` for
``y > 0``, ``p_c`` the count distribution. ``mu`` is the mean of the count part: ``E[y] = (1 -
zi) m`` with ``m`` the count part's mean (``mu``; ``trials mu`` for the binomial) and ``E[y^2] =
(1 - zi) (V_c + m^2)``, ``V_c`` its variance.

Default prior of ``zi``: ``Beta(1, 1)`` (brms's ``beta(1, 1)``); the negative binomial's
``shape`` has the negative binomial family's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..priors import Prior, prior
from .base import Family, _per_draw
from .discrete import Binomial, NegativeBinomial, Poisson, check_binomial_response
from .registry import register
from .rows import ZeroInflatedRows
from .scaled import _LogScaled

# The count parts, used for their densities, draws and variances (their links play no part).
_POISSON = Poisson()
_NEGBIN = NegativeBinomial()
_BINOMIAL = Binomial()


def zero_prior() -> Prior:
    """brms's default for ``zi`` and ``hu``: ``Beta(1, 1)`` (uniform on (0, 1))."""
    return prior("Beta", alpha=1, beta=1)


class _ZeroInflated(Family):
    """A count distribution (``_count``, a family instance) mixed with a point mass at 0 of
    weight ``zi``."""

    _count: ClassVar[Family]
    discrete: ClassVar[bool] = True
    unit_params: ClassVar[tuple[str, ...]] = ("zi",)

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {**self._count.default_priors(y, trials), "zi": zero_prior()}

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"psi": 1 - params["zi"], **self._count.pymc_kwargs(mu, params, trials)}

    def likelihood(
        self, name: str, mu: Any, y: np.ndarray, params: dict[str, Any], trials: Any
    ) -> Any:
        dist = getattr(pm, self.pymc_dist)
        kwargs = self.pymc_kwargs(mu, params, trials)
        return dist(name, **kwargs, observed=np.asarray(y).astype(np.int64), dims="obs")

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        zi = _per_draw(params["zi"], mu)
        counts = self._count.draw(rng, mu, params, trials)
        return np.asarray(np.where(rng.random(np.shape(mu)) < zi, 0, counts))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        zi = _per_draw(params["zi"], mu)
        lp = self._count.loglik(y, mu, params, trials)
        lp0 = self._count.loglik(np.zeros_like(y), mu, params, trials)
        with np.errstate(divide="ignore"):
            log_zi, log_keep = np.log(zi), np.log1p(-zi)
            zero = np.logaddexp(log_zi, log_keep + lp0)
        return np.asarray(np.where(y == 0, zero, log_keep + lp))

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        zi = _per_draw(params["zi"], mu)
        return ZeroInflatedRows(self._count.row_distribution(mu, params, trials), zi)

    def pymc_logcdf(self, kwargs: dict[str, Any], value: Any, upper: bool = False) -> Any:
        """``log P(Y > y) = log(1 - zi) + log S_c(y)`` (0 below 0) and ``log P(Y <= y)`` as
        ``log1mexp`` of it, from the count part's PyMC distribution (brms's lccdf / lcdf)."""
        count = {k: v for k, v in kwargs.items() if k != "psi"}
        tail = pt.log(kwargs["psi"]) + self._count.pymc_logcdf(count, value, upper=True)
        tail = pt.switch(np.asarray(value) < 0, 0.0, tail)
        return tail if upper else pt.log1mexp(tail)

    def predict_mean(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """``(1 - zi) mu``: E[y] (for the binomial, of the proportion ``y / trials``)."""
        return np.asarray((1 - _per_draw(params["zi"], mu)) * mu)

    def expected_response(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """``(1 - zi) m``, ``m`` the count part's mean."""
        keep = 1 - _per_draw(params["zi"], mu)
        return np.asarray(keep * self._count.expected_response(mu, params, trials))

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``(1 - zi) (V_c + m^2) - ((1 - zi) m)^2``."""
        keep = 1 - _per_draw(params["zi"], mu)
        m = self._count.expected_response(mu, params, trials)
        v_c = _count_variance(self._count, mu, params, trials)
        return np.asarray(np.mean(keep * (v_c + m**2) - (keep * m) ** 2, axis=1))


def _count_variance(
    count: Family, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
) -> np.ndarray:
    """``Var[y]`` of a count family, row by row: its ``residual_variance`` on each column."""
    if isinstance(count, Poisson):
        return np.asarray(mu)
    if isinstance(count, NegativeBinomial):
        return np.asarray(mu + mu**2 / _per_draw(params["shape"], mu))
    n = np.asarray(trials, dtype=float)
    return np.asarray(n * mu * (1 - mu))


@register
@dataclass(frozen=True)
class ZeroInflatedPoisson(_LogScaled, _ZeroInflated):
    """``y ~ zi [y = 0] + (1 - zi) Poisson(mu)``; PyMC ``ZeroInflatedPoisson(psi=1 - zi,
    mu)``."""

    link: str = "log"
    name: ClassVar[str] = "zero_inflated_poisson"
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "sqrt")
    params: ClassVar[tuple[str, ...]] = ("zi",)
    _count: ClassVar[Family] = _POISSON
    pymc_dist: ClassVar[str] = "ZeroInflatedPoisson"
    pymc_args: ClassVar[str] = "psi=1 - zi, mu=mu"

    count_response: ClassVar[bool] = True


@register
@dataclass(frozen=True)
class ZeroInflatedNegBinomial(_LogScaled, _ZeroInflated):
    """``y ~ zi [y = 0] + (1 - zi) NB(mu, shape)`` (NB2: variance ``mu + mu^2 / shape``); PyMC
    ``ZeroInflatedNegativeBinomial(psi=1 - zi, mu, alpha=shape)``."""

    link: str = "log"
    name: ClassVar[str] = "zero_inflated_negbinomial"
    aliases: ClassVar[tuple[str, ...]] = ("zero_inflated_negativebinomial",)
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "sqrt")
    params: ClassVar[tuple[str, ...]] = ("shape", "zi")
    positive_params: ClassVar[tuple[str, ...]] = ("shape",)
    _count: ClassVar[Family] = _NEGBIN
    pymc_dist: ClassVar[str] = "ZeroInflatedNegativeBinomial"
    pymc_args: ClassVar[str] = "psi=1 - zi, mu=mu, alpha=shape"

    count_response: ClassVar[bool] = True


@register
@dataclass(frozen=True)
class ZeroInflatedBinomial(_ZeroInflated):
    """``y ~ zi [y = 0] + (1 - zi) Binomial(trials, mu)``; the response is ``s | trials(n)``
    or ``cbind(s, f)``. PyMC ``ZeroInflatedBinomial(psi=1 - zi, n=trials, p=mu)``."""

    link: str = "logit"
    name: ClassVar[str] = "zero_inflated_binomial"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")
    params: ClassVar[tuple[str, ...]] = ("zi",)
    information_factor: ClassVar[int] = 4
    centered_min_kappa: ClassVar[float] = 2.0
    _count: ClassVar[Family] = _BINOMIAL
    pymc_dist: ClassVar[str] = "ZeroInflatedBinomial"
    pymc_args: ClassVar[str] = "psi=1 - zi, n=trials, p=mu"

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        check_binomial_response(self.name, y, trials)
