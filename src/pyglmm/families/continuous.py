"""The continuous families (brms's names and parameterizations; the first link is the default):

==================  ============================  ==========================================
family              links                         distribution
==================  ============================  ==========================================
gaussian            identity, log                 Normal(mu, sigma)
student             identity, log                 StudentT(nu, mu, sigma)
gamma               log, inverse, identity        Gamma(alpha=shape, beta=shape / mu)
lognormal           identity (on log y)           LogNormal(mu, sigma)
beta                logit, probit, cloglog        Beta(mu * phi, (1 - mu) * phi)
==================  ============================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytensor.tensor as pt
from scipy import special, stats

from ..priors import Prior, prior, r_mad
from .base import Family, _per_draw, _scalar_per_draw
from .registry import register
from .rows import OnLogScale, normal_lcdf
from .scaled import _IdentityScaled, _LogScaled
from .validation import _check


def _per_row(value: np.ndarray) -> bool:
    """Whether a parameter varies by row (draws x rows, a distributional formula's, ``pg.bf``)
    rather than by draw only ((draws,) or a (draws, 1) column)."""
    return bool(value.ndim == 2 and value.shape[1] > 1)


@register
@dataclass(frozen=True)
class Gaussian(_IdentityScaled, Family):
    """``y ~ Normal(mu, sigma)``.

    Default prior of ``sigma``: ``HalfStudentT(3, max(2.5, mad(y)))`` (brms).
    """

    link: str = "identity"
    name: ClassVar[str] = "gaussian"
    links: ClassVar[tuple[str, ...]] = ("identity", "log")
    params: ClassVar[tuple[str, ...]] = ("sigma",)
    positive_params: ClassVar[tuple[str, ...]] = ("sigma",)
    row_level_effects: ClassVar[bool] = False
    residual_sd: ClassVar[str | None] = "sigma"

    @property
    def is_gaussian_identity(self) -> bool:
        """True with the identity link: a linear mixed model."""
        return self.link == "identity"

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"sigma": prior("HalfStudentT", nu=3, sigma=max(2.5, r_mad(y)))}

    pymc_dist: ClassVar[str] = "Normal"
    pymc_args: ClassVar[str] = "mu=mu, sigma=sigma"

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"mu": mu, "sigma": params["sigma"]}

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return rng.normal(mu, _per_draw(params["sigma"], mu))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return np.asarray(stats.norm.logpdf(y, mu, _per_draw(params["sigma"], mu)))

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        return stats.norm(mu, _per_draw(params["sigma"], mu))

    def pymc_logcdf(self, kwargs: dict[str, Any], value: Any, upper: bool = False) -> Any:
        """``log Phi(+-z)``, ``z = (value - mu) / sigma`` (float64 throughout)."""
        z = (value - kwargs["mu"]) / kwargs["sigma"]
        return normal_lcdf(-z if upper else z)

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """``sigma^2``; the mean over the rows of ``sigma_i^2`` when sigma has a formula
        (``pg.bf``: draws x rows)."""
        sigma = np.asarray(params["sigma"])
        if _per_row(sigma):
            return np.asarray(np.mean(sigma**2, axis=1))
        return np.asarray(_scalar_per_draw(sigma) ** 2)


@register
@dataclass(frozen=True)
class Student(_IdentityScaled, Family):
    """``y ~ StudentT(nu, mu, sigma)``.

    Default priors (brms): ``nu ~ Gamma(2, 0.1)`` (mean 20; note brms truncates nu at 1, PyMC
    does not), ``sigma ~ HalfStudentT(3, max(2.5, mad(y)))``.
    """

    link: str = "identity"
    name: ClassVar[str] = "student"
    aliases: ClassVar[tuple[str, ...]] = ("student_t",)
    links: ClassVar[tuple[str, ...]] = ("identity", "log")
    params: ClassVar[tuple[str, ...]] = ("nu", "sigma")
    positive_params: ClassVar[tuple[str, ...]] = ("nu", "sigma")

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {
            "nu": prior("Gamma", alpha=2, beta=0.1),
            "sigma": prior("HalfStudentT", nu=3, sigma=max(2.5, r_mad(y))),
        }

    pymc_dist: ClassVar[str] = "StudentT"
    pymc_args: ClassVar[str] = "nu=nu, mu=mu, sigma=sigma"

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"nu": params["nu"], "mu": mu, "sigma": params["sigma"]}

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        nu = _per_draw(params["nu"], mu)
        sigma = _per_draw(params["sigma"], mu)
        return np.asarray(mu + sigma * rng.standard_t(np.broadcast_to(nu, np.shape(mu))))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        nu = _per_draw(params["nu"], mu)
        sigma = _per_draw(params["sigma"], mu)
        return np.asarray(stats.t.logpdf(y, nu, mu, sigma))

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        return stats.t(_per_draw(params["nu"], mu), mu, _per_draw(params["sigma"], mu))

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """``sigma^2 nu / (nu - 2)`` (its mean over the rows when ``sigma`` or ``nu`` has a
        formula, ``pg.bf``); infinite for ``nu <= 2``, where the draw's residual-based variance
        (``var(y - mu)`` over the rows) is used instead (a draw with any row's ``nu <= 2``)."""
        nu, sigma = np.asarray(params["nu"]), np.asarray(params["sigma"])
        with np.errstate(divide="ignore", invalid="ignore"):
            if _per_row(nu) or _per_row(sigma):
                nu_i = np.broadcast_to(_per_draw(nu, mu), np.shape(mu))
                finite = np.all(nu_i > 2, axis=1)
                model_var = np.mean(_per_draw(sigma, mu) ** 2 * nu_i / (nu_i - 2), axis=1)
            else:
                nu, sigma = _scalar_per_draw(nu), _scalar_per_draw(sigma)
                finite = nu > 2
                model_var = sigma**2 * nu / (nu - 2)
        if np.all(finite):
            return np.asarray(model_var)
        return np.asarray(np.where(finite, model_var, np.var(y - mu, axis=1, ddof=1)))


@register
@dataclass(frozen=True)
class Gamma(_LogScaled, Family):
    """``y ~ Gamma(alpha=shape, beta=shape / mu)``: mean ``mu``, variance ``mu^2 / shape``
    (brms's parameterization).

    Default prior of ``shape``: brms uses ``Gamma(0.01, 0.01)``, nearly flat on the log scale,
    which lets NUTS wander to extreme values when the data say little. We use
    ``InverseGamma(0.4, 0.3)``, brms's current default for the (equally positive, equally
    "larger = less dispersed") negative binomial ``shape``: weakly informative, it keeps the
    shape away from 0 and has a heavy right tail (no upper bound on the shape).
    """

    link: str = "log"
    name: ClassVar[str] = "gamma"
    r_name: ClassVar[str] = "Gamma"
    links: ClassVar[tuple[str, ...]] = ("log", "inverse", "identity")
    params: ClassVar[tuple[str, ...]] = ("shape",)
    positive_params: ClassVar[tuple[str, ...]] = ("shape",)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        super().validate(y, trials)
        _check(self.name, y <= 0, "the response must be positive; values <= 0")

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"shape": prior("InverseGamma", alpha=0.4, beta=0.3)}

    pymc_dist: ClassVar[str] = "Gamma"
    pymc_args: ClassVar[str] = "alpha=shape, beta=shape / mu"

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"alpha": params["shape"], "beta": params["shape"] / mu}

    point_params: ClassVar[tuple[str, ...]] = ("shape",)
    # glmer has no likelihood-based gamma GLMM (its dispersion is a moment estimate), so the
    # point fit follows glmmTMB: maximum likelihood of the shape, exact Laplace
    laplace_information: ClassVar[str] = "observed"

    def variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(mu**2 / float(params["shape"]))

    def variance_derivative(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        return np.asarray(2.0 * mu / float(params["shape"]))

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        shape = _per_draw(params["shape"], mu)
        return np.asarray(rng.gamma(shape, mu / shape))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        alpha = _per_draw(params["shape"], mu)
        beta = alpha / mu
        return np.asarray(
            alpha * np.log(beta) - special.gammaln(alpha) + (alpha - 1) * np.log(y) - beta * y
        )

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        shape = _per_draw(params["shape"], mu)
        return stats.gamma(shape, scale=mu / shape)

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``mu^2 / shape``."""
        return np.asarray(np.mean(mu**2 / _per_draw(params["shape"], mu), axis=1))


@register
@dataclass(frozen=True)
class Lognormal(_IdentityScaled, Family):
    """``y ~ LogNormal(mu, sigma)``: ``mu`` and ``sigma`` are the mean and SD of ``log y``
    (identity link on the log scale).

    Default priors (brms, computed on ``log y``): Intercept
    ``StudentT(3, median(log y), max(2.5, mad(log y)))``, sd ``HalfStudentT(3, same scale)``,
    ``sigma ~ HalfStudentT(3, max(2.5, mad(log y)))``.
    """

    link: str = "identity"
    name: ClassVar[str] = "lognormal"
    links: ClassVar[tuple[str, ...]] = ("identity",)
    params: ClassVar[tuple[str, ...]] = ("sigma",)
    positive_params: ClassVar[tuple[str, ...]] = ("sigma",)

    def _response_scale(self, y: np.ndarray) -> np.ndarray:
        return np.log(y)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        super().validate(y, trials)
        _check(self.name, y <= 0, "the response must be positive; values <= 0")

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"sigma": prior("HalfStudentT", nu=3, sigma=max(2.5, r_mad(np.log(y))))}

    pymc_dist: ClassVar[str] = "LogNormal"
    pymc_args: ClassVar[str] = "mu=mu, sigma=sigma"

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"mu": mu, "sigma": params["sigma"]}

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        return np.asarray(rng.lognormal(mu, _per_draw(params["sigma"], mu)))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        logy = np.log(y)
        return np.asarray(stats.norm.logpdf(logy, mu, _per_draw(params["sigma"], mu)) - logy)

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        """``log y ~ Normal(mu, sigma)``: the normal's cdfs at ``log y``."""
        return OnLogScale(stats.norm(mu, _per_draw(params["sigma"], mu)))

    def pymc_logcdf(self, kwargs: dict[str, Any], value: Any, upper: bool = False) -> Any:
        """``log Phi(+-z)``, ``z = (log value - mu) / sigma``."""
        z = (pt.log(value) - kwargs["mu"]) / kwargs["sigma"]
        return normal_lcdf(-z if upper else z)

    def expected_response(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """``E[y] = exp(mu + sigma^2 / 2)`` (``mu`` is the mean of ``log y``)."""
        s2 = _per_draw(params["sigma"], mu) ** 2
        return np.asarray(np.exp(mu + s2 / 2))

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """On the scale of ``y``: the mean over the rows of ``(exp(sigma^2) - 1) E[y]^2``."""
        s2 = _per_draw(params["sigma"], mu) ** 2
        ey = self.expected_response(mu, params, trials)
        return np.asarray(np.mean((np.exp(s2) - 1) * ey**2, axis=1))


@register
@dataclass(frozen=True)
class Beta(Family):
    """``y ~ Beta(mu * phi, (1 - mu) * phi)`` for ``0 < y < 1``: mean ``mu``, precision ``phi``
    (variance ``mu (1 - mu) / (1 + phi)``).

    Default prior of ``phi``: brms uses ``Gamma(0.01, 0.01)``, nearly flat on the log scale and
    poor for NUTS; we use the weakly informative ``Gamma(2, 0.1)`` (mean 20, 95% in about
    (2.4, 56)), the shape brms gives student's ``nu``.
    """

    link: str = "logit"
    name: ClassVar[str] = "beta"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")
    params: ClassVar[tuple[str, ...]] = ("phi",)
    positive_params: ClassVar[tuple[str, ...]] = ("phi",)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        super().validate(y, trials)
        _check(
            self.name,
            (y <= 0) | (y >= 1),
            "the response must lie strictly between 0 and 1; values outside (0, 1)",
        )

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"phi": prior("Gamma", alpha=2, beta=0.1)}

    pymc_dist: ClassVar[str] = "Beta"
    pymc_args: ClassVar[str] = "alpha=mu * phi, beta=(1 - mu) * phi"

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"alpha": mu * params["phi"], "beta": (1 - mu) * params["phi"]}

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        phi = _per_draw(params["phi"], mu)
        return np.asarray(rng.beta(mu * phi, (1 - mu) * phi))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        phi = _per_draw(params["phi"], mu)
        a, b = mu * phi, (1 - mu) * phi
        return np.asarray(
            (a - 1) * np.log(y)
            + (b - 1) * np.log1p(-y)
            - (special.gammaln(a) + special.gammaln(b) - special.gammaln(a + b))
        )

    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> Any:
        phi = _per_draw(params["phi"], mu)
        return stats.beta(mu * phi, (1 - mu) * phi)

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """The mean over the rows of ``mu (1 - mu) / (1 + phi)``."""
        phi = _per_draw(params["phi"], mu)
        return np.asarray(np.mean(mu * (1 - mu) / (1 + phi), axis=1))
