"""Response families: link, extra distributional parameters, likelihood and default priors.

A :class:`Family` maps the linear predictor ``eta`` to the mean ``mu = linkinv(eta)`` and
defines the observation distribution ``y ~ D(mu, theta)``, where ``theta`` are the family's own
parameters (``sigma`` for gaussian). To add a family: subclass :class:`Family`, implement
:meth:`Family.likelihood` (PyMC), :meth:`Family.likelihood_code`, :meth:`Family.draw` and
:meth:`Family.loglik` (numpy; ``loglik`` must equal PyMC's logp), :meth:`Family.validate` and
the default priors of its parameters, then register it in ``FAMILIES``.

Families (brms's names and parameterizations; the first link is the default):

==================  ============================  ==========================================
family              links                         distribution
==================  ============================  ==========================================
gaussian            identity, log                 Normal(mu, sigma)
student             identity, log                 StudentT(nu, mu, sigma)
bernoulli           logit, probit, cloglog        Bernoulli(p=mu)
binomial            logit, probit, cloglog        Binomial(n=trials, p=mu)
poisson             log                           Poisson(mu)
negativebinomial    log                           NegativeBinomial(mu, alpha=shape) (NB2)
gamma               log                           Gamma(alpha=shape, beta=shape / mu)
lognormal           identity (on log y)           LogNormal(mu, sigma)
beta                logit, probit, cloglog        Beta(mu * phi, (1 - mu) * phi)
==================  ============================  ==========================================

Default priors follow brms: with an identity link the Intercept prior is
``StudentT(3, median(y), max(2.5, mad(y)))`` (``log y`` for lognormal) and the sd priors use the
same scale; with any other link, ``StudentT(3, 0, 2.5)`` and ``HalfStudentT(3, 2.5)``. The
family parameters' priors are documented in each class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import special, stats

from .errors import FamilyError
from .priors import Prior, prior, r_mad


def _probit_inv_pt(eta: Any) -> Any:
    # not pm.math.invprobit: its sqrt(2.0) is evaluated in float32 (errors ~1e-9 in mu)
    return 0.5 * pt.erfc(-eta / np.sqrt(np.float64(2.0)))


def _cloglog_inv_pt(eta: Any) -> Any:
    return -pt.expm1(-pt.exp(eta))


def _cloglog_inv_np(eta: np.ndarray) -> np.ndarray:
    return np.asarray(-np.expm1(-np.exp(eta)))


# link name -> (inverse link in pytensor, inverse link in numpy)
LINKS: dict[str, tuple[Any, Any]] = {
    "identity": (lambda e: e, lambda e: e),
    "log": (pt.exp, np.exp),
    "logit": (pm.math.invlogit, special.expit),
    "probit": (_probit_inv_pt, special.ndtr),  # standard normal CDF
    "cloglog": (_cloglog_inv_pt, _cloglog_inv_np),  # 1 - exp(-exp(eta))
}


@dataclass(frozen=True)
class Family:
    """Base class. ``link`` must be one of the subclass's ``links``."""

    link: str
    name: ClassVar[str] = ""
    links: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[tuple[str, ...]] = ()
    # whether a grouping factor with one level per row is identified: for most families it is
    # the usual observation-level (overdispersion) effect; beside a gaussian residual it is not
    # (lme4: "number of levels of each grouping factor must be < number of observations")
    row_level_effects: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.link not in self.links:
            raise FamilyError(
                f"link {self.link!r} is not available for family {self.name!r}; "
                f"choose one of {list(self.links)}"
            )

    def __str__(self) -> str:
        return self.name

    @property
    def links_text(self) -> str:
        """The 'Links:' line of the summary, e.g. ``mu = identity; sigma = identity``."""
        return "; ".join([f"mu = {self.link}"] + [f"{p} = identity" for p in self.params])

    def linkinv(self, eta: Any) -> Any:
        """Inverse link on a pytensor tensor."""
        return LINKS[self.link][0](eta)

    def linkinv_np(self, eta: np.ndarray) -> np.ndarray:
        """Inverse link on a numpy array."""
        return np.asarray(LINKS[self.link][1](eta))

    # --- data-scaled defaults (brms rules) ---------------------------------------------
    def default_center(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        """Location of the default Intercept prior."""
        return 0.0

    def default_scale(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        """Scale of the default Intercept, sd and family-parameter priors (2.5 on link scale)."""
        return 2.5

    def slope_scale(self, y: np.ndarray) -> float:
        """Outcome scale used by the default ``b`` prior (1 on a non-identity link)."""
        return 1.0

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {}

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        """Raise ValueError if ``y`` is not valid for this family.

        The base rule: only the binomial family takes a number of trials.
        """
        if trials is not None:
            raise FamilyError(
                f"family {self.name!r} does not use a number of trials: the responses "
                "'cbind(successes, failures) ~' and 'successes | trials(n) ~' are for "
                "family='binomial'"
            )

    # --- model pieces ------------------------------------------------------------------
    # The observation distribution, declared once per family: its PyMC name, its arguments as
    # code text (for ``Model.code()``) and as tensors (``pymc_kwargs``).
    pymc_dist: ClassVar[str] = ""
    pymc_args: ClassVar[str] = ""
    discrete: ClassVar[bool] = False

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        """Arguments of ``pymc_dist`` given the mean ``mu`` and the family parameters."""
        raise NotImplementedError

    def likelihood(
        self, name: str, mu: Any, y: np.ndarray, params: dict[str, Any], trials: Any
    ) -> Any:
        """Register the observed variable ``name`` in the current PyMC model."""
        observed = np.asarray(y).astype(np.int64) if self.discrete else y
        dist = getattr(pm, self.pymc_dist)
        return dist(name, **self.pymc_kwargs(mu, params, trials), observed=observed, dims="obs")

    def likelihood_code(self, name: str) -> str:
        return f"pm.{self.pymc_dist}({name!r}, {self.pymc_args}, observed=y, dims='obs')"

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        """Posterior-predictive draws given means ``mu`` (draws x n) and parameter draws."""
        raise NotImplementedError

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        """Pointwise log density of ``y`` (n,) given ``mu`` (draws x n) and parameter draws
        (each of shape (draws,))."""
        raise NotImplementedError


# --- validation helpers ------------------------------------------------------------------
def _check(family: str, bad: np.ndarray, condition: str) -> None:
    """Raise ValueError naming ``condition``, the number of offending rows and the first
    positions (0-based, among the rows the model uses) when ``bad`` has any True."""
    rows = np.flatnonzero(bad)
    if rows.size:
        first = ", ".join(str(int(i)) for i in rows[:5])
        more = ", ..." if rows.size > 5 else ""
        raise FamilyError(
            f"family {family!r}: {condition} in {rows.size} row(s) (row positions {first}{more})"
        )


def _not_integer(v: np.ndarray) -> np.ndarray:
    return np.asarray(v != np.round(v))


def _check_counts(family: str, y: np.ndarray) -> None:
    _check(family, y < 0, "the response must be a non-negative count; negative values")
    _check(family, _not_integer(y), "the response must be an integer count; non-integer values")


def _per_draw(value: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A per-draw parameter (draws,) shaped to broadcast against ``like`` (draws x n); a value
    that already has ``like``'s rank (e.g. (1, draws) against rows x draws) is kept as is."""
    v = np.asarray(value)
    if v.ndim == like.ndim:
        return v
    return v.reshape(-1, *([1] * (like.ndim - 1)))


class _IdentityScaled:
    """brms's data-scaled defaults on an identity link: Intercept centered at median(y),
    scale max(2.5, mad(y)), slope scale sd(y); ``_response_scale`` maps y to the link scale."""

    link: str

    def _response_scale(self, y: np.ndarray) -> np.ndarray:
        return y

    def default_center(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return float(np.median(self._response_scale(y))) if self.link == "identity" else 0.0

    def default_scale(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return max(2.5, r_mad(self._response_scale(y))) if self.link == "identity" else 2.5

    def slope_scale(self, y: np.ndarray) -> float:
        s = float(np.std(self._response_scale(y)))
        return s if self.link == "identity" and s > 0 else 1.0


class _LogScaled:
    """brms's data-scaled Intercept prior on a log link: with ``y = 0`` replaced by 0.1, location
    ``median(log y)`` and scale ``max(2.5, mad(log y))`` (brms ``def_scale_prior``)."""

    link: str

    def _log_y(self, y: np.ndarray) -> np.ndarray:
        return np.log(np.where(y == 0, 0.1, y))

    def default_center(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return float(np.median(self._log_y(y))) if self.link == "log" else 0.0

    def default_scale(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return max(2.5, r_mad(self._log_y(y))) if self.link == "log" else 2.5


# --- continuous families -------------------------------------------------------------------
@dataclass(frozen=True)
class Gaussian(_IdentityScaled, Family):
    """``y ~ Normal(mu, sigma)``.

    Default prior of ``sigma``: ``HalfStudentT(3, max(2.5, mad(y)))`` (brms).
    """

    link: str = "identity"
    name: ClassVar[str] = "gaussian"
    links: ClassVar[tuple[str, ...]] = ("identity", "log")
    params: ClassVar[tuple[str, ...]] = ("sigma",)
    row_level_effects: ClassVar[bool] = False

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


@dataclass(frozen=True)
class Student(_IdentityScaled, Family):
    """``y ~ StudentT(nu, mu, sigma)``.

    Default priors (brms): ``nu ~ Gamma(2, 0.1)`` (mean 20; note brms truncates nu at 1, PyMC
    does not), ``sigma ~ HalfStudentT(3, max(2.5, mad(y)))``.
    """

    link: str = "identity"
    name: ClassVar[str] = "student"
    links: ClassVar[tuple[str, ...]] = ("identity", "log")
    params: ClassVar[tuple[str, ...]] = ("nu", "sigma")

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
    links: ClassVar[tuple[str, ...]] = ("log",)
    params: ClassVar[tuple[str, ...]] = ("shape",)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        super().validate(y, trials)
        _check(self.name, y <= 0, "the response must be positive; values <= 0")

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"shape": prior("InverseGamma", alpha=0.4, beta=0.3)}

    pymc_dist: ClassVar[str] = "Gamma"
    pymc_args: ClassVar[str] = "alpha=shape, beta=shape / mu"

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"alpha": params["shape"], "beta": params["shape"] / mu}

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


# --- discrete families ---------------------------------------------------------------------
@dataclass(frozen=True)
class Bernoulli(Family):
    """``y ~ Bernoulli(p = mu)`` for ``y`` in {0, 1}. No family parameters."""

    link: str = "logit"
    name: ClassVar[str] = "bernoulli"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")

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


@dataclass(frozen=True)
class Binomial(Family):
    """``y ~ Binomial(n = trials, p = mu)``; the response is ``cbind(successes, failures)`` or
    ``successes | trials(n)``. No family parameters."""

    link: str = "logit"
    name: ClassVar[str] = "binomial"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit", "cloglog")

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        if trials is None:
            raise FamilyError(
                "family 'binomial' needs the number of trials: write the response as "
                "'cbind(successes, failures) ~ ...' or 'successes | trials(n) ~ ...' "
                "(for a 0/1 response use family='bernoulli')"
            )
        trials = np.asarray(trials, dtype=float)
        _check(self.name, trials < 0, "the number of trials must be non-negative; negatives")
        _check(
            self.name, _not_integer(trials), "the number of trials must be an integer; non-integers"
        )
        _check(self.name, y < 0, "successes must be non-negative; negative values")
        _check(self.name, _not_integer(y), "successes must be integers; non-integer values")
        _check(self.name, y > trials, "successes must not exceed the number of trials; excess")

    pymc_dist: ClassVar[str] = "Binomial"
    pymc_args: ClassVar[str] = "n=trials, p=mu"
    discrete: ClassVar[bool] = True

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"n": np.asarray(trials).astype(np.int64), "p": mu}

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        assert trials is not None, "binomial draws need the number of trials"
        return np.asarray(rng.binomial(np.asarray(trials).astype(np.int64), mu))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        assert trials is not None, "the binomial log-likelihood needs the number of trials"
        n = np.asarray(trials, dtype=float)
        lchoose = special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)
        return np.asarray(lchoose + special.xlogy(y, mu) + special.xlogy(n - y, 1 - mu))


@dataclass(frozen=True)
class Poisson(_LogScaled, Family):
    """``y ~ Poisson(mu)`` for counts. No family parameters."""

    link: str = "log"
    name: ClassVar[str] = "poisson"
    links: ClassVar[tuple[str, ...]] = ("log",)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        super().validate(y, trials)
        _check_counts(self.name, y)

    pymc_dist: ClassVar[str] = "Poisson"
    pymc_args: ClassVar[str] = "mu=mu"
    discrete: ClassVar[bool] = True

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"mu": mu}

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
    links: ClassVar[tuple[str, ...]] = ("log",)
    params: ClassVar[tuple[str, ...]] = ("shape",)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        super().validate(y, trials)
        _check_counts(self.name, y)

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"shape": prior("InverseGamma", alpha=0.4, beta=0.3)}

    pymc_dist: ClassVar[str] = "NegativeBinomial"
    pymc_args: ClassVar[str] = "mu=mu, alpha=shape"
    discrete: ClassVar[bool] = True

    def pymc_kwargs(self, mu: Any, params: dict[str, Any], trials: Any) -> dict[str, Any]:
        return {"mu": mu, "alpha": params["shape"]}

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


FAMILIES: dict[str, type[Family]] = {
    cls.name: cls
    for cls in (
        Gaussian,
        Student,
        Bernoulli,
        Binomial,
        Poisson,
        NegativeBinomial,
        Gamma,
        Lognormal,
        Beta,
    )
}
# brms spellings
ALIASES: dict[str, str] = {"negbinomial": "negativebinomial", "student_t": "student"}


def family(name: str | Family, link: str | None = None) -> Family:
    """Look up a family by name: ``family("gaussian")``, ``family("binomial", link="probit")``."""
    if isinstance(name, Family):
        if link is not None and link != name.link:
            return type(name)(link=link)  # type: ignore[call-arg]
        return name
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in FAMILIES:
        raise FamilyError(f"unknown family {name!r}; available: {sorted(FAMILIES)}")
    cls = FAMILIES[key]
    return cls() if link is None else cls(link=link)  # type: ignore[call-arg]
