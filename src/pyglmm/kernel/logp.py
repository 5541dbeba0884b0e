"""The kernel's log posterior density and gradient, :func:`logp_grad` (numba, ``cache=True``).

Layout of the unconstrained vector ``x``::

    [theta (p), log sigma, <marginal block scale>, <latent block 1: scale, effects>, ...]

A block's *scale* is ``log sd`` (q) followed, for ``"lkj"`` blocks, by the ``q(q-1)/2``
unconstrained partial correlations (:mod:`~pyglmm.kernel.scale`); its *effects* (latent blocks
only) are levels x q values, ``r`` (centered) or ``z`` with ``r_l = Lambda z_l``
(non-centered), or ``alpha_l = theta_c + r_l`` for hierarchically centered terms
(:mod:`~pyglmm.kernel.latent`, :func:`pyglmm.compile.hierarchical_centering`).
``Lambda = diag(sd) L`` is the block's covariance factor. Gradients flow back from the
likelihood to ``Lambda`` as a matrix ``G_Lambda`` (lower triangle);
:func:`~pyglmm.kernel.scale.block_scale_grad` maps it to ``log sd`` and the partial
correlations.

:func:`logp_grad` (its arguments are the data, read by the C callback of
:mod:`pyglmm.kernel.ccall` from a table) computes, with the formulas of :mod:`pyglmm.kernel`:

1. the marginal block's scale (:func:`~pyglmm.kernel.scale.block_scale`);
2. without latent blocks, the residual terms from sufficient statistics, nothing per row
   (:func:`sufficient_residuals`, :func:`sufficient_fixed_grad`); otherwise each latent
   block's scale and effects prior (:func:`~pyglmm.kernel.latent.latent_block_prior`), the
   residuals chunk by chunk of rows (:mod:`~pyglmm.kernel.rows`), then backwards
   ``V^-1 e`` to ``theta`` and the effects, and each latent block's gradient
   (:func:`~pyglmm.kernel.latent.latent_block_grad`,
   :func:`~pyglmm.kernel.scale.block_scale_grad`); in both, the marginal block's per-level
   terms (:func:`~pyglmm.kernel.woodbury.marginal_levels`);
3. the gaussian log-likelihood and its derivative in ``s = sigma^2``
   (:func:`gaussian_loglik`), the priors of ``theta`` and ``sigma`` (:func:`fixed_priors`),
   the marginal block's scale gradient, and the rejection of non-finite points
   (:func:`finite_or_reject`).

The helpers take the arrays they need, few per call: numba inlines them into ``logp_grad``,
but each array argument costs an atomic reference-count update on the way in and out.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..marginal import mul_lower
from .densities import LOG2PI, prior_lp
from .latent import latent_block_grad, latent_block_prior
from .rows import (
    ROWS,
    add_effects_grad,
    fixed_residuals,
    mean_grad,
    residual_sums,
    subtract_effects,
)
from .scale import block_scale, block_scale_grad
from .woodbury import marginal_levels

__all__ = ["block_scale", "block_scale_grad", "logp_grad", "marginal_levels"]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sufficient_residuals(
    th: np.ndarray,
    s: float,
    ZX: np.ndarray,
    Zy: np.ndarray,
    XtX: np.ndarray,
    Xty: np.ndarray,
    yty: float,
    c: np.ndarray,
    gth: np.ndarray,
) -> float:  # pragma: no cover - numba
    """Without latent blocks, from the sufficient statistics (:class:`~pyglmm.marginal.
    MarginalStats`): returns ``e'e = y'y - 2 theta'X'y + theta'X'X theta``, sets ``gth =
    (X'y - X'X theta) / s`` and ``c_g = Z_g'e_g = Z_g'y - (Z_g'X) theta``."""
    G, q = c.shape
    p = th.shape[0]
    ee = yty
    for k in range(p):
        acc = 0.0
        for j in range(p):
            acc += XtX[k, j] * th[j]
        ee += th[k] * (acc - 2.0 * Xty[k])
        gth[k] = (Xty[k] - acc) / s
    for g in range(G):
        for i in range(q):
            acc = Zy[g, i]
            for k in range(p):
                acc -= ZX[g, i, k] * th[k]
            c[g, i] = acc
    return ee


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sufficient_fixed_grad(
    ZX: np.ndarray, Lam: np.ndarray, W: np.ndarray, s: float, gth: np.ndarray
) -> None:  # pragma: no cover - numba
    """``gth -= sum_g (Z_g'X_g)' Lambda w_g / s`` (``W[g] = w_g``): the marginal block's part
    of ``d ll / d theta`` from the sufficient statistics. ``(Lambda w_g)_i`` is summed in a
    register as it is used (:func:`~pyglmm.marginal.mul_lower` into an array first costs 10%
    of the gradient with 60 levels)."""
    G, q, p = ZX.shape
    for g in range(G):
        for i in range(q):
            lw = 0.0
            for k in range(i + 1):
                lw += Lam[i, k] * W[g, k]
            for k in range(p):
                gth[k] -= ZX[g, i, k] * lw / s


@numba.njit(cache=True, nogil=True, error_model="numpy")
def gaussian_loglik(
    lp: float,
    n: int,
    Gq: int,
    s: float,
    ee: float,
    logdet: float,
    quad: float,
    tr: float,
    ww: float,
) -> tuple[float, float]:  # pragma: no cover - numba
    """Returns ``lp + ll`` and ``d ll / d s`` (``s = sigma^2``, ``Gq = G q``; the sums over
    levels g of ``log det B_g``, ``d_g'w_g``, ``tr B_g^-1``, ``w_g'w_g`` come from
    :func:`~pyglmm.kernel.woodbury.marginal_levels`, all 0 without a marginal block):

        ll      = -1/2 [n log 2 pi + (n - G q) log s + logdet + (e'e - quad) / s]
        d ll/ds = -1/2 [(n - G q) / s + tr - (e'e - quad) / s^2 + ww / s]
    """
    quad_res = ee - quad
    lp += -0.5 * (n * LOG2PI + (n - Gq) * math.log(s) + logdet + quad_res / s)
    dll_ds = -0.5 * ((n - Gq) / s + tr - quad_res / (s * s) + ww / s)
    return lp, dll_ds


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fixed_priors(
    lp: float,
    x: np.ndarray,
    theta_priors: np.ndarray,
    sigma_prior: np.ndarray,
    gth: np.ndarray,
    dll_ds: float,
    grad: np.ndarray,
) -> float:  # pragma: no cover - numba
    """Returns ``lp`` plus the log priors of ``theta = x[:p]`` and ``sigma = exp(x[p])`` (with
    the log-Jacobian ``x[p]``); writes ``grad[k] = gth[k] + d log p / d theta_k`` and
    ``grad[p] = d ll / ds 2 s + d log p / d sigma sigma + 1`` (``d/d log sigma``)."""
    p = gth.shape[0]
    for k in range(p):
        plp, pg = prior_lp(theta_priors[k], x[k])
        lp += plp
        grad[k] = gth[k] + pg
    sigma = math.exp(x[p])
    s = sigma * sigma
    plp, pg = prior_lp(sigma_prior, sigma)
    lp += plp + float(x[p])
    grad[p] = dll_ds * 2.0 * s + pg * sigma + 1.0
    return lp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def finite_or_reject(lp: float, grad: np.ndarray) -> float:  # pragma: no cover - numba
    """``lp``, or -inf with ``grad`` zeroed where ``lp`` or the gradient is not finite
    (overflow far out in the tails, early in warm-up: the sampler rejects the point)."""
    ok = np.isfinite(lp)
    for i in range(grad.shape[0]):
        ok = ok and np.isfinite(grad[i])
    if not ok:
        grad[:] = 0.0
        return -np.inf
    return lp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def logp_grad(
    x: np.ndarray,
    grad: np.ndarray,
    p: int,
    n: int,
    shift: float,
    theta_priors: np.ndarray,
    sigma_prior: np.ndarray,
    # the marginal block (q = 0: none) and its sufficient statistics
    q: int,
    diag: bool,
    eta: float,
    sd_priors: np.ndarray,
    A: np.ndarray,
    ZX: np.ndarray,
    Zy: np.ndarray,
    XtX: np.ndarray,
    Xty: np.ndarray,
    yty: float,
    # rows (used when there are latent blocks or no marginal block)
    Xc: np.ndarray,
    ys: np.ndarray,
    m_codes: np.ndarray,
    Zm: np.ndarray,
    # latent blocks k = 0..K-1, padded to the largest q and number of levels
    lat_q: np.ndarray,
    lat_G: np.ndarray,
    lat_diag: np.ndarray,
    lat_centered: np.ndarray,
    lat_eta: np.ndarray,
    lat_sd_priors: np.ndarray,
    lat_off: np.ndarray,
    lat_codes: np.ndarray,
    lat_Z: np.ndarray,
    lat_unit: np.ndarray,  # block k's only column is ones (its row loops skip the multiply)
    lat_center: np.ndarray,  # (K, qmax): theta index a centered term is centered on, or -1
    lat_lc_term: np.ndarray,  # (K,): the term centered on group-level predictors too, or -1
    lat_lc_index: np.ndarray,  # (K, Pmax): their theta indices (-1 padded)
    lat_lc_values: np.ndarray,  # (K, gmax, Pmax): their values per level
) -> float:  # pragma: no cover - numba
    """Log posterior density at ``x`` (module docstring and :mod:`pyglmm.kernel`); writes
    its gradient into ``grad``."""
    K = lat_q.shape[0]
    grad[:] = 0.0
    th = x[:p].copy()
    if p > 0:
        th[0] -= shift  # shift is 0 without an intercept
    sigma = math.exp(x[p])
    s = sigma * sigma
    m = 0 if diag else q * (q - 1) // 2
    Lam = np.zeros((q, q))
    L = np.eye(q)
    dL = np.zeros((m + 1, q, q))
    lp = 0.0
    if q > 0:
        lp += block_scale(x, p + 1, q, diag, eta, sd_priors, Lam, L, dL)
        if not np.isfinite(lp):
            return -np.inf
    G = A.shape[0]
    GLam = np.zeros((q, q))
    W = np.empty((G, q))
    gth = np.zeros(p)
    if K == 0 and q > 0:  # sufficient statistics only: O(G q^3 + G q p) per evaluation
        c = np.empty((G, q))
        ee = sufficient_residuals(th, s, ZX, Zy, XtX, Xty, yty, c, gth)
        logdet, quad, tr, ww = marginal_levels(c, A, Lam, s, GLam, W)
        sufficient_fixed_grad(ZX, Lam, W, s, gth)
    else:  # residuals row by row: O(n (p + sum q)) per evaluation
        qmax = lat_Z.shape[2]
        gmax = 1
        for k in range(K):
            gmax = max(gmax, lat_G[k])
        R = np.zeros((K, gmax, qmax))  # effects r, a row per level
        U = np.zeros((K, gmax, qmax))  # Lam^-1 r (centered blocks)
        LamK = np.zeros((K, qmax, qmax))
        LK = np.zeros((K, qmax, qmax))
        mmax = qmax * (qmax - 1) // 2
        dLK = np.zeros((K, mmax + 1, qmax, qmax))
        for k in range(K):
            qk, Gk = lat_q[k], lat_G[k]
            mk = 0 if lat_diag[k] else qk * (qk - 1) // 2
            Lk, Lamk, dLk = np.eye(qk), np.zeros((qk, qk)), np.zeros((mk + 1, qk, qk))
            off = lat_off[k]
            lp += block_scale(x, off, qk, lat_diag[k], lat_eta[k], lat_sd_priors[k], Lamk, Lk, dLk)
            if not np.isfinite(lp):
                return -np.inf
            LamK[k, :qk, :qk] = Lamk
            LK[k, :qk, :qk] = Lk
            dLK[k, : mk + 1, :qk, :qk] = dLk
            lp = latent_block_prior(
                lp,
                x,
                off + qk + mk,
                lat_centered[k],
                lat_center[k],
                lat_lc_term[k],
                lat_lc_index[k],
                lat_lc_values[k, :Gk],
                Lamk,
                R[k, :Gk, :qk],
                U[k, :Gk, :qk],
            )
        e = np.empty(n)  # e = y - X theta - sum_k Z_k r_k, then v = V^-1 e
        c = np.zeros((G, q))
        ee = 0.0
        for lo in range(0, n, ROWS):
            hi = min(lo + ROWS, n)
            fixed_residuals(ys[lo:hi], Xc[lo:hi], th, e[lo:hi])
            for k in range(K):
                subtract_effects(
                    e[lo:hi], lat_codes[k, lo:hi], lat_Z[k, lo:hi], lat_q[k], lat_unit[k], R[k]
                )
            ee = residual_sums(e[lo:hi], m_codes[lo:hi], Zm[lo:hi], c, ee)
        logdet = quad = tr = ww = 0.0
        if q > 0:
            logdet, quad, tr, ww = marginal_levels(c, A, Lam, s, GLam, W)
            mul_lower(Lam, W, W)  # W[g] = Lam w_g
        GR = np.zeros((K, gmax, qmax))  # d ll / d r, a row per level
        for lo in range(0, n, ROWS):
            hi = min(lo + ROWS, n)
            mean_grad(e[lo:hi], m_codes[lo:hi], Zm[lo:hi], W, s, Xc[lo:hi], gth)
            for k in range(K):
                add_effects_grad(
                    e[lo:hi], lat_codes[k, lo:hi], lat_Z[k, lo:hi], lat_q[k], lat_unit[k], GR[k]
                )
        for k in range(K):
            qk, Gk = lat_q[k], lat_G[k]
            mk = 0 if lat_diag[k] else qk * (qk - 1) // 2
            Lamk = LamK[k, :qk, :qk]
            GLk = latent_block_grad(
                x,
                lat_off[k] + qk + mk,
                lat_centered[k],
                lat_center[k],
                lat_lc_term[k],
                lat_lc_index[k],
                lat_lc_values[k, :Gk],
                Lamk,
                U[k, :Gk, :qk],
                GR[k, :Gk, :qk],
                gth,
                grad,
            )
            block_scale_grad(
                GLk,
                x,
                lat_off[k],
                qk,
                lat_diag[k],
                lat_sd_priors[k],
                LK[k, :qk, :qk],
                dLK[k, : mk + 1, :qk, :qk],
                grad,
            )
    lp, dll_ds = gaussian_loglik(lp, n, G * q, s, ee, logdet, quad, tr, ww)
    lp = fixed_priors(lp, x, theta_priors, sigma_prior, gth, dll_ds, grad)
    if q > 0:
        block_scale_grad(GLam, x, p + 1, q, diag, sd_priors, L, dL, grad)
    return finite_or_reject(lp, grad)
