"""The PIRLS least-squares system, reweighted without rebuilding its structure.

Each PIRLS iteration solves the penalised least squares of :mod:`pyglmm.lmm.profiled` on the
design scaled by ``W^{1/2}``: the same blocked factorization with the cross-products ::

    G1_l = Z_1l' W Z_1l,   BX = Z_1' W [X z],   BZ = Z_1' W Z_r,
    C = [Z_r X z]' W [Z_r X z]

Their sparsity patterns do not depend on ``W``, so :class:`SystemStructure` computes once
per fit what :class:`~pyglmm.lmm.profiled.ProfiledLmm` derives from the pattern (the sparse
``Z`` matrices, where each row's products land in ``BZ``'s nonzeros, the pair list of the
Schur complement) and :class:`WeightedSystem` fills in the values for new weights with one
pass over the rows (``bincount`` scatter-adds and sparse-dense products): no sparse
matrix-matrix product and no pair-list construction per iteration.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..design import Design
from ..design.sparse import block_matrix
from .profiled import MAX_PAIRS, ProfiledLmm, ThetaLayout, _diagonal_factor, pair_index


class SystemStructure:
    """What the reweighted systems of one design share (see the module docstring)."""

    def __init__(self, design: Design) -> None:
        if not design.blocks:
            raise ValueError("a mixed model needs at least one random-effect term")
        self.design = design
        self.blocks = design.blocks
        self.layout = ThetaLayout.from_blocks(design.blocks)
        self.order = sorted(range(len(design.blocks)), key=lambda k: -design.blocks[k].n_levels)
        first = design.blocks[self.order[0]]
        self.first = first
        self.m1, self.q1 = first.n_levels, first.q
        self.Z1 = block_matrix(first)
        self.Z1t = sp.csr_matrix(self.Z1.T)
        self.z1 = np.asarray(first.Z, dtype=float)
        rest = [block_matrix(design.blocks[k]) for k in self.order[1:]]
        self.Qr = sum(z.shape[1] for z in rest)
        self.rest_diagonal = all(_diagonal_factor(design.blocks[k]) for k in self.order[1:])
        self.pair_structure: tuple[np.ndarray, ...] | None = None
        if rest:
            Zr = sp.hstack(rest, format="csr")
            Zr.sort_indices()
            self.Zr, self.Zrt = Zr, sp.csr_matrix(Zr.T)
            # the pattern of Z_1' Z_r, free of cancellation (absolute values)
            pattern = sp.csr_matrix(abs(self.Z1).T @ abs(Zr))
            pattern.sort_indices()
            self.bz_pattern = pattern
            # every (row, a, nonzero of Z_r's row) product and the BZ entry it adds to
            n = design.n_obs
            zr_rows = np.repeat(np.arange(n), np.diff(Zr.indptr))
            rows, a_idx, zr_pos = [], [], []
            for a in range(self.q1):
                rows.append(zr_rows)
                a_idx.append(np.full(zr_rows.size, a))
                zr_pos.append(np.arange(Zr.nnz))
            self.bz_rows = np.concatenate(rows)
            self.bz_a = np.concatenate(a_idx)
            bz_zr = np.concatenate(zr_pos)
            self.bz_zr_val = Zr.data[bz_zr]
            r1 = first.codes[self.bz_rows] * self.q1 + self.bz_a
            keys = r1.astype(np.int64) * self.Qr + Zr.indices[bz_zr]
            nz_rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
            pattern_keys = nz_rows.astype(np.int64) * self.Qr + pattern.indices
            self.bz_target = np.searchsorted(pattern_keys, keys)
            n_pairs = int((np.diff(pattern.indptr[:: self.q1]) ** 2).sum())
            if n_pairs <= MAX_PAIRS:
                self.pair_structure = pair_index(pattern, self.m1, self.q1)

    def system(self, w: np.ndarray, X: np.ndarray, z: np.ndarray) -> WeightedSystem:
        """The system for weights ``w`` (n,), fixed-effect columns ``X`` (n, p; p may be 0)
        and working response ``z``."""
        return WeightedSystem(self, w, X, z)


class WeightedSystem(ProfiledLmm):
    """A :class:`ProfiledLmm` of the ``W^{1/2}``-scaled design, built from a
    :class:`SystemStructure` (its factor, criterion and solves are the parent's)."""

    def __init__(self, st: SystemStructure, w: np.ndarray, X: np.ndarray, z: np.ndarray) -> None:
        self.n, self.p = X.shape
        self.blocks, self.layout, self.order = st.blocks, st.layout, st.order
        self.m1, self.q1, self.Qr = st.m1, st.q1, st.Qr
        self.rest_diagonal = st.rest_diagonal
        XY = np.column_stack([X, z])
        wXY = w[:, None] * XY
        codes, z1, q1, m1 = st.first.codes, st.z1, st.q1, st.m1
        G1 = np.empty((m1, q1, q1))
        for a in range(q1):
            for b in range(a, q1):
                G1[:, a, b] = np.bincount(codes, w * z1[:, a] * z1[:, b], minlength=m1)
                G1[:, b, a] = G1[:, a, b]
        self.G1 = G1
        self.BX = np.asarray(st.Z1t @ wXY).reshape(m1, q1, -1)
        self.pairs = None
        if st.Qr:
            vals = np.bincount(
                st.bz_target,
                w[st.bz_rows] * z1[st.bz_rows, st.bz_a] * st.bz_zr_val,
                minlength=st.bz_pattern.nnz,
            )
            pat = st.bz_pattern
            self.BZ = sp.csr_matrix((vals, pat.indices, pat.indptr), shape=pat.shape)
            wZr = sp.csr_matrix(st.Zr.multiply(w[:, None]))
            ZrXY = np.asarray(st.Zrt @ wXY)
            self.C = np.block([[(st.Zrt @ wZr).toarray(), ZrXY], [ZrXY.T, XY.T @ wXY]])
            if st.pair_structure is not None:
                target, widx, first, second = st.pair_structure
                self.pairs = (target, widx, vals[first] * vals[second])
        else:
            self.BZ = sp.csr_matrix((m1 * q1, 0))
            self.C = XY.T @ wXY
