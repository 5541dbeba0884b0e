"""Helpers of the design stage: R-compatible stateful transforms, the patsy evaluation
environment, and integer coding of grouping factors (no dense indicator matrices)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import patsy
from patsy.builtins import I

__all__ = ["center", "eval_env", "group_codes", "level_names", "scale"]


class _Scale:
    """R's ``scale(x, center=TRUE, scale=TRUE)``: mean and SD with ``ddof=1``, memorized on
    the training data. ``scale=True`` without centering divides by the root mean square
    ``sqrt(sum(x^2) / (n - 1))``, as R does."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self._center = self._scale = True
        self.mean: np.ndarray | float = 0.0
        self.sd: np.ndarray | float = 1.0

    def memorize_chunk(self, x: Any, center: bool = True, scale: bool = True) -> None:
        self._chunks.append(np.asarray(x, dtype=float))
        self._center, self._scale = bool(center), bool(scale)

    def memorize_finish(self) -> None:
        x = np.concatenate(self._chunks, axis=0)
        self._chunks = []
        self.mean = x.mean(axis=0) if self._center else 0.0
        if self._scale:
            dev = x - self.mean
            self.sd = np.sqrt((dev * dev).sum(axis=0) / (x.shape[0] - 1))
            if np.any(~(np.asarray(self.sd) > 0)):
                raise ValueError("scale(): the variable is constant (standard deviation 0)")

    def transform(self, x: Any, center: bool = True, scale: bool = True) -> np.ndarray:
        return (np.asarray(x, dtype=float) - self.mean) / self.sd


class _Center(_Scale):
    """``center(x)``: subtract the training mean."""

    def memorize_chunk(self, x: Any) -> None:  # type: ignore[override]
        super().memorize_chunk(x, center=True, scale=False)

    def transform(self, x: Any) -> np.ndarray:  # type: ignore[override]
        return np.asarray(x, dtype=float) - self.mean


scale = patsy.stateful_transform(_Scale)
center = patsy.stateful_transform(_Center)


def eval_env() -> patsy.EvalEnvironment:
    """The namespace formulas are evaluated in (no caller locals): ``np``, R's ``scale``/
    ``center``, ``log``/``exp``/``sqrt``; patsy adds ``C``, ``I``, ``Q``, contrasts."""
    return patsy.EvalEnvironment(
        [
            {
                "np": np,
                "numpy": np,
                "scale": scale,
                "center": center,
                "standardize": patsy.standardize,
                "log": np.log,
                "exp": np.exp,
                "sqrt": np.sqrt,
                "I": I,
            }
        ]
    )


def level_names(values: Any) -> list[str]:
    """Display names of group levels: integral floats print as ints (``308.0`` -> ``"308"``)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return [str(int(v)) for v in arr]
    return [str(v) for v in arr]


def _factorize(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes over observed levels in natural order (numeric, categorical order, or sorted)."""
    try:
        codes, uniques = pd.factorize(col, sort=True)
    except TypeError:  # mixed types in an object column
        codes, uniques = pd.factorize(col.astype(str), sort=True)
    names = level_names(uniques)
    if len(set(names)) < len(names):  # distinct values printing alike: merge them
        uniq = list(dict.fromkeys(names))
        codes = pd.Index(uniq).get_indexer(pd.Index(names))[codes]
        names = uniq
    return np.asarray(codes, dtype=np.int64), names


GroupCache = dict[tuple[str, ...], tuple[np.ndarray, list[str]]]


def group_codes(
    frame: pd.DataFrame, group: Sequence[str], cache: GroupCache | None = None
) -> tuple[np.ndarray, list[str]]:
    """Integer codes (int64, n) of the observed levels of ``group`` (``a:b`` when several
    columns; combinations ordered by ``a`` then ``b``) and the level names joined by ``:``.

    ``cache`` (a dict kept across calls on the same ``frame``) holds the codes of every group
    and prefix computed so far: ``a:b:c`` then starts from the codes of ``a:b``, so the K blocks
    of ``(1 | g1/.../gK)`` cost K factorizations instead of K^2/2.
    """
    group = tuple(group)
    cache = {} if cache is None else cache
    start = len(group)
    while start > 0 and group[:start] not in cache:
        start -= 1
    if start == 0:
        cache[group[:1]] = _factorize(frame[group[0]])
        start = 1
    codes, names = cache[group[:start]]
    for k in range(start, len(group)):
        col = group[k]
        single = (col,)
        if single not in cache:
            cache[single] = _factorize(frame[col])
        nxt, nxt_names = cache[single]
        m = len(nxt_names)
        combined = codes * m + nxt
        new_codes, uniq = pd.factorize(combined, sort=True)
        uniq = np.asarray(uniq, dtype=np.int64)
        names = [f"{names[u // m]}:{nxt_names[u % m]}" for u in uniq.tolist()]
        codes = np.asarray(new_codes, dtype=np.int64)
        cache[group[: k + 1]] = (codes, names)
    return codes.copy(), list(names)  # the caller's own, the cache's stay intact
