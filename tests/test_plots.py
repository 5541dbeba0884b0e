"""Plots render (Agg) to non-empty PNGs with the expected axes, lines and labels."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def save(fig, path):
    fig.savefig(path, dpi=60)
    img = matplotlib.image.imread(path)
    assert path.stat().st_size > 0
    assert img.std() > 0.01  # not a blank canvas
    return img


@pytest.fixture(scope="module")
def sleep(sleep_fit):
    if getattr(sleep_fit.model, "data", None) is None:  # until Model keeps its data
        sleep_fit.model.data = pg.datasets.load("sleepstudy")
    return sleep_fit


@pytest.fixture(scope="module")
def factor_fit():
    rng = np.random.default_rng(1)
    n = 120
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "treat": rng.choice(["ctrl", "low", "high"], size=n),
            "g": np.repeat([f"s{i}" for i in range(12)], 10),
        }
    )
    effect = df["treat"].map({"ctrl": 0.0, "high": 2.0, "low": 1.0})
    df["y"] = 1 + 0.5 * df["x"] + effect + rng.normal(size=n)
    model = pg.Model("y ~ x + treat + (1 | g)", df)
    model.data = df
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(draws=300, tune=300, chains=2, seed=1, progressbar=False)


def test_trace(sleep, tmp_path):
    fig = sleep.plot_trace() if hasattr(sleep, "plot_trace") else plots.plot_trace(sleep)
    titles = [ax.get_title() for ax in fig.axes]
    names = [
        "b_Intercept",
        "b_Days",
        "sd_Subject__Intercept",
        "sd_Subject__Days",
        "cor_Subject__Intercept__Days",
        "sigma",
    ]
    assert len(fig.axes) == 2 * len(names)
    assert titles[::2] == names
    assert all(len(ax.get_lines()) >= 4 for ax in fig.axes)  # one per chain
    save(fig, tmp_path / "trace.png")


def test_forest(sleep, tmp_path):
    """One row per parameter with its own x axis: the intercept (~250) and the slope (~10)
    each fill their row instead of sharing one axis."""
    fig = plots.plot_forest(sleep)
    names = [
        "b_Intercept",
        "b_Days",
        "sd_Subject__Intercept",
        "sd_Subject__Days",
        "cor_Subject__Intercept__Days",
        "sigma",
    ]
    assert [[t.get_text() for t in ax.get_yticklabels()] for ax in fig.axes] == [[n] for n in names]
    # a heading on the first row of each class
    assert [ax.get_title(loc="left") for ax in fig.axes] == [
        "Fixed effects",
        "",
        "Group-level SDs",
        "",
        "Group-level correlations",
        "Family parameters",
    ]
    post = sleep.idata.posterior
    for ax, name in zip(fig.axes, names, strict=True):
        assert len(ax.collections) >= 2  # the 95% and 50% segments (and maybe a zero line)
        seg = ax.collections[0].get_segments()[0][:, 0]
        lo, hi = ax.get_xlim()
        assert lo <= seg.min() and seg.max() <= hi
        assert (seg.max() - seg.min()) / (hi - lo) > 0.5, name  # readable, not a dot
    q = np.quantile(post["sigma"].values, [0.025, 0.975])
    np.testing.assert_allclose(fig.axes[-1].collections[0].get_segments()[0][:, 0], q)
    # the two fixed effects have very different scales: their axes are not shared
    spans = [np.diff(ax.get_xlim())[0] for ax in fig.axes[:2]]
    assert spans[0] > 2 * spans[1]
    save(fig, tmp_path / "forest.png")
    no_intercept = plots.plot_forest(sleep, include_intercept=False)
    assert no_intercept.axes[0].get_yticklabels()[0].get_text() == "b_Days"
    assert no_intercept.axes[0].get_title(loc="left") == "Fixed effects"
    assert len(no_intercept.axes) == len(names) - 1


def test_pp_check_density(sleep, tmp_path):
    fig = sleep.pp_check(ndraws=20, seed=1) if hasattr(sleep, "pp_check") else None
    fig = fig or plots.pp_check(sleep, ndraws=20, seed=1)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 21
    assert lines[-1].get_color() == "black" and lines[-1].get_label() == "y"
    assert ax.get_xlabel() == "Reaction"
    save(fig, tmp_path / "ppc.png")


def test_prior_predictive_discrete_bars(tmp_path):
    rng = np.random.default_rng(2)
    df = pd.DataFrame(
        {"y": rng.poisson(3, 80), "x": rng.normal(size=80), "g": np.repeat(list("abcdefgh"), 10)}
    )
    model = pg.Model(
        "y ~ x + (1 | g)",
        df,
        family="poisson",
        priors={"Intercept": pg.prior("Normal", mu=1, sigma=0.5)},
    )
    fig = plots.plot_prior_predictive(model, draws=30, seed=1)
    (ax,) = fig.axes
    assert len(ax.patches) > 5  # bars of observed counts
    assert len(ax.containers) == 2  # bars + error bars of the prior-predictive counts
    assert ax.get_ylabel() == "count" and "30 draws" in ax.get_title()
    save(fig, tmp_path / "prior_pred.png")


def test_prior_predictive_density(sleep, tmp_path):
    fig = plots.plot_prior_predictive(sleep.model, draws=25, seed=3)
    assert len(fig.axes[0].get_lines()) == 26
    save(fig, tmp_path / "prior_pred_dens.png")


def test_effects_numeric(sleep, tmp_path):
    fig = sleep.plot_effects("Days") if hasattr(sleep, "plot_effects") else None
    fig = fig or plots.plot_effects(sleep, "Days")
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    x, y = line.get_data()
    assert len(x) == 50 and x[0] == 0 and x[-1] == 9
    b = sleep.fixef()["Estimate"]
    np.testing.assert_allclose(y, b["Intercept"] + b["Days"] * x, rtol=1e-9)
    assert len(ax.collections) == 1  # the band
    assert ax.get_xlabel() == "Days" and ax.get_ylabel() == "Reaction"
    save(fig, tmp_path / "effects.png")
    with pytest.raises(ValueError, match="not a predictor"):
        plots.plot_effects(sleep, "Nights")


def test_effects_categorical_and_held_values(factor_fit, tmp_path):
    grid = plots.effect_grid(factor_fit, "treat")
    assert list(grid["treat"]) == ["ctrl", "high", "low"]
    assert np.allclose(grid["x"], factor_fit.model.data["x"].mean())
    grid_x = plots.effect_grid(factor_fit, "x", n_points=7)
    assert len(grid_x) == 7 and set(grid_x["treat"]) == {"ctrl"}  # reference level
    fig = plots.plot_effects(factor_fit, "treat")
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ctrl", "high", "low"]
    assert len(ax.containers) == 1  # one errorbar container, three points
    est = ax.get_lines()[0].get_ydata()
    assert len(est) == 3 and est[0] < est[2] < est[1]  # ctrl < low < high
    save(fig, tmp_path / "effects_cat.png")
