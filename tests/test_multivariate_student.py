"""Residual correlations of student responses (#17 item 1, brms's ``set_rescor`` with
``family = student``): one multivariate Student-t per row with one ``nu`` shared by the
responses. The PyMC log density and the numpy pointwise log-likelihood against
``scipy.stats.multivariate_t``; priors (one ``nu``); refusals (gaussian mixed with student,
a response's own ``nu``); simulated residuals against the t and F laws; a fit (slow)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from test_multivariate import _at_point, _means, two_responses

import pyglmm as pg
from pyglmm.posterior_mv import mv_pointwise_loglik

FORMULA = "mvbind(y1, y2) ~ x + (1 |p| g)"


def test_log_density_matches_scipy_multivariate_t():
    df = two_responses(n=40, groups=5)
    m = pg.Model(
        pg.bf("y1 ~ x + (1 |p| g)") + pg.bf("y2 ~ x + z + (1 |p| g)"), df, family="student"
    )
    assert m.design.mv.rescor  # on by default for all-student responses, as brms
    names = ["b_y1", "b_y2", "r_g", "sigma_y1", "sigma_y2", "rescor", "nu"]
    loglik, v = _at_point(m.pymc_model, names, 7)
    rho, nu = v["rescor"][0, 1], float(v["nu"])
    assert abs(rho) > 0.05 and nu < 50  # a point where the check can fail
    sig = np.array([v["sigma_y1"], v["sigma_y2"]])
    shape = np.outer(sig, sig) * np.array([[1, rho], [rho, 1]])
    mu = _means(m, v, df)
    y = df[["y1", "y2"]].to_numpy()
    rows = np.array([stats.multivariate_t.logpdf(y[i], mu[i], shape, df=nu) for i in range(len(y))])
    assert loglik == pytest.approx(rows.sum(), rel=1e-9)
    normal = sum(stats.multivariate_normal.logpdf(y[i], mu[i], shape) for i in range(len(y)))
    assert abs(normal - rows.sum()) > 1e-2

    post = xr.Dataset(
        {
            "b_y1": (("chain", "draw", "c1"), v["b_y1"][None, None]),
            "b_y2": (("chain", "draw", "c2"), v["b_y2"][None, None]),
            "r_g": (("chain", "draw", "l", "t"), v["r_g"][None, None]),
            "sigma_y1": (("chain", "draw"), np.reshape(sig[0], (1, 1))),
            "sigma_y2": (("chain", "draw"), np.reshape(sig[1], (1, 1))),
            "nu": (("chain", "draw"), np.reshape(nu, (1, 1))),
            "rescor": (("chain", "draw", "a", "b"), v["rescor"][None, None]),
        }
    )
    ll = mv_pointwise_loglik(m.design, post)  # loo's joint and per-response values
    np.testing.assert_allclose(ll["y"][0, 0], rows, rtol=1e-9)
    marginal = stats.t.logpdf(y[:, 1], nu, mu[:, 1], sig[1])
    np.testing.assert_allclose(ll["y_y2"][0, 0], marginal, rtol=1e-9)


def test_priors_share_one_nu_and_refusals():
    df = two_responses(n=40, groups=5)
    m = pg.Model(FORMULA, df, family="student", priors={"nu": "gamma(3, 0.2)"})
    t = m.priors
    nu = t[t["class"] == "nu"]
    assert len(nu) == 1 and nu["resp"].iloc[0] == "" and nu["source"].iloc[0] == "user"
    assert "Gamma(alpha=3, beta=0.2)" in nu["prior"].iloc[0]
    labels = [r.label for r in pg.results.params.parameters(m.design, ())]
    assert labels[-4:] == ["sigma_y1", "sigma_y2", "nu", "rescor(y1,y2)"]
    with pytest.raises(pg.PriorError, match="share"):
        pg.Model(FORMULA, df, family="student", priors={"y1": {"nu": "gamma(2, 0.1)"}})
    with pytest.raises(pg.FamilyError, match="y1: gaussian, y2: student"):
        pg.Model(FORMULA, df, family=["gaussian", "student"], rescor=True)
    mixed = pg.Model(FORMULA, df, family=["gaussian", "student"])  # rescor off by default
    assert not mixed.design.mv.rescor and "nu_y2" in mixed.pymc_model.named_vars
    free = pg.Model(FORMULA, df, family="student", rescor=False)  # a nu per response
    assert {"nu_y1", "nu_y2"} <= set(free.pymc_model.named_vars)


def test_simulated_residuals_follow_the_multivariate_t():
    """4000 rows, no group effects: the standardized residuals of y1 follow t(nu) and the
    quadratic form e' Sigma^-1 e / 2 follows F(2, nu) (Kolmogorov-Smirnov), and the residual
    correlation is rescor (nu = 5 > 2, so it exists)."""
    df = two_responses(n=4000, groups=10, seed=4)
    m = pg.Model("mvbind(y1, y2) ~ x + (1 | g)", df, family="student")
    truth = {
        "b": {"y1_Intercept": 1.0, "y1_x": 0.5, "y2_Intercept": -1.0, "y2_x": 0.3},
        "sd": {"g": {"y1_Intercept": 0.0, "y2_Intercept": 0.0}},
        "sigma_y1": 1.0,
        "sigma_y2": 0.7,
        "nu": 5.0,
        "rescor": 0.5,
    }
    sim = m.simulate(truth, seed=8)
    x = sim["x"].to_numpy()
    e = np.column_stack([sim["y1"] - 1.0 - 0.5 * x, sim["y2"] + 1.0 - 0.3 * x])
    assert stats.kstest(e[:, 0], stats.t(5, 0, 1.0).cdf).pvalue > 0.01
    assert stats.kstest(e[:, 0], stats.norm(0, np.sqrt(5 / 3)).cdf).pvalue < 1e-3  # not normal
    shape = np.outer([1.0, 0.7], [1.0, 0.7]) * np.array([[1, 0.5], [0.5, 1]])
    q = np.einsum("ni,ij,nj->n", e, np.linalg.inv(shape), e) / 2
    assert stats.kstest(q, stats.f(2, 5).cdf).pvalue > 0.01
    assert np.corrcoef(e.T)[0, 1] == pytest.approx(0.5, abs=0.05)


@pytest.mark.slow
def test_fit_recovers_student_rescor():
    """200 rows in 20 groups, nu = 4: coefficients, sigmas, nu and rescor inside their 95%
    intervals; loo and joint predictions run on the multivariate t."""
    df = two_responses(n=200, groups=20, seed=6)
    m = pg.Model("mvbind(y1, y2) ~ x + (1 | g)", df, family="student")
    truth = {
        "b": {"y1_Intercept": 1.0, "y1_x": 0.5, "y2_Intercept": -1.0, "y2_x": 0.3},
        "sd": {"g": {"y1_Intercept": 0.5, "y2_Intercept": 0.4}},
        "sigma_y1": 1.0,
        "sigma_y2": 0.7,
        "nu": 4.0,
        "rescor": 0.5,
    }
    sim = m.simulate(truth, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pg.Model("mvbind(y1, y2) ~ x + (1 | g)", sim, family="student").fit(
            draws=250, tune=250, chains=2, seed=1, progressbar=False
        )
    s = fit.summary().set_index("term")
    flat = {**truth["b"], "sigma_y1": 1.0, "sigma_y2": 0.7, "nu": 4.0, "rescor(y1,y2)": 0.5}
    flat |= {"sd(y1_Intercept)": 0.5, "sd(y2_Intercept)": 0.4}
    res = {k: (v, s.loc[k, "l-95% CI"], s.loc[k, "u-95% CI"]) for k, v in flat.items()}
    print(res)
    assert all(lo <= v <= hi for v, lo, hi in res.values()), res
    assert np.isfinite(pg.stack.elpd(fit.loo())[0])
    assert fit.predict(kind="response", summary=False, seed=1).shape == (500, 200, 2)
