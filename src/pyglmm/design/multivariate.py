"""The design of a multivariate model (brms's ``mvbind(y1, y2) ~ ...`` and ``bf() + bf()``).

Each response ``y_k`` has its own formula, built by :func:`~pyglmm.design.build.build_design`
on one common set of rows, and becomes a distributional part (:class:`DparPart`) named after
the response: its fixed part ``X_k`` (coefficients ``b_y1``, reported ``y1_Intercept``,
``y1_x``) and its blocks, renamed ``y1_<block>`` with terms ``y1_Intercept`` and
``dpar = "y1"``. The main part of the :class:`Design` is empty; ``Design.mv``
(:class:`MvPart`) holds the responses. Per row i and response k::

    eta_k[i] = X_k[i] b_k + sum_{blocks} sum_{j: column j feeds y_k} Z[i, j] r[codes[i], j]

brms's ``|ID|`` across responses (``(1 |p| g)`` in both formulas) merges the renamed blocks
into one correlated block over ``y1_Intercept`` and ``y2_Intercept``, exactly as across
distributional parameters (:mod:`pyglmm.design.ids`, ``REBlock.col_dpars``).

Rows: the common rows are those with no missing value in any predictor, grouping factor or
``me`` column of any formula (dropped and counted once, as a univariate model does). A missing
response then:

* with ``rescor`` (the responses' residuals correlated, one MvNormal per row): drops the row
  from the model, as brms requires complete rows; the warning counts the rows per response;
* without: leaves the row out of that response's likelihood only (``Y`` holds NaN there; the
  warning counts the rows per response). A row without any response is dropped.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import DesignError, UnsupportedModelError
from ..formula import ParsedFormula
from ..formula.additions import parse_response
from ..formula.text import variable_names
from .build import build_design, drop_aliased_columns
from .distributional import prefixed_blocks
from .frame import as_frame, check_columns, drop_missing_rows
from .ids import merge_id_blocks_named_by_group
from .records import Design, DparPart, MvPart, REBlock


def build_mv_design(
    responses: Sequence[str],
    formulas: Sequence[ParsedFormula],
    data: pd.DataFrame,
    families: Sequence[Any],
    rescor: bool,
    text: str,
    missing: Literal["drop", "raise"] = "drop",
    data2: Mapping[str, Any] | None = None,
) -> Design:
    """The design of a multivariate model: ``responses`` (brms's names) with their parsed
    ``formulas`` and ``families`` (see the module docstring)."""
    data = as_frame(data)
    resp_vars = [variable_names(f.response) for f in formulas]
    own = [set(v) for v in resp_vars]
    predictors = list(
        dict.fromkeys(
            v for f, o in zip(formulas, own, strict=True) for v in f.variables() if v not in o
        )
    )
    every = list(dict.fromkeys([*predictors, *(v for vs in resp_vars for v in vs)]))
    check_columns(every, data)
    for f, resp in zip(formulas, responses, strict=True):
        if f.me:
            raise DesignError(
                f"response {resp!r}: me() terms are not available in multivariate models"
            )
        extra = [n for n in parse_response(f.response).names if n != "trials"]
        if extra:  # brms's weights/se/rate/cens/trunc per response: not here yet
            raise DesignError(
                f"response {resp!r}: the addition term {extra[0]}() is not available in "
                "multivariate models yet"
            )
    data, n_dropped = drop_missing_rows(data, predictors, missing, stacklevel=3)
    absent = np.column_stack([data[vs].isna().to_numpy().any(axis=1) for vs in resp_vars])  # n x R
    counts = {r: int(absent[:, k].sum()) for k, r in enumerate(responses)}
    if absent.any():
        if missing == "raise":
            raise DesignError(
                f"missing responses: {_counts(counts)} (use missing='drop' to drop them)"
            )
        drop = np.asarray(absent.any(axis=1) if rescor else absent.all(axis=1))
        if drop.all():
            raise DesignError(f"empty data: no row has {'every' if rescor else 'any'} response")
        if rescor:
            msg = (
                f"dropped {int(drop.sum())} of {len(drop)} rows with a missing response "
                f"({_counts(counts)}): with rescor every response of a row is needed"
            )
        else:
            msg = (
                f"rows with a missing response are left out of that response's likelihood "
                f"only ({_counts(counts)})"
                + (f"; {int(drop.sum())} rows without any response dropped" if drop.any() else "")
            )
        warnings.warn(msg, UserWarning, stacklevel=3)
        n_dropped += int(drop.sum())
        keep = np.flatnonzero(~drop)
        data, absent = data.iloc[keep], absent[keep]
    filled = data.copy()
    for vs in resp_vars:  # a placeholder where a response is missing (never in a likelihood)
        for v in vs:
            col = filled[v]
            if col.isna().any():
                filled[v] = col.fillna(col.dropna().iloc[0])
    parts: list[DparPart] = []
    blocks: list[REBlock] = []
    ys: list[np.ndarray] = []
    trials: list[np.ndarray | None] = []
    for resp, f in zip(responses, formulas, strict=True):
        if f.smooths:
            raise UnsupportedModelError(
                f"smooth terms (s()) in a multivariate model (response {resp!r}) are not "
                "supported yet"
            )
        d = drop_aliased_columns(build_design(f, filled, missing="raise", data2=data2))
        if d.offset is not None:
            raise DesignError(
                f"response {resp!r}: offsets are not available in multivariate models"
            )
        parts.append(DparPart(resp, f, d.X, d.x_names, d.x_design_info, d.x_order))
        blocks += prefixed_blocks(d.blocks, resp)
        ys.append(np.asarray(d.y, dtype=float))
        trials.append(d.trials)
    Y = np.column_stack(ys)
    Y[absent] = np.nan
    n_missing = tuple(int(absent[:, k].sum()) for k in range(len(responses)))
    main_formula = replace(formulas[0], fixed="0", random=(), me=(), formula=text)
    main = build_design(main_formula, filled, missing="raise")
    mv = MvPart(
        tuple(responses),
        tuple(f.response for f in formulas),
        Y,
        tuple(families),
        rescor,
        tuple(trials),
        n_missing,
        text,
    )
    merged = merge_id_blocks_named_by_group(blocks)
    return replace(
        main,
        y=Y[:, 0],
        blocks=merged,
        dpars=tuple(parts),
        n_dropped=n_dropped,
        mv=mv,
    )


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{r}: {n}" for r, n in counts.items() if n)
