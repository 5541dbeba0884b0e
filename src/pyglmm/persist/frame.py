"""The model's data in the ``pyglmm`` group (``data=True``), and back.

Each DataFrame column and index level becomes one netCDF-friendly array (plus a ``<var>_na``
mask where values are missing) and a JSON spec that restores its dtype: see
:mod:`pyglmm.persist` for the encodings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import FitFileError


def _model_frame(model: Any) -> pd.DataFrame:
    """The model's data columns that the formula uses, all rows, in the DataFrame's order."""
    data = getattr(model, "data", None)
    if data is None:
        raise ValueError(
            "this fit's model keeps no data (model.data is None, e.g. a fit loaded from a file "
            "saved with data=False); save it with data=False"
        )
    frame = pd.DataFrame(data) if not isinstance(data, pd.DataFrame) else data
    used = set(model.formula.variables())
    for part in model.design.dpars:  # the distributional formulas' columns (pg.bf)
        used |= set(part.formula.variables())
    cols = [c for c in frame.columns if c in used]
    return frame.loc[:, cols]


def _json_scalar(value: Any, what: str) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, str):
        return str(value)
    raise ValueError(
        f"cannot save {what}: value {value!r} of type {type(value).__name__} (categories and "
        "names must be strings or numbers); convert it, or save with data=False"
    )


def _encode_values(
    values: pd.Series, var: str, name: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays (one ``var``, maybe a ``var_na`` mask) and the JSON spec that restores them."""
    what = f"column {name!r}"
    dtype = values.dtype
    out: dict[str, np.ndarray] = {}
    spec: dict[str, Any] = {"var": var}
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        spec |= {
            "kind": "categorical",
            "categories": [_json_scalar(c, f"the categories of {what}") for c in cats],
            "categories_dtype": str(cats.dtype),
            "ordered": bool(dtype.ordered),
        }
        out[var] = np.asarray(values.cat.codes.to_numpy())
    elif isinstance(dtype, pd.StringDtype) or dtype == np.dtype(object):
        raw = values.to_numpy(dtype=object)
        mask = np.asarray(pd.isna(raw), dtype=bool)
        present = raw[~mask]
        if not all(isinstance(v, str) for v in present):
            kinds = sorted({type(v).__name__ for v in present})
            raise ValueError(
                f"cannot save {what}: an object column holding {', '.join(kinds)}; only "
                "strings are stored (convert it, e.g. df[col].astype(str) or a Categorical, "
                "or save with data=False)"
            )
        text = np.where(mask, "", raw).astype(str)
        spec |= {"kind": "string", "dtype": str(dtype)}
        out[var] = text if text.dtype.itemsize else text.astype("<U1")
        if mask.any():
            out[f"{var}_na"] = mask.astype(np.uint8)
    elif isinstance(dtype, np.dtype):
        arr = values.to_numpy()
        spec |= {"kind": "numpy", "dtype": dtype.str}
        if dtype.kind == "b":
            out[var] = arr.astype(np.uint8)
        elif dtype.kind in "mM":
            out[var] = arr.view(np.int64)
        elif dtype.kind == "f" and dtype.itemsize < 4:
            out[var] = arr.astype(np.float32)
        elif dtype.kind in "iuf":
            out[var] = arr
        else:
            raise ValueError(f"cannot save {what} of dtype {dtype}; convert it or use data=False")
    elif np.dtype(getattr(dtype, "numpy_dtype", object)).kind in "biuf":
        # pandas' nullable Int64/Float64/boolean (masked) and numeric Arrow dtypes
        mask = np.asarray(values.isna().to_numpy(), dtype=bool)
        ext: Any = dtype
        np_dtype = np.dtype(ext.numpy_dtype)
        filled = values.to_numpy(dtype=np_dtype, na_value=np_dtype.type(0))
        spec |= {"kind": "masked", "dtype": str(dtype)}
        out[var] = filled.astype(np.uint8) if np_dtype.kind == "b" else filled
        out[f"{var}_na"] = mask.astype(np.uint8)
    else:
        raise ValueError(f"cannot save {what} of dtype {dtype}; convert it or use data=False")
    return out, spec


def _encode_index(index: pd.Index) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    def name_json(n: Any) -> Any:
        return None if n is None else _json_scalar(n, "the index name")

    if isinstance(index, pd.RangeIndex):
        spec = {"kind": "range", "start": index.start, "stop": index.stop, "step": index.step}
        return {}, {**spec, "name": name_json(index.name)}
    arrays: dict[str, np.ndarray] = {}
    levels = []
    for k in range(index.nlevels):
        level = pd.Series(index.get_level_values(k))
        arr, spec_k = _encode_values(level, f"index_{k}", f"index level {k}")
        arrays |= arr
        levels.append(spec_k)
    names = [name_json(n) for n in index.names]
    kind = "multi" if index.nlevels > 1 else "values"
    return arrays, {"kind": kind, "levels": levels, "names": names}


def _decode_values(spec: Mapping[str, Any], ds: xr.Dataset) -> pd.Series:
    """The values (a Series on a RangeIndex) that ``spec`` and its variables in ``ds`` hold."""
    raw = np.asarray(ds[spec["var"]].values)
    na_var = f"{spec['var']}_na"
    mask = np.asarray(ds[na_var].values, dtype=bool) if na_var in ds else None
    kind = spec["kind"]
    if kind == "categorical":
        try:
            cats = pd.Index(spec["categories"], dtype=spec["categories_dtype"])
        except (TypeError, ValueError):
            cats = pd.Index(spec["categories"])
        cat_dtype = pd.CategoricalDtype(cats, ordered=spec["ordered"])
        return pd.Series(pd.Categorical.from_codes(raw.astype(np.int64), dtype=cat_dtype))
    if kind == "string":
        values = raw.astype(str).astype(object)
        if mask is not None:
            values[mask] = None
        try:
            return pd.Series(values, dtype=pd.api.types.pandas_dtype(spec["dtype"]))
        except (TypeError, ValueError):  # a string dtype this pandas does not know
            return pd.Series(values, dtype=object)
    if kind == "numpy":
        dtype = np.dtype(spec["dtype"])
        if dtype.kind == "b":
            return pd.Series(raw.astype(bool))
        if dtype.kind in "mM":
            return pd.Series(raw.astype(np.int64).view(dtype))
        return pd.Series(raw.astype(dtype))
    if kind == "masked":
        masked: Any = pd.api.types.pandas_dtype(spec["dtype"])
        arr = pd.array(raw.astype(np.dtype(masked.numpy_dtype)), dtype=masked)
        if mask is not None and mask.any():
            arr[mask] = pd.NA
        return pd.Series(arr)
    raise FitFileError(f"unknown column encoding {kind!r}")


def _decode_frame(ds: xr.Dataset, attrs: Mapping[str, Any]) -> pd.DataFrame:
    """The saved DataFrame: its columns with their dtypes, and its index."""
    ispec = json.loads(attrs["index"])
    index: pd.Index
    if ispec["kind"] == "range":
        index = pd.RangeIndex(ispec["start"], ispec["stop"], ispec["step"], name=ispec["name"])
    else:
        levels = [_decode_values(s, ds) for s in ispec["levels"]]
        if ispec["kind"] == "multi":
            index = pd.MultiIndex.from_arrays(levels, names=ispec["names"])
        else:
            index = pd.Index(levels[0], name=ispec["names"][0])
    columns = json.loads(attrs["columns"])
    frame = pd.DataFrame({c["name"]: _decode_values(c, ds) for c in columns})
    frame.index = index
    return frame
