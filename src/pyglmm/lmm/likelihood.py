"""The linear mixed model's likelihood at arbitrary parameters, conditional fits for profiles,
simulation and conditional variances of the random effects, all from the blocked factor of
:mod:`pyglmm.lmm.profiled`.

Deviance at natural parameters (nothing profiled). With ``theta`` from the SDs/correlations
and ``sigma`` (:mod:`pyglmm.lmm.natural`), the blocked Cholesky factor of ``A(theta)`` gives
``log|L_theta|^2`` (``logdet_z``), ``R_X`` (``logdet_x = log|R_X|^2``), the conditional
estimate ``beta_theta`` and the penalised residual sum of squares ``r^2(theta)`` at it. Since
``||y - X beta - Z Lambda u||^2 + ||u||^2`` minimised over ``u`` is
``r^2(theta) + ||R_X (beta - beta_theta)||^2`` (Bates et al. 2015, eq. 3.24-3.27)::

    ML   : -2 log L(theta, beta, sigma)
             = log|L_theta|^2 + n log(2 pi sigma^2)
               + (r^2(theta) + ||R_X (beta - beta_theta)||^2) / sigma^2
    REML : -2 log L_R(theta, sigma)
             = log|L_theta|^2 + log|R_X|^2 + (n - p) log(2 pi sigma^2) + r^2(theta) / sigma^2

(``beta`` is integrated out of the REML likelihood, so it is ignored there). Minimising over
``sigma^2`` gives ``r^2 / n`` (ML) or ``r^2 / (n - p)`` (REML) and the profiled criteria of
:mod:`pyglmm.lmm.profiled`.

Conditional variances (lme4's ``condVar``/``postVar``): given ``theta``, ``sigma`` and
``beta = beta_hat``, ``u | y ~ N(u_hat, sigma^2 M^{-1})`` with ``M = Lambda'Z'Z Lambda + I``.
In the blocked factor ``M = [[L11 L11', L11 W], [W' L11', W'W + S_zz]]`` (``S_zz = L_S L_S'``
the Schur complement of the remaining blocks), so the diagonal blocks of ``M^{-1}`` are ::

    first block, level l : L11_l^{-T} (I + W_l S_zz^{-1} W_l') L11_l^{-1}
    remaining blocks     : diagonal blocks of S_zz^{-1} = L_S^{-T} L_S^{-1}

and ``Var(b_k[l] | y) = sigma^2 T_k (M^{-1})_{kl} T_k'``.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg as sla

from ..posterior import design_eta
from .natural import NaturalLayout
from .pointfit import minimize_conditional
from .profiled import Factor, ProfiledLmm

# ``fit`` arguments below are LmmFit objects (not imported here: result.py imports this module)
LmmFit = Any


def beta_hat(prof: ProfiledLmm, f: Factor) -> tuple[np.ndarray, np.ndarray]:
    """``(beta_theta, R_X')``: the conditional fixed effects at the factor's theta and the
    lower-triangular ``R_X'`` block of the factor."""
    Qr, p = prof.Qr, prof.p
    LS = f.LS
    x_rest = sla.solve_triangular(LS[:-1, :-1].T, LS[-1, :-1], lower=False)
    return x_rest[Qr:], LS[Qr : Qr + p, Qr : Qr + p]


def deviance_at(
    prof: ProfiledLmm,
    layout: NaturalLayout,
    values: np.ndarray,
    reml: bool,
    profile_beta: bool = False,
) -> float:
    """``-2 log L`` (ML) or ``-2 log L_R`` (REML) at natural parameters (module docstring).

    ``profile_beta``: use ``beta_theta`` instead of the vector's fixed effects (ML only).
    """
    theta, sigma, beta = layout.to_theta(values)
    assert sigma is not None
    try:
        f = prof.factor(theta)
    except np.linalg.LinAlgError:
        return float("inf")
    s2 = sigma**2
    if reml:
        nu = prof.n - prof.p
        return float(f.logdet_z + f.logdet_x + nu * np.log(2 * np.pi * s2) + f.pwrss / s2)
    quad = 0.0
    if not profile_beta and prof.p:
        bh, RXt = beta_hat(prof, f)
        quad = float(np.sum((RXt.T @ (beta - bh)) ** 2))
    return float(f.logdet_z + prof.n * np.log(2 * np.pi * s2) + (f.pwrss + quad) / s2)


def _scales(layout: NaturalLayout, estimate: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Optimisation units: the estimate for SDs and sigma, 1 for correlations, SEs for beta."""
    sc = np.ones(len(estimate))
    for i, kind in enumerate(layout.kinds):
        if kind in ("sd", "sigma"):
            sc[i] = max(abs(estimate[i]), 1e-3 * max(abs(estimate[layout.n_variance - 1]), 1.0))
    sc[layout.n_variance :] = np.maximum(se, 1e-12)
    return sc


def conditional_fit(
    fit: LmmFit,
    index: int,
    value: float,
    start: np.ndarray | None,
    fitter: Callable[..., Any],
) -> tuple[float, np.ndarray]:
    """Minimum of the ML deviance with natural parameter ``index`` held at ``value``.

    A variance parameter (SD, correlation, sigma): the other variance parameters are optimised
    numerically, ``beta`` is profiled exactly (``beta = beta_theta``). A fixed effect
    ``beta_j``: as lme4, ``x_j beta_j`` moves into the offset and the model without column
    ``j`` is fitted by ML with ``fitter`` (:func:`pyglmm.lmm.result.fit_design`; ``theta``
    warm-started, ``sigma`` and the other ``beta`` profiled).
    """
    if fit.reml:
        raise ValueError("conditional_fit needs an ML fit (use fit.to_ml())")
    layout = fit.natural_layout
    est = fit.natural_params().to_numpy()
    nv = layout.n_variance
    prof = fit.profiled
    if index < nv:
        free = np.zeros(len(est), bool)
        free[:nv] = True
        se = np.sqrt(np.diag(fit.vcov_beta))

        def dev(v: np.ndarray) -> float:
            return deviance_at(prof, layout, v, reml=False, profile_beta=True)

        d, v = minimize_conditional(
            dev,
            est,
            layout.lower(),
            layout.upper(),
            index,
            value,
            start,
            scale=_scales(layout, est, se),
            free=free,
        )
        theta, _, _ = layout.to_theta(v)
        v[nv:] = beta_hat(prof, prof.factor(theta))[0]
        return d, v
    j = index - nv
    d0 = fit.design
    X = np.asarray(d0.X, dtype=float)
    keep = [k for k in range(X.shape[1]) if k != j]
    design = dataclasses.replace(
        d0,
        X=X[:, keep],
        x_names=tuple(d0.x_names[k] for k in keep),
        y=np.asarray(d0.y, dtype=float) - X[:, j] * value,
    )
    theta0 = fit.theta if start is None else layout.to_theta(start)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f2 = fitter(design, False, theta0)
    beta = np.insert(np.asarray(f2.beta, dtype=float), j, value)
    return float(f2.criterion), layout.from_theta(f2.theta, f2.sigma, beta)


def simulate(fit: LmmFit, n: int = 1, seed: Any = None) -> np.ndarray:
    """``(n, n_obs)`` responses: ``X beta + offset + sum_k Z_k b_k + sigma e`` with new
    ``b_k[l] ~ N(0, sigma^2 T_k T_k')`` and ``e ~ N(0, I)`` (lme4's ``simulate``, ``use.u =
    FALSE``). Draws, replicate by replicate: every block's effects in design order, then the
    residuals; so the first ``k`` replicates do not depend on ``n``."""
    rng = np.random.default_rng(seed)
    d = fit.design
    Ts = fit.profiled.layout.unpack(fit.theta)
    z = {blk.name: np.empty((n, blk.n_levels, blk.q)) for blk in d.blocks}
    e = np.empty((n, d.n_obs))
    for i in range(n):
        for blk in d.blocks:
            z[blk.name][i] = rng.standard_normal((blk.n_levels, blk.q))
        e[i] = rng.standard_normal(d.n_obs)
    effects = {
        blk.name: fit.sigma * (z[blk.name] @ T.T) for blk, T in zip(d.blocks, Ts, strict=True)
    }
    eta = design_eta(d, np.asarray(fit.beta, dtype=float), effects)
    return np.asarray(eta + fit.sigma * e)


def conditional_covariances(fit: LmmFit) -> list[np.ndarray]:
    """Per block (design order): ``Var(b_k[l] | y)`` as an array ``(m_k, q_k, q_k)`` (module
    docstring)."""
    return block_conditional_covariances(fit.profiled, fit.theta, fit.sigma)


def block_conditional_covariances(
    prof: ProfiledLmm, theta: np.ndarray, sigma: float = 1.0
) -> list[np.ndarray]:
    """``sigma^2 T_k (A^{-1})_{ll} T_k'`` per level of every block, with ``A = Lambda' Z' Z
    Lambda + I`` the random-effects part of ``prof``'s factor at ``theta``: a GLMM passes
    its PIRLS system (``Z`` scaled by the working weights) and ``sigma = 1``."""
    f = prof.factor(theta)
    m1, q1, Qr = prof.m1, prof.q1, prof.Qr
    eye = np.eye(q1)
    L11inv = np.linalg.solve(f.L11, np.broadcast_to(eye, (m1, q1, q1)))
    inner = np.broadcast_to(eye, (m1, q1, q1)).copy()
    out: list[np.ndarray] = [np.empty(0)] * len(prof.blocks)
    if Qr:
        LSz = f.LS[:Qr, :Qr]
        # W_Z = blockdiag(P_l) BZ Lambda_r  (m1 q1 x Qr)
        BZL = np.asarray((prof.BZ @ f.lam_r).toarray()).reshape(m1, q1, Qr)
        WZ = np.einsum("lab,lbk->lak", f.Pk, BZL).reshape(m1 * q1, Qr)
        G = sla.solve_triangular(LSz, WZ.T, lower=True).reshape(Qr, m1, q1)
        inner += np.einsum("kla,klb->lab", G, G)
        Linv = sla.solve_triangular(LSz, np.eye(Qr), lower=True)
        pos = 0
        for k in prof.order[1:]:
            blk = prof.blocks[k]
            size = blk.n_levels * blk.q
            C = Linv[:, pos : pos + size].reshape(Qr, blk.n_levels, blk.q)
            V = np.einsum("kla,klb->lab", C, C)
            T = f.Ts[k]
            out[k] = sigma**2 * np.einsum("ab,lbc,dc->lad", T, V, T)
            pos += size
    V1 = np.einsum("lba,lbc,lcd->lad", L11inv, inner, L11inv)  # L^{-T} inner L^{-1}
    T1 = f.Ts[prof.order[0]]
    out[prof.order[0]] = sigma**2 * np.einsum("ab,lbc,dc->lad", T1, V1, T1)
    return out
