"""The compiled PyMC model: names, dims, and a likelihood equal to a dense computation."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pyglmm as pg
from pyglmm.compile import resolve_parameterization


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
            "g": rng.choice(list("abcde"), size=n),
            "h": rng.choice(["p", "q", "r"], size=n),
        }
    )


def _dense_z(values: pd.Series, levels: list[str], cols: np.ndarray) -> np.ndarray:
    """Independent check: the dense n x (levels*q) Z, column order (level, term)."""
    onehot = (values.to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)
    return np.einsum("il,iq->ilq", onehot, cols).reshape(len(values), -1)


@pytest.mark.parametrize("param", ["centered", "noncentered"])
def test_likelihood_equals_dense_computation(small, param):
    model = pg.Model("y ~ x + (1 + x | g) + (1 | h)", small, parameterization=param)
    pm_model = model.pymc_model
    rng = np.random.default_rng(1)
    point = {k: rng.normal(size=np.shape(v)) for k, v in pm_model.initial_point().items()}
    outs = pm_model.replace_rvs_by_values([pm_model[n] for n in ["b", "r_g", "r_h", "sigma"]])
    outs.append(pm_model.logp(vars=[pm_model["y"]]))
    fn = pm_model.compile_fn(outs, inputs=pm_model.value_vars, on_unused_input="ignore")
    b, r_g, r_h, sigma, logp_y = fn(point)
    g_levels = list(model.design.blocks[0].levels)
    h_levels = list(model.design.blocks[1].levels)
    assert g_levels == sorted(small["g"].unique())
    x = small["x"].to_numpy()
    z_g = _dense_z(small["g"], g_levels, np.column_stack([np.ones_like(x), x]))
    z_h = _dense_z(small["h"], h_levels, np.ones((len(x), 1)))
    eta = b[0] + b[1] * x + z_g @ r_g.reshape(-1) + z_h @ r_h.reshape(-1)
    expected = stats.norm.logpdf(small["y"], eta, sigma).sum()
    assert logp_y == pytest.approx(expected, rel=1e-10)


def test_variable_names_and_dims(small):
    pm_model = pg.Model(
        "y ~ x + (1 + x | g) + (1 | h)", small, parameterization="noncentered"
    ).pymc_model
    assert pm_model.named_vars_to_dims["b"] == ("coef",)
    assert pm_model.named_vars_to_dims["r_g"] == ("g_level", "g_term")
    assert pm_model.named_vars_to_dims["sd_g"] == ("g_term",)
    assert pm_model.named_vars_to_dims["cor_g"] == ("g_term", "g_term_")
    assert pm_model.named_vars_to_dims["sd_h"] == ("h_term",)
    assert "cor_h" not in pm_model.named_vars
    assert list(pm_model.coords["coef"]) == ["Intercept", "x"]
    assert list(pm_model.coords["g_term"]) == ["Intercept", "x"]
    assert list(pm_model.coords["h_level"]) == ["p", "q", "r"]
    # non-centered: z is free, r deterministic
    free = {v.name for v in pm_model.free_RVs}
    assert {"z_g", "z_h", "Intercept", "beta", "sigma"} <= free
    assert "r_g" not in free


def test_centered_blocks_have_free_effects(small):
    model = pg.Model("y ~ x + (1 + x | g) + (1 | h)", small, parameterization={"g": "centered"})
    pm_model = model.pymc_model
    free = {v.name for v in pm_model.free_RVs}
    # g is hierarchically centered on (Intercept, beta): alpha = theta + r is free
    assert "alpha_g" in free and "r_g" not in free and "z_g" not in free
    assert "z_h" in free  # unnamed blocks stay non-centered
    assert "alpha_g = MvNormal('alpha_g', mu=[Intercept, beta[0]], chol=L_g" in model.code()
    no_fixed_x = pg.Model("y ~ 1 + (0 + x | g)", small, parameterization="centered")
    assert "r_g" in {v.name for v in no_fixed_x.pymc_model.free_RVs}


def test_hierarchically_centered_effects_and_their_density(small):
    """h (3 levels) takes the Intercept, g (5 levels) the slope: r = alpha - mu, and alpha's
    log density is N(mu, Sigma) per level (mu = Intercept for h, (0, beta) for g)."""
    model = pg.Model("y ~ x + (1 + x | g) + (1 | h)", small, parameterization="centered")
    pm_model = model.pymc_model
    assert "alpha_h = pm.Normal('alpha_h', [Intercept], sd_h" in model.code()
    assert "alpha_g = MvNormal('alpha_g', mu=[0, beta[0]], chol=L_g" in model.code()
    rng = np.random.default_rng(2)
    point = {k: rng.normal(size=np.shape(v)) for k, v in pm_model.initial_point().items()}
    names = ["Intercept", "beta", "alpha_g", "r_g", "alpha_h", "r_h", "sd_h", "L_g"]
    outs = pm_model.replace_rvs_by_values([pm_model[n] for n in names])
    outs += pm_model.logp(vars=[pm_model["alpha_g"], pm_model["alpha_h"]], sum=False)
    fn = pm_model.compile_fn(outs, inputs=pm_model.value_vars, on_unused_input="ignore")
    icpt, beta, alpha_g, r_g, alpha_h, r_h, sd_h, L_packed, lp_g, lp_h = fn(point)
    np.testing.assert_allclose(r_h, alpha_h - icpt, rtol=1e-12)
    np.testing.assert_allclose(r_g, alpha_g - [0.0, beta[0]], rtol=1e-12)
    L = np.zeros((2, 2))
    L[np.tril_indices(2)] = L_packed
    expected_g = stats.multivariate_normal.logpdf(alpha_g, [0.0, beta[0]], L @ L.T)
    np.testing.assert_allclose(lp_g, expected_g, rtol=1e-10)
    np.testing.assert_allclose(lp_h, stats.norm.logpdf(alpha_h, icpt, sd_h), rtol=1e-10)


def test_resolve_parameterization_errors(small):
    blocks = pg.Model("y ~ x + (1 | g)", small).design.blocks
    assert resolve_parameterization("centered", blocks) == {"g": "centered"}
    with pytest.raises(ValueError, match="unknown parameterization"):
        resolve_parameterization("centred", blocks)
    with pytest.raises(ValueError, match="unknown blocks"):
        resolve_parameterization({"k": "centered"}, blocks)


def test_code_lists_every_variable(small):
    code = pg.Model("y ~ x + (1 + x | g) + (1 | h)", small, parameterization="noncentered").code()
    for needle in ["pm.LKJCholeskyCov('L_g', n=2", "z_g", "r_g", "sd_h", "pm.Normal('y'"]:
        assert needle in code


def test_zero_intercept_model_uses_x_directly():
    df = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "x": [1.0, 0, 2, 1, 3, 2], "g": list("aabbcc")})
    pm_model = pg.Model("y ~ 0 + x + (1 | g)", df).pymc_model
    assert "Intercept" not in pm_model.named_vars
    assert pm_model.named_vars_to_dims["b"] == ("coef",)
