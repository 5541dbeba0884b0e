"""Block kinds: the lookup, their numpy covariance, and the fallback of a kind no engine knows."""

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm.compile import build_model, pymc_block, resolve_parameterization
from pyglmm.design import KINDS, BlockKind, Correlated, Diagonal, block_kind, kind_for
from pyglmm.errors import ArgumentError, DesignError


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "g": rng.choice(list("abcdef"), size=n),
        }
    )


def _sd_cor(rng, shape, q):
    sd = rng.uniform(0.2, 2.0, size=(*shape, q))
    a = rng.normal(size=(*shape, q, q + 2))
    cov = a @ np.swapaxes(a, -1, -2)
    s = np.sqrt(np.einsum("...ii->...i", cov))
    return sd, cov / (s[..., :, None] * s[..., None, :])


def test_names_round_trip():
    assert set(KINDS) >= {"lkj", "diag"}
    for name, kind in KINDS.items():
        assert block_kind(name) is kind
        assert block_kind(kind.name) is kind
    assert isinstance(block_kind("lkj"), Correlated) and block_kind("lkj").correlated
    assert isinstance(block_kind("diag"), Diagonal) and not block_kind("diag").correlated
    assert kind_for(True, 2).name == "lkj"
    assert kind_for(True, 1).name == kind_for(False, 3).name == "diag"


def test_unknown_kind_raises():
    with pytest.raises(
        DesignError, match=r"unknown random-effect block kind 'toep'.*'diag'.*'lkj'"
    ):
        block_kind("toep")


def test_block_of_unknown_kind_raises(frame):
    blk = pg.Model("y ~ x + (1 + x | g)", frame).design.blocks[0]
    assert blk.kind == "lkj" and blk.covariance is block_kind("lkj")
    with pytest.raises(DesignError, match="unknown random-effect block kind 'toep'"):
        dataclasses.replace(blk, kind="toep")


def test_block_pickles_with_its_stored_name(frame):
    blk = pg.Model("y ~ x + (1 + x || g)", frame).design.blocks[0]
    blk = dataclasses.replace(blk, design_info=None)  # patsy's objects do not pickle
    again = pickle.loads(pickle.dumps(blk))
    assert again.kind == "diag" and again.covariance is block_kind("diag")


@pytest.mark.parametrize("q", [1, 2, 4])
def test_correlated_covariance_is_direct_computation(q):
    rng = np.random.default_rng(q)
    sd, cor = _sd_cor(rng, (3,), q)
    kind = block_kind("lkj")
    direct = np.stack([np.diag(s) @ c @ np.diag(s) for s, c in zip(sd, cor, strict=True)])
    np.testing.assert_allclose(kind.matrix(sd, cor), direct, rtol=1e-12)
    L = kind.cholesky(sd, cor)
    np.testing.assert_allclose(L, np.linalg.cholesky(direct), rtol=1e-10)
    np.testing.assert_allclose(L @ np.swapaxes(L, -1, -2), direct, rtol=1e-10)
    jittered = kind.cholesky(sd, cor, jitter=0.5)
    scale = sd.max(axis=-1) ** 2  # the jitter is relative to each draw's largest variance
    np.testing.assert_allclose(
        jittered @ np.swapaxes(jittered, -1, -2),
        direct + 0.5 * scale[:, None, None] * np.eye(q),
    )
    np.testing.assert_allclose(kind.matrix(sd[0], cor[0]), direct[0], rtol=1e-12)


@pytest.mark.parametrize("q", [1, 3])
def test_diagonal_covariance_is_direct_computation(q):
    rng = np.random.default_rng(10 + q)
    sd, cor = _sd_cor(rng, (2, 3), q)
    kind = block_kind("diag")
    direct = np.zeros((2, 3, q, q))
    for i in range(2):
        for j in range(3):
            direct[i, j] = np.diag(sd[i, j] ** 2)
    np.testing.assert_allclose(kind.matrix(sd), direct, rtol=1e-12)
    np.testing.assert_allclose(kind.matrix(sd, cor), direct, rtol=1e-12)  # cor is ignored
    L = kind.cholesky(sd)
    np.testing.assert_allclose(L, np.sqrt(direct), rtol=1e-12)
    np.testing.assert_allclose(L @ np.swapaxes(L, -1, -2), direct, rtol=1e-12)


def test_theta_layout_and_reported_pairs():
    lkj, diag = block_kind("lkj"), block_kind("diag")
    rows, cols = lkj.theta_index(3)  # lme4: column-major lower triangle
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (0, 0),
        (1, 0),
        (2, 0),
        (1, 1),
        (2, 1),
        (2, 2),
    ]
    assert [lkj.n_theta(q) for q in (1, 2, 3)] == [1, 3, 6]
    assert [diag.n_theta(q) for q in (1, 2, 3)] == [1, 2, 3]
    assert lkj.cor_pairs(3) == ((0, 1), (0, 2), (1, 2)) and lkj.cor_pairs(1) == ()
    assert diag.cor_pairs(3) == ()


@pytest.fixture
def toy_kinds():
    """A diagonal kind no fast engine claims, and a kind with no PyMC builders."""

    class Toy(Diagonal):
        name = "toy_diag"
        engines = frozenset()

    class Bare(BlockKind):
        name = "toy_bare"

    yield Toy, Bare
    KINDS.pop("toy_diag")
    KINDS.pop("toy_bare")


def test_redefining_a_kind_name_raises():
    with pytest.raises(TypeError, match="already defined"):

        class Again(Diagonal):
            name = "diag"


def test_kind_without_engines_falls_back_to_pymc(frame, toy_kinds):
    model = pg.Model("y ~ x + (1 | g)", frame)
    design = dataclasses.replace(
        model.design, blocks=(dataclasses.replace(model.design.blocks[0], kind="toy_diag"),)
    )
    blocks = design.blocks
    assert resolve_parameterization("marginal", model.design.blocks, model.family) == {
        "g": "marginal"
    }
    with pytest.raises(ArgumentError, match="integrated out"):
        resolve_parameterization("marginal", blocks, model.family)
    with pytest.raises(ArgumentError, match="cannot be integrated out"):
        resolve_parameterization({"g": "marginal"}, blocks, model.family)
    assert resolve_parameterization("auto", blocks, model.family)["g"] != "marginal"
    # the PyMC builders of its base class build it
    assert pymc_block(blocks[0].covariance) is pymc_block(block_kind("diag"))
    compiled = build_model(design, model.prior_set, model.family, "noncentered")
    assert {"sd_g", "z_g", "r_g"} <= set(compiled.model.named_vars)


def test_kind_without_builders_says_so(toy_kinds):
    _, bare = toy_kinds
    with pytest.raises(NotImplementedError, match=r"'toy_bare'.*PYMC_BLOCKS"):
        pymc_block(block_kind(bare.name))
