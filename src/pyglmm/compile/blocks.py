"""The PyMC variables of one random-effect block, per covariance kind and parameterization.

Each kind of :mod:`pyglmm.design.blocks` has a :class:`PyMCBlock` in :data:`PYMC_BLOCKS`: its
scale variables and one builder per latent parameterization (signature of
:func:`lkj_noncentered`), each returning ``r_<block>`` (levels x q):

* :class:`~pyglmm.design.blocks.Correlated` (``"lkj"``): ``L = LKJCholeskyCov(eta, sd_dist)``
  (L L' = Sigma, the block covariance); non-centered ``z ~ Normal(0, 1)`` (levels x q) and
  ``r = z L'``; centered ``r ~ MvNormal(0, chol=L)``.
* :class:`~pyglmm.design.blocks.Diagonal` (``"diag"``): ``sd`` (q,); non-centered
  ``r = sd * z``; centered ``r ~ Normal(0, sd)``.
* centered blocks whose terms are fixed effects are hierarchically centered on them
  (:func:`~pyglmm.compile.parameterization.hierarchical_centering`): ``alpha ~ MvNormal(mu,
  chol=L)`` / ``Normal(mu, sd)`` with ``mu = theta_c`` per term (0 for other terms) and
  ``r = alpha - mu``.

Variables: ``sd_<block>`` (dims ``<block>_term``), ``cor_<block>`` (``<block>_term`` x
``<block>_term_``), ``z_<block>``, ``r_<block>`` and ``alpha_<block>`` (``<block>_level`` x
``<block>_term``). The block enters the linear predictor through :func:`block_contribution`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names, stack
from ..design import BlockKind, Correlated, Diagonal, REBlock
from ..priors import PriorSet
from .listing import _Code, _kw, _stacked


@dataclass(frozen=True)
class Center:
    """The mean a hierarchically centered block's effects are centered on: ``mean`` (q,)
    holds ``theta_c`` for centered terms and 0 for the others, or (levels x q) when the
    intercept is also centered on group-level predictors (``theta_0 + W_l theta_k``,
    :func:`~pyglmm.compile.parameterization.group_level_centering`); ``text`` is its code."""

    mean: Any
    text: str


def _dims(blk: REBlock) -> tuple[str, str]:
    return names.level_dim(blk.name), names.term_dim(blk.name)


def _lkj_chol(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    """``LKJCholeskyCov`` for an lkj block; registers ``sd_<name>`` and ``cor_<name>``."""
    sd_priors = [priors.sd[blk.name][t] for t in blk.terms]
    if len({(p.dist, tuple(sorted(p.params))) for p in sd_priors}) > 1:
        return _lkj_chol_mixed(blk, priors, code)
    params = {k: np.array([p.params[k] for p in sd_priors]) for k in sd_priors[0].params}
    sd_dist = getattr(pm, sd_priors[0].dist).dist(shape=blk.q, **params)
    eta = priors.cor[blk.name].params.get("eta", 1.0)
    name = blk.name
    code(
        f"L_{name}, cor_{name}, sd_{name} = pm.LKJCholeskyCov('L_{name}', n={blk.q}, "
        f"eta={eta:.4g}, sd_dist=pm.{sd_priors[0].dist}.dist({_kw(params)}, shape={blk.q}))"
    )
    chol, corr, stds = pm.LKJCholeskyCov(
        names.chol(name),
        n=blk.q,
        eta=eta,
        sd_dist=sd_dist,
        compute_corr=True,
        store_in_trace=False,
        **stack.lkj_cholesky_initval(blk.q),
    )
    _, term = _dims(blk)
    pm.Deterministic(names.sd(name), stds, dims=term)
    pm.Deterministic(names.cor(name), corr, dims=(term, term + "_"))
    return chol


def _lkj_chol_mixed(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    """A correlated block whose SD priors differ in distribution (brms allows it; one
    ``LKJCholeskyCov`` cannot take them): each SD its own variable (``sd_<name>``), the
    correlation ``LKJCorr(eta)`` with Cholesky factor ``L_C`` (``Lcorr_<name>``), and the
    covariance factor ``diag(sd) L_C``."""
    name = blk.name
    _, term = _dims(blk)
    sd = _stacked(names.sd(name), [priors.sd[name][t] for t in blk.terms], term, code)
    eta = priors.cor[name].params.get("eta", 1.0)
    code(f"Lcorr_{name} = pm.LKJCorr('Lcorr_{name}', n={blk.q}, eta={eta:.4g})  # Cholesky")
    corr_chol = stack.lkj_corr_cholesky(f"Lcorr_{name}", blk.q, eta)
    code(f"L_{name} = sd_{name}[:, None] * Lcorr_{name}")
    pm.Deterministic(names.cor(name), corr_chol @ corr_chol.T, dims=(term, term + "_"))
    return sd[:, None] * corr_chol


def lkj_noncentered(
    blk: REBlock, priors: PriorSet, code: _Code, center: Center | None = None
) -> Any:
    """``z ~ Normal(0, 1)``, ``r = z L'``: levels x q correlated effects (``center`` is for
    centered builders only)."""
    return chol_noncentered(blk, _lkj_chol(blk, priors, code), code)


def chol_noncentered(blk: REBlock, chol: Any, code: _Code) -> Any:
    """``z ~ Normal(0, 1)``, ``r = z L'`` for a block whose covariance factor ``L`` (q x q)
    is built: the non-centered builder of every kind with a correlation matrix."""
    dims = _dims(blk)
    code(f"z_{blk.name} = pm.Normal('z_{blk.name}', 0, 1, dims={dims!r})")
    z = pm.Normal(names.standardized(blk.name), 0.0, 1.0, dims=dims)
    code(f"r_{blk.name} = pm.Deterministic('r_{blk.name}', z_{blk.name} @ L_{blk.name}.T)")
    return pm.Deterministic(names.effects(blk.name), z @ chol.T, dims=dims)


def _mvn_rows_logp(value: Any, mu: Any, chol: Any) -> Any:
    """log N(r_j | mu, L L') per level j, with one triangular solve for all levels:
    ``-1/2 |L^-1 (r_j - mu)|^2 - sum(log diag L) - q/2 log(2 pi)``. (PyMC's MvNormal
    re-factors ``L L'`` and solves per level, which nutpie's numba backend runs ~20x slower.)"""
    while chol.ndim > 2:  # PyMC broadcasts the shared factor over the level axis
        chol = chol[0]
    while mu.ndim > value.ndim:  # mu: shared (q,), or per level (levels x q) with group-level
        mu = mu[0]  # predictors (pyglmm.compile.group_level_centering)
    z = pt.linalg.solve_triangular(chol, (value - mu).T, lower=True)
    log_det = pt.sum(pt.log(pt.diag(chol)))
    return -0.5 * pt.sum(z**2, axis=0) - log_det - 0.5 * value.shape[-1] * np.log(2 * np.pi)


def _mvn_rows_random(
    mu: np.ndarray, chol: np.ndarray, rng: np.random.Generator, size: Any
) -> np.ndarray:
    q = chol.shape[-1]
    factor = np.asarray(chol).reshape(-1, q, q)[0]
    eps = rng.standard_normal((*size, q)) @ factor.T
    m = np.asarray(mu).reshape(-1, q)  # one mean, or one per level (group-level predictors)
    return (m.reshape(eps.shape) if m.shape[0] > 1 and m.size == eps.size else m[0]) + eps


def _centered_effects(blk: REBlock, center: Center | None, dims: Any, code: _Code, rv: Any) -> Any:
    """``r`` from the block's centered random variable ``rv(name, mu, mu_text)``: ``r`` itself
    (mu = 0), or ``alpha`` around ``center`` and ``r = alpha - mu``."""
    name = blk.name
    if center is None:
        return rv(names.effects(name), pt.zeros(blk.q), "0")
    alpha = rv(names.alpha(name), center.mean, center.text)
    code(f"r_{name} = pm.Deterministic('r_{name}', alpha_{name} - {center.text})")
    return pm.Deterministic(names.effects(name), alpha - center.mean, dims=dims)


def lkj_centered(blk: REBlock, priors: PriorSet, code: _Code, center: Center | None = None) -> Any:
    """``r_j ~ MultivariateNormal(0, L L')`` for each level j (see :func:`_mvn_rows_logp`),
    or ``alpha_j ~ MultivariateNormal(mu, L L')``, ``r_j = alpha_j - mu`` with ``center``."""
    return chol_centered(blk, _lkj_chol(blk, priors, code), code, center)


def chol_centered(blk: REBlock, chol: Any, code: _Code, center: Center | None = None) -> Any:
    """``r_j ~ MultivariateNormal(0, L L')`` per level (or ``alpha`` around ``center``) for a
    block whose covariance factor ``L`` (q x q) is built."""
    dims = _dims(blk)

    def rv(name: str, mu: Any, mu_text: str) -> Any:
        code(f"{name} = MvNormal({name!r}, mu={mu_text}, chol=L_{blk.name}, dims={dims!r})")
        return pm.CustomDist(
            name,
            mu,
            chol,
            logp=_mvn_rows_logp,
            random=_mvn_rows_random,
            signature="(q),(q,q)->(q)",
            dims=dims,
        )

    return _centered_effects(blk, center, dims, code, rv)


def _diag_sd(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    _, term = _dims(blk)
    return _stacked(names.sd(blk.name), [priors.sd[blk.name][t] for t in blk.terms], term, code)


def scaled_noncentered(scale: Scale) -> Builder:
    """The non-centered builder of independent effects whose SDs (one per column, reported
    as ``sd_<block>``) ``scale`` gives: ``z ~ Normal(0, 1)``, ``r = sd * z``."""

    def build(blk: REBlock, priors: PriorSet, code: _Code, center: Center | None = None) -> Any:
        sd = scale(blk, priors, code)
        dims = _dims(blk)
        code(f"z_{blk.name} = pm.Normal('z_{blk.name}', 0, 1, dims={dims!r})")
        z = pm.Normal(names.standardized(blk.name), 0.0, 1.0, dims=dims)
        code(f"r_{blk.name} = pm.Deterministic('r_{blk.name}', z_{blk.name} * sd_{blk.name})")
        return pm.Deterministic(names.effects(blk.name), z * sd, dims=dims)

    return build


#: ``z ~ Normal(0, 1)``, ``r = sd * z``: independent effects, one SD per column.
diag_noncentered = scaled_noncentered(_diag_sd)


def diag_centered(blk: REBlock, priors: PriorSet, code: _Code, center: Center | None = None) -> Any:
    """``r ~ Normal(0, sd)``, or ``alpha ~ Normal(mu, sd)``, ``r = alpha - mu`` with
    ``center``."""
    sd = _diag_sd(blk, priors, code)
    dims = _dims(blk)

    def rv(name: str, mu: Any, mu_text: str) -> Any:
        code(f"{name} = pm.Normal({name!r}, {mu_text}, sd_{blk.name}, dims={dims!r})")
        return pm.Normal(name, mu, sd, dims=dims)

    return _centered_effects(blk, center, dims, code, rv)


Builder = Callable[[REBlock, PriorSet, _Code, Center | None], Any]
Scale = Callable[[REBlock, PriorSet, _Code], Any]
Start = Callable[
    [REBlock, np.ndarray, np.ndarray, np.ndarray], tuple[dict[str, np.ndarray], np.ndarray]
]


@dataclass(frozen=True)
class PyMCBlock:
    """The PyMC side of a block kind.

    ``scale(blk, priors, code)`` adds the covariance variables and returns the factor the
    effects use (``L`` or ``sd``; a marginal block gets only these); ``builders`` maps each
    latent parameterization to the function that adds ``r_<block>``; ``start(blk, sd, cor,
    r)`` maps point estimates to the scale's free variables and the standardized effects
    ``z`` (``init.py``).
    """

    scale: Scale
    builders: Mapping[str, Builder]
    start: Start


def _lkj_start(
    blk: REBlock, sd: np.ndarray, cor: np.ndarray, r: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``L_<block>`` = packed Cholesky factor of Sigma (PyMC's row-major packing) and
    ``z = r L^-T``. The factorization's jitter is 1e-9 of the largest variance, not the
    default 1e-12: a singular REML fit (a correlation of +-1) must still give a start whose
    ``z`` is of moderate size."""
    chol = blk.covariance.cholesky(sd, cor, jitter=1e-9)
    return {names.chol(blk.name): chol[np.tril_indices(blk.q)]}, np.linalg.solve(chol, r.T).T


def _diag_start(
    blk: REBlock, sd: np.ndarray, cor: np.ndarray, r: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``sd_<block>`` = sd, ``z = r / sd``."""
    return {names.sd(blk.name): sd}, r / sd


PYMC_BLOCKS: dict[type[BlockKind], PyMCBlock] = {
    Correlated: PyMCBlock(
        _lkj_chol, {"noncentered": lkj_noncentered, "centered": lkj_centered}, _lkj_start
    ),
    Diagonal: PyMCBlock(
        _diag_sd, {"noncentered": diag_noncentered, "centered": diag_centered}, _diag_start
    ),
}
"""The PyMC builders of each block kind, by kind class (a subclass inherits its base's)."""


def pymc_block(kind: BlockKind) -> PyMCBlock:
    """The :class:`PyMCBlock` of ``kind``: the entry of its class or of the nearest base."""
    for cls in type(kind).__mro__:
        if cls in PYMC_BLOCKS:
            return PYMC_BLOCKS[cls]
    raise NotImplementedError(
        f"block kind {kind.name!r} ({type(kind).__name__}) has no PyMC builders; register a "
        "PyMCBlock for it in pyglmm.compile.blocks.PYMC_BLOCKS"
    )


def block_contribution(blk: REBlock, r: Any, columns: Any = None) -> Any:
    """``sum_j Z[i, j] * r[codes[i], j]`` by one indexed gather per column (never a dense Z;
    per-column gathers ran 1.6x faster than gathering rows of ``r`` under nutpie's numba
    backend on a 100k-row Bernoulli model). Columns of ones are not multiplied. ``columns``:
    the sum over these columns only (those of one linear predictor, for a block spanning
    several, ``REBlock.columns_of``); all by default."""
    out = None
    for j in range(blk.q) if columns is None else columns:
        z = blk.Z[:, j]
        term = r[blk.codes, j] if np.all(z == 1.0) else r[blk.codes, j] * z
        out = term if out is None else out + term
    return out
