"""The design's fingerprint (the ``design`` attribute), and the check on load that the design
rebuilt from the stored data matches it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..design import Design
from .errors import FitFileError, _this_stack


def _fingerprint(design: Design) -> dict[str, Any]:
    """What identifies a design: its names and levels exactly, its arrays by column sums."""

    def sums(a: np.ndarray | None) -> list[list[float]] | None:
        """Per column: the sum and the sum of absolute values (the scale of its rounding)."""
        if a is None or not design.has_data:  # a design saved without data has no arrays
            return None
        x = np.asarray(a, dtype=float)
        x = x.reshape(x.shape[0], int(np.prod(x.shape[1:])))
        return np.stack([x.sum(axis=0), np.abs(x).sum(axis=0)], axis=1).tolist()

    blocks = []
    for blk in design.blocks:
        digest = hashlib.sha256("\x1f".join(blk.levels).encode()).hexdigest()
        blocks.append(
            {
                "name": blk.name,
                "group": blk.group,
                "kind": blk.covariance.name,  # the stored string ("lkj", "diag")
                "terms": list(blk.terms),
                "n_levels": blk.n_levels,
                "levels_sha256": digest,
                "Z": sums(blk.Z),
                "codes": int(np.asarray(blk.codes).sum()),
            }
        )
    out = {
        "n_obs": design.n_obs,
        "n_dropped": design.n_dropped,
        "x_names": list(design.x_names),
        "blocks": blocks,
        "y": sums(design.y),
        "X": sums(design.X),
        "trials": sums(design.trials),
        "offset": sums(design.offset),
    }
    if design.dpars:  # (absent for a model of the mean only, as in files before them)
        out["dpars"] = [
            {"name": p.name, "x_names": list(p.x_names), "X": sums(p.X)} for p in design.dpars
        ]
    return out


def _check_design(design: Design, stored: Mapping[str, Any], source: Path) -> None:
    """Raise unless the rebuilt design matches the fingerprint saved with the fit."""
    now = _fingerprint(design)
    diffs = []
    for key, value in stored.items():
        mine = now.get(key)
        if key == "blocks":
            exact = [{k: v for k, v in b.items() if k != "Z"} for b in value]
            if exact != [{k: v for k, v in b.items() if k != "Z"} for b in mine or []]:
                diffs.append("random-effect blocks (names, terms or levels)")
            elif not all(_close(a["Z"], b["Z"]) for a, b in zip(value, mine or [], strict=True)):
                diffs.append("random-effect columns")
        elif key in ("y", "X", "trials", "offset"):
            if not _close(value, mine):
                diffs.append(key)
        elif key == "dpars":
            names = [(d["name"], d["x_names"]) for d in value]
            if names != [(d["name"], d["x_names"]) for d in mine or []]:
                diffs.append("distributional formulas")
            elif not all(_close(a["X"], b["X"]) for a, b in zip(value, mine or [], strict=True)):
                diffs.append("distributional formulas' columns")
        elif value != mine:
            diffs.append(key)
    if diffs:
        raise FitFileError(
            f"the data saved in {source} rebuild a different design than the fit's "
            f"({', '.join(diffs)} differ); loading with {_this_stack()}"
        )


def _close(a: Any, b: Any) -> bool:
    """Column sums equal up to rounding: within 1e-9 of the columns' absolute sums (so a
    numpy that sums in another order still matches, a changed value does not)."""
    if a is None or b is None:
        return a is None and b is None
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        return False
    if not x.size:  # no columns (a categorical model's empty main part)
        return True
    tol = 1e-9 * np.maximum(x[..., 1], y[..., 1]) + 1e-12
    return bool(np.all(np.abs(x - y) <= tol[..., None]))
