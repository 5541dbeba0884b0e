"""Per-group tables (design/grouping.py): lme4's ranef()/coef() layout, shared by Fit, the
REML fit and simulation."""

import numpy as np
import pandas as pd

import pyglmm as pg
from pyglmm.design.grouping import columns_by_group


def _design(formula: str) -> pg.Model:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)}
    )
    return pg.Model(formula, df)


def test_blocks_of_one_factor_share_a_table_and_a_repeated_term_is_renamed():
    d = _design("y ~ x + (1 | g) + (1 + x | g)").design
    effects = {
        b.name: np.arange(b.n_levels * b.q, dtype=float).reshape(b.n_levels, b.q) + 10 * k
        for k, b in enumerate(d.blocks)
    }
    ((group, (levels, cols)),) = columns_by_group(d.blocks, effects).items()
    second = d.blocks[1].name
    assert group == "g" and levels == ["a", "b", "c", "d"]
    assert list(cols) == ["Intercept", f"{second}:Intercept", "x"]
    np.testing.assert_array_equal(cols["Intercept"], effects[d.blocks[0].name][:, 0])
    np.testing.assert_array_equal(cols[f"{second}:Intercept"], effects[second][:, 0])


def test_coef_layout_adds_random_terms_to_their_fixed_twin_with_leading_draw_axes():
    d = _design("y ~ x + (0 + x | g)").design
    (blk,) = d.blocks
    r = np.ones((3, 5, blk.n_levels, 1))  # chains x draws x levels x q
    fixed = {"Intercept": np.full((3, 5), 2.0), "x": np.full((3, 5), 0.5)}
    _, cols = columns_by_group(d.blocks, {blk.name: r}, fixed)["g"]
    assert cols["Intercept"].shape == (3, 5, 4)
    np.testing.assert_array_equal(cols["Intercept"], 2.0)
    np.testing.assert_array_equal(cols["x"], 1.5)


def test_reml_ranef_is_keyed_by_grouping_factor_like_lme4():
    """lme4's ranef() of (1 | Subject) + (0 + Days | Subject) is one $Subject table with
    both columns; (Days || Subject) gives the same model and the same table."""
    df = pg.datasets.load("sleepstudy")
    split = pg.Model("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", df).optimize()
    bars = pg.Model("Reaction ~ Days + (Days || Subject)", df).optimize()
    for fit in (split, bars):
        re = fit.ranef()
        assert list(re) == ["Subject"]
        assert list(re["Subject"].columns) == ["Intercept", "Days"]
        co = fit.coef()["Subject"]
        np.testing.assert_allclose(co["Days"], fit.beta[1] + re["Subject"]["Days"])
    by_block = np.column_stack([np.asarray(b).reshape(18, -1) for b in split.b])
    np.testing.assert_allclose(split.ranef()["Subject"].to_numpy(), by_block)
    np.testing.assert_allclose(
        split.ranef()["Subject"].to_numpy(), bars.ranef()["Subject"].to_numpy(), rtol=1e-4
    )
