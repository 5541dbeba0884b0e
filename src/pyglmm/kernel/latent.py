"""The latent blocks' part of :func:`~pyglmm.kernel.logp.logp_grad` (numba, ``cache=True``),
one block per call: the log prior of its effects, and the gradient of that prior plus the
likelihood's gradient ``g_l = d ll / d r_l`` (from the row loops of
:mod:`~pyglmm.kernel.rows`) with respect to its stored effects and its ``Lambda``.

Block k's stored effects (levels x q, a row per level l) are ``r_l`` (centered) or ``z_l``
with ``r_l = Lambda z_l`` (non-centered); a centered term with ``center_i >= 0`` stores
``alpha_li = theta_c + r_li`` instead (hierarchical centering): ``r_li = alpha_li - theta_c``,
and the gradient ``g`` with respect to ``r_li`` goes to ``alpha_li`` and, negated, to
``theta_c``. The term ``lc_term`` (the intercept; -1: none) is centered on the group-level
predictors too (:func:`pyglmm.compile.group_level_centering`): ``r_li = alpha_li - theta_c -
sum_j theta_{lc_index_j} lc_values_lj``, and ``g`` goes to each such ``theta`` times
``-lc_values_lj``. Log priors and gradients per level, with ``u_l = Lambda^-1 r_l``:

    centered:      -1/2 u_l'u_l - sum log Lambda_ii - q/2 log 2 pi,
                   d/dr_l = g_l - Lambda^-T u_l,
                   d/dLambda = sum_l Lambda^-T u_l u_l' - G diag(1/Lambda_ii)   (G levels)
    non-centered:  -1/2 z_l'z_l - q/2 log 2 pi,
                   d/dz_l = Lambda' g_l - z_l,
                   d/dLambda = sum_l g_l z_l'

(d/dLambda: lower triangle, then to the scale by :func:`~pyglmm.kernel.scale.block_scale_grad`).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..marginal import add_mul_lower_transpose, mul_lower, solve_lower, solve_lower_transpose
from .densities import LOG2PI


@numba.njit(cache=True, nogil=True, error_model="numpy")
def latent_block_prior(
    lp: float,
    x: np.ndarray,
    eff: int,
    centered: bool,
    center: np.ndarray,
    lc_term: int,
    lc_index: np.ndarray,
    lc_values: np.ndarray,
    Lam: np.ndarray,
    R: np.ndarray,
    U: np.ndarray,
) -> float:  # pragma: no cover - numba
    """Returns ``lp`` plus one block's log prior of its effects (module docstring), which start
    at ``x[eff]``; fills ``R`` (levels x q) with ``r_l`` and, centered, ``U`` with ``u_l =
    Lambda^-1 r_l``."""
    G, q = R.shape
    xk = x[eff : eff + G * q].reshape((G, q))  # the stored effects, a row per level
    logdiag = 0.0
    for i in range(q):
        logdiag += math.log(Lam[i, i])
    if centered:  # r given; prior N(0, Lam Lam') via u = Lam^-1 r
        for lev in range(G):
            for i in range(q):
                R[lev, i] = xk[lev, i]
                if center[i] >= 0:  # x holds alpha = theta_c + r
                    R[lev, i] -= x[center[i]]
            if lc_term >= 0:  # and the group-level predictors' share
                for j in range(lc_index.shape[0]):
                    if lc_index[j] >= 0:
                        R[lev, lc_term] -= x[lc_index[j]] * lc_values[lev, j]
        solve_lower(Lam, R, U)
    else:  # z given, r = Lam z
        mul_lower(Lam, xk, R)
    for lev in range(G):
        zz = 0.0
        if centered:
            for i in range(q):
                zz += U[lev, i] * U[lev, i]
            lp -= logdiag
        else:
            for i in range(q):
                zz += xk[lev, i] ** 2
        lp += -0.5 * zz - 0.5 * q * LOG2PI
    return lp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def latent_block_grad(
    x: np.ndarray,
    eff: int,
    centered: bool,
    center: np.ndarray,
    lc_term: int,
    lc_index: np.ndarray,
    lc_values: np.ndarray,
    Lam: np.ndarray,
    U: np.ndarray,
    GR: np.ndarray,
    gth: np.ndarray,
    grad: np.ndarray,
) -> np.ndarray:  # pragma: no cover - numba
    """Writes into ``grad[eff:]`` the gradient (prior plus likelihood, ``GR[l] = g_l``) with
    respect to one block's stored effects, subtracts the hierarchically centered terms' share
    from ``gth``, and returns ``d/dLambda`` (module docstring; ``U[l] = u_l``, centered)."""
    G, q = GR.shape
    GL = np.zeros((q, q))
    xk = x[eff : eff + G * q].reshape((G, q))
    gk = grad[eff : eff + G * q].reshape((G, q))
    if centered:
        a = np.empty((G, q))
        solve_lower_transpose(Lam, U, a)  # a = Lam^-T u
        for lev in range(G):
            for i in range(q):
                gr = GR[lev, i] - a[lev, i]
                gk[lev, i] = gr
                if center[i] >= 0:  # d/d theta_c of r = alpha - theta_c
                    gth[center[i]] -= gr
                if i == lc_term:
                    for j in range(lc_index.shape[0]):
                        if lc_index[j] >= 0:
                            gth[lc_index[j]] -= gr * lc_values[lev, j]
                for j in range(i + 1):
                    GL[i, j] += a[lev, i] * U[lev, j]
        for i in range(q):
            GL[i, i] -= G / Lam[i, i]
    else:
        for lev in range(G):
            for j in range(q):
                gk[lev, j] = -xk[lev, j]
        add_mul_lower_transpose(Lam, GR, gk)  # Lam' g - z
        for lev in range(G):
            for i in range(q):
                for j in range(i + 1):
                    GL[i, j] += GR[lev, i] * xk[lev, j]
    return GL
