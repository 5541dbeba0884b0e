"""Checks and defaults of :class:`~pyglmm.model.Model` that read only a design, a family or
``fit()``'s arguments: the refusals it raises up front and the default low-rank mass matrix."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from .compile.parameterization import INTEGRATED
from .design import Design, DesignError
from .errors import ArgumentError
from .families import Family
from .sampling import check_sampler

# the default low-rank mass matrix is for models with at most this many sampled parameters
LOW_RANK_MAX_PARAMETERS = 250


def _default_low_rank(design: Design, resolved: Mapping[str, str]) -> bool:
    """``fit(low_rank_mass_matrix=None)``: on when some block is latent and the sampled
    parameters (fixed effects, scales, latent effects) are at most ``LOW_RANK_MAX_PARAMETERS``."""
    latent = [blk for blk in design.blocks if resolved[blk.name] not in INTEGRATED]
    size = len(design.x_names) + sum(blk.q * (blk.q + 1) // 2 for blk in design.blocks)
    size += sum(blk.n_levels * blk.q for blk in latent)
    return bool(latent) and size <= LOW_RANK_MAX_PARAMETERS


def _latent_only(design: Design) -> str:
    """Why no block of ``design`` can be integrated out, or ``""``."""
    if design.me is not None:
        return "its me() terms make the fixed part latent (sampled by the PyMC model)"
    if _changes_likelihood(design):
        assert design.additions is not None
        return f"its addition terms {design.additions.describe()} change the likelihood"
    return ""


def _changes_likelihood(design: Design) -> bool:
    """Whether brms's addition terms (weights, se, cens, trunc) change the likelihood."""
    return design.additions is not None and design.additions.changes_likelihood


def _check_fit_arguments(
    draws: int, tune: int, chains: int, sampler: str, target_accept: float, init: Any
) -> None:
    """Refuse :meth:`Model.fit` arguments that cannot work, naming the argument."""
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ArgumentError(f"{name} must be an integer >= {low}, got {value!r}")
    check_sampler(sampler)
    if not 0 < target_accept < 1:
        raise ArgumentError(
            f"target_accept must be between 0 and 1 (exclusive), got {target_accept!r}"
        )
    if init not in (None, "auto", "reml", "laplace"):
        raise ArgumentError(f"unknown init {init!r}; use 'auto', 'reml', 'laplace' or None")


def _check_row_level_blocks(design: Design, family: Family) -> None:
    """Refuse a grouping factor with one level per observation where the family's own
    residual makes it unidentified (gaussian), as lme4 does."""
    if family.row_level_effects:
        return
    for blk in design.blocks:
        observed = int(np.unique(blk.codes).size)  # a kron grid has levels without rows
        if observed >= design.n_obs:
            raise DesignError(
                f"grouping factor {blk.group!r} has {observed} levels for "
                f"{design.n_obs} observations: in a {family.name} model its effects are not "
                "identified beside the residual (lme4: the number of levels of each grouping "
                "factor must be < the number of observations); drop the term, or use a family "
                "without a residual scale, where it is an observation-level effect"
            )
