"""Save a fit to one netCDF file and load it back: :meth:`Fit.save` and :func:`load_fit`.

The file is the posterior container of the installed ArviZ (``InferenceData`` on ArviZ 0.x,
``xarray.DataTree`` on ArviZ 1.x; both write one netCDF4 group per container group) with one
more group, ``pyglmm``, that holds what rebuilds the model::

    posterior, sample_stats, observed_data, log_likelihood, ...   (as sampled)
    pyglmm
      attributes (strings; JSON where structured, ints for counts):
        format = "pyglmm.fit", format_version, pyglmm_version, stack (JSON of
        pyglmm.stack.versions()), formula, family (JSON {"name", "link"}), priors (JSON: the
        resolved prior set, every entry with its source "default"/"user"), parameterization_spec
        (JSON: the Model's spec, a string or a dict), parameterization (JSON: the resolved
        dict of the fit), data_name, draws, tune, chains, sampler, timing (JSON), data
        ("included" or "omitted"), columns and index (JSON: how each data column and the
        index are encoded), design (JSON: a fingerprint of the design, checked on load),
        dpars (format version 3, a model with distributional formulas only: JSON
        [[parameter, formula text], ...], with ``formula`` the ``pg.bf`` that rebuilds it;
        their priors, classes Intercept_<dpar>/b_<dpar>, are in ``priors``)
      variables:
        data_<k> (row)            the model's data columns (data=True), encoded explicitly:
                                  numbers as they are, booleans as uint8, categoricals as
                                  integer codes (categories in ``columns``), strings as
                                  fixed-width unicode, missing values in a ``data_<k>_na`` mask
        index_<k> (row)           the DataFrame's index (unless it is a RangeIndex)
        data2_<k> (data2_<k>_row, data2_<k>_col), data2_<k>_levels (data2_<k>_row)
                                  the known matrices of gr(g, cov = ...) blocks and their
                                  level labels (format version 2; attribute ``data2`` lists
                                  them, see :mod:`pyglmm.persist.data2`)
        design_pickle (design_pickle_byte)
                                  data=False: the pickled design without its data arrays

With the data (the default), :func:`load_fit` rebuilds ``pg.Model(formula, data, ...)`` from
the stored columns: all rows as given, so the design drops the same rows with missing values
and finds the same levels, contrasts and ``scale()``/``center()`` constants; the rebuilt design
is compared with the stored fingerprint. ``data=False`` leaves the data out (the response
values remain in ``observed_data`` and the pointwise ``log_likelihood``, as ArviZ stores them);
the design is then stored as a pickle with zero-length arrays, which keeps everything
:meth:`~pyglmm.design.Design.transform` needs (patsy's design infos, levels, scaling constants),
so ``predict(newdata)`` works while ``predict()`` on the fitted rows does not. patsy refuses to
pickle its objects; :class:`_DesignPickler` pickles their attributes instead, and replaces
patsy's evaluation environment by a call that rebuilds pyglmm's fixed one
(:func:`pyglmm._terms.eval_env`) at load.

No sampling happens on load. A file from a newer format version, or one that is not a saved
pyglmm fit (e.g. a posterior written by ArviZ alone), raises :class:`FitFileError`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from .. import stack
from ..design.distributional import model_formula
from ..families import family as get_family
from ..formula import BrmsFormula
from .data2 import decode_data2
from .design_state import PICKLE_VAR as PICKLE_VAR

# a pickled design names these three as pyglmm.persist's (see pyglmm.persist.design_state)
from .design_state import _eval_env as _eval_env
from .design_state import _new as _new
from .design_state import _set_state as _set_state
from .design_state import _unpickle_design
from .errors import FitFileError, _saved_stack, _this_stack
from .fingerprint import _check_design
from .frame import _decode_frame as _decode_frame
from .priors_json import _overrides, _prior_set_from_json
from .write import FORMAT, FORMAT_VERSION, GROUP, ROW_DIM, _require_netcdf, netcdf_missing, save_fit

if TYPE_CHECKING:
    from ..results.fit import Fit


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "GROUP",
    "ROW_DIM",
    "FitFileError",
    "load_fit",
    "netcdf_missing",
    "save_fit",
]


def load_fit(path: str | os.PathLike[str]) -> Fit:
    """Load a fit written by :meth:`Fit.save` (or ``pyglmm fit ... --output PATH``).

    Rebuilds the :class:`~pyglmm.Model` from the stored formula, family, priors,
    parameterization and data, and wraps the stored posterior in a :class:`~pyglmm.Fit`
    (no sampling). ``fit.idata`` is the plain ArviZ container, without the ``pyglmm`` group.
    A file saved with ``data=False`` holds a pickle, which is unpickled: as with any pickle,
    load only files you trust.

    Raises ``FileNotFoundError``, or :class:`FitFileError` for a file that is not a saved
    pyglmm fit, that was written in a newer format, or whose model cannot be rebuilt here.
    """
    source = Path(os.fspath(path))
    if not source.exists():
        raise FileNotFoundError(2, "No such file or directory", str(source))
    if source.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(source))
    _require_netcdf()
    if not _is_hdf5(source):
        raise FitFileError(
            f"{source} is not a netCDF file pyglmm can read (a saved fit is netCDF4, an HDF5 "
            "file, and this file has no HDF5 signature)"
        )
    try:
        idata = stack.from_netcdf(str(source))
    except (OSError, ValueError, TypeError, KeyError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise FitFileError(f"{source} is not a netCDF file pyglmm can read: {first}") from None
    names = stack.group_names(idata)
    meta = stack.group(idata, GROUP)
    if meta is None or meta.attrs.get("format") != FORMAT:
        shown = ", ".join(names) or "none"
        raise FitFileError(
            f"{source} is not a saved pyglmm fit: it has no {GROUP!r} group of format "
            f"{FORMAT!r} (its groups: {shown}); Fit.save and 'pyglmm fit --output' write such "
            "files, a posterior written by ArviZ alone holds no model to rebuild"
        )
    attrs = dict(meta.attrs)
    try:
        version = int(attrs["format_version"])
    except (KeyError, TypeError, ValueError):
        raise FitFileError(f"{source} has no valid fit file format version") from None
    if version > FORMAT_VERSION:
        from .._version import __version__

        raise FitFileError(
            f"{source} was written by pyglmm {attrs.get('pyglmm_version', '?')} in fit file "
            f"format version {version}; this pyglmm ({__version__}) reads format versions up "
            f"to {FORMAT_VERSION}: upgrade pyglmm to load it"
        )
    meta = meta.load()
    del idata[GROUP]
    try:
        return _rebuild(idata, meta, attrs, source)
    except FitFileError:
        raise
    except Exception as err:
        raise FitFileError(
            f"cannot rebuild the fit saved in {source}: {type(err).__name__}: {err} (saved with "
            f"{_saved_stack(attrs)}; loading with {_this_stack()})"
        ) from err


# --- the file -------------------------------------------------------------------------------
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path: Path) -> bool:
    """Whether ``path`` starts with HDF5's signature (at byte 0, or 512, 1024, ... after a
    user block), as every netCDF4 file does."""
    with path.open("rb") as fh:
        offset = 0
        while True:
            fh.seek(offset)
            head = fh.read(len(HDF5_SIGNATURE))
            if head == HDF5_SIGNATURE:
                return True
            if len(head) < len(HDF5_SIGNATURE):
                return False
            offset = 512 if offset == 0 else 2 * offset


# --- reading ----------------------------------------------------------------------------------
def _formula(attrs: Mapping[str, Any]) -> str | BrmsFormula:
    """The stored formula: its text, or the ``pg.bf`` of it and the distributional formulas
    (attribute ``dpars``, format version 3)."""
    text = str(attrs["formula"])
    if "dpars" not in attrs:
        return text
    return BrmsFormula(text, tuple((str(n), str(t)) for n, t in json.loads(attrs["dpars"])))


def _rebuild(idata: Any, meta: xr.Dataset, attrs: Mapping[str, Any], source: Path) -> Fit:
    from ..model import Model
    from ..results.fit import Fit

    fam = json.loads(attrs["family"])
    family = get_family(fam["name"], link=fam["link"])
    prior_set = _prior_set_from_json(json.loads(attrs["priors"]))
    spec = json.loads(attrs["parameterization_spec"])
    data_name = str(attrs["data_name"])
    data2 = decode_data2(meta, attrs)
    if attrs["data"] == "included":
        frame = _decode_frame(meta, attrs)
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"dropped \d+ of \d+ rows", category=UserWarning
            )
            model = Model(
                _formula(attrs),
                frame,
                family=family,
                priors=_overrides(prior_set),
                parameterization=spec,
                data_name=data_name,
                data2=data2,
                mecor="corme" in prior_set.me,  # (mecor=False leaves no corme prior)
            )
        _check_design(model.design, json.loads(attrs["design"]), source)
        model.prior_set = prior_set  # the stored values exactly (defaults are data-scaled)
    else:
        design = _unpickle_design(meta)
        model = Model.__new__(Model)  # what Model.__init__ sets, from the file instead of data
        model.data = None  # type: ignore[assignment]  # no data kept (see pyglmm.workflow.simulation)
        model.formula = design.formula
        formula = model_formula(design)
        model.bf = formula if isinstance(formula, BrmsFormula) else None
        model.design = design
        model.family = family
        model.prior_set = prior_set
        model.user_priors = _overrides(prior_set)  # (Fit.update refits with these)
        model.parameterization = spec
        model.data_name = data_name
        model.data2 = data2
        model._compiled = {}
        model._point = (None,)  # no data: no point fit ("auto" falls back to rows per level)
    return Fit(
        model,
        idata,
        draws=int(attrs["draws"]),
        tune=int(attrs["tune"]),
        chains=int(attrs["chains"]),
        sampler=str(attrs["sampler"]),
        parameterization=dict(json.loads(attrs["parameterization"])),
        timing={k: float(v) for k, v in json.loads(attrs["timing"]).items()},
    )
