"""parameterization="marginal": the integrated likelihood, the conditional draws of the
integrated-out effects, posterior agreement with the latent model, and the "auto" rule."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import pyglmm as pg
from pyglmm import stack
from pyglmm.compile import AUTO_CENTERED_MIN_ROWS, resolve_parameterization
from pyglmm.marginal import (
    add_conditional_effects,
    block_scale_draws,
    conditional_draws,
    conditional_moments,
)


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    n = 60
    return pd.DataFrame(
        {
            "y": 10 + 3 * rng.normal(size=n),
            "x": rng.normal(size=n),
            "w": rng.normal(size=n),
            "off": rng.normal(size=n),
            "g": rng.choice(list("abcdefg"), size=n),
            "h": rng.choice(list("pqr"), size=n),
        }
    )


def _dense_z(values: pd.Series, levels, cols: np.ndarray) -> np.ndarray:
    """Independent check: the dense n x (levels*q) Z, column order (level, term)."""
    onehot = (values.to_numpy()[:, None] == np.array(levels)[None, :]).astype(float)
    return np.einsum("il,iq->ilq", onehot, cols).reshape(len(values), -1)


def _block_cov(vals: dict, q: int) -> np.ndarray:
    sd = np.asarray(vals["sd_g"])
    cor = np.asarray(vals["cor_g"]) if "cor_g" in vals else np.eye(q)
    return np.outer(sd, sd) * cor


CASES = {
    "lkj q=2": ("y ~ x + (1 + x | g)", "marginal"),
    "diag q=2": ("y ~ x + (1 + x || g)", "marginal"),
    "q=1": ("y ~ x + (1 | g)", "marginal"),
    "lkj q=3": ("y ~ x + w + (1 + x + w | g)", "marginal"),
    "diag slope q=1": ("y ~ x + (0 + x | g)", "marginal"),
    "crossed latent": ("y ~ x + (1 + x | g) + (1 | h)", {"g": "marginal"}),
    "crossed centered": ("y ~ x + (1 | g) + (1 + x | h)", {"g": "marginal", "h": "centered"}),
    "no intercept": ("y ~ 0 + x + (x | g)", "marginal"),
    "offset": ("y ~ x + offset(off) + (1 + x | g)", "marginal"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_marginal_loglik_equals_dense_mvn(small, case):
    formula, spec = CASES[case]
    model = pg.Model(formula, small, parameterization=spec)
    compiled = model.compile()
    assert compiled.parameterization["g"] == "marginal"
    pm_model = compiled.model
    assert "y_marginal" in pm_model.named_vars and "r_g" not in pm_model.named_vars
    rng = np.random.default_rng(1)
    names = [n for n in ["b", "sigma", "sd_g", "cor_g", "r_h"] if n in pm_model.named_vars]
    outs = pm_model.replace_rvs_by_values([pm_model[n] for n in names])
    outs.append(pm_model.logp(vars=[pm_model["y_marginal"]]))
    fn = pm_model.compile_fn(outs, inputs=pm_model.value_vars, on_unused_input="ignore")
    design = model.design
    blk = design.blocks[0]
    for _ in range(3):  # random points of the unconstrained space
        point = {k: rng.normal(size=np.shape(v)) for k, v in pm_model.initial_point().items()}
        *values, loglik = fn(point)
        vals = dict(zip(names, values, strict=True))
        zd = _dense_z(small["g"], blk.levels, blk.Z)
        cov = np.kron(np.eye(blk.n_levels), _block_cov(vals, blk.q))
        V = vals["sigma"] ** 2 * np.eye(len(small)) + zd @ cov @ zd.T
        mu = design.X @ vals["b"]
        if "r_h" in vals:
            h = design.blocks[1]
            mu = mu + _dense_z(small["h"], h.levels, h.Z) @ vals["r_h"].reshape(-1)
        if design.offset is not None:
            mu = mu + small["off"].to_numpy()
        expected = stats.multivariate_normal(mu, V).logpdf(small["y"].to_numpy())
        assert loglik == pytest.approx(expected, abs=1e-8, rel=1e-12)


def test_code_shows_the_marginal_likelihood(small):
    code = pg.Model("y ~ x + (1 + x | g) + (1 | h)", small, parameterization="marginal").code()
    assert "pm.LKJCholeskyCov('L_g', n=2" in code
    assert "pm.Potential('y_marginal', marginal_loglik(" in code
    assert "r_h[codes_h]" in code
    assert "z_g" not in code and "pm.Normal('y'" not in code


def test_marginal_requires_gaussian_identity(small):
    counts = small.assign(y=np.arange(len(small)) % 5)
    with pytest.raises(ValueError, match="gaussian model with identity"):
        pg.Model("y ~ x + (1 | g)", counts, family="poisson", parameterization="marginal").compile()
    with pytest.raises(ValueError, match="gaussian model with identity"):
        pg.Model(
            "y ~ x + (1 | g)",
            small,
            family=pg.family("gaussian", link="log"),
            parameterization={"g": "marginal"},
        ).compile()


def test_only_one_block_may_be_marginal(small):
    model = pg.Model("y ~ x + (1 | g) + (1 | h)", small)
    with pytest.raises(ValueError, match="only one block may be marginal"):
        model.compile({"g": "marginal", "h": "marginal"})
    same = pg.Model("y ~ x + (1 + x || g)", small.assign(y=small["y"]))
    assert same.compile({"g": "marginal"}).parameterization == {"g": "marginal"}
    split = pg.Model("y ~ x + (1 | g) + (0 + x | g)", small)
    assert [b.name for b in split.design.blocks] == ["g", "g_2"]
    with pytest.raises(ValueError, match="ambiguous"):
        split.compile({"g": "marginal"})  # "g" is also the group of g_2
    with pytest.raises(ValueError, match="only one block may be marginal"):
        split.compile({"g_2": "marginal", "g": "marginal"})
    assert split.compile({"g_2": "marginal"}).parameterization == {
        "g": "noncentered",
        "g_2": "marginal",
    }


# --- the conditional draws ------------------------------------------------------------------
def _dense_conditional(design, blk, e, Sigma, sigma):
    """Dense r | y: precision Z'Z/s2 + I (x) Sigma^-1 over all levels at once."""
    zd = np.einsum("il,iq->ilq", np.eye(blk.n_levels)[blk.codes], blk.Z).reshape(design.n_obs, -1)
    prec = zd.T @ zd / sigma**2 + np.kron(np.eye(blk.n_levels), np.linalg.inv(Sigma))
    cov = np.linalg.inv(prec)
    mean = cov @ zd.T @ e / sigma**2
    return mean.reshape(blk.n_levels, blk.q), cov


def _fake_posterior(model, values: dict, n_draws: int):
    """One chain repeating one parameter value (dims as nutpie stores them)."""
    data = {}
    for name, v in values.items():
        arr = np.broadcast_to(np.asarray(v, dtype=float), (1, n_draws, *np.shape(v)))
        dims = ["chain", "draw"] + [f"{name}_dim_{i}" for i in range(np.ndim(v))]
        data[name] = (dims, np.array(arr))
    return stack.from_datasets({"posterior": xr.Dataset(data)})


@pytest.mark.parametrize("formula", ["y ~ x + (1 + x | g) + (1 | h)", "y ~ x + (1 + x || g)"])
def test_conditional_draws_match_dense_gaussian_conditional(small, formula):
    model = pg.Model(formula, small, parameterization={"g": "marginal"})
    design = model.design
    blk = design.blocks[0]
    sd, cor, sigma = np.array([1.3, 0.6]), np.array([[1.0, -0.45], [-0.45, 1.0]]), 2.1
    if blk.kind == "diag":
        cor = np.eye(2)
    Sigma = np.outer(sd, sd) * cor
    L = np.linalg.cholesky(Sigma)
    b = np.array([9.5, 0.8])
    values = {"b": b, "sigma": sigma, "sd_g": sd, "cor_g": cor}
    e = small["y"].to_numpy() - design.X @ b
    if len(design.blocks) > 1:
        r_h = np.array([[0.5], [-1.0], [0.25]])
        values["r_h"] = r_h
        e = e - r_h[design.blocks[1].codes, 0]
    if blk.kind == "lkj":
        values["L_g"] = L[np.tril_indices(2)]
    mean_dense, cov_dense = _dense_conditional(design, blk, e, Sigma, sigma)

    # deterministic parts, exactly
    idata = _fake_posterior(model, values, 2)
    Ls = block_scale_draws(idata.posterior, blk)
    np.testing.assert_allclose(Ls[0] @ Ls[0].T, Sigma, rtol=1e-12)
    ze = np.stack([np.bincount(blk.codes, blk.Z[:, j] * e, blk.n_levels) for j in range(2)], -1)
    A = np.einsum("il,iq,ik->lqk", np.eye(blk.n_levels)[blk.codes], blk.Z, blk.Z)
    mean, F = conditional_moments(A, ze[None], Ls[:1], np.array([sigma]))
    np.testing.assert_allclose(mean[0], mean_dense, rtol=1e-9, atol=1e-12)
    for g in range(blk.n_levels):  # levels are independent given the rest
        cov_g = cov_dense[2 * g : 2 * g + 2, 2 * g : 2 * g + 2]
        np.testing.assert_allclose(F[0, g] @ F[0, g].T, cov_g, rtol=1e-9, atol=1e-12)
    assert np.abs(cov_dense[:2, 2:]).max() < 1e-12
    # the numba draws are mean + F z exactly
    z = np.random.default_rng(1).standard_normal(mean.shape)
    np.testing.assert_allclose(
        conditional_draws(A, ze[None], Ls[:1], np.array([sigma]), z),
        mean + np.einsum("sgij,sgj->sgi", F, z),
        rtol=1e-10,
        atol=1e-12,
    )

    # and the stored draws: moments within Monte Carlo error
    n_draws = 20_000
    idata = _fake_posterior(model, values, n_draws)
    add_conditional_effects(idata, design, "g", seed=5)
    r = idata.posterior["r_g"]
    assert r.dims == ("chain", "draw", "g_level", "g_term")
    assert list(r["g_level"].values) == list(blk.levels)
    flat = r.values.reshape(n_draws, -1)
    se = np.sqrt(np.diag(cov_dense) / n_draws)
    assert np.all(np.abs(flat.mean(0) - mean_dense.reshape(-1)) < 4.5 * se)
    np.testing.assert_allclose(np.cov(flat.T), cov_dense, atol=0.06 * cov_dense.max())
    again = _fake_posterior(model, values, n_draws)
    add_conditional_effects(again, design, "g", seed=5)
    np.testing.assert_array_equal(again.posterior["r_g"].values, r.values)


def test_conditional_draws_with_zero_sd_are_zero(small):
    model = pg.Model("y ~ x + (1 + x || g)", small, parameterization="marginal")
    idata = _fake_posterior(model, {"b": [10.0, 0.0], "sigma": 1.0, "sd_g": [0.0, 0.7]}, 50)
    add_conditional_effects(idata, model.design, "g", seed=1)
    r = idata.posterior["r_g"].values
    assert np.all(r[..., 0] == 0) and np.all(np.isfinite(r)) and r[..., 1].std() > 0


# --- fits -----------------------------------------------------------------------------------
def _simulate_crossed(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_g, per = 30, 8
    cov = np.array([[1.0, 0.3 * 0.5], [0.3 * 0.5, 0.25]])
    u = rng.multivariate_normal(np.zeros(2), cov, size=n_g)
    g = np.repeat(np.arange(n_g), per)
    h = rng.integers(0, 6, size=g.size)
    v = rng.normal(0, 0.7, size=6)
    x = rng.normal(size=g.size)
    y = 1.0 + u[g, 0] + (0.5 + u[g, 1]) * x + v[h] + rng.normal(0, 0.8, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i:02d}" for i in g], "h": h.astype(str)})


@pytest.fixture(scope="module")
def crossed_fits():
    model = pg.Model("y ~ x + (1 + x | g) + (1 | h)", _simulate_crossed())
    kwargs = dict(draws=1000, tune=1000, chains=4, seed=7, progressbar=False, warn=False)
    # "marginal": g integrated out; h (6 levels, 40 rows each) centered by the auto rule
    marginal = model.fit(parameterization="marginal", init="reml", **kwargs)
    # the latent reference needs small steps: at target_accept=0.9 it under-explores the right
    # tail of sd(h) (6 levels; Est.Error 0.27 against 0.32-0.33 at 0.99 and for the marginal fit)
    latent = model.fit(parameterization="noncentered", target_accept=0.99, **kwargs)
    return marginal, latent


def test_marginal_and_latent_posteriors_agree(crossed_fits):
    marginal, latent = crossed_fits
    assert marginal.parameterization == {"g": "marginal", "h": "centered"}  # 6 levels
    a, b = marginal.summary(), latent.summary()
    assert list(a["term"]) == list(b["term"])
    mcse_a = a["Est.Error"] / np.sqrt(a["Bulk_ESS"])
    mcse_b = b["Est.Error"] / np.sqrt(b["Bulk_ESS"])
    z = (a["Estimate"] - b["Estimate"]).abs() / np.sqrt(mcse_a**2 + mcse_b**2)
    assert (z < 4).all(), dict(zip(a["term"], z, strict=True))
    np.testing.assert_allclose(a["Est.Error"], b["Est.Error"], rtol=0.2)
    # the drawn effects: posterior means and SDs per level
    for name in ("r_g", "r_h"):
        ra, rb = marginal.idata.posterior[name], latent.idata.posterior[name]
        assert ra.dims == rb.dims
        ess = np.minimum(az.ess(ra.to_dataset())[name].values, az.ess(rb.to_dataset())[name].values)
        sd = np.maximum(ra.std(("chain", "draw")).values, rb.std(("chain", "draw")).values)
        gap = np.abs(ra.mean(("chain", "draw")).values - rb.mean(("chain", "draw")).values)
        assert np.all(gap < 4.5 * sd * np.sqrt(2 / ess)), name
        np.testing.assert_allclose(
            ra.std(("chain", "draw")).values, rb.std(("chain", "draw")).values, rtol=0.25
        )
    # everything downstream reads the drawn effects
    assert marginal.ranef()["g"].shape == (30, 2)
    assert marginal.idata.log_likelihood["y"].shape == (4, 1000, 240)
    assert np.isfinite(stack.elpd(marginal.loo())[0])
    pred = marginal.predict()
    np.testing.assert_allclose(pred["Estimate"], latent.predict()["Estimate"], atol=0.1)
    assert marginal.diagnostics()["divergences"] == 0


def test_sleepstudy_marginal(lme4_ref, sleep_fit):
    """The session fit uses the default "auto", which integrates Subject out."""
    assert sleep_fit.parameterization == {"Subject": "marginal"}
    ref = lme4_ref["sleepstudy_reml"]
    fe = sleep_fit.fixef()
    for name, lme4_name in [("Intercept", "(Intercept)"), ("Days", "Days")]:
        gap = abs(fe.loc[name, "Estimate"] - ref["fixef"][lme4_name])
        assert gap < 0.3 * fe.loc[name, "Est.Error"], (name, gap)
    diag = sleep_fit.diagnostics()
    assert diag["divergences"] == 0 and diag["max_rhat"] <= 1.01
    assert "z_Subject" not in sleep_fit.idata.posterior
    assert sleep_fit.idata.posterior["r_Subject"].shape == (4, 1000, 18, 2)
    assert "Subject=marginal" in str(sleep_fit)


# --- the "auto" rule ------------------------------------------------------------------------
def _frame(n: int = 1200, **levels: int) -> pd.DataFrame:
    """Columns y, x and one factor per keyword with that many levels (equal rows each)."""
    rng = np.random.default_rng(3)
    cols = {name: (np.arange(n) % k).astype(str) for name, k in levels.items()}
    return pd.DataFrame({"y": rng.normal(size=n) + 5, "x": rng.normal(size=n), **cols})


def _rows_rule(model: pg.Model, spec: str = "auto") -> dict[str, str]:
    """The data-only ``"auto"`` rule (rows per level), which applies when the model has no
    cheap point fit; with one, ``model.resolve`` decides by information (test_information)."""
    return resolve_parameterization(spec, model.design.blocks, model.family)


def test_auto_rule_gaussian():
    # rows per level: g 12, h 20 (= AUTO_CENTERED_MIN_ROWS), k 171, m 15
    df = _frame(g=100, h=60, k=7, m=80)
    assert AUTO_CENTERED_MIN_ROWS == 20
    model = pg.Model("y ~ x + (1 + x | g) + (1 | h) + (1 | k) + (1 | m)", df)
    assert model.parameterization == "auto"
    # g has most levels -> marginal; h, k have >= 20 rows per level -> centered; m -> non-centered
    assert _rows_rule(model) == {
        "g": "marginal",
        "h": "centered",
        "k": "centered",
        "m": "noncentered",
    }
    # without g, m has most levels
    got = _rows_rule(pg.Model("y ~ x + (1 | h) + (1 | k) + (1 | m)", df))
    assert got == {"h": "centered", "k": "centered", "m": "marginal"}
    # "marginal" as a string: the same choice
    assert _rows_rule(model, "marginal") == _rows_rule(model)
    # a dict: named blocks as given ("auto" -> the latent rule), others non-centered
    blocks = model.design.blocks
    assert resolve_parameterization({"h": "auto", "g": "auto"}, blocks, model.family) == {
        "g": "noncentered",
        "h": "centered",
        "k": "noncentered",
        "m": "noncentered",
    }


def test_auto_rule_other_families():
    counts = _frame(g=100, h=40).assign(y=lambda d: np.arange(len(d)) % 4)
    model = pg.Model("y ~ x + (1 | g) + (1 | h)", counts, family="poisson")
    # no marginal block: g (12 rows per level) non-centered, h (30 rows per level) centered
    assert _rows_rule(model) == {"g": "noncentered", "h": "centered"}
    blocks = model.design.blocks
    assert resolve_parameterization("auto", blocks) == {"g": "noncentered", "h": "centered"}
    assert resolve_parameterization("centered", blocks) == {"g": "centered", "h": "centered"}
    with pytest.raises(ValueError, match="unknown parameterization"):
        resolve_parameterization("marginalized", blocks)
    # a 0/1 outcome needs 4x the rows: h (30 rows per level) stays non-centered
    binary = counts.assign(y=lambda d: (d.y > 1).astype(int))
    bern = pg.Model("y ~ x + (1 | g) + (1 | h)", binary, family="bernoulli")
    assert _rows_rule(bern) == {"g": "noncentered", "h": "noncentered"}
    many = _frame(g=10).assign(y=lambda d: np.arange(len(d)) % 2)  # 120 rows per level
    bern = pg.Model("y ~ x + (1 | g)", many, family="bernoulli")
    assert _rows_rule(bern) == {"g": "centered"}
