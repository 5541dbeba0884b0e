"""Posterior predictions: exact values from the posterior, new levels, chunking."""

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm import stack
from pyglmm.design import DesignError
from pyglmm.results.predict import predict_draws


def _draws(fit, name):
    arr = fit.idata.posterior[name].values
    return arr.reshape(-1, *arr.shape[2:])


def test_mean_on_training_rows_equals_posterior_algebra(sleep_fit):
    pred = sleep_fit.predict(summary=False)
    assert pred.shape == (4000, 180)
    b, r = _draws(sleep_fit, "b"), _draws(sleep_fit, "r_Subject")
    df = pg.datasets.load("sleepstudy")
    i = 25  # Subject 310 (third subject), Days 5
    subj = list(sleep_fit.design.blocks[0].levels).index(df["Subject"].iloc[i])
    days = df["Days"].iloc[i]
    expected = b[:, 0] + b[:, 1] * days + r[:, subj, 0] + r[:, subj, 1] * days
    np.testing.assert_allclose(pred[:, i], expected, rtol=1e-12)
    fixed_only = sleep_fit.predict(summary=False, include_random=False)
    np.testing.assert_allclose(fixed_only[:, i], b[:, 0] + b[:, 1] * days, rtol=1e-12)


def test_summary_columns_and_index(sleep_fit):
    tab = sleep_fit.predict()
    assert list(tab.columns) == ["Estimate", "Est.Error", "Q2.5", "Q97.5"]
    assert tab.shape == (180, 4)
    draws = sleep_fit.predict(summary=False)
    assert tab["Estimate"].to_numpy() == pytest.approx(draws.mean(0))


def test_new_subject_gaussian_is_wider_than_fitted_subject(sleep_fit):
    new = pd.DataFrame({"Days": [5, 5], "Subject": ["308", "999"]})
    tab = sleep_fit.predict(new, new_levels="gaussian", seed=1)
    width = tab["Q97.5"] - tab["Q2.5"]
    assert width.iloc[1] > 2 * width.iloc[0]
    # the new subject's mean is near the population mean (its effect averages out)
    pop = sleep_fit.predict(new, include_random=False)["Estimate"].iloc[1]
    assert abs(tab["Estimate"].iloc[1] - pop) < 3 * tab["Est.Error"].iloc[1] / np.sqrt(4000) * 10


def test_unseen_level_errors_by_default(sleep_fit):
    new = pd.DataFrame({"Days": [1], "Subject": ["999"]})
    with pytest.raises(ValueError, match="'Subject' not seen in fitting \\(999\\)"):
        sleep_fit.predict(new)


def test_uncertainty_borrows_a_fitted_level_per_draw(sleep_fit):
    new = pd.DataFrame({"Days": [0], "Subject": ["new"]})
    pred = sleep_fit.predict(new, new_levels="uncertainty", seed=3, summary=False)[:, 0]
    b, r = _draws(sleep_fit, "b"), _draws(sleep_fit, "r_Subject")
    effect = pred - b[:, 0]
    # per draw, the effect equals the intercept effect of one of the 18 fitted subjects
    gap = np.abs(r[:, :, 0] - effect[:, None]).min(axis=1)
    assert gap.max() < 1e-9


def test_chunked_path_is_identical(sleep_fit):
    new = pd.DataFrame(
        {
            "Days": np.arange(10) % 10,
            "Subject": ["308", "new1", "309", "new2"] * 2 + ["new1", "310"],
        }
    )
    kwargs = dict(newdata=new, kind="response", new_levels="gaussian", seed=11, summary=False)
    whole = predict_draws(sleep_fit, **kwargs)
    chunked = predict_draws(sleep_fit, **kwargs, chunk_values=3 * 4000)
    assert whole.shape == (4000, 10)
    # same random numbers; BLAS may round X @ b differently per chunk size (1e-13)
    np.testing.assert_allclose(whole, chunked, rtol=1e-12)
    tab_whole = predict_draws(sleep_fit, **{**kwargs, "summary": True})
    tab_chunk = predict_draws(sleep_fit, **{**kwargs, "summary": True}, chunk_values=4000)
    pd.testing.assert_frame_equal(tab_whole, tab_chunk, rtol=1e-12)


def test_response_draws_have_residual_spread(sleep_fit):
    mean = sleep_fit.predict(summary=False)
    resp = sleep_fit.predict(kind="response", seed=2, summary=False)
    sigma = _draws(sleep_fit, "sigma")
    resid = (resp - mean) / sigma[:, None]
    assert resid.std() == pytest.approx(1.0, abs=0.01)


def test_unseen_predictor_level_is_a_design_error():
    df = pd.DataFrame({"y": np.arange(8.0), "c": list("abab") * 2, "g": list("ppqqrrss")})
    model = pg.Model("y ~ c + (1 | g)", df)
    with pytest.raises(DesignError, match="c"):
        model.design.transform(pd.DataFrame({"c": ["z"], "g": ["p"]}))


def test_binomial_response_for_new_data_uses_its_trials():
    """Fixed parameter draws (a fake posterior) so the expected counts are known exactly."""
    import xarray as xr

    cbpp = pg.datasets.load("cbpp")
    model = pg.Model("incidence | trials(size) ~ period + (1 | herd)", cbpp, family="binomial")
    b = np.array([-1.4, -1.0, -1.1, -1.6])
    r = np.linspace(-0.5, 0.5, 15)[:, None]
    n_draws = 4000
    post = xr.Dataset(
        {
            "b": (("chain", "draw", "coef"), np.broadcast_to(b, (1, n_draws, 4)).copy()),
            "r_herd": (
                ("chain", "draw", "herd_level", "herd_term"),
                np.broadcast_to(r, (1, n_draws, 15, 1)).copy(),
            ),
        },
        coords={
            "coef": list(model.design.x_names),
            "herd_level": list(model.design.blocks[0].levels),
        },
    )
    fit = pg.Fit(
        model,
        stack.from_datasets({"posterior": post}),
        draws=n_draws,
        tune=0,
        chains=1,
        sampler="nutpie",
        parameterization={"herd": "noncentered"},
        timing={},
    )
    new = pd.DataFrame({"period": ["1", "3"], "herd": ["1", "15"], "size": [40, 10]})
    draws = fit.predict(new, kind="response", summary=False, seed=2)
    p = 1 / (1 + np.exp(-(np.array([b[0], b[0] + b[2]]) + r[[0, 14], 0])))
    expected = np.array([40, 10]) * p
    assert draws.shape == (n_draws, 2)
    assert (draws <= [40, 10]).all() and (draws >= 0).all()
    se = np.sqrt(np.array([40, 10]) * p * (1 - p) / n_draws)
    assert np.all(np.abs(draws.mean(0) - expected) < 4 * se)
    with pytest.raises(ValueError, match="needs the trials"):
        fit.predict(new.drop(columns="size"), kind="response")
    mean = fit.predict(new.drop(columns="size"), kind="mean", summary=False)
    np.testing.assert_allclose(mean[0], p, rtol=1e-12)
