"""Sampling the kernel with nutpie: :func:`sample` (NUTS through the C callbacks of
:mod:`pyglmm.kernel.ccall`), and :func:`named_posterior`, which turns the stored unconstrained
draws into the PyMC model's variables, with its names, dims and coordinates.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import xarray as xr

from .. import names, stack
from ..marginal import woodbury_system
from ..nuts import SampleResult, nutpie_sample, resolve_cores
from .densities import corr_cholesky, prior_lp
from .glmm import glmm_density, glmm_laplace_effects, glmm_logp_grad
from .laplace import laplace_levels
from .layout import KernelModel
from .likelihoods import rows_logp
from .logp import block_scale, block_scale_grad, logp_grad, marginal_levels

NUMBA_FUNCTIONS = (
    prior_lp,
    corr_cholesky,
    block_scale,
    block_scale_grad,
    marginal_levels,
    logp_grad,
    woodbury_system,
    rows_logp,
    glmm_logp_grad,
    glmm_density,
    laplace_levels,
    glmm_laplace_effects,
)


def nutpie_model(km: KernelModel, initvals: dict[str, Any] | None = None) -> tuple[Any, float]:
    """A nutpie model of ``km`` (C callbacks, :mod:`pyglmm.kernel.ccall` or
    :mod:`pyglmm.kernel.glmm_ccall`) and the seconds spent loading (or, the first time on a
    machine, compiling) the kernel."""
    from .slots import nutpie_compiled

    t0 = time.perf_counter()
    callbacks = km.callbacks  # loads the cached machine code (compiles it on first use)
    table, keep = callbacks.pack(km._args)
    compile_s = time.perf_counter() - t0
    base = km.unconstrained(initvals) if initvals else None

    def initial_point(seed: int) -> np.ndarray:
        if base is None:
            return km.initial_point(seed)
        return km.jittered(base, seed)

    compiled = nutpie_compiled(table, keep, km.ndim, initial_point, callbacks.logp_cfunc.address)
    return compiled, compile_s


def named_posterior(km: KernelModel, posterior: xr.Dataset, seed: int | None = None) -> xr.Dataset:
    """The kernel's draws (``posterior[DRAW_NAME]``, unconstrained) as the PyMC model's
    variables, with its names, dims and coordinates; a Laplace block's effects drawn from
    their Gaussian approximation at each draw (:func:`laplace_effects`, seeded by ``seed``)."""
    from .slots import DRAW_NAME

    X = posterior[DRAW_NAME].values
    values = km.constrained(X)
    if km.laplace is not None:
        values[names.effects(km.laplace.name)] = laplace_effects(km, X, seed)
    dims = _dims(km)
    chain_draw = ("chain", "draw")
    data = {k: (chain_draw + dims.get(k, ()), v) for k, v in values.items()}
    coords = {**_coords(km), "chain": posterior.chain, "draw": posterior.draw}
    return xr.Dataset(data, coords=coords, attrs=posterior.attrs)


def laplace_effects(km: KernelModel, X: np.ndarray, seed: int | None) -> np.ndarray:
    """The Laplace block's effects ``r`` (shape ``X.shape[:-1] + (levels, q)``) at draws ``X``
    (unconstrained points): one draw from ``N(u*_l, H_l^-1)`` per draw and level
    (:mod:`~pyglmm.kernel.laplace`; approximate, as the density is)."""
    blk = km.laplace
    assert blk is not None and km.glmm is not None
    lead = X.shape[:-1]
    flat = np.ascontiguousarray(X.reshape(-1, km.ndim), dtype=np.float64)
    shape = (flat.shape[0], len(blk.levels), blk.q)
    E = np.random.default_rng(seed).standard_normal(shape)
    out = np.empty(shape)
    glmm_laplace_effects(flat, E, out, *km._args)
    return out.reshape(lead + shape[1:])


def _dims(km: KernelModel) -> dict[str, tuple[str, ...]]:
    """Dims of the stored variables (as the PyMC model names them; scalars have none)."""
    dims: dict[str, tuple[str, ...]] = {"b": ("coef",), "beta": ("coef_slope",)}
    for blk in km.blocks:
        level, term = names.level_dim(blk.name), names.term_dim(blk.name)
        dims[names.sd(blk.name)] = (term,)
        dims[names.cor(blk.name)] = (term, term + "_")
        dims[names.chol(blk.name)] = (f"L_{blk.name}_dim_0",)
        dims[names.standardized(blk.name)] = dims[names.effects(blk.name)] = dims[
            names.alpha(blk.name)
        ] = (level, term)
    return dims


def _coords(km: KernelModel) -> dict[str, Any]:
    coords: dict[str, Any] = {"coef": list(km.x_names)}
    slopes = [c for c in km.x_names if c != "Intercept"]
    if km.intercept_pos is not None and slopes:
        coords["coef_slope"] = slopes
    for blk in km.blocks:
        term = names.term_dim(blk.name)
        coords[term] = coords[term + "_"] = list(blk.terms)
        coords[names.level_dim(blk.name)] = list(blk.levels)
        if not blk.diag:
            coords[f"L_{blk.name}_dim_0"] = np.arange(blk.q * (blk.q + 1) // 2)
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
    """NUTS (nutpie) on the kernel; ``timing`` holds ``compile`` (kernel load), ``sample``,
    ``compile_cached`` (1.0 when nothing was compiled: numba loaded the kernel from its
    on-disk cache or it was loaded already, else 0.0) and, with a Laplace block,
    ``laplace_effects`` (drawing its effects after sampling)."""
    misses = _cache_misses()
    module = "pyglmm.kernel." + ("ccall" if km.glmm is None else "glmm_ccall")
    imported = module in sys.modules  # its C callbacks load (compile) on import
    compiled, compile_s = nutpie_model(km, initvals)
    cached = float(
        _cache_misses() == misses and (imported or not km.callbacks.compiled_on_import())
    )
    t0 = time.perf_counter()
    cores = resolve_cores(cores, chains)
    idata = nutpie_sample(
        compiled, draws, tune, chains, cores, seed, progressbar, target_accept, low_rank_mass_matrix
    )
    sample_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stack.set_group(idata, "posterior", named_posterior(km, stack.posterior(idata), seed))
    naming_s = time.perf_counter() - t0  # with a Laplace block: mostly drawing its effects
    timing = {"compile": compile_s, "sample": sample_s, "compile_cached": cached}
    if km.laplace is None:
        timing["sample"] += naming_s
    else:
        timing["laplace_effects"] = naming_s
    return SampleResult(idata, timing)


def _cache_misses() -> int:
    """Kernel functions numba compiled (rather than loaded from its cache) in this process."""
    return sum(int(sum(f.stats.cache_misses.values())) for f in NUMBA_FUNCTIONS)
