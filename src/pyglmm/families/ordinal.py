"""The ordinal family ``cumulative`` (brms's name and parameterization; links logit, probit).

For a response with ordered categories ``1 < 2 < ... < K`` and thresholds
``tau_1 < ... < tau_{K-1}`` (brms's ``Intercept[k]``)::

    P(y <= k) = F(tau_k - eta),        k = 1, ..., K - 1
    P(y = k)  = F(tau_k - eta) - F(tau_{k-1} - eta)      (tau_0 = -inf, tau_K = +inf)

with ``F`` the link's CDF (logistic for ``logit``, standard normal for ``probit``) and
``eta = X b + Z r`` *without* an intercept: the thresholds take its place (the design drops
its ``Intercept`` column, :func:`threshold_design`). brms's discrimination ``disc`` is fixed
at 1. Equivalently ``y = 1 + #{k : z > tau_k}`` for a latent ``z = eta + e``, ``e ~ F``, which
is how :meth:`Cumulative.draw` draws.

The response (:func:`ordinal_response`): an ordered ``pandas.Categorical`` (its categories in
their order), or positive integers (categories ``1..max(y)``, as brms). Strings and unordered
categoricals are refused (:class:`~pyglmm.errors.FamilyError`: the order must be stated). As
in brms (``nthres = max(y) - 1``) the categories run from the first declared one to the
highest *observed* one: a declared category above every observed value gets no threshold,
one below or between observed values keeps its thresholds (identified by the prior only).

The thresholds are sampled on centred predictors (brms's ``Intercept``, an ordered vector,
default prior ``student_t(3, 0, 2.5)`` each, class ``Intercept``); the reported thresholds
are ``b_Intercept = Intercept + xbar . b`` (:mod:`pyglmm.compile.ordinal`). ``mu`` of this
family is ``eta`` itself (:meth:`Cumulative.linkinv` is the identity), as brms's ``mu``: the
link acts on the thresholds' differences, and the category probabilities are
:func:`category_probabilities`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
from scipy import special

from ..errors import FamilyError
from ..names import THRESHOLDS
from .base import Family
from .registry import register
from .validation import _check, _not_integer

# link -> (CDF, log CDF) in numpy; both symmetric: F(-x) = 1 - F(x)
CDFS: dict[str, tuple[Any, Any]] = {
    "logit": (special.expit, special.log_expit),
    "probit": (special.ndtr, special.log_ndtr),
}
_PYMC = {"logit": "OrderedLogistic", "probit": "OrderedProbit"}
_QUOTED = re.compile(r"""^Q\((["'])(.*)\1\)$""")


def _cuts(thresholds: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Thresholds shaped ``like.shape + (K - 1,)`` to broadcast: (draws, K - 1) against
    ``like`` (draws x rows) gets a rows axis; a value with one axis more than ``like`` (e.g.
    (1, draws, K - 1) against rows x draws) is kept as is."""
    t = np.asarray(thresholds, dtype=float)
    if t.ndim == np.ndim(like) + 1:
        return t
    if t.ndim == 1:
        return t
    return t.reshape(t.shape[0], *([1] * (np.ndim(like) - 1)), t.shape[-1])


def log_cdf_difference(link: str, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``log(F(upper) - F(lower))`` for ``lower <= upper`` (infinite ends allowed), without
    cancellation: an interval above 0 is reflected (``F(b) - F(a) = F(-a) - F(-b)``), so both
    ends are at most 0 or the interval contains 0; then ``log F(b) + log(1 - F(a) / F(b))``
    (``log1mexp`` of the log-CDF difference), and the direct difference when it contains 0."""
    cdf, logcdf = CDFS[link]
    a, b = np.broadcast_arrays(np.asarray(lower, float), np.asarray(upper, float))
    flip = a > 0
    a, b = np.where(flip, -b, a), np.where(flip, -a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        lb, la = logcdf(b), logcdf(a)
        x = la - lb  # <= 0
        log1mexp = np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))
        tail = lb + log1mexp
        middle = np.log(cdf(b) - cdf(a))
    return np.asarray(np.where(b <= 0, tail, middle))


def category_probabilities(link: str, eta: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``P(y = k)`` for k = 1..K: shape ``eta.shape + (K,)``; ``thresholds`` (K - 1,), or
    (draws, K - 1) against ``eta`` (draws x rows) (see :func:`_cuts`)."""
    eta = np.asarray(eta, dtype=float)
    cum = CDFS[link][0](_cuts(thresholds, eta) - eta[..., None])
    zeros = np.zeros((*cum.shape[:-1], 1))
    return np.asarray(np.diff(np.concatenate([zeros, cum, zeros + 1.0], axis=-1), axis=-1))


@register
@dataclass(frozen=True)
class Cumulative(Family):
    """brms's ``cumulative``: ``P(y <= k) = F(Intercept[k] - eta)`` (module docstring). No
    family parameters beyond the thresholds (``b_Intercept``, reported as ``Intercept[k]``);
    ``mu`` is ``eta``."""

    link: str = "logit"
    name: ClassVar[str] = "cumulative"
    links: ClassVar[tuple[str, ...]] = ("logit", "probit")
    discrete: ClassVar[bool] = True
    thresholds: ClassVar[bool] = True
    # the "auto" rule's rows per level: a row's Fisher information about eta is between a 0/1
    # row's (1/4, K = 2) and the logistic location's (1/3, K large), so bernoulli's factor
    information_factor: ClassVar[int] = 4

    @property
    def links_text(self) -> str:
        return f"mu = {self.link}; disc = identity"

    def links_line(self, modelled: tuple[str, ...] = ()) -> str:
        return self.links_text

    def linkinv(self, eta: Any) -> Any:
        """The identity: the link acts on ``tau_k - eta`` (module docstring)."""
        return eta

    def linkinv_np(self, eta: np.ndarray) -> np.ndarray:
        return np.asarray(eta)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        """Categories are positive integers (the codes of :func:`ordinal_response`)."""
        super().validate(y, trials)
        _check(
            self.name,
            (y < 1) | _not_integer(y),
            "the response must be an ordered Categorical or categories 1, 2, ..., K "
            "(positive integers); other values",
        )

    # --- model pieces ----------------------------------------------------------------
    def likelihood(
        self, name: str, mu: Any, y: np.ndarray, params: dict[str, Any], trials: Any
    ) -> Any:
        dist = getattr(pm, _PYMC[self.link])
        observed = np.asarray(y).astype(np.int64) - 1  # PyMC's categories are 0..K-1
        return dist(name, eta=mu, cutpoints=params[THRESHOLDS], observed=observed, dims="obs")

    def likelihood_code(self, name: str) -> str:
        return (
            f"pm.{_PYMC[self.link]}({name!r}, eta=eta, cutpoints={THRESHOLDS}, "
            "observed=y - 1, dims='obs')  # P(y <= k) = F(b_Intercept[k] - eta)"
        )

    def probabilities(self, mu: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        """``P(y = k)`` (``mu.shape + (K,)``) given ``mu = eta`` and the thresholds."""
        return category_probabilities(self.link, mu, params[THRESHOLDS])

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        """``log(F(tau_y - eta) - F(tau_{y-1} - eta))`` (draws x n), computed in log space
        (:func:`log_cdf_difference`)."""
        eta = np.asarray(mu, dtype=float)
        cuts = _cuts(params[THRESHOLDS], eta)
        full = np.concatenate(
            [
                np.full((*cuts.shape[:-1], 1), -np.inf),
                cuts,
                np.full((*cuts.shape[:-1], 1), np.inf),
            ],
            axis=-1,
        )
        k = np.asarray(y).astype(np.int64)
        full = np.broadcast_to(full, (*eta.shape, full.shape[-1]))
        upper = np.take_along_axis(full, np.broadcast_to(k, eta.shape)[..., None], -1)[..., 0]
        lower = np.take_along_axis(full, np.broadcast_to(k - 1, eta.shape)[..., None], -1)[..., 0]
        return log_cdf_difference(self.link, lower - eta, upper - eta)

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        """Categories 1..K: ``1 + #{k : eta + e > tau_k}``, ``e`` logistic or standard
        normal (module docstring)."""
        eta = np.asarray(mu, dtype=float)
        noise = (
            rng.logistic(size=eta.shape) if self.link == "logit" else rng.standard_normal(eta.shape)
        )
        latent = eta + noise
        return np.asarray(1 + np.sum(latent[..., None] > _cuts(params[THRESHOLDS], eta), axis=-1))

    def expected_response(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        raise FamilyError(
            "Bayesian R^2 is not available for family 'cumulative' (an ordinal response has no "
            "residual variance on its own scale)"
        )

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        return self.expected_response(mu, params, trials)


# --- the response and the design ---------------------------------------------------------
def ordinal_response(
    data: pd.DataFrame, response: str, family: str = "cumulative"
) -> tuple[pd.DataFrame, tuple[str, ...] | None]:
    """``data`` with the response column replaced by its category codes 1..K (floats, NaN for
    a missing value, so the missing-row logic drops it), and the declared categories of an
    ordered Categorical (None for an integer response: categories ``1..max(y)``, named by
    :func:`threshold_design`). Refuses (:class:`FamilyError`) an addition term, a response
    that is not a column, strings and unordered categoricals."""
    text = response.strip()
    quoted = _QUOTED.match(text)
    column = quoted.group(2) if quoted else text
    if "|" in text or column not in data.columns:
        raise FamilyError(
            f"family {family!r} takes a column of the data as its response (an ordered "
            f"Categorical or integers 1..K), without addition terms; got {response!r}"
        )
    col = data[column]
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        codes = col.cat.codes.to_numpy().astype(float)
        codes[codes < 0] = np.nan
        labels: tuple[str, ...] | None = tuple(str(c) for c in dtype.categories)
        values = codes + 1.0
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values, labels = col.to_numpy(dtype=float, na_value=np.nan), None
    else:
        what = "an unordered Categorical" if isinstance(dtype, pd.CategoricalDtype) else dtype
        raise FamilyError(
            f"family {family!r}: the response {column!r} is {what}, whose categories have no "
            f"stated order; pass an ordered Categorical, e.g. df[{column!r}] = "
            f"pd.Categorical(df[{column!r}], categories=[...in order...], ordered=True), or "
            "integer categories 1..K"
        )
    frame = data.copy(deep=False)
    frame[column] = values
    return frame, labels


def threshold_design(
    design: Any, labels: tuple[str, ...] | None, family: str = "cumulative"
) -> Any:
    """The design of an ordinal model: its ``Intercept`` column removed (the thresholds take
    its place; new data get the same columns) and ``categories`` set to the categories
    ``1..max(y)`` (brms's ``nthres = max(y) - 1``), named by ``labels`` (an ordered
    Categorical's) or ``"1"``, ``"2"``, .... Refuses a formula without an intercept and a
    response with fewer than two categories."""
    if "Intercept" not in design.x_names:
        raise FamilyError(
            f"family {family!r}: the thresholds take the intercept's place, so the formula "
            "must keep its intercept (drop '0 +' / '- 1')"
        )
    n_cat = int(np.max(design.y))
    if n_cat < 2:
        raise FamilyError(
            f"family {family!r} needs at least 2 categories; the response has only its first"
        )
    names = labels[:n_cat] if labels is not None else tuple(str(k) for k in range(1, n_cat + 1))
    j0 = design.x_names.index("Intercept")
    keep = np.array([j for j in range(len(design.x_names)) if j != j0], dtype=np.int64)
    order = np.arange(len(design.x_names)) if design.x_order is None else design.x_order
    return replace(
        design,
        X=np.asarray(design.X)[:, keep],
        x_names=tuple(design.x_names[j] for j in keep),
        x_order=np.asarray(order)[keep],
        categories=names,
    )
