"""Posterior computations in numpy: the linear predictor per draw and the pointwise
log-likelihood, processed in chunks of draws so memory stays bounded.

For draw s and row i::

    eta[s, i] = X[i] . b[s] + offset[i] + sum_k Z_k[i] . r_k[s, codes_k[i]]

Rows whose level is unseen (code -1) get the contribution given by ``new_effects``
(``predict``'s ``new_levels`` handling) or zero.

A model with ``me()`` terms: the training rows use each draw's latent values ``Xme``
(:mod:`pyglmm.design.measurement`), ``X[s, i, j] = base_j[i] prod_k Xme[s, i, k]`` in the latent
columns; new data use their observed values (``Design.transform``).

A distributional parameter with a formula (``pg.bf``), e.g. ``sigma``, has its own linear
predictor ``eta_sigma = X^s b_sigma + sum_{k: dpar_k = sigma} Z_k r_k`` (``dpar="sigma"``),
and its value per draw and row is ``exp(eta_sigma)`` (:func:`family_params`), which the
family's ``loglik``/``draw`` take in place of one value per draw. A block spanning predictors
(brms's ``|ID|``, ``REBlock.col_dpars``) adds to each predictor its columns only
(``REBlock.columns_of``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import xarray as xr

from . import names
from .design import Design, NewData
from .families import Family
from .families.additions import additions_loglik

# Draws per chunk are chosen so a chunk holds about this many float64 values (~200 MB).
CHUNK_VALUES = 25_000_000


def flat_draws(posterior: xr.Dataset, name: str) -> np.ndarray:
    """``posterior[name]`` with chain and draw merged into the first axis."""
    arr = np.asarray(posterior[name].values)
    return arr.reshape(-1, *arr.shape[2:])


def draw_chunks(n_draws: int, n_rows: int, chunk_values: int = CHUNK_VALUES) -> Iterator[slice]:
    """Slices over draws so that each chunk has at most ``chunk_values`` (draw, row) cells."""
    step = max(1, chunk_values // max(n_rows, 1))
    for start in range(0, n_draws, step):
        yield slice(start, min(start + step, n_draws))


def block_term(z: np.ndarray, codes: np.ndarray, r: np.ndarray) -> np.ndarray:
    """One block's part of eta, ``sum_j z[i, j] * r[..., codes[i], j]``, for effects ``r``
    (..., levels, q) with any leading axes (draws); rows (n,) on the last axis."""
    return np.einsum("...ij,ij->...i", r[..., codes, :], z)


def design_eta(
    design: Design, b: np.ndarray, effects: dict[str, np.ndarray], dpar: str = ""
) -> np.ndarray:
    """eta of the training rows, ``X b + offset + sum_k block_term(Z_k, codes_k, r_k)``, for
    coefficients ``b`` (..., p) and effects per block (..., levels, q) sharing the leading axes
    (none for one parameter set, draws for several). ``dpar``: the linear predictor of a
    distributional parameter's formula instead, ``X^dpar b + sum_k`` over its blocks' columns
    (``b`` then over that formula's ``x_names``; no offset)."""
    eta = np.asarray(b, dtype=float) @ np.asarray(design.x_of(dpar), dtype=float).T
    if design.offset is not None and not dpar:
        eta = eta + design.offset
    for blk in design.blocks:
        cols = blk.columns_of(dpar)
        if not cols.size:
            continue
        z = np.asarray(blk.Z, dtype=float)[:, cols]
        eta = eta + block_term(z, blk.codes, np.asarray(effects[blk.name])[..., cols])
    return np.asarray(eta)


def linear_predictor(
    design: Design,
    posterior: xr.Dataset,
    data: Design | NewData | None = None,
    draws: slice = slice(None),
    include_random: bool = True,
    new_effects: Callable[[str, slice], np.ndarray] | None = None,
    training_rows: slice | None = None,
    dpar: str = "",
) -> np.ndarray:
    """eta (draws x rows) for the training design or ``data`` (a :class:`NewData`), of the
    mean or (``dpar``) of a distributional parameter's formula.

    ``training_rows``: ``data`` holds these rows of the training design (``predict()``'s
    chunks), whose me() columns take the latent values (module docstring).

    ``new_effects(block_name, draws)`` returns effects for the rows of ``data`` as an array
    (draws x rows x q), used where the level is unseen; without it unseen levels contribute 0.
    """
    if data is None:
        training_rows = slice(None)
    data = design if data is None else data
    x = np.asarray(data.x_of(dpar))
    if x.shape[1] or names.dpar_fixed(dpar) in posterior:
        b = flat_draws(posterior, names.dpar_fixed(dpar))[draws]
    else:  # an empty main part (a categorical model's: its predictors are the dpars)
        b = np.zeros((len(range(posterior.sizes["chain"] * posterior.sizes["draw"])[draws]), 0))
    eta = b @ x.T
    if design.me is not None and training_rows is not None and not dpar:
        eta = eta + _latent_shift(design, posterior, b, draws, training_rows)
    if data.offset is not None and not dpar:
        eta = eta + data.offset
    for blk in design.blocks:
        if not include_random and not blk.is_smooth:  # a smooth is not a group-level effect
            continue
        cols = blk.columns_of(dpar)  # all or none, except for a block spanning predictors
        if not cols.size:
            continue
        if isinstance(data, NewData):
            codes, z = data.codes[blk.name], data.Z[blk.name]
        else:
            codes, z = blk.codes, blk.Z
        z = np.asarray(z)[:, cols]
        r = flat_draws(posterior, names.effects(blk.name))[draws][..., cols]  # S x levels x q
        seen = codes >= 0
        contrib = block_term(z, np.where(seen, codes, 0), r)
        if not seen.all():
            unseen = np.zeros_like(contrib[:, ~seen])
            if new_effects is not None:
                eff = new_effects(blk.name, draws)[:, ~seen, :][..., cols]
                unseen = np.einsum("sij,ij->si", eff, z[~seen])  # effects given per row
            contrib[:, ~seen] = unseen
        eta = eta + contrib
    return eta


def _latent_shift(
    design: Design, posterior: xr.Dataset, b: np.ndarray, draws: slice, rows: slice
) -> np.ndarray:
    """``sum_j b[s, j] (X_latent[s, i, j] - X[i, j])`` over the me() columns: what turns
    ``b @ X'`` into the linear predictor at the latent values (draws x rows)."""
    assert design.me is not None
    latent = flat_draws(posterior, "Xme")[draws][:, rows]  # S x rows x K
    shift = np.zeros(latent.shape[:2])
    for j, value in design.me.subset(rows).column_values(latent, design.x_names).items():
        shift += b[:, j : j + 1] * (value - design.X[rows, j])
    return shift


def family_params(
    design: Design,
    family: Family,
    posterior: xr.Dataset,
    draws: slice = slice(None),
    data: Design | NewData | None = None,
    include_random: bool = True,
    new_effects: Callable[[str, slice], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The family's parameters for ``draws``: (draws,) for a parameter without a formula,
    (draws, K - 1) for an ordinal model's thresholds (``names.THRESHOLDS``),
    (draws x rows) ``linkinv(eta_dpar)`` for one with a formula (``data``,
    ``include_random``, ``new_effects``: as :func:`linear_predictor` takes them)."""
    modelled = {p.name for p in design.dpars}
    absent = design.fixed_params  # sigma under brms's se(s): 0 (the SD is s_i)
    out = {
        p: flat_draws(posterior, p)[draws]
        for p in family.params
        if p not in modelled and p not in absent
    }
    if absent:
        n_draws = len(flat_draws(posterior, names.FIXED)[draws])
        out |= {p: np.zeros(n_draws) for p in absent}
    if design.categories:  # an ordinal model's thresholds, (draws, K - 1)
        out[names.THRESHOLDS] = flat_draws(posterior, names.THRESHOLDS)[draws]
    for part in design.dpars:
        eta = linear_predictor(
            design, posterior, data, draws, include_random, new_effects, dpar=part.name
        )
        out[part.name] = family.dpar_linkinv_np(part.name, eta)
    return out


def pointwise_loglik(design: Design, family: Family, posterior: xr.Dataset) -> np.ndarray:
    """log p(y_i | theta_s) as chains x draws x rows (a distributional parameter per draw and
    row, :func:`family_params`); under brms's addition terms the row's censored, truncated
    and weighted term, as brms's ``log_lik`` (:mod:`pyglmm.families.additions`)."""
    chains, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    total = chains * n_draw
    out = np.empty((total, design.n_obs))
    for sl in draw_chunks(total, design.n_obs * (1 + len(design.dpars))):
        mu = family.linkinv_np(linear_predictor(design, posterior, draws=sl))
        params = family_params(design, family, posterior, sl)
        if design.additions is not None and design.additions.changes_likelihood:
            out[sl] = additions_loglik(
                family, design.additions, design.y, mu, params, design.trials
            )
        else:
            out[sl] = family.loglik(design.y, mu, params, design.trials)
    return out.reshape(chains, n_draw, design.n_obs)
