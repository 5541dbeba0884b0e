"""The program listing ``Model.code()`` prints, and the statements that write to it.

Each builder issues a PyMC statement and, through a :class:`_Code`, the line of Python that
states it; the lines are the model's readable program.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..priors import Prior


class _Code:
    """Collects the PyMC statements as they are issued, for ``Model.code()``."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


def _stacked(name: str, priors: list[Prior], dims: str, code: _Code) -> Any:
    """One vector random variable over ``dims`` with per-element prior parameters; when the
    elements' distributions differ, one scalar variable each, stacked into a Deterministic."""
    dists = {p.dist for p in priors}
    if len(dists) == 1:
        params = {k: np.array([p.params[k] for p in priors]) for k in priors[0].params}
        dist = priors[0].dist
        code(f"{name} = pm.{dist}({name!r}, {_kw(params)}, dims={dims!r})")
        return getattr(pm, dist)(name, dims=dims, **params)
    parts = []
    for i, p in enumerate(priors):
        code(f"{name}_{i} = {p.code(f'{name}_{i}')}")
        parts.append(p.rv(f"{name}_{i}"))
    code(f"{name} = pm.Deterministic({name!r}, pt.stack([...]), dims={dims!r})")
    return pm.Deterministic(name, pt.stack(parts), dims=dims)


def _kw(params: Mapping[str, Any]) -> str:
    def show(v: Any) -> str:
        arr = np.atleast_1d(v)
        if arr.size > 1 and np.all(arr == arr[0]):
            return f"{float(arr[0]):.4g}"
        return "[" + ", ".join(f"{x:.4g}" for x in arr) + "]" if arr.size > 1 else f"{arr[0]:.4g}"

    return ", ".join(f"{k}={show(v)}" for k, v in params.items())
