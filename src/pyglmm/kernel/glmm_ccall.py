"""The GLMM kernel as a C callback for nutpie: :data:`logp_cfunc` calls
:func:`~pyglmm.kernel.glmm.glmm_logp_grad` with its data from a slot table (as
:mod:`~pyglmm.kernel.ccall` does for the gaussian kernel; the table and the nutpie model are
:mod:`~pyglmm.kernel.slots`'). A module of its own so that a GLMM fit compiles (once per
installation) or loads only the GLMM callback, and a gaussian fit only the gaussian one.

Return codes: 0 ok, 3 non-finite gradient, 4 non-finite density.
"""

from __future__ import annotations

import numba
import numpy as np

from . import slots
from .glmm import glmm_logp_grad
from .slots import LOGP_SIGNATURE, SLOT, a1, a2, a3, copy_cfunc, voidptr

F64, I64, BOOL = slots.F64, slots.I64, slots.BOOL

# float scalars of glmm_logp_grad, in the order of the float-scalar array (slot 0 points to it)
FLOAT_SCALARS = ("ll_const", "lap_eta")
# glmm_logp_grad's data arguments after (x, grad): name and how the slot table holds it
ARGUMENTS = (
    ("p", "int"),
    ("density", "int"),
    ("link", "int"),
    ("ll_const", "float"),
    ("theta_priors", "f2"),
    ("family_priors", "f2"),
    ("Xc", "f2"),
    ("y", "f1"),
    ("trials", "f1"),
    ("offset", "f1"),
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
    ("lap_q", "int"),
    ("lap_diag", "int"),
    ("lap_eta", "float"),
    ("lap_sd_priors", "f2"),
    ("lap_off", "int"),
    ("lap_ptr", "i1"),
    ("lap_Z", "f2"),
)
N_SLOTS = len(ARGUMENTS) + 1  # slot 0: the float scalars


def pack(args: tuple) -> tuple[np.ndarray, list[np.ndarray]]:
    """The slot table of ``glmm_logp_grad``'s data arguments and the arrays it points into
    (keep them alive as long as the table is in use)."""
    return slots.pack(args, ARGUMENTS, FLOAT_SCALARS)


@numba.cfunc(LOGP_SIGNATURE, cache=True, nogil=True, error_model="numpy")
def logp_cfunc(dim, x_ptr, grad_ptr, logp_ptr, table_ptr):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``glmm_logp_grad`` at ``x`` from the slot table (see :func:`pack`)."""
    x = numba.carray(x_ptr, (dim,))
    grad = numba.carray(grad_ptr, (dim,))
    out = numba.carray(logp_ptr, (1,))
    t = numba.carray(table_ptr, (SLOT * N_SLOTS,), np.int64)
    fs = numba.carray(voidptr(t[0]), (2,), np.float64)  # type: ignore[call-arg]
    lp = glmm_logp_grad(
        x,
        grad,
        t[SLOT * 1],
        t[SLOT * 2],
        t[SLOT * 3],
        fs[0],
        a2(t, 5, F64),
        a2(t, 6, F64),
        a2(t, 7, F64),
        a1(t, 8, F64),
        a1(t, 9, F64),
        a1(t, 10, F64),
        a1(t, 11, I64),
        a1(t, 12, I64),
        a1(t, 13, BOOL),
        a1(t, 14, BOOL),
        a1(t, 15, F64),
        a3(t, 16, F64),
        a1(t, 17, I64),
        a2(t, 18, I64),
        a3(t, 19, F64),
        a1(t, 20, BOOL),
        a2(t, 21, I64),
        a1(t, 22, I64),
        a2(t, 23, I64),
        a3(t, 24, F64),
        t[SLOT * 25],
        t[SLOT * 26],
        fs[1],
        a2(t, 28, F64),
        t[SLOT * 29],
        a1(t, 30, I64),
        a2(t, 31, F64),
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
