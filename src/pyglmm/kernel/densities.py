"""Prior densities and the LKJ correlation factor for the kernel (numba, ``cache=True``).

Each function returns a log-density and writes or returns its derivative; see the package
docstring of :mod:`pyglmm.kernel` for the parameterization.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..priors import Prior

# Prior densities with a kernel: name -> (code, (parameter, default or None = required), ...).
PRIOR_CODES: dict[str, tuple[int, tuple[tuple[str, float | None], ...]]] = {
    "Normal": (0, (("mu", 0.0), ("sigma", 1.0))),
    "StudentT": (1, (("nu", None), ("mu", 0.0), ("sigma", 1.0))),
    "Cauchy": (2, (("alpha", None), ("beta", None))),
    "Flat": (3, ()),
    "HalfNormal": (4, (("sigma", 1.0),)),
    "HalfStudentT": (5, (("nu", None), ("sigma", 1.0))),
    "HalfCauchy": (6, (("beta", None),)),
    "Exponential": (7, (("lam", None),)),
    "Gamma": (8, (("alpha", None), ("beta", None))),
    "InverseGamma": (9, (("alpha", None), ("beta", None))),
    "HalfFlat": (10, ()),
}
LOCATION_PRIORS = ("Normal", "StudentT", "Cauchy", "Flat")
POSITIVE_PRIORS = (
    "HalfNormal",
    "HalfStudentT",
    "HalfCauchy",
    "Exponential",
    "Gamma",
    "InverseGamma",
    "HalfFlat",
)

_LOG2 = math.log(2.0)
LOG2PI = math.log(2.0 * math.pi)


def encode_prior(p: Prior, allowed: tuple[str, ...]) -> np.ndarray | None:
    """``[code, a, b, c]`` for the kernel, or None when ``p`` has no kernel density."""
    if p.dist not in allowed or not set(p.params) <= {k for k, _ in PRIOR_CODES[p.dist][1]}:
        return None
    code, spec = PRIOR_CODES[p.dist]
    values = [0.0, 0.0, 0.0]
    for i, (name, default) in enumerate(spec):
        value = p.params.get(name, default)
        if value is None:
            return None
        values[i] = float(value)
    return np.array([float(code), *values])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def prior_lp(enc: np.ndarray, x: float) -> tuple[float, float]:  # pragma: no cover - numba
    """Log-density of an encoded prior at ``x`` and its derivative."""
    code = int(enc[0])
    a, b, c = enc[1], enc[2], enc[3]
    if code == 0 or code == 4:  # Normal(mu=a, sigma=b) / HalfNormal(sigma=a)
        mu, sd = (a, b) if code == 0 else (0.0, a)
        z = (x - mu) / sd
        lp = -0.5 * z * z - math.log(sd) - 0.5 * LOG2PI
        return (lp + (_LOG2 if code == 4 else 0.0)), -z / sd
    if code == 1 or code == 5:  # StudentT(nu=a, mu=b, sigma=c) / HalfStudentT(nu=a, sigma=b)
        nu = a
        mu, sd = (b, c) if code == 1 else (0.0, b)
        t = (x - mu) / sd
        lp = (
            math.lgamma(0.5 * (nu + 1.0))
            - math.lgamma(0.5 * nu)
            - 0.5 * math.log(nu * math.pi)
            - math.log(sd)
            - 0.5 * (nu + 1.0) * math.log1p(t * t / nu)
        )
        return (lp + (_LOG2 if code == 5 else 0.0)), -(nu + 1.0) * t / (sd * (nu + t * t))
    if code == 2 or code == 6:  # Cauchy(alpha=a, beta=b) / HalfCauchy(beta=a)
        loc, scale = (a, b) if code == 2 else (0.0, a)
        t = (x - loc) / scale
        lp = -math.log(math.pi * scale) - math.log1p(t * t)
        return (lp + (_LOG2 if code == 6 else 0.0)), -2.0 * t / (scale * (1.0 + t * t))
    if code == 7:  # Exponential(lam=a)
        return math.log(a) - a * x, -a
    if code == 8:  # Gamma(alpha=a, beta=b)
        lp = a * math.log(b) - math.lgamma(a) + (a - 1.0) * math.log(x) - b * x
        return lp, (a - 1.0) / x - b
    if code == 9:  # InverseGamma(alpha=a, beta=b)
        lp = a * math.log(b) - math.lgamma(a) - (a + 1.0) * math.log(x) - b / x
        return lp, -(a + 1.0) / x + b / (x * x)
    return 0.0, 0.0  # Flat, HalfFlat


@numba.njit(cache=True, nogil=True, error_model="numpy")
def corr_cholesky(y: np.ndarray, q: int, eta: float, L: np.ndarray, dL: np.ndarray) -> float:
    """Fill ``L`` (q x q) from unconstrained ``y``, and ``dL[k]`` = dL/dz_k (forward mode,
    ``z = tanh(y)``); return log LKJ(L | eta) + log-Jacobian of ``z -> L`` (no tanh part).

    Also writes ``dL[m + k]`` (the rows after the first m) = gradient of that returned value
    with respect to L, stored in ``dL[m, :, :]`` (one extra slice). -inf when degenerate.
    """
    m = q * (q - 1) // 2
    L[:, :] = 0.0
    dL[:, :, :] = 0.0
    L[0, 0] = 1.0
    total = 0.0
    k0 = 0
    for i in range(1, q):
        sumsq = 0.0
        dsum = np.zeros(i)
        rems = np.ones(i + 1)
        for j in range(i):
            z = math.tanh(y[k0 + j])
            rem = 1.0 - sumsq
            if rem <= 0.0:
                return -np.inf
            rems[j] = rem
            if j == 0:
                L[i, 0] = z
                dL[k0, i, 0] = 1.0
            else:
                rt = math.sqrt(rem)
                L[i, j] = z * rt
                dL[k0 + j, i, j] = rt
                for kk in range(j):
                    dL[k0 + kk, i, j] = z * (-0.5 / rt) * dsum[kk]
            sumsq += L[i, j] * L[i, j]
            for kk in range(j + 1):
                dsum[kk] += 2.0 * L[i, j] * dL[k0 + kk, i, j]
        rem = 1.0 - sumsq
        if rem <= 0.0:
            return -np.inf
        rems[i] = rem
        L[i, i] = math.sqrt(rem)
        for kk in range(i):
            dL[k0 + kk, i, i] = -0.5 / L[i, i] * dsum[kk]
        ci = q - i - 3.0 + 2.0 * eta
        total += 0.5 * ci * math.log(rems[i])
        for j in range(1, i):
            total += 0.5 * math.log(rems[j])
        # gradient of this row's terms w.r.t. L[i, k], k < i (rem_ij depends on L[i, k < j])
        for kk in range(i):
            coef = ci / rems[i]
            for j in range(kk + 1, i):
                coef += 1.0 / rems[j]
            dL[m, i, kk] = -L[i, kk] * coef
        k0 += i
    return total
