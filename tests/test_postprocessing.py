"""brms's post-processing (#18): ``fit.hypothesis`` against a hand computation from the draws,
``fit.update`` against a fresh fit with the same seed, and ``fit.kfold`` against LOO."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pyglmm as pg
from pyglmm.errors import ArgumentError
from pyglmm.workflow.hypothesis import split_hypothesis
from pyglmm.workflow.prior_draws import draw_prior

FORMULA = "Reaction ~ Days + (1 | Subject)"
KW: dict[str, Any] = dict(draws=300, tune=300, chains=2, seed=11, progressbar=False, warn=False)


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pg.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def fit(sleep: pd.DataFrame) -> Any:
    return pg.Model(FORMULA, sleep).fit(**KW)


def _b(fit: Any, name: str) -> np.ndarray:
    j = list(fit.design.x_names).index(name)
    return np.asarray(fit.posterior["b"].values)[..., j].reshape(-1)


def test_split_hypothesis_as_brms() -> None:
    assert split_hypothesis("Days > 5") == ("(Days)-(5)", ">", "(Days)-(5) > 0")
    assert split_hypothesis("a - b = 0") == ("(a-b)", "=", "(a-b) = 0")
    assert split_hypothesis("2 * x < y")[2] == "(2*x)-(y) < 0"
    for bad in ("Days", "a < b < c", "Days >= 5", "> 5"):
        with pytest.raises(ArgumentError):
            split_hypothesis(bad)


def test_one_sided_hypothesis_by_hand(fit: Any) -> None:
    h = _b(fit, "Days") - 5
    row = fit.hypothesis("Days > 5").hypothesis.iloc[0]
    assert row["Hypothesis"] == "(Days)-(5) > 0"
    assert row["Estimate"] == pytest.approx(h.mean(), rel=1e-12)
    assert row["Est.Error"] == pytest.approx(h.std(ddof=1), rel=1e-12)
    assert row["CI.Lower"] == pytest.approx(np.quantile(h, 0.05), rel=1e-12)
    assert row["CI.Upper"] == np.inf
    p = np.mean(h > 0)
    assert row["Post.Prob"] == pytest.approx(p, rel=1e-12)
    if p < 1:
        assert row["Evid.Ratio"] == pytest.approx(p / (1 - p), rel=1e-12)
    assert row["Star"] == ("*" if np.quantile(h, 0.05) > 0 else "")
    # the mirror image, and b_-prefixed names
    scales = fit.hypothesis("sd_Subject__Intercept - sigma > 0").hypothesis.iloc[0]
    sd = np.asarray(fit.posterior["sd_Subject"].values).reshape(-1)
    diff = sd - np.asarray(fit.posterior["sigma"].values).reshape(-1)
    assert scales["Estimate"] == pytest.approx(diff.mean(), rel=1e-12)
    less = fit.hypothesis("b_Days < 5").hypothesis.iloc[0]
    assert less["CI.Lower"] == -np.inf
    assert less["CI.Upper"] == pytest.approx(np.quantile(h, 0.95), rel=1e-12)
    assert less["Post.Prob"] == pytest.approx(np.mean(h < 0), rel=1e-12)


def test_point_hypotheses_and_savage_dickey(fit: Any) -> None:
    """Several hypotheses at once; ``=`` gets the two-sided interval and the Savage-Dickey
    ratio from draws of the priors (the same draws by hand: scipy's Gaussian KDE at 0)."""
    res = fit.hypothesis(["Days > 5", "Intercept - 25 * Days = 0", "Days = 10"], seed=3)
    table = res.hypothesis
    assert list(table.columns) == [
        "Hypothesis",
        "Estimate",
        "Est.Error",
        "CI.Lower",
        "CI.Upper",
        "Evid.Ratio",
        "Post.Prob",
        "Star",
    ]
    assert len(table) == 3
    h = _b(fit, "Intercept") - 25 * _b(fit, "Days")
    row = table.iloc[1]
    lo, hi = np.quantile(h, [0.025, 0.975])
    assert (row["CI.Lower"], row["CI.Upper"]) == pytest.approx((lo, hi), rel=1e-12)
    assert row["Star"] == ("" if lo <= 0 <= hi else "*")
    prior = draw_prior(fit.model, 20_000, 3)
    j0, j1 = (list(fit.design.x_names).index(c) for c in ("Intercept", "Days"))
    for k, (post, prior_h) in enumerate(
        [(h, prior.b[:, j0] - 25 * prior.b[:, j1]), (_b(fit, "Days") - 10, prior.b[:, j1] - 10)]
    ):
        ratio = stats.gaussian_kde(post)(0.0)[0] / stats.gaussian_kde(prior_h)(0.0)[0]
        got = table.iloc[k + 1]
        assert got["Evid.Ratio"] == pytest.approx(ratio, rel=1e-10)
        assert got["Post.Prob"] == pytest.approx(ratio / (1 + ratio), rel=1e-10)
    assert np.array_equal(res.samples.iloc[:, 1].to_numpy(), h)
    assert "Hypothesis Tests for class b:" in str(res)


def test_group_level_hypotheses(fit: Any) -> None:
    """brms's ``group = "Subject"``: per level, the coefficients (scope="coef": fixed plus
    random) or the random effects alone (scope="ranef")."""
    r = np.asarray(fit.posterior["r_Subject"].values)  # chains x draws x levels x 1
    levels = list(fit.design.blocks[0].levels)
    coef = fit.hypothesis("Intercept > 250", group="Subject", scope="coef").hypothesis
    assert list(coef["Group"]) == levels
    ranef = fit.hypothesis("Intercept = 0", group="Subject", scope="ranef").hypothesis
    for j in (0, 5, len(levels) - 1):
        c = _b(fit, "Intercept") + r[..., j, 0].reshape(-1) - 250
        assert coef.iloc[j]["Estimate"] == pytest.approx(c.mean(), rel=1e-12)
        assert coef.iloc[j]["Post.Prob"] == pytest.approx(np.mean(c > 0), rel=1e-12)
        e = r[..., j, 0].reshape(-1)
        lo, hi = np.quantile(e, [0.025, 0.975])
        assert ranef.iloc[j]["Estimate"] == pytest.approx(e.mean(), rel=1e-12)
        assert ranef.iloc[j]["CI.Lower"] == pytest.approx(lo, rel=1e-12)
        assert ranef.iloc[j]["CI.Upper"] == pytest.approx(hi, rel=1e-12)
        assert np.isnan(ranef.iloc[j]["Evid.Ratio"])  # no prior draws of a level's effect


def test_hypothesis_errors(fit: Any) -> None:
    with pytest.raises(ArgumentError, match="unknown parameter"):
        fit.hypothesis("Dayz > 5")
    with pytest.raises(ArgumentError, match="only numbers"):
        fit.hypothesis("__import__('os') > 0")
    with pytest.raises(ArgumentError, match="unknown group"):
        fit.hypothesis("Intercept > 0", group="Nope", scope="coef")
    with pytest.raises(ArgumentError, match="needs group"):
        fit.hypothesis("Intercept > 0", scope="coef")


def test_update_equals_a_fresh_fit(fit: Any, sleep: pd.DataFrame) -> None:
    """New data: the same posterior, draw for draw, as a fresh Model with the same seed; no
    new data or formula: the same Model object (nothing rebuilt)."""
    sub = sleep[sleep["Days"] < 8]
    updated = fit.update(newdata=sub)
    fresh = pg.Model(FORMULA, sub).fit(**KW)
    assert updated.design.n_obs == len(sub)
    assert updated.timing["kernel"] == 1.0
    for name in ("b", "sd_Subject", "sigma", "r_Subject"):
        np.testing.assert_array_equal(updated.posterior[name].values, fresh.posterior[name].values)
    more = fit.update(draws=100)
    assert more.model is fit.model and more.draws == 100 and more.chains == fit.chains
    slopes = fit.update(formula="Reaction ~ Days + (Days | Subject)", draws=50, tune=50)
    assert "cor_Subject" in slopes.posterior


def test_update_keeps_user_priors(sleep: pd.DataFrame) -> None:
    model = pg.Model(FORMULA, sleep, priors={"b": pg.prior("Normal", mu=0, sigma=3)})
    small = model.fit(draws=30, tune=30, chains=1, seed=1, progressbar=False, warn=False)
    again = small.update(newdata=sleep.iloc[:120])
    row = again.model.priors[again.model.priors["class"] == "b"].iloc[0]
    assert row["prior"] == "Normal(mu=0, sigma=3)" and row["source"] == "user"


def test_kfold_close_to_loo(fit: Any) -> None:
    res = fit.kfold(K=3, seed=5)
    assert res.K == 3 and len(res.pointwise) == fit.design.n_obs
    assert sorted(np.bincount(res.pointwise["fold"])[1:]) == [60, 60, 60]
    assert np.isfinite(res.elpd_kfold) and res.se > 0
    elpd_loo, se_loo = pg.stack.elpd(fit.loo())
    assert abs(res.elpd_kfold - elpd_loo) < 3 * se_loo, (res.elpd_kfold, elpd_loo, se_loo)
    assert res.estimates.loc["kfoldic", "Estimate"] == pytest.approx(-2 * res.elpd_kfold)
    assert "Based on 3-fold cross-validation." in str(res)
