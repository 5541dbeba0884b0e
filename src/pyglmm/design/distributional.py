"""The design of a model with distributional formulas (``pg.bf``): the mean's design plus,
per parameter, a fixed part (:class:`~pyglmm.design.records.DparPart`) and blocks.

Every formula is built by :func:`~pyglmm.design.build.build_design` on the same rows: those
with no missing value in any column that any of the formulas uses (dropped and counted once,
or refused with ``missing="raise"``). A parameter's blocks join ``Design.blocks`` renamed with
the parameter's prefix, as brms names them: block ``sigma_g`` (variables ``sd_sigma_g``,
``r_sigma_g``) over group ``g``, terms ``sigma_Intercept``, ``sigma_x``, and ``dpar="sigma"``,
so the priors, the summary (``sd(sigma_Intercept)`` under ``g``), ``ranef`` and ``varcorr``
treat them as any block; the linear predictors keep them apart::

    eta_mu    = X b + sum_{k: dpar_k = ""} Z_k r_k
    eta_sigma = X^sigma b^sigma + sum_{k: dpar_k = "sigma"} Z_k r_k

Terms with one brms ID in several formulas (``(1 |p| g)`` in the mean's and in ``sigma``'s)
are merged into one block whose columns feed different predictors (``REBlock.col_dpars``,
:mod:`pyglmm.design.ids`); the sums above then run over the columns of each predictor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import pandas as pd

from ..errors import DesignError, UnsupportedModelError
from ..formula import ParsedFormula
from ..formula.distributional import BrmsFormula, MvFormula, dpar_design_formula
from .build import build_design, drop_aliased_columns
from .frame import as_frame, check_columns, drop_missing_rows
from .ids import merge_id_blocks
from .records import Design, DparPart, REBlock


def build_distributional_design(
    main: ParsedFormula,
    dpars: Mapping[str, ParsedFormula],
    data: pd.DataFrame,
    missing: Literal["drop", "raise"] = "drop",
    data2: Mapping[str, Any] | None = None,
) -> Design:
    """The design of ``main`` with the distributional formulas ``dpars`` (parameter ->
    parsed formula whose response is the parameter's name), see the module docstring."""
    data = as_frame(data)
    built = {name: dpar_design_formula(f, main) for name, f in dpars.items()}
    names = list(
        dict.fromkeys([*main.variables(), *(v for f in built.values() for v in f.variables())])
    )
    check_columns(names, data)
    data, n_dropped = drop_missing_rows(data, names, missing, stacklevel=3)
    design = drop_aliased_columns(build_design(main, data, missing="raise", data2=data2))
    parts: list[DparPart] = []
    blocks = list(design.blocks)
    for name, formula in built.items():
        if formula.smooths:
            raise UnsupportedModelError(
                f"smooth terms (s()) in the formula of {name!r} are not supported yet; they "
                "work in the mean's formula"
            )
        d = drop_aliased_columns(build_design(formula, data, missing="raise", data2=data2))
        if d.offset_design_info is not None:  # (rate() of the shared response: the mean's)
            raise DesignError(
                f"the formula of {name!r} has an offset, which pyglmm takes in the "
                "main formula only"
            )
        parts.append(DparPart(name, dpars[name], d.X, d.x_names, d.x_design_info, d.x_order))
        blocks += prefixed_blocks(d.blocks, name)
    blocks = list(merge_id_blocks(blocks))  # brms's |ID| across the formulas
    return replace(design, blocks=tuple(blocks), dpars=tuple(parts), n_dropped=n_dropped)


def model_formula(design: Design) -> str | BrmsFormula | MvFormula:
    """The formula ``pg.Model`` takes to rebuild ``design``'s model on other data (a refit in
    :func:`pyglmm.recover`, a saved fit): the main formula's text, or the ``pg.bf`` of it and
    its distributional formulas as the user wrote them, or a multivariate model's responses'
    formulas (``MvFormula``, printed as written)."""
    if design.mv is not None:
        parts = tuple(BrmsFormula(p.formula.formula) for p in design.dpars)
        return MvFormula(parts, text=design.mv.text)
    if not design.dpars or design.categorical:  # (a categorical model's dpars: its categories)
        return design.formula.formula
    return BrmsFormula(
        design.formula.formula, tuple((p.name, p.formula.formula) for p in design.dpars)
    )


def prefixed_blocks(blocks: Sequence[REBlock], name: str) -> list[REBlock]:
    """``blocks`` of the linear predictor ``name`` (a distributional parameter's or, in a
    multivariate model, a response's) renamed as brms names them: block ``<name>_<block>``,
    terms ``<name>_<term>``, ``dpar = name``."""
    return [
        replace(
            blk,
            name=f"{name}_{blk.name}",
            terms=tuple(f"{name}_{t}" for t in blk.terms),
            dpar=name,
        )
        for blk in blocks
    ]
