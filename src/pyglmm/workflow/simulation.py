"""Simulate data sets from a model's own design (``model.simulate``, ``pg.simulate``), at given
parameter values or at draws from the prior (:mod:`pyglmm.workflow.prior_draws` reads both).

For one parameter set the simulation is ``r_k = z_k L_k'`` with ``z ~ N(0, 1)`` (levels x q)
and ``L_k`` the Cholesky factor of ``diag(sd) cor diag(sd)`` (``BlockKind.cholesky``; for
``ar1``/``cs`` blocks ``cor`` is ``rho^|i-j|`` / compound symmetry); a block with a known
covariance among its levels (``gr(g, cov = A)``) has ``r_k = (L_A z_k) L_k'``, so
``vec(r_k) ~ N(0, Sigma_k (x) A)``, and with ``kron(U, V)`` ``L_A z`` is ``L_U Z L_V'`` per
term (:meth:`~pyglmm.design.levelcov.LevelCovariance.left_multiply`);
``eta = X b + offset + sum_k Z_k r_k`` (:func:`pyglmm.posterior.design_eta`),
``mu = linkinv(eta)``, ``y ~ family(mu, theta)`` (``Family.draw``). A distributional parameter
with a formula (``pg.bf``) varies by row, ``theta_i = dpar_linkinv(X^theta_i b^theta + sum_k
Z_k r_k)`` over its own blocks (``sigma_<block>``, drawn as any block), and ``Family.draw`` takes
it per row (draws x rows) in place of one value. The simulated response is
written into a copy of the data (so it must be a bare column, or ``cbind``/``trials`` of bare
columns), with the effects in ``df.attrs["ranef"]`` (per grouping factor, as ``ranef()``) and the
parameters in ``df.attrs["params"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..design.grouping import columns_by_group
from ..design.response import response_parts
from ..errors import ArgumentError
from ..families.additions import censor, draw_truncated
from ..formula import variable_names
from ..posterior import design_eta
from ..results.params import ParamDraws
from ..spec import ModelSpec
from .prior_draws import draw_prior, params_from_dict
from .simulation_mv import draw_mv_responses

if TYPE_CHECKING:
    from ..design import Design


def draw_effects(
    design: Design, pd_: ParamDraws, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Random effects per block: (S, levels, q) with covariance diag(sd) cor diag(sd)
    across terms, and ``K`` across levels for a known covariance (module docstring)."""
    out: dict[str, np.ndarray] = {}
    for blk in design.blocks:
        sd, cor = pd_.sd[blk.name], pd_.cor[blk.name]
        chol = blk.covariance.cholesky(sd, cor)
        z = rng.standard_normal((pd_.n_draws, blk.n_levels, blk.q))
        if blk.level_cov is not None:  # L_K z, every draw and term at once
            cols = z.transpose(1, 0, 2).reshape(blk.n_levels, -1)
            lz = np.asarray(blk.level_cov.left_multiply(cols))
            z = lz.reshape(blk.n_levels, pd_.n_draws, blk.q).transpose(1, 0, 2)
        out[blk.name] = np.einsum("sqk,slk->slq", chol, z)
    return out


def draw_responses(
    model: ModelSpec, pd_: ParamDraws, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulated responses (S x n; a multivariate model's S x n x K) and the effects drawn
    for them."""
    design, family = model.design, model.family
    effects = draw_effects(design, pd_, rng)
    if design.mv is not None:
        return draw_mv_responses(design, pd_, effects, rng), effects
    eta = design_eta(design, pd_.b, effects)
    params = dict(pd_.family)
    with np.errstate(over="ignore"):
        mu = family.linkinv_np(eta)
        for part in design.dpars:  # a row-varying parameter: (S, n) through its link
            eta_d = design_eta(design, pd_.dpar_b[part.name], effects, dpar=part.name)
            params[part.name] = family.dpar_linkinv_np(part.name, eta_d)
    trials = None if design.trials is None else design.trials[None, :]
    adds = getattr(design, "additions", None)
    if adds is not None and adds.se is not None:  # se(s): y ~ N(mu, sqrt(sigma^2 + s_i^2))
        sigma = np.asarray(params["sigma"], dtype=float) if adds.se_sigma else np.zeros(1)
        sigma = sigma.reshape(-1, 1) if sigma.ndim == 1 else sigma
        params["sigma"] = np.sqrt(sigma**2 + np.asarray(adds.se, dtype=float)[None, :] ** 2)
    try:
        if adds is not None and adds.lb is not None and adds.ub is not None:  # trunc()
            y = draw_truncated(family, rng, mu, params, trials, adds.lb, adds.ub)
        else:
            y = family.draw(rng, mu, params, trials)
    except ValueError as err:
        raise ArgumentError(
            f"cannot draw {family.name} responses (means up to {np.nanmax(mu):.3g}): {err}; "
            "the parameters (or priors) imply extreme values"
        ) from None
    return np.asarray(y, dtype=float), effects


def apply_censoring(design: Design, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Simulated responses (S x n) censored as the data's rows are (cens(): the data's
    response is each row's bound, :func:`~pyglmm.families.additions.censor`), with the new
    censoring codes (S x n); ``(y, None)`` without cens()."""
    adds = getattr(design, "additions", None)
    if adds is None or adds.cens is None:
        return y, None
    return censor(y, adds.cens, np.asarray(design.y, dtype=float), adds.y2)


def _censoring_column(base: pd.DataFrame, text: str, codes: np.ndarray) -> Any:
    """The cens() column of simulated rows, coded as the data's: logicals (right censored),
    numbers -1/0/1/2, or the words "left"/"none"/"right"/"interval"."""
    if not text.isidentifier() or text not in base.columns:
        raise ArgumentError(
            f"simulate() writes the simulated censoring into the data, so cens() must name a "
            f"column; {text!r} is an expression: create the column first"
        )
    column = base[text]
    if pd.api.types.is_bool_dtype(column):
        return codes == 1
    if pd.api.types.is_numeric_dtype(column):
        return pd.Series(codes, index=base.index).astype(column.dtype)
    words = np.array(["left", "none", "right", "interval"], dtype=object)
    return words[codes + 1]


def _response_columns(
    design: Design, text: str | None = None
) -> tuple[str, str | None, str | None]:
    """(successes/response column, failures column or None, trials column or None) of the
    response ``text`` (default: the design's), or an ArgumentError when the response is not a
    bare column."""
    text = design.response if text is None else text
    y_text, failures_text, trials_text = response_parts(text)
    head = y_text.strip()
    failures = None if failures_text is None else failures_text.strip()
    trials_col = None if trials_text is None else trials_text.strip()
    for part in (head, failures):
        if part is not None and (not part.isidentifier() or variable_names(part) != [part]):
            raise ArgumentError(
                f"simulate() writes the simulated response into the data, so the response must "
                f"be a bare column (or cbind(s, f) / s | trials(n) of bare columns); "
                f"{text!r} is a transformation: create the transformed column first "
                f"(e.g. df['log_y'] = np.log(df['y'])) and use it in the formula"
            )
    return head, failures, trials_col


class RanefFrames(dict):  # type: ignore[type-arg]
    """``df.attrs["ranef"]``: group -> DataFrame. A dict whose ``==`` compares the frames with
    ``DataFrame.equals``, so pandas can compare attrs (``pd.concat`` of simulated data sets)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping) or set(self) != set(other):
            return False
        return all(
            isinstance(other[k], pd.DataFrame) and v.equals(other[k]) for k, v in self.items()
        )

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]


def model_data(model: ModelSpec, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows of the model's data the design uses (``data`` overrides ``model.data``)."""
    if data is None:
        data = getattr(model, "data", None)
    if data is None:
        raise ArgumentError(
            "this Model does not keep its data (model.data); pass data= (the DataFrame the "
            "model was built from)"
        )
    index = model.design.index
    if len(data) == len(index) and data.index.equals(index):
        return data
    if not data.index.is_unique:
        raise ArgumentError("the model's data has a non-unique index and rows were dropped")
    return data.loc[index]


def _frame(
    model: ModelSpec,
    base: pd.DataFrame,
    y: np.ndarray,
    pd_: ParamDraws,
    effects: dict[str, np.ndarray],
    codes: np.ndarray | None = None,
) -> pd.DataFrame:
    """The simulated data set: ``base`` with the response ``y`` (and with ``codes``, the
    censoring codes of cens(), the cens() column)."""
    design = model.design
    df = base.copy()
    df.attrs = {}
    if design.mv is not None:  # one column per response (y: n x K)
        for k, text in enumerate(design.mv.texts):
            head, failures, _ = _response_columns(design, text)
            col, trials = y[:, k], design.mv.trials[k]
            discrete = design.mv.families[k].discrete and not np.isnan(col).any()
            df[head] = col.astype(np.int64) if discrete else col
            if failures is not None and trials is not None:  # cbind(s, f): f = n - s
                df[failures] = trials - col if np.isnan(col).any() else (trials - col).astype(int)
        return _with_attrs(df, design, pd_, effects)
    head, failures, _ = _response_columns(design)
    values = y.astype(np.int64) if model.family.discrete else y
    df[head] = values
    if codes is not None and design.additions is not None:
        text = design.additions.cens_text
        df[text] = _censoring_column(base, text, codes)
    dtype = base[head].dtype
    if design.categories and isinstance(dtype, pd.CategoricalDtype):  # ordinal: codes 1..K
        df[head] = pd.Categorical.from_codes(np.asarray(values, dtype=np.int64) - 1, dtype=dtype)
    if design.categorical:  # categorical: codes 1..K of the observed categories, by name
        values = np.asarray(values, dtype=np.int64)
        named = np.asarray(design.categorical, dtype=object)[values - 1]
        if isinstance(dtype, pd.CategoricalDtype):  # the same dtype (unused categories kept)
            where = [list(map(str, dtype.categories)).index(c) for c in design.categorical]
            df[head] = pd.Categorical.from_codes(np.asarray(where)[values - 1], dtype=dtype)
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            df[head] = named.astype(np.int64)
        else:
            df[head] = named
    if failures is not None and design.trials is not None:  # cbind(s, f): f = n - s
        df[failures] = (design.trials - y).astype(np.int64)
    return _with_attrs(df, design, pd_, effects)


def _with_attrs(
    df: pd.DataFrame, design: Design, pd_: ParamDraws, effects: dict[str, np.ndarray]
) -> pd.DataFrame:
    """``df`` with the drawn effects (``attrs["ranef"]``) and parameters (``attrs["params"]``)."""
    ranef = RanefFrames()
    first = {name: r[0] for name, r in effects.items()}  # the one simulated draw
    for group, (levels, cols) in columns_by_group(design.blocks, first).items():
        ranef[group] = pd.DataFrame(cols, index=pd.Index(levels, name="level"))
    df.attrs["ranef"] = ranef
    df.attrs["params"] = pd_.nested(design)
    return df


def simulate(
    model: ModelSpec,
    params: Mapping[str, Any] | None = None,
    n: int = 1,
    seed: Any = None,
    data: pd.DataFrame | None = None,
) -> list[pd.DataFrame] | pd.DataFrame:
    """Simulated data sets from the model's own design (``model.simulate``).

    ``params``: the nested dict of the module docstring, or None to draw the parameters from
    the model's priors (a new draw per data set). Returns the rows of the data the design used
    with the response column replaced by simulated values (``cbind(s, f)``: both columns;
    ``s | trials(n)``: ``s``), with ``df.attrs["ranef"]`` (group -> DataFrame levels x terms of
    the drawn effects) and ``df.attrs["params"]`` (the parameters used, nested format, sd/cor
    keyed by block name). ``n > 1`` gives a list. ``data`` defaults to ``model.data``.
    """
    if n < 1:
        raise ArgumentError(f"n must be >= 1, got {n}")
    mv = model.design.mv
    for text in (model.design.response,) if mv is None else mv.texts:
        _response_columns(model.design, text)  # fail early on a transformed response
    base = model_data(model, data)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if params is None:
        draws = draw_prior(model, n, rng)
    else:
        one = params_from_dict(model, params)
        draws = ParamDraws(
            np.repeat(one.b, n, axis=0),
            {k: np.repeat(v, n, axis=0) for k, v in one.sd.items()},
            {k: np.repeat(v, n, axis=0) for k, v in one.cor.items()},
            {k: np.repeat(v, n, axis=0) for k, v in one.family.items()},
            {k: np.repeat(v, n, axis=0) for k, v in one.dpar_b.items()},
        )
    out = []
    for s in range(n):
        this = draws.draw(s)
        y, effects = draw_responses(model, this, rng)
        y, codes = apply_censoring(model.design, y)
        out.append(_frame(model, base, y[0], this, effects, None if codes is None else codes[0]))
    return out[0] if n == 1 else out


def prior_predictive(model: ModelSpec, draws: int = 500, seed: Any = None) -> np.ndarray:
    """Prior-predictive responses, draws x n (``model.prior_predictive()``; a multivariate
    model's draws x n x K): parameters and random effects drawn from the priors, responses
    from the family."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    params = draw_prior(model, draws, rng)
    y, _ = draw_responses(model, params, rng)
    return apply_censoring(model.design, y)[0]
