"""A block's random-effects matrix as a sparse matrix, and its per-level cross-products.

For a block with G levels and q terms, ``Z`` (n x G q) has, in row i, the block's columns
``Z_blk[i, :]`` at columns ``codes[i] * q + (0 .. q-1)`` (level-major): the matrix the design
never forms densely. Its transpose is the segment operator of the marginal parameterization
(``Z' v`` stacks ``Z_g' v_g`` over the levels), and the per-level Gram matrices
``A_g = Z_g' Z_g`` (G, q, q) are what both the marginal likelihood and the profiled REML
factorization start from.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .records import REBlock


def block_matrix(blk: REBlock) -> sp.csr_matrix:
    """The sparse ``n x (G q)`` matrix Z of one block (level-major columns)."""
    n, q = blk.Z.shape
    rows = np.repeat(np.arange(n), q)
    cols = (blk.codes[:, None] * q + np.arange(q)[None, :]).ravel()
    values = np.asarray(blk.Z, dtype=float).ravel()
    return sp.csr_matrix((values, (rows, cols)), shape=(n, blk.n_levels * q))


def level_crossproducts(blk: REBlock, Zt: sp.csr_matrix | None = None) -> np.ndarray:
    """``A_g = Z_g' Z_g`` for every level g, (G, q, q); ``Zt``: ``block_matrix(blk).T`` (CSR)
    if already built."""
    Zt = block_matrix(blk).T.tocsr() if Zt is None else Zt
    q = blk.q
    A = np.zeros((blk.n_levels, q, q))
    for i in range(q):
        A[:, i, :] = Zt[i::q] @ blk.Z  # rows g*q + i of Z' hold Z[:, i] of level g
    return A
