"""Run NUTS on a compiled model (nutpie by default; PyMC's own sampler and the JAX samplers
numpyro and blackjax too) and collect the InferenceData with the log-likelihood and observed data
attached.

The container is the installed ArviZ's own (``InferenceData`` on ArviZ 0.x, ``xarray.DataTree``
on ArviZ 1.x); the calls that differ between them go through :mod:`pyglmm.stack`."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from . import stack
from .compile import CompiledModel
from .design import Design
from .errors import ArgumentError
from .families import Family
from .nuts import SampleResult as SampleResult
from .nuts import nutpie_sample as nutpie_sample
from .nuts import resolve_cores as resolve_cores
from .posterior import pointwise_loglik
from .posterior_mv import mv_pointwise_loglik

SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")


JAX_SAMPLERS = ("numpyro", "blackjax")


JAX_EXTRA_HINT = 'pip install "pyglmm[jax]"'


# Above this many (draws x observations) values the pointwise log-likelihood is not stored
# automatically (4000 draws x 1M rows would be 32 GB); ``log_likelihood=True`` forces it.
LOG_LIK_AUTO_LIMIT = 50_000_000


def run_sampler(
    compiled: CompiledModel,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int | None,
    sampler: str,
    progressbar: bool,
    target_accept: float,
    cores: int | None,
    initvals: dict[str, Any] | None = None,
    low_rank_mass_matrix: bool = True,
) -> SampleResult:
    """Sample ``compiled.model``; ``timing`` holds ``compile`` and ``sample`` seconds.

    ``"numpyro"``/``"blackjax"`` go through ``pm.sample(nuts_sampler=...)`` (extra
    ``pyglmm[jax]``; a CUDA build of jaxlib runs them on the GPU), with the chain method of
    :func:`_jax_chain_method`; their ``compile`` is NaN (JAX compiles inside the sampling call).
    """
    check_sampler(sampler)
    cores = resolve_cores(cores, chains)
    model = compiled.model
    timing: dict[str, float] = {}
    if sampler == "nutpie":
        import nutpie

        t0 = time.perf_counter()
        cm = nutpie.compile_pymc_model(model, initial_points=initvals)
        timing["compile"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        idata = nutpie_sample(
            cm, draws, tune, chains, cores, seed, progressbar, target_accept, low_rank_mass_matrix
        )
        timing["sample"] = time.perf_counter() - t0
    else:
        # PyMC's own sampler, or its JAX path (numpyro/blackjax); both compile (PyMC) or
        # trace and jit (JAX) inside pm.sample, so no separate compile time exists
        extra: dict[str, Any] = {"cores": cores}
        if sampler in JAX_SAMPLERS:
            chain_method = _jax_chain_method(sampler, chains, cores)
            extra = {"nuts_sampler": sampler, "nuts_sampler_kwargs": {"chain_method": chain_method}}
        t0 = time.perf_counter()
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            random_seed=seed,
            progressbar=progressbar,
            target_accept=target_accept,
            model=model,
            initvals=initvals,
            compute_convergence_checks=False,
            **extra,
        )
        timing["compile"] = float("nan")
        timing["sample"] = time.perf_counter() - t0
    return SampleResult(idata, timing)


def check_sampler(sampler: str) -> None:
    """Refuse a sampler name that is not one of :data:`SAMPLERS`."""
    if sampler not in SAMPLERS:
        raise ArgumentError(f"unknown sampler {sampler!r}; choose one of {list(SAMPLERS)}")


def _jax_chain_method(sampler: str, chains: int, cores: int) -> str:
    """Import JAX (and the sampler's library) and pick how chains run.

    ``"parallel"`` (one chain per JAX device, ``pmap``) whenever there are at least ``chains``
    devices and more than one core is allowed: on the CPU, ``pymc.sampling.jax`` exposes 100
    host devices, so each chain is its own XLA computation on its own thread and chains never
    wait for one another (sleepstudy on 2 cores: less CPU and up to 3x less wall time than
    ``"vectorized"``).
    Otherwise (typically one GPU, or ``cores=1``) ``"vectorized"``: the chains are batched
    with ``vmap`` into one computation, each step costing as much as the longest tree.
    """
    try:
        import jax
        import pymc.sampling.jax  # noqa: F401  (sets 100 CPU devices; JAX starts at first use)
    except ImportError as err:
        raise ImportError(
            f"sampler={sampler!r} needs JAX, which is not installed: {JAX_EXTRA_HINT}"
        ) from err
    if importlib.util.find_spec(sampler) is None:
        raise ImportError(f"sampler={sampler!r} needs {sampler}, not installed: {JAX_EXTRA_HINT}")
    return "parallel" if cores > 1 and jax.local_device_count() >= chains else "vectorized"


def attach_data(idata: Any, design: Design, family: Family, log_likelihood: bool | str) -> float:
    """Add ``observed_data`` and (unless too large, see ``LOG_LIK_AUTO_LIMIT``) the pointwise
    ``log_likelihood`` computed in numpy; returns the seconds spent."""
    t0 = time.perf_counter()
    if design.mv is not None:
        _attach_mv(idata, design, log_likelihood)
        return time.perf_counter() - t0
    obs_coord = {"obs": np.arange(design.n_obs)}
    if "observed_data" not in idata:
        observed = xr.Dataset({"y": ("obs", design.y)}, coords=obs_coord)
        stack.set_group(idata, "observed_data", observed)
    post = stack.posterior(idata)
    size = post.sizes["chain"] * post.sizes["draw"] * design.n_obs
    if log_likelihood is True or (log_likelihood == "auto" and size <= LOG_LIK_AUTO_LIMIT):
        ll = pointwise_loglik(design, family, post)
        coords = {**obs_coord, "chain": post.chain, "draw": post.draw}
        ds = xr.Dataset({"y": (("chain", "draw", "obs"), ll)}, coords=coords)
        stack.set_group(idata, "log_likelihood", ds)
    return time.perf_counter() - t0


def _attach_mv(idata: Any, design: Design, log_likelihood: bool | str) -> None:
    """:func:`attach_data` of a multivariate model: each response's observed values
    (``y_<resp>`` over ``obs_<resp>``) and log-likelihood, and the joint one per row (``y``;
    :mod:`pyglmm.posterior_mv`)."""
    mv = design.mv
    assert mv is not None
    rows = {r: mv.observed(k) for k, r in enumerate(mv.responses)}
    coords: dict[str, Any] = {f"obs_{r}": v for r, v in rows.items()}
    observed = xr.Dataset(
        {f"y_{r}": (f"obs_{r}", mv.Y[v, k]) for k, (r, v) in enumerate(rows.items())},
        coords=coords,
    )
    stack.set_group(idata, "observed_data", observed)
    post = stack.posterior(idata)
    size = post.sizes["chain"] * post.sizes["draw"] * design.n_obs * (len(rows) + 1)
    if log_likelihood is True or (log_likelihood == "auto" and size <= LOG_LIK_AUTO_LIMIT):
        ll = mv_pointwise_loglik(design, post)
        dims = ("chain", "draw")
        data = {"y": ((*dims, "obs"), ll["y"])}
        data |= {f"y_{r}": ((*dims, f"obs_{r}"), ll[f"y_{r}"]) for r in rows}
        coords |= {"obs": np.arange(design.n_obs), "chain": post.chain, "draw": post.draw}
        stack.set_group(idata, "log_likelihood", xr.Dataset(data, coords=coords))
