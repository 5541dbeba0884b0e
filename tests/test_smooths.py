"""Smooth terms ``s(x)``: the thin plate regression spline in its mixed-model form.

References: ``tests/data/smooths_reference.R`` (mgcv 1.8-41) wrote the data
(``smooths_data.csv``: a sine curve plus a group intercept, 120 rows), mgcv's
``smoothCon`` + ``smooth2random`` design of ``s(x)`` (``smooths_s2r_k10.csv``,
``smooths_s2r_k5.csv``, ``smooths_s2r_by.csv``, ``smooths_s2r_2d.csv``) and mgcv's REML fits
(``smooths_scalars.csv``, ``smooths_fitted.csv``, ``smooths_grid.csv``,
``smooths_poisson.csv``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm import stack
from pyglmm.design.smooth_basis import tprs_smooth

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(DATA / "smooths_data.csv")


@pytest.fixture(scope="module")
def scalars() -> pd.Series:
    return pd.read_csv(DATA / "smooths_scalars.csv").set_index("name")["value"]


@pytest.fixture(scope="module")
def fitted() -> pd.DataFrame:
    return pd.read_csv(DATA / "smooths_fitted.csv")


def _span_residual(A: np.ndarray, B: np.ndarray) -> float:
    """Largest distance of a unit column of span(A) from span(B) (0 when span(A) is in it)."""
    qa, _ = np.linalg.qr(A)
    qb, _ = np.linalg.qr(B)
    return float(np.linalg.norm(qa - qb @ (qb.T @ qa), axis=0).max())


@pytest.mark.parametrize(
    ("formula", "position", "message"),
    [
        ("y ~ s(x, k = 2)", 13, "k = 2 is too small"),
        ('y ~ s(x, bs = "zz")', 14, "unknown basis"),
        ('y ~ s(x, bs = "cr")', 14, "not supported yet"),
        ("y ~ s(1)", 6, "a covariate is a column name"),
        ("y ~ s(x):z", 4, "whole term"),
        ("y ~ s(x, k = 3.5)", 13, "integer"),
        ("y ~ s(x, foo = 1)", 9, "unknown argument"),
        ("y ~ t2(x, z)", 4, "t2()"),
        ("y ~ x + (1 + s(x) | g)", 13, "whole term"),
        ("y ~ s(x) + s(x)", 11, "duplicate smooth"),
    ],
)
def test_formula_errors(formula: str, position: int, message: str) -> None:
    with pytest.raises(pg.FormulaError) as err:
        pg.Model(formula, pd.DataFrame({"y": [1.0], "x": [1.0], "z": [1.0], "g": ["a"]}))
    assert err.value.position == position
    assert message in err.value.reason


def test_design_errors(data: pd.DataFrame) -> None:
    with pytest.raises(pg.FormulaError) as err:  # a factor is not a smooth's covariate
        pg.Model("y ~ x + s(g)", data)
    assert err.value.position == 8 and "not numeric" in err.value.reason
    with pytest.raises(pg.FormulaError, match="unique covariate values"):
        pg.Model("y ~ s(x, k = 10)", data.iloc[:8])
    with pytest.raises(pg.FormulaError, match="numeric"):
        pg.Model("y ~ s(x, by = y)", data)


@pytest.mark.parametrize("k", [10, 5])
def test_basis_against_mgcv(data: pd.DataFrame, k: int) -> None:
    """mgcv's smooth2random design: the unpenalized column equal (mgcv scales it to unit RMS;
    sign: increasing in x, as mgcv's LAPACK gave here), the penalized columns spanning the
    same space, and ``Z_r Z_r'`` (their covariance up to sds^2) proportional to mgcv's: the
    penalties agree up to a constant (mgcv's normalization of S depends on its internal
    rotation of the basis, so sds is on a scale within a constant factor of mgcv's)."""
    ref = pd.read_csv(DATA / f"smooths_s2r_k{k}.csv").to_numpy()
    x = data[["x"]].to_numpy()
    zr, xf = tprs_smooth(x, k, ("x",)).columns(x)
    assert zr.shape == (120, k - 2) and xf.shape == (120, 1)
    np.testing.assert_allclose(xf[:, 0], ref[:, 0], atol=1e-10)
    assert _span_residual(zr, ref[:, 1:]) < 1e-8
    assert _span_residual(ref[:, 1:], zr) < 1e-8
    ratio = (zr @ zr.T) / (ref[:, 1:] @ ref[:, 1:].T)
    assert np.std(ratio) < 1e-6 * np.mean(ratio)
    assert 0.5 < np.mean(ratio) < 2.0


def test_2d_basis_against_mgcv(data: pd.DataFrame) -> None:
    """``s(x, z)``: the 2-d thin plate spline's fixed (x, z) and penalized spans are mgcv's."""
    ref = pd.read_csv(DATA / "smooths_s2r_2d.csv")
    df = data.assign(z=ref["z"])
    design = pg.Model("y ~ s(x, z)", df).design
    assert design.x_names == ("Intercept", "sxz_1", "sxz_2")
    xf = design.X[:, 1:]
    zr = design.blocks[0].Z
    assert zr.shape == (120, 27)
    xf_ref = ref[["Xf_1", "Xf_2"]].to_numpy()
    zr_ref = ref[[c for c in ref.columns if c.startswith("Zr_")]].to_numpy()
    assert _span_residual(xf, xf_ref) < 1e-8 and _span_residual(xf_ref, xf) < 1e-8
    assert _span_residual(zr, zr_ref) < 1e-8 and _span_residual(zr_ref, zr) < 1e-8


def test_by_basis_against_mgcv(data: pd.DataFrame) -> None:
    """``s(x, by = fac)``: per level, mgcv's columns (masked to the level's rows, the
    constraint from every row)."""
    ref = pd.read_csv(DATA / "smooths_s2r_by.csv")
    design = pg.Model("y ~ fac + s(x, by = fac)", data).design
    assert design.x_names == ("Intercept", "fac[T.B]", "sxfacA_1", "sxfacB_1")
    for lev in ("A", "B"):
        xf = design.X[:, design.x_names.index(f"sxfac{lev}_1")]
        np.testing.assert_allclose(xf, ref[f"{lev}_Xf_1"], atol=1e-10)
        blk = next(b for b in design.blocks if b.name == f"sxfac{lev}_1")
        zr_ref = ref[[c for c in ref.columns if c.startswith(f"{lev}_Zr_")]].to_numpy()
        assert _span_residual(blk.Z, zr_ref) < 1e-8 and _span_residual(zr_ref, blk.Z) < 1e-8


def test_reml_equals_mgcv(data: pd.DataFrame, scalars: pd.Series, fitted: pd.DataFrame) -> None:
    """REML of the mixed-model form is mgcv's ``gam(..., method = "REML")`` (and ``gamm``)."""
    r1 = pg.Model("y ~ s(x)", data).optimize()
    np.testing.assert_allclose(r1.fitted(), fitted["gam1"], atol=1e-6)
    assert r1.sigma == pytest.approx(scalars["gam1_sigma"], rel=1e-6)
    r2 = pg.Model("y ~ s(x) + (1 | g)", data).optimize()
    np.testing.assert_allclose(r2.fitted(), fitted["gam2"], atol=1e-6)
    np.testing.assert_allclose(r2.fitted(), fitted["gamm"], atol=1e-6)
    assert r2.sigma == pytest.approx(scalars["gam2_sigma"], rel=1e-6)
    vc = r2.varcorr()
    sd_g = float(vc.loc[vc["group"] == "g", "Estimate"].iloc[0])
    assert sd_g == pytest.approx(scalars["gam2_sd_g"], rel=1e-4)
    assert sd_g == pytest.approx(scalars["gamm_sd_g"], rel=1e-4)
    r4 = pg.Model("y ~ fac + s(x, by = fac)", data).optimize()
    np.testing.assert_allclose(r4.fitted(), fitted["gam4"], atol=1e-6)
    assert r4.sigma == pytest.approx(scalars["gam4_sigma"], rel=1e-6)


def test_poisson_point_fit_against_mgcv() -> None:
    """A poisson smooth: glmer's nAGQ = 0 fit (the fixed effects in PIRLS, theta by the
    Laplace deviance) is mgcv's ``gam(family = poisson, method = "ML")`` (measured 6e-6); the
    Laplace fit, which also moves the fixed effects in the Laplace criterion, is within 2%
    (measured 1.2%)."""
    d = pd.read_csv(DATA / "smooths_poisson.csv")
    model = pg.Model("cnt ~ s(x)", d, family="poisson")
    fast = model.optimize(nagq=0).predict(kind="response")
    np.testing.assert_allclose(fast, d["fitted"], rtol=1e-4)
    laplace = model.optimize().predict(kind="response")
    np.testing.assert_allclose(laplace, d["fitted"], rtol=0.02)


def test_new_data_basis(data: pd.DataFrame) -> None:
    """New rows get the training basis: the training rows through ``transform`` reproduce the
    design, and the REML fit evaluated on a grid is mgcv's ``predict.gam``."""
    model = pg.Model("y ~ s(x) + (1 | g)", data)
    design = model.design
    new = design.transform(data)
    np.testing.assert_allclose(new.X, design.X, atol=1e-12)
    for blk in design.blocks:
        np.testing.assert_allclose(new.Z[blk.name], blk.Z, atol=1e-12)
    fixed_only = design.transform(data[["x"]], random=False)  # the smooth is not group-level
    np.testing.assert_allclose(fixed_only.Z["sx_1"], design.blocks[1].Z, atol=1e-12)

    grid = pd.read_csv(DATA / "smooths_grid.csv")
    fit = pg.Model("y ~ s(x)", data).optimize()
    nd = fit.design.transform(grid[["x"]], random=False)
    r = fit.ranef()["sx_1"].to_numpy()[0]
    pred = nd.X @ fit.beta + nd.Z["sx_1"] @ r
    np.testing.assert_allclose(pred, grid["gam1"], atol=1e-6)


def test_priors_and_code(data: pd.DataFrame) -> None:
    model = pg.Model("y ~ s(x) + (1 | g)", data, priors={"sds": {"sx_1": "normal(0, 1)"}})
    table = model.priors
    row = table[table["class"] == "sds"]
    assert row["coef"].tolist() == ["sx_1"] and row["source"].tolist() == ["user"]
    assert "sd" in table["class"].tolist()  # the group's SD stays class sd
    assert "sx_1" in table.loc[table["class"] == "b", "coef"].tolist()
    assert "sds_sx_1 = pm.HalfNormal" in model.code() or "sds_sx_1 = pm.Normal" in model.code()
    # "auto": centered when the data inform the coefficients (kappa, median over the columns,
    # at the REML fit), as for a clear sine curve; non-centered for a nearly linear one
    assert model.resolve()["sx_1"] == "centered"
    flat = data.assign(y=0.05 * data["x"] + np.random.default_rng(1).normal(0, 1, len(data)))
    assert pg.Model("y ~ s(x)", flat).resolve()["sx_1"] == "noncentered"
    assert "r_sx_1 = pm.Normal" in model.code()
    with pytest.raises(pg.PriorError):
        pg.Model("y ~ s(x)", data, priors={"sds": {"sy_1": "normal(0, 1)"}})
    with pytest.raises(pg.PriorError):
        pg.Model("y ~ x + (1 | g)", data, priors={"sds": "normal(0, 1)"})
    with pytest.raises(pg.PriorError):  # the smooth's SD is class sds, not sd
        pg.Model("y ~ s(x)", data, priors={"sd": {"sx_1": "normal(0, 1)"}})


@pytest.mark.slow
def test_recovery_fit(tmp_path: Path) -> None:
    """A known curve plus a group intercept: the true curve inside the 95% band at most grid
    points, sigma inside its 95% interval; predictions of the training rows through new data
    equal the in-sample ones; the summary, the effect plot, and a saved fit (without data)
    predicting the same curve."""
    rng = np.random.default_rng(3)
    n, groups = 150, 6
    x = rng.uniform(0, 1, n)
    g = rng.integers(0, groups, n)
    u = rng.normal(0, 0.4, groups)
    curve = np.sin(2 * np.pi * x) + 0.5 * x
    sigma = 0.25
    df = pd.DataFrame({"x": x, "g": [f"g{j}" for j in g]})
    df["y"] = curve + u[g] + rng.normal(0, sigma, n)
    fit = pg.Model("y ~ s(x, k = 8) + (1 | g)", df).fit(draws=300, tune=300, chains=2, seed=2)
    text = str(fit)
    assert "Smoothing Spline Hyperparameters:" in text and "sds(sx_1)" in text
    assert "sx_1" in fit.fixef().index
    summary = fit.summary()
    srow = summary[summary["term"] == "sigma"].iloc[0]
    assert srow["l-95% CI"] < sigma < srow["u-95% CI"]

    in_sample = fit.predict(summary=False)
    via_new = fit.predict(df, summary=False)
    np.testing.assert_allclose(via_new, in_sample, atol=1e-9)

    grid = pd.DataFrame({"x": np.linspace(0.02, 0.98, 25)})
    band = fit.predict(grid, include_random=False)
    # the population curve is the true curve plus the groups' mean effect (absorbed by the
    # intercept); compare centred curves
    true = np.sin(2 * np.pi * grid["x"]) + 0.5 * grid["x"] + u.mean()
    inside = (band["Q2.5"] <= true) & (true <= band["Q97.5"])
    assert inside.mean() >= 0.8
    fig = fit.plot_effects("x")
    assert fig is not None
    with warnings.catch_warnings():  # (Pareto k of a few influential rows)
        warnings.simplefilter("ignore")
        assert np.isfinite(stack.elpd(fit.loo())[0])  # the pointwise log-likelihood
    assert set(fit.ranef()) == {"g"}  # the smooth is not a group-level effect

    path = tmp_path / "smooth.nc"
    fit.save(path, data=False)
    loaded = pg.load_fit(path)
    np.testing.assert_allclose(
        loaded.predict(grid, include_random=False)["Estimate"], band["Estimate"], atol=1e-9
    )
