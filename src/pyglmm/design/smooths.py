"""The design of brms/mgcv smooth terms ``s(x)``, ``s(x, k = 5)``, ``s(x, by = f)``.

Each :class:`~pyglmm.formula.smooths.SmoothTerm` becomes a :class:`SmoothPart`: the thin plate
regression spline of its covariates in mixed-model form
(:mod:`pyglmm.design.smooth_basis`), split as brms splits it (mgcv's ``smooth2random``) into

* unpenalized columns ``X_f`` appended to the fixed-effect matrix, named ``<label>_1``, ...
  (``sx_1``: for one covariate the centred linear term, scaled to unit SD as mgcv's basis
  has it), and
* a penalized part ``Z_r`` (n x rank) whose coefficients are iid ``N(0, sds^2)``: one
  random-effect block of kind ``"smooth"`` (:class:`~pyglmm.design.blocks.Smooth`, one level,
  one SD shared by its columns) named ``<label>_1`` (the summary's ``sds(sx_1)``).

``by = f`` (a factor): one smooth per level of ``f``, every row multiplied by the indicator
of its level (labels ``sxfA``, brms's: mgcv's ``s(x):fA`` without the colon; brms and mgcv
leave ``f``'s main effect to the formula).
:meth:`SmoothPart.fixed` and :meth:`SmoothColumns.columns` evaluate the same basis at new
rows (:meth:`~pyglmm.design.Design.transform`), so predictions use the fitted smooth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DesignError, FormulaError
from ..formula.smooths import SmoothTerm
from .smooth_basis import TprsSmooth, tprs_smooth

SMOOTH_LEVEL = "1"  # the one level of a smooth's block


@dataclass(frozen=True, eq=False)
class SmoothPart:
    """One smooth term's state: the term, its basis, and the levels of its ``by`` factor
    (``()`` without ``by``)."""

    term: SmoothTerm
    smooth: TprsSmooth
    by_levels: tuple[str, ...] = ()

    @property
    def labels(self) -> tuple[str, ...]:
        """brms's label per smooth: ``("sx",)``, or ``("sxfA", "sxfB")`` with ``by = f``."""
        base = self.term.label
        if not self.term.by:
            return (base,)
        return tuple(f"{base}{self.term.by}{lev}" for lev in self.by_levels)

    @property
    def fixed_names(self) -> tuple[str, ...]:
        """The unpenalized columns' names: ``sx_1``, ... per smooth."""
        n = self.smooth.n_fixed
        return tuple(f"{lab}_{j + 1}" for lab in self.labels for j in range(n))

    @property
    def block_names(self) -> tuple[str, ...]:
        """The penalized parts' block names, one per smooth: ``sx_1`` (brms's ``sds(sx_1)``)."""
        return tuple(f"{lab}_1" for lab in self.labels)

    @property
    def terms(self) -> tuple[str, ...]:
        """The penalized part's column names (the block's terms): ``1``, ..., ``rank``."""
        return tuple(str(j + 1) for j in range(self.smooth.rank))

    def _masks(self, frame: pd.DataFrame) -> list[np.ndarray]:
        n = len(frame)
        if not self.term.by:
            return [np.ones(n)]
        values = np.asarray(frame[self.term.by].astype(str), dtype=object)
        unknown = sorted(set(values.tolist()) - set(self.by_levels))
        if unknown:
            raise DesignError(
                f"new level(s) {unknown[:5]} of {self.term.by!r} in {self.term.text}: a smooth "
                f"by a factor has one curve per level seen in the data ({list(self.by_levels)})"
            )
        return [(values == lev).astype(float) for lev in self.by_levels]

    def _basis(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = np.column_stack([np.asarray(frame[c], dtype=float) for c in self.term.covariates])
        return self.smooth.columns(x)

    def fixed(self, frame: pd.DataFrame) -> np.ndarray:
        """The unpenalized columns (n, len(fixed_names)) at the rows of ``frame``."""
        _, xf = self._basis(frame)
        return np.hstack([mask[:, None] * xf for mask in self._masks(frame)])

    def random(self, frame: pd.DataFrame) -> list[np.ndarray]:
        """The penalized columns (n, rank) of each smooth at the rows of ``frame``."""
        zr, _ = self._basis(frame)
        return [mask[:, None] * zr for mask in self._masks(frame)]


@dataclass(frozen=True, eq=False)
class SmoothColumns:
    """The design state of a smooth's block (``REBlock.design_info``): its part and which of
    the part's smooths (``by`` level) it is."""

    part: SmoothPart
    index: int

    def columns(self, frame: pd.DataFrame) -> np.ndarray:
        return self.part.random(frame)[self.index]


def build_smooths(
    formula_text: str, terms: tuple[SmoothTerm, ...], frame: pd.DataFrame
) -> tuple[SmoothPart, ...]:
    """The :class:`SmoothPart` of each term on the rows of ``frame``: a
    :class:`~pyglmm.errors.FormulaError` (caret under the term) for a covariate that is not
    numeric, a ``by`` column that is not a factor, or too few unique values for ``k``."""
    parts = []
    for term in terms:
        where = term.span[0]
        for c in term.covariates:
            col = frame[c]
            if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                raise FormulaError(
                    f"{term.text}: covariate {c!r} is not numeric ({col.dtype}); a smooth "
                    "takes numeric covariates (a factor's levels enter as by = or as a fixed "
                    "effect)",
                    formula_text,
                    where,
                )
        levels: tuple[str, ...] = ()
        if term.by:
            col = frame[term.by]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                raise FormulaError(
                    f"{term.text}: by = {term.by!r} is numeric; only a factor by (one smooth "
                    "per level) is supported yet (wrap it as a categorical column)",
                    formula_text,
                    where,
                )
            if isinstance(col.dtype, pd.CategoricalDtype):
                present = set(col.astype(str))
                levels = tuple(str(v) for v in col.cat.categories if str(v) in present)
            else:
                levels = tuple(sorted(set(col.astype(str))))
        x = np.column_stack([np.asarray(frame[c], dtype=float) for c in term.covariates])
        try:
            smooth = tprs_smooth(x, term.k, term.covariates)
        except ValueError as err:
            raise FormulaError(f"{term.text}: {err}", formula_text, where) from None
        parts.append(SmoothPart(term, smooth, levels))
    return tuple(parts)
