"""The unordered family ``categorical`` (brms's name and parameterization; link logit).

A response with categories ``c_1, ..., c_K`` (K >= 3; the first is the reference) has one
linear predictor per other category, brms's ``mu<c_k>`` (``mu2``, ``mu3`` for categories
``1, 2, 3``; ``muB`` for a category ``"B"``: ``"mu"`` and the category name without the
characters other than letters and digits, brms's ``make_stan_names``), each with the
formula's own fixed effects and blocks (:mod:`pyglmm.design.categorical`). With
``eta_1 = 0``::

    P(y = k) = exp(eta_k) / sum_j exp(eta_j)          (the multinomial logit / softmax)
    log P(y = k) = eta_k - logsumexp(0, eta_2, ..., eta_K)

In the model each ``mu<c>`` is a distributional parameter whose inverse link is the identity
(its value is ``eta_k`` itself, the log-odds of category k against the reference), so the
family takes them from ``params`` (in the order of the categories, as every caller passes
them: ``Design.dpars``' order); its ``mu`` (the main formula's predictor, empty) is unused.

The response (:func:`categorical_response`): a ``pandas.Categorical`` (its categories, in
their order), strings (sorted, as R's ``factor``) or integers (sorted); categories that no
used row has are dropped (brms: ``factor`` of the used rows). Fewer than 3 categories are
refused (use ``bernoulli``), as are non-integer numbers and addition terms.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from scipy import special

from ..errors import FamilyError
from ..priors import Prior, prior
from .base import Family
from .registry import register
from .validation import _check, _not_integer

_QUOTED = re.compile(r"""^Q\((["'])(.*)\1\)$""")


def _logits(params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The categories' predictors ``eta_2..eta_K`` in ``params``' order (module docstring)."""
    return [np.asarray(v, dtype=float) for k, v in params.items() if k.startswith("mu")]


def category_log_probabilities(params: Mapping[str, np.ndarray]) -> np.ndarray:
    """``log P(y = k)`` for k = 1..K (last axis) from ``params`` (``mu2``.., each shaped
    alike, e.g. draws x rows): ``eta_k - logsumexp(0, eta_2, ..., eta_K)``."""
    etas = np.broadcast_arrays(*_logits(params))
    full = np.stack([np.zeros_like(etas[0]), *etas], axis=-1)
    return np.asarray(full - special.logsumexp(full, axis=-1, keepdims=True))


@register
@dataclass(frozen=True)
class Categorical(Family):
    """brms's ``categorical``: the multinomial logit of an unordered response (module
    docstring). No family parameters: the categories' predictors ``mu<c>`` are
    distributional parameters with the formula's right-hand side."""

    link: str = "logit"
    name: ClassVar[str] = "categorical"
    links: ClassVar[tuple[str, ...]] = ("logit",)
    discrete: ClassVar[bool] = True
    categorical: ClassVar[bool] = True
    # a row's information about one category's predictor is p_k (1 - p_k) <= 1/4 (bernoulli's)
    information_factor: ClassVar[int] = 4

    @property
    def links_text(self) -> str:
        return "mu = logit"

    def links_line(self, modelled: tuple[str, ...] = ()) -> str:
        """``mu2 = logit; mu3 = logit`` (brms's line)."""
        return "; ".join(f"{m} = logit" for m in modelled) or self.links_text

    def check_dpars(self, names: tuple[str, ...]) -> None:
        raise FamilyError(
            "family 'categorical' takes one formula for every category (its predictors "
            f"mu<category> share the right-hand side); got formulas for {list(names)}: pass "
            "the formula as a string"
        )

    def dpar_intercept_prior(self, name: str) -> Prior:
        """brms's ``student_t(3, 0, 2.5)`` for each category's intercept."""
        return prior("StudentT", nu=3, mu=0, sigma=2.5)

    def dpar_linkinv(self, name: str, eta: Any) -> Any:
        """The identity: a category's parameter is its log-odds against the reference."""
        return eta

    def dpar_linkinv_np(self, name: str, eta: np.ndarray) -> np.ndarray:
        return np.asarray(eta)

    def dpar_code(self, name: str) -> str:
        return f"{name} = eta_{name}  # log(P(y = {name[2:]}) / P(y = reference)), per row"

    def linkinv(self, eta: Any) -> Any:
        return eta  # (the main predictor is empty: the categories' are parameters)

    def linkinv_np(self, eta: np.ndarray) -> np.ndarray:
        return np.asarray(eta)

    def validate(self, y: np.ndarray, trials: np.ndarray | None) -> None:
        """Categories are the codes 1..K of :func:`categorical_response`."""
        super().validate(y, trials)
        _check(
            self.name,
            (y < 1) | _not_integer(y),
            "the response must be categories (codes 1, 2, ..., K); other values",
        )

    # --- model pieces ----------------------------------------------------------------
    def likelihood(
        self, name: str, mu: Any, y: np.ndarray, params: dict[str, Any], trials: Any
    ) -> Any:
        """``pm.Potential(name + "_loglik", sum_i [eta_{y_i} - logsumexp(0, eta_2, ...)])``
        (the row's category picked by a 0/1 mask; a potential compiles in about half the time
        of ``pm.Categorical(logit_p=...)``'s graph, the same density)."""
        etas = [v for k, v in params.items() if k.startswith("mu")]
        logits = pt.stack([pt.zeros_like(etas[0]), *etas], axis=-1)  # rows x K
        codes = np.asarray(y).astype(np.int64)
        mask = (codes[:, None] == np.arange(1, len(etas) + 2)[None, :]).astype(float)
        rows = pt.sum(logits * mask, axis=-1) - pt.logsumexp(logits, axis=-1)
        return pm.Potential(f"{name}_loglik", rows.sum())

    def likelihood_code(self, name: str) -> str:
        return (
            f"pm.Potential('{name}_loglik', (logits[rows, y - 1] - logsumexp(logits, -1)).sum())"
            "  # logits = [0, mu2, ..., muK] per row: P(y = k) = softmax(logits)[k]"
        )

    def probabilities(self, mu: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        """``P(y = k)`` (last axis, k = 1..K) from the categories' predictors in ``params``."""
        return np.exp(category_log_probabilities(params))

    def loglik(
        self,
        y: np.ndarray,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        """``eta_y - logsumexp(0, eta_2, ..., eta_K)`` (draws x n)."""
        logp = category_log_probabilities(params)
        k = np.broadcast_to(np.asarray(y).astype(np.int64) - 1, logp.shape[:-1])
        return np.asarray(np.take_along_axis(logp, k[..., None], -1)[..., 0])

    def draw(
        self,
        rng: np.random.Generator,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
    ) -> np.ndarray:
        """Categories 1..K: ``1 + #{k < K : u > P(y <= k)}``, ``u`` uniform."""
        cum = np.cumsum(self.probabilities(mu, params), axis=-1)[..., :-1]
        u = rng.uniform(size=cum.shape[:-1])
        return np.asarray(1 + np.sum(u[..., None] > cum, axis=-1))

    def expected_response(
        self, mu: np.ndarray, params: dict[str, np.ndarray], trials: np.ndarray | None
    ) -> np.ndarray:
        raise FamilyError(
            "Bayesian R^2 is not available for family 'categorical' (an unordered response "
            "has no mean or residual variance)"
        )

    def residual_variance(
        self,
        mu: np.ndarray,
        params: dict[str, np.ndarray],
        trials: np.ndarray | None,
        y: np.ndarray,
    ) -> np.ndarray:
        return self.expected_response(mu, params, trials)


# --- the response ----------------------------------------------------------------------------
def categorical_response(data: pd.DataFrame, response: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """``data`` with the response column replaced by category codes 1..K (floats, NaN where it
    is missing, so the missing-row logic drops the row) and the categories' names (module
    docstring). :class:`FamilyError` for an addition term, a response that is not a column,
    or non-integer numbers (naming their count and first rows)."""
    text = response.strip()
    quoted = _QUOTED.match(text)
    column = quoted.group(2) if quoted else text
    if "|" in text or column not in data.columns:
        raise FamilyError(
            "family 'categorical' takes a column of the data as its response (a Categorical, "
            f"strings or integers), without addition terms; got {response!r}"
        )
    col = data[column]
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(float)
        codes[codes < 0] = np.nan
        labels = tuple(str(c) for c in dtype.categories)
        values = codes + 1.0
    else:
        present = col.notna().to_numpy()
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            numbers = col.to_numpy(dtype=float, na_value=np.nan)
            bad = present & (_not_integer(np.where(present, numbers, 0.0)) | ~np.isfinite(numbers))
            rows = np.flatnonzero(bad)
            if rows.size:
                shown = ", ".join(str(v) for v in data.index[rows[:5]])
                raise FamilyError(
                    f"family 'categorical': the response {column!r} must be categories "
                    f"(a Categorical, strings or integers); non-integer values in "
                    f"{rows.size} row(s) (data index {shown}{', ...' if rows.size > 5 else ''})"
                )
            uniq = np.unique(numbers[present])
            labels = tuple(str(int(v)) for v in uniq)
            lookup = {float(v): k + 1.0 for k, v in enumerate(uniq)}
            values = np.array(
                [lookup[v] if p else np.nan for v, p in zip(numbers, present, strict=True)]
            )
        else:
            strings = col.astype(object).where(col.notna(), None).to_numpy()
            labels = tuple(sorted({str(v) for v, p in zip(strings, present, strict=True) if p}))
            where = {c: k + 1.0 for k, c in enumerate(labels)}
            values = np.array(
                [where[str(v)] if p else np.nan for v, p in zip(strings, present, strict=True)]
            )
    frame = data.copy(deep=False)
    frame[column] = values
    return frame, labels
