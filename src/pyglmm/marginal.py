"""Gaussian models with one random-effect block integrated out (``parameterization="marginal"``).

For a gaussian family with identity link, the effects ``r_g`` (q per level g) of one block
with covariance ``Sigma = L L'`` can be integrated out analytically:

    y ~ N(X b + o, sigma^2 I + Z Sigma Z'),        o = offset + (contribution of latent blocks)

Rows are grouped by the level of the marginalized block, so ``V = sigma^2 I + Z Sigma Z'`` is
block diagonal with blocks ``V_g = sigma^2 I + Z_g Sigma Z_g'``. With the residual
``e_g = y_g - o_g - X_g b`` and, per level,

    A_g = Z_g' Z_g   (q x q),    B_g = sigma^2 I_q + L' A_g L,    d_g = L' Z_g' e_g

the matrix determinant lemma and the Woodbury identity give

    log det V_g     = (n_g - q) log sigma^2 + log det B_g
    e_g' V_g^-1 e_g = (e_g' e_g - d_g' B_g^-1 d_g) / sigma^2

so the log-likelihood is

    -1/2 [ n log 2 pi + (n - G q) log sigma^2 + sum_g log det B_g
           + (e'e - sum_g d_g' B_g^-1 d_g) / sigma^2 ].

``B_g`` is factored as ``B_g = U_g D_g U_g'`` (``U_g`` unit lower triangular, LDL'), written out
entry by entry for the q known at build time and vectorized over the G levels, so that
``log det B_g = sum_j log D_gj`` and ``d_g' B_g^-1 d_g = sum_j v_gj^2 / D_gj`` with
``v_g = U_g^-1 d_g`` (forward substitution). (Batched ``pt.linalg.cholesky``/
``solve_triangular`` over levels compiles and runs far slower.)

Sufficient statistics. Without other latent blocks, ``Z_g'e_g = Z_g'y_g - (Z_g'X_g) b`` and
``e'e = y'y - 2 b'X'y + b'X'X b`` use statistics computed once, so one gradient costs
O(G q^3 + G q p), independent of the number of rows. With other (crossed) latent blocks their
contribution is part of ``o``, ``e`` is formed per evaluation and ``Z_g'e_g`` is a segment sum
over rows (O(n) per gradient, but no funnel for the marginalized block).

Numerics: the fixed part uses the centered predictors of :mod:`pyglmm.compile`
(``Xc = [1, X - xbar]`` with coefficients ``[Intercept, beta]``), and with an intercept the
response is shifted by its mean (the intercept absorbs the shift), which keeps ``y'y - 2 b'X'y +
b'X'X b`` free of cancellation.

After sampling, the effects are drawn exactly from their conditional posterior
(:func:`add_conditional_effects`). With ``r_g = L u_g`` the prior is ``u_g ~ N(0, I)`` and the
likelihood contributes precision ``L'A_g L / sigma^2``, so

    u_g | y, b, sigma, L ~ N(B_g^-1 d_g, sigma^2 B_g^-1),

equivalently ``r_g ~ N(m_g, S_g)`` with ``S_g = (A_g / sigma^2 + Sigma^-1)^-1 = sigma^2 L B_g^-1
L'`` and ``m_g = S_g Z_g'e_g / sigma^2 = L B_g^-1 d_g`` (valid also for singular Sigma). With
``B_g = C_g C_g'`` (Cholesky) and ``z ~ N(0, I_q)``: ``r_g = L (B_g^-1 d_g + sigma C_g^-T z)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pytensor.tensor as pt
import scipy.sparse as sp
import xarray as xr

from . import names, stack
from .design import Design, REBlock
from .design.sparse import block_matrix, level_crossproducts
from .posterior import draw_chunks, flat_draws

# (draw, level) cells per chunk in the conditional draws (each cell holds a few q x q arrays).
CHUNK_CELLS = 2_000_000


@dataclass(frozen=True, eq=False)
class MarginalStats:
    """Per-level sufficient statistics of the marginalized block.

    ``Xc`` (n, p): the fixed-effect columns as sampled (centered predictors); ``shift``: the
    constant subtracted from the response (absorbed by column 0 when it is the intercept);
    ``ys`` = y - offset - shift. ``A`` (G, q, q) = Z_g'Z_g, ``ZX`` (G, q, p) = Z_g'Xc_g,
    ``Zy`` (G, q) = Z_g'ys_g, ``XtX``, ``Xty``, ``yty`` over all rows.
    """

    block: REBlock
    Xc: np.ndarray
    ys: np.ndarray
    shift: float
    A: np.ndarray
    ZX: np.ndarray
    Zy: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float

    @property
    def n(self) -> int:
        return int(self.ys.shape[0])

    @property
    def G(self) -> int:
        return self.block.n_levels

    @property
    def q(self) -> int:
        return self.block.q


def segment_matrix(blk: REBlock) -> sp.csr_matrix:
    """Sparse W (G*q x n) with ``W @ v`` = the stacked ``Z_g' v_g`` (row g*q + j): Z'."""
    return block_matrix(blk).T.tocsr()


def sufficient_stats(
    blk: REBlock, Xc: np.ndarray, y: np.ndarray, intercept_col: int | None
) -> MarginalStats:
    """Statistics of :class:`MarginalStats`; ``y`` is the response minus any offset.

    ``intercept_col``: index of the column of ones in ``Xc`` (then y is centered), or None.
    """
    Xc = np.asarray(Xc, dtype=float).reshape(len(y), -1)
    shift = float(np.mean(y)) if intercept_col is not None else 0.0
    ys = np.asarray(y, dtype=float) - shift
    W = segment_matrix(blk)
    G, q = blk.n_levels, blk.q
    A = level_crossproducts(blk, W)
    ZX = np.asarray(W @ Xc).reshape(G, q, -1)
    Zy = np.asarray(W @ ys).reshape(G, q)
    return MarginalStats(
        block=blk,
        Xc=Xc,
        ys=ys,
        shift=shift,
        A=A,
        ZX=ZX,
        Zy=Zy,
        XtX=Xc.T @ Xc,
        Xty=Xc.T @ ys,
        yty=float(ys @ ys),
    )


def _ldl_terms(M: Sequence[Sequence[Any]], d: Sequence[Any], s2: Any, log: Any) -> tuple[Any, Any]:
    """``log det B`` and ``d'B^-1 d`` per level (vectors) for ``B = s2 I + M``.

    ``M[i][j]`` (i >= j used) and ``d[i]`` are vectors over levels (numpy or pytensor);
    the LDL' factorization is written entry by entry (q is small and known).
    """
    q = len(d)
    U: list[list[Any]] = [[None] * q for _ in range(q)]
    D: list[Any] = [None] * q
    for j in range(q):
        Dj = s2 + M[j][j]
        for k in range(j):
            Dj = Dj - U[j][k] * U[j][k] * D[k]
        D[j] = Dj
        for i in range(j + 1, q):
            num = M[i][j]
            for k in range(j):
                num = num - U[i][k] * U[j][k] * D[k]
            U[i][j] = num / Dj
    v: list[Any] = [None] * q
    logdet = 0.0
    quad = 0.0
    for i in range(q):
        vi = d[i]
        for k in range(i):
            vi = vi - U[i][k] * v[k]
        v[i] = vi
        logdet = logdet + log(D[i])
        quad = quad + vi * vi / D[i]
    return logdet, quad


def _scaled_entries(A: list[list[Any]], Ze: list[Any], L: Any, diag: bool, q: int) -> tuple:
    """``M = L' A L`` and ``d = L' Ze`` entry by entry (lower triangle of M)."""
    if diag:
        M = [[A[i][j] * (L[i] * L[j]) for j in range(q)] for i in range(q)]
        d = [Ze[j] * L[j] for j in range(q)]
        return M, d
    # AL[k][j] = sum_l A[k][l] L[l, j]   (L lower triangular: l >= j)
    AL = [[sum(A[k][m] * L[m, j] for m in range(j, q)) for j in range(q)] for k in range(q)]
    M = [[None] * q for _ in range(q)]
    for i in range(q):
        for j in range(i + 1):
            M[i][j] = sum(L[k, i] * AL[k][j] for k in range(i, q))
    d = [sum(L[k, j] * Ze[k] for k in range(j, q)) for j in range(q)]
    return M, d


def marginal_loglik(
    stats: MarginalStats,
    theta: Any,
    sigma: Any,
    scale: Any,
    diag: bool,
    other: Any | None = None,
) -> Any:
    """The marginal log-likelihood as a pytensor scalar (see the module docstring).

    ``theta``: coefficients of ``stats.Xc`` (before the shift); ``scale``: the block's
    Cholesky factor L (q x q, ``diag=False``) or its SDs (q,, ``diag=True``); ``other``: the
    contribution (n,) of latent blocks, or None.
    """
    q, G, n = stats.q, stats.G, stats.n
    p = stats.Xc.shape[1]
    if p:
        th = theta
        if stats.shift:
            # column 0 is the intercept: y - shift = Xc (theta - shift e_0) + ...
            th = theta - np.eye(p)[0] * stats.shift
    Ze: list[Any]
    if other is None:
        # static statistics; Z_g'e_g column by column (no subtensors: fewer ops to compile)
        if p:
            Ze = [pt.as_tensor(stats.Zy[:, k]) - pt.dot(stats.ZX[:, k, :], th) for k in range(q)]
            ee = stats.yty - 2.0 * pt.dot(th, stats.Xty) + pt.dot(th, pt.dot(stats.XtX, th))
        else:
            Ze = [pt.as_tensor(stats.Zy[:, k]) for k in range(q)]
            ee = pt.as_tensor(stats.yty)
    else:
        e = pt.as_tensor(stats.ys) - other
        if p:
            e = e - pt.dot(stats.Xc, th)
        ee = pt.sum(e * e)
        blk = stats.block
        contrib = e[:, None] * blk.Z if q > 1 or not np.all(blk.Z == 1.0) else e[:, None]
        Ze_mat = pt.inc_subtensor(pt.zeros((G, q))[blk.codes], contrib)
        Ze = [Ze_mat[:, k] for k in range(q)]
    A = [[pt.as_tensor(stats.A[:, i, j]) for j in range(q)] for i in range(q)]
    L = [scale[j] for j in range(q)] if diag else scale
    M, d = _scaled_entries(A, Ze, L, diag, q)
    s2 = sigma * sigma
    logdet, quad = _ldl_terms(M, d, s2, pt.log)
    # one elementwise expression over levels and one sum: few nodes, so numba compiles fast
    per_level = pt.sum(logdet - quad / s2)
    return -0.5 * (n * np.log(2 * np.pi) + (n - G * q) * pt.log(s2) + per_level + ee / s2)


def marginal_code(blk: REBlock, latent: list[str], offset: bool) -> list[str]:
    """The ``Model.code()`` lines of the marginal likelihood."""
    name = blk.name
    cov = f"L_{name} @ L_{name}.T" if blk.covariance.correlated else f"diag(sd_{name}**2)"
    o = "".join(f" + r_{b}[codes_{b}]" for b in latent) + (" + offset" if offset else "")
    return [
        f"# r_{name} integrated out: y ~ MvNormal(X @ b{o}, sigma**2 I + Z_{name} Sigma Z_{name}')"
        f", Sigma = {cov};",
        f"# evaluated per level of {blk.group} from sufficient statistics (pyglmm.marginal)",
        f"pm.Potential('y_marginal', marginal_loglik(y, X @ b{o}, sigma, Sigma, Z_{name}, "
        f"codes_{name}))",
    ]


# --- conditional draws of the integrated-out effects ------------------------------------------
def block_scale_draws(posterior: xr.Dataset, blk: REBlock) -> np.ndarray:
    """L per draw (S, q, q): unpacked ``L_<block>`` (row-major lower triangle, PyMC's
    packing) for correlated blocks when stored, else the kind's factor of ``sd``/``cor``."""
    q, kind = blk.q, blk.covariance
    if kind.correlated and names.chol(blk.name) in posterior:
        packed = flat_draws(posterior, names.chol(blk.name)).reshape(-1, q * (q + 1) // 2)
        L = np.zeros((packed.shape[0], q, q))
        rows, cols = np.tril_indices(q)
        L[:, rows, cols] = packed
        return L
    sd = flat_draws(posterior, names.sd(blk.name)).reshape(-1, q)
    cor = flat_draws(posterior, names.cor(blk.name)) if kind.correlated else None
    return kind.cholesky(sd, cor)


def conditional_moments(
    A: np.ndarray, Ze: np.ndarray, L: np.ndarray, sigma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (S, G, q) and Cholesky factor of the covariance (S, G, q, q) of ``r_g | rest``.

    ``A`` (G, q, q), ``Ze`` (S, G, q) = Z_g'e_g per draw, ``L`` (S, q, q), ``sigma`` (S,):
    mean ``L B^-1 d`` and covariance ``sigma^2 L B^-1 L' = F F'`` with ``F = sigma L C^-T``,
    ``B = s2 I + L'A L = C C'``, ``d = L'Ze``.
    """
    q = A.shape[-1]
    s2 = (sigma * sigma)[:, None, None, None]
    B = np.einsum("ski,gkl,slj->sgij", L, A, L) + s2 * np.eye(q)
    d = np.einsum("ski,sgk->sgi", L, Ze)
    C = np.linalg.cholesky(B)
    u = np.linalg.solve(B, d[..., None])[..., 0]
    mean = np.einsum("sij,sgj->sgi", L, u)
    Cinv_T = np.swapaxes(np.linalg.inv(C), -1, -2)
    F = sigma[:, None, None, None] * np.einsum("sij,sgjk->sgik", L, Cinv_T)
    return mean, F


# --- triangular products and substitutions (numba; used by pyglmm.kernel) -------------------
# Each applies one operation with the lower triangle of ``T`` (q x q; the rest is not read) to
# every row of ``B`` (rows x q: one right-hand side per row, so that one call covers all the
# levels of a block) and sums its terms in index order. A call costs reference-count updates
# for its three arrays, more than the few multiply-adds of q <= 3: the loops over levels with a
# new factor per level (marginal_levels in pyglmm.kernel.woodbury, conditional_draws below)
# keep their substitutions written out. They live here, next to woodbury_system and below
# pyglmm.kernel (which imports this module), so that no import cycle arises.
@numba.njit(cache=True, nogil=True, error_model="numpy")
def solve_lower(T: np.ndarray, B: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """Forward substitution, ``out_r = T^-1 b_r`` per row r (``out = B T^-T``):
    ``out_ri = (b_ri - sum_{k<i} T_ik out_rk) / T_ii`` for i = 0..q-1. ``out`` may be ``B``."""
    n, q = B.shape
    for r in range(n):
        for i in range(q):
            acc = B[r, i]
            for k in range(i):
                acc -= T[i, k] * out[r, k]
            out[r, i] = acc / T[i, i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def solve_lower_transpose(
    T: np.ndarray, B: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - numba
    """Back substitution, ``out_r = T^-T b_r`` per row r (``out = B T^-1``):
    ``out_ri = (b_ri - sum_{k>i} T_ki out_rk) / T_ii`` for i = q-1..0. ``out`` may be ``B``."""
    n, q = B.shape
    for r in range(n):
        for i in range(q - 1, -1, -1):
            acc = B[r, i]
            for k in range(i + 1, q):
                acc -= T[k, i] * out[r, k]
            out[r, i] = acc / T[i, i]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def mul_lower(T: np.ndarray, B: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """``out_r = T b_r`` per row r (``out = B T'``): ``out_ri = sum_{k<=i} T_ik b_rk`` for
    i = q-1..0. ``out`` may be ``B`` (in place: ``out_ri`` reads ``b_rk`` for k <= i only)."""
    n, q = B.shape
    for r in range(n):
        for i in range(q - 1, -1, -1):
            acc = 0.0
            for k in range(i + 1):
                acc += T[i, k] * B[r, k]
            out[r, i] = acc


@numba.njit(cache=True, nogil=True, error_model="numpy")
def add_mul_lower_transpose(
    T: np.ndarray, B: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - numba
    """``out_r += T' b_r`` per row r (``out += B T``): ``out_rj += sum_{i>=j} T_ij b_ri``,
    added to ``out_rj`` in that order. ``out`` must not be ``B``."""
    n, q = B.shape
    for r in range(n):
        for j in range(q):
            acc = out[r, j]
            for i in range(j, q):
                acc += T[i, j] * B[r, i]
            out[r, j] = acc


@numba.njit(cache=True, nogil=True, error_model="numpy")
def woodbury_system(
    S: np.ndarray,
    Lam: np.ndarray,
    c: np.ndarray,
    s: float,
    SL: np.ndarray,
    B: np.ndarray,
    C: np.ndarray,
    d: np.ndarray,
) -> float:  # pragma: no cover - numba
    """For one level: ``SL = S Lam``, ``B = s I + Lam' S Lam`` (lower part), ``d = Lam' c`` and
    the Cholesky factor ``C`` of ``B`` (``Lam`` lower triangular); returns ``log det B``."""
    q = c.shape[0]
    for i in range(q):
        for j in range(q):
            acc = 0.0
            for k in range(j, q):
                acc += S[i, k] * Lam[k, j]
            SL[i, j] = acc
    for i in range(q):
        for j in range(i + 1):
            acc = 0.0
            for k in range(i, q):
                acc += Lam[k, i] * SL[k, j]
            B[i, j] = acc
        B[i, i] += s
        acc = 0.0
        for k in range(i, q):
            acc += Lam[k, i] * c[k]
        d[i] = acc
    logdet = 0.0
    for j in range(q):
        acc = B[j, j]
        for k in range(j):
            acc -= C[j, k] * C[j, k]
        C[j, j] = math.sqrt(acc)
        logdet += 2.0 * math.log(C[j, j])
        for i in range(j + 1, q):
            acc = B[i, j]
            for k in range(j):
                acc -= C[i, k] * C[j, k]
            C[i, j] = acc / C[j, j]
    return logdet


@numba.njit(cache=True, nogil=True, error_model="numpy")
def conditional_draws(
    A: np.ndarray, Ze: np.ndarray, L: np.ndarray, sigma: np.ndarray, z: np.ndarray
) -> np.ndarray:  # pragma: no cover - numba
    """``mean + F z`` of :func:`conditional_moments` (S, G, q), one level at a time (no
    (S, G, q, q) temporaries): ``r = L (B^-1 d + sigma C^-T z)``."""
    S, G, q = Ze.shape
    out = np.empty((S, G, q))
    AL = np.empty((q, q))
    B = np.empty((q, q))
    C = np.empty((q, q))
    d = np.empty(q)
    v = np.empty(q)
    u = np.empty(q)
    for s in range(S):
        s2 = sigma[s] * sigma[s]
        for g in range(G):
            woodbury_system(A[g], L[s], Ze[s, g], s2, AL, B, C, d)
            # the substitutions written out, not solve_lower/solve_lower_transpose/mul_lower:
            # three calls per (draw, level) cost 10-40% here (a new C per level: no batching)
            for i in range(q):  # C v = d
                acc = d[i]
                for k in range(i):
                    acc -= C[i, k] * v[k]
                v[i] = acc / C[i, i]
            for i in range(q - 1, -1, -1):  # C' u = v + sigma z  (B^-1 d + sigma C^-T z)
                acc = v[i] + sigma[s] * z[s, g, i]
                for k in range(i + 1, q):
                    acc -= C[k, i] * u[k]
                u[i] = acc / C[i, i]
            for i in range(q):
                acc = 0.0
                for k in range(i + 1):
                    acc += L[s, i, k] * u[k]
                out[s, g, i] = acc
    return out


def crossed_products(
    design: Design, blk: REBlock, W: sp.csr_matrix
) -> list[tuple[str, sp.csr_matrix]]:
    """For every other block k: ``Z_blk' Z_k = W Z_k`` (``W = segment_matrix(blk)``; sparse,
    G q x G_k q_k, at most n non-zeros), so that ``Z_g'(sum_k Z_k r_k) = sum_k (Z_blk'
    Z_k)[g] vec(r_k)`` costs no pass over rows."""
    return [
        (other.name, (W @ segment_matrix(other).T).tocsr())
        for other in design.blocks
        if other.name != blk.name
    ]


def add_conditional_effects(
    idata: Any, design: Design, block: str, seed: int | None = None
) -> None:
    """Draw ``r_<block>`` exactly from its conditional posterior for every posterior draw and
    store it in ``idata``'s posterior (dims chain, draw, ``<block>_level``, ``<block>_term``)."""
    post = stack.posterior(idata)
    blk = next(b for b in design.blocks if b.name == block)
    rng = np.random.default_rng(seed)
    chains, n_draw = post.sizes["chain"], post.sizes["draw"]
    total = chains * n_draw
    G, q = blk.n_levels, blk.q
    W = segment_matrix(blk)
    A = level_crossproducts(blk, W)
    L_all = block_scale_draws(post, blk)
    sigma_all = flat_draws(post, "sigma").reshape(-1)
    # Z_g'e_g = Z_g'(y - offset) - (Z_g'X_g) b - sum_k (Z'Z_k)[g] r_k: no pass over rows
    y = design.y if design.offset is None else design.y - design.offset
    Zy = np.asarray(W @ y).reshape(G, q)
    ZX = np.asarray(W @ design.X).reshape(G, q, -1)
    p = design.X.shape[1]
    b_all = flat_draws(post, "b").reshape(total, p) if p else np.zeros((total, 0))
    crossed = [
        (C, flat_draws(post, names.effects(name))) for name, C in crossed_products(design, blk, W)
    ]
    out = np.empty((total, G, q))
    per_draw = G * q * q + sum(C.shape[1] for C, _ in crossed)
    for sl in draw_chunks(total, per_draw, CHUNK_CELLS * 4):
        Ze = Zy - np.einsum("gqp,sp->sgq", ZX, b_all[sl])
        for C, r in crossed:  # the latent blocks' part of Z_g'e_g
            Ze -= np.asarray(C @ r[sl].reshape(len(Ze), -1).T).T.reshape(-1, G, q)
        z = rng.standard_normal(Ze.shape)
        out[sl] = conditional_draws(A, Ze, L_all[sl], sigma_all[sl], z)
    level, term = names.level_dim(blk.name), names.term_dim(blk.name)
    da = xr.DataArray(
        out.reshape(chains, n_draw, G, q),
        dims=("chain", "draw", level, term),
        coords={
            "chain": post.chain,
            "draw": post.draw,
            level: list(blk.levels),
            term: list(blk.terms),
        },
    )
    stack.set_group(idata, "posterior", post.assign({names.effects(blk.name): da}))
