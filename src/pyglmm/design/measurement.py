"""The data of brms's measurement-error terms ``me(x, sdx)`` (:mod:`pyglmm.formula.measurement`).

For K terms ``me(x_k, sdx_k)`` and rows ``i``, the model (:mod:`pyglmm.compile.measurement`)
has latent true values ``Xl[i, k]`` with

    x[i, k]  ~ N(Xl[i, k], sdx[i, k])                 (the observed values, sdx known)
    Xl[i, :] ~ N(meanme, diag(sdme) C diag(sdme))     (C = I with mecor=False)

and the fixed part uses ``Xl`` where the formula has ``me(...)``. A fixed-effect column is a
product of factors, so a column whose term has the placeholders ``P`` of some me() terms is

    X[:, j] = base_j * prod_{k in P} Xl[:, k]

where ``base_j`` is the column evaluated with every placeholder set to 1 (``me(x1, sd1):z``:
``base = z``; ``me(x1, sd1)``: ``base = 1``). The design keeps ``X`` at the observed values
(what new data get: ``predict(newdata)`` treats their observed ``x`` as the true values) and
this record the pieces to replace it: :class:`MeasurementError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError
from ..formula import MeTerm
from .frame import rebuild_columns


@dataclass(frozen=True, eq=False)
class MeColumn:
    """A fixed-effect column built from latent values: ``X[:, coef] = base * prod Xl[:, terms]``."""

    coef: str
    terms: tuple[int, ...]
    base: np.ndarray


@dataclass(frozen=True, eq=False)
class MeasurementError:
    """The me() terms of a design: ``x``/``sdx`` (n, K) the observed values and their known
    SDs, ``columns`` the fixed-effect columns that use latent values, ``mecor`` whether the
    latent values are correlated (brms's ``set_mecor``, default True)."""

    terms: tuple[MeTerm, ...]
    x: np.ndarray
    sdx: np.ndarray
    columns: tuple[MeColumn, ...]
    mecor: bool = True

    @property
    def names(self) -> tuple[str, ...]:
        """The latent variables' names, ``mex1``, ... (brms's ``meanme_mex1``)."""
        return tuple(t.name for t in self.terms)

    @property
    def correlated(self) -> bool:
        return self.mecor and len(self.terms) > 1

    def cor_pairs(self) -> tuple[tuple[int, int], ...]:
        """The reported correlations ``corme__a__b`` (none when uncorrelated)."""
        k = len(self.terms)
        return tuple((a, b) for a in range(k) for b in range(a + 1, k)) if self.correlated else ()

    def subset(self, rows: slice) -> MeasurementError:
        """The record of the rows ``rows`` only."""
        columns = tuple(MeColumn(c.coef, c.terms, c.base[rows]) for c in self.columns)
        return MeasurementError(self.terms, self.x[rows], self.sdx[rows], columns, self.mecor)

    def column_values(self, latent: np.ndarray, x_names: tuple[str, ...]) -> dict[int, Any]:
        """``{column index: values}`` of the latent columns for ``latent`` (..., n, K)."""
        out: dict[int, Any] = {}
        for col in self.columns:
            if col.coef not in x_names:  # dropped as aliased
                continue
            value: Any = col.base
            for k in col.terms:
                value = value * latent[..., k]
            out[x_names.index(col.coef)] = value
        return out


def add_placeholders(frame: pd.DataFrame, terms: tuple[MeTerm, ...], data: Any) -> pd.DataFrame:
    """``frame`` with a column per me() placeholder holding its observed ``x`` (numeric;
    :class:`DesignError` when it is not, or when the data have a column of that name)."""
    if not terms:
        return frame
    frame = frame.copy()
    for t in terms:
        if t.coef in getattr(data, "columns", ()):
            raise DesignError(
                f"me({t.x}, {t.sdx}) names its coefficient {t.coef!r}, which is also a column "
                "of the data; rename that column"
            )
        frame[t.coef] = _numeric(frame[t.x], t.x, t)
    return frame


def _numeric(col: pd.Series, name: str, t: MeTerm) -> np.ndarray:
    if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        raise DesignError(
            f"me({t.x}, {t.sdx}): column {name!r} must be numeric, got dtype {col.dtype}"
        )
    return col.to_numpy(dtype=float)


def build_measurement(
    terms: tuple[MeTerm, ...],
    frame: pd.DataFrame,
    x_info: Any,
    x_order: np.ndarray,
    x_names: tuple[str, ...],
    mecor: bool = True,
) -> MeasurementError | None:
    """The :class:`MeasurementError` of the fixed part (``x_info``: its patsy design info,
    ``x_order``: the column order of ``X``), or None without me() terms. ``sdx`` must be
    finite and positive (:class:`DesignError` naming the column and a row)."""
    if not terms:
        return None
    x = np.column_stack([_numeric(frame[t.x], t.x, t) for t in terms])
    sdx = np.column_stack([_numeric(frame[t.sdx], t.sdx, t) for t in terms])
    for k, t in enumerate(terms):
        bad = np.flatnonzero(~(np.isfinite(sdx[:, k]) & (sdx[:, k] > 0)))
        if bad.size:
            raise DesignError(
                f"me({t.x}, {t.sdx}): the measurement SDs {t.sdx!r} must be finite and "
                f"positive; {bad.size} row(s) are not (first: row {frame.index[bad[0]]!r}, "
                f"value {sdx[bad[0], k]!r})"
            )
    ones = frame.copy()
    for t in terms:
        ones[t.coef] = 1.0
    base = rebuild_columns(x_info, ones, "fixed effects")[:, x_order]
    position = {j: i for i, j in enumerate(np.asarray(x_order).tolist())}
    coef_index = {t.coef: k for k, t in enumerate(terms)}
    columns = []
    for term, sl in x_info.term_slices.items():
        uses = tuple(coef_index[f.name()] for f in term.factors if f.name() in coef_index)
        if not uses:
            continue
        for j in range(sl.start, sl.stop):
            at = position[j]
            columns.append(MeColumn(x_names[at], uses, base[:, at].copy()))
    return MeasurementError(tuple(terms), x, sdx, tuple(columns), bool(mecor))
