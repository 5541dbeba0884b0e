"""cens() and trunc() for the zero-inflated, hurdle, beta and binomial families (#18 item 2).

For each family the PyMC model's log-likelihood at a random point and ``loo``'s pointwise
values are compared with a hand computation in probabilities (scipy's pmf/pdf/cdf, then one
log), to 1e-8: the mixtures' ::

    zero-inflated:  F(y) = zi + (1 - zi) F_c(y),        P(Y > y) = (1 - zi) S_c(y)
    hurdle:         F(y) = hu + (1 - hu) (F_c(y) - F_c(0)) / S_c(0),   y >= 0

(``F_c(0) = 0``, ``S_c(0) = 1`` for the lognormal's positive part), with brms's censoring
(right: ``P(Y > y)``, left: ``P(Y <= y)``, interval: ``P(y < Y <= y2)``) and truncation
(``log(F(ub) - F(lb - 1))`` for counts, ``log(F(ub) - F(lb))`` otherwise).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from test_additions import _codes, _loo_loglik, _model_loglik, _point

import pyglmm as pg
from pyglmm.posterior import pointwise_loglik

N = 40
TRIALS = 8
FAST = "FAST_COMPILE"  # one evaluation per graph: pytensor's Python ops, no C compilation


def _frame(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=N)
    yc = rng.poisson(np.exp(0.8 + 0.3 * x)) * (rng.random(N) > 0.3)
    yb = rng.binomial(TRIALS, special.expit(-0.3 + 0.5 * x)) * (rng.random(N) > 0.2)
    yl = np.exp(0.3 + 0.4 * x + 0.6 * rng.normal(size=N)) * (rng.random(N) > 0.3)
    p = special.expit(0.2 + 0.5 * x + 0.8 * rng.normal(size=N))
    df = pd.DataFrame(
        {
            "x": x,
            "yc": yc,
            "yb": yb,
            "yl": yl,
            "p": p,
            "n": TRIALS,
            "c": rng.choice(["none", "right", "left", "interval"], size=N),
        }
    )
    df["yc2"] = df.yc + rng.integers(1, 4, size=N)
    df["yb2"] = np.minimum(df.yb + rng.integers(1, 4, size=N), TRIALS)
    df.loc[df.yb2 == df.yb, "c"] = "none"  # an interval (y, y2] needs y2 > y
    df["yl2"] = np.where(df.yl > 0, df.yl, 0.1) * rng.uniform(1.1, 3.0, size=N)
    df["p2"] = df.p + (1 - df.p) * rng.uniform(0.1, 0.9, size=N)
    return df


class _Mix:
    """pmf/pdf, cdf and sf of a family's rows in probabilities, from scipy's ``base``."""

    def __init__(self, kind: str, base, weight: float = 0.0) -> None:
        self.kind, self.base, self.w = kind, base, weight

    def pdf(self, y: np.ndarray) -> np.ndarray:
        b, w = self.base, self.w
        dens = b.pmf(y) if hasattr(b, "pmf") else b.pdf(np.where(y > 0, y, 1.0))
        if self.kind == "zi":
            return np.where(y == 0, w + (1 - w) * dens, (1 - w) * dens)
        if self.kind == "hurdle":
            return np.where(y == 0, w, (1 - w) * dens / b.sf(0))
        return dens

    def cdf(self, y: np.ndarray) -> np.ndarray:
        b, w = self.base, self.w
        if self.kind == "zi":
            return np.where(y < 0, 0.0, w + (1 - w) * b.cdf(y))
        if self.kind == "hurdle":
            return np.where(y < 0, 0.0, w + (1 - w) * (b.cdf(y) - b.cdf(0)) / b.sf(0))
        return b.cdf(y)

    def sf(self, y: np.ndarray) -> np.ndarray:
        return 1.0 - self.cdf(y) if self.kind else self.base.sf(y)


def _base(family: str, eta: np.ndarray, v: dict):
    """scipy's distribution of the count / continuous part at the linear predictor ``eta``."""
    if family.endswith("poisson"):
        return stats.poisson(np.exp(eta))
    if family.endswith("negbinomial"):
        mu, k = np.exp(eta), v["shape"]
        return stats.nbinom(k, k / (k + mu))
    if family.endswith("lognormal"):
        return stats.lognorm(v["sigma"], scale=np.exp(eta))
    if family == "beta":
        mu = special.expit(eta)
        return stats.beta(mu * v["phi"], (1 - mu) * v["phi"])
    if family == "beta_binomial":
        mu = special.expit(eta)
        return stats.betabinom(TRIALS, mu * v["phi"], (1 - mu) * v["phi"])
    return stats.binom(TRIALS, special.expit(eta))


def _mix(family: str, eta: np.ndarray, v: dict) -> _Mix:
    base = _base(family, eta, v)
    if family.startswith("zero_inflated"):
        return _Mix("zi", base, v["zi"])
    if family.startswith("hurdle"):
        return _Mix("hurdle", base, v["hu"])
    return _Mix("", base)


# family -> (response, upper end of an interval, trials?)
CASES = {
    "zero_inflated_poisson": ("yc", "yc2", False),
    "zero_inflated_negbinomial": ("yc", "yc2", False),
    "zero_inflated_binomial": ("yb", "yb2", True),
    "hurdle_poisson": ("yc", "yc2", False),
    "hurdle_negbinomial": ("yc", "yc2", False),
    "hurdle_lognormal": ("yl", "yl2", False),
    "beta": ("p", "p2", False),
    "binomial": ("yb", "yb2", True),
    "beta_binomial": ("yb", "yb2", True),
}


def _compare(model: pg.Model, reference) -> None:
    point, eta, values = _point(model, mode=FAST)
    ref = np.asarray(reference(eta, values), dtype=float)
    assert np.all(np.isfinite(ref))
    np.testing.assert_allclose(_loo_loglik(model, values), ref, rtol=1e-8, atol=1e-8)
    assert _model_loglik(model, point, mode=FAST) == pytest.approx(ref.sum(), rel=1e-8, abs=1e-8)


def _response(family: str, extra: str) -> str:
    y, _, trials = CASES[family]
    return f"{y} | trials(n) + {extra}" if trials else f"{y} | {extra}"


@pytest.mark.parametrize("family", list(CASES))
def test_censored_loglik_matches_scipy(family: str) -> None:
    df = _frame()
    y, y2, _ = CASES[family]
    m = pg.Model(f"{_response(family, f'cens(c, {y2})')} ~ x", df, family=family)
    codes = _codes(df)
    yv, y2v = df[y].to_numpy(float), df[y2].to_numpy(float)

    def ref(eta, v):
        d = _mix(family, eta, v)
        with np.errstate(divide="ignore"):
            out = np.log(d.pdf(yv))
            out = np.where(codes == 1, np.log(d.sf(yv)), out)
            out = np.where(codes == -1, np.log(d.cdf(yv)), out)
            return np.where(codes == 2, np.log(d.cdf(y2v) - d.cdf(yv)), out)

    _compare(m, ref)


# family -> (trunc() text, lower bound for the hand computation (None: none), upper)
TRUNC = {
    "zero_inflated_poisson": ("trunc(lb = 1, ub = 12)", 1, 12),
    "zero_inflated_negbinomial": ("trunc(lb = 0, ub = 15)", 0, 15),
    "zero_inflated_binomial": ("trunc(lb = 1)", 1, None),
    "hurdle_poisson": ("trunc(ub = 12)", None, 12),
    "hurdle_negbinomial": ("trunc(lb = 1, ub = 15)", 1, 15),
    "hurdle_lognormal": ("trunc(ub = 30)", None, 30.0),
    "beta": ("trunc(lb = 0.01, ub = 0.995)", 0.01, 0.995),
    "binomial": ("trunc(lb = 1, ub = 7)", 1, 7),
    "beta_binomial": ("trunc(ub = 7)", None, 7),
}


@pytest.mark.parametrize("family", list(TRUNC))
def test_truncated_loglik_matches_scipy(family: str) -> None:
    text, lb, ub = TRUNC[family]
    df = _frame()
    y, _, _ = CASES[family]
    keep = np.ones(N, bool) if lb is None else df[y] >= lb
    keep &= True if ub is None else df[y] <= ub
    df = df[keep]
    m = pg.Model(f"{_response(family, text)} ~ x", df, family=family)
    discrete = family != "beta" and family != "hurdle_lognormal"
    yv = df[y].to_numpy(float)

    def ref(eta, v):
        d = _mix(family, eta, v)
        upper = 1.0 if ub is None else d.cdf(np.full_like(yv, ub))
        lower = 0.0 if lb is None else d.cdf(np.full_like(yv, lb - 1 if discrete else lb))
        return np.log(d.pdf(yv)) - np.log(upper - lower)

    _compare(m, ref)


@pytest.mark.parametrize(
    ("family", "extra"),
    [
        ("zero_inflated_poisson", "cens(c, yc2)"),
        pytest.param("hurdle_lognormal", "cens(c, yl2)", marks=pytest.mark.slow),
        pytest.param("beta_binomial", "trunc(ub = 8)", marks=pytest.mark.slow),
    ],
)
def test_sampled_fit_runs(family: str, extra: str) -> None:
    """A short NUTS run of a censored / truncated model: finite draws and loo values."""
    df = _frame()
    m = pg.Model(f"{_response(family, extra)} ~ x", df, family=family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # PyMC's NUTS: its C code is cached across runs, nutpie's numba build is not (~20 s)
        fit = m.fit(draws=100, tune=100, chains=1, seed=2, progressbar=False, sampler="pymc")
    assert np.isfinite(np.asarray(fit.posterior["b"])).all()
    assert np.isfinite(pointwise_loglik(m.design, m.family, fit.posterior)).all()
