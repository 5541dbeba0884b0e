"""Checks of the numbers a user gives ``simulate``/``recover`` as ``params`` (shared by the
univariate and the multivariate paths, :mod:`.prior_draws` and :mod:`.simulation_mv`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ArgumentError


def number(value: Any, where: str) -> float:
    """``value`` as a finite float; :class:`ArgumentError` naming ``params<where>`` if not."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ArgumentError(f"params{where} must be a number, got {value!r}") from None
    if not np.isfinite(out):
        raise ArgumentError(f"params{where} must be finite, got {value!r}")
    return out


def family_value(params: Mapping[str, Any], name: str, family: Any, param: str) -> float:
    """``params[name]``, the family parameter ``param`` of ``family`` (``sigma_y1`` is
    ``sigma`` of y1's family): present, a finite number, > 0 if the family's parameter is
    positive, in [0, 1] if it is a probability."""
    if name not in params:
        raise ArgumentError(f"params is missing the family parameter {name!r}")
    v = number(params[name], f"[{name!r}]")
    if v <= 0 and param in family.positive_params:
        raise ArgumentError(f"params[{name!r}] must be > 0, got {v}")
    if not 0 <= v <= 1 and param in family.unit_params:
        raise ArgumentError(f"params[{name!r}] is a probability: it must lie in [0, 1], got {v}")
    return v
