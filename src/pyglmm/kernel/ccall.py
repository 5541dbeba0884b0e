"""The kernel as a C callback for nutpie: no Python, and no GIL, inside the sampler threads.

nutpie's ``from_pyfunc`` calls a Python function for every gradient. With 4 chains on 2 cores
the sampler threads queue for the GIL, and sleepstudy spent most of its sampling time waiting
(about 16 us per gradient in the sampler against 6 us for the kernel itself). nutpie's own
PyMC path instead calls a numba ``cfunc`` through its address (``_lib.LogpFunc``), with a
``void *`` to the model's data. This module does the same for the kernel:

* :func:`pack` lays the data arguments of :func:`~pyglmm.kernel.logp.logp_grad` out in a
  *slot table* (:mod:`~pyglmm.kernel.slots`: ``int64``, 4 entries per argument: address, then
  up to three extents; integer scalars sit in the address entry, float scalars in a
  ``float64`` array of their own);
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

import numba
import numpy as np

from . import slots
from .logp import logp_grad
from .slots import (
    DRAW_DIM,
    DRAW_NAME,
    LOGP_SIGNATURE,
    SLOT,
    a1,
    a2,
    a3,
    copy_cfunc,
    nutpie_compiled,
    voidptr,
)

__all__ = [
    "ARGUMENTS",
    "DRAW_DIM",
    "DRAW_NAME",
    "FLOAT_SCALARS",
    "compiled_on_import",
    "copy_cfunc",
    "logp_cfunc",
    "nutpie_compiled",
    "pack",
]

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
    ("lat_lc_term", "i1"),
    ("lat_lc_index", "i2"),
    ("lat_lc_values", "f3"),
)
N_SLOTS = len(ARGUMENTS) + 1  # slot 0: the float scalars
F64, I64, BOOL = slots.F64, slots.I64, slots.BOOL


def pack(args: tuple) -> tuple[np.ndarray, list[np.ndarray]]:
    """The slot table of ``logp_grad``'s data arguments and the arrays it points into (keep
    them alive as long as the table is in use): :func:`~pyglmm.kernel.slots.pack`."""
    return slots.pack(args, ARGUMENTS, FLOAT_SCALARS)


@numba.cfunc(LOGP_SIGNATURE, cache=True, nogil=True, error_model="numpy")
def logp_cfunc(dim, x_ptr, grad_ptr, logp_ptr, table_ptr):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``logp_grad`` at ``x`` from the slot table (see :func:`pack`)."""
    x = numba.carray(x_ptr, (dim,))
    grad = numba.carray(grad_ptr, (dim,))
    out = numba.carray(logp_ptr, (1,))
    t = numba.carray(table_ptr, (SLOT * N_SLOTS,), np.int64)
    fs = numba.carray(voidptr(t[0]), (3,), np.float64)  # type: ignore[call-arg]
    lp = logp_grad(
        x,
        grad,
        t[SLOT * 1],
        t[SLOT * 2],
        fs[0],
        a2(t, 4, F64),
        a1(t, 5, F64),
        t[SLOT * 6],
        t[SLOT * 7] != 0,
        fs[1],
        a2(t, 9, F64),
        a3(t, 10, F64),
        a3(t, 11, F64),
        a2(t, 12, F64),
        a2(t, 13, F64),
        a1(t, 14, F64),
        fs[2],
        a2(t, 16, F64),
        a1(t, 17, F64),
        a1(t, 18, I64),
        a2(t, 19, F64),
        a1(t, 20, I64),
        a1(t, 21, I64),
        a1(t, 22, BOOL),
        a1(t, 23, BOOL),
        a1(t, 24, F64),
        a3(t, 25, F64),
        a1(t, 26, I64),
        a2(t, 27, I64),
        a3(t, 28, F64),
        a1(t, 29, BOOL),
        a2(t, 30, I64),
        a1(t, 31, I64),
        a2(t, 32, I64),
        a3(t, 33, F64),
    )
    out[0] = lp
    if not np.isfinite(lp):
        return 4
    for i in range(dim):
        if not np.isfinite(grad[i]):
            return 3
    return 0


def compiled_on_import() -> bool:
    """Whether numba compiled the C callbacks when this module was imported (rather than
    loading them from its on-disk cache)."""
    return logp_cfunc.cache_hits == 0 or copy_cfunc.cache_hits == 0
