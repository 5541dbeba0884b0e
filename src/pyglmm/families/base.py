"""The :class:`Family` base class, the inverse links and the helpers the concrete families share.

Everything the rest of pyglmm knows about a response distribution is an attribute or a method
of :class:`Family`: the code outside :mod:`pyglmm.families` never tests a family's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy import special

from ..errors import FamilyError
from ..priors import Prior, prior
from .rows import RowDistribution
from .validation import _check_counts


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
    "sqrt": (pt.sqr, np.square),  # mu = eta^2
    "inverse": (pt.reciprocal, np.reciprocal),  # mu = 1 / eta
}

_EPS = np.finfo(float).eps

# The links of distributional parameters with a formula (``pg.bf``), brms's defaults: log for
# the scales and shapes, ``logm1`` (``nu = 1 + exp(eta)``) for the student's degrees of freedom,
# logit for the probabilities of a zero (``zi``, ``hu``).
DPAR_LINKS: dict[str, str] = {
    "sigma": "log",
    "shape": "log",
    "phi": "log",
    "nu": "logm1",
    "zi": "logit",
    "hu": "logit",
}
# dpar link name -> (inverse link in pytensor, inverse link in numpy)
DPAR_INVERSE: dict[str, tuple[Any, Any]] = {
    "log": (pt.exp, np.exp),
    "logm1": (lambda e: 1.0 + pt.exp(e), lambda e: 1.0 + np.exp(e)),
    "logit": (pm.math.invlogit, special.expit),
}
# dpar link name -> its inverse as PyMC code text (``Model.code()``)
DPAR_INVERSE_CODE: dict[str, str] = {
    "log": "pm.math.exp",
    "logm1": "1 + pm.math.exp",
    "logit": "pm.math.invlogit",
}


def _logit_mu_eta(eta: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(eta))
    return np.asarray(np.maximum(e / (1.0 + e) ** 2, _EPS))


def _cloglog_mu_eta(eta: np.ndarray) -> np.ndarray:
    eta = np.minimum(eta, 700.0)
    return np.asarray(np.maximum(np.exp(eta - np.exp(eta)), _EPS))


def _cloglog_mu_eta2(eta: np.ndarray) -> np.ndarray:
    eta = np.minimum(eta, 700.0)
    return np.asarray(np.exp(eta - np.exp(eta)) * (1.0 - np.exp(eta)))


# link name -> d^2 mu / d eta^2 in numpy (the observed information of a Laplace point fit)
MU_ETA2: dict[str, Any] = {
    "identity": lambda e: np.zeros_like(e),
    "log": np.exp,
    "logit": lambda e: special.expit(e) * (1 - special.expit(e)) * (1 - 2 * special.expit(e)),
    "probit": lambda e: -e * np.exp(-0.5 * e**2) / np.sqrt(2 * np.pi),
    "cloglog": _cloglog_mu_eta2,
    "sqrt": lambda e: np.full_like(e, 2.0),
    "inverse": lambda e: 2.0 / e**3,
}

# link name -> the link g(mu) in numpy (starting values of a point fit)
LINKFUN: dict[str, Any] = {
    "identity": lambda m: m,
    "log": np.log,
    "logit": special.logit,
    "probit": special.ndtri,
    "cloglog": lambda m: np.log(-np.log1p(-m)),
    "sqrt": np.sqrt,
    "inverse": np.reciprocal,
}

# link name -> d mu / d eta in numpy (the GLM working weights of a point fit; R's
# ``family()$mu.eta``, with the same floor at machine epsilon for the 0/1 links)
MU_ETA: dict[str, Any] = {
    "identity": lambda e: np.ones_like(e),
    "log": lambda e: np.maximum(np.exp(e), _EPS),
    "logit": _logit_mu_eta,
    "probit": lambda e: np.maximum(np.exp(-0.5 * e**2) / np.sqrt(2 * np.pi), _EPS),
    "cloglog": _cloglog_mu_eta,
    "sqrt": lambda e: 2.0 * e,
    "inverse": lambda e: -1.0 / e**2,
}


@dataclass(frozen=True)
class Family:
    """Base class. ``link`` must be one of the subclass's ``links``.

    Class attributes a subclass sets (the defaults suit a continuous family whose parameters
    may take any sign, which no family here is):

    * ``name``, ``aliases`` (other spellings :func:`pyglmm.family` accepts, e.g. brms's),
      ``links`` (the first is the default), ``params`` (the family's own parameters, in the
      order of the summary);
    * ``positive_params``: the members of ``params`` that must be > 0 (the support of the
      PyMC distribution; checked in user parameter dicts, ``model.simulate(params=...)``);
      ``unit_params`` those that are probabilities (in [0, 1]: ``zi``, ``hu``);
    * ``discrete``: integer responses (observed as int64, simulated as integers, plotted as
      counts per value);
    * ``information_factor``: rows per level a block needs, relative to a gaussian response,
      before the ``"auto"`` parameterization centres it (see the attribute);
    * ``row_level_effects``: whether a grouping factor with one level per row is identified;
    * ``residual_sd``: the parameter shown as the "Residual" SD of ``varcorr()``, if any;
    * ``pymc_dist``, ``pymc_args``: the observation distribution in PyMC and as code text.
    """

    link: str
    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    links: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[tuple[str, ...]] = ()
    # Which of ``params`` must be strictly positive (sigma, shape, phi, nu: the PyMC
    # distributions' parameter support). A value <= 0 given by the user is refused.
    positive_params: ClassVar[tuple[str, ...]] = ()
    # Which of ``params`` are probabilities, in [0, 1] (the zero-inflation ``zi``, the hurdle
    # ``hu``); a value outside is refused in user parameter dicts.
    unit_params: ClassVar[tuple[str, ...]] = ()
    # whether a grouping factor with one level per row is identified: for most families it is
    # the usual observation-level (overdispersion) effect; beside a gaussian residual it is not
    # (lme4: "number of levels of each grouping factor must be < number of observations")
    row_level_effects: ClassVar[bool] = True
    # Information per observation, as the number of rows a block needs per level for every
    # row a gaussian response needs: the ``"auto"`` rule centres a latent block when its
    # median rows per level is at least ``AUTO_CENTERED_MIN_ROWS * information_factor``.
    # A heuristic: a 0/1 row carries Fisher information mu(1 - mu) <= 1/4 about its logit,
    # hence 4 for bernoulli and binomial (rows, whatever the number of trials); 1 otherwise.
    information_factor: ClassVar[int] = 1
    # The information rule of ``"auto"``: a latent block is centered when the median over its
    # levels of kappa (the data's information about a level's effects relative to the prior's,
    # at the point fit: :mod:`pyglmm.information`) is at least this. 1 is where the two forms'
    # Gibbs rates cross in the normal hierarchy; bench/geometry.py measured the NUTS crossover
    # (ESS per leapfrog step) near 0.9 for poisson and 0.5-0.9 for gaussian blocks.
    centered_min_kappa: ClassVar[float] = 1.0
    # The parameter ``Fit.varcorr()`` reports as lme4's "Residual" SD row: gaussian's
    # ``sigma``, the SD of ``y - mu``; None for the other families (lme4 shows no such row).
    residual_sd: ClassVar[str | None] = None
    # the family's name in R's printouts (lme4's " Family:" line); "" for the family's own
    r_name: ClassVar[str] = ""
    # The row log-density of the compiled-once GLMM kernel (a key of
    # ``pyglmm.kernel.likelihoods.DENSITIES``: "binomial", "poisson", "negativebinomial"),
    # or None: the family is sampled through its PyMC model.
    kernel_density: ClassVar[str | None] = None
    # An ordinal family (``cumulative``): the response is ordered categories and a vector of
    # thresholds takes the intercept's place (``Design.categories``, :mod:`.ordinal`).
    thresholds: ClassVar[bool] = False
    # An unordered family (``categorical``): the response is categories, each but the first
    # with its own linear predictor ``mu<category>`` (``Design.categorical``, :mod:`.categorical`).
    categorical: ClassVar[bool] = False
    # A count response (poisson, negative binomial and their zero-inflated and hurdle forms):
    # the base :meth:`validate` refuses negative and non-integer values.
    count_response: ClassVar[bool] = False

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

    def links_line(self, modelled: tuple[str, ...] = ()) -> str:
        """:attr:`links_text` with the links of the parameters that have a formula
        (``mu = identity; sigma = log``)."""
        parts = [f"mu = {self.link}"]
        parts += [f"{p} = {DPAR_LINKS[p] if p in modelled else 'identity'}" for p in self.params]
        return "; ".join(parts)

    def check_dpars(self, names: tuple[str, ...]) -> None:
        """Refuse a distributional formula for a parameter the family does not have
        (:class:`FamilyError` naming it and listing the family's parameters)."""
        for name in names:
            if name not in self.params or name not in DPAR_LINKS:
                have = ", ".join(repr(p) for p in self.params) or "none"
                raise FamilyError(
                    f"family {self.name!r} has no distributional parameter {name!r} to give a "
                    f"formula; its parameters: {have}"
                )

    def dpar_intercept_prior(self, name: str) -> Prior:
        """brms's default prior of the Intercept of parameter ``name``'s formula:
        ``Logistic(0, 1)`` on a logit link (``zi``, ``hu``), else ``StudentT(3, 0, 2.5)``."""
        if DPAR_LINKS.get(name) == "logit":
            return prior("Logistic", mu=0, s=1)
        return prior("StudentT", nu=3, mu=0, sigma=2.5)

    def dpar_linkinv(self, name: str, eta: Any) -> Any:
        """The parameter ``name`` from its linear predictor (pytensor): ``exp(eta)``, for
        ``nu`` ``1 + exp(eta)`` (:data:`DPAR_LINKS`)."""
        return DPAR_INVERSE[DPAR_LINKS[name]][0](eta)

    def dpar_linkinv_np(self, name: str, eta: np.ndarray) -> np.ndarray:
        """:meth:`dpar_linkinv` on a numpy array."""
        return np.asarray(DPAR_INVERSE[DPAR_LINKS[name]][1](eta))

    def dpar_code(self, name: str) -> str:
        """The ``Model.code()`` line of parameter ``name`` from its predictor ``eta_<name>``."""
        return f"{name} = {DPAR_INVERSE_CODE[DPAR_LINKS[name]]}(eta_{name})  # one per row"

    def linkinv(self, eta: Any) -> Any:
        """Inverse link on a pytensor tensor."""
        return LINKS[self.link][0](eta)

    def linkinv_np(self, eta: np.ndarray) -> np.ndarray:
        """Inverse link on a numpy array."""
        return np.asarray(LINKS[self.link][1](eta))

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        """``d mu / d eta`` on a numpy array."""
        return np.asarray(MU_ETA[self.link](np.asarray(eta, dtype=float)))

    # --- what the point fits (``Model.optimize``, PIRLS) need ---------------------------
    # The family parameters a point fit estimates beside theta and beta (outer optimization,
    # on the log scale; ``glmer.nb``'s theta is the negative binomial's shape). Empty for the
    # families whose likelihood has no parameter beyond mu.
    point_params: ClassVar[tuple[str, ...]] = ()

    @property
    def has_point_fit(self) -> bool:
        """Whether ``Model.optimize`` fits this family by PIRLS (a GLM variance function)."""
        return type(self).variance is not Family.variance

    def variance(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """The conditional variance ``V(mu) = w Var[y | mu]`` of the response on the scale of
        :meth:`working_response` (``w`` the prior weights of :meth:`prior_weights`; for the
        binomial, per trial on the proportion scale), the family parameters included (the
        gamma's ``mu^2 / shape``): the PIRLS weights ``w (d mu / d eta)^2 / V(mu)`` are then
        the Fisher information of each row about ``eta``."""
        raise FamilyError(f"point estimates (optimize) are not available for family {self.name!r}")

    def variance_derivative(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """``dV / dmu`` of :meth:`variance` (the observed information needs it)."""
        raise FamilyError(f"family {self.name!r} has no variance derivative")

    # Which information the Laplace approximation's log-determinant uses by default:
    # "expected" (Fisher weights, lme4's glmer and glmer.nb) or "observed" (the exact
    # Hessian of log p(y | u), glmmTMB's). They coincide for canonical links.
    laplace_information: ClassVar[str] = "expected"

    def information_weights(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        eta: np.ndarray,
        params: dict[str, float],
        weights: np.ndarray,
        kind: str,
    ) -> np.ndarray:
        """Per row, ``-d^2 log p(y | eta) / d eta^2``: the Fisher weight
        ``a mu'^2 / V`` (``kind="expected"``) or the observed information ::

            a [ mu'^2 / V - (y - mu) (mu'' / V - mu'^2 V' / V^2) ]

        (``a`` the prior weights, ``mu'``, ``mu''`` the derivatives of the inverse link,
        ``V`` the variance function and ``V'`` its derivative), floored at 0."""
        dmu = self.mu_eta(eta)
        var = self.variance(mu, params)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = weights * dmu**2 / var
            if kind == "observed":
                d2 = np.asarray(MU_ETA2[self.link](np.asarray(eta, dtype=float)))
                dv = self.variance_derivative(mu, params)
                w = w - weights * (y - mu) * (d2 / var - dmu**2 * dv / var**2)
        return np.asarray(np.where(np.isfinite(w), np.maximum(w, 0.0), 0.0))

    def prior_weights(self, trials: np.ndarray | None, n: int) -> np.ndarray:
        """The GLM prior weights: 1 per row (the binomial: its number of trials)."""
        return np.ones(n)

    def working_response(self, y: np.ndarray, trials: np.ndarray | None) -> np.ndarray:
        """The response on the scale of ``mu`` (the binomial: the proportion of successes)."""
        return np.asarray(y, dtype=float)

    def start_mean(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """A starting ``mu`` inside the link's domain from the working response (R's
        ``mustart``): counts get 0.1 added, proportions are pulled towards 1/2."""
        return np.asarray(y, dtype=float)

    def linkfun_np(self, mu: np.ndarray) -> np.ndarray:
        """The link ``g(mu)`` on a numpy array."""
        return np.asarray(LINKFUN[self.link](np.asarray(mu, dtype=float)))

    # --- what the engines need ---------------------------------------------------------
    @property
    def is_gaussian_identity(self) -> bool:
        """Whether the model is a linear mixed model, ``y ~ Normal(eta, sigma)`` with
        ``eta = X b + Z r`` (gaussian family, identity link): the case of lme4's REML
        (``Model.optimize``, ``init="reml"``) and of the numba kernel."""
        return False

    @property
    def marginalizable(self) -> bool:
        """Whether a block's effects can be integrated out in closed form (the ``"marginal"``
        parameterization): with ``y | r ~ N(X b + Z r, sigma^2 I)`` and ``r ~ N(0, Sigma)``
        the marginal is ``y ~ N(X b, Z Sigma Z' + sigma^2 I)`` (conjugate normal), so only the
        gaussian family with identity link qualifies."""
        return self.is_gaussian_identity

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
        """Raise :class:`FamilyError` if ``y`` is not valid for this family.

        The base rules: only the binomial families take a number of trials, and a family
        with ``count_response`` takes non-negative integers only.
        """
        if trials is not None:
            raise FamilyError(
                f"family {self.name!r} does not use a number of trials: the responses "
                "'cbind(successes, failures) ~' and 'successes | trials(n) ~' are for "
                "family='binomial'"
            )
        if self.count_response:
            _check_counts(self.name, y)

    # --- model pieces ------------------------------------------------------------------
    # The observation distribution, declared once per family: its PyMC name, its arguments as
    # code text (for ``Model.code()``) and as tensors (``pymc_kwargs``).
    pymc_dist: ClassVar[str] = ""
    pymc_args: ClassVar[str] = ""
    # integer responses: observed as int64, simulated data get integer columns, the
    # predictive checks plot counts per value instead of densities
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

    def probabilities(self, mu: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        """An ordinal family's category probabilities (``mu.shape + (K,)``)."""
        raise FamilyError(f"family {self.name!r} has no response categories")

    # --- censoring and truncation (brms's cens() / trunc(); pyglmm.families.additions) ----
    def row_distribution(self, mu: np.ndarray, params: Any, trials: Any) -> RowDistribution:
        """The distribution of each row given ``mu`` (draws x rows) and the parameter draws,
        as an object with scipy's ``logcdf`` and ``logsf`` (a frozen scipy distribution,
        :mod:`.rows`). Defining it gives a family cens() and trunc()."""
        raise FamilyError(f"family {self.name!r} has no cdf here: no cens() or trunc()")

    def logcdf(self, y: np.ndarray, mu: np.ndarray, params: Any, trials: Any) -> np.ndarray:
        """``log P(Y <= y)``, shaped as :meth:`loglik` (of :meth:`row_distribution`)."""
        return np.asarray(self.row_distribution(mu, params, trials).logcdf(y))

    def logsf(self, y: np.ndarray, mu: np.ndarray, params: Any, trials: Any) -> np.ndarray:
        """``log P(Y > y)`` (Stan's ``lccdf``, also for counts), of :meth:`row_distribution`."""
        return np.asarray(self.row_distribution(mu, params, trials).logsf(y))

    def pymc_logcdf(self, kwargs: dict[str, Any], value: Any, upper: bool = False) -> Any:
        """The PyMC side of :meth:`logcdf` (``upper``: of :meth:`logsf`) for the rows of
        ``pymc_kwargs`` ``kwargs``: ``pm.logcdf`` / ``pm.logccdf`` of ``pymc_dist``."""
        dist = getattr(pm, self.pymc_dist).dist(**kwargs)
        return pm.logccdf(dist, value) if upper else pm.logcdf(dist, value)

    @property
    def has_cdf(self) -> bool:
        return type(self).row_distribution is not Family.row_distribution

    # --- moments (Bayesian R^2) --------------------------------------------------------
    def expected_response(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """``E[y | mu, theta]`` (draws x n) on the scale of the response column, given ``mu``
        (draws x n) and parameter draws (each (draws,)). The base: ``mu`` itself."""
        return mu

    def predict_mean(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        """What ``predict(kind="mean")`` reports, given ``mu`` and parameter draws shaped as
        for :meth:`draw`. The base: ``mu`` (probabilities, rates); the zero-inflated and
        hurdle families: ``E[y]`` (brms's ``posterior_epred``)."""
        return mu

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        """Per draw, the mean over the rows of ``Var[y_i | mu_i, theta]`` (shape (draws,)):
        the residual variance of Bayesian R^2 (Gelman, Goodrich, Gabry & Vehtari 2019).

        ``mu`` is draws x n, each parameter (draws,), ``y`` (n,) the observed response. The
        base, for a family without a variance function, is residual-based: the variance over
        the rows of ``y - E[y]`` (``ddof=1``).
        """
        return np.asarray(np.var(y - self.expected_response(mu, params, trials), axis=1, ddof=1))


def _per_draw(value: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A per-draw parameter (draws,) shaped to broadcast against ``like`` (draws x n); a value
    that already has ``like``'s rank (e.g. (1, draws) against rows x draws) is kept as is."""
    v = np.asarray(value)
    if v.ndim == like.ndim:
        return v
    return v.reshape(-1, *([1] * (like.ndim - 1)))


def _scalar_per_draw(value: np.ndarray) -> np.ndarray:
    """A per-draw parameter as a flat (draws,) array (also from a (draws, 1) column)."""
    return np.asarray(value).reshape(-1)
