"""Writing a fit (:meth:`Fit.save`, :func:`save_fit`): the format is described in
:mod:`pyglmm.persist`. This half needs only the fit's parts (:class:`pyglmm.spec.FittedModel`),
so :class:`~pyglmm.Fit` can delegate to it without an import cycle; reading a file back
rebuilds a :class:`~pyglmm.Model` and lives in :mod:`pyglmm.persist`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .. import stack
from ..spec import FittedModel
from .data2 import ATTR as DATA2_ATTR
from .data2 import encode_data2
from .design_state import PICKLE_VAR, _pickle_design

# a pickled design names these three as pyglmm.persist's (see pyglmm.persist.design_state)
from .design_state import _eval_env as _eval_env
from .design_state import _new as _new
from .design_state import _set_state as _set_state
from .fingerprint import _fingerprint
from .frame import _encode_index, _encode_values, _model_frame
from .priors_json import _prior_set_json

FORMAT = "pyglmm.fit"


# 2: the known matrices of gr(g, cov = ...) blocks (``data2``, :mod:`pyglmm.persist.data2`)
# 3: distributional formulas (``pg.bf``: attribute ``dpars``; their priors in ``priors``)
FORMAT_VERSION = 3


GROUP = "pyglmm"


ROW_DIM = "row"


# --- public API -------------------------------------------------------------------------------
def save_fit(fit: FittedModel, path: str | os.PathLike[str], data: bool = True) -> None:
    """Write ``fit`` to one netCDF file at ``path`` (see the module docstring).

    ``data=True`` stores the model's data columns, from which :func:`load_fit` rebuilds the
    model; ``data=False`` leaves them out and stores the design's data-dependent state as a
    pickle (loading such a file unpickles it: as with any pickle, load only files you trust).
    The file is written next to ``path`` and moved into place, so a failed write leaves no
    partial file.
    """
    if not isinstance(data, bool):
        raise TypeError(f"data must be True or False, got {data!r}")
    _require_netcdf()
    target = Path(os.fspath(path))
    meta = _metadata(fit, data)
    idata = fit.idata
    if GROUP in stack.group_names(idata):
        raise ValueError(f"fit.idata already has a group named {GROUP!r}")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    stack.set_group(idata, GROUP, meta)
    try:
        stack.to_netcdf(idata, str(tmp))
        os.replace(tmp, target)
    finally:
        del idata[GROUP]
        if tmp.exists():
            tmp.unlink()


# --- writing ----------------------------------------------------------------------------------
def netcdf_missing() -> str | None:
    """Why fits cannot be saved or loaded here (no netCDF4 writer installed), or None.

    netCDF4 groups need h5netcdf (with h5py) or netCDF4; ArviZ 0.x reads with h5netcdf."""
    has_h5 = all(importlib.util.find_spec(m) is not None for m in ("h5netcdf", "h5py"))
    has_nc4 = importlib.util.find_spec("netCDF4") is not None
    if has_h5 or (stack.ARVIZ_1 and has_nc4):
        return None
    return (
        "saving and loading fits writes netCDF4 groups, which needs the h5netcdf package "
        "(with h5py): pip install h5netcdf"
    )


def _require_netcdf() -> None:
    message = netcdf_missing()
    if message is not None:
        raise ImportError(message)


def _metadata(fit: FittedModel, data: bool) -> xr.Dataset:
    from .._version import __version__

    model = fit.model
    frame = _model_frame(model) if data else None
    spec = model.parameterization
    attrs: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "pyglmm_version": __version__,
        "stack": json.dumps(stack.versions()),
        "formula": fit.design.formula.formula,
        "family": json.dumps({"name": fit.family.name, "link": fit.family.link}),
        "priors": json.dumps(_prior_set_json(model.prior_set)),
        "parameterization_spec": json.dumps(dict(spec) if isinstance(spec, Mapping) else spec),
        "parameterization": json.dumps(dict(fit.parameterization)),
        "data_name": str(model.data_name),
        "draws": int(fit.draws),
        "tune": int(fit.tune),
        "chains": int(fit.chains),
        "sampler": str(fit.sampler),
        "timing": json.dumps({k: float(v) for k, v in fit.timing.items()}),
        "data": "included" if data else "omitted",
        "design": json.dumps(_fingerprint(fit.design)),
    }
    # pg.bf: (parameter, formula text) pairs, as the user wrote them (a categorical model's
    # predictors come from its one formula)
    if fit.design.dpars and not fit.design.categorical:
        attrs["dpars"] = json.dumps([[p.name, p.formula.formula] for p in fit.design.dpars])
    variables, data2 = encode_data2(model, fit.design)
    if data2 is not None:
        attrs[DATA2_ATTR] = data2
    if frame is not None:
        columns = []
        for k, name in enumerate(frame.columns):
            arrays, spec_k = _encode_values(frame[name], f"data_{k}", str(name))
            variables |= {var: (ROW_DIM, arr) for var, arr in arrays.items()}
            columns.append({"name": name, **spec_k})
        index_arrays, index_spec = _encode_index(frame.index)
        variables |= {var: (ROW_DIM, arr) for var, arr in index_arrays.items()}
        attrs["columns"] = json.dumps(columns)
        attrs["index"] = json.dumps(index_spec)
    else:
        blob = _pickle_design(fit.design)
        variables[PICKLE_VAR] = (f"{PICKLE_VAR}_byte", np.frombuffer(blob, dtype=np.uint8))
    return xr.Dataset(variables, attrs=attrs)
