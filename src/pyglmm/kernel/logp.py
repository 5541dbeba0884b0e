"""The kernel's log posterior density and gradient (numba, ``cache=True``).

Layout of the unconstrained vector ``x``::

    [theta (p), log sigma, <marginal block scale>, <latent block 1: scale, effects>, ...]

A block's *scale* is ``log sd`` (q) followed, for ``"lkj"`` blocks, by the ``q(q-1)/2``
unconstrained partial correlations (:func:`~pyglmm.kernel.densities.corr_cholesky`); its
*effects* (latent blocks only) are levels x q values, ``r`` (centered) or ``z`` with
``r_l = Lambda z_l`` (non-centered). A centered term with ``lat_center >= 0`` stores
``alpha_l = theta_c + r_l`` instead (hierarchical centering, see
:func:`pyglmm.compile.hierarchical_centering`): ``r_l = alpha_l - theta_c``, and the gradient
``g`` with respect to ``r_l`` goes to ``alpha_l`` and, negated, to ``theta_c``.
``Lambda = diag(sd) L`` is the block's covariance factor.

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

from ..marginal import (
    add_mul_lower_transpose,
    mul_lower,
    solve_lower,
    solve_lower_transpose,
    woodbury_system,
)
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
def marginal_levels_scalar(
    c: np.ndarray, S: np.ndarray, lam: float, s: float, GLam: np.ndarray, W: np.ndarray
) -> tuple[float, float, float, float]:  # pragma: no cover - numba
    """:func:`marginal_levels` for q = 1, the same operations in scalars: ``b_g = s +
    lam^2 S_g``, ``w_g = lam c_g / b_g``, ``GLam += -S_g lam / b_g + (c_g - S_g lam w_g)
    w_g / s`` (``S_g = A[g, 0, 0]``)."""
    logdet = quad = tr = ww = gl = 0.0
    for g in range(c.shape[0]):
        sl = S[g] * lam
        root = math.sqrt(lam * sl + s)  # the Cholesky factor of b_g, as in woodbury_system
        logdet += 2.0 * math.log(root)
        d = lam * c[g]
        w = d / root / root
        binv = 1.0 / root / root
        quad += d * w
        tr += binv
        ww += w * w
        W[g] = w
        gl += -(sl * binv) + (c[g] - sl * w) * w / s
    GLam[0, 0] += gl
    return logdet, quad, tr, ww


@numba.njit(cache=True, nogil=True, error_model="numpy")
def marginal_levels(
    c: np.ndarray, A: np.ndarray, Lam: np.ndarray, s: float, GLam: np.ndarray, W: np.ndarray
) -> tuple[float, float, float, float]:  # pragma: no cover - numba
    """Per level g (``c_g = Z_g'e_g``, ``S_g = A[g]``): ``B_g = s I + Lam' S_g Lam``,
    ``d_g = Lam' c_g``, ``w_g = B_g^-1 d_g`` (stored in ``W[g]``); adds
    ``-S_g Lam B_g^-1 + (c_g - S_g Lam w_g) w_g' / s`` to ``GLam`` and returns the sums over
    levels of ``log det B_g``, ``d_g'w_g``, ``tr B_g^-1`` and ``w_g'w_g``."""
    G, q = c.shape
    if q == 1:
        return marginal_levels_scalar(c[:, 0], A[:, 0, 0], Lam[0, 0], s, GLam, W[:, 0])
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
        # B w = d (col = q) and B Binv = I (col < q): the two substitutions written out, not
        # solve_lower/solve_lower_transpose (2 calls per level cost 15% here with q = 2)
        for col in range(q + 1):
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


# The row loops of logp_grad (blocks latent): one pass over a chunk of rows per helper below,
# each a tight loop specialised for q = 1; every sum adds the same terms in the same order as
# a plain loop over the rows (bit-identical results). A chunk's residuals stay in cache
# between the passes.
ROWS = 4096


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fixed_residuals(
    ys: np.ndarray, Xc: np.ndarray, th: np.ndarray, e: np.ndarray
) -> None:  # pragma: no cover - numba
    """``e_i = y_i - X_i theta``, two columns per pass over the rows (p odd: the last pass
    subtracts the last column times 0, which leaves ``e`` unchanged)."""
    n, p = Xc.shape
    e[:] = ys
    for j in range(0, p, 2):
        j2 = min(j + 1, p - 1)
        t, t2 = th[j], th[j2] if j2 > j else 0.0
        for row in range(n):
            e[row] = e[row] - Xc[row, j] * t - Xc[row, j2] * t2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def subtract_effects(
    e: np.ndarray, codes: np.ndarray, Z: np.ndarray, q: int, unit: bool, R: np.ndarray
) -> None:  # pragma: no cover - numba
    """``e_i -= Z_i r_l(i)`` for one latent block (``R``: its levels x q effects; ``unit``:
    its only column is ones)."""
    n = e.shape[0]
    if unit:
        for row in range(n):
            e[row] -= R[codes[row], 0]
    elif q == 1:
        for row in range(n):
            e[row] -= Z[row, 0] * R[codes[row], 0]
    else:
        for row in range(n):
            lev = codes[row]
            acc = e[row]
            for j in range(q):
                acc -= Z[row, j] * R[lev, j]
            e[row] = acc


@numba.njit(cache=True, nogil=True, error_model="numpy")
def residual_sums(
    e: np.ndarray, codes: np.ndarray, Z: np.ndarray, c: np.ndarray, ee: float
) -> float:  # pragma: no cover - numba
    """Returns ``ee + sum_i e_i^2`` and adds ``Z_i'e_i`` to ``c[g(i)]`` (the marginal block's
    ``c_g = Z_g'e_g``; none: ``c`` has no columns). With q = 1, ``c_g`` is carried in a
    register over each run of consecutive rows of one level (data sorted by the grouping
    factor: few, long runs)."""
    n = e.shape[0]
    q = c.shape[1]
    if q == 0 or n == 0:
        for row in range(n):
            ee += e[row] * e[row]
    elif q == 1:
        g = codes[0]
        acc = c[g, 0]
        for row in range(n):
            ee += e[row] * e[row]
            if codes[row] != g:
                c[g, 0] = acc
                g = codes[row]
                acc = c[g, 0]
            acc += Z[row, 0] * e[row]
        c[g, 0] = acc
    else:
        for row in range(n):
            ee += e[row] * e[row]
            g = codes[row]
            for j in range(q):
                c[g, j] += Z[row, j] * e[row]
    return ee


@numba.njit(cache=True, nogil=True, error_model="numpy")
def mean_grad(
    e: np.ndarray,
    codes: np.ndarray,
    Z: np.ndarray,
    LW: np.ndarray,
    s: float,
    Xc: np.ndarray,
    gth: np.ndarray,
) -> None:  # pragma: no cover - numba
    """Overwrites ``e_i`` with ``v_i = (V^-1 e)_i = (e_i - Z_i Lam w_g(i)) / s`` (``LW[g] =
    Lam w_g``; no marginal block: ``e_i / s``), d ll / d mean_i, and adds ``X'v`` to ``gth``
    (its first two columns in the same pass)."""
    n, p = Xc.shape
    q = LW.shape[1]
    j2 = min(1, p - 1)  # p = 1: column 0 twice, the copy discarded
    a, b = (gth[0], gth[j2]) if p > 0 else (0.0, 0.0)
    for row in range(n):
        v = e[row]
        if q == 1:
            v -= Z[row, 0] * LW[codes[row], 0]
        else:
            g = codes[row]
            for j in range(q):
                v -= Z[row, j] * LW[g, j]
        v /= s
        e[row] = v
        if p > 0:
            a += Xc[row, 0] * v
            b += Xc[row, j2] * v
    if p > 0:
        gth[j2] = b
        gth[0] = a
    add_xtv(Xc, e, gth, 2)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def add_xtv(
    Xc: np.ndarray, v: np.ndarray, gth: np.ndarray, first: int
) -> None:  # pragma: no cover - numba
    """``gth[j] += X_j'v`` for the columns ``j >= first``, two per pass, each summed in a
    register (an odd number: the last column twice, the copy discarded)."""
    n, p = Xc.shape
    for j in range(first, p, 2):
        j2 = min(j + 1, p - 1)
        a, b = gth[j], gth[j2]
        for row in range(n):
            a += Xc[row, j] * v[row]
            b += Xc[row, j2] * v[row]
        gth[j2] = b
        gth[j] = a


@numba.njit(cache=True, nogil=True, error_model="numpy")
def add_effects_grad(
    v: np.ndarray, codes: np.ndarray, Z: np.ndarray, q: int, unit: bool, GR: np.ndarray
) -> None:  # pragma: no cover - numba
    """``GR_l += Z_i' v_i`` over the rows i of level l of one latent block (``v = d ll /
    d mean``): the likelihood's gradient with respect to its effects ``r_l``."""
    n = v.shape[0]
    if unit:
        for row in range(n):
            GR[codes[row], 0] += v[row]
    elif q == 1:
        for row in range(n):
            GR[codes[row], 0] += Z[row, 0] * v[row]
    else:
        for row in range(n):
            lev = codes[row]
            for j in range(q):
                GR[lev, j] += Z[row, j] * v[row]


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
        mul_lower(Lam, W, W)  # W[g] = Lam w_g
        for g in range(G):
            for i in range(q):
                for k in range(p):
                    gth[k] -= ZX[g, i, k] * W[g, i] / s
    else:  # residuals row by row: O(n (p + sum q)) per evaluation
        qmax = lat_Z.shape[2]
        gmax = 1
        for k in range(K):
            gmax = max(gmax, lat_G[k])
        R = np.zeros((K, gmax, qmax))
        U = np.zeros((K, gmax, qmax))  # centered blocks: rows Lam^-1 r_l
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
            xk = x[eff : eff + Gk * qk].reshape((Gk, qk))  # the stored effects, a row per level
            Rk, Uk = R[k, :Gk, :qk], U[k, :Gk, :qk]
            if lat_centered[k]:  # r given; prior N(0, Lam Lam') via u = Lam^-1 r
                for lev in range(Gk):
                    for i in range(qk):
                        Rk[lev, i] = xk[lev, i]
                        if lat_center[k, i] >= 0:  # x holds alpha = theta_c + r
                            Rk[lev, i] -= x[lat_center[k, i]]
                solve_lower(Lamk, Rk, Uk)
            else:  # z given, r = Lam z
                mul_lower(Lamk, xk, Rk)
            for lev in range(Gk):
                zz = 0.0
                if lat_centered[k]:
                    for i in range(qk):
                        zz += Uk[lev, i] * Uk[lev, i]
                    lp -= logdiag
                else:
                    for i in range(qk):
                        zz += xk[lev, i] ** 2
                lp += -0.5 * zz - 0.5 * qk * LOG2PI
        e = np.empty(n)  # e = y - X theta - sum_k Z_k r_k, then v = V^-1 e (chunk by chunk)
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
        GR = np.zeros((K, gmax, qmax))
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
            eff = lat_off[k] + qk + mk
            GLk = np.zeros((qk, qk))
            GRk = GR[k, :Gk, :qk]
            xk = x[eff : eff + Gk * qk].reshape((Gk, qk))
            gk = grad[eff : eff + Gk * qk].reshape((Gk, qk))
            if lat_centered[k]:
                Uk = U[k, :Gk, :qk]  # u = Lam^-1 r
                a = np.empty((Gk, qk))
                solve_lower_transpose(Lamk, Uk, a)  # a = Lam^-T u
                for lev in range(Gk):
                    for i in range(qk):
                        gr = GRk[lev, i] - a[lev, i]
                        gk[lev, i] = gr
                        if lat_center[k, i] >= 0:  # d/d theta_c of r = alpha - theta_c
                            gth[lat_center[k, i]] -= gr
                        for j in range(i + 1):
                            GLk[i, j] += a[lev, i] * Uk[lev, j]
            else:
                for lev in range(Gk):
                    for j in range(qk):
                        gk[lev, j] = -xk[lev, j]
                add_mul_lower_transpose(Lamk, GRk, gk)  # Lam' g - z
                for lev in range(Gk):
                    for i in range(qk):
                        for j in range(i + 1):
                            GLk[i, j] += GRk[lev, i] * xk[lev, j]
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
