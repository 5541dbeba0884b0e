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
from pyglmm import stack
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


def _prior_logpdf(p, value: float) -> float:
    """scipy's log density of a prior (the reference for the PyMC model's priors)."""
    a = p.params
    if p.dist == "StudentT":
        return float(stats.t.logpdf(value, a["nu"], a["mu"], a["sigma"]))
    if p.dist == "Normal":
        return float(stats.norm.logpdf(value, a["mu"], a["sigma"]))
    if p.dist == "Gamma":
        return float(stats.gamma.logpdf(value, a["alpha"], scale=1 / a["beta"]))
    if p.dist == "HalfStudentT":
        return float(np.log(2) + stats.t.logpdf(value, a["nu"], 0, a["sigma"]))
    raise AssertionError(p.dist)


def _student(y, mu, p):
    return stats.t.logpdf(y, p["nu"], mu, p["sigma"])


# family, modelled parameter, its inverse link, response from x, the scipy row density
OTHER_FAMILIES = {
    "student-sigma": ("student", "sigma", np.exp, lambda x: 1.0 + x, _student),
    "student-nu": ("student", "nu", lambda e: 1 + np.exp(e), lambda x: 1.0 + x, _student),
    "lognormal-sigma": (
        "lognormal",
        "sigma",
        np.exp,
        lambda x: np.exp(1 + 0.3 * x),
        lambda y, mu, p: stats.lognorm.logpdf(y, s=p["sigma"], scale=np.exp(mu)),
    ),
    "gamma-shape": (
        "gamma",
        "shape",
        np.exp,
        lambda x: np.exp(1 + 0.3 * x),
        lambda y, mu, p: stats.gamma.logpdf(y, p["shape"], scale=mu / p["shape"]),
    ),
    "beta-phi": (
        "beta",
        "phi",
        np.exp,
        lambda x: 1 / (1 + np.exp(-x)),
        lambda y, mu, p: stats.beta.logpdf(y, mu * p["phi"], (1 - mu) * p["phi"]),
    ),
}
MEAN_INVERSE = {"identity": lambda e: e, "log": np.exp, "logit": lambda e: 1 / (1 + np.exp(-e))}


@pytest.mark.parametrize("case", list(OTHER_FAMILIES))
def test_logp_of_other_families_against_scipy(case):
    """``y ~ x`` with ``<dpar> ~ x`` for student (sigma; nu, link logm1), lognormal (sigma),
    gamma (shape) and beta (phi): the PyMC model's log density (no Jacobian) at a point equals
    scipy's priors plus ``sum_i log p(y_i | mu_i, dpar_i)`` with ``dpar_i = linkinv(s0 + s1
    (x_i - xbar))`` and the family's other parameters at one value."""
    fam, dpar, inverse, response, row_logpdf = OTHER_FAMILIES[case]
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = response(x) + (rng.standard_t(2, size=12) if fam == "student" else 0.0)
    m = pg.Model(pg.bf("y ~ x", f"{dpar} ~ x"), pd.DataFrame({"x": x, "y": y}), family=fam)
    model = build_model(m.design, m.prior_set, m.family, {}).model
    xc = x - x.mean()
    icpt, beta, icpt_d, beta_d = 0.3, 0.2, 0.4, -1.5
    point = {
        "Intercept": icpt,
        "beta": np.array([beta]),
        f"Intercept_{dpar}": icpt_d,
        f"beta_{dpar}": np.array([beta_d]),
    }
    ps = m.prior_set
    expected = (
        _prior_logpdf(ps.intercept, icpt)
        + _prior_logpdf(ps.b["x"], beta)
        + _prior_logpdf(ps.dpar_intercept[dpar], icpt_d)
        + _prior_logpdf(ps.dpar_b[dpar]["x"], beta_d)
    )
    params = {dpar: inverse(icpt_d + beta_d * xc)}
    for name, p in ps.family.items():  # the family's other parameters (student: nu or sigma)
        value = 0.5 if name == "sigma" else 4.0  # residuals of several sigma: nu matters
        params[name] = value
        point[f"{name}_log__"] = np.log(value)
        expected += _prior_logpdf(p, value)
    assert set(point) == {v.name for v in model.value_vars}
    mu = MEAN_INVERSE[m.family.link](icpt + beta * xc)
    rows = row_logpdf(y, mu, params)
    expected += rows.sum()
    logp = float(model.compile_logp(jacobian=False)(point))
    assert logp == pytest.approx(expected, rel=1e-8)
    # one value of the parameter for all rows would not match: the check can fail
    flat = row_logpdf(y, mu, {**params, dpar: inverse(icpt_d)}).sum()
    assert abs(flat - rows.sum()) > 0.1


@pytest.mark.slow
def test_beta_phi_recovery():
    """beta regression with ``phi ~ x``: the mean's and the precision's coefficients are
    recovered (simulated truth inside the 95% intervals)."""
    rng = np.random.default_rng(8)
    n = 300
    x = rng.normal(size=n)
    mu = 1 / (1 + np.exp(-(0.3 + 0.8 * x)))
    phi = np.exp(2.5 - 0.7 * x)
    y = rng.beta(mu * phi, (1 - mu) * phi)
    model = pg.Model(pg.bf("y ~ x", "phi ~ x"), pd.DataFrame({"x": x, "y": y}), family="beta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pg.SamplingWarning)
        fit = model.fit(draws=300, tune=300, chains=2, seed=2, progressbar=False)
    fe = fit.fixef()
    truth = {"Intercept": 0.3, "x": 0.8, "phi_Intercept": 2.5, "phi_x": -0.7}
    for name, value in truth.items():
        assert fe.loc[name, "Q2.5"] <= value <= fe.loc[name, "Q97.5"], (name, fe)
    assert fit.diagnostics()["max_rhat"] < 1.05


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


# --- simulation with a row-varying parameter -----------------------------------------------------
def test_simulate_draws_the_row_sigma():
    """``simulate`` at given parameters: y_i ~ N(b0 + b1 x_i, exp(s0 + s1 x_i + v_g[i])); the
    residuals' SD in bins of x follows exp(s0 + s1 x) (the reference), and the drawn effects
    of ``sigma``'s block are reported under its group."""
    rng = np.random.default_rng(11)
    n = 20_000
    df = pd.DataFrame(
        {"y": 0.0, "x": rng.uniform(-2, 2, n), "g": [f"g{k}" for k in rng.integers(0, 5, n)]}
    )
    m = pg.Model(pg.bf("y ~ x", "sigma ~ x + (1 | g)"), df)
    params = {
        "b": {"Intercept": 1.0, "x": 2.0, "sigma_Intercept": np.log(0.5), "sigma_x": 0.6},
        "sd": {"g": 1e-12},  # sigma's block, by its group: effects ~ 0
    }
    sim = m.simulate(params=params, seed=3)
    resid = sim["y"] - (1.0 + 2.0 * sim["x"])
    for lo in (-2.0, -1.0, 0.0, 1.0):
        inside = (sim["x"] >= lo) & (sim["x"] < lo + 1)
        x_mid = sim["x"][inside]
        expected = np.sqrt(np.mean(np.exp(2 * (np.log(0.5) + 0.6 * x_mid))))
        assert resid[inside].std() == pytest.approx(expected, rel=0.05), lo
    assert sim.attrs["params"]["b"]["sigma_x"] == 0.6
    assert list(sim.attrs["ranef"]["g"].columns) == ["sigma_Intercept"]
    with pytest.raises(pg.ArgumentError, match="has a formula"):
        m.simulate(params={**params, "sigma": 1.0})
    with pytest.raises(pg.ArgumentError, match=r"missing coefficient\(s\) \['sigma_x'\]"):
        m.simulate(params={**params, "b": {"Intercept": 1.0, "x": 2.0, "sigma_Intercept": 0.0}})


@pytest.mark.parametrize(
    ("family", "dpar", "y0", "variance"),
    [
        ("gamma", "shape", 1.0, lambda mu, k: mu**2 / k),
        ("beta", "phi", 0.5, lambda mu, k: mu * (1 - mu) / (1 + k)),
        ("student", "nu", 0.0, lambda mu, k: k / (k - 2)),  # sigma = 1
    ],
)
def test_simulate_other_families_row_parameter(family, dpar, y0, variance):
    """``simulate`` with ``<dpar> ~ x`` for gamma (shape), beta (phi) and student (nu): the
    simulated variance in bins of x against the family's variance at the row's parameter
    ``exp(2.0 + 0.5 x)`` (nu: ``1 + exp(...)``), the reference."""
    rng = np.random.default_rng(12)
    n = 40_000
    df = pd.DataFrame({"y": y0, "x": rng.uniform(-1, 1, n)})
    m = pg.Model(pg.bf("y ~ 1", f"{dpar} ~ x"), df, family=family)
    b = {"Intercept": 0.0, f"{dpar}_Intercept": 2.0, f"{dpar}_x": 0.5}
    params = {"b": b, **({"sigma": 1.0} if family == "student" else {})}
    sim = m.simulate(params=params, seed=5)
    mu = float(m.family.linkinv_np(np.array(0.0)))
    for lo in (-1.0, 0.0):
        inside = (sim["x"] >= lo) & (sim["x"] < lo + 1)
        eta = 2.0 + 0.5 * sim["x"][inside]
        k = 1 + np.exp(eta) if dpar == "nu" else np.exp(eta)
        expected = np.mean(variance(mu, k))
        assert sim["y"][inside].var() == pytest.approx(expected, rel=0.1), lo


def test_prior_draws_of_a_distributional_model():
    """Prior draws: ``sigma_Intercept`` is the formula's intercept on centred predictors,
    drawn from its prior (``Intercept_sigma``); with ``sigma ~ 1`` it is that prior's draw,
    and the simulated responses have the spread it implies."""
    df = tiny()
    m = pg.Model(
        pg.bf("y ~ 1", "sigma ~ 1"),
        df,
        priors={
            "Intercept": pg.prior("Normal", mu=0, sigma=1e-6),
            "Intercept_sigma": pg.prior("Normal", mu=np.log(2.0), sigma=1e-6),
        },
    )
    sims = m.simulate(n=200, seed=4)
    b = [s.attrs["params"]["b"]["sigma_Intercept"] for s in sims]
    np.testing.assert_allclose(b, np.log(2.0), atol=1e-4)
    y = np.concatenate([s["y"].to_numpy() for s in sims])
    assert stats.kstest(y, stats.norm(0, 2.0).cdf).pvalue > 0.01
    pp = m.prior_predictive(draws=50, seed=5)
    assert pp.shape == (50, len(df)) and np.isfinite(pp).all()


@pytest.mark.slow
def test_seed_example_through_recover():
    """The seed example of #17 through ``pg.recover``: data simulated from the model at the
    truth of :data:`TRUTH` (the row's and column's effects on the mean and on log sigma drawn
    from those SDs) and refitted; every parameter inside its 95% interval."""
    model = pg.Model(
        pg.bf("y ~ 1 + (1 | treat) + (1 | group)", "sigma ~ 1 + (1 | treat) + (1 | group)"),
        seed_data(),
    )
    params = {
        "b": {"Intercept": TRUTH["Intercept"], "sigma_Intercept": TRUTH["sigma_Intercept"]},
        "sd": {
            "treat": {
                "Intercept": TRUTH["sd(Intercept) treat"],
                "sigma_Intercept": TRUTH["sd(sigma_Intercept) treat"],
            },
            "group": {
                "Intercept": TRUTH["sd(Intercept) group"],
                "sigma_Intercept": TRUTH["sd(sigma_Intercept) group"],
            },
        },
    }
    res = pg.recover(
        model, params, n_sims=1, seed=7, fit_kwargs={"draws": 300, "tune": 300, "chains": 2}
    )
    table = res.table.set_index("parameter")
    assert set(table.index) == {
        "b_Intercept",
        "b_sigma_Intercept",
        "sd_treat__Intercept",
        "sd_group__Intercept",
        "sd_sigma_treat__sigma_Intercept",
        "sd_sigma_group__sigma_Intercept",
    }
    assert table.loc["b_sigma_Intercept", "true"] == TRUTH["sigma_Intercept"]
    assert res.all_covered, table[["true", "q2.5", "q97.5"]]


# --- saving, loading, R^2 --------------------------------------------------------------------
@pytest.mark.parametrize("data", [True, False])
def test_save_and_load_round_trip(seed_fit, tmp_path, data):
    """A saved distributional fit loads as the same model: the same summary, the same
    predictions (mean and response draws with a seed) for new data, the bf formulas kept."""
    fit = seed_fit
    path = tmp_path / "fit.nc"
    fit.save(path, data=data)
    loaded = pg.load_fit(path)
    assert loaded.model.bf == fit.model.bf
    pd.testing.assert_frame_equal(loaded.summary(), fit.summary())
    new = pd.DataFrame({"treat": ["t0", "t3", "t7"], "group": ["g00", "g05", "g11"]})
    for kind in ("mean", "response"):
        pd.testing.assert_frame_equal(
            loaded.predict(new, kind=kind, seed=1), fit.predict(new, kind=kind, seed=1)
        )
    assert str(loaded) == str(fit)
    if data:
        pd.testing.assert_frame_equal(loaded.predict(), fit.predict())
        np.testing.assert_allclose(stack.elpd(loaded.loo()), stack.elpd(fit.loo()))


def test_r2_uses_the_row_sigma(seed_fit):
    """``fit.r2()`` of a model whose sigma has a formula: per draw, var_i(mu) / (var_i(mu) +
    mean_i sigma_i^2), with mu and log sigma summed from the draws' coefficients and effects
    by hand (the reference)."""
    fit = seed_fit
    d, post = fit.design, fit.posterior
    by = {blk.name: blk for blk in d.blocks}

    def flat(name):
        a = np.asarray(post[name].values)
        return a.reshape(-1, *a.shape[2:])

    mu = flat("b")[:, :1] + 0.0
    log_sigma = flat("b_sigma")[:, :1] + 0.0
    for name in ("treat", "group"):
        mu = mu + flat(f"r_{name}")[:, by[name].codes, 0]
        s = f"sigma_{name}"
        log_sigma = log_sigma + flat(f"r_{s}")[:, by[s].codes, 0]
    var_mu = mu.var(axis=1, ddof=1)
    expected = var_mu / (var_mu + np.mean(np.exp(2 * log_sigma), axis=1))
    np.testing.assert_allclose(fit.r2(summary=False), expected, rtol=1e-10)
    assert fit.r2().loc["R2", "Estimate"] == pytest.approx(expected.mean())
