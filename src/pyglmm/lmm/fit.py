"""``fit_lmm``: minimise the profiled (restricted) deviance over theta, as lme4's ``lmer``.

The optimiser is :func:`pyglmm.lmm.optimize.optimize_theta` (L-BFGS-B, then a bounded Newton
polish); the fit is assembled by :func:`pyglmm.lmm.result.fit_design`. ``fit_lmm`` adds the
checks of the response and lme4's singular-fit warning.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..design import Design
from ..errors import DesignError, SingularFitWarning
from .optimize import blas_threads as _blas_threads
from .pointfit import SINGULAR_MESSAGE, check_point_fit_blocks
from .result import LmmFit, fit_design


def fit_lmm(
    design: Design,
    reml: bool = True,
    *,
    start: np.ndarray | None = None,
    maxiter: int = 1000,
    blas_threads: int | None = 1,
    data_name: str | None = None,
) -> LmmFit:
    """Fit a linear mixed model by REML (default) or maximum likelihood.

    ``design`` comes from :func:`pyglmm.design.build_design`; ``start`` overrides the
    starting theta (lme4 scale, design block order); ``blas_threads`` caps BLAS threads
    during the fit (``None``: leave as is); ``data_name``: the data set's name for the
    summary's ``Data:`` line (e.g. ``df.attrs.get("name")``). Returns an :class:`LmmFit`.

    A singular fit (:meth:`LmmFit.is_singular`) warns as lme4 does, "boundary (singular)
    fit: see help('isSingular')", with :class:`pyglmm.errors.SingularFitWarning`.
    """
    check_point_fit_blocks(design)
    _check_response(design)
    with _blas_threads(blas_threads):
        fit = _fit(design, reml, start, maxiter, data_name=data_name)
    if fit.is_singular():
        warnings.warn(SINGULAR_MESSAGE, SingularFitWarning, stacklevel=2)
    return fit


def _check_response(design: Design) -> None:
    """Refuse a response the fixed effects reproduce exactly (a constant one, in particular):
    the residual variance is 0 and the profiled deviance has no minimum."""
    y = np.asarray(design.y, dtype=float)
    if design.offset is not None:
        y = y - design.offset
    if np.ptp(y) == 0:
        raise DesignError(
            f"the response {design.response!r} is constant (every value is {y[0]:g}): a linear "
            "mixed model needs a varying response"
        )
    X = np.asarray(design.X, dtype=float)
    if X.shape[1]:
        resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        if float(np.linalg.norm(resid)) <= 1e-10 * max(float(np.linalg.norm(y)), 1e-300):
            raise DesignError(
                f"the response {design.response!r} is an exact linear function of the fixed "
                f"effects ({', '.join(design.x_names)}): the residual variance would be 0"
            )


_fit = fit_design  # the fit without the response checks and the singular warning
