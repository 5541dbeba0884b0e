"""Compiled-once log-density kernel for gaussian models with one marginal block.

Why: nutpie compiles each PyMC model with numba from scratch (15-40 s for sleepstudy, most of it
LLVM work that is not cached across processes), while sampling takes under a second. For the
most common model, a gaussian model whose only random-effect block is integrated out (see
:mod:`pyglmm.marginal`), the log-density and its gradient are written here by hand as numba
functions compiled with ``cache=True``: the machine code is compiled once per installation and
loaded from numba's on-disk cache afterwards, and the data enter as arguments. Models outside
this scope (latent blocks, other families, priors without a kernel density) use the PyMC model.

Unconstrained parameters ``x = [theta (p), log sigma, log sd (q), y (q(q-1)/2, lkj only)]``.
``theta`` are the coefficients of the centered predictors of :mod:`pyglmm.compile`
(``[Intercept, beta]`` with an intercept, else ``b``). The correlation Cholesky factor ``L`` is
built from canonical partial correlations ``z = tanh(y)`` row by row (Stan's construction):

    L[i, 0] = z[i, 0],   L[i, j] = z[i, j] sqrt(rem_ij),   L[i, i] = sqrt(rem_ii),
    rem_ij = 1 - sum_{k<j} L[i, k]^2,

whose log-Jacobian is ``sum log(1 - z^2) + sum_{i, 1<=j<i} 1/2 log rem_ij``; the LKJ(eta)
density of ``L`` is ``sum_{i>=1} (q - i - 3 + 2 eta) / 2 log rem_ii`` (Stan's
``lkj_corr_cholesky``). With ``Lambda = diag(sd) L`` (``diag(sd)`` for diag blocks) the block
covariance is ``Lambda Lambda'``.

Log-likelihood per level g (``S_g = Z_g'Z_g``, ``c_g = Z_g'e_g``, ``B_g = s I + Lambda' S_g
Lambda``, ``s = sigma^2``, ``d_g = Lambda' c_g``, ``w_g = B_g^-1 d_g``), as in
:mod:`pyglmm.marginal`:

    ll = -1/2 [n log 2 pi + (n - G q) log s + sum_g log det B_g + (e'e - sum_g d_g'w_g) / s]

and its gradient (matrix calculus on the Woodbury form):

    d ll / d Lambda = sum_g [ -S_g Lambda B_g^-1 + (c_g - S_g Lambda w_g) w_g' / s ]
    d ll / d theta  = (X'y - X'X theta) / s - sum_g (Z_g'X_g)' Lambda w_g / s
    d ll / d s      = -1/2 [ (n - G q) / s + sum_g tr B_g^-1 - (e'e - sum_g d_g'w_g) / s^2
                             + sum_g w_g'w_g / s ].
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

from .design import Design
from .families import Family
from .marginal import MarginalStats, sufficient_stats
from .priors import Prior, PriorSet
from .sampling import SampleResult

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
_LOG2PI = math.log(2.0 * math.pi)


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


@numba.njit(cache=True, nogil=True)
def prior_lp(enc: np.ndarray, x: float) -> tuple[float, float]:  # pragma: no cover - numba
    """Log-density of an encoded prior at ``x`` and its derivative."""
    code = int(enc[0])
    a, b, c = enc[1], enc[2], enc[3]
    if code == 0 or code == 4:  # Normal(mu=a, sigma=b) / HalfNormal(sigma=a)
        mu, sd = (a, b) if code == 0 else (0.0, a)
        z = (x - mu) / sd
        lp = -0.5 * z * z - math.log(sd) - 0.5 * _LOG2PI
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


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def logp_grad(
    x: np.ndarray,
    grad: np.ndarray,
    p: int,
    q: int,
    diag: bool,
    n: float,
    A: np.ndarray,
    ZX: np.ndarray,
    Zy: np.ndarray,
    XtX: np.ndarray,
    Xty: np.ndarray,
    yty: float,
    shift: float,
    theta_priors: np.ndarray,
    sigma_prior: np.ndarray,
    sd_priors: np.ndarray,
    eta: float,
) -> float:  # pragma: no cover - numba
    """Log posterior density at ``x`` (see the module docstring); writes its gradient."""
    G = A.shape[0]
    grad[:] = 0.0
    th = x[:p].copy()
    if p > 0:
        th[0] -= shift  # shift is 0 without an intercept
    ls = x[p]
    sigma = math.exp(ls)
    s = sigma * sigma
    sd = np.exp(x[p + 1 : p + 1 + q])
    m = 0 if diag else q * (q - 1) // 2
    L = np.eye(q)
    dL = np.zeros((m + 1, q, q))
    lp = 0.0
    if not diag:
        lp += corr_cholesky(x[p + 1 + q :], q, eta, L, dL)
        if not np.isfinite(lp):
            return -np.inf
    Lam = np.empty((q, q))
    for i in range(q):
        for j in range(q):
            Lam[i, j] = sd[i] * L[i, j]

    # --- likelihood
    gth = np.empty(p)
    ee = yty
    for k in range(p):
        acc = 0.0
        for j in range(p):
            acc += XtX[k, j] * th[j]
        ee += th[k] * (acc - 2.0 * Xty[k])
        gth[k] = (Xty[k] - acc) / s
    GLam = np.zeros((q, q))
    SL = np.empty((q, q))
    B = np.empty((q, q))
    C = np.empty((q, q))
    c = np.empty(q)
    d = np.empty(q)
    w = np.empty(q)
    v = np.empty(q)
    Binv = np.empty((q, q))
    Lw = np.empty(q)
    sum_logdet = 0.0
    sum_quad = 0.0
    sum_tr = 0.0
    sum_ww = 0.0
    for g in range(G):
        for i in range(q):
            acc = Zy[g, i]
            for k in range(p):
                acc -= ZX[g, i, k] * th[k]
            c[i] = acc
        for i in range(q):  # SL = S Lam (Lam lower triangular)
            for j in range(q):
                acc = 0.0
                for k in range(j, q):
                    acc += A[g, i, k] * Lam[k, j]
                SL[i, j] = acc
        for i in range(q):  # B = s I + Lam' S Lam (lower part), d = Lam' c
            for j in range(i + 1):
                acc = 0.0
                for k in range(i, q):
                    acc += Lam[k, i] * SL[k, j]
                B[i, j] = acc
            B[i, i] += s
            acc = 0.0
            for k in range(i, q):
                acc += Lam[k, i] * c[k]
            d[i] = acc
        for j in range(q):  # Cholesky B = C C'
            acc = B[j, j]
            for k in range(j):
                acc -= C[j, k] * C[j, k]
            if acc <= 0.0:
                return -np.inf
            C[j, j] = math.sqrt(acc)
            sum_logdet += 2.0 * math.log(C[j, j])
            for i in range(j + 1, q):
                acc = B[i, j]
                for k in range(j):
                    acc -= C[i, k] * C[j, k]
                C[i, j] = acc / C[j, j]
        for col in range(q + 1):  # solve B w = d (col = q) and B Binv = I (col < q)
            for i in range(q):
                acc = d[i] if col == q else (1.0 if i == col else 0.0)
                for k in range(i):
                    acc -= C[i, k] * v[k]
                v[i] = acc / C[i, i]
            for i in range(q - 1, -1, -1):
                acc = v[i]
                for k in range(i + 1, q):
                    acc -= C[k, i] * (w[k] if col == q else Binv[k, col])
                if col == q:
                    w[i] = acc / C[i, i]
                else:
                    Binv[i, col] = acc / C[i, i]
        for i in range(q):
            sum_quad += d[i] * w[i]
            sum_tr += Binv[i, i]
            sum_ww += w[i] * w[i]
        for i in range(q):  # Lw = Lam w; resid = c - S Lam w
            acc = 0.0
            for k in range(i + 1):
                acc += Lam[i, k] * w[k]
            Lw[i] = acc
        for i in range(q):
            r_i = c[i]
            for k in range(q):
                r_i -= SL[i, k] * w[k]
            for j in range(i + 1):
                acc = 0.0
                for k in range(q):
                    acc += SL[i, k] * Binv[k, j]
                GLam[i, j] += -acc + r_i * w[j] / s
        for k in range(p):
            acc = 0.0
            for i in range(q):
                acc += ZX[g, i, k] * Lw[i]
            gth[k] -= acc / s
    quad = ee - sum_quad
    lp += -0.5 * (n * _LOG2PI + (n - G * q) * math.log(s) + sum_logdet + quad / s)
    dll_ds = -0.5 * ((n - G * q) / s + sum_tr - quad / (s * s) + sum_ww / s)

    # --- priors and Jacobians
    for k in range(p):
        plp, pg = prior_lp(theta_priors[k], x[k])
        lp += plp
        grad[k] = gth[k] + pg
    plp, pg = prior_lp(sigma_prior, sigma)
    lp += plp + ls
    grad[p] = dll_ds * 2.0 * s + pg * sigma + 1.0
    for i in range(q):
        plp, pg = prior_lp(sd_priors[i], sd[i])
        lp += plp + x[p + 1 + i]
        if diag:
            gsd = GLam[i, i]
        else:
            gsd = 0.0
            for j in range(i + 1):
                gsd += GLam[i, j] * L[i, j]
        grad[p + 1 + i] = (gsd + pg) * sd[i] + 1.0
    if not diag:
        for kk in range(m):
            yk = x[p + 1 + q + kk]
            z = math.tanh(yk)
            dz = 1.0 - z * z
            lp += math.log(dz)
            gz = -2.0 * z / dz  # d log(1 - z^2) / dz
            for i in range(q):
                for j in range(i + 1):
                    gz += (GLam[i, j] * sd[i] + dL[m, i, j]) * dL[kk, i, j]
            grad[p + 1 + q + kk] = gz * dz
    return lp


# --- model assembly ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class KernelModel:
    """Everything the kernel needs for one model (data as arguments, never compiled in)."""

    stats: MarginalStats
    p: int
    q: int
    diag: bool
    theta_priors: np.ndarray
    sigma_prior: np.ndarray
    sd_priors: np.ndarray
    eta: float
    block: str
    terms: tuple[str, ...]
    x_names: tuple[str, ...]
    intercept_pos: int | None  # position of "Intercept" in x_names
    xbar: np.ndarray  # means of the slope columns (with an intercept)

    @property
    def ndim(self) -> int:
        return self.p + 1 + self.q + (0 if self.diag else self.q * (self.q - 1) // 2)

    def logp(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior density (unconstrained ``x``) and its gradient."""
        grad = np.empty(self.ndim)
        s = self.stats
        lp = logp_grad(
            np.ascontiguousarray(x, dtype=np.float64),
            grad,
            self.p,
            self.q,
            self.diag,
            float(s.n),
            s.A,
            s.ZX,
            s.Zy,
            s.XtX,
            s.Xty,
            s.yty,
            s.shift,
            self.theta_priors,
            self.sigma_prior,
            self.sd_priors,
            self.eta,
        )
        return float(lp), grad

    def constrained(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The model's variables (PyMC path names) at unconstrained ``x``."""
        p, q = self.p, self.q
        theta = x[:p]
        out: dict[str, np.ndarray] = {}
        if self.intercept_pos is not None:
            out["Intercept"] = np.asarray(theta[0])
            beta = theta[1:]
            if beta.size:
                out["beta"] = beta.copy()
            out["b"] = np.insert(beta, self.intercept_pos, theta[0] - self.xbar @ beta)
        elif p:
            out["b"] = theta.copy()
        sd = np.exp(x[p + 1 : p + 1 + q])
        out[f"sd_{self.block}"] = sd
        if not self.diag:
            L = np.eye(q)
            corr_cholesky(x[p + 1 + q :], q, 1.0, L, np.zeros((q * (q - 1) // 2 + 1, q, q)))
            out[f"L_{self.block}"] = (sd[:, None] * L)[np.tril_indices(q)]
            out[f"cor_{self.block}"] = L @ L.T
        out["sigma"] = np.asarray(math.exp(x[p]))
        return out

    def unconstrained(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`constrained` from ``Intercept``/``beta``/``b``, ``sigma`` and
        ``L_<block>`` (packed Cholesky factor of the covariance) or ``sd_<block>``."""
        p, q = self.p, self.q
        x = np.zeros(self.ndim)
        if self.intercept_pos is not None:
            x[0] = float(values["Intercept"])
            x[1:p] = np.asarray(values.get("beta", np.zeros(p - 1)), dtype=float)
        elif p:
            x[:p] = np.asarray(values["b"], dtype=float)
        x[p] = math.log(float(values["sigma"]))
        if self.diag:
            x[p + 1 : p + 1 + q] = np.log(np.asarray(values[f"sd_{self.block}"], dtype=float))
            return x
        Lam = np.zeros((q, q))
        Lam[np.tril_indices(q)] = np.asarray(values[f"L_{self.block}"], dtype=float)
        sd = np.sqrt((Lam**2).sum(axis=1))
        x[p + 1 : p + 1 + q] = np.log(sd)
        L = Lam / sd[:, None]
        k = p + 1 + q
        for i in range(1, q):
            rem = 1.0
            for j in range(i):
                z = L[i, j] / math.sqrt(rem)
                x[k] = math.atanh(min(max(z, -1 + 1e-12), 1 - 1e-12))
                rem -= L[i, j] ** 2
                k += 1
        return x

    def initial_point(self, seed: int) -> np.ndarray:
        """Least-squares fixed effects, residual SD, SDs at half of it, no correlation; jittered
        by U(-1, 1) on the log scales and correlations (PyMC's jitter) and by 0.1 residual
        SDs (scaled by each column's SD) on the coefficients."""
        rng = np.random.default_rng(seed)
        s, p, q = self.stats, self.p, self.q
        x = np.zeros(self.ndim)
        resid_sd = math.sqrt(max(s.yty / max(s.n, 1), 1e-12))
        if p:
            theta = np.linalg.lstsq(s.XtX, s.Xty, rcond=None)[0]
            resid = max(s.yty - theta @ s.Xty, 1e-12 * s.yty + 1e-300)
            resid_sd = math.sqrt(resid / max(s.n - p, 1))
            col_sd = np.sqrt(np.maximum(np.diag(s.XtX) / max(s.n, 1), 1e-12))
            if self.intercept_pos is not None:
                theta[0] += s.shift
                col_sd[0] = 1.0
            x[:p] = theta + 0.1 * resid_sd / col_sd * rng.uniform(-1, 1, p)
        x[p] = math.log(resid_sd) + rng.uniform(-1, 1)
        x[p + 1 : p + 1 + q] = math.log(0.5 * resid_sd) + rng.uniform(-1, 1, q)
        x[p + 1 + q :] = rng.uniform(-1, 1, self.ndim - p - 1 - q)
        return x


def kernel_model(
    design: Design, priors: PriorSet, family: Family, parameterization: dict[str, str]
) -> KernelModel | str:
    """The :class:`KernelModel` of a model, or the reason (a string) it has none."""
    if family.name != "gaussian" or family.link != "identity":
        return f"family {family.name}({family.link}) is not gaussian(identity)"
    if len(design.blocks) != 1 or parameterization.get(design.blocks[0].name) != "marginal":
        return "the kernel covers one random-effect block sampled with 'marginal'"
    blk = design.blocks[0]
    names = list(design.x_names)
    i0 = names.index("Intercept") if design.has_intercept else None
    slopes = [c for c in names if c != "Intercept"]
    enc: list[np.ndarray | None] = []
    if i0 is not None:
        assert priors.intercept is not None
        enc.append(encode_prior(priors.intercept, LOCATION_PRIORS))
    enc += [encode_prior(priors.b[c], LOCATION_PRIORS) for c in slopes]
    sd_enc = [encode_prior(priors.sd[blk.name][t], POSITIVE_PRIORS) for t in blk.terms]
    sigma_enc = encode_prior(priors.family["sigma"], POSITIVE_PRIORS)
    if any(e is None for e in [*enc, *sd_enc, sigma_enc]):
        return "a prior has no kernel density (kernel priors: " + ", ".join(PRIOR_CODES) + ")"
    y = design.y if design.offset is None else design.y - design.offset
    if i0 is not None:
        xs = np.delete(design.X, i0, axis=1)
        xbar = xs.mean(axis=0)
        Xc = np.column_stack([np.ones(design.n_obs), xs - xbar])
    else:
        xbar, Xc = np.zeros(0), design.X
    stats = sufficient_stats(blk, Xc, y, 0 if i0 is not None else None)
    eta = priors.cor[blk.name].params.get("eta", 1.0) if blk.kind == "lkj" else 1.0
    return KernelModel(
        stats=stats,
        p=Xc.shape[1],
        q=blk.q,
        diag=blk.kind == "diag",
        theta_priors=np.array(enc, dtype=float).reshape(-1, 4),
        sigma_prior=np.asarray(sigma_enc, dtype=float),
        sd_priors=np.array(sd_enc, dtype=float),
        eta=float(eta),
        block=blk.name,
        terms=tuple(blk.terms),
        x_names=tuple(names),
        intercept_pos=i0,
        xbar=xbar,
    )


def nutpie_model(km: KernelModel, initvals: dict[str, Any] | None = None) -> tuple[Any, float]:
    """A nutpie model of ``km`` (``nutpie.compiled_pyfunc.from_pyfunc``) and the seconds spent
    loading (or, the first time on a machine, compiling) the kernel."""
    from nutpie.compiled_pyfunc import from_pyfunc

    t0 = time.perf_counter()
    start = km.initial_point(0)
    km.logp(start)  # loads the cached machine code (compiles it on first use)
    compile_s = time.perf_counter() - t0
    names, shapes, dims = _expanded(km)
    coords = _coords(km)
    base = km.unconstrained(initvals) if initvals else None

    def make_logp_fn() -> Any:
        def logp(x: np.ndarray, **_: Any) -> tuple[float, np.ndarray]:
            return km.logp(x)

        return logp

    def make_expand_fn(*_: Any) -> Any:
        def expand(x: np.ndarray, **__: Any) -> dict[str, np.ndarray]:
            return {k: np.asarray(v, dtype=np.float64) for k, v in km.constrained(x).items()}

        return expand

    def make_initial_point(seed: int) -> np.ndarray:
        if base is None:
            return km.initial_point(seed)
        rng = np.random.default_rng(seed)
        x = base.copy()
        x[km.p :] += rng.uniform(-0.1, 0.1, km.ndim - km.p)
        return x

    model = from_pyfunc(
        km.ndim,
        make_logp_fn,
        make_expand_fn,
        [np.dtype("float64")] * len(names),
        shapes,
        names,
        coords=coords,
        dims=dims,
        make_initial_point_fn=make_initial_point,
    )
    return model, compile_s


def _expanded(km: KernelModel) -> tuple[list[str], list[tuple[int, ...]], dict[str, tuple]]:
    values = km.constrained(km.initial_point(0))
    names = list(values)
    shapes = [tuple(np.shape(values[k])) for k in names]
    blk, term = km.block, f"{km.block}_term"
    dims: dict[str, tuple] = {"b": ("coef",), "beta": ("coef_slope",), f"sd_{blk}": (term,)}
    dims[f"cor_{blk}"] = (term, term + "_")
    dims[f"L_{blk}"] = (f"L_{blk}_dim_0",)
    return names, shapes, {k: v for k, v in dims.items() if k in values}


def _coords(km: KernelModel) -> dict[str, Any]:
    term = f"{km.block}_term"
    coords: dict[str, Any] = {"coef": list(km.x_names), term: list(km.terms)}
    coords[term + "_"] = list(km.terms)
    slopes = [c for c in km.x_names if c != "Intercept"]
    if km.intercept_pos is not None and slopes:
        coords["coef_slope"] = slopes
    if not km.diag:
        coords[f"L_{km.block}_dim_0"] = np.arange(km.q * (km.q + 1) // 2)
    return coords


def sample(
    km: KernelModel,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int | None,
    progressbar: bool,
    target_accept: float,
    cores: int | None,
    initvals: dict[str, Any] | None = None,
    low_rank_mass_matrix: bool = False,
) -> SampleResult:
    """NUTS (nutpie) on the kernel; ``timing`` holds ``compile`` (kernel load), ``sample`` and
    ``compile_cached`` (1.0 when nothing was compiled: numba loaded the kernel from its
    on-disk cache or it was loaded already, else 0.0)."""
    import nutpie

    misses = _cache_misses()
    compiled, compile_s = nutpie_model(km, initvals)
    cached = float(_cache_misses() == misses)
    t0 = time.perf_counter()
    idata = nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores or min(chains, os.cpu_count() or 1),
        seed=seed,
        progress_bar=progressbar,
        save_warmup=False,
        target_accept=target_accept,
        low_rank_modified_mass_matrix=low_rank_mass_matrix,
    )
    timing = {"compile": compile_s, "sample": time.perf_counter() - t0, "compile_cached": cached}
    return SampleResult(idata, timing)


def _cache_misses() -> int:
    """Kernel functions numba compiled (rather than loaded from its cache) in this process."""
    return sum(
        int(sum(f.stats.cache_misses.values())) for f in (logp_grad, corr_cholesky, prior_lp)
    )
