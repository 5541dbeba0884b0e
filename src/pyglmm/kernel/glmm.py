"""The GLMM kernel's log posterior density and gradient, :func:`glmm_logp_grad` (numba,
``cache=True``): bernoulli/binomial, Poisson and negative binomial models whose blocks are
latent, but for at most one block integrated out by the Laplace approximation
(:mod:`~pyglmm.kernel.laplace`; the marginal parameterization is gaussian-only).

Layout of the unconstrained vector ``x`` (as :mod:`pyglmm.kernel.logp`, with the family's
parameter in place of ``log sigma``)::

    [theta (p), <log shape (negative binomial only)>, <Laplace block: scale>,
     <latent block 1: scale, effects>, ...]

The linear predictor and the likelihood, row by row (:mod:`~pyglmm.kernel.likelihoods`):

    eta_i = offset_i + X_i theta + sum_k Z_k[i] r_k[l_k(i)],     ll = sum_i log p(y_i | eta_i)

Backwards, ``v_i = d ll / d eta_i`` gives ``d ll / d theta = X'v`` and ``d ll / d r_kl =
sum_{i: l_k(i) = l} Z_k[i]' v_i`` (the ``g_l`` of :mod:`~pyglmm.kernel.latent`), which
:func:`~pyglmm.kernel.latent.latent_block_grad` and
:func:`~pyglmm.kernel.scale.block_scale_grad` take to the stored effects and the block's scale
exactly as on the gaussian latent path. The shape ``a = exp(x[p])`` gets its prior and the
log-Jacobian ``x[p]``: ``d/dx[p] = (d ll / d a + d log p(a) / d a) a + 1``.

One pass over the data in chunks of :data:`~pyglmm.kernel.rows.ROWS` rows: the chunk's
``eta``, then its log-density and ``v`` in place, then ``X'v`` and the effects' sums, while
the chunk is in cache. With a Laplace block (the rows then sorted by its level), ``eta`` less
that block is formed for all rows, :func:`~pyglmm.kernel.laplace.laplace_levels` integrates
the block out level by level and returns ``d L / d eta_i`` in place of ``v``, and the
backward pass is the same.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .densities import prior_lp
from .laplace import draw_effects, laplace_levels
from .latent import latent_block_grad, latent_block_prior
from .likelihoods import rows_logp
from .rows import ROWS, add_effects_grad, add_xtv
from .scale import block_scale, block_scale_grad


@numba.njit(cache=True, nogil=True, error_model="numpy")
def fixed_predictor(
    offset: np.ndarray, Xc: np.ndarray, th: np.ndarray, eta: np.ndarray
) -> None:  # pragma: no cover - numba
    """``eta_i = offset_i + X_i theta``, two columns per pass over the rows (p odd: the last
    pass adds the last column times 0)."""
    n, p = Xc.shape
    eta[:] = offset
    for j in range(0, p, 2):
        j2 = min(j + 1, p - 1)
        t, t2 = th[j], th[j2] if j2 > j else 0.0
        for row in range(n):
            eta[row] = eta[row] + Xc[row, j] * t + Xc[row, j2] * t2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def add_effects(
    eta: np.ndarray, codes: np.ndarray, Z: np.ndarray, q: int, unit: bool, R: np.ndarray
) -> None:  # pragma: no cover - numba
    """``eta_i += Z_i r_l(i)`` for one latent block (``unit``: its only column is ones; q = 1
    and 2 in loops of their own)."""
    n = eta.shape[0]
    if unit:
        for row in range(n):
            eta[row] += R[codes[row], 0]
    elif q == 1:
        for row in range(n):
            eta[row] += Z[row, 0] * R[codes[row], 0]
    elif q == 2:
        for row in range(n):
            lev = codes[row]
            eta[row] = eta[row] + Z[row, 0] * R[lev, 0] + Z[row, 1] * R[lev, 1]
    else:
        for row in range(n):
            lev = codes[row]
            acc = eta[row]
            for j in range(q):
                acc += Z[row, j] * R[lev, j]
            eta[row] = acc


@numba.njit(cache=True, nogil=True, error_model="numpy")
def glmm_logp_grad(
    x: np.ndarray,
    grad: np.ndarray,
    p: int,
    density: int,
    link: int,
    ll_const: float,
    theta_priors: np.ndarray,
    family_priors: np.ndarray,  # (0, 4), or (1, 4): the shape's prior
    Xc: np.ndarray,
    y: np.ndarray,
    trials: np.ndarray,
    offset: np.ndarray,
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
    lat_unit: np.ndarray,
    lat_center: np.ndarray,
    lat_lc_term: np.ndarray,
    lat_lc_index: np.ndarray,
    lat_lc_values: np.ndarray,
    # the Laplace block (lap_q = 0: none); the rows are sorted by its level
    lap_q: int,
    lap_diag: int,
    lap_eta: float,
    lap_sd_priors: np.ndarray,
    lap_off: int,
    lap_ptr: np.ndarray,
    lap_Z: np.ndarray,
) -> float:  # pragma: no cover - numba
    """Log posterior density at ``x`` (module docstring); writes its gradient into ``grad``;
    -inf (gradient zeroed) where the density or the gradient is not finite."""
    G = max(lap_ptr.shape[0] - 1, 0)
    return glmm_density(
        x, grad, np.empty((G, lap_q)), np.empty((G, lap_q, lap_q)), np.empty((lap_q, lap_q)),
        p, density, link, ll_const, theta_priors, family_priors, Xc, y, trials, offset,
        lat_q, lat_G, lat_diag, lat_centered, lat_eta, lat_sd_priors, lat_off, lat_codes, lat_Z,
        lat_unit, lat_center, lat_lc_term, lat_lc_index, lat_lc_values, lap_q, lap_diag,
        lap_eta, lap_sd_priors, lap_off, lap_ptr, lap_Z,
    )  # fmt: skip


@numba.njit(cache=True, nogil=True, error_model="numpy")
def glmm_density(
    x: np.ndarray,
    grad: np.ndarray,
    lap_modes: np.ndarray,  # out: the Laplace block's modes z*_l (G, q)
    lap_chols: np.ndarray,  # out: and the Cholesky factors of B_l (G, q, q)
    lap_lam: np.ndarray,  # out: its Lambda (q, q)
    p: int,
    density: int,
    link: int,
    ll_const: float,
    theta_priors: np.ndarray,
    family_priors: np.ndarray,
    Xc: np.ndarray,
    y: np.ndarray,
    trials: np.ndarray,
    offset: np.ndarray,
    lat_q: np.ndarray,
    lat_G: np.ndarray,
    lat_diag: np.ndarray,
    lat_centered: np.ndarray,
    lat_eta: np.ndarray,
    lat_sd_priors: np.ndarray,
    lat_off: np.ndarray,
    lat_codes: np.ndarray,
    lat_Z: np.ndarray,
    lat_unit: np.ndarray,
    lat_center: np.ndarray,
    lat_lc_term: np.ndarray,
    lat_lc_index: np.ndarray,
    lat_lc_values: np.ndarray,
    lap_q: int,
    lap_diag: int,
    lap_eta: float,
    lap_sd_priors: np.ndarray,
    lap_off: int,
    lap_ptr: np.ndarray,
    lap_Z: np.ndarray,
) -> float:  # pragma: no cover - numba
    """:func:`glmm_logp_grad`, also returning the Laplace block's modes, factors and
    ``Lambda`` (what its effects are drawn from, :mod:`~pyglmm.kernel.laplace`)."""
    K = lat_q.shape[0]
    n = y.shape[0]
    grad[:] = 0.0
    th = x[:p]
    nf = family_priors.shape[0]
    log_shape = x[p] if nf > 0 else 0.0
    shape = math.exp(log_shape)
    lp = ll_const
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
            grad[:] = 0.0
            return -np.inf
        LamK[k, :qk, :qk] = Lamk
        LK[k, :qk, :qk] = Lk
        dLK[k, : mk + 1, :qk, :qk] = dLk
        eff = off + qk + mk
        Rk, Uk = R[k, :Gk, :qk], U[k, :Gk, :qk]
        lp = latent_block_prior(
            lp, x, eff, lat_centered[k], lat_center[k], lat_lc_term[k], lat_lc_index[k],
            lat_lc_values[k, :Gk], Lamk, Rk, Uk,
        )  # fmt: skip
    gth = np.zeros(p)
    GR = np.zeros((K, gmax, qmax))  # d ll / d r, a row per level
    g_shape = 0.0
    if lap_q > 0:  # the whole predictor first, then the Laplace block level by level
        ml = 0 if lap_diag else lap_q * (lap_q - 1) // 2
        LL, dLL = np.eye(lap_q), np.zeros((ml + 1, lap_q, lap_q))
        lp += block_scale(
            x, lap_off, lap_q, lap_diag != 0, lap_eta, lap_sd_priors, lap_lam, LL, dLL
        )
        if not np.isfinite(lp):
            grad[:] = 0.0
            return -np.inf
        v = np.empty(n)  # eta less the Laplace block, then d L / d eta
        fixed_predictor(offset, Xc, th, v)
        for k in range(K):
            add_effects(v, lat_codes[k], lat_Z[k], lat_q[k], lat_unit[k], R[k])
        GLl = np.zeros((lap_q, lap_q))
        V = np.empty(n)
        ll, gs = laplace_levels(
            density, link, y, trials, v, shape, log_shape, lap_ptr, lap_Z, lap_lam, GLl, V,
            lap_modes, lap_chols,
        )  # fmt: skip
        lp += ll
        g_shape += gs
        if np.isfinite(lp):
            add_xtv(Xc, V, gth, 0)
            for k in range(K):
                add_effects_grad(V, lat_codes[k], lat_Z[k], lat_q[k], lat_unit[k], GR[k])
            block_scale_grad(GLl, x, lap_off, lap_q, lap_diag != 0, lap_sd_priors, LL, dLL, grad)
    else:
        v = np.empty(min(ROWS, n))  # eta of a chunk, then d ll / d eta
        scratch = np.empty(min(ROWS, n))  # the chunk's row log-densities
        for lo in range(0, n, ROWS):
            hi = min(lo + ROWS, n)
            vc = v[: hi - lo]
            fixed_predictor(offset[lo:hi], Xc[lo:hi], th, vc)
            for k in range(K):
                add_effects(vc, lat_codes[k, lo:hi], lat_Z[k, lo:hi], lat_q[k], lat_unit[k], R[k])
            ll, gs = rows_logp(
                density, link, y[lo:hi], trials[lo:hi], vc, shape, log_shape, scratch
            )
            lp += ll
            g_shape += gs
            add_xtv(Xc[lo:hi], vc, gth, 0)
            for k in range(K):
                add_effects_grad(
                    vc, lat_codes[k, lo:hi], lat_Z[k, lo:hi], lat_q[k], lat_unit[k], GR[k]
                )
    for k in range(K):
        qk, Gk = lat_q[k], lat_G[k]
        mk = 0 if lat_diag[k] else qk * (qk - 1) // 2
        GLk = latent_block_grad(
            x,
            lat_off[k] + qk + mk,
            lat_centered[k],
            lat_center[k],
            lat_lc_term[k],
            lat_lc_index[k],
            lat_lc_values[k, :Gk],
            LamK[k, :qk, :qk],
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
    for k in range(p):
        plp, pg = prior_lp(theta_priors[k], x[k])
        lp += plp
        grad[k] = gth[k] + pg
    if nf > 0:
        plp, pg = prior_lp(family_priors[0], shape)
        lp += plp + log_shape
        grad[p] = (g_shape + pg) * shape + 1.0
    ok = np.isfinite(lp)
    for i in range(grad.shape[0]):
        ok = ok and np.isfinite(grad[i])
    if not ok:
        grad[:] = 0.0
        return -np.inf
    return lp


@numba.njit(cache=True, nogil=True, error_model="numpy")
def glmm_laplace_effects(
    X: np.ndarray,
    E: np.ndarray,
    out: np.ndarray,
    p: int,
    density: int,
    link: int,
    ll_const: float,
    theta_priors: np.ndarray,
    family_priors: np.ndarray,
    Xc: np.ndarray,
    y: np.ndarray,
    trials: np.ndarray,
    offset: np.ndarray,
    lat_q: np.ndarray,
    lat_G: np.ndarray,
    lat_diag: np.ndarray,
    lat_centered: np.ndarray,
    lat_eta: np.ndarray,
    lat_sd_priors: np.ndarray,
    lat_off: np.ndarray,
    lat_codes: np.ndarray,
    lat_Z: np.ndarray,
    lat_unit: np.ndarray,
    lat_center: np.ndarray,
    lat_lc_term: np.ndarray,
    lat_lc_index: np.ndarray,
    lat_lc_values: np.ndarray,
    lap_q: int,
    lap_diag: int,
    lap_eta: float,
    lap_sd_priors: np.ndarray,
    lap_off: int,
    lap_ptr: np.ndarray,
    lap_Z: np.ndarray,
) -> None:  # pragma: no cover - numba
    """The Laplace block's effects at each draw ``X[s]`` (unconstrained points): ``out[s, l] =
    Lambda (z*_l + C_l^-T E[s, l])`` (:func:`~pyglmm.kernel.laplace.draw_effects`; ``E``
    standard normal); NaN where the density is not finite."""
    G = lap_ptr.shape[0] - 1
    grad = np.empty(X.shape[1])
    modes, chols = np.empty((G, lap_q)), np.empty((G, lap_q, lap_q))
    lam = np.empty((lap_q, lap_q))
    for s in range(X.shape[0]):
        lp = glmm_density(
            X[s], grad, modes, chols, lam,
            p, density, link, ll_const, theta_priors, family_priors, Xc, y, trials, offset,
            lat_q, lat_G, lat_diag, lat_centered, lat_eta, lat_sd_priors, lat_off, lat_codes,
            lat_Z, lat_unit, lat_center, lat_lc_term, lat_lc_index, lat_lc_values, lap_q,
            lap_diag, lap_eta, lap_sd_priors, lap_off,
            lap_ptr, lap_Z,
        )  # fmt: skip
        if np.isfinite(lp):
            draw_effects(modes, chols, lam, E[s], out[s])
        else:
            out[s] = np.nan
