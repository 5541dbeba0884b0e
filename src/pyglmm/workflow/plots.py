"""Plots for fits and models; every function returns a matplotlib Figure.

* :func:`plot_trace`: ArviZ trace plot of the reported scalars (``b_<coef>``,
  ``sd_<group>__<term>``, ``cor_<group>__<t1>__<t2>``, family parameters).
* :func:`plot_forest`: posterior medians with 50% and 95% equal-tailed intervals, one row per
  parameter with its own x axis (grouped by class: fixed effects, SDs, correlations, family
  parameters), so scales do not clash.
* :func:`pp_check`: observed response against posterior-predictive draws (density overlay; for
  discrete families bars of observed counts with the predictive counts' median and 90% range).
* :func:`plot_effects`: conditional effect of one predictor (others at their means / reference
  levels, random effects excluded), posterior mean with 95% band.
* :func:`plot_prior_predictive`: the same overlay as ``pp_check`` for prior-predictive draws.
* :func:`plot_ranks`: SBC rank histograms with the uniform 99% band.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ArgumentError
from ..results.params import label_class, posterior_params
from ..spec import FittedModel, ModelSpec
from .simulation import model_data, prior_predictive

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


OBS_COLOR = "black"
REP_COLOR = "#6497b1"
CLASS_TITLES = {
    "b": "Fixed effects",
    "sd": "Group-level SDs",
    "cor": "Group-level correlations",
}


def _figure(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, squeeze=False, **kwargs)


def _param_dataset(fit: FittedModel, var_names: list[str] | None = None) -> Any:
    import xarray as xr

    draws = posterior_params(fit.posterior, fit.design, fit.family.params)
    if var_names is not None:
        unknown = [v for v in var_names if v not in draws]
        if unknown:
            raise ArgumentError(f"unknown parameter(s) {unknown}; known: {list(draws)}")
        draws = {k: draws[k] for k in var_names}
    return xr.Dataset({k: (("chain", "draw"), v) for k, v in draws.items()})


def plot_trace(fit: FittedModel, var_names: list[str] | None = None, **kwargs: Any) -> Figure:
    """Trace plot (ArviZ): density per chain (left) and draws (right) of every reported scalar
    (or ``var_names``, labels as ``b_Days``, ``sd_Subject__Intercept``, ``sigma``)."""
    from .. import stack

    ds = _param_dataset(fit, var_names)
    n = len(ds.data_vars)
    kwargs.setdefault("figsize", (10, max(2.0, 1.8 * n)))
    fig = stack.plot_trace(ds, **kwargs)
    fig.suptitle(f"{fit.design.formula.formula}", y=1.0)
    fig.tight_layout()
    return fig


def _forest_classes(draws: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Parameter labels by class (``b``, ``sd``, ``cor``, then family parameters)."""
    classes: dict[str, list[str]] = {}
    for label in draws:
        cls = label_class(label)
        classes.setdefault(cls if cls in CLASS_TITLES else "family", []).append(label)
    return classes


# the 95% interval fills this fraction of its row's axis (the rest is margin on both sides)
FOREST_FILL = 0.8


def plot_forest(fit: FittedModel, include_intercept: bool = True) -> Figure:
    """Posterior median (point), 50% (thick) and 95% (thin) equal-tailed intervals of fixed
    effects, group-level SDs and correlations and family parameters.

    One row per parameter, each with its own x axis (as brms's ``plot()`` gives each parameter
    its own panel), so an intercept of 250 and a slope of 10 are both readable; the 95%
    interval fills most of its row. Rows are grouped by class under a heading; a dotted line
    marks zero where it falls inside a row's range. Drawn with matplotlib alone, so both
    ArviZ stacks give the same figure.
    """
    from matplotlib.ticker import MaxNLocator

    draws = posterior_params(fit.posterior, fit.design, fit.family.params)
    if not include_intercept:
        draws.pop("b_Intercept", None)
    classes = _forest_classes(draws)
    rows = [(cls, label) for cls, labels in classes.items() for label in labels]
    fig, axes = _figure(len(rows), 1, figsize=(7, 0.9 + 0.62 * len(rows) + 0.3 * len(classes)))
    first = {labels[0] for labels in classes.values()}
    for ax, (cls, label) in zip(axes[:, 0], rows, strict=True):
        q = np.quantile(draws[label].reshape(-1), [0.025, 0.25, 0.5, 0.75, 0.975])
        ax.hlines(0, q[0], q[4], color=REP_COLOR, linewidth=1.2)
        ax.hlines(0, q[1], q[3], color="#03396c", linewidth=4)
        ax.plot(q[2], 0, "o", color="white", markeredgecolor="#03396c", markersize=6)
        width = float(q[4] - q[0]) or max(abs(float(q[2])), 1.0) * 1e-3
        pad = width * (1 - FOREST_FILL) / (2 * FOREST_FILL)
        lo, hi = float(q[0]) - pad, float(q[4]) + pad
        ax.set_xlim(lo, hi)
        if lo < 0 < hi:
            ax.axvline(0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_ylim(-1, 1)
        ax.set_yticks([0])
        ax.set_yticklabels([label])
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.tick_params(axis="y", length=0)
        if label in first:
            ax.set_title(CLASS_TITLES.get(cls, "Family parameters"), fontsize=10, loc="left")
    axes[-1, 0].set_xlabel("posterior median, 50% and 95% intervals (each row on its own scale)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# predictive checks


def _overlay(ax: Axes, y: np.ndarray, yrep: np.ndarray, discrete: bool, rep_label: str) -> None:
    """Observed ``y`` against draws ``yrep`` (draws x n) on ``ax``."""
    y = np.asarray(y, dtype=float)
    yrep = np.asarray(yrep, dtype=float)
    if discrete:
        lo = int(min(y.min(), np.quantile(yrep, 0.005)))
        # heavy prior-predictive tails would stretch the axis: values above the larger of
        # max(y) and the 95% quantile of the draws are pooled in the last bin
        cap = int(np.ceil(max(y.max(), np.quantile(yrep, 0.95))))
        hi = int(max(y.max(), yrep.max()))
        if hi > cap:
            y, yrep, hi = np.minimum(y, cap), np.minimum(yrep, cap), cap
            ax.text(
                0.99,
                0.6,
                f"values >= {cap} in the last bin",
                transform=ax.transAxes,
                ha="right",
                fontsize=8,
                color="grey",
            )
        if hi - lo <= 60:
            edges = np.arange(lo, hi + 2) - 0.5
        else:
            edges = np.linspace(lo - 0.5, hi + 0.5, 41)
        centers = (edges[:-1] + edges[1:]) / 2
        width = float(np.diff(edges)[0])
        obs = np.histogram(y, bins=edges)[0]
        rep = np.array([np.histogram(r, bins=edges)[0] for r in yrep])
        ax.bar(centers, obs, width=0.9 * width, color="#d0d0d0", edgecolor=OBS_COLOR, label="y")
        med = np.median(rep, axis=0)
        qlo, qhi = np.quantile(rep, [0.05, 0.95], axis=0)
        ax.errorbar(
            centers,
            med,
            yerr=[med - qlo, qhi - med],
            fmt="o",
            color=REP_COLOR,
            markersize=4,
            label=f"{rep_label} (median, 90%)",
        )
        ax.set_ylabel("count")
        return
    pooled = np.concatenate([y, yrep.ravel()])
    lo = min(y.min(), np.quantile(pooled, 0.005))
    hi = max(y.max(), np.quantile(pooled, 0.995))
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    grid = np.linspace(lo - pad, hi + pad, 256)
    for k, r in enumerate(yrep):
        ax.plot(
            grid,
            _kde(r, grid),
            color=REP_COLOR,
            alpha=0.35,
            linewidth=0.8,
            label=rep_label if k == 0 else None,
        )
    ax.plot(grid, _kde(y, grid), color=OBS_COLOR, linewidth=2.2, label="y")
    ax.set_ylabel("density")
    ax.set_xlim(grid[0], grid[-1])


def _kde(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    x = x[np.isfinite(x)]
    if x.size < 2 or np.ptp(x) == 0:
        return np.zeros_like(grid)
    return np.asarray(stats.gaussian_kde(x)(grid))


def _rows(n: int, rng: np.random.Generator, k: int) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(k, n), replace=False))


def pp_check(fit: FittedModel, ndraws: int = 50, seed: Any = None) -> Figure:
    """Posterior-predictive check: the observed response (black) against ``ndraws``
    posterior-predictive data sets (``fit.predict(kind="response", summary=False)``); density
    overlay, or for discrete families bars of observed counts per value with the predictive
    median and 90% range."""
    rng = np.random.default_rng(seed)
    yrep = np.asarray(fit.predict(kind="response", summary=False, seed=seed))
    yrep = yrep[_rows(yrep.shape[0], rng, ndraws)]
    fig, axes = _figure(figsize=(7, 4.5))
    ax = axes[0, 0]
    discrete = fit.family.discrete
    _overlay(ax, fit.design.y, yrep, discrete, "y_rep")
    ax.set_xlabel(fit.design.response)
    ax.set_title(f"Posterior predictive check ({len(yrep)} draws)")
    ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig


def plot_prior_predictive(
    model: ModelSpec, draws: int = 50, seed: Any = None, observed: bool = True
) -> Figure:
    """Prior-predictive check: ``draws`` data sets simulated from the priors
    (:func:`pyglmm.simulate.prior_predictive`) against the observed response."""
    yrep = prior_predictive(model, draws=draws, seed=seed)
    fig, axes = _figure(figsize=(7, 4.5))
    ax = axes[0, 0]
    discrete = model.family.discrete
    y = model.design.y if observed else yrep[0]
    _overlay(ax, y, yrep, discrete, "y_prior")
    ax.set_xlabel(model.design.response)
    ax.set_title(f"Prior predictive check ({draws} draws)")
    ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# conditional effects


def _categorical_columns(fit: FittedModel) -> dict[str, list[Any]]:
    """Columns patsy treats as categorical in the fixed part -> their training levels."""
    from ..design import categorical_levels

    return categorical_levels(fit.design.x_design_info)


def effect_grid(
    fit: FittedModel, effect: str, data: pd.DataFrame | None = None, n_points: int = 50
) -> pd.DataFrame:
    """New data varying ``effect`` (a grid over its observed range, or its levels) with every
    other numeric predictor at its mean and categorical ones at their reference level."""
    from ..design import rhs_variables

    design = fit.design
    df = model_data(fit.model, data)
    names = rhs_variables(design.formula)
    if effect not in names:
        raise ArgumentError(f"{effect!r} is not a predictor of the model; predictors: {names}")
    groups = {g for blk in design.blocks for g in blk.group.split(":")}
    cats = _categorical_columns(fit)
    col = df[effect]
    if effect in groups and effect not in cats:
        raise ArgumentError(f"{effect!r} is a grouping factor; plot_effects shows fixed effects")
    is_cat = (
        effect in cats or not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
    )
    if is_cat:
        values: Any = cats.get(effect) or list(pd.unique(col))
    else:
        values = np.linspace(float(col.min()), float(col.max()), n_points)
    grid: dict[str, Any] = {effect: values}
    for name in names:
        if name == effect:
            continue
        c = df[name]
        if name in cats:
            grid[name] = cats[name][0]
        elif (
            name in groups or not pd.api.types.is_numeric_dtype(c) or pd.api.types.is_bool_dtype(c)
        ):
            grid[name] = c.iloc[0] if name in groups else sorted(pd.unique(c))[0]
        else:
            grid[name] = float(c.mean())
    out = pd.DataFrame(grid)
    for name in names:
        if isinstance(df[name].dtype, pd.CategoricalDtype):
            out[name] = pd.Categorical(out[name], categories=df[name].cat.categories)
    return out


def plot_effects(
    fit: FittedModel,
    effect: str,
    data: pd.DataFrame | None = None,
    n_points: int = 50,
    points: bool = False,
) -> Figure:
    """Conditional effect of ``effect`` (brms's ``conditional_effects``): predictions
    ``fit.predict(grid, include_random=False, kind="mean")`` with the other numeric predictors at
    their means and categorical ones at their reference levels; a line with a 95% band for a
    numeric predictor, points with 95% error bars for a categorical one. ``points=True`` adds
    the observed data (numeric predictor)."""
    grid = effect_grid(fit, effect, data, n_points)
    pred = fit.predict(grid, include_random=False, kind="mean")
    fig, axes = _figure(figsize=(6.5, 4.5))
    ax = axes[0, 0]
    x = grid[effect]
    est, lo, hi = (pred[c].to_numpy() for c in ("Estimate", "Q2.5", "Q97.5"))
    categorical = not pd.api.types.is_numeric_dtype(x) or isinstance(x.dtype, pd.CategoricalDtype)
    categorical = categorical or effect in _categorical_columns(fit)
    if categorical:
        pos = np.arange(len(x))
        ax.errorbar(pos, est, yerr=[est - lo, hi - est], fmt="o", color="#03396c", capsize=4)
        ax.set_xticks(pos)
        ax.set_xticklabels([str(v) for v in x])
    else:
        if points:
            df = model_data(fit.model, data)
            ax.scatter(df[effect], fit.design.y, s=8, color="grey", alpha=0.5)
        ax.fill_between(x, lo, hi, color=REP_COLOR, alpha=0.35, linewidth=0, label="95% interval")
        ax.plot(x, est, color="#03396c", linewidth=2, label="posterior mean")
    ax.set_xlabel(effect)
    ax.set_ylabel(
        fit.design.response
        if fit.family.link == "identity"
        else f"{fit.design.response} (mean, response scale)"
    )
    held = [c for c in grid.columns if c != effect]
    ax.set_title(f"Conditional effect of {effect}", fontsize=11)
    if held:
        ax.text(
            0.01,
            0.01,
            "others at mean / reference level; random effects excluded",
            transform=ax.transAxes,
            fontsize=7,
            color="grey",
        )
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# SBC ranks


def plot_ranks(ranks: pd.DataFrame, n_ranks: int, bins: int | None = None) -> Figure:
    """Rank histograms (one panel per parameter) with the expected count and the 99% band of
    a uniform histogram (binomial quantiles), as in Talts et al. (2018)."""
    from ..results.diagnostics import rank_bins

    n_sims = len(ranks)
    bins = bins or rank_bins(n_sims, n_ranks)
    k = ranks.shape[1]
    ncols = min(4, k)
    nrows = math.ceil(k / ncols)
    fig, axes = _figure(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows))
    expected = n_sims / bins
    band = np.asarray(stats.binom.ppf([0.005, 0.995], n_sims, 1 / bins), dtype=float)
    lo, hi = float(band[0]), float(band[1])
    for i, label in enumerate(ranks.columns):
        ax = axes[i // ncols, i % ncols]
        ax.axhspan(lo, hi, color="#d0d0d0", alpha=0.6, linewidth=0)
        ax.axhline(expected, color="grey", linewidth=0.8)
        ax.hist(
            ranks[label].to_numpy(),
            bins=bins,
            range=(0, n_ranks + 1),
            color=REP_COLOR,
            edgecolor="white",
        )
        ax.set_title(str(label), fontsize=9)
        ax.set_xlim(0, n_ranks + 1)
    for j in range(k, nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    fig.supxlabel(f"rank of the true value among {n_ranks} posterior draws")
    fig.supylabel("simulations")
    fig.tight_layout()
    return fig
