"""The discrete families (integer responses, ``discrete = True``; brms's names and
parameterizations; the first link is the default):

==================  ============================  ==========================================
family              links                         distribution
==================  ============================  ==========================================
bernoulli           logit, probit, cloglog        Bernoulli(p=mu)
binomial            logit, probit, cloglog        Binomial(n=trials, p=mu)
poisson             log, identity, sqrt           Poisson(mu)
negativebinomial    log, identity, sqrt           NegativeBinomial(mu, alpha=shape) (NB2)
beta_binomial       logit, probit, cloglog        BetaBinomial(trials, mu * phi, (1 - mu) * phi)
==================  ============================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pymc as pm
from scipy import special, stats

from ..errors import FamilyError
from ..priors import Prior, prior
from .base import Family, _per_draw
from .registry import register
from .rows import summed_logcdf
from .scaled import _LogScaled
from .validation import _check, _not_integer


def _need_trials(trials: np.ndarray | None, what: str) -> np.ndarray:
    """``trials``, or :class:`FamilyError` saying which binomial computation lacks them."""
    if trials is None:
        raise FamilyError(
            f"binomial {what}: the number of trials is needed (cbind(s, f) or s | trials(n))"
        )
    return trials


def check_binomial_response(name: str, y: np.ndarray, trials: np.ndarray | None) -> None:
    """The response of a family with a number of trials (binomial, beta_binomial,
    zero_inflated_binomial): trials given, non-negative integers, ``0 <= y <= trials`` integer
    (:class:`~pyglmm.families.base.ResponseError` naming the rows otherwise)."""
    if trials is None:
        raise FamilyError(
            f"family {name!r} needs the number of trials: write the response as "
            "'cbind(successes, failures) ~ ...' or 'successes | trials(n) ~ ...' "
            "(for a 0/1 response use family='bernoulli')"
        )
    trials = np.asarray(trials, dtype=float)
    _check(name, trials < 0, "the number of trials must be non-negative; negatives")
    _check(name, _not_integer(trials), "the number of trials must be an integer; non-integers")
    _check(name, y < 0, "successes must be non-negative; negative values")
    _check(name, _not_integer(y), "successes must be integers; non-integer values")
    _check(name, y > trials, "successes must not exceed the number of trials; excess")


@register
@dataclass(frozen=True)
class Bernoulli(Family):
    """``y ~ Bernoulli(p = mu)`` for ``y`` in {0, 1}. No family parameters."""

    link: str = "logit"
    name: ClassVar[str] = "bernoulli"
    r_name: ClassVar[str] = "binomial"  # glmer fits 0/1 responses with binomial()
    kernel_density: ClassVar[str | None] = "binomial"  # one trial per row
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")
    information_factor: ClassVar[int] = 4
    # bench/geometry.py: for 0/1 outcomes centered wins from kappa ~ 2 (1.7-2.1; between 1 and 3
    # either form is within 2x of the other)
    centered_min_kappa: ClassVar[float] = 2.0

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        if trials is not None:
            raise FamilyError(
                "family 'bernoulli' takes a 0/1 response; for 'cbind(successes, failures) ~' "
                "or 'successes | trials(n) ~' use family='binomial'"
            )
        _check(self.name, (y != 0) & (y != 1), "the response must be 0 or 1; other values")

    pymc_dist: ClassVar[str] = "Bernoulli"
    pymc_args: ClassVar[str] = "p=mu"
    discrete: ClassVar[bool] = True

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"p": mu}

    def variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(mu * (1.0 - mu))

    def variance_derivative(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(1.0 - 2.0 * mu)

    def start_mean(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.asarray((weights * y + 0.5) / (weights + 1.0))

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return np.asarray(rng.binomial(1, mu))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.asarray(np.where(y == 1, np.log(mu), np.log1p(-mu)))

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``mu (1 - mu)``."""
        return np.asarray(np.mean(mu * (1 - mu), axis=1))


@register
@dataclass(frozen=True)
class Binomial(Family):
    """``y ~ Binomial(n = trials, p = mu)``; the response is ``cbind(successes, failures)`` or
    ``successes | trials(n)``. No family parameters."""

    link: str = "logit"
    name: ClassVar[str] = "binomial"
    kernel_density: ClassVar[str | None] = "binomial"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")
    information_factor: ClassVar[int] = 4
    # bench/geometry.py: for 0/1 outcomes centered wins from kappa ~ 2 (1.7-2.1; between 1 and 3
    # either form is within 2x of the other)
    centered_min_kappa: ClassVar[float] = 2.0

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        check_binomial_response(self.name, y, trials)

    pymc_dist: ClassVar[str] = "Binomial"
    pymc_args: ClassVar[str] = "n=trials, p=mu"
    discrete: ClassVar[bool] = True

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"n": np.asarray(trials).astype(np.int64), "p": mu}

    def variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(mu * (1.0 - mu))

    def variance_derivative(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(1.0 - 2.0 * mu)

    def start_mean(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.asarray((weights * y + 0.5) / (weights + 1.0))

    def prior_weights(self, trials: np.ndarray | None, n: int) -> np.ndarray:
        return np.asarray(_need_trials(trials, "weights"), dtype=float)

    def working_response(self, y: np.ndarray, trials: np.ndarray | None) -> np.ndarray:
        n = np.asarray(_need_trials(trials, "proportions"), dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where(n > 0, np.asarray(y, float) / np.where(n > 0, n, 1), 0.0))

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        trials = _need_trials(trials, "draws")
        return np.asarray(rng.binomial(np.asarray(trials).astype(np.int64), mu))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        trials = _need_trials(trials, "log-likelihood")
        n = np.asarray(trials, dtype=float)
        lchoose = special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)
        return np.asarray(lchoose + special.xlogy(y, mu) + special.xlogy(n - y, 1 - mu))

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        return stats.binom(np.asarray(_need_trials(trials, "cdf")).astype(np.int64), mu)

    def expected_response(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """The expected number of successes, ``n mu``."""
        trials = _need_trials(trials, "mean")
        return np.asarray(mu * trials)

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """On the count scale: the mean over the rows of ``n mu (1 - mu)``."""
        trials = _need_trials(trials, "variance")
        return np.asarray(np.mean(trials * mu * (1 - mu), axis=1))


@register
@dataclass(frozen=True)
class Poisson(_LogScaled, Family):
    """``y ~ Poisson(mu)`` for counts. No family parameters."""

    link: str = "log"
    name: ClassVar[str] = "poisson"
    kernel_density: ClassVar[str | None] = "poisson"
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "sqrt")

    count_response: ClassVar[bool] = True

    pymc_dist: ClassVar[str] = "Poisson"
    pymc_args: ClassVar[str] = "mu=mu"
    discrete: ClassVar[bool] = True

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"mu": mu}

    def variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(mu)

    def variance_derivative(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.ones_like(mu)

    def start_mean(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.asarray(y + 0.1)

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return np.asarray(rng.poisson(mu))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return np.asarray(special.xlogy(y, mu) - mu - special.gammaln(y + 1))

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        return stats.poisson(mu)

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``mu``."""
        return np.asarray(np.mean(mu, axis=1))


@register
@dataclass(frozen=True)
class NegativeBinomial(_LogScaled, Family):
    """``y ~ NegativeBinomial(mu, alpha=shape)`` (NB2): variance ``mu + mu^2 / shape``, brms's
    ``negbinomial`` shape.

    Default prior of ``shape``: ``InverseGamma(0.4, 0.3)``, brms's default for this parameter
    since brms 2.x (the older ``Gamma(0.01, 0.01)`` is nearly flat on the log scale and lets
    NUTS drift to huge shapes when the data are close to Poisson).
    """

    link: str = "log"
    name: ClassVar[str] = "negativebinomial"
    r_name: ClassVar[str] = "Negative Binomial"  # glmer.nb's family
    kernel_density: ClassVar[str | None] = "negativebinomial"
    aliases: ClassVar[tuple[str, ...]] = ("negbinomial",)
    links: ClassVar[tuple[str, ...]] = ("log", "identity", "sqrt")
    params: ClassVar[tuple[str, ...]] = ("shape",)
    positive_params: ClassVar[tuple[str, ...]] = ("shape",)

    count_response: ClassVar[bool] = True

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"shape": prior("InverseGamma", alpha=0.4, beta=0.3)}

    pymc_dist: ClassVar[str] = "NegativeBinomial"
    pymc_args: ClassVar[str] = "mu=mu, alpha=shape"
    discrete: ClassVar[bool] = True

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"mu": mu, "alpha": params["shape"]}

    point_params: ClassVar[tuple[str, ...]] = ("shape",)

    def variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(mu + mu**2 / float(params["shape"]))

    def variance_derivative(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(1.0 + 2.0 * mu / float(params["shape"]))

    def start_mean(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.asarray(y + 0.1)

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        shape = _per_draw(params["shape"], mu)
        return np.asarray(rng.negative_binomial(shape, shape / (shape + mu)))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        alpha = _per_draw(params["shape"], mu)
        return np.asarray(
            special.gammaln(y + alpha)
            - special.gammaln(alpha)
            - special.gammaln(y + 1)
            + special.xlogy(y, mu / (mu + alpha))
            + alpha * np.log(alpha / (mu + alpha))
        )

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        shape = _per_draw(params["shape"], mu)
        return stats.nbinom(shape, shape / (shape + mu))

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``mu + mu^2 / shape``."""
        return np.asarray(np.mean(mu + mu**2 / _per_draw(params["shape"], mu), axis=1))


@register
@dataclass(frozen=True)
class BetaBinomial(Family):
    """``y ~ BetaBinomial(n = trials, alpha = mu phi, beta = (1 - mu) phi)`` (brms's
    ``beta_binomial``): the success probability of each row is ``Beta(mu phi, (1 - mu) phi)``,
    so ::

        p(y) = C(n, y) B(y + mu phi, n - y + (1 - mu) phi) / B(mu phi, (1 - mu) phi),

    mean ``n mu``, variance ``n mu (1 - mu) (phi + n) / (phi + 1)``. The response is
    ``s | trials(n)`` or ``cbind(s, f)``.

    Default prior of ``phi``: brms's ``Gamma(0.01, 0.01)``.
    """

    link: str = "logit"
    name: ClassVar[str] = "beta_binomial"
    aliases: ClassVar[tuple[str, ...]] = ("betabinomial",)
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")
    params: ClassVar[tuple[str, ...]] = ("phi",)
    positive_params: ClassVar[tuple[str, ...]] = ("phi",)
    information_factor: ClassVar[int] = 4
    centered_min_kappa: ClassVar[float] = 2.0

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        check_binomial_response(self.name, y, trials)

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"phi": prior("Gamma", alpha=0.01, beta=0.01)}

    pymc_dist: ClassVar[str] = "BetaBinomial"
    pymc_args: ClassVar[str] = "n=trials, alpha=mu * phi, beta=(1 - mu) * phi"
    discrete: ClassVar[bool] = True

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        n = np.asarray(_need_trials(trials, "likelihood")).astype(np.int64)
        return {"n": n, "alpha": mu * params["phi"], "beta": (1 - mu) * params["phi"]}

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        n = np.asarray(_need_trials(trials, "draws")).astype(np.int64)
        phi = _per_draw(params["phi"], mu)
        p = rng.beta(mu * phi, (1 - mu) * phi)
        return np.asarray(rng.binomial(n, p))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        n = np.asarray(_need_trials(trials, "log-likelihood"), dtype=float)
        phi = _per_draw(params["phi"], mu)
        a, b = mu * phi, (1 - mu) * phi
        lchoose = special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)
        return np.asarray(lchoose + special.betaln(y + a, n - y + b) - special.betaln(a, b))

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        n = np.asarray(_need_trials(trials, "cdf")).astype(np.int64)
        phi = _per_draw(params["phi"], mu)
        return stats.betabinom(n, mu * phi, (1 - mu) * phi)

    def pymc_logcdf(self, kwargs: dict[str, Any], value: Any, upper: bool = False) -> Any:
        """The sum of the probabilities of ``0..value`` (``upper``: above ``value``)."""
        dist = pm.BetaBinomial.dist(**kwargs)
        return summed_logcdf(dist, value, int(np.max(kwargs["n"])), upper)

    def expected_response(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """The expected number of successes, ``n mu``."""
        return np.asarray(mu * _need_trials(trials, "mean"))

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``n mu (1 - mu) (phi + n) / (phi + 1)``."""
        n = np.asarray(_need_trials(trials, "variance"), dtype=float)
        phi = _per_draw(params["phi"], mu)
        return np.asarray(np.mean(n * mu * (1 - mu) * (phi + n) / (phi + 1), axis=1))
