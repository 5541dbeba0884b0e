"""brms's centred fixed part (design/centering.py)."""

import numpy as np
import pandas as pd

import pyglmm as pg
from pyglmm.design.centering import centered_fixed


def _design(formula: str):
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "y": rng.normal(size=30),
            "x": rng.normal(2, 1, 30),
            "w": rng.uniform(size=30),
            "g": np.repeat(list("abc"), 10),
        }
    )
    return pg.Model(formula, df).design


def test_centred_columns_and_the_intercept_shift_round_trip():
    d = _design("y ~ x + w + (1 | g)")
    c = centered_fixed(d)
    assert c.intercept == 0 and c.slopes == (1, 2)
    np.testing.assert_allclose(c.xbar, d.X[:, 1:].mean(axis=0))
    np.testing.assert_allclose(c.Xc[:, 0], 1.0)
    np.testing.assert_allclose(c.Xc[:, 1:].mean(axis=0), 0.0, atol=1e-12)
    b = np.array([[1.0, 2.0, -3.0], [0.5, 0.0, 1.0]])  # two draws
    intercept = c.sampled_intercept(b)
    np.testing.assert_allclose(c.b_intercept(intercept, b[:, 1:]), b[:, 0])
    # the same linear predictor either way
    theta = np.column_stack([intercept, b[:, 1:]])
    np.testing.assert_allclose(theta @ c.Xc.T, b @ d.X.T)


def test_without_an_intercept_nothing_is_centred():
    d = _design("y ~ 0 + x + (1 | g)")
    c = centered_fixed(d)
    assert c.intercept is None and c.slopes == (0,)
    np.testing.assert_array_equal(c.Xc, d.X)
