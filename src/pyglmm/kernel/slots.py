"""The slot table and the nutpie glue shared by the kernels' C callbacks
(:mod:`~pyglmm.kernel.ccall` for the gaussian kernel, :mod:`~pyglmm.kernel.glmm_ccall` for the
GLMM kernel); see :mod:`~pyglmm.kernel.ccall` for why nutpie calls a ``cfunc``.

* :func:`pack` lays a log-density's data arguments out in a *slot table* (``int64``, 4 entries
  per argument: address, then up to three extents; integer scalars sit in the address entry,
  float scalars in a ``float64`` array of their own, which slot 0 points to);
* :func:`a1`, :func:`a2`, :func:`a3` rebuild the arrays inside a ``cfunc`` (``numba.carray``);
* :data:`copy_cfunc` is the expansion nutpie stores per draw: the unconstrained point itself;
* :func:`nutpie_compiled` is the nutpie model calling a ``cfunc`` with a table.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

SLOT = 4  # table entries per argument: address (or integer value), extents 0..2

LOGP_SIGNATURE = types.int64(
    types.uint64,  # dimension
    types.CPointer(types.double),  # x
    types.CPointer(types.double),  # gradient (out)
    types.CPointer(types.double),  # log density (out)
    types.voidptr,  # the slot table
)
EXPAND_SIGNATURE = types.int64(
    types.uint64,  # dimension
    types.uint64,  # expanded dimension
    types.CPointer(types.double),  # x
    types.CPointer(types.double),  # expanded values (out)
    types.voidptr,
)


@intrinsic
def voidptr(typingctx: Any, address: Any) -> Any:  # pragma: no cover - numba
    """An integer address as ``void *``."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


@numba.njit(inline="always")
def a1(t: np.ndarray, k: int, dtype: Any) -> np.ndarray:  # pragma: no cover - numba
    """Argument ``k`` of the slot table as a 1-D array of ``dtype``."""
    return numba.carray(voidptr(t[SLOT * k]), (t[SLOT * k + 1],), dtype)  # type: ignore[call-arg]


@numba.njit(inline="always")
def a2(t: np.ndarray, k: int, dtype: Any) -> np.ndarray:  # pragma: no cover - numba
    """Argument ``k`` as a 2-D array."""
    return numba.carray(voidptr(t[SLOT * k]), (t[SLOT * k + 1], t[SLOT * k + 2]), dtype)  # type: ignore[call-arg]


@numba.njit(inline="always")
def a3(t: np.ndarray, k: int, dtype: Any) -> np.ndarray:  # pragma: no cover - numba
    """Argument ``k`` as a 3-D array."""
    shape = (t[SLOT * k + 1], t[SLOT * k + 2], t[SLOT * k + 3])
    return numba.carray(voidptr(t[SLOT * k]), shape, dtype)  # type: ignore[call-arg]


F64, I64, BOOL = np.float64, np.int64, np.bool_  # dtypes of the "f", "i" and "b" kinds
_DTYPES = {"f": F64, "i": I64, "b": BOOL}


def pack(
    args: tuple, arguments: tuple[tuple[str, str], ...], float_scalars: tuple[str, ...]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The slot table of a log-density's data arguments ``args`` (described by ``arguments``:
    name and kind, ``"int"``, ``"float"``, or dtype letter and number of dimensions such as
    ``"f2"``; ``float_scalars``: the names of the float scalars, in order) and the arrays it
    points into (keep them alive as long as the table is in use)."""
    if len(args) != len(arguments):
        raise ValueError(f"the kernel takes {len(arguments)} data arguments, got {len(args)}")
    table = np.zeros(SLOT * (len(arguments) + 1), dtype=np.int64)
    floats = np.array(
        [float(a) for a, (name, _) in zip(args, arguments, strict=True) if name in float_scalars]
    )
    keep = [floats]
    table[0] = floats.ctypes.data
    for k, (value, (name, kind)) in enumerate(zip(args, arguments, strict=True), start=1):
        if kind == "int":
            table[SLOT * k] = int(value)
        elif kind != "float":
            arr: np.ndarray = np.ascontiguousarray(value, dtype=_DTYPES[kind[0]])
            if arr.ndim != int(kind[1]):
                raise ValueError(f"kernel argument {name} must be {kind[1]}-D")
            keep.append(arr)
            table[SLOT * k] = arr.ctypes.data
            table[SLOT * k + 1 : SLOT * k + 1 + arr.ndim] = arr.shape
    return table, keep


@numba.cfunc(EXPAND_SIGNATURE, cache=True, nogil=True)
def copy_cfunc(dim, expanded, x_ptr, out_ptr, table_ptr):  # type: ignore[no-untyped-def]  # pragma: no cover
    """The stored draw: ``x`` itself."""
    if dim != expanded:
        return -1
    x = numba.carray(x_ptr, (dim,))
    out = numba.carray(out_ptr, (dim,))
    for i in range(dim):
        out[i] = x[i]
    return 0


DRAW_NAME = "_kernel_x"  # the variable nutpie stores: the unconstrained point of each draw
DRAW_DIM = "_kernel_x_dim"


def nutpie_compiled(
    table: np.ndarray, keep: list[np.ndarray], ndim: int, initial_point: Any, logp_address: int
) -> Any:
    """A nutpie compiled model calling the log-density ``cfunc`` at ``logp_address`` and
    :data:`copy_cfunc` with ``table`` (from :func:`pack`; ``keep`` holds the arrays it points
    into), started at ``initial_point(seed)``. Its draws are one variable, :data:`DRAW_NAME`."""
    from dataclasses import dataclass

    from nutpie import _lib
    from nutpie.sample import CompiledModel

    @dataclass(frozen=True)
    class KernelNutpieModel(CompiledModel):  # type: ignore[misc]
        """As ``nutpie.compile_pymc.CompiledPyMCModel``, with the kernel's C callbacks."""

        @property
        def n_dim(self) -> int:
            return ndim

        @property
        def shapes(self) -> dict[str, tuple[int, ...]]:
            return {DRAW_NAME: (ndim,)}

        @property
        def coords(self) -> dict[str, Any]:
            return {DRAW_DIM: np.arange(ndim)}

        def _make_sampler(
            self, settings: Any, init_mean: Any, cores: int, progress_type: Any, *rest: Any
        ) -> Any:
            # ``rest`` is what this nutpie passes after the progress type and hands on to
            # ``PySampler.from_pymc`` as it is: ``(store,)`` up to 0.16.9, ``(extra_callback,
            # extra_callback_rate, store)`` from 0.16.10 (the versions the pins admit).
            model = self._make_model(init_mean)
            return _lib.PySampler.from_pymc(settings, cores, model, progress_type, *rest)

        def _make_model(self, init_mean: Any) -> Any:
            data = table.ctypes.data
            keep_alive = (table, keep)
            expand = _lib.ExpandFunc(ndim, ndim, copy_cfunc.address, data, keep_alive)
            logp = _lib.LogpFunc(logp_address, data, keep_alive)
            sizes = {DRAW_DIM: ndim}
            variables = _lib.PyVariable.new_variables(
                [DRAW_NAME], ["float64"], [(ndim,)], sizes, self.dims
            )
            coords = {DRAW_DIM: np.arange(ndim)}
            return _lib.PyMcModel(logp, expand, variables, ndim, sizes, coords, initial_point, None)

    return KernelNutpieModel(dims={DRAW_NAME: (DRAW_DIM,)})
