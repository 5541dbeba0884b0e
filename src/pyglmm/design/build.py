"""Stage 2: :func:`build_design`, a :class:`~pyglmm.formula.ParsedFormula` and a DataFrame to a
:class:`~pyglmm.design.Design`: rows with missing values in used columns are dropped (and
counted), the fixed part goes through patsy, and each random term becomes one
:class:`~pyglmm.design.REBlock`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..errors import DesignError as DesignError  # defined in errors, raised here
from ..errors import UnsupportedModelError
from ..formula import (
    ParsedFormula,
    join_terms,
    split_call,
    split_terms,
)
from ..formula.additions import parse_response
from ..formula.text import variable_names
from . import terms as _terms
from .additions import build_additions
from .blocks import kind_for
from .desc import model_desc
from .frame import (
    as_frame,
    check_columns,
    check_finite_columns,
    check_fixed_column_types,
    dmatrix,
    drop_missing_rows,
    finite_matrix,
    patsy_call,
    patsy_frame,
)
from .ids import merge_id_blocks
from .levelcov import known_covariance
from .measurement import add_placeholders, build_measurement
from .records import Design, REBlock
from .response import response_columns
from .smooths import SMOOTH_LEVEL, SmoothColumns, SmoothPart, build_smooths


def build_design(
    formula: ParsedFormula,
    data: pd.DataFrame,
    missing: Literal["drop", "raise"] = "drop",
    data2: Mapping[str, Any] | None = None,
    mecor: bool = True,
) -> Design:
    """Build the design (see the module docstring). Validates the input; see ``DesignError``.

    ``me(x, sdx)`` terms: their placeholder columns hold the observed ``x``, and ``design.me``
    the pieces the model replaces them with (:mod:`pyglmm.design.measurement`; ``mecor``:
    brms's ``set_mecor``).

    ``data2``: the matrices that ``gr(g, cov = NAME)`` terms name (brms's ``data2``), checked
    and factorized by :mod:`pyglmm.design.levelcov`.

    Rows with missing values in any used column are dropped with a ``UserWarning``
    (``missing="drop"``) or raise (``missing="raise"``).
    """
    if missing not in ("drop", "raise"):
        raise ValueError(f"missing must be 'drop' or 'raise', got {missing!r}")
    if formula.me and formula.smooths:
        raise UnsupportedModelError(
            "me() terms and smooth terms (s()) in one model are not supported yet"
        )
    data = as_frame(data)
    names = list(formula.variables())
    check_columns(names, data)
    n_total = len(data)
    if n_total == 0:
        raise DesignError("empty data: the DataFrame has no rows")

    data, n_dropped = drop_missing_rows(data, names, missing, stacklevel=2)
    frame = patsy_frame(data, names)
    check_finite_columns(frame, names, "data")
    frame = add_placeholders(frame, formula.me, data)
    check_fixed_column_types(frame, variable_names(formula.fixed))
    env = _terms.eval_env()

    y, trials = response_columns(formula.response, frame, env)
    additions, log_rate = build_additions(
        parse_response(formula.response), frame, env, y, data.index
    )

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
    desc = patsy_call(lambda: model_desc(fixed_terms), x_formula, "fixed effects")
    xm = dmatrix(desc, frame, env, "fixed effects", text=x_formula)
    x_order = _r_column_order(xm.design_info, desc.rhs_termlist)
    X = finite_matrix(xm, "fixed-effect")[:, x_order]
    columns = xm.design_info.column_names  # (a list built anew on every access)
    x_names = tuple(column_label(columns[j]) for j in x_order)
    offset = offset_info = None
    if offsets:
        om = dmatrix(" + ".join(["0", *(f"I({o})" for o in offsets)]), frame, env, "offset")
        if om.shape[1] != len(offsets):
            raise DesignError(f"offset must be numeric: {', '.join(offsets)}")
        offset = finite_matrix(om, "offset").sum(axis=1)
        offset_info = om.design_info
    if log_rate is not None:  # brms's rate(t): log(t) on the linear predictor (log link)
        offset = log_rate if offset is None else offset + log_rate

    blocks = _blocks(formula, frame, env, data2)
    smooths = build_smooths(formula.formula, formula.smooths, frame)
    if smooths:
        X_full = np.hstack([finite_matrix(xm, "fixed-effect"), *(p.fixed(frame) for p in smooths)])
        n_patsy = xm.shape[1]
        x_order = np.concatenate([x_order, n_patsy + np.arange(X_full.shape[1] - n_patsy)])
        X = X_full[:, x_order]
        x_names = x_names + tuple(n for part in smooths for n in part.fixed_names)
        blocks = blocks + smooth_blocks(smooths, frame)
    me = build_measurement(formula.me, frame, xm.design_info, x_order, x_names, mecor)
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
        me=me,
        additions=additions,
        smooths=smooths,
    )


def smooth_blocks(parts: tuple[SmoothPart, ...], frame: pd.DataFrame) -> tuple[REBlock, ...]:
    """The penalized part of each smooth as a one-level block of kind ``"smooth"``."""
    out = []
    n = len(frame)
    for part in parts:
        for j, (name, Z) in enumerate(zip(part.block_names, part.random(frame), strict=True)):
            out.append(
                REBlock(
                    name=name,
                    group=name,
                    levels=(SMOOTH_LEVEL,),
                    codes=np.zeros(n, dtype=np.int64),
                    Z=Z,
                    terms=part.terms,
                    kind="smooth",
                    design_info=SmoothColumns(part, j),
                )
            )
    return tuple(out)


def _r_column_order(info: Any, listed: list[Any]) -> np.ndarray:
    """Column permutation from patsy's order (terms grouped by numeric factors) to R's:
    terms by degree (main effects, then two-way interactions, ...), then formula order
    (``listed``, the terms of the ``ModelDesc``)."""
    pos = {term: i for i, term in enumerate(listed)}
    terms = sorted(info.term_slices, key=lambda t: (len(t.factors), pos.get(t, len(pos))))
    cols = [np.arange(info.term_slices[t].start, info.term_slices[t].stop) for t in terms]
    return np.concatenate(cols) if cols else np.arange(0)


def _blocks(
    formula: ParsedFormula,
    frame: pd.DataFrame,
    env: Any,
    data2: Mapping[str, Any] | None = None,
) -> tuple[REBlock, ...]:
    """One block per random term. The terms of ``(1 | g1/.../gK)`` share their expression and
    their group prefixes: each expression is evaluated by patsy once and each group's codes
    extend its prefix's (so building is linear in K). ``ar1``/``cs`` terms and
    ``gr(..., cov = ...)`` groups: see :func:`_structured_expr` and :func:`_level_grid`. Terms
    with one brms ID (``(1 |p| g) + (0 + x |p| g)``) become one block
    (:func:`~pyglmm.design.ids.merge_id_blocks`)."""
    blocks: list[REBlock] = []
    seen: dict[str, int] = {}
    models: dict[str, tuple[Any, np.ndarray]] = {}
    groups: _terms.GroupCache = {}
    for term in formula.random:
        group = term.group_name
        seen[group] = seen.get(group, 0) + 1
        name = group if seen[group] == 1 else f"{group}_{seen[group]}"
        label = f"({term.expr} | {group})"
        if term.structure:
            label = f"{term.structure}{label}"
        expr = _structured_expr(term.expr, term.structure, frame, label)
        if expr not in models:
            zm = dmatrix(expr, frame, env, f"random-effect term {label}")
            models[expr] = (zm.design_info, finite_matrix(zm, f"random-effect term {label}"))
        info, Z = models[expr]
        Z = Z.copy()  # each block owns its matrix
        terms = tuple(column_label(c) for c in info.column_names)
        if not terms:
            raise DesignError(f"random-effect term {label} has no columns")
        codes, levels = _terms.group_codes(frame, term.group, groups)
        level_cov = None
        if term.cov:
            codes, levels, level_cov = _level_grid(term.cov, term.group, frame, groups, data2)
        if len(levels) < 2:
            raise DesignError(
                f"grouping factor {group!r} has a single level ({levels[0]!r}); "
                "a random effect needs at least 2 levels"
            )
        kind = kind_for(term.correlated, len(terms), term.structure, level_cov is not None)
        if term.structure == "ar1" and "Intercept" in terms:
            raise DesignError(
                f"{label}: ar1() correlates the columns of a factor's levels; drop the "
                "intercept, e.g. ar1(0 + time | g)"
            )
        if not kind.shared_sd and len(terms) >= len(levels):
            raise DesignError(
                f"random-effect block {name!r} {label} has {len(terms)} columns "
                f"({', '.join(terms)}) but {group!r} has only {len(levels)} levels"
            )
        blocks.append(
            REBlock(
                name=name,
                group=group,
                levels=tuple(levels),
                codes=codes,
                Z=Z,
                terms=terms,
                kind=kind.name,
                design_info=info,
                level_cov=level_cov,
                block_id=term.id,
            )
        )
    return merge_id_blocks(blocks)


_BARE_NAME = re.compile(
    r"^\s*(?:0\s*\+\s*|-\s*1\s*\+\s*)?([A-Za-z_]\w*)(?:\s*\+\s*0|\s*-\s*1)?\s*$"
)


def _structured_expr(expr: str, structure: str, frame: pd.DataFrame, label: str) -> str:
    """The patsy expression of a random term: ``expr`` itself, except for an ``ar1`` term
    over one bare numeric column (``ar1(0 + time | g)`` with ``time`` numeric), whose levels
    become the columns (``0 + C(time)``, as glmmTMB's factor). ``ar1`` needs the levels unit
    spaced (glmmTMB: the lag between levels i and j is ``|i - j|``): numeric levels must be
    equally spaced (DesignError otherwise); a factor's levels are taken in their order."""
    if structure != "ar1":
        return expr
    match = _BARE_NAME.match(expr)
    if match is None or match.group(1) not in frame.columns:
        return expr
    name = match.group(1)
    column = frame[name]
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return expr
    values = np.unique(np.asarray(column, dtype=float))
    if values.size > 2:
        steps = np.diff(values)
        if np.max(np.abs(steps - steps[0])) > 1e-8 * max(1.0, abs(float(steps[0]))):
            raise DesignError(
                f"{label}: ar1() takes unit-spaced levels (glmmTMB), but {name!r} has "
                f"unequal steps between its values {values[:6].tolist()}; use a factor of the "
                "time points in order (missing time points are levels without rows)"
            )
    return f"0 + C({name})"


def _level_grid(
    cov: tuple[str, ...],
    group: tuple[str, ...],
    frame: pd.DataFrame,
    cache: _terms.GroupCache,
    data2: Mapping[str, Any] | None,
) -> tuple[np.ndarray, list[str], Any]:
    """(codes, levels, LevelCovariance) of a ``gr(..., cov = ...)`` group: the observed levels
    with ``cov = A``; every combination of the levels of ``a`` and ``b`` (``a``-major) with
    ``cov = kron(U, V)`` (see :mod:`pyglmm.design.levelcov`)."""
    matrix = f"kron({', '.join(cov)})" if len(cov) == 2 else cov[0]
    where = f"gr({':'.join(group)}, cov = {matrix})"
    if len(cov) == 1:
        codes, levels = _terms.group_codes(frame, group, cache)
        return codes, levels, known_covariance(cov, data2, (levels,), (":".join(group),), where)
    (codes_a, levels_a), (codes_b, levels_b) = (
        _terms.group_codes(frame, (g,), cache) for g in group
    )
    level_cov = known_covariance(cov, data2, (levels_a, levels_b), group, where)
    codes = codes_a * len(levels_b) + codes_b
    levels = [f"{a}:{b}" for a in levels_a for b in levels_b]
    return codes, levels, level_cov


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
    its residual after projection on the kept columns before it is below ``tol * ||X_j||``
    (``|R_jj|`` of the QR factorization of those columns plus j).

    Rounds of one Householder QR each: the remaining columns, projected off the kept ones, are
    factorized; the columns before the first aliased one are kept, that one is dropped, and so
    is every remaining column already aliased with the kept ones (its residual can only shrink
    as more columns are kept). A dropped column leaves no trace in the later ones, and 3,000
    multiples of one column take two rounds, not 3,000.
    """
    n, m = X.shape
    thresh = tol * np.maximum(np.linalg.norm(X, axis=0), np.finfo(float).tiny)
    kept: list[np.ndarray] = []
    basis = np.zeros((n, 0))  # orthonormal basis of the kept columns
    rest = np.arange(m)
    while rest.size:
        resid = X[:, rest]
        if basis.shape[1]:
            for _ in range(2):  # Gram-Schmidt twice: orthogonal to working precision
                resid = resid - basis @ (basis.T @ resid)
            alive = np.linalg.norm(resid, axis=0) >= thresh[rest]
            rest, resid = rest[alive], resid[:, alive]
            if not rest.size:
                break
        diag = np.abs(np.diag(np.linalg.qr(resid, mode="r")))  # min(n, columns) values
        bad = np.flatnonzero(diag < thresh[rest[: diag.size]])
        good = int(bad[0]) if bad.size else diag.size
        kept.append(rest[:good])
        if good == rest.size:
            break  # full rank (the common case: one QR, no Q formed)
        basis = np.hstack([basis, np.linalg.qr(resid[:, :good])[0]])
        rest = rest[good + 1 :] if bad.size else rest[good:]
        if basis.shape[1] >= n:  # the kept columns span everything: the rest is aliased
            break
    return np.concatenate(kept) if kept else np.arange(0)


_QUOTED = re.compile(r"""Q\((["'])(.*?)\1\)""")


def column_label(patsy_name: str) -> str:
    """A design column's name as reported: patsy's, with ``Q("my x")`` shown as ``my x`` (the
    column's own name, as lme4 and brms show names that need quoting)."""
    return _QUOTED.sub(lambda m: m.group(2), patsy_name)
