"""Posterior predictions for fitted or new data (brms's ``posterior_epred`` /
``posterior_predict`` semantics).

``kind="link"`` gives eta, ``"mean"`` the mean on the response scale ``linkinv(eta)``
(probabilities, rates; for the zero-inflated and hurdle families ``E[y]``, brms's
``posterior_epred``: :meth:`Family.predict_mean`), ``"response"`` posterior-predictive draws
of y.

An ordinal model (``cumulative``): ``"mean"`` gives the category probabilities, draws x rows x
K (brms's ``posterior_epred``), summarized per category (columns ``(P(Y = k), stat)``);
``"response"`` draws the category's code 1..K (brms's ``posterior_predict``), summarized as
each category's frequency among the draws (brms's ``predict``); ``"link"`` is eta (no
thresholds).

Levels of a grouping factor not seen in training (``new_levels``):

* ``"error"``: raise;
* ``"gaussian"``: each new level gets, per draw s, its own effect drawn from
  N(0, Sigma_s), Sigma_s built from that draw's SDs and correlations;
* ``"uncertainty"``: each new level borrows, per draw, the effect of a fitted level chosen
  uniformly at random;
* with ``include_random=False`` all group-level effects are left out.

A ``gr(g, cov = A)`` block whose ``A`` (a DataFrame labelled by level, kept as ``model.data2``)
holds levels the data did not have predicts those levels, under ``"gaussian"`` or
``"uncertainty"``, as brms does: from their conditional normal given the fitted levels'
effects, per draw ``r_u = W r_f + L_c Z Lambda_s'`` with ``W = A_uf A_ff^-1``,
``L_c L_c' = A_uu - W A_fu`` and ``Lambda_s Lambda_s' = Sigma_s``
(:func:`~pyglmm.design.levelcov.conditional_levels`); levels outside ``A`` (and the new levels
of a ``kron(U, V)`` block, or of an unlabelled ``A``) follow ``new_levels`` as above, drawn
without their correlation to the fitted levels.

Rows are processed in chunks (``chunk_values`` cells of draws x rows at a time); all random
numbers are drawn in row order so every chunk size gives identical results. With
``summary=True`` only per-row statistics are kept, so 1M rows x 4000 draws needs memory for one
chunk, not 32 GB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .. import names
from ..design import Design, NewData, REBlock
from ..design.additions import new_bounds, new_se
from ..design.levelcov import conditional_levels
from ..errors import ArgumentError, DesignError
from ..families import Family
from ..families.additions import draw_truncated
from ..posterior import CHUNK_VALUES, family_params, flat_draws, linear_predictor
from ..spec import FittedModel

Kind = Literal["link", "mean", "response"]
NewLevels = Literal["error", "gaussian", "uncertainty"]


def _new_level_effects(
    blk: REBlock,
    post: xr.Dataset,
    labels: np.ndarray,
    how: NewLevels,
    rng: np.random.Generator,
    data2: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Effects (draws x len(labels) x q) for rows of unseen levels (one effect per level);
    ``data2``: the model's known matrices (levels of ``A`` without data, module docstring)."""
    uniq, inv = np.unique(labels, return_inverse=True)
    known: tuple[list[str], np.ndarray, np.ndarray] = ([], np.zeros((0, 0)), np.zeros((0, 0)))
    if how != "error" and blk.level_cov is not None and data2:
        matrix = data2.get(blk.level_cov.names[0])
        known = conditional_levels(matrix, blk.level_cov, [str(u) for u in uniq])
    if how == "error":
        shown = ", ".join(map(str, uniq[:5])) + (" ..." if len(uniq) > 5 else "")
        raise DesignError(
            f"new data has {len(uniq)} level(s) of {blk.group!r} not seen in fitting ({shown}); "
            "use new_levels='gaussian' or 'uncertainty', or include_random=False"
        )
    r = flat_draws(post, names.effects(blk.name))  # S x levels x q
    n_draws = r.shape[0]
    if how == "uncertainty":
        pick = rng.integers(0, blk.n_levels, size=(len(uniq), n_draws)).T  # row order: levels
        eff = np.take_along_axis(r, pick[:, :, None], axis=1)
    elif how == "gaussian":
        sd = flat_draws(post, names.sd(blk.name))  # S x q
        kind = blk.covariance
        cor = flat_draws(post, names.cor(blk.name)) if kind.correlated else None
        chol = kind.cholesky(sd, cor)
        z = rng.standard_normal((len(uniq), n_draws, blk.q)).transpose(1, 0, 2)
        eff = np.einsum("sqk,suk->suq", chol, z)
    else:
        raise ArgumentError(f"unknown new_levels {how!r}; use 'error', 'gaussian' or 'uncertainty'")
    if known[0]:
        eff = eff.copy()
        where = {str(u): k for k, u in enumerate(uniq)}
        eff[:, [where[u] for u in known[0]], :] = _conditional_effects(blk, post, r, known, rng)
    return eff[:, inv, :]


def _conditional_effects(
    blk: REBlock,
    post: xr.Dataset,
    r: np.ndarray,
    known: tuple[list[str], np.ndarray, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """Effects (draws x new levels x q) of levels of ``A`` without data, drawn from their
    conditional normal given the fitted effects ``r`` (draws x levels x q): see the module
    docstring."""
    _, weights, chol_a = known
    sd = flat_draws(post, names.sd(blk.name))
    kind = blk.covariance
    cor = flat_draws(post, names.cor(blk.name)) if kind.correlated else None
    chol_s = kind.cholesky(sd, cor)  # S x q x q
    z = rng.standard_normal((r.shape[0], weights.shape[0], blk.q))
    noise = np.einsum("uv,svk,sqk->suq", chol_a, z, chol_s)
    return np.einsum("uf,sfq->suq", weights, r) + noise


def predict_draws(
    fit: FittedModel,
    newdata: pd.DataFrame | None = None,
    kind: Kind = "mean",
    include_random: bool = True,
    new_levels: NewLevels = "error",
    seed: int | None = None,
    summary: bool = True,
    chunk_values: int = CHUNK_VALUES,
    resp: str | None = None,
) -> np.ndarray | pd.DataFrame:
    """Predictions as draws (chains*draws x rows) or, with ``summary``, a DataFrame with
    Estimate, Est.Error, Q2.5, Q97.5 per row (see the module docstring). ``resp``: the
    response of a multivariate model (its marginal predictions; required there)."""
    if kind not in ("link", "mean", "response"):
        raise ArgumentError(f"unknown kind {kind!r}; use 'link', 'mean' or 'response'")
    design, family = fit.design, fit.family
    dpar, fam_vars, train_trials = "", {p: p for p in family.params}, design.trials
    if design.mv is not None:  # one response: its predictor, family and parameters
        assert resp is not None
        k = design.mv.index_of(resp)
        family, dpar, train_trials = design.mv.families[k], resp, design.mv.trials[k]
        fam_vars = {p: design.mv.param_var(k, p) for p in family.params}
    elif resp is not None:
        raise ArgumentError("resp is for multivariate models (mvbind(...) or bf() + bf())")
    if newdata is None and not design.has_data:
        raise ArgumentError(
            "this fit was saved with data=False (fit.save(path, data=False)), so it holds no "
            "fitted rows to predict: pass newdata"
        )
    post = fit.posterior
    rng = np.random.default_rng(seed)
    data: NewData | None = (
        None if newdata is None else design.transform(newdata, random=include_random)
    )
    index = design.index if data is None else data.index
    n_rows = len(index)
    trials = train_trials if data is None else data.trials
    if kind == "response" and train_trials is not None and trials is None:
        raise ArgumentError(
            f"kind='response' for new binomial data needs the trials: add the columns of "
            f"{design.response!r} to newdata, or use kind='mean'"
        )
    unseen: dict[str, np.ndarray] = {}
    data2 = getattr(fit.model, "data2", None)
    if data is not None and include_random:
        for blk in design.blocks:
            mask = data.codes[blk.name] < 0
            if mask.any():
                full = np.zeros((post.sizes["chain"] * post.sizes["draw"], n_rows, blk.q))
                full[:, mask] = _new_level_effects(
                    blk, post, data.labels[blk.name][mask], new_levels, rng, data2
                )
                unseen[blk.name] = full
    modelled = {p.name for p in design.dpars}  # per row, computed in the loop
    modelled |= set(design.fixed_params)  # (sigma under se(): kind="response" refused)
    adds = design.additions
    se_rows = None  # se(): the rows' known SDs enter sigma (brms's posterior_predict)
    if kind == "response" and adds is not None and adds.se is not None:
        se_rows = adds.se if newdata is None else new_se(adds, newdata)
    bounds = None  # trunc(): draws by rejection within the rows' bounds
    if kind == "response" and adds is not None and adds.lb is not None and adds.ub is not None:
        bounds = (adds.lb, adds.ub) if newdata is None else new_bounds(adds, newdata)
    params = {p: flat_draws(post, v)[None, :] for p, v in fam_vars.items() if p not in modelled}
    n_draws = post.sizes["chain"] * post.sizes["draw"]
    n_cat = len(design.categories)  # an ordinal model: probabilities per category
    if n_cat:
        params[names.THRESHOLDS] = flat_draws(post, names.THRESHOLDS)[None, :]
    labels = design.categories
    if design.categorical:  # categorical: per category (link: per predictor, mu2..muK)
        n_cat, labels = len(design.categorical), design.categorical
        if kind == "link":
            labels = tuple(p.name for p in design.dpars)
    # kind="mean" of a family whose mean is not linkinv(eta) (zero-inflated, hurdle: E[y])
    mean_params = (
        kind == "mean" and not n_cat and type(family).predict_mean is not Family.predict_mean
    )
    step = max(1, chunk_values // max(n_draws * max(n_cat, 1), 1))
    by_cat = kind == "mean" or (kind == "link" and bool(design.categorical))
    per_cat = (len(labels),) if n_cat and by_cat else ()
    if summary:
        width = n_cat if n_cat and kind == "response" else 4
        out = np.empty((n_rows, *per_cat, 4) if per_cat else (n_rows, width))
    else:
        out = np.empty((n_draws, n_rows, *per_cat))
    for start in range(0, n_rows, step):
        rows = slice(start, min(start + step, n_rows))
        part = _subset(design, data, rows)

        def effects(name: str, _draws: slice, rows: slice = rows) -> np.ndarray:
            return unseen[name][:, rows]

        if design.categorical:  # the categories' predictors (draws x rows each)
            etas = family_params(
                design,
                family,
                post,
                data=part,
                include_random=include_random,
                new_effects=effects if unseen else None,
            )
            value = _categorical_value(family, etas, kind, rng)
        else:
            eta = linear_predictor(
                design,
                post,
                part,
                include_random=include_random,
                new_effects=effects if unseen else None,
                training_rows=rows if data is None else None,
                dpar=dpar,
            )
            value = eta if kind == "link" else family.linkinv_np(eta)
        if per_cat and not design.categorical:  # draws x rows x K
            value = family.probabilities(value, {names.THRESHOLDS: params[names.THRESHOLDS][0]})
        if (
            (kind == "response" or mean_params)
            and design.dpars
            and design.mv is None
            and not design.categorical
        ):
            per_row = family_params(
                design,
                family,
                post,
                data=part,
                include_random=include_random,
                new_effects=effects if unseen else None,
            )
            params = {k: v.T if v.ndim == 2 else v[None, :] for k, v in per_row.items()}
        if mean_params:  # rows x draws, as for draws
            t = None if trials is None else trials[rows][:, None]
            value = family.predict_mean(np.ascontiguousarray(value.T), params, t).T
        if kind == "response" and not design.categorical:
            t = None if trials is None else trials[rows][:, None]
            # drawn in row order (rows x draws, C-contiguous) so any chunking gives the same draws
            draw_params = params
            if se_rows is not None and adds is not None:  # rows x 1 against rows x draws
                draw_params = dict(params)
                se = se_rows[rows][:, None]
                sigma = params["sigma"] if adds.se_sigma else 0.0
                draw_params["sigma"] = np.sqrt(np.square(sigma) + se**2)
            if bounds is None:
                value = family.draw(rng, np.ascontiguousarray(value.T), draw_params, t).T
            else:
                lb, ub = (b[rows][:, None] for b in bounds)
                m = np.ascontiguousarray(value.T)
                value = draw_truncated(family, rng, m, draw_params, t, lb, ub).T
        if summary and n_cat and kind == "response":  # brms: each category's frequency
            out[rows] = (value[..., None] == np.arange(1, n_cat + 1)).mean(0)
        elif summary:
            q = np.quantile(value, [0.025, 0.975], axis=0)
            stats = [value.mean(0), value.std(0, ddof=1), q[0], q[1]]
            out[rows] = np.stack(stats, axis=-1)
        else:
            out[:, rows] = value
    if summary:
        return _summary_frame(out, index, labels, kind, bool(design.categorical))
    return out


def _categorical_value(
    family: Any, etas: dict[str, np.ndarray], kind: Kind, rng: np.random.Generator
) -> np.ndarray:
    """A categorical model's predictions from its categories' predictors ``etas`` (draws x
    rows each): ``"link"`` the predictors (draws x rows x (K - 1)), ``"mean"`` the
    probabilities (draws x rows x K), ``"response"`` drawn categories 1..K (draws x rows,
    drawn in row order)."""
    if kind == "link":
        return np.stack(list(etas.values()), axis=-1)
    if kind == "mean":
        return np.asarray(family.probabilities(np.empty(0), etas))
    by_row = {k: np.ascontiguousarray(v.T) for k, v in etas.items()}
    return np.asarray(family.draw(rng, np.empty(0), by_row, None)).T


STATS = ["Estimate", "Est.Error", "Q2.5", "Q97.5"]


def _summary_frame(
    out: np.ndarray,
    index: pd.Index,
    categories: tuple[str, ...],
    kind: str,
    categorical: bool = False,
) -> pd.DataFrame:
    """The summary table: columns :data:`STATS`; an ordinal model's ``kind="mean"`` has
    columns (``P(Y = k)``, stat), its ``kind="response"`` one column of frequencies per
    category (brms's ``fitted``/``predict`` of an ordinal model), ``kind="link"`` STATS; a
    categorical model's ``kind="link"`` columns (``mu2``, stat), one per predictor."""
    if not categories or (kind == "link" and not categorical):
        return pd.DataFrame(out, index=index, columns=STATS)
    labels = [c if kind == "link" else f"P(Y = {c})" for c in categories]
    if kind == "response":
        return pd.DataFrame(out, index=index, columns=labels)
    columns = pd.MultiIndex.from_product([labels, STATS])
    return pd.DataFrame(out.reshape(len(index), -1), index=index, columns=columns)


def _subset(design: Design, data: NewData | None, rows: slice) -> NewData:
    """The rows ``rows`` of the training design or of ``data`` as a :class:`NewData`."""
    if data is None:
        return NewData(
            X=design.X[rows],
            Z={b.name: b.Z[rows] for b in design.blocks},
            codes={b.name: b.codes[rows] for b in design.blocks},
            offset=None if design.offset is None else design.offset[rows],
            index=design.index[rows],
            labels={
                b.name: np.asarray(b.levels, dtype=object)[b.codes[rows]] for b in design.blocks
            },
            dpar_X={p.name: p.X[rows] for p in design.dpars},
        )
    return NewData(
        X=data.X[rows],
        Z={k: v[rows] for k, v in data.Z.items()},
        codes={k: v[rows] for k, v in data.codes.items()},
        offset=None if data.offset is None else data.offset[rows],
        index=data.index[rows],
        labels={k: v[rows] for k, v in data.labels.items()},
        trials=None,
        dpar_X={k: v[rows] for k, v in data.dpar_X.items()},
    )
