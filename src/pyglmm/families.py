"""Response families: link, extra distributional parameters, likelihood and default priors.

A :class:`Family` maps the linear predictor ``eta`` to the mean ``mu = linkinv(eta)`` and
defines the observation distribution ``y ~ D(mu, theta)``, where ``theta`` are the family's own
parameters (``sigma`` for gaussian). To add a family: subclass :class:`Family`, implement
:meth:`Family.likelihood` (PyMC), :meth:`Family.draw` (numpy, for predictions) and the default
priors of its parameters, then register it in ``FAMILIES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import stats

from .priors import Prior, prior, r_mad

# link name -> (inverse link in pytensor, inverse link in numpy)
LINKS: dict[str, tuple[Any, Any]] = {
    "identity": (lambda e: e, lambda e: e),
    "log": (pt.exp, np.exp),
    "logit": (pm.math.invlogit, lambda e: 1.0 / (1.0 + np.exp(-e))),
}


@dataclass(frozen=True)
class Family:
    """Base class. ``link`` must be one of the subclass's ``links``."""

    link: str
    name: ClassVar[str] = ""
    links: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.link not in self.links:
            raise ValueError(
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
        """Raise ValueError if ``y`` is not valid for this family."""

    # --- model pieces ------------------------------------------------------------------
    def likelihood(
        self, name: str, mu: Any, y: np.ndarray, params: dict[str, Any], trials: Any
    ) -> Any:
        """Register the observed variable ``name`` in the current PyMC model."""
        raise NotImplementedError

    def likelihood_code(self, name: str) -> str:
        raise NotImplementedError

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


@dataclass(frozen=True)
class Gaussian(Family):
    """``y ~ Normal(mu, sigma)``."""

    link: str = "identity"
    name: ClassVar[str] = "gaussian"
    links: ClassVar[tuple[str, ...]] = ("identity", "log")
    params: ClassVar[tuple[str, ...]] = ("sigma",)

    def default_center(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return float(np.median(y)) if self.link == "identity" else 0.0

    def default_scale(self, y: np.ndarray, trials: np.ndarray | None) -> float:
        return max(2.5, r_mad(y)) if self.link == "identity" else 2.5

    def slope_scale(self, y: np.ndarray) -> float:
        s = float(np.std(y))
        return s if self.link == "identity" and s > 0 else 1.0

    def default_priors(self, y: np.ndarray, trials: np.ndarray | None) -> dict[str, Prior]:
        return {"sigma": prior("HalfStudentT", nu=3, sigma=max(2.5, r_mad(y)))}

    def likelihood(
        self, name: str, mu: Any, y: np.ndarray, params: dict[str, Any], trials: Any
    ) -> Any:
        return pm.Normal(name, mu=mu, sigma=params["sigma"], observed=y, dims="obs")

    def likelihood_code(self, name: str) -> str:
        return f"pm.Normal({name!r}, mu=mu, sigma=sigma, observed=y, dims='obs')"

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


def _per_draw(value: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A per-draw parameter (draws,) shaped to broadcast against ``like`` (draws x n)."""
    return np.asarray(value).reshape(-1, *([1] * (like.ndim - 1)))


FAMILIES: dict[str, type[Family]] = {"gaussian": Gaussian}


def family(name: str | Family, link: str | None = None) -> Family:
    """Look up a family by name: ``family("gaussian")``, ``family("binomial", link="probit")``."""
    if isinstance(name, Family):
        return name
    key = name.lower()
    if key not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; available: {sorted(FAMILIES)}")
    cls = FAMILIES[key]
    return cls() if link is None else cls(link=link)  # type: ignore[call-arg]
