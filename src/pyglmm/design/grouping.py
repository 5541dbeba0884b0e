"""Per-level tables by grouping factor, the layout of lme4's ``ranef()``/``coef()``.

Several blocks can share a grouping factor (``(1 | g) + (0 + x | g)``, or ``(x || g)``, which
the design splits into one block per column); lme4 reports them in one table per factor. Given
each block's effects over its levels, :func:`columns_by_group` returns, per factor, its levels
and one column per term:

* ``ranef`` layout (``fixed=None``): a term that appears in two blocks of one factor keeps the
  first block's column under its name and gets ``"<block>:<term>"`` for the others;
* ``coef`` layout (``fixed`` = coefficient name -> values): every fixed effect is a column,
  repeated over the levels, and each random term is added to the column of the same name (a
  term without a fixed twin is a column of its own, as in lme4).

Values may carry leading axes (chains, draws): effects are ``(..., levels, q)``, fixed values
``(...)``, and each column comes out as ``(..., levels)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .records import REBlock


def columns_by_group(
    blocks: tuple[REBlock, ...],
    effects: Mapping[str, np.ndarray],
    fixed: Mapping[str, np.ndarray] | None = None,
) -> dict[str, tuple[list[object], dict[str, np.ndarray]]]:
    """``{group: (levels, {column: values (..., levels)})}`` (see the module docstring)."""
    groups: dict[str, list[REBlock]] = {}
    for blk in blocks:
        groups.setdefault(blk.group, []).append(blk)
    out: dict[str, tuple[list[object], dict[str, np.ndarray]]] = {}
    for group, blks in groups.items():
        levels: list[object] = list(blks[0].levels)
        cols: dict[str, np.ndarray] = {}
        if fixed is not None:
            for name, value in fixed.items():
                value = np.asarray(value)
                cols[name] = np.repeat(value[..., None], len(levels), axis=-1)
        for blk in blks:
            r = np.asarray(effects[blk.name])
            for j, term in enumerate(blk.terms):
                if fixed is not None:
                    cols[term] = cols[term] + r[..., j] if term in cols else r[..., j]
                else:
                    cols[term if term not in cols else f"{blk.name}:{term}"] = r[..., j]
        out[group] = (levels, cols)
    return out
