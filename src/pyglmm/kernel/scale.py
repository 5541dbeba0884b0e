"""A random-effect block's scale: its covariance factor ``Lambda`` from the unconstrained
``x`` and the gradient back to ``x`` (numba, ``cache=True``).

The scale at ``x[off:]`` is ``log sd`` (q) followed, for ``"lkj"`` blocks, by the
``m = q(q-1)/2`` unconstrained partial correlations ``y`` with ``z = tanh(y)`` and the
correlation Cholesky factor ``L(z)`` of :func:`~pyglmm.kernel.densities.corr_cholesky`
(``L = I`` for diag blocks); ``Lambda = diag(sd) L``. Log density of the scale (priors and
log-Jacobians of ``sd = exp(x)``, ``z = tanh(y)``):

    sum_i [log p(sd_i) + log sd_i] + sum_k log(1 - z_k^2) + log LKJ(L; eta) + log |dL/dz|

Gradient: with ``G = d f / d Lambda`` (lower triangle) for whatever ``f`` depends on Lambda,

    d/d log sd_i = (sum_{j<=i} G_ij L_ij + d log p / d sd_i) sd_i + 1
    d/d y_k      = (1 - z_k^2) [-2 z_k / (1 - z_k^2) + sum_ij (G_ij sd_i + dL[m]_ij) dL[k]_ij]

where ``dL[k] = dL / dz_k`` and ``dL[m]`` the gradient of the LKJ density and the Jacobian
term with respect to ``L`` (both from ``corr_cholesky``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .densities import corr_cholesky, prior_lp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def block_scale(
    x: np.ndarray,
    off: int,
    q: int,
    diag: bool,
    eta: float,
    sd_priors: np.ndarray,
    Lam: np.ndarray,
    L: np.ndarray,
    dL: np.ndarray,
) -> float:  # pragma: no cover - numba
    """Fill ``Lam``, ``L`` and ``dL`` from the block's scale at ``x[off:]``; return the log
    priors of the SDs and correlations plus the log-Jacobians of their transforms."""
    m = 0 if diag else q * (q - 1) // 2
    lp = 0.0
    for i in range(q):
        for j in range(q):
            L[i, j] = 1.0 if i == j else 0.0
    if not diag:
        lp += corr_cholesky(x[off + q : off + q + m], q, eta, L, dL)
        if not np.isfinite(lp):
            return -np.inf
        for k in range(m):
            z = math.tanh(x[off + q + k])
            lp += math.log(1.0 - z * z)
    for i in range(q):
        sd = math.exp(x[off + i])
        plp, _ = prior_lp(sd_priors[i], sd)
        lp += plp + x[off + i]
        for j in range(q):
            Lam[i, j] = sd * L[i, j]
    return lp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def block_scale_grad(
    GLam: np.ndarray,
    x: np.ndarray,
    off: int,
    q: int,
    diag: bool,
    sd_priors: np.ndarray,
    L: np.ndarray,
    dL: np.ndarray,
    grad: np.ndarray,
) -> None:  # pragma: no cover - numba
    """Add to ``grad[off:]`` the gradient of (everything depending on Lambda, via ``GLam``)
    plus (the terms of :func:`block_scale`) with respect to the block's scale."""
    m = 0 if diag else q * (q - 1) // 2
    for i in range(q):
        sd = math.exp(x[off + i])
        _, pg = prior_lp(sd_priors[i], sd)
        if diag:
            gsd = GLam[i, i]
        else:
            gsd = 0.0
            for j in range(i + 1):
                gsd += GLam[i, j] * L[i, j]
        grad[off + i] += (gsd + pg) * sd + 1.0
    for k in range(m):
        z = math.tanh(x[off + q + k])
        dz = 1.0 - z * z
        gz = -2.0 * z / dz  # d log(1 - z^2) / dz
        for i in range(q):
            sd = math.exp(x[off + i])
            for j in range(i + 1):
                gz += (GLam[i, j] * sd + dL[m, i, j]) * dL[k, i, j]
        grad[off + q + k] += gz * dz
