"""Simulation from a model's design: shapes, exactness at given parameters, the covariance of
the drawn effects, prior draws, response layouts and parameter validation."""

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm.workflow.prior_draws import draw_prior
from pyglmm.workflow.simulation import prior_predictive, simulate

TRUTH = {
    "b": {"Intercept": 250, "Days": 10},
    "sd": {"Subject": {"Intercept": 25, "Days": 6}},
    "cor": {"Subject": {("Intercept", "Days"): 0.3}},
    "sigma": 25,
}


def make_model(formula, df, **kwargs):
    model = pg.Model(formula, df, **kwargs)
    if getattr(model, "data", None) is None:  # until Model keeps its data
        model.data = df
    return model


@pytest.fixture(scope="module")
def sleep():
    df = pg.datasets.load("sleepstudy")
    return df, make_model("Reaction ~ Days + (Days | Subject)", df)


def test_shapes_and_attrs(sleep):
    df, model = sleep
    sims = simulate(model, TRUTH, n=3, seed=1)
    assert isinstance(sims, list) and len(sims) == 3
    for sim in sims:
        assert sim.shape == df.shape
        assert list(sim.columns) == list(df.columns)
        assert sim.index.equals(df.index)
        assert (sim["Days"] == df["Days"]).all() and (sim["Subject"] == df["Subject"]).all()
        ranef = sim.attrs["ranef"]["Subject"]
        assert ranef.shape == (18, 2) and list(ranef.columns) == ["Intercept", "Days"]
        assert sim.attrs["params"]["b"] == {"Intercept": 250.0, "Days": 10.0}
        assert sim.attrs["params"]["cor"]["Subject"][("Intercept", "Days")] == 0.3
    assert not np.allclose(sims[0]["Reaction"], sims[1]["Reaction"])
    one = simulate(model, TRUTH, seed=1)
    assert isinstance(one, pd.DataFrame)
    np.testing.assert_array_equal(one["Reaction"], simulate(model, TRUTH, seed=1)["Reaction"])
    assert df["Reaction"].iloc[0] != one["Reaction"].iloc[0]  # input untouched, new values
    assert pg.datasets.load("sleepstudy")["Reaction"].equals(df["Reaction"])


def test_tiny_sigma_gives_linear_predictor(sleep):
    df, model = sleep
    truth = {**TRUTH, "sigma": 1e-8}
    sim = simulate(model, truth, seed=7)
    r = sim.attrs["ranef"]["Subject"].loc[df["Subject"].astype(str)].to_numpy()
    expected = 250 + 10 * df["Days"] + r[:, 0] + r[:, 1] * df["Days"]
    np.testing.assert_allclose(sim["Reaction"], expected, atol=1e-6)


def test_effects_have_requested_covariance():
    rng = np.random.default_rng(0)
    n_levels = 4000
    g = np.repeat(np.arange(n_levels), 2)
    df = pd.DataFrame({"y": rng.normal(size=g.size), "x": rng.normal(size=g.size), "g": g})
    model = make_model("y ~ x + (1 + x | g)", df)
    sd, rho = np.array([2.0, 0.5]), -0.4
    truth = {
        "b": {"Intercept": 0, "x": 0},
        "sd": {"g": {"Intercept": sd[0], "x": sd[1]}},
        "cor": {"g": {("x", "Intercept"): rho}},  # either order
        "sigma": 1,
    }
    r = simulate(model, truth, seed=3).attrs["ranef"]["g"].to_numpy()
    assert r.shape == (n_levels, 2)
    est_sd = r.std(axis=0, ddof=1)
    est_rho = np.corrcoef(r.T)[0, 1]
    # SE of a normal-sample SD ~ sd / sqrt(2 n); of a correlation ~ (1 - rho^2) / sqrt(n)
    np.testing.assert_array_less(np.abs(est_sd - sd), 4 * sd / np.sqrt(2 * n_levels))
    assert abs(est_rho - rho) < 4 * (1 - rho**2) / np.sqrt(n_levels)
    assert np.abs(r.mean(axis=0)).max() < 4 * sd.max() / np.sqrt(n_levels)


def test_prior_draws_respect_priors(sleep):
    df, _ = sleep
    model = make_model(
        "Reaction ~ Days + (Days | Subject)",
        df,
        priors={
            "Intercept": pg.prior("Normal", mu=300, sigma=1e-3),
            "b": {"Days": pg.prior("Normal", mu=10, sigma=1e-3)},
            "sd": {"Subject": {"Days": pg.prior("HalfNormal", sigma=1)}},
        },
    )
    draws = draw_prior(model, 400, seed=2)
    # the Intercept prior is on centered Days: b_Intercept = 300 - mean(Days) * 10
    np.testing.assert_allclose(draws.b[:, 1], 10, atol=0.01)
    np.testing.assert_allclose(draws.b[:, 0], 300 - df["Days"].mean() * 10, atol=0.05)
    sd = draws.sd["Subject"]
    assert (sd > 0).all() and (draws.family["sigma"] > 0).all()
    assert sd[:, 1].max() < 5  # HalfNormal(1)
    assert abs(sd[:, 1].mean() - np.sqrt(2 / np.pi)) < 0.1
    cor = draws.cor["Subject"]
    assert cor.shape == (400, 2, 2) and np.allclose(cor[:, 0, 0], 1)
    assert (np.abs(cor[:, 0, 1]) <= 1).all() and cor[:, 0, 1].std() > 0.3  # LKJ(1): uniform
    sims = simulate(model, n=2, seed=4)
    for sim in sims:
        p = sim.attrs["params"]
        assert p["sigma"] > 0 and min(p["sd"]["Subject"].values()) > 0
    assert sims[0].attrs["params"]["sigma"] != sims[1].attrs["params"]["sigma"]


def test_prior_predictive_shape(sleep):
    _, model = sleep
    y = prior_predictive(model, draws=37, seed=1)
    assert y.shape == (37, 180) and np.isfinite(y).all()
    np.testing.assert_array_equal(y, prior_predictive(model, draws=37, seed=1))


def test_binomial_cbind_and_trials():
    rng = np.random.default_rng(1)
    n = rng.integers(5, 20, size=60)
    s = rng.binomial(n, 0.4)
    df = pd.DataFrame(
        {"s": s, "f": n - s, "n": n, "x": rng.normal(size=60), "g": np.repeat(list("abcdef"), 10)}
    )
    truth = {"b": {"Intercept": 0.2, "x": 1.0}, "sd": {"g": 0.5}}
    model = make_model("cbind(s, f) ~ x + (1 | g)", df, family="binomial")
    sim = simulate(model, truth, seed=2)
    np.testing.assert_array_equal(sim["s"] + sim["f"], n)
    assert (sim["s"] >= 0).all() and sim["s"].dtype.kind == "i" and sim["f"].dtype.kind == "i"
    assert not sim["s"].equals(df["s"])
    model = make_model("s | trials(n) ~ x + (1 | g)", df, family="binomial")
    sim = simulate(model, truth, seed=2)
    assert (sim["s"] <= n).all() and sim["n"].equals(df["n"]) and sim["f"].equals(df["f"])
    pg.Model("s | trials(n) ~ x + (1 | g)", sim, family="binomial")  # valid data


def test_poisson_counts_and_dropped_rows():
    rng = np.random.default_rng(2)
    df = pd.DataFrame(
        {"y": rng.poisson(3, 50), "x": rng.normal(size=50), "g": np.repeat(list("abcde"), 10)}
    )
    df.loc[3, "x"] = np.nan
    with pytest.warns(UserWarning, match="dropped 1"):
        model = make_model("y ~ x + (1 | g)", df, family="poisson")
    sim = simulate(model, {"b": {"Intercept": 1, "x": 0.3}, "sd": {"g": {"Intercept": 0.2}}})
    assert len(sim) == 49 and 3 not in sim.index
    assert sim["y"].dtype.kind == "i" and (sim["y"] >= 0).all()


def test_transformed_response_raises(sleep):
    df, _ = sleep
    model = make_model("np.log(Reaction) ~ Days + (1 | Subject)", df)
    with pytest.raises(ValueError, match="bare column"):
        simulate(model, {"b": {"Intercept": 5, "Days": 0.1}, "sd": {"Subject": 1}, "sigma": 1})


def test_shared_group_blocks():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)}
    )
    model = make_model("y ~ x + (1 | g) + (0 + x | g)", df)
    base = {"b": {"Intercept": 0, "x": 0}, "sigma": 1}
    # one group key covering both blocks, or block names
    a = simulate(model, {**base, "sd": {"g": {"Intercept": 1, "x": 2}}}, seed=1)
    b = simulate(model, {**base, "sd": {"g": {"Intercept": 1}, "g_2": {"x": 2}}}, seed=1)
    np.testing.assert_array_equal(a["y"], b["y"])
    assert list(a.attrs["ranef"]["g"].columns) == ["Intercept", "x"]
    model = make_model("y ~ x + (1 | g) + (1 + x || g)", df)
    with pytest.raises(ValueError, match="by block name"):
        simulate(model, {**base, "sd": {"g": {"Intercept": 1, "x": 2}}})


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"b": {"Intercept": 250}}, "missing coefficient"),
        ({"b": {"Intercept": 250, "Days": 10, "Dayz": 1}}, "unknown coefficient"),
        ({"sd": {"Subjekt": {"Intercept": 1, "Days": 1}}}, "unknown group"),
        ({"sd": {"Subject": {"Intercept": 1}}}, "missing term 'Days'"),
        ({"sd": {"Subject": {"Intercept": 1, "Days": 1, "x": 1}}}, "unknown term"),
        ({"sd": {"Subject": {"Intercept": -1, "Days": 1}}}, ">= 0"),
        ({"sd": {}}, "missing group 'Subject'"),
        ({"cor": {"Subject": {("Intercept", "Days"): 1.5}}}, r"\[-1, 1\]"),
        ({"cor": {"Subject": {("Intercept", "Dayz"): 0.5}}}, "terms must be among"),
        ({"sigma": 0}, "> 0"),
        ({"sigma": "a lot"}, "must be a number"),
        ({"shape": 2}, "unknown params key"),
    ],
)
def test_param_validation(sleep, change, match):
    _, model = sleep
    with pytest.raises(ValueError, match=match):
        simulate(model, {**TRUTH, **change})


def test_missing_family_param_and_uncorrelated_block(sleep):
    df, model = sleep
    with pytest.raises(ValueError, match="family parameter 'sigma'"):
        simulate(model, {k: v for k, v in TRUTH.items() if k != "sigma"})
    diag = make_model("Reaction ~ Days + (Days || Subject)", df)
    with pytest.raises(ValueError, match="uncorrelated"):
        simulate(diag, TRUTH)
    sim = simulate(diag, {k: v for k, v in TRUTH.items() if k != "cor"}, seed=1)  # cor = 0
    assert sim.attrs["params"]["cor"] == {}


def test_simulated_frames_concatenate(sleep):
    _, model = sleep
    sims = simulate(model, TRUTH, n=2, seed=5)
    both = pd.concat(sims)  # attrs hold DataFrames; pandas must be able to compare them
    assert both.shape == (360, 3) and both.attrs == {}
    assert pd.concat([sims[0], sims[0]]).attrs["params"] == sims[0].attrs["params"]


def test_single_prior_draw(sleep):
    _, model = sleep
    draws = draw_prior(model, 1, seed=1)
    assert draws.b.shape == (1, 2) and draws.cor["Subject"].shape == (1, 2, 2)
    assert draws.sd["Subject"].shape == (1, 2) and draws.family["sigma"].shape == (1,)
    sim = simulate(model, seed=1)
    assert isinstance(sim, pd.DataFrame) and sim.attrs["params"]["sigma"] > 0
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"y": rng.integers(0, 2, 30), "g": np.repeat(list("abc"), 10)})
    only = make_model("y ~ 1", df, family="bernoulli")  # a single prior (the Intercept)
    sim = simulate(only, seed=2)
    assert set(sim["y"]) <= {0, 1} and list(sim.attrs["params"]) == ["b", "sd", "cor"]
