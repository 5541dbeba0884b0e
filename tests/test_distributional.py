"""Distributional formulas (#17 part): ``pg.bf(main, "sigma ~ ...")``.

The bf object and its errors; priors (defaults, overrides, the dpar column); the engines that
refuse the model (kernel, marginal, optimize); the PyMC model's log density against scipy on a
tiny data set; the seed example of #17 (8 treatments x 12 groups whose mean and log SD vary
additively by row and column) recovered; a negative binomial ``shape ~ x`` recovered.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pyglmm as pg
from pyglmm import kernel as kernel_mod
from pyglmm.compile import build_model


def tiny() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=12), "g": np.repeat(["a", "b", "c"], 4)})
    df["y"] = 1.0 + 0.5 * df["x"] + rng.normal(size=12) * np.exp(0.4 * df["x"])
    return df


# --- the bf object --------------------------------------------------------------------------
def test_bf_positional_and_keyword_forms_agree():
    a = pg.bf("y ~ x + (1 | g)", "sigma ~ x + (1 | g)")
    b = pg.bf("y ~ x + (1 | g)", sigma="~ x + (1 | g)")
    assert a == b
    assert a.dpar_names == ("sigma",)
    assert a.dpars == (("sigma", "sigma ~ x + (1 | g)"),)
    assert pg.bf("y ~ x", sigma="sigma ~ x") == pg.bf("y ~ x", "sigma ~ x")
    with pytest.raises(AttributeError):  # frozen
        a.formula = "y ~ 1"  # type: ignore[misc]


def test_bf_errors():
    with pytest.raises(pg.FormulaError, match="names its parameter"):
        pg.bf("y ~ x", "~ x")
    with pytest.raises(pg.FormulaError, match="two formulas"):
        pg.bf("y ~ x", "sigma ~ x", sigma="~ 1")
    with pytest.raises(pg.FormulaError, match="names its parameter"):
        pg.bf("y ~ x", sigma="shape ~ x")
    with pytest.raises(pg.FormulaError):
        pg.bf("y ~ x", "sigma ~ (1 | )")
    assert (pg.bf("y1 ~ x") + pg.bf("y2 ~ x")).responses == ("y1", "y2")  # multivariate


def test_unknown_dpar_for_family_names_it_and_lists_the_parameters():
    df = tiny()
    with pytest.raises(pg.FamilyError, match=r"'shape'.*'sigma'"):
        pg.Model(pg.bf("y ~ x", shape="~ x"), df)
    counts = df.assign(y=np.arange(12) % 4)
    with pytest.raises(pg.FamilyError, match=r"'sigma'.*'shape'"):
        pg.Model(pg.bf("y ~ x", sigma="~ x"), counts, family="negativebinomial")


def test_bf_without_dpars_is_the_plain_model():
    df = tiny()
    m = pg.Model(pg.bf("y ~ x + (1 | g)"), df)
    assert not m.distributional
    assert list(m.priors.columns) == ["prior", "class", "coef", "group", "source"]


# --- priors ---------------------------------------------------------------------------------
def test_priors_defaults_and_overrides():
    df = tiny()
    m = pg.Model(pg.bf("y ~ x", "sigma ~ x + (1 | g)"), df)
    pri = m.priors
    assert "dpar" in pri.columns
    sig = pri[pri["dpar"] == "sigma"].set_index(["class", "coef"])
    assert sig.loc[("Intercept", ""), "prior"] == "StudentT(nu=3, mu=0, sigma=2.5)"
    assert sig.loc[("b", "x"), "prior"].startswith("Normal(mu=0")
    assert sig.loc[("sd", "sigma_Intercept"), "prior"] == "HalfStudentT(nu=3, sigma=2.5)"
    assert "sigma" not in set(pri["class"])  # no prior of its own
    m2 = pg.Model(
        pg.bf("y ~ x", "sigma ~ x + (1 | g)"),
        df,
        priors={
            "b_sigma": {"x": "normal(0, 1)"},
            "Intercept_sigma": pg.prior("Normal", mu=0, sigma=1),
            "sd": {"g": {"sigma_Intercept": "normal(0, 0.5)"}},
        },
    )
    pri = m2.priors
    sig = pri[pri["dpar"] == "sigma"].set_index(["class", "coef"])
    assert sig.loc[("b", "x"), "prior"] == "Normal(mu=0, sigma=1)"
    assert sig.loc[("b", "x"), "source"] == "user"
    assert sig.loc[("Intercept", ""), "source"] == "user"
    assert sig.loc[("sd", "sigma_Intercept"), "prior"] == "HalfNormal(sigma=0.5)"
    with pytest.raises(pg.PriorError, match="has a formula"):
        pg.Model(pg.bf("y ~ x", "sigma ~ x"), df, priors={"sigma": "normal(0, 1)"})
    with pytest.raises(pg.PriorError, match="unknown coefficients"):
        pg.Model(pg.bf("y ~ x", "sigma ~ x"), df, priors={"b_sigma": {"z": "normal(0, 1)"}})


# --- engines ----------------------------------------------------------------------------------
def test_engines_refuse_distributional_models():
    df = tiny()
    m = pg.Model(pg.bf("y ~ x + (1 | g)", "sigma ~ x"), df)
    resolved = m.resolve()
    assert resolved == {"g": "noncentered"}  # "auto": no marginal block
    reason = kernel_mod.kernel_model(m.design, m.prior_set, m.family, resolved)
    assert isinstance(reason, str) and "distributional" in reason
    with pytest.raises(pg.ArgumentError, match="distributional"):
        m.resolve("marginal")
    with pytest.raises(pg.ArgumentError, match="distributional"):
        pg.Model(pg.bf("y ~ x + (1 | g)", "sigma ~ x"), df, parameterization={"g": "marginal"})
    with pytest.raises(pg.UnsupportedModelError, match="distributional"):
        m.optimize()
    with pytest.raises(pg.UnsupportedModelError, match="distributional"):
        m.simulate(seed=1)


# --- the log density against scipy --------------------------------------------------------------
def test_logp_against_scipy():
    """y ~ x, sigma ~ x + (1 | g), non-centered: the PyMC model's log density (no Jacobian) at
    a point equals the sum of the scipy densities of the priors and of
    ``y_i ~ N(b0 + b1 x_i, exp(s0 + s1 x_i + sd_g z_g[g_i]))``."""
    df = tiny()
    m = pg.Model(pg.bf("y ~ x", "sigma ~ x + (1 | g)"), df)
    model = build_model(m.design, m.prior_set, m.family, {"sigma_g": "noncentered"}).model
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    codes = pd.factorize(df["g"], sort=True)[0]
    xbar = x.mean()
    icpt, beta, icpt_s, beta_s, sd_s = 1.1, 0.4, -0.2, 0.3, 0.7
    z = np.array([0.5, -1.0, 0.8])
    point = {
        "Intercept": icpt,
        "beta": np.array([beta]),
        "Intercept_sigma": icpt_s,
        "beta_sigma": np.array([beta_s]),
        "sd_sigma_g_log__": np.log(np.array([sd_s])),
        "z_sigma_g": z[:, None],
    }
    logp = float(model.compile_logp(jacobian=False)(point))
    ps = m.prior_set
    pi, pb = ps.intercept.params, ps.b["x"].params
    pis, pbs = ps.dpar_intercept["sigma"].params, ps.dpar_b["sigma"]["x"].params
    psd = ps.sd["sigma_g"]["sigma_Intercept"].params
    mu = icpt + (x - xbar) * beta
    sigma = np.exp(icpt_s + (x - xbar) * beta_s + sd_s * z[codes])
    expected = (
        stats.t.logpdf(icpt, pi["nu"], pi["mu"], pi["sigma"])
        + stats.norm.logpdf(beta, 0, pb["sigma"])
        + stats.t.logpdf(icpt_s, pis["nu"], pis["mu"], pis["sigma"])
        + stats.norm.logpdf(beta_s, 0, pbs["sigma"])
        + np.log(2)
        + stats.t.logpdf(sd_s, psd["nu"], 0, psd["sigma"])
        + stats.norm.logpdf(z).sum()
        + stats.norm.logpdf(y, mu, sigma).sum()
    )
    assert logp == pytest.approx(expected, rel=1e-8)  # PyMC's StudentT: ~1e-8 apart
    # a model with one sigma for all rows would not match: the check can fail
    assert (
        abs(stats.norm.logpdf(y, mu, np.exp(icpt_s)).sum() - stats.norm.logpdf(y, mu, sigma).sum())
        > 0.1
    )


# --- the seed example of #17 ---------------------------------------------------------------------
TRUTH = {
    "Intercept": 5.0,
    "sigma_Intercept": np.log(0.6),
    "sd(Intercept) treat": 1.0,
    "sd(Intercept) group": 0.7,
    "sd(sigma_Intercept) treat": 0.5,
    "sd(sigma_Intercept) group": 0.4,
}


def seed_data(seed: int = 4) -> pd.DataFrame:
    """8 treatments x 12 groups, 3 replicates per cell: ``y = 5 + mean_treat[i] +
    mean_group[j] + eps`` with ``sd(eps) = exp(log 0.6 + s_treat[i] + s_group[j])`` (brms
    models log sigma additively), effects drawn with the SDs of :data:`TRUTH` (seed 4: the
    drawn effects' sample SDs are 0.98, 0.91, 0.49, 0.41, near the SDs they were drawn with,
    so the check is of the model, not of an unlucky draw of 8 levels)."""
    rng = np.random.default_rng(seed)
    nt, ng, reps = 8, 12, 3
    mean_t = rng.normal(0, TRUTH["sd(Intercept) treat"], nt)
    mean_g = rng.normal(0, TRUTH["sd(Intercept) group"], ng)
    s_t = rng.normal(0, TRUTH["sd(sigma_Intercept) treat"], nt)
    s_g = rng.normal(0, TRUTH["sd(sigma_Intercept) group"], ng)
    t, g = np.meshgrid(np.arange(nt), np.arange(ng), indexing="ij")
    t, g = np.repeat(t.ravel(), reps), np.repeat(g.ravel(), reps)
    mu = TRUTH["Intercept"] + mean_t[t] + mean_g[g]
    sd = np.exp(TRUTH["sigma_Intercept"] + s_t[t] + s_g[g])
    return pd.DataFrame(
        {"y": rng.normal(mu, sd), "treat": [f"t{i}" for i in t], "group": [f"g{j:02d}" for j in g]}
    )


@pytest.fixture(scope="module")
def seed_fit():
    model = pg.Model(
        pg.bf("y ~ 1 + (1 | treat) + (1 | group)", "sigma ~ 1 + (1 | treat) + (1 | group)"),
        seed_data(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pg.SamplingWarning)
        return model.fit(draws=500, tune=500, chains=2, seed=3, progressbar=False)


def test_seed_example_recovers_the_truth(seed_fit):
    fit = seed_fit
    assert fit.timing["kernel"] == 0.0
    summary = fit.summary()
    rows = {
        (r["term"] + (f" {r['group']}" if r["group"] else "")): r for _, r in summary.iterrows()
    }
    for key, truth in TRUTH.items():
        row = rows[key]
        assert row["l-95% CI"] <= truth <= row["u-95% CI"], (key, truth, row.to_dict())
    assert fit.diagnostics()["max_rhat"] < 1.05
    text = str(fit)
    assert "sigma = log" in text and "sd(sigma_Intercept)" in text
    assert "sigma ~ 1 + (1 | treat) + (1 | group)" in text
    assert "sigma_Intercept" in fit.fixef().index
    vc = fit.varcorr()
    assert set(vc["var1"]) == {"Intercept", "sigma_Intercept"}
    assert "Residual" not in set(vc["group"])
    ranef = fit.ranef()
    assert list(ranef["treat"].columns) == ["Intercept", "sigma_Intercept"]
    coef = fit.coef()["group"]
    b_sigma = fit.fixef().loc["sigma_Intercept", "Estimate"]
    r_sigma = ranef["group"]["sigma_Intercept"]
    np.testing.assert_allclose(coef["sigma_Intercept"], b_sigma + r_sigma, atol=1e-10)
    assert "sigma = pm.math.exp(eta_sigma)" in fit.model.code()


def test_seed_example_loglik_uses_the_row_sigma(seed_fit):
    """The stored pointwise log-likelihood of a draw equals scipy's with that draw's per-row
    sigma, ``exp(b_sigma + r_sigma_treat[i] + r_sigma_group[j])``."""
    fit = seed_fit
    d = fit.design
    post = fit.posterior
    by = {blk.name: blk for blk in d.blocks}
    pick = {"chain": 1, "draw": 7}
    eta = float(post["b"].isel(pick).values[0]) + np.zeros(d.n_obs)
    eta_s = float(post["b_sigma"].isel(pick).values[0]) + np.zeros(d.n_obs)
    for name in ("treat", "group"):
        eta = eta + post[f"r_{name}"].isel(pick).values[by[name].codes, 0]
        s = f"sigma_{name}"
        eta_s = eta_s + post[f"r_{s}"].isel(pick).values[by[s].codes, 0]
    expected = stats.norm.logpdf(d.y, eta, np.exp(eta_s))
    stored = np.asarray(fit.idata["log_likelihood"]["y"].isel(pick).values)
    np.testing.assert_allclose(stored, expected, rtol=1e-10)
    assert fit.loo() is not None  # PSIS-LOO from the stored per-row log-likelihood


def test_seed_example_predict(seed_fit):
    fit = seed_fit
    df = fit.model.data
    pred = fit.predict(kind="response", seed=1)
    assert pred.shape == (len(df), 4) and np.isfinite(pred.to_numpy()).all()
    # the noisiest cell's predictive spread exceeds the quietest's (sigma varies by cell)
    post = fit.posterior
    sd_mean = float(np.exp(post["b_sigma"].mean().values))
    spread = pred["Est.Error"]
    assert spread.max() > 1.5 * spread.min()
    assert spread.min() < sd_mean * 3
    new = pd.DataFrame({"treat": ["t0", "t9"], "group": ["g00", "g00"]})
    out = fit.predict(new, kind="response", new_levels="gaussian", seed=2)
    assert np.isfinite(out.to_numpy()).all()


# --- negative binomial shape ~ x ---------------------------------------------------------
def test_negative_binomial_shape_recovery():
    rng = np.random.default_rng(5)
    n, ng = 400, 8
    x = rng.normal(size=n)
    g = rng.integers(0, ng, n)
    r = rng.normal(0, 0.3, ng)
    mu = np.exp(1.0 + 0.5 * x + r[g])
    shape = np.exp(0.5 + 0.8 * x)
    count = rng.negative_binomial(shape, shape / (shape + mu))
    df = pd.DataFrame({"count": count, "x": x, "g": [f"g{k}" for k in g]})
    model = pg.Model(pg.bf("count ~ x + (1 | g)", "shape ~ x"), df, family="negativebinomial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pg.SamplingWarning)
        fit = model.fit(draws=400, tune=400, chains=2, seed=1, progressbar=False)
    fe = fit.fixef()
    for name, truth in {"x": 0.5, "shape_Intercept": 0.5, "shape_x": 0.8}.items():
        assert fe.loc[name, "Q2.5"] <= truth <= fe.loc[name, "Q97.5"], (name, fe)
    assert "shape" not in set(fit.summary()["class"])
