"""Profiled (restricted) deviance of a linear mixed model, as in lme4 and MixedModels.jl.

Model (Bates, Maechler, Bolker & Walker 2015, J. Stat. Softw. 67(1), sections 3.3-3.6)::

    y = X beta + Z b + e,    b = Lambda(theta) u,   u ~ N(0, sigma^2 I),   e ~ N(0, sigma^2 I)

``Lambda(theta)`` is block diagonal: block ``k`` is ``kron(I_{m_k}, T_k)`` with ``T_k`` the
``q_k x q_k`` relative covariance factor whose free entries the block's kind names
(:meth:`~pyglmm.design.blocks.BlockKind.theta_index`: a full lower triangle for correlated
blocks, the diagonal for diagonal ones), so ``Cov(b_k[level]) = sigma^2 T_k T_k'``.
``theta`` stacks the free entries of every ``T_k`` in column-major lower-triangle order
(lme4's order); diagonal entries are bounded below by 0, off-diagonal entries are free.

For fixed ``theta`` the Cholesky factor of the augmented positive definite matrix ::

    A(theta) = [ L'Z'Z L + I   L'Z'X   L'Z'y ]   = F F',  F lower triangular, with blocks
               [ X'Z L         X'X     X'y   ]             L_Z (random), R_X' (fixed) and
               [ y'Z L         y'X     y'y   ]             r_yy (last diagonal entry)

(``L`` = Lambda) gives everything: ``r_yy^2`` is the penalised residual sum of squares
``min_{u,beta} ||y - X beta - Z Lambda u||^2 + ||u||^2`` and, with ``nu = n`` (ML) or
``nu = n - p`` (REML), the profiled criterion is ::

    ML   : -2 log L  = log|L_Z|^2                 + n (1 + log(2 pi r_yy^2 / n))
    REML : -2 log L_R = log|L_Z|^2 + log|R_X|^2  + (n - p) (1 + log(2 pi r_yy^2 / (n - p)))

with ``sigma^2 = r_yy^2 / nu``; beta and u follow from back substitution with ``F'``.

Blocked factorisation (MixedModels.jl): blocks are ordered by decreasing number of levels.
The first block's ``Z_1'Z_1`` is block diagonal (one ``q_1 x q_1`` block per level), so its
Cholesky factor ``L_11`` is computed level by level and the coupling rows
``W = L_11^{-1} Lambda_1' Z_1' [Z_r Lambda_r, X, y]`` are sparse in the ``Z_r`` part. The
Schur complement ``S = A_rr - W'W`` of the remaining blocks, ``X`` and ``y`` is factored
densely. All cross-products are computed once, so an evaluation costs nothing in ``n``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..design import BlockKind, Design, REBlock, block_kind
from ..design.sparse import block_matrix, level_crossproducts


def n_theta(q: int, kind: str | BlockKind) -> int:
    """Number of free entries of ``T_k`` (``q (q + 1) / 2`` correlated, ``q`` diagonal)."""
    return _kind(kind).n_theta(q)


def tri_index(q: int, kind: str | BlockKind) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the theta entries of ``T_k``, lower triangle in column-major order."""
    return _kind(kind).theta_index(q)


def _kind(kind: str | BlockKind) -> BlockKind:
    return kind if isinstance(kind, BlockKind) else block_kind(kind)


def _diagonal_factor(block: REBlock) -> bool:
    """Whether the block's ``T_k`` is diagonal (its free entries are all on the diagonal)."""
    r, c = block.covariance.theta_index(block.q)
    return bool(np.all(r == c))


@dataclass(frozen=True)
class ThetaLayout:
    """Position of each block's ``T_k`` inside ``theta`` (blocks in design order)."""

    q: tuple[int, ...]
    kinds: tuple[BlockKind, ...]
    offsets: tuple[int, ...]
    size: int

    @classmethod
    def from_blocks(cls, blocks: tuple[REBlock, ...]) -> ThetaLayout:
        offs, pos = [], 0
        for b in blocks:
            offs.append(pos)
            pos += b.covariance.n_theta(b.q)
        kinds = tuple(b.covariance for b in blocks)
        return cls(tuple(b.q for b in blocks), kinds, tuple(offs), pos)

    def unpack(self, theta: np.ndarray) -> list[np.ndarray]:
        """The ``T_k`` factors (design order) for a theta vector."""
        out = []
        for q, kind, off in zip(self.q, self.kinds, self.offsets, strict=True):
            r, c = kind.theta_index(q)
            T = np.zeros((q, q))
            T[r, c] = theta[off + kind.theta_map(q)]  # a smooth's one theta fills its diagonal
            out.append(T)
        return out

    def is_diagonal(self) -> np.ndarray:
        """Boolean mask over theta: True for entries on a diagonal of some ``T_k``."""
        mask = []
        for q, kind in zip(self.q, self.kinds, strict=True):
            r, c = kind.theta_index(q)
            tmap = kind.theta_map(q)
            mask.append(np.array([np.all((r == c)[tmap == j]) for j in range(kind.n_theta(q))]))
        return np.concatenate(mask) if mask else np.zeros(0, dtype=bool)

    def start(self) -> np.ndarray:
        """lme4's starting value: identity factors (1 on diagonals, 0 elsewhere)."""
        return self.is_diagonal().astype(float)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Box constraints: diagonal entries ``>= 0``, off-diagonal entries free."""
        return [(0.0, None) if d else (None, None) for d in self.is_diagonal()]


def _blockdiag(mats: np.ndarray) -> sp.csr_matrix:
    """Sparse block-diagonal matrix from a stack ``(m, q, q)``."""
    m, q, _ = mats.shape
    if q == 1:
        return sp.diags(mats[:, 0, 0]).tocsr()
    return sp.bsr_matrix((mats, np.arange(m), np.arange(m + 1)), shape=(m * q, m * q)).tocsr()


def _pair_list(BZ: sp.csr_matrix, m1: int, q1: int) -> tuple[np.ndarray, ...]:
    """Precompute ``BZ' blockdiag(M_l) BZ`` as a scatter-add.

    The nonzeros of the ``q1`` rows of level ``l`` are contiguous in CSR. Every pair
    ``(e, f)`` of them contributes ``BZ[e] * BZ[f] * M_l[row(e), row(f)]`` to entry
    ``(col(e), col(f))``. Returns ``(target, weight_index, value)``: per evaluation the
    product is ``bincount(target, value * M.ravel()[weight_index])``.
    """
    target, widx, first, second = pair_index(BZ, m1, q1)
    return target, widx, BZ.data[first] * BZ.data[second]


def pair_index(BZ: sp.csr_matrix, m1: int, q1: int) -> tuple[np.ndarray, ...]:
    """The structure of :func:`_pair_list`: ``(target, weight_index, first, second)``, the
    value of pair ``k`` being ``BZ.data[first[k]] * BZ.data[second[k]]`` (so a matrix with
    the same pattern and new values, PIRLS's reweighted one, reuses it)."""
    ptr = BZ.indptr[::q1] if q1 > 1 else BZ.indptr
    n_l = np.diff(ptr)  # nonzeros per level
    row_sub = np.repeat(np.arange(BZ.shape[0]) % q1, np.diff(BZ.indptr))  # a of each nz
    lev_nz = np.repeat(np.arange(m1), n_l)  # level of each nz
    reps = n_l[lev_nz]
    first = np.repeat(np.arange(BZ.nnz), reps)
    starts = np.cumsum(reps) - reps
    second = ptr[lev_nz[first]] + np.arange(first.size) - np.repeat(starts, reps)
    Qr = BZ.shape[1]
    target = BZ.indices[first].astype(np.intp) * Qr + BZ.indices[second]
    widx = (lev_nz[first] * q1 + row_sub[first]) * q1 + row_sub[second]
    return target, widx, first, second


@dataclass(frozen=True)
class Factor:
    """Blocked Cholesky factor of ``A(theta)`` (see the module docstring)."""

    theta: np.ndarray
    Ts: list[np.ndarray]  # T_k in design order
    L11: np.ndarray  # (m1, q1, q1)
    Pk: np.ndarray  # (m1, q1, q1): L11^{-1} T1' per level
    lam_r: sp.csr_matrix  # Lambda of the remaining blocks
    WX: np.ndarray  # L11^{-1} Lambda_1' Z_1' [X y]  (m1 q1, p + 1)
    LS: np.ndarray  # dense lower Cholesky factor of the Schur complement
    logdet_z: float  # log|L_Z|^2
    logdet_x: float  # log|R_X|^2
    pwrss: float  # r_yy^2


MAX_PAIRS = 40_000_000


class ProfiledLmm:
    """Cross-products of a design and the profiled criterion as a function of theta."""

    def __init__(self, design: Design, check_rank: bool = True) -> None:
        if not design.blocks:
            raise ValueError("a linear mixed model needs at least one random-effect term")
        y = np.asarray(design.y, dtype=float)
        if design.offset is not None:
            y = y - np.asarray(design.offset, dtype=float)
        X = np.asarray(design.X, dtype=float)
        self.n, self.p = X.shape
        if check_rank and np.linalg.matrix_rank(X) < self.p:
            raise ValueError("fixed-effect model matrix is rank deficient")
        self.blocks = design.blocks
        self.layout = ThetaLayout.from_blocks(design.blocks)
        # internal order: decreasing number of levels (stable)
        self.order = sorted(range(len(design.blocks)), key=lambda k: -design.blocks[k].n_levels)
        first = design.blocks[self.order[0]]
        self.m1, self.q1 = first.n_levels, first.q
        XY = np.column_stack([X, y])
        Z1 = block_matrix(first)
        self.G1 = level_crossproducts(first, Z1.T.tocsr())  # per-level Z_1'Z_1 blocks
        self.BX = np.asarray(Z1.T @ XY).reshape(self.m1, self.q1, -1)  # Z_1'[X y] per level
        rest = [block_matrix(design.blocks[k]) for k in self.order[1:]]
        self.Qr = sum(z.shape[1] for z in rest)
        self.rest_diagonal = all(_diagonal_factor(design.blocks[k]) for k in self.order[1:])
        self.pairs: tuple[np.ndarray, ...] | None = None
        if rest:
            Zr = sp.hstack(rest, format="csr")
            BZ = sp.csr_matrix(Z1.T @ Zr)
            BZ.sort_indices()
            self.BZ = BZ
            ZrXY = np.asarray(Zr.T @ XY)
            self.C = np.block([[(Zr.T @ Zr).toarray(), ZrXY], [ZrXY.T, XY.T @ XY]])
            n_pairs = int((np.diff(BZ.indptr[:: self.q1]) ** 2).sum())
            if n_pairs <= MAX_PAIRS:
                self.pairs = _pair_list(BZ, self.m1, self.q1)
        else:
            self.BZ = sp.csr_matrix((self.m1 * self.q1, 0))
            self.C = XY.T @ XY

    def _lambda_rest(self, Ts: list[np.ndarray]) -> sp.csr_matrix:
        parts = []
        for k in self.order[1:]:
            b = self.blocks[k]
            parts.append(_blockdiag(np.broadcast_to(Ts[k], (b.n_levels, b.q, b.q))))
        if not parts:
            return sp.csr_matrix((0, 0))
        return sp.csr_matrix(sp.block_diag(parts, format="csr"))

    def _bzmbz(self, M: np.ndarray) -> np.ndarray:
        """Dense ``BZ' blockdiag(M) BZ`` for a stack ``M`` (m1, q1, q1)."""
        Qr = self.Qr
        if self.pairs is not None:
            target, widx, val = self.pairs
            out = np.bincount(target, val * M.ravel()[widx], minlength=Qr * Qr)
            return out.reshape(Qr, Qr)
        return np.asarray((self.BZ.T @ _blockdiag(M) @ self.BZ).toarray())

    def factor(self, theta: np.ndarray) -> Factor:
        """Blocked Cholesky factorisation of ``A(theta)``.

        With ``P_l = L11_l^{-1} T_1'`` and ``M_l = P_l' P_l`` the Schur complement is ::

            S = D' (C - [BZ, BX]' blockdiag(M) [BZ, BX]) D + diag(I_Qr, 0),
            D = blockdiag(Lambda_r, I_{p+1}),  C = [Z_r, X, y]'[Z_r, X, y].
        """
        theta = np.asarray(theta, dtype=float)
        Ts = self.layout.unpack(theta)
        T1 = Ts[self.order[0]]
        m1, q1, Qr, p = self.m1, self.q1, self.Qr, self.p
        A11 = np.einsum("ji,ljk,km->lim", T1, self.G1, T1) + np.eye(q1)
        L11 = np.linalg.cholesky(A11)
        Pk = np.linalg.solve(L11, np.broadcast_to(T1.T, (m1, q1, q1)))  # L11^{-1} T1'
        WX3 = np.einsum("lab,lbc->lac", Pk, self.BX)
        WX = WX3.reshape(m1 * q1, -1)
        lam_r = self._lambda_rest(Ts)
        S = self.C.copy()
        S[Qr:, Qr:] -= WX.T @ WX
        if Qr:
            M = np.einsum("lba,lbc->lac", Pk, Pk)
            MBX = np.einsum("lba,lbc->lac", Pk, WX3).reshape(m1 * q1, -1)
            SZZ = S[:Qr, :Qr]
            SZZ -= self._bzmbz(M)
            SZX = S[:Qr, Qr:]
            SZX -= np.asarray(self.BZ.T @ MBX)
            if self.rest_diagonal:
                lr = lam_r.diagonal()
                SZZ *= lr[:, None]
                SZZ *= lr[None, :]
                SZX *= lr[:, None]
            else:
                S[:Qr, :Qr] = np.asarray(lam_r.T @ np.asarray(lam_r.T @ SZZ).T)
                S[:Qr, Qr:] = np.asarray(lam_r.T @ SZX)
            S[Qr:, :Qr] = S[:Qr, Qr:].T
            S[np.arange(Qr), np.arange(Qr)] += 1.0
        LS = sla.cholesky(S, lower=True, check_finite=False)
        dS = np.diag(LS)
        logdet_z = 2.0 * (np.log(np.diagonal(L11, axis1=1, axis2=2)).sum() + np.log(dS[:Qr]).sum())
        logdet_x = 2.0 * np.log(dS[Qr : Qr + p]).sum()
        return Factor(theta, Ts, L11, Pk, lam_r, WX, LS, logdet_z, logdet_x, dS[-1] ** 2)

    def criterion(self, theta: np.ndarray, reml: bool = True) -> float:
        """``-2 log`` (restricted) profiled likelihood at theta (lme4's ``devfun``)."""
        try:
            f = self.factor(theta)
        except np.linalg.LinAlgError:
            return float("inf")
        return self.criterion_from(f, reml)

    def criterion_from(self, f: Factor, reml: bool) -> float:
        nu = self.n - self.p if reml else self.n
        dev = f.logdet_z + nu * (1.0 + np.log(2.0 * np.pi * f.pwrss / nu))
        if reml:
            dev += f.logdet_x
        return float(dev)

    def solve(self, f: Factor) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
        """Back substitution: ``(beta, b, Rinv)`` with ``b[k]`` the conditional modes
        ``(m_k, q_k)`` of block k (design order) and ``Rinv = R_X^{-1}`` (vcov is
        ``sigma^2 Rinv Rinv'``)."""
        beta, u = self.spherical_modes(f)
        b = [uk @ T.T for uk, T in zip(u, f.Ts, strict=True)]
        return beta, b, self.rx_inverse(f)

    def rx_inverse(self, f: Factor) -> np.ndarray:
        """``R_X^{-1}``: the fixed-effect block of the factor, inverted."""
        Qr, p = self.Qr, self.p
        RX = f.LS[Qr : Qr + p, Qr : Qr + p]  # = R_X' (lower)
        return np.asarray(sla.solve_triangular(RX, np.eye(p), lower=True).T)

    def spherical_modes(self, f: Factor) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(beta, u)``: the fixed effects and the spherical random effects ``u[k]``
        ``(m_k, q_k)`` of block k (design order), with ``b[k] = u[k] T_k'``; the PIRLS step
        of :mod:`pyglmm.lmm.pirls` and the penalty ``||u||^2`` need ``u`` itself."""
        Qr, p, m1, q1 = self.Qr, self.p, self.m1, self.q1
        LS = f.LS
        x_rest = sla.solve_triangular(LS[:-1, :-1].T, LS[-1, :-1], lower=False)
        u_r, beta = x_rest[:Qr], x_rest[Qr:]
        rhs = f.WX[:, -1] - f.WX[:, :p] @ beta
        if Qr:
            bzu = np.asarray(self.BZ @ (f.lam_r @ u_r)).reshape(m1, q1)
            rhs = rhs - np.einsum("lab,lb->la", f.Pk, bzu).ravel()
        L11t = np.transpose(f.L11, (0, 2, 1))
        u: list[np.ndarray] = [np.empty(0)] * len(self.blocks)
        u[self.order[0]] = np.linalg.solve(L11t, rhs.reshape(m1, q1, 1))[:, :, 0]
        pos = 0
        for k in self.order[1:]:
            blk = self.blocks[k]
            size = blk.n_levels * blk.q
            u[k] = np.asarray(u_r[pos : pos + size]).reshape(blk.n_levels, blk.q)
            pos += size
        return beta, u
