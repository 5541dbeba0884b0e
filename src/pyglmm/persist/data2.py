"""The known matrices of ``gr(g, cov = A)`` / ``kron(U, V)`` blocks in a saved fit (``data2``).

Each matrix a block's ``cov =`` names is stored whole (also its levels without data, which
``predict(newdata)`` conditions on) as one variable ``data2_<k>`` (dims ``data2_<k>_row``,
``data2_<k>_col``), and, when it was given as a labelled DataFrame, its level labels as
``data2_<k>_levels`` (encoded as a data column, so integer or string labels come back with
their dtype). The attribute ``data2`` (JSON) lists ``{"name", "var", "levels"}`` per matrix
(``levels``: the label column's spec, or null for an unlabelled array).

A model built without its ``data2`` (a fit loaded from a file of format version 1) stores the
matrices its blocks hold: ``L L'`` of their factors over the levels of the data, labelled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..design import Design
from .frame import _decode_values, _encode_values

ATTR = "data2"


def _used_matrices(model: Any, design: Design) -> dict[str, tuple[np.ndarray, pd.Index | None]]:
    """name -> (values, level labels or None) of every matrix the design's blocks name."""
    given: Mapping[str, Any] = getattr(model, "data2", None) or {}
    out: dict[str, tuple[np.ndarray, pd.Index | None]] = {}
    for blk in design.blocks:
        cov = blk.level_cov
        if cov is None:
            continue
        for k, name in enumerate(cov.names):
            if name in out:
                continue
            if name in given:
                matrix = given[name]
                labels = matrix.index if isinstance(matrix, pd.DataFrame) else None
                out[name] = (np.asarray(matrix, dtype=float), labels)
            else:  # only the factor over the data's levels is known
                factor = cov.factors[k]
                out[name] = (factor @ factor.T, pd.Index(list(cov.levels[k])))
    return out


def encode_data2(model: Any, design: Design) -> tuple[dict[str, Any], str | None]:
    """(variables for the ``pyglmm`` group, the ``data2`` attribute) of the design's known
    matrices; no variables and None when it has none."""
    variables: dict[str, Any] = {}
    specs = []
    for k, (name, (values, labels)) in enumerate(_used_matrices(model, design).items()):
        var = f"data2_{k}"
        variables[var] = ((f"{var}_row", f"{var}_col"), values)
        entry: dict[str, Any] = {"name": name, "var": var, "levels": None}
        if labels is not None:
            arrays, spec = _encode_values(
                pd.Series(labels.to_numpy()), f"{var}_levels", f"the levels of data2[{name!r}]"
            )
            variables |= {v: (f"{var}_row", a) for v, a in arrays.items()}
            entry["levels"] = spec
        specs.append(entry)
    return variables, (json.dumps(specs) if specs else None)


def decode_data2(meta: xr.Dataset, attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored ``data2`` (DataFrames labelled by level, or arrays), or None."""
    if ATTR not in attrs:
        return None
    out: dict[str, Any] = {}
    for entry in json.loads(attrs[ATTR]):
        values = np.asarray(meta[entry["var"]].values, dtype=float)
        if entry["levels"] is None:
            out[entry["name"]] = values
        else:
            labels = pd.Index(_decode_values(entry["levels"], meta))
            out[entry["name"]] = pd.DataFrame(values, index=labels, columns=labels)
    return out
