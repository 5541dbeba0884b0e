"""Checks of a response against a family's support: :class:`ResponseError` names the
offending rows (their count and the first positions, or the data's index labels)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import FamilyError


class ResponseError(FamilyError):
    """A response value outside the family's support, at ``rows`` (positions among the rows the
    model uses); :meth:`located` names them by the data's own index instead."""

    def __init__(self, family: str, condition: str, rows: np.ndarray, where: str = "") -> None:
        self.family, self.condition, self.rows = family, condition, rows
        where = where or "row positions " + _first(rows.tolist())
        super().__init__(f"family {family!r}: {condition} in {rows.size} row(s) ({where})")

    def located(self, index: Any) -> ResponseError:
        """The same error naming the rows by ``index`` (the data's index of the used rows)."""
        labels = list(np.asarray(index)[self.rows[:5]])
        return ResponseError(
            self.family,
            self.condition,
            self.rows,
            "data index " + _first(labels, more=self.rows.size > 5),
        )


def _first(values: list[Any], more: bool | None = None) -> str:
    shown = ", ".join(str(v.item() if hasattr(v, "item") else v) for v in values[:5])
    return shown + (", ..." if (len(values) > 5 if more is None else more) else "")


def _check(family: str, bad: np.ndarray, condition: str) -> None:
    """Raise :class:`ResponseError` naming ``condition``, the number of offending rows and the
    first positions (0-based, among the rows the model uses) when ``bad`` has any True."""
    rows = np.flatnonzero(bad)
    if rows.size:
        raise ResponseError(family, condition, rows)


def _not_integer(v: np.ndarray) -> np.ndarray:
    return np.asarray(v != np.round(v))


def _check_counts(family: str, y: np.ndarray) -> None:
    _check(family, y < 0, "the response must be a non-negative count; negative values")
    _check(family, _not_integer(y), "the response must be an integer count; non-integer values")
