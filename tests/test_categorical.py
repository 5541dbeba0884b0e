"""The unordered family ``categorical`` (issue #18): the likelihood against scipy's multinomial,
draws, the design (one predictor per category), validation, priors, predictions from given
draws, simulation, nnet::multinom's log-likelihood and estimates on carData's Womenlf, and a
recovery fit with a random intercept per category."""

from __future__ import annotations

import json
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import pyglmm as pg
from pyglmm.errors import ArgumentError, FamilyError, PriorError, UnsupportedModelError
from pyglmm.posterior import pointwise_loglik
from pyglmm.results.params import parameters
from pyglmm.results.predict import predict_draws

DATA = Path(__file__).parent / "data"


def _softmax_ref(etas: np.ndarray) -> np.ndarray:
    """P(y = k) for rows of predictors (n, K - 1), reference category first, by hand."""
    full = np.column_stack([np.zeros(len(etas)), etas])
    e = np.exp(full - full.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _data(n_groups: int = 10, per: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_groups * per
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "g": np.repeat([f"g{i}" for i in range(n_groups)], per),
            "y": rng.choice(["a", "b", "c"], size=n),
        }
    )


def test_loglik_against_scipy_multinomial():
    """log P(y) from the family = scipy's multinomial(n=1) logpmf at the softmax, to 1e-8,
    for draws x rows of predictors (K = 4), including large predictors."""
    rng = np.random.default_rng(1)
    fam = pg.family("categorical")
    etas = rng.normal(0, 2.0, size=(3, 50, 3))
    etas[0, :5] *= 20  # far from 0: the log-sum-exp must not overflow
    y = rng.integers(1, 5, size=50)
    params = {f"mu{k}": etas[..., k - 2] for k in (2, 3, 4)}
    got = fam.loglik(y, np.zeros((3, 50)), params, None)
    want = np.empty((3, 50))
    for s in range(3):
        p = _softmax_ref(etas[s])
        onehot = np.eye(4)[y - 1]
        want[s] = [stats.multinomial(1, p[i]).logpmf(onehot[i]) for i in range(50)]
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10)
    probs = fam.probabilities(np.zeros(0), params)
    np.testing.assert_allclose(probs[1], _softmax_ref(etas[1]), rtol=1e-12)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-12)


def test_draws_match_probabilities():
    """Category frequencies of 200,000 draws per row against the softmax: within 5 binomial
    standard errors (each below 0.0012)."""
    fam = pg.family("categorical")
    etas = np.array([[0.0, 0.0], [1.0, -1.0], [-2.0, 0.5], [0.3, 2.0]])  # rows x (K - 1)
    n = 200_000
    params = {"mu2": np.tile(etas[:, 0], (n, 1)), "mu3": np.tile(etas[:, 1], (n, 1))}
    y = fam.draw(np.random.default_rng(3), np.zeros((n, 4)), params, None)
    p = _softmax_ref(etas)
    freq = np.stack([(y == k).mean(0) for k in (1, 2, 3)], axis=1)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_design_names_and_blocks():
    """brms's names: mu<category> with only letters and digits, one block per category
    (sd(mub_Intercept), sd(muc_Intercept) under g), |p| merging them into one correlated
    block, the summary's rows and the 'Links' line."""
    df = _data()
    m = pg.Model("y ~ x + (1 | g)", df, family="categorical")
    d = m.design
    assert d.categorical == ("a", "b", "c") and d.x_names == ()
    assert [p.name for p in d.dpars] == ["mub", "muc"]
    assert [(b.name, b.group, b.terms) for b in d.blocks] == [
        ("mub_g", "g", ("mub_Intercept",)),
        ("muc_g", "g", ("muc_Intercept",)),
    ]
    labels = [r.label for r in parameters(d, m.family.params)]
    assert labels == [
        "mub_Intercept",
        "mub_x",
        "muc_Intercept",
        "muc_x",
        "sd(mub_Intercept)",
        "sd(muc_Intercept)",
    ]
    assert m.family.links_line(("mub", "muc")) == "mub = logit; muc = logit"
    corr_model = pg.Model("y ~ x + (1 |p| g)", df, family="categorical")
    (blk,) = corr_model.design.blocks
    assert blk.name == "g" and blk.terms == ("mub_Intercept", "muc_Intercept")
    assert blk.covariance.correlated and blk.col_dpars == ("mub", "muc")
    code = corr_model.code()  # one LKJ block, each column to its category's predictor
    assert "pm.LKJCholeskyCov('L_g', n=2" in code
    assert "eta_muc = eta_muc + (r_g[codes_g][:, [1]]" in code
    # integers and a Categorical's own order; categories no used row has are dropped
    ints = pg.Model(
        "y ~ x", df.assign(y=df["y"].map({"a": 3, "b": 7, "c": 10})), family="categorical"
    )
    assert ints.design.categorical == ("3", "7", "10")
    assert [p.name for p in ints.design.dpars] == ["mu7", "mu10"]
    cats = pd.Categorical(df["y"], categories=["c", "z", "a", "b"])
    m2 = pg.Model("y ~ x", df.assign(y=cats), family="categorical")
    assert m2.design.categorical == ("c", "a", "b")  # reference: c (the first level)
    np.testing.assert_array_equal(m2.design.y, df["y"].map({"c": 1, "a": 2, "b": 3}))


def test_validation_errors():
    df = _data()
    df.index = [f"row{i}" for i in range(len(df))]
    two = df.assign(y=np.where(df["y"] == "c", "a", df["y"]))
    with pytest.raises(FamilyError, match=r"at least 3 categories.*bernoulli"):
        pg.Model("y ~ x", two, family="categorical")
    bad = df.assign(y=np.arange(len(df)) % 3 + 1.0)
    bad.loc[["row3", "row8"], "y"] = [1.5, -0.25]
    with pytest.raises(FamilyError, match=r"2 row\(s\) \(data index row3, row8\)"):
        pg.Model("y ~ x", bad, family="categorical")
    missing = df.assign(y=df["y"].where(np.arange(len(df)) % 10 != 0))
    with pytest.warns(UserWarning, match="20"):
        m = pg.Model("y ~ x + (1 | g)", missing, family="categorical")
    assert m.design.n_obs == len(df) - 20
    with pytest.raises(FamilyError, match=r"'a\.b' and 'ab' both give the predictor name 'muab'"):
        pg.Model(
            "y ~ x",
            df.assign(y=df["y"].map({"a": "a", "b": "a.b", "c": "ab"})),
            family="categorical",
        )
    with pytest.raises(FamilyError, match="addition terms"):
        pg.Model("y | weights(x) ~ x", df, family="categorical")
    with pytest.raises(FamilyError, match="one formula for every category"):
        pg.Model(pg.bf("y ~ x", "mub ~ 1"), df, family="categorical")
    with pytest.raises(UnsupportedModelError, match="offset"):
        pg.Model("y ~ x + offset(x)", df, family="categorical")
    with pytest.raises(UnsupportedModelError, match="smooth terms"):
        pg.Model("y ~ s(x, k = 4)", df, family="categorical")
    m = pg.Model("y ~ x", df, family="categorical")
    with pytest.raises(UnsupportedModelError, match="no point fit"):
        m.optimize()
    with pytest.raises(ArgumentError, match="no kernel"):
        m.fit(kernel=True, draws=5, tune=5, chains=1)
    with pytest.raises(FamilyError, match="R\\^2"):
        m.family.expected_response(np.zeros((1, 2)), {}, None)


def test_priors_per_category_and_code():
    """brms's dpar = "mub": classes b_mub / Intercept_mub; "b" without a category applies to
    every category without its own; the listing has the potential."""
    df = _data()
    m = pg.Model(
        "y ~ x + (1 | g)",
        df,
        family="categorical",
        priors={
            "b": "normal(0, 5)",
            "b_muc": {"x": "normal(1, 2)"},
            "Intercept_mub": "normal(0, 3)",
        },
    )
    t = m.priors
    rows = {(r["class"], r["coef"], r["dpar"]): (r["prior"], r["source"]) for _, r in t.iterrows()}
    assert rows[("b", "x", "mub")] == ("Normal(mu=0, sigma=5)", "user")
    assert rows[("b", "x", "muc")] == ("Normal(mu=1, sigma=2)", "user")
    assert rows[("Intercept", "", "mub")] == ("Normal(mu=0, sigma=3)", "user")
    assert rows[("Intercept", "", "muc")] == ("StudentT(nu=3, mu=0, sigma=2.5)", "default")
    assert rows[("sd", "mub_Intercept", "mub")] == ("HalfStudentT(nu=3, sigma=2.5)", "default")
    with pytest.raises(PriorError, match="coefficients"):
        pg.Model("y ~ x", df, family="categorical", priors={"b_mub": {"z": "normal(0, 1)"}})
    with pytest.raises(PriorError, match="unknown prior class"):
        pg.Model("y ~ x", df, family="categorical", priors={"b_mud": "normal(0, 1)"})
    code = m.code()
    assert "pm.Potential('y_loglik'" in code and "mub = eta_mub" in code


def _posterior(values: dict[str, tuple[tuple[str, ...], np.ndarray]]) -> xr.Dataset:
    """A posterior of one chain from ``name -> (dims after chain/draw, draws x ...)``."""
    return xr.Dataset({k: (("chain", "draw", *dims), v[None]) for k, (dims, v) in values.items()})


def test_pymc_logp_and_pointwise_loglik_against_scipy():
    """The compiled model's log-density term of y at a point, and the pointwise log-likelihood
    stored for loo, equal scipy's multinomial from the same predictors."""
    df = _data()
    model = pg.Model("y ~ x + (1 | g)", df, family="categorical")
    pm_model = model.compile("noncentered").model
    b = {"mub": np.array([0.4, -0.7]), "muc": np.array([-0.2, 1.1])}  # Intercept, x
    sd = {"mub": 0.6, "muc": 0.9}
    rng = np.random.default_rng(2)
    z = {k: rng.normal(size=(10, 1)) for k in b}
    x = df["x"].to_numpy()
    xbar = x.mean()
    codes = pd.Categorical(df["g"]).codes
    etas = np.column_stack([b[k][0] + b[k][1] * x + sd[k] * z[k][codes, 0] for k in b])
    y = df["y"].map({"a": 0, "b": 1, "c": 2}).to_numpy()
    want = np.log(_softmax_ref(etas)[np.arange(len(y)), y])
    point = {}
    for k in b:  # the sampled centred intercept and the slopes
        point[f"Intercept_{k}"] = b[k][0] + xbar * b[k][1]
        point[f"beta_{k}"] = b[k][1:]
        point[f"sd_{k}_g_log__"] = np.log([sd[k]])
        point[f"z_{k}_g"] = z[k]
    point = {v.name: point[v.name] for v in pm_model.value_vars}
    (term,) = pm_model.replace_rvs_by_values([pm_model["y_loglik"]])
    fn = pm_model.compile_fn(term, inputs=pm_model.value_vars, mode="FAST_COMPILE")
    np.testing.assert_allclose(fn(point), want.sum(), rtol=1e-8)

    post = _posterior(
        {
            "b_mub": (("mub_coef",), b["mub"][None]),
            "b_muc": (("muc_coef",), b["muc"][None]),
            "r_mub_g": (("l", "t"), (sd["mub"] * z["mub"])[None]),
            "r_muc_g": (("l", "t"), (sd["muc"] * z["muc"])[None]),
        }
    )
    ll = pointwise_loglik(model.design, model.family, post)
    np.testing.assert_allclose(ll[0, 0], want, rtol=1e-8)


def _womenlf() -> pd.DataFrame:
    return pd.read_csv(DATA / "carData_Womenlf.csv")


def test_womenlf_loglik_at_multinom_mle():
    """The log-likelihood at nnet::multinom's estimates (tests/data/nnet_womenlf_multinom.R)
    equals multinom's logLik, -211.440962897, to 1e-8 relative; the category names follow
    brms (not.work -> munotwork, reference fulltime)."""
    ref = json.loads((DATA / "nnet_womenlf_multinom.json").read_text())
    model = pg.Model("partic ~ hincome + children", _womenlf(), family="categorical")
    d = model.design
    assert d.categorical == ("fulltime", "not.work", "parttime")
    assert [p.name for p in d.dpars] == ["munotwork", "muparttime"]
    assert d.dpars[0].x_names == ("Intercept", "hincome", "children[T.present]")
    cols = ["(Intercept)", "hincome", "childrenpresent"]
    post = _posterior(
        {
            f"b_{name}": ((f"{name}_coef",), np.array([[ref[cat][c][0] for c in cols]]))
            for name, cat in (("munotwork", "not.work"), ("muparttime", "parttime"))
        }
    )
    ll = pointwise_loglik(d, model.family, post)
    np.testing.assert_allclose(ll.sum(), ref["logLik"], rtol=1e-8)


def test_predict_from_given_draws():
    """predict() of a categorical model from given draws: kind='mean' the softmax per draw and
    row, 'link' the predictors, 'response' categories whose frequencies match the mean
    probabilities; new data and new levels."""
    df = _data()
    model = pg.Model("y ~ x + (1 | g)", df, family="categorical")
    rng = np.random.default_rng(5)
    S = 400
    b = {k: rng.normal(0, 0.5, size=(S, 2)) for k in ("mub", "muc")}
    r = {k: rng.normal(0, 0.5, size=(S, 10, 1)) for k in b}
    sd = {k: np.full((S, 1), 0.5) for k in b}
    post = _posterior(
        {**{f"b_{k}": ((f"{k}_coef",), v) for k, v in b.items()}}
        | {f"r_{k}_g": (("l", "t"), v) for k, v in r.items()}
        | {f"sd_{k}_g": (("t",), v) for k, v in sd.items()}
    )
    fit = types.SimpleNamespace(
        design=model.design, family=model.family, posterior=post, model=model
    )
    x = df["x"].to_numpy()
    codes = model.design.blocks[0].codes
    eta = np.stack([b[k][:, :1] + b[k][:, 1:] * x + r[k][:, codes, 0] for k in b], axis=-1)
    probs = predict_draws(fit, kind="mean", summary=False)
    assert probs.shape == (S, len(df), 3)
    np.testing.assert_allclose(probs[7], _softmax_ref(eta[7]), rtol=1e-10)
    link = predict_draws(fit, kind="link", summary=False)
    np.testing.assert_allclose(link, eta, rtol=1e-10, atol=1e-14)
    table = predict_draws(fit, kind="mean")
    np.testing.assert_allclose(table[("P(Y = b)", "Estimate")], probs[..., 1].mean(0))
    assert list(predict_draws(fit, kind="link").columns.levels[0]) == ["mub", "muc"]
    draws = predict_draws(fit, kind="response", summary=False, seed=1)
    assert draws.shape == (S, len(df)) and set(np.unique(draws)) <= {1, 2, 3}
    freq = predict_draws(fit, kind="response", seed=1)
    assert list(freq.columns) == ["P(Y = a)", "P(Y = b)", "P(Y = c)"]
    np.testing.assert_allclose(freq.sum(axis=1), 1.0)
    assert np.max(np.abs(freq.to_numpy() - probs.mean(0))) < 0.1  # SE <= 0.025 per cell
    new = pd.DataFrame({"x": [0.0, 1.0], "g": ["g1", "new"]})
    out = predict_draws(fit, new, kind="mean", new_levels="gaussian", seed=2, summary=False)
    assert out.shape == (S, 2, 3)
    want = _softmax_ref(np.column_stack([b[k][:, 0] + r[k][:, 1, 0] for k in b]))
    np.testing.assert_allclose(out[:, 0], want, rtol=1e-10)


def test_simulate_frequencies_and_prior_draws():
    """simulate(params=...) with no x effect and SD 0: every row has the softmax of the
    intercepts (20 data sets x 200 rows, within 5 binomial SEs); the response keeps its
    names; prior draws simulate and the prior predictive holds codes 1..3."""
    df = _data()
    model = pg.Model("y ~ x + (1 | g)", df, family="categorical")
    params = {
        "b": {"mub_Intercept": 0.5, "mub_x": 0.0, "muc_Intercept": -0.7, "muc_x": 0.0},
        "sd": {"mub_g": 0.0, "muc_g": 0.0},
    }
    sims = model.simulate(params=params, n=20, seed=4)
    assert set(sims[0]["y"]) <= {"a", "b", "c"}
    y = np.concatenate([s["y"].to_numpy() for s in sims])
    p = _softmax_ref(np.array([[0.5, -0.7]]))[0]
    freq = np.array([(y == c).mean() for c in "abc"])
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / y.size))
    prior = model.prior_predictive(draws=50, seed=3)
    assert prior.shape == (50, len(df)) and set(np.unique(prior)) <= {1, 2, 3}
    one = model.simulate(seed=5)  # parameters from the priors
    assert set(one.attrs["params"]["b"]) == {"mub_Intercept", "mub_x", "muc_Intercept", "muc_x"}
    cat = model.simulate(params=params, seed=6, data=df.assign(y=pd.Categorical(df["y"])))
    assert isinstance(cat["y"].dtype, pd.CategoricalDtype)


# --- fits ------------------------------------------------------------------------------
TRUTH = {
    "mub_Intercept": 0.4,
    "mub_x": 0.8,
    "muc_Intercept": -0.3,
    "muc_x": -0.9,
    "sd(mub_Intercept)": 0.8,
    "sd(muc_Intercept)": 0.6,
}


def _simulated(seed: int = 21) -> pd.DataFrame:
    """600 rows, 30 groups of 20; y from the multinomial logit with a random intercept per
    category, drawn with numpy's choice at the softmax (one fixed data set)."""
    rng = np.random.default_rng(seed)
    n_groups, per = 30, 20
    g = np.repeat(np.arange(n_groups), per)
    x = rng.normal(size=g.size)
    etas = np.column_stack(
        [
            TRUTH[f"{k}_Intercept"]
            + TRUTH[f"{k}_x"] * x
            + rng.normal(0, TRUTH[f"sd({k}_Intercept)"], n_groups)[g]
            for k in ("mub", "muc")
        ]
    )
    p = _softmax_ref(etas)
    y = np.array([rng.choice(3, p=row) for row in p])
    return pd.DataFrame({"y": np.array(["a", "b", "c"])[y], "x": x, "g": [f"g{i}" for i in g]})


@pytest.fixture(scope="module")
def recovery_fit():
    model = pg.Model("y ~ x + (1 | g)", _simulated(), family="categorical")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(draws=600, tune=600, chains=2, seed=5, progressbar=False)


@pytest.mark.slow
def test_recovery_random_intercept_per_category(recovery_fit, tmp_path):
    fit = recovery_fit
    assert fit.timing["kernel"] == 0.0
    s = fit.summary().set_index("term")
    for name, value in TRUTH.items():
        lo, hi = s.loc[name, "l-95% CI"], s.loc[name, "u-95% CI"]
        assert lo < value < hi, (name, s.loc[name].to_dict())
    assert s["Rhat"].max() < 1.05
    text = str(fit)
    assert "Links: mub = logit; muc = logit" in text
    assert text.count("y ~ x + (1 | g)") == 1  # (one formula: the categories share it)
    assert np.isfinite(pg.stack.elpd(fit.loo())[0])
    assert np.isfinite(pg.stack.elpd(fit.waic())[0])
    probs = fit.predict(kind="mean", summary=False)
    assert probs.shape[1:] == (fit.design.n_obs, 3)
    path = tmp_path / "categorical.nc"
    fit.save(path)
    back = pg.load_fit(path)
    assert back.design.categorical == ("a", "b", "c")
    pd.testing.assert_frame_equal(back.summary(), fit.summary())


@pytest.mark.slow
def test_womenlf_against_multinom():
    """carData's Womenlf, partic ~ hincome + children, with wide priors (Normal(0, 20)) against
    nnet::multinom's maximum-likelihood estimates (tests/data/nnet_womenlf_multinom.json):
    every posterior mean within 0.3 posterior SD of the MLE and every posterior SD within 20%
    of multinom's standard error (263 rows: the posterior is nearly normal)."""
    ref = json.loads((DATA / "nnet_womenlf_multinom.json").read_text())
    wide = "normal(0, 20)"
    model = pg.Model(
        "partic ~ hincome + children",
        _womenlf(),
        family="categorical",
        priors={"b": wide, "Intercept": wide},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(draws=1000, tune=600, chains=2, seed=1, progressbar=False)
    fe = fit.fixef()
    names = {
        "(Intercept)": "Intercept",
        "hincome": "hincome",
        "childrenpresent": "children[T.present]",
    }
    for cat, pre in (("not.work", "munotwork"), ("parttime", "muparttime")):
        for col, term in names.items():
            est, se = ref[cat][col]
            row = fe.loc[f"{pre}_{term}"]
            assert abs(row["Estimate"] - est) < 0.3 * row["Est.Error"], (cat, col, row.to_dict())
            assert abs(row["Est.Error"] / se - 1) < 0.2, (cat, col, row.to_dict(), se)
