"""The design of a categorical model (brms's ``categorical()``): one linear predictor per
category but the first (the reference), each with the formula's right-hand side.

The formula is built once (:func:`~pyglmm.design.build.build_design`, the response as codes
1..K: :func:`pyglmm.families.categorical.categorical_response`); its fixed part becomes one
:class:`DparPart` per category ``mu<c>`` (the same ``X``; coefficients ``b_mu2``, reported
``mu2_Intercept``, ``mu2_x``) and its blocks are repeated per category, renamed as brms
names them (block ``mu2_g``, terms ``mu2_Intercept``, ``dpar = "mu2"``:
:func:`~pyglmm.design.distributional.prefixed_blocks`). The main part is empty (no columns),
so for row i and category k::

    eta_k[i] = X[i] b_k + sum_{blocks of mu_k} Z[i] r_k[codes[i]]          (eta_1 = 0)

``(1 | g)`` gives independent effects per category (``sd(mu2_Intercept)``,
``sd(mu3_Intercept)`` under ``g``); brms's ``(1 |p| g)`` correlates them: the blocks of one
ID over the categories merge into one correlated block named by its group
(:mod:`pyglmm.design.ids`, ``REBlock.col_dpars``), as across a multivariate model's responses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..errors import FamilyError, UnsupportedModelError
from .distributional import prefixed_blocks
from .ids import merge_id_blocks_named_by_group
from .records import Design, DparPart, REBlock

_NOT_NAME = re.compile(r"[^0-9A-Za-z]")


def category_dpars(labels: Sequence[str]) -> tuple[str, ...]:
    """brms's names of the linear predictors of the categories ``labels[1:]``: ``"mu"`` and
    the category name with every character other than a letter or digit removed;
    :class:`FamilyError` when two categories get one name."""
    names = tuple("mu" + _NOT_NAME.sub("", str(c)) for c in labels[1:])
    seen: dict[str, str] = {}
    for name, label in zip(names, labels[1:], strict=True):
        if name == "mu":
            raise FamilyError(
                f"family 'categorical': the category {label!r} has no letter or digit, so no "
                "predictor name (brms's mu<category>); rename it"
            )
        if name in seen:
            raise FamilyError(
                f"family 'categorical': the categories {seen[name]!r} and {label!r} "
                f"both give the predictor name {name!r} (brms's names keep only letters and "
                "digits); rename the categories"
            )
        seen[name] = label
    return names


def categorical_design(design: Design, labels: Sequence[str]) -> Design:
    """The categorical model of ``design`` (the formula built on the response's codes 1..K
    over the categories ``labels``; the predictors named by :func:`category_dpars`): see the
    module docstring. The categories no used row has are dropped
    (codes renumbered); fewer than 3 left are refused (:class:`FamilyError`: bernoulli)."""
    if design.offset is not None or design.me is not None or design.smooths:
        what = (
            "an offset"
            if design.offset is not None
            else "me() terms"
            if design.me is not None
            else "smooth terms (s())"
        )
        raise UnsupportedModelError(
            f"family 'categorical' does not take {what} yet (each category's predictor would "
            "need its own)"
        )
    codes = np.asarray(design.y, dtype=np.int64)
    observed = np.unique(codes)  # 1-based
    kept = [labels[k - 1] for k in observed]
    if len(kept) < 3:
        raise FamilyError(
            f"family 'categorical' needs at least 3 categories; the response has "
            f"{len(kept)} ({', '.join(map(repr, kept))}) in the rows used: for two "
            "categories use family='bernoulli' (a 0/1 response)"
        )
    recode = np.zeros(len(labels) + 1, dtype=np.int64)
    recode[observed] = np.arange(1, len(observed) + 1)
    # (the first declared category absent: the first observed one is the reference)
    by_label = dict(zip(labels[1:], category_dpars(labels), strict=True))
    names = [by_label[c] for c in kept[1:]]
    parts: list[DparPart] = []
    blocks: list[REBlock] = []
    for name in names:
        parts.append(
            DparPart(
                name, design.formula, design.X, design.x_names, design.x_design_info, design.x_order
            )
        )
        blocks += prefixed_blocks(design.blocks, name)
    merged = merge_id_blocks_named_by_group(blocks)
    order = np.arange(len(design.x_names)) if design.x_order is None else design.x_order
    return replace(
        design,
        y=recode[codes].astype(float),
        X=np.asarray(design.X)[:, :0],
        x_names=(),
        x_order=np.asarray(order)[:0],
        blocks=merged,
        dpars=tuple(parts),
        categorical=tuple(kept),
    )
