"""Starting values for NUTS from a point fit (``model.fit(init="reml")`` / ``"laplace"``).

The REML estimates (beta, sigma, per-block SDs/correlations and conditional modes) are mapped
to the free variables of the compiled model, on their constrained scale:

* ``Intercept`` (on centered predictors) = b_Intercept + xbar . beta; ``beta`` = slopes.
* each block: the free variables of its kind's scale and ``z`` (non-centered) or ``r``
  (centered), from ``PyMCBlock.start`` of :mod:`pyglmm.compile.blocks`: for correlated blocks
  ``L_<block>`` = packed lower-triangular Cholesky factor of Sigma = diag(sd) C diag(sd)
  (PyMC's row-major packing) and ``z = r L^-T``; for diagonal blocks ``sd_<block>`` and
  ``z = r / sd``.
* ``"marginal"`` and ``"laplace"`` blocks: their scale only (the effects are integrated out).
* centered blocks hierarchically centered on fixed effects
  (:func:`pyglmm.compile.hierarchical_centering`): ``alpha = r + theta_c``, plus ``W_l theta_k``
  on the intercept for group-level predictors (:func:`pyglmm.compile.group_level_centering`).

SDs estimated at the boundary (0, a singular fit) are raised to a small positive floor so the
start is inside the support. Samplers jitter these values per chain.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import names
from .compile import group_level_centering, hierarchical_centering, pymc_block, theta_names
from .design import Design
from .design.centering import centered_fixed


def initvals_from_lmm(
    design: Design, lmm: Any, parameterization: dict[str, str]
) -> dict[str, np.ndarray]:
    """Initial values keyed by free-variable name (see the module docstring)."""
    beta = np.asarray(lmm.beta, dtype=float)
    coef_names = list(design.x_names)
    out: dict[str, np.ndarray] = {}
    theta = beta
    fixed = centered_fixed(design)
    if fixed.intercept is not None:
        slopes = beta[list(fixed.slopes)]
        out["Intercept"] = np.asarray(fixed.sampled_intercept(beta))
        theta = np.concatenate([[out["Intercept"]], slopes])
        if slopes.size:
            out["beta"] = slopes
    elif coef_names:
        out["b"] = beta
    centers = hierarchical_centering(design, parameterization, theta_names(design))
    levels = group_level_centering(design, parameterization, theta_names(design))
    out["sigma"] = np.asarray(max(float(lmm.sigma), 1e-6))
    for name, value in getattr(lmm, "params", {}).items():  # a GLMM fit's shape
        out[name] = np.asarray(float(value))
    floor = 1e-3 * max(float(lmm.sigma), 1e-6)
    for blk, (sd, cor), r in zip(design.blocks, lmm.theta_to_sd_cor(), lmm.b, strict=True):
        sd = np.maximum(np.asarray(sd, dtype=float), floor)
        r = np.asarray(r, dtype=float).reshape(blk.n_levels, blk.q)
        centered = parameterization[blk.name] == "centered"
        scale, z = pymc_block(blk.covariance).start(blk, sd, np.asarray(cor, dtype=float), r)
        out.update(scale)
        if parameterization[blk.name] in ("marginal", "laplace"):
            continue  # integrated out: its effects are not sampled, so they get no start
        if blk.name in centers or blk.name in levels:
            index = centers.get(blk.name, (-1,) * blk.q)
            alpha = r + [theta[c] if c >= 0 else 0.0 for c in index]
            if blk.name in levels:
                lv = levels[blk.name]
                alpha[:, blk.terms.index("Intercept")] += lv.values @ theta[list(lv.index)]
            out[names.alpha(blk.name)] = alpha
        elif centered:
            out[names.effects(blk.name)] = r
        else:
            out[names.standardized(blk.name)] = z
    return out
