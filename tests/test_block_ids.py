"""brms's correlation IDs, ``(x |p| g)`` (#17 part).

Parsing and its errors (with the caret's position); ``(1 |p| g) + (0 + x |p| g)`` is the model
``(1 + x | g)`` (design, priors, PyMC log density, kernel, REML fit); one ID over two grouping
factors is an error naming both; the block of ``pg.bf("y ~ x + (1 |p| g)", "sigma ~ (1 |p|
g)")``: design, priors, the PyMC log density against scipy (the per-level effects
``[r_mu, r_sigma] ~ N(0, Sigma)`` and ``y_i ~ N(mu_i, exp(eta_sigma_i))``), and a recovery fit
of its two SDs and their correlation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pyglmm as pg
from pyglmm import kernel as kernel_mod
from pyglmm import stack
from pyglmm.compile import build_model
from pyglmm.formula import parse_formula


# --- grammar --------------------------------------------------------------------------------------
def test_parse_id_terms():
    f = parse_formula("y ~ x + (1 |p| g) + (0 + x |p| g) + (1 | h)")
    assert [(t.expr, t.group, t.correlated, t.id) for t in f.random] == [
        ("1", ("g",), True, "p"),
        ("0 + x", ("g",), True, "p"),
        ("1", ("h",), True, ""),
    ]
    assert f.random[0].span == (8, 17)
    assert f.variables() == ("y", "x", "g", "h")  # the ID is not a column
    # an ID term and an ordinary one over one factor are two terms, not duplicates
    assert len(parse_formula("y ~ (1 |p| g) + (1 | g)").random) == 2


@pytest.mark.parametrize(
    ("formula", "caret", "message"),
    [
        ("y ~ (1 || p | g)", 7, "single bars"),
        ("y ~ (1 ||p| g)", 7, "single bars"),
        ("y ~ (1 |p|| g)", 9, "single bars"),
        ("y ~ (1 | | g)", 9, "empty ID"),
        ("y ~ (1 |p q| g)", 10, "one name"),
        ("y ~ (1 |2| g)", 8, "one name"),
        ("y ~ (1 |p|q| g)", 11, "more than two"),
        ("y ~ (1 |p|)", 10, "grouping factor"),
        ("y ~ ar1(0 + t |p| g)", 15, "take no ID"),
        ("y ~ (1 |p| gr(g, cov = A))", 8, "takes no ID"),
        ("y ~ (1 |p| g) + (1 |p| g)", 16, "duplicate"),
    ],
)
def test_malformed_ids_point_at_the_culprit(formula, caret, message):
    with pytest.raises(pg.FormulaError, match=message) as info:
        parse_formula(formula)
    lines = str(info.value).splitlines()
    assert lines[-1].index("^") - 2 == caret  # the formula is printed indented by two spaces
    assert lines[-2].strip() == formula


# --- one formula: (1 |p| g) + (0 + x |p| g) is (1 + x | g) ---------------------------------------
@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pg.datasets.load("sleepstudy")


ID_FORMULA = "Reaction ~ Days + (1 |p| Subject) + (0 + Days |p| Subject)"
PLAIN_FORMULA = "Reaction ~ Days + (1 + Days | Subject)"


def test_plain_merge_has_the_design_and_priors_of_one_block(sleep):
    a, b = pg.Model(ID_FORMULA, sleep), pg.Model(PLAIN_FORMULA, sleep)
    (ba,), (bb,) = a.design.blocks, b.design.blocks
    assert (ba.name, ba.group, ba.terms, ba.kind) == (bb.name, bb.group, bb.terms, bb.kind)
    assert ba.kind == "lkj" and ba.block_id == "p" and ba.col_dpars == () and ba.dpar == ""
    np.testing.assert_array_equal(ba.Z, bb.Z)
    np.testing.assert_array_equal(ba.codes, bb.codes)
    assert ba.levels == bb.levels
    pd.testing.assert_frame_equal(a.priors, b.priors)
    # new data: the block's columns rebuilt from both terms' design states
    new = sleep.iloc[[0, 15, 40]]
    np.testing.assert_array_equal(
        a.design.transform(new).Z["Subject"], b.design.transform(new).Z["Subject"]
    )


@pytest.mark.parametrize("param", ["noncentered", "centered"])
def test_plain_merge_has_the_log_density_of_one_block(sleep, param):
    a, b = pg.Model(ID_FORMULA, sleep), pg.Model(PLAIN_FORMULA, sleep)
    ma = build_model(a.design, a.prior_set, a.family, param).model
    mb = build_model(b.design, b.prior_set, b.family, param).model
    point = mb.initial_point()
    rng = np.random.default_rng(0)
    point = {k: v + 0.3 * rng.normal(size=np.shape(v)) for k, v in point.items()}
    assert set(ma.initial_point()) == set(point)
    assert float(ma.compile_logp()(point)) == pytest.approx(float(mb.compile_logp()(point)))


def test_plain_merge_runs_in_the_kernel_and_the_point_fit(sleep):
    a, b = pg.Model(ID_FORMULA, sleep), pg.Model(PLAIN_FORMULA, sleep)
    spec = {"Subject": "noncentered"}
    ka = kernel_mod.kernel_model(a.design, a.prior_set, a.family, a.resolve(spec))
    kb = kernel_mod.kernel_model(b.design, b.prior_set, b.family, b.resolve(spec))
    assert not isinstance(ka, str) and not isinstance(kb, str)
    x = kb.initial_point(seed=2)
    la, ga = ka.logp(x)
    lb, gb = kb.logp(x)
    assert la == pytest.approx(lb) and np.allclose(ga, gb)
    ra, rb = a.optimize(reml=True), b.optimize(reml=True)
    np.testing.assert_allclose(ra.fixef()["Estimate"], rb.fixef()["Estimate"], rtol=1e-6)
    va, vb = ra.varcorr(), rb.varcorr()
    np.testing.assert_allclose(
        va.select_dtypes("number").to_numpy(), vb.select_dtypes("number").to_numpy(), rtol=1e-5
    )


def test_an_id_over_two_grouping_factors_names_both(sleep):
    df = sleep.assign(half=(sleep["Days"] >= 5).map({True: "late", False: "early"}))
    with pytest.raises(pg.DesignError, match="'Subject' and 'half'"):
        pg.Model("Reaction ~ Days + (1 |p| Subject) + (0 + Days |p| half)", df)
    with pytest.raises(pg.DesignError, match="'Intercept' twice"):
        pg.Model("Reaction ~ Days + (1 |p| Subject) + (Days |p| Subject)", df)


# --- across distributional parameters ----------------------------------------------------------
def tiny() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"x": rng.normal(size=15), "g": np.repeat(["a", "b", "c", "d", "e"], 3)})
    df["y"] = 1.0 + 0.5 * df["x"] + rng.normal(size=15)
    return df


BF = ("y ~ x + (1 |p| g)", "sigma ~ (1 |p| g)")


def test_cross_dpar_block_design_and_priors():
    df = tiny()
    m = pg.Model(pg.bf(*BF), df)
    (blk,) = m.design.blocks
    assert blk.name == "g" and blk.group == "g" and blk.kind == "lkj"
    assert blk.terms == ("Intercept", "sigma_Intercept")
    assert blk.col_dpars == ("", "sigma") and blk.spans_dpars
    assert blk.columns_of("").tolist() == [0] and blk.columns_of("sigma").tolist() == [1]
    assert m.design.mean_blocks() == (blk,)
    table = m.priors
    sd = table[table["class"] == "sd"]
    assert sd[["coef", "group", "dpar"]].values.tolist() == [
        ["Intercept", "g", ""],
        ["sigma_Intercept", "g", "sigma"],
    ]
    assert sd["prior"].tolist()[1] == "HalfStudentT(nu=3, sigma=2.5)"
    cor = table[table["class"] == "cor"]
    assert cor[["group", "prior"]].values.tolist() == [["g", "LKJ(eta=1)"]]
    # overrides keyed by term and by group
    m2 = pg.Model(
        pg.bf(*BF),
        df,
        priors={"sd": {"g": {"sigma_Intercept": "normal(0, 0.5)"}}, "cor": {"g": "lkj(2)"}},
    )
    assert m2.prior_set.sd["g"]["sigma_Intercept"].params["sigma"] == 0.5
    assert m2.prior_set.cor["g"].params == {"eta": 2.0}
    with pytest.raises(pg.DesignError, match="'g' and 'h'"):
        pg.Model(pg.bf("y ~ x + (1 |p| g)", "sigma ~ (1 |p| h)"), df.assign(h=df["g"]))


def test_cross_dpar_block_engines():
    m = pg.Model(pg.bf(*BF), tiny())
    reason = kernel_mod.kernel_model(m.design, m.prior_set, m.family, m.resolve())
    assert isinstance(reason, str) and "|ID|" in reason
    with pytest.raises(pg.UnsupportedModelError):
        m.optimize()
    code = m.code()
    assert "eta = eta + (r_g[codes_g][:, [0]]" in code
    assert "eta_sigma = eta_sigma + (r_g[codes_g][:, [1]]" in code


def _packed_chol_value(model, name: str, chol: np.ndarray) -> dict[str, np.ndarray]:
    """The free value of ``LKJCholeskyCov`` ``name`` for the factor ``chol``: PyMC packs the
    lower triangle row by row and stores the log of the diagonal."""
    (key,) = [k for k in model.initial_point() if k.startswith(f"{name}_cholesky")]
    packed = chol[np.tril_indices(chol.shape[0])].copy()
    diag = np.cumsum(np.arange(1, chol.shape[0] + 1)) - 1
    packed[diag] = np.log(packed[diag])
    return {key: packed}


@pytest.mark.parametrize("param", ["centered", "noncentered"])
def test_cross_dpar_log_density_against_scipy(param):
    """The log density of the effects and of ``y`` at a point equals scipy's:
    ``[r_l, s_l] ~ N(0, Sigma)`` per level, ``Sigma = diag(sd) [[1, rho], [rho, 1]] diag(sd)``
    (centered; non-centered: ``z ~ N(0, I)``, ``[r_l, s_l] = L z_l``), and
    ``y_i ~ N(b0 + b1 x_i + r_{g_i}, exp(c0 + s_{g_i}))``."""
    df = tiny()
    m = pg.Model(pg.bf(*BF), df)
    model = build_model(m.design, m.prior_set, m.family, {"g": param}).model
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    codes = pd.factorize(df["g"], sort=True)[0]
    icpt, beta, icpt_s = 1.1, 0.4, -0.2
    sd, rho = np.array([0.7, 0.5]), 0.6
    cov = np.outer(sd, sd) * np.array([[1.0, rho], [rho, 1.0]])
    chol = np.linalg.cholesky(cov)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 2))
    r = z @ chol.T
    point = {"Intercept": icpt, "beta": np.array([beta]), "Intercept_sigma": icpt_s}
    point |= _packed_chol_value(model, "L_g", chol)
    point["r_g" if param == "centered" else "z_g"] = r if param == "centered" else z
    effects = model["r_g"] if param == "centered" else model["z_g"]
    logp = float(model.compile_logp(vars=[effects, model["y"]], jacobian=False)(point))
    mu = icpt + (x - x.mean()) * beta + r[codes, 0]
    sigma = np.exp(icpt_s + r[codes, 1])
    prior = (
        stats.multivariate_normal(np.zeros(2), cov).logpdf(r).sum()
        if param == "centered"
        else stats.norm.logpdf(z).sum()
    )
    expected = prior + stats.norm.logpdf(y, mu, sigma).sum()
    assert logp == pytest.approx(expected, rel=1e-10)
    # the check can fail: the columns swapped between the predictors give another density
    swapped = stats.norm.logpdf(
        y, icpt + (x - x.mean()) * beta + r[codes, 1], np.exp(icpt_s + r[codes, 0])
    ).sum()
    assert abs(prior + swapped - expected) > 0.1


# --- recovery ------------------------------------------------------------------------------------
TRUE_SD = (0.8, 0.4)
TRUE_COR = 0.6


def simulate(seed: int = 1, groups: int = 30, rows: int = 20) -> pd.DataFrame:
    """``y = 1 + 0.5 x + u_g + exp(-0.3 + v_g) e`` with ``(u_g, v_g)`` normal, SDs 0.8 and
    0.4, correlation 0.6."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), rows)
    corr = np.array([[1.0, TRUE_COR], [TRUE_COR, 1.0]])
    uv = rng.normal(size=(groups, 2)) @ np.linalg.cholesky(corr).T * np.array(TRUE_SD)
    x = rng.normal(size=groups * rows)
    y = 1.0 + 0.5 * x + uv[g, 0] + np.exp(-0.3 + uv[g, 1]) * rng.normal(size=groups * rows)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:02d}" for k in g]})


@pytest.fixture(scope="module")
def recovery_fit():
    m = pg.Model(pg.bf(*BF), simulate())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.fit(draws=500, tune=500, chains=2, seed=3)


def test_recovery_of_the_cross_dpar_block(recovery_fit):
    s = recovery_fit.summary()
    rows = s[s["group"] == "g"].set_index("term")
    assert list(rows.index) == [
        "sd(Intercept)",
        "sd(sigma_Intercept)",
        "cor(Intercept,sigma_Intercept)",
    ]
    for label, truth in [
        ("sd(Intercept)", TRUE_SD[0]),
        ("sd(sigma_Intercept)", TRUE_SD[1]),
        ("cor(Intercept,sigma_Intercept)", TRUE_COR),
    ]:
        assert rows.loc[label, "l-95% CI"] < truth < rows.loc[label, "u-95% CI"], label
    assert "cor(Intercept,sigma_Intercept)" in str(recovery_fit)


def test_recovery_fit_results_keep_working(recovery_fit):
    fit = recovery_fit
    vc = fit.varcorr()
    assert set(vc["var1"]) >= {"Intercept", "sigma_Intercept"}
    ranef = fit.ranef()["g"]
    assert list(ranef.columns) == ["Intercept", "sigma_Intercept"] and len(ranef) == 30
    coef = fit.coef()["g"]
    b_sigma = float(fit.posterior["b_sigma"].mean())
    np.testing.assert_allclose(
        coef["sigma_Intercept"], b_sigma + ranef["sigma_Intercept"], atol=1e-8
    )
    new = simulate().iloc[[0, 25, 100]]
    pred = fit.predict(new, summary=False)
    r = fit.posterior["r_g"].values.reshape(-1, 30, 2)
    b = fit.posterior["b"].values.reshape(-1, 2)
    codes = [0, 1, 5]
    expected = b[:, 0:1] + b[:, 1:2] * new["x"].to_numpy() + r[:, codes, 0]
    np.testing.assert_allclose(pred, expected, rtol=1e-10)  # only the mean's column in mu
    assert fit.predict(new, kind="response").shape == (3, 4)
    assert np.isfinite(stack.elpd(fit.loo())[0])
