"""A block's sparse Z and its per-level cross-products (design/sparse.py), against dense
computations."""

import numpy as np
import pandas as pd

import pyglmm as pg
from pyglmm.design.sparse import block_matrix, level_crossproducts


def test_block_matrix_and_level_crossproducts_match_dense():
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {"y": rng.normal(size=50), "x": rng.normal(size=50), "g": rng.choice(list("abcde"), 50)}
    )
    (blk,) = pg.Model("y ~ x + (1 + x | g)", df).design.blocks
    Z = block_matrix(blk).toarray()
    dense = np.zeros((50, blk.n_levels * blk.q))
    for i in range(50):
        g = blk.codes[i]
        dense[i, g * blk.q : (g + 1) * blk.q] = blk.Z[i]
    np.testing.assert_array_equal(Z, dense)
    A = level_crossproducts(blk)
    for g in range(blk.n_levels):
        rows = blk.codes == g
        np.testing.assert_allclose(A[g], blk.Z[rows].T @ blk.Z[rows], rtol=1e-12)
