"""The PyMC variables of the structured block kinds (:mod:`pyglmm.design.blocks`), registered in
:data:`~pyglmm.compile.blocks.PYMC_BLOCKS` when this module is imported (by
:mod:`pyglmm.compile`).

**Known covariance among levels** (``gr(g, cov = A)``, ``gr(a:b, cov = kron(U, V))``; kinds
``"gr_lkj"``/``"gr_diag"``). With ``K = L_K L_K'`` the known level covariance
(:class:`~pyglmm.design.levelcov.LevelCovariance`) and ``Lambda`` the factor across terms
(``L`` of the LKJ block, or ``diag(sd)``), non-centered::

    z ~ Normal(0, 1)   (levels x q),     r = (L_K z) Lambda'

so ``vec(r) ~ N(0, Sigma (x) K)``, ``Sigma = Lambda Lambda'`` (brms's structure). For
``kron(U, V)`` the product ``L_K z`` is ``L_U Z L_V'`` per term, ``Z`` the term's column
reshaped to ``n_U x n_V``: the ``n_U n_V`` square matrix is never formed. Only the
non-centered form is built (a centered one would need ``K^-1``); ``"auto"`` picks it.

**ar1** (``ar1(0 + time | g)``): one SD ``sd1_g`` and ``rho = ar1_g`` (prior class ``ar``);
``C[i, j] = rho^|i - j|``, whose Cholesky factor is written in closed form (no numerical
factorization): ``L_C[i, 0] = rho^i``, ``L_C[i, j] = rho^(i - j) sqrt(1 - rho^2)``,
``1 <= j <= i``; ``L = sd1 L_C``. The powers of rho are products (``rho^k = rho^(k-1) rho``),
so the gradient is finite at ``rho = 0``.

**cs** (``cs(x | g)``, glmmTMB's heterogeneous compound symmetry): ``sd_g`` per term and
``rho = cs_g`` (prior class ``cor``); ``C = (1 - rho) I + rho 1 1'``, with the closed-form
factor ``L_C[j, j] = d_j``, ``L_C[i, j] = c_j`` (``i > j``) where ``s_j = sum_{k<j} c_k^2``,
``d_j = sqrt(1 - s_j)``, ``c_j = (rho - s_j) / d_j``; ``L = diag(sd) L_C``.

ar1 and cs blocks then take the correlated kinds' builders (``r = z L'`` non-centered, rows
``MvNormal(0, L L')`` centered). ``sd_g`` (per term) and ``cor_g`` (q x q) are stored as for
LKJ blocks, so summaries, ``varcorr`` and predictions read them unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names
from ..design import REBlock
from ..design.blocks import AR1, CompoundSymmetry, KnownCorrelated, KnownDiagonal
from ..priors import PriorSet
from .blocks import (
    PYMC_BLOCKS,
    PyMCBlock,
    _diag_sd,
    _diag_start,
    _dims,
    _lkj_chol,
    _lkj_start,
    chol_centered,
    chol_noncentered,
)
from .listing import _Code, _stacked


def _known_scale(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    """The factor across terms of a known-covariance block: ``L`` (LKJ) or ``sd``."""
    return (_lkj_chol if blk.covariance.correlated else _diag_sd)(blk, priors, code)


def known_noncentered(blk: REBlock, priors: PriorSet, code: _Code, center: Any = None) -> Any:
    """``z ~ Normal(0, 1)`` (levels x q), ``r = (L_K z) L'`` or ``(L_K z) * sd``."""
    scale = _known_scale(blk, priors, code)
    level_cov = blk.level_cov
    if level_cov is None:  # a kind of this module always has one (design/build.py)
        raise ValueError(f"block {blk.name!r} has no known level covariance")
    name = blk.name
    dims = _dims(blk)
    if level_cov.is_kron:
        u, v = level_cov.names
        code(f"L_{u}, L_{v} = cholesky(data2[{u!r}]), cholesky(data2[{v!r}])  # known")
        left = f"kron_left(L_{u}, L_{v}, z_{name})"  # (L_U (x) L_V) z, never formed
    else:
        code(f"Lcov_{name} = cholesky(data2[{level_cov.names[0]!r}])  # known, levels x levels")
        left = f"Lcov_{name} @ z_{name}"
    code(f"z_{name} = pm.Normal('z_{name}', 0, 1, dims={dims!r})")
    z = pm.Normal(names.standardized(name), 0.0, 1.0, dims=dims)
    lz = level_cov.left_multiply(z, tensordot=pt.tensordot)
    if blk.covariance.correlated:
        code(f"r_{name} = pm.Deterministic('r_{name}', ({left}) @ L_{name}.T)")
        r = pt.dot(lz, scale.T)
    else:
        code(f"r_{name} = pm.Deterministic('r_{name}', ({left}) * sd_{name})")
        r = lz * scale
    return pm.Deterministic(names.effects(name), r, dims=dims)


def _known_start(
    blk: REBlock, sd: np.ndarray, cor: np.ndarray, r: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The inner kind's start, then ``z = L_K^-1 (r Lambda'^-1)``."""
    inner = _lkj_start if blk.covariance.correlated else _diag_start
    scale, z = inner(blk, sd, cor, r)
    assert blk.level_cov is not None
    return scale, blk.level_cov.solve_left(z)


def _powers(rho: Any, q: int) -> Any:
    """``[1, rho, rho^2, ..., rho^(q-1)]`` by products."""
    out = [pt.ones_like(rho)]
    for _ in range(1, q):
        out.append(out[-1] * rho)
    return pt.stack(out)


def _rho(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    tag = blk.covariance.cor_tag
    var = names.structure_cor(tag, blk.name)
    code(f"{var} = {priors.cor[blk.name].code(var)}")
    return priors.cor[blk.name].rv(var)


def _store_cor(blk: REBlock, cor: Any, code: _Code) -> None:
    _, term = _dims(blk)
    code(f"cor_{blk.name} = pm.Deterministic('cor_{blk.name}', ...)  # {blk.covariance.name}(rho)")
    pm.Deterministic(names.cor(blk.name), cor, dims=(term, term + "_"))


def ar1_factor(rho: Any, q: int) -> tuple[Any, Any]:
    """(``C``, its lower Cholesky factor ``L_C``) of AR(1) with correlation ``rho`` (PyTensor)."""
    i, j = np.indices((q, q))
    lag = np.abs(i - j)
    powers = _powers(rho, q)
    first = ((j == 0) & (i >= j)).astype(float)
    rest = ((j >= 1) & (i >= j)).astype(float)
    chol = powers[lag] * (first + rest * pt.sqrt(1.0 - rho**2))
    return powers[lag], chol


def cs_factor(rho: Any, q: int) -> tuple[Any, Any]:
    """(``C``, ``L_C``) of compound symmetry with correlation ``rho`` (PyTensor)."""
    d, c = [], []
    s = pt.zeros_like(rho)
    for _ in range(q):
        dj = pt.sqrt(1.0 - s)
        cj = (rho - s) / dj
        d.append(dj)
        c.append(cj)
        s = s + cj**2
    lower = np.tril(np.ones((q, q)), -1)
    chol = pt.diag(pt.stack(d)) + lower * pt.stack(c)[None, :]
    cor = (1.0 - rho) * np.eye(q) + rho * np.ones((q, q))
    return cor, chol


def _ar1_chol(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    """``sd1_g``, ``ar1_g``; ``sd_g`` (per term) and ``cor_g``; returns ``L = sd1 L_C``."""
    name, q = blk.name, blk.q
    _, term = _dims(blk)
    p_sd = priors.sd[name][blk.terms[0]]
    var = names.shared_sd(name)
    code(f"{var} = {p_sd.code(var)}  # one SD for every term")
    sd1 = p_sd.rv(var)
    rho = _rho(blk, priors, code)
    cor, chol_c = ar1_factor(rho, q)
    code(f"sd_{name} = pm.Deterministic('sd_{name}', {var} * ones({q}))")
    pm.Deterministic(names.sd(name), sd1 * pt.ones(q), dims=term)
    _store_cor(blk, cor, code)
    code(f"L_{name} = {var} * L_ar1(ar1_{name}, {q})  # closed-form Cholesky of rho^|i-j|")
    return sd1 * chol_c


def _cs_chol(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    """``sd_g`` (per term), ``cs_g``, ``cor_g``; returns ``L = diag(sd) L_C``."""
    name, q = blk.name, blk.q
    _, term = _dims(blk)
    sd = _stacked(names.sd(name), [priors.sd[name][t] for t in blk.terms], term, code)
    rho = _rho(blk, priors, code)
    cor, chol_c = cs_factor(rho, q)
    _store_cor(blk, cor, code)
    code(f"L_{name} = sd_{name}[:, None] * L_cs(cs_{name}, {q})  # closed-form Cholesky")
    return sd[:, None] * chol_c


def _structure_start(
    blk: REBlock, sd: np.ndarray, cor: np.ndarray, r: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The structure's free variables (``sd1``/``sd`` and rho) and ``z = r L^-T``."""
    kind = blk.covariance
    chol = kind.cholesky(sd, cor, jitter=1e-9)
    rho = np.asarray(cor[0, 1])
    free = {names.structure_cor(kind.cor_tag, blk.name): rho}
    if kind.shared_sd:
        free[names.shared_sd(blk.name)] = np.asarray(sd[0])
    else:
        free[names.sd(blk.name)] = np.asarray(sd)
    return free, np.linalg.solve(chol, r.T).T


def _ar1_noncentered(blk: REBlock, priors: PriorSet, code: _Code, center: Any = None) -> Any:
    return chol_noncentered(blk, _ar1_chol(blk, priors, code), code)


def _ar1_centered(blk: REBlock, priors: PriorSet, code: _Code, center: Any = None) -> Any:
    return chol_centered(blk, _ar1_chol(blk, priors, code), code, center)


def _cs_noncentered(blk: REBlock, priors: PriorSet, code: _Code, center: Any = None) -> Any:
    return chol_noncentered(blk, _cs_chol(blk, priors, code), code)


def _cs_centered(blk: REBlock, priors: PriorSet, code: _Code, center: Any = None) -> Any:
    return chol_centered(blk, _cs_chol(blk, priors, code), code, center)


_KNOWN = PyMCBlock(_known_scale, {"noncentered": known_noncentered}, _known_start)
PYMC_BLOCKS.update(
    {
        KnownCorrelated: _KNOWN,
        KnownDiagonal: _KNOWN,
        AR1: PyMCBlock(
            _ar1_chol,
            {"noncentered": _ar1_noncentered, "centered": _ar1_centered},
            _structure_start,
        ),
        CompoundSymmetry: PyMCBlock(
            _cs_chol,
            {"noncentered": _cs_noncentered, "centered": _cs_centered},
            _structure_start,
        ),
    }
)
