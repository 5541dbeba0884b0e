"""Elementary functions the compiler can vectorize (numba, ``cache=True``): :func:`exp_fast`
and :func:`log1p_unit`, for the row loops of the GLMM kernel
(:mod:`~pyglmm.kernel.likelihoods`).

``math.exp`` and ``math.log`` are calls into the C library, one row at a time; LLVM vectorizes
a loop only when every operation in it has a vector form (llvmlite has no vector math library
here). Written as polynomials with a bit cast, the same functions run 4 rows per instruction
(AVX2), and the logit rows of a Bernoulli model went from 10.1 to 3.6 ns per row. Both are
accurate to a few units in the last place (tests/test_kernel_vmath.py against numpy). The row
loops that call them are compiled with ``fastmath={"contract"}`` only: multiply-adds fused into
FMAs (one rounding instead of two, and half the latency of the polynomials); no reassociation,
so sums keep their order.

**exp.** With ``k = round(x / ln 2)`` and ``r = x - k ln 2`` (``ln 2`` in two parts, Cody and
Waite, so ``r`` is exact to about 1e-20), ``|r| <= ln(2) / 2`` and

    e^x = 2^k e^r,      e^r = sum_{j=0}^{13} r^j / j!   (truncation below 4e-18 relative),

``2^k = 2 * 2^(k - 1)``, ``2^(k - 1)`` built from its bits, ``(k + 1022) << 52`` read as a
double. Arguments are clamped to ``[-708, log(DBL_MAX)]`` (``k - 1`` in ``[-1022, 1023]``, a
normal double's exponent); above ``log(DBL_MAX)`` the result is ``inf``, below -708 it is
``exp(-708)`` (1e-308: 0 to every use here, a probability).

**log1p on [0, 1].** With ``s = u / (2 + u)`` in ``[0, 1/3]``,

    log(1 + u) = 2 atanh(s) = 2 s sum_{j=0}^{16} s^{2j} / (2j + 1)

(truncation below ``9^-17 / 35``, 2e-18 relative). The logit rows need ``1 / (1 + u)`` too, so
:func:`log1p_unit` takes ``d = 1 / ((1 + u)(2 + u))`` and returns both from one division.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = 1.90821492927058770002e-10
_EXP_MAX = 709.782712893384  # log(DBL_MAX)


@intrinsic
def bits_to_double(typingctx: Any, bits: Any) -> Any:  # pragma: no cover - numba
    """The ``float64`` whose IEEE-754 bit pattern is the ``int64`` ``bits`` (a bit cast, which
    the vectorizer keeps in vector registers)."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def exp_fast(x: float) -> float:  # pragma: no cover - numba
    """``e^x`` (module docstring): relative error at most 2 ulps on ``[-708, 709.78]``,
    ``inf`` above, ``exp(-708)`` below -708."""
    xc = min(max(x, -708.0), _EXP_MAX)
    kf = math.floor(xc * _LOG2E + 0.5)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = 1.0 / 6227020800.0  # 1/13!
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    # 2^k = 2 * 2^(k - 1); numba >= 0.61 types @intrinsic's __call__ with typingctx, so mypy on
    # the 3.12 stack misreads the call (the ignore is unused on 3.11)
    two_k1: float = bits_to_double((np.int64(kf) + 1022) << 52)  # type: ignore[call-arg, operator]
    e = 2.0 * (p * two_k1)
    return math.inf if x > _EXP_MAX else e


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def atanh_series(s2: float) -> float:  # pragma: no cover - numba
    """``sum_{j=0}^{16} s2^j / (2j + 1)``, so that ``atanh(s) = s * atanh_series(s * s)`` for
    ``|s| <= 1/3`` (Horner)."""
    p = 1.0 / 33.0
    p = p * s2 + 1.0 / 31.0
    p = p * s2 + 1.0 / 29.0
    p = p * s2 + 1.0 / 27.0
    p = p * s2 + 1.0 / 25.0
    p = p * s2 + 1.0 / 23.0
    p = p * s2 + 1.0 / 21.0
    p = p * s2 + 1.0 / 19.0
    p = p * s2 + 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    return p * s2 + 1.0


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def log1p_unit(u: float) -> tuple[float, float]:  # pragma: no cover - numba
    """``(log(1 + u), 1 / (1 + u))`` for ``u`` in ``[0, 1]`` (module docstring), from one
    division."""
    a = 1.0 + u
    b = 2.0 + u
    d = 1.0 / (a * b)
    s = u * a * d  # u / (2 + u)
    return 2.0 * s * atanh_series(s * s), b * d


@numba.njit(cache=True, nogil=True, error_model="numpy")
def ordered_sum(values: np.ndarray) -> float:  # pragma: no cover - numba
    """``sum(values)`` in four interleaved partial sums (``values[0::4]``, ``values[1::4]``,
    ...), added as ``(s0 + s1) + (s2 + s3)``: a fixed order, four times the throughput of one
    running sum."""
    n = values.shape[0]
    n4 = n - n % 4
    s0 = s1 = s2 = s3 = 0.0
    for i in range(0, n4, 4):
        s0 += values[i]
        s1 += values[i + 1]
        s2 += values[i + 2]
        s3 += values[i + 3]
    for i in range(n4, n):
        s0 += values[i]
    return (s0 + s1) + (s2 + s3)
