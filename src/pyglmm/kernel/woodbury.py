"""The marginal block's per-level terms of the Woodbury form and their gradient with respect
to ``Lambda`` (numba, ``cache=True``); the formulas are in :mod:`pyglmm.kernel`."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..marginal import woodbury_system


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
