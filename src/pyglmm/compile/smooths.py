"""The PyMC variables of a smooth term's penalized part (block kind ``"smooth"``,
:mod:`pyglmm.design.smooths`), registered in :data:`~pyglmm.compile.blocks.PYMC_BLOCKS` when
this module is imported (by :mod:`pyglmm.compile`).

brms's Stan code for ``s(x)``: ``sds ~ prior``, ``zs ~ Normal(0, 1)`` (one per column of the
penalized basis), ``s = sds * zs``, and the linear predictor gets ``Zs s``. Here ``sds_<block>``
(a scalar, prior class ``sds``), ``sd_<block> = sds * 1`` (per column, as every block stores
its SDs), ``z_<block>`` (1 x q) and ``r_<block> = z * sd`` (its one level): the block enters
the linear predictor as any other (:func:`~pyglmm.compile.blocks.block_contribution`). Only the
non-centered form is built (brms's); ``"auto"`` picks it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import names
from ..design.blocks import Smooth
from ..design.records import REBlock
from ..priors import PriorSet
from .blocks import PYMC_BLOCKS, PyMCBlock, _dims, scaled_noncentered
from .listing import _Code


def _smooth_sd(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    """``sds_<block>`` and ``sd_<block>`` (its value per column); returns the latter."""
    name, q = blk.name, blk.q
    _, term = _dims(blk)
    var = names.smooth_sd(name)
    p = priors.sd[name][blk.terms[0]]
    code(f"{var} = {p.code(var)}  # the smooth's SD (class sds)")
    sds = p.rv(var)
    code(f"sd_{name} = pm.Deterministic('sd_{name}', {var} * ones({q}))")
    return pm.Deterministic(names.sd(name), sds * pt.ones(q), dims=term)


#: ``z ~ Normal(0, 1)``, ``r = z * sds``: the penalized coefficients.
_smooth_noncentered = scaled_noncentered(_smooth_sd)


def _smooth_centered(blk: REBlock, priors: PriorSet, code: _Code, center: Any = None) -> Any:
    """``r ~ Normal(0, sds)``: the penalized coefficients sampled directly."""
    sd = _smooth_sd(blk, priors, code)
    dims = _dims(blk)
    name = names.effects(blk.name)
    code(f"{name} = pm.Normal({name!r}, 0, sd_{blk.name}, dims={dims!r})")
    return pm.Normal(name, 0.0, sd, dims=dims)


def _smooth_start(
    blk: REBlock, sd: np.ndarray, cor: np.ndarray, r: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``sds_<block>`` = the first SD, ``z = r / sds``."""
    s = max(float(np.asarray(sd)[0]), 1e-8)
    return {names.smooth_sd(blk.name): np.asarray(s)}, r / s


PYMC_BLOCKS[Smooth] = PyMCBlock(
    _smooth_sd,
    {"noncentered": _smooth_noncentered, "centered": _smooth_centered},
    _smooth_start,
)
