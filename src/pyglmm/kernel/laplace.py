"""A GLMM block integrated out by the Laplace approximation inside NUTS
(``parameterization="laplace"``; the embedded Laplace of Margossian et al. 2020): the effects
of one block are not sampled, NUTS sees only the fixed effects, the family parameters and the
blocks' scales, and afterwards the effects are drawn from the Gaussian approximation.

**The approximation.** Write the block's effects as ``r_l = Lambda z_l`` (``Lambda = diag(sd)
L``, :mod:`~pyglmm.kernel.scale`), so ``z_l ~ N(0, I_q)``. Given everything else, ``psi``
(theta, the other blocks' effects, the scales, the negative binomial's shape), the levels are
conditionally independent; for level l with rows i,

    eta_i = c_i + Z_i Lambda z,     c_i = offset_i + X_i theta + (the other blocks),
    g_l(z) = sum_i ll_i(eta_i) - 1/2 z'z,

and ``log p(y_l | psi) = log int exp(g_l(z)) (2 pi)^-q/2 dz``. Newton's method (from ``z = 0``,
with step halving; ``g_l`` is strictly concave for these families, whose rows are log-concave
in ``eta``) finds the mode ``z*_l``, where ``Lambda' Z_l' v = z*`` (``v_i = d ll_i / d
eta_i``), and the Laplace approximation is

    log p(y_l | psi) ~= g_l(z*_l) - 1/2 log det B_l,     B_l = I + Lambda' Z_l' W Z_l Lambda,

``W_i = -d2 ll_i / d eta_i^2`` the exact second derivative (the observed information, so the
gradient below is that of the approximation computed). In ``r``-space this is the usual
``f_l(u*) + q/2 log 2 pi - 1/2 log det H_l``, ``H_l = Z_l'W Z_l + Sigma^-1``, since ``H_l =
Lambda^-T B_l Lambda^-1``; the ``z`` form stays finite as an SD goes to 0 (``B_l -> I``), as in
lme4's PIRLS. Newton stops after a full step shorter than :data:`STEP_TOL` (the mode is then
within ``O(STEP_TOL^2)``, Newton converging quadratically); every level starts at ``z = 0``
(no state kept between calls: nutpie calls the density from several threads at once).

**The gradient.** ``L_l(psi) = G(psi, z*(psi))`` with ``G = g_l - 1/2 log det B_l``. By the
envelope theorem ``d g_l(psi, z*) / d psi = dg_l / d psi`` at fixed ``z``: ``v_i`` per row
(to ``c_i``, hence to theta and the other blocks) and ``(Z'v) z*'`` to ``Lambda``. The log
determinant moves with ``Lambda`` directly and through ``W_i(eta_i)``, whose ``eta_i`` moves
with ``c_i``, ``Lambda`` and the mode. With ``B = C C'``, ``t_i = Lambda' Z_i'``, the row
leverages ``h_i = t_i' B^-1 t_i`` and ``d3_i = d3 ll_i / d eta_i^3`` (``dW_i = -d3_i
d eta_i``),

    d(-1/2 log det B) = -<dLambda, M Lambda B^-1> + sum_i a_i d eta_i,
    a_i = h_i d3_i / 2,      M = Z'W Z,
    d eta_i = dc_i + Z_i dLambda z* + t_i' dz*.

The mode's derivative follows from differentiating ``Lambda' Z' v(eta) = z``:

    B dz* = dLambda' Z'v - Lambda' Z' W (dc + Z dLambda z*),

so with ``s = sum_i a_i t_i = Lambda' Z'a`` and the adjoint ``w = B^-1 s`` the term ``sum_i
a_i t_i' dz* = s' dz* = w' B dz*`` becomes ``w' dLambda' Z'v - sum_i W_i (t_i'w) (dc_i + Z_i
dLambda z*)``: one q x q solve per level, no derivative of the mode is formed. Collecting
terms, with ``u_i = t_i'w = Z_i Lambda w``:

    d L_l / d c_i    = V_i = v_i + a_i - W_i u_i,
    d L_l / d Lambda = (Z'V) z*' + (Z'v) w' - M Lambda B^-1     (lower triangle),

``V_i`` taking the place of ``d ll / d eta_i`` in the kernel's backward pass (``X'V`` to
theta, ``Z_k'V`` to the other blocks' effects) and ``d L / d Lambda`` going to the scale as a
latent block's does (:func:`~pyglmm.kernel.scale.block_scale_grad`). The negative binomial's
shape ``a`` enters ``ll``, ``v`` and ``W`` at fixed ``eta`` (:func:`~pyglmm.kernel.likelihoods
.negbin_shape_partials`): ``B dz* / da = Lambda' Z' dv/da``, so

    d L_l / d a = sum_i [d ll_i / d a + u_i dv_i / d a - h_i / 2 dW_i / d a].

The tests compare the density with a dense Laplace approximation of the joint density (scipy's
optimiser on all effects, a dense Hessian) and this gradient with central differences.

**The draws.** After sampling, for each draw the modes and ``C_l`` are found again and
``r_l = Lambda (z*_l + C_l^-T e)``, ``e ~ N(0, I_q)``: a draw from ``N(u*_l, H_l^-1)`` (seeded;
:func:`draw_effects`). These draws are approximate, as the density is.

**When it is safe.** Measured against exact NUTS in ``docs/laplace.md``
(``bench/laplace_error.py``): negligible (within 0.08 posterior SD) on cbpp, epilepsy (with and
without ``(1 | obs)``), VerbAgg and a Bernoulli block of 50 rows per level; the block's SD is
underestimated by 0.66 and 1.95 posterior SDs with 5 and 2 Bernoulli rows per level. Safe when
each level's information ``sum_i W_i`` is at least ``0.3 sqrt(levels)``. It is never the
default.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .likelihoods import NEGBIN, negbin_shape_partials, row_derivatives

NEWTON_STEPS = 100  # Newton iterations per level at most
HALVINGS = 50  # step halvings per iteration at most
STEP_TOL = 1e-6  # converged after a full step with max |dz| below this (z: standard units)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def level_rows(
    code: int,
    link: int,
    y: np.ndarray,
    trials: np.ndarray,
    c: np.ndarray,
    Z: np.ndarray,
    lo: int,
    hi: int,
    b: np.ndarray,
    shape: float,
    log_shape: float,
    Zv: np.ndarray,
    M: np.ndarray,
    vb: np.ndarray,
    wb: np.ndarray,
    db: np.ndarray,
) -> float:  # pragma: no cover - numba
    """``sum_i ll_i`` over rows ``lo:hi`` at ``eta_i = c_i + Z_i b`` (``b = Lambda z``); fills
    ``Zv = Z'v``, ``M = Z'WZ`` and per row ``vb = v``, ``wb = W``, ``db = d3``."""
    q = Z.shape[1]
    for j in range(q):
        Zv[j] = 0.0
        for k in range(q):
            M[j, k] = 0.0
    ll = 0.0
    for i in range(lo, hi):
        eta = c[i]
        for j in range(q):
            eta += Z[i, j] * b[j]
        lli, d1, d2, d3 = row_derivatives(code, link, y[i], trials[i], eta, shape, log_shape)
        ll += lli
        vb[i], wb[i], db[i] = d1, -d2, d3
        for j in range(q):
            zj = Z[i, j]
            Zv[j] += d1 * zj
            for k in range(j + 1):
                M[j, k] -= d2 * zj * Z[i, k]
    for j in range(q):
        for k in range(j):
            M[k, j] = M[j, k]
    return ll


@numba.njit(cache=True, nogil=True, error_model="numpy")
def newton_system(
    Lam: np.ndarray, z: np.ndarray, Zv: np.ndarray, M: np.ndarray, grad: np.ndarray,
    B: np.ndarray, C: np.ndarray,
) -> bool:  # fmt: skip  # pragma: no cover - numba
    """``grad = Lambda' Z'v - z``, ``B = I + Lambda' M Lambda`` and its Cholesky factor ``C``
    (lower); False when ``B`` is not positive definite."""
    q = z.shape[0]
    for j in range(q):
        acc = -z[j]
        for k in range(j, q):  # Lambda lower triangular: (Lambda'Zv)_j = sum_{k>=j} Lam_kj Zv_k
            acc += Lam[k, j] * Zv[k]
        grad[j] = acc
    for j in range(q):
        for k in range(j + 1):
            acc = 1.0 if j == k else 0.0
            for a in range(j, q):
                for bb in range(k, q):
                    acc += Lam[a, j] * M[a, bb] * Lam[bb, k]
            B[j, k] = acc
            B[k, j] = acc
    for j in range(q):
        for k in range(j + 1):
            acc = B[j, k]
            for m in range(k):
                acc -= C[j, m] * C[k, m]
            if j == k:
                if not acc > 0.0:
                    return False
                C[j, j] = math.sqrt(acc)
            else:
                C[j, k] = acc / C[k, k]
        for k in range(j + 1, q):
            C[j, k] = 0.0
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def solve_forward(C: np.ndarray, rhs: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out = C^-1 rhs`` (``C`` lower triangular; ``out`` may be ``rhs``)."""
    q = rhs.shape[0]
    for i in range(q):
        acc = rhs[i]
        for k in range(i):
            acc -= C[i, k] * out[k]
        out[i] = acc / C[i, i]


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def solve_backward(C: np.ndarray, rhs: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out = C^-T rhs`` (``out`` may be ``rhs``)."""
    q = rhs.shape[0]
    for i in range(q - 1, -1, -1):
        acc = rhs[i]
        for k in range(i + 1, q):
            acc -= C[k, i] * out[k]
        out[i] = acc / C[i, i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def laplace_levels(
    code: int,
    link: int,
    y: np.ndarray,
    trials: np.ndarray,
    c: np.ndarray,
    shape: float,
    log_shape: float,
    ptr: np.ndarray,
    Z: np.ndarray,
    Lam: np.ndarray,
    GLam: np.ndarray,
    V: np.ndarray,
    modes: np.ndarray,
    chols: np.ndarray,
) -> tuple[float, float]:  # pragma: no cover - numba
    """The Laplace block (module docstring): returns ``sum_l L_l`` and ``sum_l d L_l / d a``
    (the negative binomial's shape; 0 otherwise), writes ``V_i = d L / d c_i`` into ``V``,
    adds ``d L / d Lambda`` to ``GLam`` and stores each level's mode ``z*_l`` and Cholesky
    factor ``C_l`` in ``modes``, ``chols``. The rows are sorted by level: level l is rows
    ``ptr[l]:ptr[l + 1]`` of ``c``, ``Z``, ``y``, ``trials``. -inf when a level fails."""
    n, q = Z.shape
    G = ptr.shape[0] - 1
    wb, db, hb = np.empty(n), np.empty(n), np.empty(n)
    z, zn, b, bn = np.zeros(q), np.zeros(q), np.zeros(q), np.zeros(q)
    Zv, Zvn, grad, delta = np.zeros(q), np.zeros(q), np.zeros(q), np.zeros(q)
    t, s, w, lw, ZV = np.zeros(q), np.zeros(q), np.zeros(q), np.zeros(q), np.zeros(q)
    M, Mn, B, C, P = (
        np.zeros((q, q)),
        np.zeros((q, q)),
        np.zeros((q, q)),
        np.zeros((q, q)),
        np.zeros((q, q)),
    )
    lp, g_shape = 0.0, 0.0
    for lev in range(G):
        lo, hi = ptr[lev], ptr[lev + 1]
        z[:] = 0.0
        b[:] = 0.0
        obj = level_rows(code, link, y, trials, c, Z, lo, hi, b, shape, log_shape, Zv, M, V, wb, db)
        if not np.isfinite(obj) or not newton_system(Lam, z, Zv, M, grad, B, C):
            return -np.inf, 0.0
        fresh = True
        for _ in range(NEWTON_STEPS):
            solve_forward(C, grad, delta)
            solve_backward(C, delta, delta)
            dmax = 0.0
            for j in range(q):
                dmax = max(dmax, abs(delta[j]))
            step, accepted, objn = 1.0, False, 0.0
            for _h in range(HALVINGS):
                zz = 0.0
                for j in range(q):
                    zn[j] = z[j] + step * delta[j]
                    zz += zn[j] * zn[j]
                for j in range(q):
                    acc = 0.0
                    for k in range(j + 1):
                        acc += Lam[j, k] * zn[k]
                    bn[j] = acc
                objn = level_rows(
                    code, link, y, trials, c, Z, lo, hi, bn, shape, log_shape, Zvn, Mn, V, wb, db
                )
                objn -= 0.5 * zz
                if objn >= obj - 1e-12 * (1.0 + abs(obj)):  # False for NaN
                    accepted = True
                    break
                step *= 0.5
            if not accepted:  # no ascent left at this precision: z is the mode
                fresh = False
                break
            z[:], b[:], Zv[:], M[:, :] = zn, bn, Zvn, Mn
            obj = objn
            if not newton_system(Lam, z, Zv, M, grad, B, C):
                return -np.inf, 0.0
            if step * dmax < STEP_TOL:
                break
        if not fresh:  # the row buffers hold a rejected trial: evaluate at z again
            zz = 0.0
            for j in range(q):
                zz += z[j] * z[j]
            obj = level_rows(
                code, link, y, trials, c, Z, lo, hi, b, shape, log_shape, Zv, M, V, wb, db
            )
            obj -= 0.5 * zz
            if not newton_system(Lam, z, Zv, M, grad, B, C):
                return -np.inf, 0.0
        logdet = 0.0
        for j in range(q):
            logdet += 2.0 * math.log(C[j, j])
            modes[lev, j] = z[j]
            for k in range(q):
                chols[lev, j, k] = C[j, k]
        lp += obj - 0.5 * logdet
        # the adjoint: a_i = h_i d3_i / 2, s = sum_i a_i t_i, w = B^-1 s
        s[:] = 0.0
        for i in range(lo, hi):
            for j in range(q):
                acc = 0.0
                for k in range(j, q):
                    acc += Lam[k, j] * Z[i, k]
                t[j] = acc
            solve_forward(C, t, t)
            h = 0.0
            for j in range(q):
                h += t[j] * t[j]
            a = 0.5 * h * db[i]
            hb[i], db[i] = h, a
            for j in range(q):  # s += a_i Lambda' Z_i'
                for k in range(j, q):
                    s[j] += a * Lam[k, j] * Z[i, k]
        solve_forward(C, s, w)
        solve_backward(C, w, w)
        for j in range(q):
            acc = 0.0
            for k in range(j + 1):
                acc += Lam[j, k] * w[k]
            lw[j] = acc
        ZV[:] = 0.0
        for i in range(lo, hi):
            u = 0.0
            for j in range(q):
                u += Z[i, j] * lw[j]
            vi = V[i] + db[i] - wb[i] * u
            if code == NEGBIN:
                eta = c[i]
                for j in range(q):
                    eta += Z[i, j] * b[j]
                da, va, wa = negbin_shape_partials(y[i], eta, shape, log_shape)
                g_shape += da + u * va - 0.5 * hb[i] * wa
            for j in range(q):
                ZV[j] += vi * Z[i, j]
            V[i] = vi
        # M Lambda B^-1: P = M Lambda, then each row solved against B
        for j in range(q):
            for k in range(q):
                acc = 0.0
                for m in range(k, q):
                    acc += M[j, m] * Lam[m, k]
                P[j, k] = acc
        for j in range(q):
            solve_forward(C, P[j], P[j])
            solve_backward(C, P[j], P[j])
        for j in range(q):
            for k in range(j + 1):
                GLam[j, k] += ZV[j] * z[k] + Zv[j] * w[k] - P[j, k]
    return lp, g_shape


@numba.njit(cache=True, nogil=True, error_model="numpy")
def draw_effects(
    modes: np.ndarray, chols: np.ndarray, Lam: np.ndarray, e: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - numba
    """``out_l = Lambda (z*_l + C_l^-T e_l)`` per level: a draw from ``N(u*_l, H_l^-1)``."""
    G, q = modes.shape
    v = np.empty(q)
    for lev in range(G):
        solve_backward(chols[lev], e[lev], v)
        for j in range(q):
            v[j] += modes[lev, j]
        for j in range(q):
            acc = 0.0
            for k in range(j + 1):
                acc += Lam[j, k] * v[k]
            out[lev, j] = acc
