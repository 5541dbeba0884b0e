"""Penalized iteratively reweighted least squares (PIRLS) and the Laplace / adaptive
Gauss-Hermite deviance of a generalized linear mixed model, as lme4's ``glmer`` and
MixedModels.jl's ``GeneralizedLinearMixedModel`` compute them.

Model (Bates et al. 2015, section 5 of the lme4 book draft; MixedModels.jl ``pirls!``)::

    eta = offset + X beta + Z Lambda(theta) u,   u ~ N(0, I_q),
    y_i | u ~ family(mu_i = g^{-1}(eta_i), phi)

with ``Lambda(theta)`` the relative covariance factor of :mod:`pyglmm.lmm.profiled` (here
``Cov(b) = Lambda Lambda'``: no residual scale multiplies it).

**PIRLS.** For fixed ``theta`` (and, with ``nAGQ >= 1``, fixed ``beta``) the conditional modes
``u~`` maximise ``log p(y | u) - ||u||^2 / 2``. Fisher scoring on that objective is a weighted
penalised least-squares problem per iteration: with the working weights and response ::

    w_i = a_i mu'_i^2 / V(mu_i),    z_i = eta_i - offset_i + (y_i - mu_i) / mu'_i,
    mu'_i = d mu_i / d eta_i

(``a_i`` the prior weights, ``V`` the family's variance function, both from
:class:`~pyglmm.families.base.Family`), the update solves ::

    min_{u (, beta)}  || W^{1/2} (z - X beta - Z Lambda u) ||^2 + ||u||^2,

which is the linear mixed model's penalised least squares on the design scaled by
``W^{1/2}``: :class:`~pyglmm.lmm.profiled.ProfiledLmm`'s blocked Cholesky factor of
``Lambda' Z' W Z Lambda + I`` (and ``X``) solves it, block by block, with no dense Z. Each
step is halved until the penalised deviance ``-2 log p(y | u) + ||u||^2`` decreases
(lme4's step halving). At the fixed point the score equations hold, so ``u~`` is the exact
conditional mode (for non-canonical links too: only the Hessian is the expected one).

**Laplace deviance** (glmer's ``nAGQ = 1``) at the modes, with ``L L' = Lambda' Z' W Z
Lambda + I`` evaluated at ``mu(u~)`` (W the Fisher weights, as glmer; or the observed
information, as glmmTMB, where the family says so: they agree for canonical links)::

    -2 log L(theta, beta) ~= -2 log p(y | u~) + ||u~||^2 + log|L|^2

(``-2 log p(y | u~)`` with all constants, i.e. R's ``family()$aic``; so ``logLik`` is
``-deviance / 2`` exactly as lme4 reports it). With ``nAGQ = 0`` ``beta`` is a PIRLS
unknown too, and the outer optimization is over ``theta`` alone.

**Adaptive Gauss-Hermite** (``nAGQ = K > 1``; one scalar random-effect term, so the integral
factorizes over its levels l): with the level's mode ``u~_l`` and curvature
``ell_l^2 = 1 + theta^2 sum_{i in l} w_i z_i^2`` (the diagonal of ``L``), substituting
``u = u~_l + t / ell_l`` and the probabilists' Gauss-Hermite rule (nodes ``t_k``, weights
``omega_k`` summing to ``sqrt(2 pi)``) gives ::

    -2 log L = sum_l -2 [ -log ell_l + log sum_k omega_k exp(h_l(u~_l + t_k / ell_l) + t_k^2 / 2) ],
    h_l(u) = sum_{i in l} log p(y_i | u) - u^2 / 2 - log(2 pi) / 2,

which is the Laplace deviance for ``K = 1`` (``t_1 = 0``, ``omega_1 = sqrt(2 pi)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..design import Design
from ..families import Family
from .profiled import Factor, ProfiledLmm
from .weighted import SystemStructure

# PIRLS ends when no coordinate of (beta, u) moves by more than PIRLS_STEP_TOL (times
# 1 + the largest |u|), or the penalised deviance changes by less than rounding: the
# deviance's error is then O(step^2), far below what the outer finite differences resolve
PIRLS_STEP_TOL = 1e-9
PIRLS_MAXIT = 200
MAX_HALVINGS = 30


@dataclass(frozen=True)
class GlmmData:
    """The fixed inputs of a GLMM point fit: the design, the family and the response on the
    scale of ``mu`` (``ywork``), with the prior weights and the offset."""

    design: Design
    family: Family
    ywork: np.ndarray  # the response on the scale of mu (proportions for the binomial)
    weights: np.ndarray  # prior weights (binomial: trials)
    offset: np.ndarray
    information: str = "expected"  # the Laplace log-determinant's weights (see Family)
    structure: SystemStructure = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "structure", SystemStructure(self.design))

    @classmethod
    def from_design(
        cls, design: Design, family: Family, information: str | None = None
    ) -> GlmmData:
        n = design.n_obs
        offset = np.zeros(n) if design.offset is None else np.asarray(design.offset, float)
        return cls(
            design,
            family,
            family.working_response(np.asarray(design.y, float), design.trials),
            family.prior_weights(design.trials, n),
            offset,
            family.laplace_information if information is None else information,
        )

    @property
    def X(self) -> np.ndarray:
        return np.asarray(self.design.X, dtype=float)

    def loglik_rows(self, mu: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """``log p(y_i | mu_i)`` for ``mu`` (K, n) or (n,); rows x ... as ``mu``."""
        mu2 = np.atleast_2d(mu)
        arr = {k: np.full(mu2.shape[0], float(v)) for k, v in params.items()}
        out = self.family.loglik(np.asarray(self.design.y, float), mu2, arr, self.design.trials)
        return np.asarray(out).reshape(np.shape(mu))

    def random_eta(self, Ts: list[np.ndarray], u: list[np.ndarray]) -> np.ndarray:
        """``Z Lambda u`` (n,)."""
        out = np.zeros(self.design.n_obs)
        for blk, T, uk in zip(self.design.blocks, Ts, u, strict=True):
            bk = uk @ T.T  # (m, q)
            out += np.einsum("ij,ij->i", blk.Z, bk[blk.codes])
        return out


@dataclass(frozen=True)
class PirlsResult:
    """The conditional modes at one ``(theta, beta)`` and what the deviance needs."""

    beta: np.ndarray
    u: list[np.ndarray]
    eta: np.ndarray
    mu: np.ndarray
    weights: np.ndarray  # working weights at mu
    loglik: float  # log p(y | u~), all constants
    penalty: float  # ||u~||^2
    logdet: float  # log|L|^2 at mu(u~)
    factor: Factor  # the factor at mu(u~)
    system: ProfiledLmm  # the weighted system of that factor
    n_iter: int
    converged: bool

    @property
    def laplace(self) -> float:
        """The Laplace deviance ``-2 log p(y | u~) + ||u~||^2 + log|L|^2``."""
        return -2.0 * self.loglik + self.penalty + self.logdet


def weighted_system(data: GlmmData, w: np.ndarray, z: np.ndarray, with_x: bool) -> ProfiledLmm:
    """The PIRLS least-squares problem as a linear mixed model on the ``W^{1/2}``-scaled
    design (``z``: the working response, offset and, when ``beta`` is fixed, ``X beta``
    already taken off), from the fit's cached structure (:mod:`pyglmm.lmm.weighted`)."""
    X = data.X if with_x else np.zeros((data.design.n_obs, 0))
    return data.structure.system(w, X, z)


def _moments(
    data: GlmmData, eta: np.ndarray, params: dict[str, float], kind: str = "expected"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mu, d mu / d eta, information weights)`` at ``eta``."""
    fam = data.family
    mu = fam.linkinv_np(eta)
    dmu = fam.mu_eta(eta)
    w = fam.information_weights(data.ywork, mu, eta, params, data.weights, kind)
    return mu, dmu, w


def pirls(
    data: GlmmData,
    theta: np.ndarray,
    params: dict[str, float],
    layout_unpack: list[np.ndarray],
    beta: np.ndarray | None = None,
    u0: list[np.ndarray] | None = None,
    beta0: np.ndarray | None = None,
    tol: float = PIRLS_STEP_TOL,
    maxit: int = PIRLS_MAXIT,
) -> PirlsResult:
    """Conditional modes by PIRLS at ``theta`` (its factors ``layout_unpack``).

    ``beta`` given: fixed effects held (glmer's ``nAGQ >= 1`` inner problem); None: ``beta``
    is solved with ``u`` (``nAGQ = 0``), starting from ``beta0`` or, without it, from the
    family's starting means. ``u0``: starting modes (warm start), else zeros.
    """
    d = data.design
    Ts = layout_unpack
    X = data.X
    fixed_beta = beta is not None
    u = [np.zeros((b.n_levels, b.q)) for b in d.blocks] if u0 is None else [x.copy() for x in u0]
    if fixed_beta:
        b_cur = np.asarray(beta, float)
    elif beta0 is not None:
        b_cur = np.asarray(beta0, float)
    else:
        b_cur = np.zeros(X.shape[1])

    def eta_of(bv: np.ndarray, uv: list[np.ndarray]) -> np.ndarray:
        return data.offset + X @ bv + data.random_eta(Ts, uv)

    def pdev_of(eta: np.ndarray, uv: list[np.ndarray]) -> float:
        mu = data.family.linkinv_np(eta)
        ll = float(np.sum(data.loglik_rows(mu, params)))
        return -2.0 * ll + float(sum(np.sum(x**2) for x in uv))

    cold = not fixed_beta and beta0 is None and u0 is None
    if not cold:
        eta = eta_of(b_cur, u)
        pdev = pdev_of(eta, u)
        if not np.isfinite(pdev) and not fixed_beta:  # a warm start outside the support
            cold, u = True, [np.zeros_like(x) for x in u]
        elif not np.isfinite(pdev):
            u = [np.zeros_like(x) for x in u]
            eta = eta_of(b_cur, u)
            pdev = pdev_of(eta, u)
    if cold:
        eta = data.family.linkfun_np(data.family.start_mean(data.ywork, data.weights))
        pdev = np.inf
    converged, it = False, 0
    for it in range(1, maxit + 1):  # noqa: B007  (it is reported)
        mu, dmu, w = _moments(data, eta, params)
        z = eta - data.offset + (data.ywork - mu) / dmu
        if fixed_beta:
            z = z - X @ b_cur
        system = weighted_system(data, w, z, with_x=not fixed_beta)
        f = system.factor(theta)
        b_new, u_new = system.spherical_modes(f)
        if fixed_beta:
            b_new = b_cur
        # step halving from the current (beta, u) towards the new solution
        if not np.isfinite(pdev):  # from the starting means: shrink u until inside the support
            for _ in range(MAX_HALVINGS):
                eta_new = eta_of(b_new, u_new)
                pdev_new = pdev_of(eta_new, u_new)
                if np.isfinite(pdev_new):
                    break
                u_new = [0.5 * x for x in u_new]
        else:
            t = 1.0
            for _ in range(MAX_HALVINGS):
                b_try = b_cur + t * (b_new - b_cur)
                u_try = [a + t * (c - a) for a, c in zip(u, u_new, strict=True)]
                eta_new = eta_of(b_try, u_try)
                pdev_new = pdev_of(eta_new, u_try)
                if np.isfinite(pdev_new) and pdev_new <= pdev + 1e-10 * abs(pdev):
                    b_new, u_new = b_try, u_try
                    break
                t /= 2.0
            else:  # no decrease along the step: at the mode up to rounding
                converged = True
                break
        step = max(
            float(np.max(np.abs(b_new - b_cur), initial=0.0)),
            max(float(np.max(np.abs(a - c), initial=0.0)) for a, c in zip(u, u_new, strict=True)),
        )
        scale = 1.0 + max(float(np.max(np.abs(c), initial=0.0)) for c in u_new)
        change = abs(pdev - pdev_new) if np.isfinite(pdev) else np.inf
        b_cur, u, eta, pdev = b_new, u_new, eta_new, pdev_new
        if step <= tol * scale or change <= 1e-15 * abs(pdev):
            converged = True
            break
    # the factor at the modes, with the information the Laplace approximation uses
    mu, dmu, w = _moments(data, eta, params, data.information)
    z = eta - data.offset + (data.ywork - mu) / dmu
    if fixed_beta:
        z = z - X @ b_cur
    system = weighted_system(data, w, z, with_x=not fixed_beta)
    f = system.factor(theta)
    ll = float(np.sum(data.loglik_rows(mu, params)))
    return PirlsResult(
        beta=b_cur,
        u=u,
        eta=eta,
        mu=mu,
        weights=w,
        loglik=ll,
        penalty=float(sum(np.sum(x**2) for x in u)),
        logdet=float(f.logdet_z),
        factor=f,
        system=system,
        n_iter=it,
        converged=converged,
    )


def agq_deviance(
    data: GlmmData,
    res: PirlsResult,
    theta: np.ndarray,
    params: dict[str, float],
    nagq: int,
) -> float:
    """The adaptive Gauss-Hermite deviance (module docstring) for one scalar block, around
    the PIRLS modes ``res`` at ``(theta, beta)``."""
    (blk,) = data.design.blocks
    t_nodes, omega = np.polynomial.hermite_e.hermegauss(nagq)
    codes = blk.codes
    zcol = np.asarray(blk.Z, float)[:, 0]
    u_hat = res.u[0][:, 0]
    th = float(theta[0])
    ell = np.sqrt(1.0 + th**2 * np.bincount(codes, res.weights * zcol**2, minlength=blk.n_levels))
    eta_fixed = res.eta - th * zcol * u_hat[codes]
    m = blk.n_levels
    terms = np.empty((nagq, m))
    for k, (tk, _) in enumerate(zip(t_nodes, omega, strict=True)):
        u_node = u_hat + tk / ell
        eta = eta_fixed + th * zcol * u_node[codes]
        ll = data.loglik_rows(data.family.linkinv_np(eta), params)
        h = np.bincount(codes, ll, minlength=m) - 0.5 * u_node**2 - 0.5 * np.log(2 * np.pi)
        terms[k] = h + 0.5 * tk**2
    top = terms.max(axis=0)
    log_sum = top + np.log(np.sum(omega[:, None] * np.exp(terms - top), axis=0))
    return float(-2.0 * np.sum(log_sum - np.log(ell)))
