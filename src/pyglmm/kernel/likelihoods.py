"""The row log-densities of the GLMM kernel (numba, ``cache=True``): ``log p(y_i | eta_i)``
and its derivatives for the binomial (bernoulli: one trial), Poisson and negative binomial
families, by a small integer *density* code and *link* code (:data:`DENSITIES`,
:data:`LINK_CODES`; :func:`row_logp` is the one place a family is added).

With ``n_i`` trials, ``mu = g^-1(eta)`` and the data-only constants left out (they are summed
once per model by :func:`loglik_constant`):

    binomial:   ll = y log mu + (n - y) log(1 - mu)            (+ log C(n, y))
    poisson:    ll = y eta - exp(eta)                           (+ -log y!), log link
    negbin:     ll = lgamma(y + a) - lgamma(a) + y eta + a log a - (y + a) log(mu + a)
                                                                (+ -log y!), log link, a = shape

Derivatives: ``d ll / d eta = y dlog mu - (n - y) dlog(1 - mu)`` (binomial), ``y - mu``
(poisson), ``y - (y + a) mu / (mu + a)`` (negbin), and for the negative binomial

    d ll / d a = psi(y + a) - psi(a) + log a + 1 - log(mu + a) - (y + a) / (mu + a).

Stable forms per link (``s(t) = log(1 + e^t)``, computed as ``max(t, 0) - log(inv)`` with
``inv = 1 / (1 + e^-|t|)``, :func:`logit_row`):

* logit: ``ll = y eta - n s(eta)``, ``d ll / d eta = y - n expit(eta)``;
* probit: ``log mu = log Phi(eta)``, ``log(1 - mu) = log Phi(-eta)`` (:func:`log_ndtr`: ``erfc``
  ``log1p`` above 0, the asymptotic series below ``-37``), ``dlog Phi(x) = phi(x) / Phi(x)``
  (:func:`ndtr_ratio`);
* cloglog: ``t = e^eta``, ``log(1 - mu) = -t``, ``log mu = log(1 - e^-t)`` (``log(-expm1(-t))``
  for ``t < log 2``, else ``log1p(-e^-t)``; ``eta - t/2`` for tiny ``t``), ``dlog mu = t /
  expm1(t)``, ``dlog(1 - mu) = -t``;
* log: ``log(mu + a) = logaddexp(eta, log a)``, ``mu / (mu + a) = expit(eta - log a)``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import special

from .vmath import exp_fast, log1p_unit, ordered_sum

# density code -> the links it has in the kernel (the first field of ``Family.kernel_density``)
BINOMIAL, POISSON, NEGBIN = 0, 1, 2
LOGIT, PROBIT, CLOGLOG, LOG = 0, 1, 2, 3
LINK_CODES = {"logit": LOGIT, "probit": PROBIT, "cloglog": CLOGLOG, "log": LOG}
DENSITIES: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    # name (Family.kernel_density) -> (code, links, family parameters on the log scale)
    "binomial": (BINOMIAL, ("logit", "probit", "cloglog"), ()),
    "poisson": (POISSON, ("log",), ()),
    "negativebinomial": (NEGBIN, ("log",), ("shape",)),
}

_HALF_LOG2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT1_2 = math.sqrt(0.5)
_LOG2 = math.log(2.0)


def loglik_constant(code: int, y: np.ndarray, trials: np.ndarray) -> float:
    """The data-only part of the log-likelihood the row densities leave out."""
    if code == BINOMIAL:
        lchoose = special.gammaln(trials + 1) - special.gammaln(y + 1)
        return float(np.sum(lchoose - special.gammaln(trials - y + 1)))
    return float(-np.sum(special.gammaln(y + 1)))


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def expit(t: float) -> float:  # pragma: no cover - numba
    """``1 / (1 + e^-t)`` without overflow."""
    if t >= 0.0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def logit_row(y: float, n: float, eta: float) -> tuple[float, float, float]:  # pragma: no cover
    """``(ll, expit(eta), expit(-eta))`` of a logit row, ``ll = y eta - n s(eta)``, from one
    ``exp`` and one ``log``: with ``e = e^-|eta|`` and ``inv = 1 / (1 + e)``, ``s(eta) =
    max(eta, 0) - log(inv)``. Its absolute error is about 1e-16 (``log1p(e)`` is exact to the
    last bit in relative terms, but took 2.3x as long per row here: 31 against 13 ns). The
    row loop of :func:`rows_logp` uses the vectorizable forms of :mod:`~pyglmm.kernel.vmath`
    instead; this scalar form serves :func:`row_logp` and :func:`row_derivatives`."""
    e = math.exp(-abs(eta))
    inv = 1.0 / (1.0 + e)
    ll = y * eta - n * (max(eta, 0.0) - math.log(inv))
    if eta >= 0.0:
        return ll, inv, e * inv
    return ll, e * inv, inv


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _mills_series(x: float) -> float:  # pragma: no cover - numba
    """``S(x) = 1 - 1/x^2 + 3/x^4 - 15/x^6 + 105/x^8`` with ``Phi(x) ~ phi(x) S(x) / -x`` as
    ``x -> -inf`` (relative error below 1e-12 for ``x < -37``)."""
    f = 1.0 / (x * x)
    return 1.0 - f * (1.0 - f * (3.0 - f * (15.0 - 105.0 * f)))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_ndtr(x: float) -> float:  # pragma: no cover - numba
    """``log Phi(x)``: ``log1p(-erfc(x / sqrt 2) / 2)`` above 0, ``log(erfc(-x / sqrt 2) / 2)``
    down to -37 (``erfc`` keeps its relative accuracy there), the asymptotic series below."""
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * _SQRT1_2))
    if x > -37.0:
        return math.log(0.5 * math.erfc(-x * _SQRT1_2))
    return -0.5 * x * x - _HALF_LOG2PI - math.log(-x) + math.log(_mills_series(x))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def ndtr_ratio(x: float, log_phi_cdf: float) -> float:  # pragma: no cover - numba
    """``phi(x) / Phi(x) = d log Phi(x) / dx`` (``log_phi_cdf = log_ndtr(x)``); ``-x / S(x)``
    below -37."""
    if x > -37.0:
        return math.exp(-0.5 * x * x - _HALF_LOG2PI - log_phi_cdf)
    return -x / _mills_series(x)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def digamma(x: float) -> float:  # pragma: no cover - numba
    """``psi(x)`` for ``x > 0``: the recurrence ``psi(x) = psi(x + 1) - 1/x`` up to 10, then
    the asymptotic series to ``x^-10`` (absolute error below 1e-14)."""
    r = 0.0
    while x < 10.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    tail = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))))
    return r + math.log(x) - 0.5 / x - tail


@numba.njit(cache=True, nogil=True, error_model="numpy")
def binomial_link(link: int, eta: float) -> tuple[float, float, float, float]:  # pragma: no cover
    """``(log mu, log(1 - mu), d log mu / d eta, d log(1 - mu) / d eta)`` for the probit and
    cloglog links (module docstring); logit is handled in :func:`row_logp` directly."""
    if link == PROBIT:
        lm, l1m = log_ndtr(eta), log_ndtr(-eta)
        return lm, l1m, ndtr_ratio(eta, lm), -ndtr_ratio(-eta, l1m)
    t = math.exp(eta)  # cloglog
    if t < 1e-10:
        return eta - 0.5 * t, -t, 1.0 - 0.5 * t, -t
    lm = math.log(-math.expm1(-t)) if t < _LOG2 else math.log1p(-math.exp(-t))
    return lm, -t, t / math.expm1(t), -t


@numba.njit(cache=True, nogil=True, error_model="numpy")
def row_logp(
    code: int, link: int, y: float, n: float, eta: float, shape: float, log_shape: float
) -> tuple[float, float, float]:  # pragma: no cover - numba
    """``(ll, d ll / d eta, d ll / d shape)`` of one row (module docstring; no constants)."""
    if code == BINOMIAL:
        if link == LOGIT:
            ll, m, _ = logit_row(y, n, eta)
            return ll, y - n * m, 0.0
        lm, l1m, dlm, dl1m = binomial_link(link, eta)
        ll, d = 0.0, 0.0
        if y > 0.0:
            ll += y * lm
            d += y * dlm
        if n - y > 0.0:
            ll += (n - y) * l1m
            d += (n - y) * dl1m
        return ll, d, 0.0
    mu = math.exp(eta)
    if code == POISSON:
        return y * eta - mu, y - mu, 0.0
    a = shape  # NEGBIN, log link
    log_mu_a = max(eta, log_shape) + math.log1p(math.exp(-abs(eta - log_shape)))
    ll = math.lgamma(y + a) - math.lgamma(a) + y * eta + a * log_shape - (y + a) * log_mu_a
    d_eta = y - (y + a) * expit(eta - log_shape)
    d_a = digamma(y + a) - digamma(a) + log_shape + 1.0 - log_mu_a - (y + a) * math.exp(-log_mu_a)
    return ll, d_eta, d_a


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def rows_logp(
    code: int,
    link: int,
    y: np.ndarray,
    trials: np.ndarray,
    eta: np.ndarray,
    shape: float,
    log_shape: float,
    scratch: np.ndarray,
) -> tuple[float, float]:  # pragma: no cover - numba
    """Returns ``sum_i ll_i`` and ``sum_i d ll_i / d shape`` over a chunk of rows, and
    overwrites ``eta`` with ``d ll_i / d eta_i`` (what the backward pass takes).

    The logit and Poisson rows, the common cases, run in a loop of their own without calls
    (:mod:`~pyglmm.kernel.vmath`), which the compiler vectorizes: each row's ``ll_i`` goes to
    ``scratch`` (at least as long as the chunk) and is summed after the loop
    (:func:`~pyglmm.kernel.vmath.ordered_sum`). Logit, with ``u = e^-|eta|``:
    ``s(eta) = max(eta, 0) + log(1 + u)``, ``expit(eta) = 1 / (1 + u)`` or ``u / (1 + u)``."""
    n = eta.shape[0]
    if code == BINOMIAL and link == LOGIT:
        for row in range(n):
            e = eta[row]
            u = exp_fast(-abs(e))
            log1p_u, inv = log1p_unit(u)
            scratch[row] = y[row] * e - trials[row] * (max(e, 0.0) + log1p_u)
            eta[row] = y[row] - trials[row] * (inv if e >= 0.0 else u * inv)
        return ordered_sum(scratch[:n]), 0.0
    if code == POISSON:
        for row in range(n):
            e = eta[row]
            mu = exp_fast(e)
            scratch[row] = y[row] * e - mu
            eta[row] = y[row] - mu
        return ordered_sum(scratch[:n]), 0.0
    total, g_shape = 0.0, 0.0
    for row in range(n):
        ll, d, ds = row_logp(code, link, y[row], trials[row], eta[row], shape, log_shape)
        total += ll
        g_shape += ds
        eta[row] = d
    return total, g_shape


# --- derivatives to third order (the Laplace block, :mod:`~pyglmm.kernel.laplace`) ---------


@numba.njit(cache=True, nogil=True, error_model="numpy")
def probit_shift(x: float, r: float) -> float:  # pragma: no cover - numba
    """``s(x) = x + r(x)`` with ``r = phi / Phi`` (``r' = -r s``): below -37, where ``r ~ -x``
    cancels, ``x (S - 1) / S`` from the series of :func:`_mills_series`."""
    if x > -37.0:
        return x + r
    f = 1.0 / (x * x)
    s_minus_1 = -f * (1.0 - f * (3.0 - f * (15.0 - 105.0 * f)))
    return x * s_minus_1 / (1.0 + s_minus_1)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def log_ndtr_derivatives(x: float) -> tuple[float, float, float, float]:  # pragma: no cover
    """``log Phi(x)`` and its first three derivatives ``r``, ``r' = -r s``, ``r'' = r (s (s +
    r) - 1)`` (``r = phi / Phi``, ``s = x + r``, :func:`probit_shift`)."""
    lm = log_ndtr(x)
    r = ndtr_ratio(x, lm)
    s = probit_shift(x, r)
    return lm, r, -r * s, r * (s * (s + r) - 1.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def cloglog_derivatives(eta: float) -> tuple[float, float, float, float]:  # pragma: no cover
    """``log mu = log(1 - exp(-t))``, ``t = e^eta``, and its derivatives in ``eta``: ``rho =
    t / expm1(t)``, ``rho' = rho (1 - t - rho)``, ``rho'' = rho' (1 - t - 2 rho) - rho t``
    (``1 - t - rho = -t/2 - t^2/12 + t^4/720`` below ``t = 1e-4``, where it cancels)."""
    t = math.exp(eta)
    if t > 700.0:  # mu = 1 to double precision
        return -math.exp(-t), 0.0, 0.0, 0.0
    if t < 1e-10:
        lm = eta - 0.5 * t
    elif t < _LOG2:
        lm = math.log(-math.expm1(-t))
    else:
        lm = math.log1p(-math.exp(-t))
    if t < 1e-4:
        rho = 1.0 - t * (0.5 - t / 12.0)
        gap = -t * (0.5 + t / 12.0 - t * t * t / 720.0)  # 1 - t - rho
    else:
        rho = t / math.expm1(t)
        gap = 1.0 - t - rho
    d2 = rho * gap
    return lm, rho, d2, d2 * (1.0 - t - 2.0 * rho) - rho * t


@numba.njit(cache=True, nogil=True, error_model="numpy")
def row_derivatives(
    code: int, link: int, y: float, n: float, eta: float, shape: float, log_shape: float
) -> tuple[float, float, float, float]:  # pragma: no cover - numba
    """``(ll, d ll / d eta, d2 ll / d eta2, d3 ll / d eta3)`` of one row (no constants; ``ll``
    and the first derivative as :func:`row_logp`). With ``m = expit(eta)``, ``m1 = 1 - m``:

    * logit: ``-n m m1``, ``-n m m1 (m1 - m)``;
    * probit: ``y r'(eta) + (n - y) r'(-eta)``, ``y r''(eta) - (n - y) r''(-eta)``
      (:func:`log_ndtr_derivatives`);
    * cloglog: ``y rho' - (n - y) t``, ``y rho'' - (n - y) t`` (:func:`cloglog_derivatives`;
      ``log(1 - mu) = -t`` is its own derivative);
    * poisson: ``-mu``, ``-mu``;
    * negbin: ``p = expit(eta - log a)``: ``-(y + a) p (1 - p)``, ``-(y + a) p (1 - p) (1 - 2p)``.
    """
    if code == BINOMIAL:
        if link == LOGIT:
            ll, m, m1 = logit_row(y, n, eta)
            w = n * m * m1
            return ll, y - n * m, -w, -w * (m1 - m)
        ll, d1, d2, d3 = 0.0, 0.0, 0.0, 0.0
        f = n - y
        if link == PROBIT:
            if y > 0.0:
                lm, r, r1, r2 = log_ndtr_derivatives(eta)
                ll += y * lm
                d1 += y * r
                d2 += y * r1
                d3 += y * r2
            if f > 0.0:
                lm, r, r1, r2 = log_ndtr_derivatives(-eta)
                ll += f * lm
                d1 -= f * r
                d2 += f * r1
                d3 -= f * r2
            return ll, d1, d2, d3
        t = math.exp(eta)  # cloglog
        if y > 0.0:
            lm, r, r1, r2 = cloglog_derivatives(eta)
            ll += y * lm
            d1 += y * r
            d2 += y * r1
            d3 += y * r2
        if f > 0.0:
            ll -= f * t
            d1 -= f * t
            d2 -= f * t
            d3 -= f * t
        return ll, d1, d2, d3
    if code == POISSON:
        mu = math.exp(eta)
        return y * eta - mu, y - mu, -mu, -mu
    a = shape  # NEGBIN, log link
    ll, d1, _ = row_logp(code, link, y, n, eta, shape, log_shape)
    p, p1 = expit(eta - log_shape), expit(log_shape - eta)
    w = (y + a) * p * p1
    return ll, d1, -w, -w * (p1 - p)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def negbin_shape_partials(
    y: float, eta: float, shape: float, log_shape: float
) -> tuple[float, float, float]:  # pragma: no cover - numba
    """The negative binomial's partial derivatives in its shape ``a`` at fixed ``eta``: of
    ``ll`` (:func:`row_logp`), of ``v = d ll / d eta = y - (y + a) p`` and of ``W = -d2 ll /
    d eta2 = (y + a) p (1 - p)``, with ``p = expit(eta - log a)``, ``dp / da = -p (1 - p) / a``:

        dv / da = -p + (y + a) p (1 - p) / a,
        dW / da = p (1 - p) [1 - (y + a) (1 - 2p) / a]."""
    a = shape
    _, _, d_a = row_logp(NEGBIN, LOG, y, 1.0, eta, shape, log_shape)
    p, p1 = expit(eta - log_shape), expit(log_shape - eta)
    pp = p * p1
    return d_a, -p + (y + a) * pp / a, pp * (1.0 - (y + a) * (p1 - p) / a)
