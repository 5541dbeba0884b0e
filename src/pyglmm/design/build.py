"""Stage 2: :func:`build_design`, a :class:`~pyglmm.formula.ParsedFormula` and a DataFrame to a
:class:`~pyglmm.design.Design`: rows with missing values in used columns are dropped (and
counted), the fixed part goes through patsy, and each random term becomes one
:class:`~pyglmm.design.REBlock`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import patsy
from patsy import PatsyError

from ..errors import DesignError as DesignError  # defined in errors, raised here
from ..formula import (
    ParsedFormula,
    join_terms,
    split_call,
    split_terms,
)
from ..formula.text import variable_names
from . import terms as _terms
from .blocks import kind_for
from .frame import (
    as_frame,
    check_columns,
    check_finite_columns,
    check_fixed_column_types,
    dmatrix,
    finite_matrix,
    format_counts,
    na_counts,
    patsy_frame,
)
from .records import Design, REBlock
from .response import response_columns


def build_design(
    formula: ParsedFormula,
    data: pd.DataFrame,
    missing: Literal["drop", "raise"] = "drop",
) -> Design:
    """Build the design (see the module docstring). Validates the input; see ``DesignError``.

    Rows with missing values in any used column are dropped with a ``UserWarning``
    (``missing="drop"``) or raise (``missing="raise"``).
    """
    if missing not in ("drop", "raise"):
        raise ValueError(f"missing must be 'drop' or 'raise', got {missing!r}")
    data = as_frame(data)
    names = list(formula.variables())
    check_columns(names, data)
    n_total = len(data)
    if n_total == 0:
        raise DesignError("empty data: the DataFrame has no rows")

    counts = na_counts(data, names)
    n_dropped = 0
    if counts:
        keep = ~data[names].isna().to_numpy().any(axis=1)
        n_dropped = int(n_total - keep.sum())
        if missing == "raise":
            raise DesignError(
                f"{n_dropped} of {n_total} rows have missing values in: {format_counts(counts)}"
                " (use missing='drop' to drop them)"
            )
        if n_dropped == n_total:
            raise DesignError(
                f"empty data: all {n_total} rows have missing values in: {format_counts(counts)}"
            )
        warnings.warn(
            f"dropped {n_dropped} of {n_total} rows with missing values in: "
            f"{format_counts(counts)}",
            UserWarning,
            stacklevel=2,
        )
        data = data.iloc[np.flatnonzero(keep)]
    frame = patsy_frame(data, names)
    check_finite_columns(frame, names, "data")
    check_fixed_column_types(frame, variable_names(formula.fixed))
    env = _terms.eval_env()

    y, trials = response_columns(formula.response, frame, env)

    fixed_terms: list[tuple[str, str]] = []
    offsets: list[str] = []
    for sign, text in split_terms(formula.fixed):
        call = split_call(text)
        if call is not None and call[0] == "offset":
            if sign == "-" or len(call[1]) != 1:
                raise DesignError(f"offset term must be '+ offset(expr)', got {sign} {text}")
            offsets.append(call[1][0])
        else:
            fixed_terms.append((sign, text))
    x_formula = join_terms(fixed_terms) or "1"
    xm = dmatrix(x_formula, frame, env, "fixed effects")
    x_order = _r_column_order(xm.design_info, x_formula)
    X = finite_matrix(xm, "fixed-effect")[:, x_order]
    x_names = tuple(column_label(xm.design_info.column_names[j]) for j in x_order)
    offset = offset_info = None
    if offsets:
        om = dmatrix(" + ".join(["0", *(f"I({o})" for o in offsets)]), frame, env, "offset")
        if om.shape[1] != len(offsets):
            raise DesignError(f"offset must be numeric: {', '.join(offsets)}")
        offset = finite_matrix(om, "offset").sum(axis=1)
        offset_info = om.design_info

    blocks = _blocks(formula, frame, env)
    return Design(
        formula=formula,
        y=y,
        response=formula.response,
        X=X,
        x_names=x_names,
        blocks=blocks,
        index=data.index,
        n_dropped=n_dropped,
        trials=trials,
        offset=offset,
        x_design_info=xm.design_info,
        offset_design_info=offset_info,
        x_order=x_order,
    )


def _r_column_order(info: Any, formula: str) -> np.ndarray:
    """Column permutation from patsy's order (terms grouped by numeric factors) to R's:
    terms by degree (main effects, then two-way interactions, ...), then formula order."""
    try:
        listed = patsy.ModelDesc.from_formula(formula).rhs_termlist
    except PatsyError:
        listed = []
    pos = {term: i for i, term in enumerate(listed)}
    terms = sorted(info.term_slices, key=lambda t: (len(t.factors), pos.get(t, len(pos))))
    cols = [np.arange(info.term_slices[t].start, info.term_slices[t].stop) for t in terms]
    return np.concatenate(cols) if cols else np.arange(0)


def _blocks(formula: ParsedFormula, frame: pd.DataFrame, env: Any) -> tuple[REBlock, ...]:
    blocks: list[REBlock] = []
    seen: dict[str, int] = {}
    for term in formula.random:
        group = term.group_name
        seen[group] = seen.get(group, 0) + 1
        name = group if seen[group] == 1 else f"{group}_{seen[group]}"
        label = f"({term.expr} | {group})"
        zm = dmatrix(term.expr, frame, env, f"random-effect term {label}")
        Z = finite_matrix(zm, f"random-effect term {label}")
        terms = tuple(column_label(c) for c in zm.design_info.column_names)
        if not terms:
            raise DesignError(f"random-effect term {label} has no columns")
        codes, levels = _terms.group_codes(frame, term.group)
        if len(levels) < 2:
            raise DesignError(
                f"grouping factor {group!r} has a single level ({levels[0]!r}); "
                "a random effect needs at least 2 levels"
            )
        if len(terms) >= len(levels):
            raise DesignError(
                f"random-effect block {name!r} {label} has {len(terms)} columns "
                f"({', '.join(terms)}) but {group!r} has only {len(levels)} levels"
            )
        kind = kind_for(term.correlated, len(terms))
        blocks.append(
            REBlock(
                name=name,
                group=group,
                levels=tuple(levels),
                codes=codes,
                Z=Z,
                terms=terms,
                kind=kind.name,
                design_info=zm.design_info,
            )
        )
    return tuple(blocks)


def drop_aliased_columns(design: Design) -> Design:
    """``design`` without the fixed-effect columns that are linear combinations of the columns
    before them (:func:`full_rank_columns`), with lme4's message naming them; ``design`` itself
    when it has full column rank. New data get the same columns (``x_order``)."""
    X = np.asarray(design.X, dtype=float)
    keep = full_rank_columns(X)
    if len(keep) == X.shape[1]:
        return design
    kept = set(keep.tolist())
    dropped = [design.x_names[j] for j in range(X.shape[1]) if j not in kept]
    plural = "s" if len(dropped) > 1 else ""
    warnings.warn(
        f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
        f"column{plural} / coefficient{plural}: {', '.join(dropped)} (a linear combination of "
        "the columns before it; lme4 drops it the same way)",
        UserWarning,
        stacklevel=3,
    )
    order = np.arange(X.shape[1]) if design.x_order is None else design.x_order
    return replace(
        design,
        X=X[:, keep],
        x_names=tuple(design.x_names[j] for j in keep),
        x_order=np.asarray(order)[keep],
    )


# a column is aliased when less than this fraction of its norm is outside the span of the columns
# before it (R's qr(), which lme4 uses to drop columns, has the same default tolerance)
RANK_TOLERANCE = 1e-7


def full_rank_columns(X: np.ndarray, tol: float = RANK_TOLERANCE) -> np.ndarray:
    """Positions of the columns of ``X`` to keep so that it has full column rank, keeping
    columns in order as R's ``qr`` (LINPACK's limited pivoting) does: column j is dropped when
    ``|R_jj| < tol * ||X_j||`` in the QR factorization of the columns kept before it plus j.

    One Householder QR per dropped column plus one: the factorization of the kept columns is
    repeated after each drop, so a dropped column leaves no trace in the later ones.
    """
    keep = np.arange(X.shape[1])
    norms = np.linalg.norm(X, axis=0)
    while keep.size:
        r = np.abs(np.diag(np.linalg.qr(X[:, keep], mode="r")))
        bad = np.flatnonzero(r < tol * np.maximum(norms[keep], np.finfo(float).tiny))
        if bad.size == 0:
            break
        keep = np.delete(keep, bad[0])  # the first aliased column; later ones are re-tested
    return keep


_QUOTED = re.compile(r"""Q\((["'])(.*?)\1\)""")


def column_label(patsy_name: str) -> str:
    """A design column's name as reported: patsy's, with ``Q("my x")`` shown as ``my x`` (the
    column's own name, as lme4 and brms show names that need quoting)."""
    return _QUOTED.sub(lambda m: m.group(2), patsy_name)
