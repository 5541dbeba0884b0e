"""The kernel's log posterior density and gradient (numba, ``cache=True``).

Layout of the unconstrained vector ``x``::

    [theta (p), log sigma, <marginal block scale>, <latent block 1: scale, effects>, ...]

A block's *scale* is ``log sd`` (q) followed, for ``"lkj"`` blocks, by the ``q(q-1)/2``
unconstrained partial correlations (:func:`~pyglmm.kernel.densities.corr_cholesky`); its
*effects* (latent blocks only) are levels x q values, ``r`` (centered) or ``z`` with
``r_l = Lambda z_l`` (non-centered). ``Lambda = diag(sd) L`` is the block's covariance factor.

Gradients flow back from the likelihood to ``Lambda`` as a matrix ``G_Lambda`` (lower
triangle); :func:`block_scale_grad` maps it to ``log sd`` and the partial correlations.
Latent blocks' log priors and their gradients, per level l with ``u_l = Lambda^-1 r_l``:

    centered:      -1/2 u_l'u_l - sum log Lambda_ii,   d/dr_l = -Lambda^-T u_l,
                   d/dLambda = sum_l Lambda^-T u_l u_l' - G diag(1/Lambda_ii)
    non-centered:  -1/2 z_l'z_l,                        d/dz_l = Lambda' g_l - z_l,
                   d/dLambda = sum_l g_l z_l'          (g_l = d ll / d r_l)
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..marginal import woodbury_system
from .densities import LOG2PI, corr_cholesky, prior_lp


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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def marginal_levels(
    c: np.ndarray, A: np.ndarray, Lam: np.ndarray, s: float, GLam: np.ndarray, W: np.ndarray
) -> tuple[float, float, float, float]:  # pragma: no cover - numba
    """Per level g (``c_g = Z_g'e_g``, ``S_g = A[g]``): ``B_g = s I + Lam' S_g Lam``,
    ``d_g = Lam' c_g``, ``w_g = B_g^-1 d_g`` (stored in ``W[g]``); adds
    ``-S_g Lam B_g^-1 + (c_g - S_g Lam w_g) w_g' / s`` to ``GLam`` and returns the sums over
    levels of ``log det B_g``, ``d_g'w_g``, ``tr B_g^-1`` and ``w_g'w_g``."""
    G, q = c.shape
    SL = np.empty((q, q))
    B = np.empty((q, q))
    C = np.empty((q, q))
    d = np.empty(q)
    v = np.empty(q)
    w = np.empty(q)
    Binv = np.empty((q, q))
    logdet = quad = tr = ww = 0.0
    for g in range(G):
        logdet += woodbury_system(A[g], Lam, c[g], s, SL, B, C, d)
        for col in range(q + 1):  # B w = d (col = q) and B Binv = I (col < q)
            for i in range(q):
                acc = d[i] if col == q else (1.0 if i == col else 0.0)
                for k in range(i):
                    acc -= C[i, k] * v[k]
                v[i] = acc / C[i, i]
            for i in range(q - 1, -1, -1):
                acc = v[i]
                for k in range(i + 1, q):
                    acc -= C[k, i] * (w[k] if col == q else Binv[k, col])
                if col == q:
                    w[i] = acc / C[i, i]
                else:
                    Binv[i, col] = acc / C[i, i]
        for i in range(q):
            quad += d[i] * w[i]
            tr += Binv[i, i]
            ww += w[i] * w[i]
            W[g, i] = w[i]
        for i in range(q):
            r_i = c[g, i]
            for k in range(q):
                r_i -= SL[i, k] * w[k]
            for j in range(i + 1):
                acc = 0.0
                for k in range(q):
                    acc += SL[i, k] * Binv[k, j]
                GLam[i, j] += -acc + r_i * w[j] / s
    return logdet, quad, tr, ww


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
        ee = yty
        for k in range(p):
            acc = 0.0
            for j in range(p):
                acc += XtX[k, j] * th[j]
            ee += th[k] * (acc - 2.0 * Xty[k])
            gth[k] = (Xty[k] - acc) / s
        c = np.empty((G, q))
        for g in range(G):
            for i in range(q):
                acc = Zy[g, i]
                for k in range(p):
                    acc -= ZX[g, i, k] * th[k]
                c[g, i] = acc
        logdet, quad, tr, ww = marginal_levels(c, A, Lam, s, GLam, W)
        for g in range(G):
            for i in range(q):
                lw = 0.0
                for k in range(i + 1):
                    lw += Lam[i, k] * W[g, k]
                for k in range(p):
                    gth[k] -= ZX[g, i, k] * lw / s
    else:  # residuals row by row: O(n (p + sum q)) per evaluation
        qmax = lat_Z.shape[2]
        gmax = 1
        for k in range(K):
            gmax = max(gmax, lat_G[k])
        R = np.zeros((K, gmax, qmax))
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
            eff = off + qk + mk
            logdiag = 0.0
            for i in range(qk):
                logdiag += math.log(Lamk[i, i])
            u = np.empty(qk)
            for lev in range(Gk):
                zz = 0.0
                if lat_centered[k]:  # r given; prior N(0, Lam Lam') via u = Lam^-1 r
                    for i in range(qk):
                        R[k, lev, i] = x[eff + lev * qk + i]
                        acc = R[k, lev, i]
                        for j in range(i):
                            acc -= Lamk[i, j] * u[j]
                        u[i] = acc / Lamk[i, i]
                        zz += u[i] * u[i]
                    lp -= logdiag
                else:  # z given, r = Lam z
                    for i in range(qk):
                        acc = 0.0
                        for j in range(i + 1):
                            acc += Lamk[i, j] * x[eff + lev * qk + j]
                        R[k, lev, i] = acc
                        zz += x[eff + lev * qk + i] ** 2
                lp += -0.5 * zz - 0.5 * qk * LOG2PI
        e = np.empty(n)
        c = np.zeros((G, q))
        ee = 0.0
        for row in range(n):
            acc = ys[row]
            for j in range(p):
                acc -= Xc[row, j] * th[j]
            for k in range(K):
                lev = lat_codes[k, row]
                for j in range(lat_q[k]):
                    acc -= lat_Z[k, row, j] * R[k, lev, j]
            e[row] = acc
            ee += acc * acc
            if q > 0:
                g = m_codes[row]
                for j in range(q):
                    c[g, j] += Zm[row, j] * acc
        logdet = quad = tr = ww = 0.0
        LW = np.zeros((G, q))
        if q > 0:
            logdet, quad, tr, ww = marginal_levels(c, A, Lam, s, GLam, W)
            for g in range(G):
                for i in range(q):
                    for k in range(i + 1):
                        LW[g, i] += Lam[i, k] * W[g, k]
        GR = np.zeros((K, gmax, qmax))
        for row in range(n):  # v = V^-1 e = (e - Z Lam w) / s: d ll / d(row's mean)
            v = e[row]
            if q > 0:
                g = m_codes[row]
                for j in range(q):
                    v -= Zm[row, j] * LW[g, j]
            v /= s
            for j in range(p):
                gth[j] += Xc[row, j] * v
            for k in range(K):
                lev = lat_codes[k, row]
                for j in range(lat_q[k]):
                    GR[k, lev, j] += lat_Z[k, row, j] * v
        for k in range(K):
            qk, Gk = lat_q[k], lat_G[k]
            mk = 0 if lat_diag[k] else qk * (qk - 1) // 2
            Lamk = LamK[k, :qk, :qk]
            eff = lat_off[k] + qk + mk
            GLk = np.zeros((qk, qk))
            u = np.empty(qk)
            a = np.empty(qk)
            for lev in range(Gk):
                if lat_centered[k]:
                    for i in range(qk):
                        acc = R[k, lev, i]
                        for j in range(i):
                            acc -= Lamk[i, j] * u[j]
                        u[i] = acc / Lamk[i, i]
                    for i in range(qk - 1, -1, -1):  # a = Lam^-T u
                        acc = u[i]
                        for j in range(i + 1, qk):
                            acc -= Lamk[j, i] * a[j]
                        a[i] = acc / Lamk[i, i]
                    for i in range(qk):
                        grad[eff + lev * qk + i] = GR[k, lev, i] - a[i]
                        for j in range(i + 1):
                            GLk[i, j] += a[i] * u[j]
                else:
                    for j in range(qk):
                        acc = -x[eff + lev * qk + j]
                        for i in range(j, qk):
                            acc += Lamk[i, j] * GR[k, lev, i]
                        grad[eff + lev * qk + j] = acc
                    for i in range(qk):
                        for j in range(i + 1):
                            GLk[i, j] += GR[k, lev, i] * x[eff + lev * qk + j]
            if lat_centered[k]:
                for i in range(qk):
                    GLk[i, i] -= Gk / Lamk[i, i]
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

    quad_res = ee - quad
    G_q = G * q
    lp += -0.5 * (n * LOG2PI + (n - G_q) * math.log(s) + logdet + quad_res / s)
    dll_ds = -0.5 * ((n - G_q) / s + tr - quad_res / (s * s) + ww / s)

    for k in range(p):
        plp, pg = prior_lp(theta_priors[k], x[k])
        lp += plp
        grad[k] = gth[k] + pg
    plp, pg = prior_lp(sigma_prior, sigma)
    lp += plp + x[p]
    grad[p] = dll_ds * 2.0 * s + pg * sigma + 1.0
    if q > 0:
        block_scale_grad(GLam, x, p + 1, q, diag, sd_priors, L, dL, grad)
    ok = np.isfinite(lp)
    for i in range(grad.shape[0]):
        ok = ok and np.isfinite(grad[i])
    if not ok:  # overflow far out in the tails (early warm-up): reject the point
        grad[:] = 0.0
        return -np.inf
    return lp
