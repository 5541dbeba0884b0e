"""brms's centred fixed part, the one definition every engine and reader uses.

With an intercept, the slopes act on centred columns and the intercept is sampled on them::

    eta = Intercept + (X_s - xbar) . beta          (X_s: the non-intercept columns of X)
    b   = [Intercept - xbar . beta, beta]          (reported, in the order of ``x_names``)

so ``Intercept`` is the mean linear predictor, nearly uncorrelated with ``beta``. The sampled
coefficient vector is ``theta = [Intercept, beta]`` over the columns ``Xc = [1, X_s - xbar]``.
Without an intercept nothing is centred: ``theta = b`` over ``X``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .records import Design, DparPart


@dataclass(frozen=True)
class CenteredFixed:
    """The centring of a design's fixed part (see the module docstring)."""

    intercept: int | None  # position of "Intercept" in x_names; None without an intercept
    slopes: tuple[int, ...]  # positions of the other coefficients (all of them without one)
    xbar: np.ndarray  # means of the slope columns (zeros without an intercept)
    Xc: np.ndarray  # the columns of theta: [1, X_s - xbar], or X

    def b_intercept(self, intercept: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """The reported intercept ``Intercept - xbar . beta`` (leading axes broadcast)."""
        return np.asarray(intercept) - np.asarray(beta) @ self.xbar

    def sampled_intercept(self, b: np.ndarray) -> np.ndarray:
        """``Intercept = b_Intercept + xbar . beta`` from reported coefficients ``b`` (..., p)."""
        if self.intercept is None:
            raise ValueError("the design has no intercept")
        b = np.asarray(b)
        return b[..., self.intercept] + b[..., list(self.slopes)] @ self.xbar


def centered_fixed(design: Design | DparPart) -> CenteredFixed:
    """The :class:`CenteredFixed` of ``design`` (or of a distributional parameter's fixed
    part, centred the same way)."""
    X = np.asarray(design.X, dtype=float)
    p = X.shape[1]
    if not design.has_intercept:
        return CenteredFixed(None, tuple(range(p)), np.zeros(p), X)
    i0 = list(design.x_names).index("Intercept")
    slopes = tuple(j for j in range(p) if j != i0)
    xs = X[:, list(slopes)]
    xbar = xs.mean(axis=0) if slopes else np.zeros(0)
    return CenteredFixed(i0, slopes, xbar, np.column_stack([np.ones(X.shape[0]), xs - xbar]))
