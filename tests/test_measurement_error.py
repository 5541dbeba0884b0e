"""Measurement error, brms's ``me(x, sdx)`` (#17 item 4): parsing, the design, priors, the PyMC
model's log density against a scipy reference, the engines that refuse it, and a recovery fit
of three correlated latent predictors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pyglmm as pg
from pyglmm.formula import parse_formula


def _tiny(n: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "s1": rng.uniform(0.2, 0.5, size=n),
            "x2": rng.normal(size=n),
            "s2": rng.uniform(0.1, 0.3, size=n),
            "z": rng.normal(size=n),
            "g": np.tile(["a", "b", "c"], n // 3),
            "y": rng.normal(size=n),
        }
    )


# --- parsing ---------------------------------------------------------------------------------


def test_me_terms_become_placeholder_columns_named_as_brms() -> None:
    f = parse_formula("y ~ me(x1, s1) * z + me(x2, s2) + (1 | g)")
    assert f.fixed == "mex1s1 * z + mex2s2"
    assert [(t.x, t.sdx, t.coef, t.name) for t in f.me] == [
        ("x1", "s1", "mex1s1", "mex1"),
        ("x2", "s2", "mex2s2", "mex2"),
    ]
    assert f.variables() == ("y", "x1", "s1", "z", "x2", "s2", "g")
    m = pg.Model("y ~ me(x1, s1) * z + me(x2, s2)", _tiny())
    assert m.design.x_names == ("Intercept", "mex1s1", "z", "mex2s2", "mex1s1:z")
    cols = {c.coef: c for c in m.design.me.columns}
    assert set(cols) == {"mex1s1", "mex2s2", "mex1s1:z"}
    np.testing.assert_allclose(cols["mex1s1:z"].base, _tiny()["z"])
    np.testing.assert_allclose(cols["mex1s1"].base, 1.0)
    assert cols["mex2s2"].terms == (1,)


@pytest.mark.parametrize(
    ("formula", "message", "at"),
    [
        ("y ~ I(me(x1, s1)**2)", "not inside another call", "me"),
        ("y ~ np.log(me(x1, s1))", "not inside another call", "me"),
        ("y ~ (1 + me(x1, s1) | g)", "random-effect term", "me"),
        ("me(x1, s1) ~ z", "the response", "me"),
        ("y ~ me(x1, s1, gr = g)", "gr =", "gr"),
        ("y ~ me(x1)", "two column names", "me"),
        ("y ~ me(x1, 2 * s1)", "two column names", "2"),
        ("y ~ me(x1, s1) + me(x1, s2):z", "different measurement errors", "me(x1, s2)"),
    ],
)
def test_bad_me_syntax_points_at_the_culprit(formula, message, at) -> None:
    with pytest.raises(pg.FormulaError, match=message) as info:
        pg.Model(formula, _tiny())
    assert info.value.position == formula.index(at)


def test_me_in_a_random_effect_term_is_unsupported() -> None:
    """``(1 + me(x, s) | g)`` is brms syntax pyglmm does not fit yet: an
    UnsupportedModelError (and a FormulaError, with the caret under the call)."""
    formula = "y ~ x2 + (1 + me(x1, s1) | g)"
    with pytest.raises(pg.UnsupportedModelError, match="random-effect term") as info:
        pg.Model(formula, _tiny())
    assert isinstance(info.value, pg.FormulaError)
    assert info.value.position == formula.index("me")


def test_me_design_errors() -> None:
    df = _tiny()
    with pytest.raises(pg.DesignError, match="finite and positive"):
        pg.Model("y ~ me(x1, s1)", df.assign(s1=df["s1"].where(df.index != 2, 0.0)))
    with pytest.raises(pg.DesignError, match="must be numeric"):
        pg.Model("y ~ me(g, s1)", df)
    with pytest.raises(pg.DesignError, match="also a column"):
        pg.Model("y ~ me(x1, s1)", df.assign(mex1s1=1.0))


# --- priors, engines -------------------------------------------------------------------------


def test_me_priors_are_listed_and_overridable() -> None:
    df = _tiny()
    m = pg.Model("y ~ me(x1, s1) + me(x2, s2)", df)
    table = m.priors.set_index(["class", "coef"])
    assert table.loc[("meanme", "mex1"), "prior"].startswith("Normal(")
    assert table.loc[("sdme", "mex2"), "prior"].startswith("HalfStudentT(")
    assert table.loc[("corme", ""), "prior"] == "LKJ(eta=1)"
    m = pg.Model(
        "y ~ me(x1, s1) + me(x2, s2)",
        df,
        priors={
            "meanme": {"mex1": "normal(0, 3)"},
            "sdme": pg.prior("HalfNormal", sigma=2),
            "corme": "lkj(2)",
        },
    )
    table = m.priors.set_index(["class", "coef"])
    assert table.loc[("meanme", "mex1"), ["prior", "source"]].tolist() == [
        "Normal(mu=0, sigma=3)",
        "user",
    ]
    assert table.loc[("meanme", "mex2"), "source"] == "default"
    assert table.loc[("sdme", "mex2"), "prior"] == "HalfNormal(sigma=2)"
    assert table.loc[("corme", ""), "prior"] == "LKJ(eta=2)"
    with pytest.raises(pg.PriorError, match="unknown me\\(\\) terms"):
        pg.Model("y ~ me(x1, s1)", df, priors={"meanme": {"mex9": "normal(0, 1)"}})
    with pytest.raises(pg.PriorError, match="'corme' class takes lkj"):
        pg.Model("y ~ me(x1, s1) + me(x2, s2)", df, priors={"corme": "normal(0, 1)"})
    with pytest.raises(pg.PriorError, match="mecor=False"):
        pg.Model("y ~ me(x1, s1) + me(x2, s2)", df, priors={"corme": "lkj(2)"}, mecor=False)
    with pytest.raises(pg.PriorError, match="this model has none"):
        pg.Model("y ~ x1", df, priors={"sdme": "normal(0, 1)"})
    independent = pg.Model("y ~ me(x1, s1) + me(x2, s2)", df, mecor=False)
    assert "corme" not in set(independent.priors["class"])
    assert "Lcorme" not in independent.code()


def test_engines_refuse_me_terms() -> None:
    from pyglmm import kernel

    m = pg.Model("y ~ me(x1, s1) + (1 | g)", _tiny(9))
    reason = kernel.kernel_model(m.design, m.prior_set, m.family, m.resolve())
    assert isinstance(reason, str) and "me()" in reason
    with pytest.raises(pg.UnsupportedModelError, match="optimize"):
        m.optimize()
    assert m.resolve() == {"g": "noncentered"}  # "auto" never integrates a block out
    with pytest.raises(pg.ArgumentError, match="me\\(\\) terms"):
        m.resolve("marginal")
    with pytest.raises(pg.UnsupportedModelError, match="me\\(\\) terms"):
        m.simulate()


def test_me_with_distributional_formulas_is_refused_and_ids_combine() -> None:
    df = _tiny(12)
    with pytest.raises(pg.UnsupportedModelError, match="the formula of 'sigma'"):
        pg.Model(pg.bf("y ~ x1", "sigma ~ me(x2, s2)"), df)
    with pytest.raises(pg.UnsupportedModelError, match="the mean's formula"):
        pg.Model(pg.bf("y ~ me(x1, s1)", "sigma ~ z"), df)
    # a pg.bf without distributional formulas is the plain model
    plain = pg.Model(pg.bf("y ~ me(x1, s1)"), df)
    assert plain.design.me is not None and not plain.distributional
    # brms's |ID| blocks of the mean's formula sit beside me() terms
    m = pg.Model("y ~ me(x1, s1) + (1 |p| g) + (0 + z |p| g)", df)
    assert [blk.terms for blk in m.design.blocks] == [("Intercept", "z")]
    assert {"meanme", "sdme"} <= set(m.priors["class"])
    assert "Xme" in m.code()


# --- the log density -------------------------------------------------------------------------


def _value_fn(model, name):
    out = model.replace_rvs_by_values([model[name]])[0]
    return model.compile_fn(out, inputs=model.value_vars, on_unused_input="ignore")


def test_log_density_matches_a_scipy_reference() -> None:
    """At points that differ in everything but the latent correlation, the model's log density
    (no Jacobian terms) differs as the hand-written one does: priors of Intercept, beta,
    meanme, sdme and sigma, ``Xme_i ~ N(meanme, S)``, ``x ~ N(Xme, sdx)`` and
    ``y ~ N(Intercept + (X(Xme) - xbar) beta, sigma)`` with the interaction column
    ``Xme_1 * z``."""
    df = _tiny()
    m = pg.Model("y ~ me(x1, s1) * z + me(x2, s2)", df)
    model = m.pymc_model
    logp = model.compile_logp(jacobian=False)
    corme = _value_fn(model, "corme")
    ps, design = m.prior_set, m.design
    rng = np.random.default_rng(5)
    n = len(df)
    x = df[["x1", "x2"]].to_numpy()
    sdx = df[["s1", "s2"]].to_numpy()
    xbar = design.X[:, 1:].mean(axis=0)
    slopes = list(design.x_names[1:])

    def reference(point: dict, cor: np.ndarray) -> float:
        mean, sd = point["meanme"], np.exp(point["sdme_log__"])
        sigma = np.exp(point["sigma_log__"])
        latent = point["Xme"]
        total = 0.0
        for k, name in enumerate(["mex1", "mex2"]):
            pm_ = ps.me["meanme"][name].params
            total += stats.norm.logpdf(mean[k], pm_["mu"], pm_["sigma"])
            ps_ = ps.me["sdme"][name].params
            total += np.log(2) + stats.t.logpdf(sd[k], ps_["nu"], 0, ps_["sigma"])
        cov = np.outer(sd, sd) * cor
        total += stats.multivariate_normal(mean, cov).logpdf(latent).sum()
        total += stats.norm.logpdf(x, latent, sdx).sum()
        X = design.X.copy()
        X[:, 1] = latent[:, 0]
        X[:, 3] = latent[:, 1]
        X[:, 4] = latent[:, 0] * df["z"].to_numpy()
        ip = ps.intercept.params
        total += stats.t.logpdf(point["Intercept"], ip["nu"], ip["mu"], ip["sigma"])
        for c, v in zip(slopes, point["beta"], strict=True):
            total += stats.norm.logpdf(v, 0, ps.b[c].params["sigma"])
        sp = ps.family["sigma"].params
        total += np.log(2) + stats.t.logpdf(sigma, sp["nu"], 0, sp["sigma"])
        mu = point["Intercept"] + (X[:, 1:] - xbar) @ point["beta"]
        total += stats.norm.logpdf(df["y"].to_numpy(), mu, sigma).sum()
        return float(total)

    base = model.initial_point()
    points = []
    for _ in range(3):
        point = dict(base)
        point["meanme"] = rng.normal(size=2)
        point["sdme_log__"] = rng.normal(scale=0.3, size=2)
        point["Xme"] = x + 0.3 * rng.normal(size=(n, 2))
        point["Intercept"] = rng.normal()
        point["beta"] = rng.normal(size=4)
        point["sigma_log__"] = rng.normal(scale=0.3)
        points.append(point)
    cor = corme(base)
    assert cor.shape == (2, 2)
    got = [float(logp(p)) for p in points]
    want = [reference(p, cor) for p in points]
    np.testing.assert_allclose(np.diff(got), np.diff(want), rtol=1e-8, atol=1e-8)
    # and at a correlation of its own: the latent values' density moves with it
    (key,) = [k for k in base if k.startswith("Lcorme")]  # the LKJ value (its name by stack)
    moved = dict(points[0])
    moved[key] = np.asarray(base[key]) + 0.4
    cor2 = corme(moved)
    assert abs(cor2[0, 1] - cor[0, 1]) > 1e-3
    lkj = float(logp(moved)) - reference(moved, cor2)
    lkj0 = float(logp(points[0])) - reference(points[0], cor)
    # the rest differs by the LKJ(1) density only, which is flat in the correlation
    assert lkj == pytest.approx(lkj0, abs=1e-8)


# --- recovery --------------------------------------------------------------------------------

COV = np.array([[1.0, -0.3, 0.0], [-0.3, 1.0, 0.6], [0.0, 0.6, 1.0]])
MEANS = np.array([1.0, -2.0, 0.5])
SLOPES = np.array([0.8, -0.5, 1.2])


@pytest.mark.slow  # about 3 minutes on 2 cores (compiling and 2 x 800 iterations)
def test_three_correlated_latent_predictors_are_recovered(tmp_path) -> None:
    """True predictors with cov COV and means MEANS, observed with sd 0.3, y gaussian on them
    (sigma 0.5; 100 rows): the slopes, the latent correlations, a mean and an SD are inside
    their 95% intervals. The posterior means track the classical regression-calibration
    estimates of the same data (measured: 0.644 for both on another seed), which scatter
    around the truth by the measurement noise's draw; the seed is one whose
    regression-calibration estimates sit near the truth, so a miss here is the model's."""
    rng = np.random.default_rng(182)  # regression calibration lands near the truth here
    n = 100
    true = MEANS + rng.normal(size=(n, 3)) @ np.linalg.cholesky(COV).T
    df = pd.DataFrame(true + rng.normal(scale=0.3, size=(n, 3)), columns=["x1", "x2", "x3"])
    for k in (1, 2, 3):
        df[f"s{k}"] = 0.3
    df["y"] = 1.0 + true @ SLOPES + rng.normal(scale=0.5, size=n)
    m = pg.Model("y ~ me(x1, s1) + me(x2, s2) + me(x3, s3)", df)
    fit = m.fit(draws=500, tune=300, chains=2, seed=4, progressbar=False, warn=False)
    assert fit.timing["kernel"] == 0.0
    table = fit.summary().set_index("term")
    checks = {f"mex{k}s{k}": SLOPES[k - 1] for k in (1, 2, 3)}
    checks |= {
        "corme__mex1__mex2": -0.3,
        "corme__mex1__mex3": 0.0,
        "corme__mex2__mex3": 0.6,
        "meanme_mex2": -2.0,
        "sdme_mex3": 1.0,
    }
    for term, truth in checks.items():
        row = table.loc[term]
        assert row["l-95% CI"] < truth < row["u-95% CI"], (term, row)
    assert table.loc["corme__mex2__mex3", "class"] == "corme"
    assert "Measurement-Error Parameters" in str(fit)
    # the fitted rows use the latent values, new data their observed values
    pred = fit.predict(kind="link", summary=False)
    latent = fit.posterior["Xme"].values.reshape(-1, n, 3)
    b = fit.posterior["b"].values.reshape(-1, 4)
    np.testing.assert_allclose(pred, b[:, :1] + np.einsum("sik,sk->si", latent, b[:, 1:]))
    new = fit.predict(df.head(2), kind="link", summary=False)
    np.testing.assert_allclose(new, b[:, :1] + b[:, 1:] @ df[["x1", "x2", "x3"]].head(2).T.values)
    fit.save(tmp_path / "me.nc")
    assert str(pg.load_fit(tmp_path / "me.nc")) == str(fit)


def test_a_small_fit_predicts_at_the_latent_values_and_round_trips(tmp_path) -> None:
    """The fast suite's fit of an me() model (the recovery above is marked slow): predict() of
    the fitted rows uses the latent draws, new data their observed values, and fit.save /
    pg.load_fit rebuild an mecor=False model as one (no corme prior, the same summary)."""
    rng = np.random.default_rng(3)
    n = 30
    true = rng.normal(size=(n, 2))
    df = pd.DataFrame(true + rng.normal(scale=0.3, size=(n, 2)), columns=["x1", "x2"])
    df["s1"] = df["s2"] = 0.3
    df["y"] = 1.0 + true @ np.array([0.8, -0.5]) + rng.normal(scale=0.5, size=n)
    m = pg.Model("y ~ me(x1, s1) + me(x2, s2)", df, mecor=False)
    fit = m.fit(draws=100, tune=100, chains=1, seed=1, progressbar=False, warn=False)
    pred = fit.predict(kind="link", summary=False)
    latent = fit.posterior["Xme"].values.reshape(-1, n, 2)
    b = fit.posterior["b"].values.reshape(-1, 3)
    np.testing.assert_allclose(pred, b[:, :1] + np.einsum("sik,sk->si", latent, b[:, 1:]))
    new = fit.predict(df.head(2), kind="link", summary=False)
    np.testing.assert_allclose(new, b[:, :1] + b[:, 1:] @ df[["x1", "x2"]].head(2).T.values)
    fit.save(tmp_path / "me.nc")
    loaded = pg.load_fit(tmp_path / "me.nc")
    assert loaded.model.design.me is not None and not loaded.model.design.me.mecor
    assert "corme" not in set(loaded.model.priors["class"])
    assert str(loaded) == str(fit)
