"""The kernel as a C callback for nutpie: no Python, and no GIL, inside the sampler threads.

nutpie's ``from_pyfunc`` calls a Python function for every gradient. With 4 chains on 2 cores
the sampler threads queue for the GIL, and sleepstudy spent most of its sampling time waiting
(about 16 us per gradient in the sampler against 6 us for the kernel itself). nutpie's own
PyMC path instead calls a numba ``cfunc`` through its address (``_lib.LogpFunc``), with a
``void *`` to the model's data. This module does the same for the kernel:

* :func:`pack` lays the data arguments of :func:`~pyglmm.kernel.logp.logp_grad` out in a
  *slot table* (``int64``, 4 entries per argument: address, then up to three extents;
  integer scalars sit in the address entry, float scalars in a ``float64`` array of their own);
* :data:`logp_cfunc` (numba ``cfunc``, ``cache=True``: compiled once per installation, like
  the rest of the kernel) rebuilds the arrays from the table with ``numba.carray`` and calls
  ``logp_grad``;
* :data:`copy_cfunc` is the expansion nutpie stores per draw: the unconstrained point itself.
  The named variables are computed afterwards for all draws at once
  (:meth:`~pyglmm.kernel.KernelModel.constrained`).

Return codes follow nutpie's numba path: 0 ok, 3 non-finite gradient, 4 non-finite density
(a rejected point, as far out in the tails early in warm-up); the expansion returns -1 when
the two dimensions nutpie passes differ.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .logp import logp_grad

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
def _voidptr(typingctx: Any, address: Any) -> Any:  # pragma: no cover - numba
    """An integer address as ``void *``."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


@numba.njit(inline="always")
def _a1(t: np.ndarray, k: int, dtype: Any) -> np.ndarray:  # pragma: no cover - numba
    """Argument ``k`` of the slot table as a 1-D array of ``dtype``."""
    return numba.carray(_voidptr(t[SLOT * k]), (t[SLOT * k + 1],), dtype)  # type: ignore[call-arg]


@numba.njit(inline="always")
def _a2(t: np.ndarray, k: int, dtype: Any) -> np.ndarray:  # pragma: no cover - numba
    """Argument ``k`` as a 2-D array."""
    return numba.carray(_voidptr(t[SLOT * k]), (t[SLOT * k + 1], t[SLOT * k + 2]), dtype)  # type: ignore[call-arg]


@numba.njit(inline="always")
def _a3(t: np.ndarray, k: int, dtype: Any) -> np.ndarray:  # pragma: no cover - numba
    """Argument ``k`` as a 3-D array."""
    shape = (t[SLOT * k + 1], t[SLOT * k + 2], t[SLOT * k + 3])
    return numba.carray(_voidptr(t[SLOT * k]), shape, dtype)  # type: ignore[call-arg]


# float scalars of logp_grad, in the order of the float-scalar array (slot 0 points to it)
FLOAT_SCALARS = ("shift", "eta", "yty")
# logp_grad's data arguments after (x, grad): name and how the slot table holds it
ARGUMENTS = (
    ("p", "int"),
    ("n", "int"),
    ("shift", "float"),
    ("theta_priors", "f2"),
    ("sigma_prior", "f1"),
    ("q", "int"),
    ("diag", "int"),
    ("eta", "float"),
    ("sd_priors", "f2"),
    ("A", "f3"),
    ("ZX", "f3"),
    ("Zy", "f2"),
    ("XtX", "f2"),
    ("Xty", "f1"),
    ("yty", "float"),
    ("Xc", "f2"),
    ("ys", "f1"),
    ("m_codes", "i1"),
    ("Zm", "f2"),
    ("lat_q", "i1"),
    ("lat_G", "i1"),
    ("lat_diag", "b1"),
    ("lat_centered", "b1"),
    ("lat_eta", "f1"),
    ("lat_sd_priors", "f3"),
    ("lat_off", "i1"),
    ("lat_codes", "i2"),
    ("lat_Z", "f3"),
    ("lat_unit", "b1"),
    ("lat_center", "i2"),
)
N_SLOTS = len(ARGUMENTS) + 1  # slot 0: the float scalars
F64, I64, BOOL = np.float64, np.int64, np.bool_  # dtypes of the "f", "i" and "b" kinds
_DTYPES = {"f": F64, "i": I64, "b": BOOL}


def pack(args: tuple) -> tuple[np.ndarray, list[np.ndarray]]:
    """The slot table of ``logp_grad``'s data arguments and the arrays it points into (keep
    them alive as long as the table is in use)."""
    if len(args) != len(ARGUMENTS):
        raise ValueError(f"logp_grad takes {len(ARGUMENTS)} data arguments, got {len(args)}")
    table = np.zeros(SLOT * N_SLOTS, dtype=np.int64)
    floats = np.array(
        [float(a) for a, (name, _) in zip(args, ARGUMENTS, strict=True) if name in FLOAT_SCALARS]
    )
    keep = [floats]
    table[0] = floats.ctypes.data
    for k, (value, (name, kind)) in enumerate(zip(args, ARGUMENTS, strict=True), start=1):
        if kind == "int":
            table[SLOT * k] = int(value)
        elif kind != "float":
            arr: np.ndarray = np.ascontiguousarray(value, dtype=_DTYPES[kind[0]])
            if arr.ndim != int(kind[1]):
                raise ValueError(f"logp_grad argument {name} must be {kind[1]}-D")
            keep.append(arr)
            table[SLOT * k] = arr.ctypes.data
            table[SLOT * k + 1 : SLOT * k + 1 + arr.ndim] = arr.shape
    return table, keep


@numba.cfunc(LOGP_SIGNATURE, cache=True, nogil=True, error_model="numpy")
def logp_cfunc(dim, x_ptr, grad_ptr, logp_ptr, table_ptr):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``logp_grad`` at ``x`` from the slot table (see :func:`pack`)."""
    x = numba.carray(x_ptr, (dim,))
    grad = numba.carray(grad_ptr, (dim,))
    out = numba.carray(logp_ptr, (1,))
    t = numba.carray(table_ptr, (SLOT * N_SLOTS,), np.int64)
    fs = numba.carray(_voidptr(t[0]), (3,), np.float64)  # type: ignore[call-arg]
    lp = logp_grad(
        x,
        grad,
        t[SLOT * 1],
        t[SLOT * 2],
        fs[0],
        _a2(t, 4, F64),
        _a1(t, 5, F64),
        t[SLOT * 6],
        t[SLOT * 7] != 0,
        fs[1],
        _a2(t, 9, F64),
        _a3(t, 10, F64),
        _a3(t, 11, F64),
        _a2(t, 12, F64),
        _a2(t, 13, F64),
        _a1(t, 14, F64),
        fs[2],
        _a2(t, 16, F64),
        _a1(t, 17, F64),
        _a1(t, 18, I64),
        _a2(t, 19, F64),
        _a1(t, 20, I64),
        _a1(t, 21, I64),
        _a1(t, 22, BOOL),
        _a1(t, 23, BOOL),
        _a1(t, 24, F64),
        _a3(t, 25, F64),
        _a1(t, 26, I64),
        _a2(t, 27, I64),
        _a3(t, 28, F64),
        _a1(t, 29, BOOL),
        _a2(t, 30, I64),
    )
    out[0] = lp
    if not np.isfinite(lp):
        return 4
    for i in range(dim):
        if not np.isfinite(grad[i]):
            return 3
    return 0


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
    table: np.ndarray, keep: list[np.ndarray], ndim: int, initial_point: Any
) -> Any:
    """A nutpie compiled model calling :data:`logp_cfunc` and :data:`copy_cfunc` with
    ``table`` (from :func:`pack`; ``keep`` holds the arrays it points into), started at
    ``initial_point(seed)``. Its draws are one variable, :data:`DRAW_NAME`."""
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
            logp = _lib.LogpFunc(logp_cfunc.address, data, keep_alive)
            sizes = {DRAW_DIM: ndim}
            variables = _lib.PyVariable.new_variables(
                [DRAW_NAME], ["float64"], [(ndim,)], sizes, self.dims
            )
            coords = {DRAW_DIM: np.arange(ndim)}
            return _lib.PyMcModel(logp, expand, variables, ndim, sizes, coords, initial_point, None)

    return KernelNutpieModel(dims={DRAW_NAME: (DRAW_DIM,)})


def compiled_on_import() -> bool:
    """Whether numba compiled the C callbacks when this module was imported (rather than
    loading them from its on-disk cache)."""
    return logp_cfunc.cache_hits == 0 or copy_cfunc.cache_hits == 0
