"""The design without its data (``data=False``): a pickle that patsy's objects allow.

The stored design has zero-length data arrays and keeps what
:meth:`~pyglmm.design.Design.transform` needs (patsy's design infos, levels, scaling
constants). A pickle refers to the functions that rebuild patsy's objects by module and name:
this module's ``_new``, ``_set_state`` and ``_eval_env`` are pickled as ``pyglmm.persist._new``
and so on (the package re-exports them), the names files of format version 1 hold.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import patsy
import patsy.builtins
import xarray as xr

from ..design import Design
from ..design import terms as _terms
from .errors import FitFileError

PICKLE_VAR = "design_pickle"
PICKLE_PROTOCOL = 4

_F = TypeVar("_F", bound=Callable[..., Any])


def _named_in_package(func: _F) -> _F:
    """``func``, pickled by reference as ``pyglmm.persist.<name>`` (see the module docstring)."""
    func.__module__ = "pyglmm.persist"
    return func


class _DesignPickler(pickle.Pickler):
    """Pickles patsy's objects (which refuse it) by their attributes, and patsy's evaluation
    environment as the names it holds, rebuilt from :func:`pyglmm._terms.eval_env` on load."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, type):
            return NotImplemented
        if isinstance(obj, patsy.EvalEnvironment):
            names = sorted({n for ns in getattr(obj, "_namespaces", []) for n in ns})
            return (_eval_env, (names, int(obj.flags)))
        cls = type(obj)
        if cls.__module__.partition(".")[0] == "patsy":
            return (_new, (cls,), _object_state(obj), None, None, _set_state)
        return NotImplemented


@_named_in_package
def _new(cls: Any) -> Any:
    """An instance of ``cls`` without ``__init__`` (what ``copyreg.__newobj__`` does)."""
    return cls.__new__(cls)


def _object_state(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    slots: dict[str, Any] = {}
    for klass in type(obj).__mro__:
        names = getattr(klass, "__slots__", ())
        for name in (names,) if isinstance(names, str) else names:
            if name not in ("__dict__", "__weakref__") and hasattr(obj, name):
                slots[name] = getattr(obj, name)
    return dict(getattr(obj, "__dict__", {})), slots


@_named_in_package
def _set_state(obj: Any, state: tuple[dict[str, Any], dict[str, Any]]) -> None:
    attrs, slots = state
    if attrs:
        obj.__dict__.update(attrs)
    for name, value in slots.items():
        object.__setattr__(obj, name, value)


@_named_in_package
def _eval_env(names: list[str], flags: int) -> patsy.EvalEnvironment:
    """patsy's environment of a stored factor: ``names`` looked up in pyglmm's namespace and
    patsy's builtins, as patsy does when it builds a design."""
    builtins = {n: getattr(patsy.builtins, n) for n in patsy.builtins.__all__}
    lookup = _terms.eval_env().with_outer_namespace(builtins).namespace
    missing = [n for n in names if n not in lookup]
    if missing:
        raise FitFileError(f"the saved design uses {missing}, unknown to this pyglmm's formulas")
    return patsy.EvalEnvironment([{n: lookup[n] for n in names}], flags)


def _strip(design: Design) -> Design:
    """``design`` with zero-length data arrays and its number of observations stored."""

    def empty(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else np.asarray(a)[:0].copy()

    blocks = tuple(replace(b, codes=b.codes[:0].copy(), Z=b.Z[:0].copy()) for b in design.blocks)
    return replace(
        design,
        y=design.y[:0].copy(),
        X=design.X[:0].copy(),
        blocks=blocks,
        index=pd.RangeIndex(0),
        trials=empty(design.trials),
        offset=empty(design.offset),
        stored_n_obs=design.n_obs,
        me=None if design.me is None else design.me.subset(slice(0, 0)),
        dpars=tuple(replace(p, X=p.X[:0].copy()) for p in design.dpars),
        additions=None if design.additions is None else design.additions.without_rows(),
    )


def _pickle_design(design: Design) -> bytes:
    buf = io.BytesIO()
    _DesignPickler(buf, protocol=PICKLE_PROTOCOL).dump(_strip(design))
    return buf.getvalue()


def _unpickle_design(ds: xr.Dataset) -> Design:
    blob = np.asarray(ds[PICKLE_VAR].values, dtype=np.uint8).tobytes()
    design = pickle.loads(blob)  # a file the user chose to load and trusts (see load_fit)
    if not isinstance(design, Design):
        raise FitFileError(f"the stored design is a {type(design).__name__}, not a Design")
    return design
