"""brms's correlation IDs: ``(x |p| g)`` terms with the same ID and grouping factor form one
correlated block.

Every term with ID ``p`` over the grouping factor ``g`` -- in one formula, or in the mean's
formula and a distributional parameter's (``pg.bf("y ~ x + (1 |p| g)", "sigma ~ (1 |p| g)")``)
-- contributes its columns to one block whose effects per level are jointly normal::

    r_l = (r_l^(1), ..., r_l^(K)) ~ N(0, Sigma),   Sigma = diag(sd) Omega diag(sd),

with an SD per column and one LKJ correlation matrix ``Omega`` over all of them (brms). Each
column keeps the linear predictor it came from (``REBlock.col_dpars``): with column j of the
block feeding predictor ``d_j``,

    eta_d[i] += sum_{j: d_j = d} Z[i, j] r[codes[i], j].

So ``(1 |p| g) + (0 + x |p| g)`` is ``(1 + x | g)``, and ``y ~ (1 |p| g)`` with
``sigma ~ (1 |p| g)`` has terms ``Intercept`` and ``sigma_Intercept`` correlated across the
mean and ``log sigma``. The merged block is named after its first term's block (``g``), keeps
the ID in ``REBlock.block_id``, and rebuilds its columns for new data from a
:class:`~pyglmm.design.records.StackedInfo` of its terms' design states.

As in brms, one ID over two grouping factors is an error (:class:`DesignError` naming both),
and so is a term name twice in one ID (``(1 |p| g) + (1 + x |p| g)``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from ..errors import DesignError
from .blocks import kind_for
from .records import REBlock, StackedInfo


def merge_id_blocks(blocks: Iterable[REBlock]) -> tuple[REBlock, ...]:
    """``blocks`` with those sharing a ``block_id`` merged into one correlated block, placed
    where the ID's first block was (see the module docstring); blocks without an ID as they
    are."""
    blocks = tuple(blocks)
    by_id: dict[str, list[REBlock]] = {}
    for blk in blocks:
        if blk.block_id:
            by_id.setdefault(blk.block_id, []).append(blk)
    out: list[REBlock] = []
    for blk in blocks:
        if not blk.block_id:
            out.append(blk)
        elif by_id[blk.block_id][0] is blk:
            out.append(_merge(blk.block_id, by_id[blk.block_id]))
    return tuple(out)


def _merge(block_id: str, parts: list[REBlock]) -> REBlock:
    """One block from the blocks of ID ``block_id`` (all over one grouping factor)."""
    first = parts[0]
    for blk in parts[1:]:
        if blk.group != first.group:
            raise DesignError(
                f"ID {block_id!r} is used with two grouping factors, {first.group!r} and "
                f"{blk.group!r}: terms with one ID share one grouping factor (brms); use "
                "another ID for the other factor"
            )
        if blk.levels != first.levels or not np.array_equal(blk.codes, first.codes):
            raise DesignError(
                f"ID {block_id!r}: the terms over {first.group!r} do not have the same levels "
                "(the formulas were built on different rows)"
            )
    if len(parts) == 1:
        return first
    terms = [t for blk in parts for t in blk.terms]
    seen: set[str] = set()
    for t in terms:
        if t in seen:
            raise DesignError(
                f"ID {block_id!r} over {first.group!r} has the term {t!r} twice; each term of "
                "an ID appears once (e.g. (1 |p| g) + (0 + x |p| g))"
            )
        seen.add(t)
    col_dpars = tuple(d for blk in parts for d in blk.column_dpars)
    kind = kind_for(True, len(terms))
    if len(terms) >= first.n_levels:
        raise DesignError(
            f"random-effect block {first.name!r} (ID {block_id!r}) has {len(terms)} columns "
            f"({', '.join(terms)}) but {first.group!r} has only {first.n_levels} levels"
        )
    spans = len(set(col_dpars)) > 1
    return replace(
        first,
        Z=np.hstack([np.asarray(blk.Z, dtype=float) for blk in parts]),
        terms=tuple(terms),
        kind=kind.name,
        design_info=StackedInfo(tuple(blk.design_info for blk in parts)),
        dpar=col_dpars[0],
        col_dpars=col_dpars if spans else (),
    )


def merge_id_blocks_named_by_group(blocks: Iterable[REBlock]) -> tuple[REBlock, ...]:
    """:func:`merge_id_blocks`, then each merged block that spans several parts (the responses
    of a multivariate model, the categories of a categorical one) named by its group, as brms
    reports it, unless another block already has that name."""
    merged = list(merge_id_blocks(blocks))
    taken = {b.name for b in merged}
    for i, blk in enumerate(merged):
        if blk.spans_dpars and blk.group not in taken:
            taken.add(blk.group)
            merged[i] = replace(blk, name=blk.group)
    return tuple(merged)
