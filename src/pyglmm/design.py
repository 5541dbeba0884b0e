"""Stage 2: turn a :class:`~pyglmm.formula.ParsedFormula` and a DataFrame into design records.

The fixed-effect matrix comes from patsy (treatment contrasts, stateful ``scale``/``center``,
``C(x, levels=...)``, ``I()``, ``np.log``). Each random-effect term becomes one small frozen
:class:`REBlock` in the spirit of MixedModels.jl's ``ReMat``: integer codes per row over the
*observed* levels, and the block's dense ``n x q`` columns. The ``n x (levels * q)`` matrix Z is
never formed: the linear predictor is

    eta_i = X_i b + sum_k  Z_k[i, :] . r_k[codes_k[i], :]

Everything data-dependent (patsy design infos, factor levels, scale/center constants) is kept in
the records so :meth:`Design.transform` builds the same columns for new data.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import patsy
from patsy import PatsyError

from . import _terms
from .errors import DesignError as DesignError  # defined in errors, raised here
from .formula import (
    FormulaError,
    ParsedFormula,
    join_terms,
    split_bar,
    split_call,
    split_terms,
    variable_names,
)

CovKind = Literal["lkj", "diag"]


@dataclass(frozen=True, eq=False)
class REBlock:
    """One random-effect block ``(expr | group)``.

    ``name``: unique block name used for PyMC variables (``sd_<name>``, ``r_<name>``); equal
    to ``group`` unless several blocks share a grouping factor (then ``g``, ``g_2``, ...).
    ``group``: grouping factor as printed (``"Subject"``, ``"a:b"``).
    ``levels``: observed level names, in order of ``codes``.
    ``codes``: int64 array (n,), the level index of each row.
    ``Z``: float64 array (n, q), the block's columns; ``terms`` their names (q,), with the
    intercept named ``"Intercept"``.
    ``kind``: ``"lkj"`` for a correlated multi-column ``|`` block, ``"diag"`` for ``||`` or a
    single column.
    ``design_info``: patsy DesignInfo of ``Z`` (to rebuild it on new data).
    """

    name: str
    group: str
    levels: tuple[str, ...]
    codes: np.ndarray
    Z: np.ndarray
    terms: tuple[str, ...]
    kind: CovKind
    design_info: Any = field(repr=False, default=None)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def q(self) -> int:
        return len(self.terms)


@dataclass(frozen=True, eq=False)
class NewData:
    """Design of new data built with the training state (see :meth:`Design.transform`).

    ``codes[name]`` holds -1 for levels not seen in training; ``labels[name]`` the level name
    of each row (seen or not), so new levels can be told apart. ``trials``: binomial trials
    when the new data hold the columns of ``trials(n)`` or ``cbind(s, f)``, else None.
    """

    X: np.ndarray
    Z: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    offset: np.ndarray | None
    index: pd.Index
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    trials: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Design:
    """All numeric inputs of a model, plus the state to rebuild them for new data.

    ``y``: response (n,); ``response``: its formula text.
    ``X``: fixed-effect matrix (n, p); ``x_names``: column names (intercept ``"Intercept"``).
    ``blocks``: one :class:`REBlock` per expanded random term.
    ``trials``: binomial trial counts (n,) or None; ``offset``: (n,) or None.
    ``index``: the rows of the input DataFrame that were used.
    ``n_dropped``: rows dropped for missing values in used columns.
    ``x_design_info``/``offset_design_info``: patsy DesignInfos used by :meth:`transform`.
    ``stored_n_obs``: the number of observations of a design whose data arrays were removed
    (a fit saved with ``data=False``, see :mod:`pyglmm.persist`); None when they are present.
    """

    formula: ParsedFormula
    y: np.ndarray
    response: str
    X: np.ndarray
    x_names: tuple[str, ...]
    blocks: tuple[REBlock, ...]
    index: pd.Index
    n_dropped: int = 0
    trials: np.ndarray | None = None
    offset: np.ndarray | None = None
    x_design_info: Any = field(repr=False, default=None)
    x_order: np.ndarray | None = field(repr=False, default=None)
    offset_design_info: Any = field(repr=False, default=None)
    stored_n_obs: int | None = field(repr=False, default=None)

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0]) if self.stored_n_obs is None else self.stored_n_obs

    @property
    def has_data(self) -> bool:
        """False for a design without its data arrays (``stored_n_obs`` set): it transforms
        new data, but holds no fitted rows."""
        return self.stored_n_obs is None

    @property
    def has_intercept(self) -> bool:
        return "Intercept" in self.x_names

    def transform(self, data: pd.DataFrame, random: bool = True) -> NewData:
        """Build X, Z and codes for new rows with the training levels/contrasts/constants.

        The response is not needed. Unseen levels of a grouping factor get code -1; unseen
        levels of a categorical predictor and missing values raise :class:`DesignError`.
        ``random=False``: the fixed part only (no grouping or random-term columns needed;
        ``Z``, ``codes`` and ``labels`` are empty).
        """
        data = as_frame(data)
        names = _rhs_variables(self.formula, random)
        _check_columns(names, data)
        counts = _na_counts(data, names)
        if counts:
            raise DesignError(f"missing values in new data: {_fmt_counts(counts)}")
        frame = _patsy_frame(data, names)
        _check_infinite(frame, names, "new data")
        X = _rebuild(self.x_design_info, frame, "fixed effects")
        if self.x_order is not None:
            X = X[:, self.x_order]
        Z: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        labels: dict[str, np.ndarray] = {}
        for block in self.blocks if random else ():
            Z[block.name] = _rebuild(
                block.design_info, frame, f"random-effect block {block.name!r}"
            )
            group = tuple(block.group.split(":"))
            new_codes, new_names = _terms.group_codes(frame, group)
            lookup = pd.Index(block.levels).get_indexer(pd.Index(new_names)).astype(np.int64)
            codes[block.name] = lookup[new_codes]
            labels[block.name] = np.asarray(new_names, dtype=object)[new_codes]
        offset = None
        if self.offset_design_info is not None:
            offset = _rebuild(self.offset_design_info, frame, "offset").sum(axis=1)
        trials = _new_trials(self.response, data) if self.trials is not None else None
        return NewData(X, Z, codes, offset, data.index, labels, trials)


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
    _check_columns(names, data)
    n_total = len(data)
    if n_total == 0:
        raise DesignError("empty data: the DataFrame has no rows")

    counts = _na_counts(data, names)
    n_dropped = 0
    if counts:
        keep = ~data[names].isna().to_numpy().any(axis=1)
        n_dropped = int(n_total - keep.sum())
        if missing == "raise":
            raise DesignError(
                f"{n_dropped} of {n_total} rows have missing values in: {_fmt_counts(counts)}"
                " (use missing='drop' to drop them)"
            )
        if n_dropped == n_total:
            raise DesignError(
                f"empty data: all {n_total} rows have missing values in: {_fmt_counts(counts)}"
            )
        warnings.warn(
            f"dropped {n_dropped} of {n_total} rows with missing values in: {_fmt_counts(counts)}",
            UserWarning,
            stacklevel=2,
        )
        data = data.iloc[np.flatnonzero(keep)]
    frame = _patsy_frame(data, names)
    _check_infinite(frame, names, "data")
    env = _terms.eval_env()

    y, trials = _response(formula.response, frame, env)

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
    xm = _dmatrix(x_formula, frame, env, "fixed effects")
    x_order = _r_column_order(xm.design_info, x_formula)
    X = _finite_matrix(xm, "fixed-effect")[:, x_order]
    x_names = tuple(xm.design_info.column_names[j] for j in x_order)

    offset = offset_info = None
    if offsets:
        om = _dmatrix(" + ".join(["0", *(f"I({o})" for o in offsets)]), frame, env, "offset")
        if om.shape[1] != len(offsets):
            raise DesignError(f"offset must be numeric: {', '.join(offsets)}")
        offset = _finite_matrix(om, "offset").sum(axis=1)
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


# --------------------------------------------------------------------------------------------
# helpers


def as_frame(data: Any) -> pd.DataFrame:
    """``data`` as a DataFrame: a DataFrame as it is, a dict of columns converted; anything
    else is refused with a :class:`DesignError` naming its type."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame(data)
    raise DesignError(f"data must be a pandas DataFrame, got {type(data).__name__}")


def _rhs_variables(formula: ParsedFormula, random: bool = True) -> list[str]:
    """Columns needed for new data: the fixed part (with offsets) and, with ``random``, the
    random terms and their grouping factors."""
    names = variable_names(formula.fixed)
    for term in formula.random if random else ():
        names += [*variable_names(term.expr), *term.group]
    return [n for n in formula.variables() if n in set(names)]


def _check_columns(names: list[str], data: pd.DataFrame) -> None:
    columns = [str(c) for c in data.columns]
    for name in names:
        if name not in data.columns:
            close = difflib.get_close_matches(name, columns, n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise DesignError(f"unknown column {name!r} in formula{hint}")


def _na_counts(data: pd.DataFrame, names: list[str]) -> dict[str, int]:
    counts = data[names].isna().sum()
    return {n: int(counts[n]) for n in names if counts[n] > 0}


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ({k})" for name, k in counts.items())


def _patsy_frame(data: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The used columns, nullable numeric extension dtypes converted to numpy dtypes."""
    cols: dict[str, Any] = {}
    for name in names:
        col = data[name]
        dtype = col.dtype
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
            dtype, pd.CategoricalDtype
        ):
            if pd.api.types.is_bool_dtype(dtype):
                col = pd.Series(col.to_numpy(dtype=bool), index=col.index, name=name)
            elif pd.api.types.is_numeric_dtype(dtype):
                kind = "int64" if pd.api.types.is_integer_dtype(dtype) else "float64"
                col = pd.Series(col.to_numpy(dtype=kind), index=col.index, name=name)
        cols[name] = col
    return pd.DataFrame(cols, index=data.index, copy=False)


def _check_infinite(frame: pd.DataFrame, names: list[str], where: str) -> None:
    for name in names:
        col = frame[name]
        if pd.api.types.is_float_dtype(col.dtype):
            k = int(np.isinf(col.to_numpy(dtype=float)).sum())
            if k:
                raise DesignError(f"column {name!r} has {k} infinite value(s) in {where}")


def _patsy_error(err: PatsyError, what: str) -> DesignError:
    origin = getattr(err, "origin", None)
    if origin is None:
        return DesignError(f"{what}: {err.message}")
    code = origin.code[origin.start : origin.end]
    try:
        cols = variable_names(code)
    except FormulaError:
        cols = []
    where = f"column {', '.join(repr(c) for c in cols)} in " if cols else ""
    return DesignError(f"{what}: {where}{code!r}: {err.message}")


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


def _dmatrix(formula: str, frame: pd.DataFrame, env: Any, what: str) -> Any:
    try:
        return patsy.dmatrix(formula, frame, eval_env=env, NA_action="raise")
    except PatsyError as err:
        raise _patsy_error(err, what) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as err:
        raise DesignError(f"{what}: cannot evaluate {formula!r}: {err!r}") from None


def _finite_matrix(m: Any, what: str) -> np.ndarray:
    arr = np.ascontiguousarray(m, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        counts = bad.sum(axis=0)
        cols = m.design_info.column_names
        detail = ", ".join(f"{c} ({k})" for c, k in zip(cols, counts, strict=True) if k)
        raise DesignError(f"non-finite values in {what} column(s): {detail}")
    return arr


def _response_parts(text: str) -> tuple[str, str | None, str | None]:
    """The texts of (successes or y, cbind() failures, trials()) of a left-hand side."""
    parts = split_bar(text)
    trials_text: str | None = None
    failures_text: str | None = None
    y_text = parts[0]
    for extra in parts[1:]:
        call = split_call(extra)
        if call is None or call[0] != "trials" or len(call[1]) != 1:
            raise DesignError(
                f"unsupported response term {extra!r}: only 'y | trials(n)' is supported"
            )
        trials_text = call[1][0]
    call = split_call(y_text)
    if call is not None and call[0] == "cbind":
        if len(call[1]) != 2 or trials_text is not None:
            raise DesignError(f"cbind() response needs two arguments (successes, failures): {text}")
        y_text, failures_text = call[1]
    return y_text, failures_text, trials_text


def _response(text: str, frame: pd.DataFrame, env: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Evaluate the left-hand side: ``y``, ``cbind(s, f)`` or ``s | trials(n)``."""
    y_text, failures_text, trials_text = _response_parts(text)
    y = _evaluate(y_text, frame, env, "response")
    trials = None
    if failures_text is not None:
        failures = _evaluate(failures_text, frame, env, "cbind() failures")
        if (failures < 0).any():
            raise DesignError(f"cbind() failures {failures_text!r} has negative values")
        trials = y + failures
    elif trials_text is not None:
        trials = _evaluate(trials_text, frame, env, "trials")
    if trials is not None:
        if (trials < 0).any():
            raise DesignError(f"trials {trials_text or text!r} has negative values")
        if ((y < 0) | (y > trials)).any():
            raise DesignError(f"response {y_text!r} must lie between 0 and the number of trials")
    return y, trials


def _new_trials(text: str, frame: pd.DataFrame) -> np.ndarray | None:
    """Binomial trials of new rows: ``n`` of ``| trials(n)`` or ``s + f`` of ``cbind(s, f)``;
    None when the formula has none or the columns are absent from the new data."""
    y_text, failures_text, trials_text = _response_parts(text)
    exprs = [trials_text] if trials_text else [y_text, failures_text] if failures_text else []
    if not exprs:
        return None
    env = _terms.eval_env()
    try:
        values = [_evaluate(e, frame, env, "trials") for e in exprs if e is not None]
    except DesignError:
        return None
    trials = np.sum(values, axis=0)
    if (trials < 0).any():
        raise DesignError(f"trials {' + '.join(e for e in exprs if e)!r} has negative values")
    return trials


def _evaluate(expr: str, frame: pd.DataFrame, env: Any, what: str) -> np.ndarray:
    """Evaluate ``expr`` on the data into a finite float64 vector."""
    try:
        value = env.eval(expr, inner_namespace=frame)
    except Exception as err:
        raise DesignError(f"cannot evaluate {what} {expr!r}: {err}") from None
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        value = np.asarray(value)
        dtype = value.dtype
    if isinstance(dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ):
        raise DesignError(f"{what} {expr!r} must be numeric, got dtype {dtype}")
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (len(frame),):
        arr = np.broadcast_to(arr, (len(frame),)).copy() if arr.ndim == 0 else arr
    if arr.shape != (len(frame),):
        raise DesignError(f"{what} {expr!r} must be one value per row, got shape {arr.shape}")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise DesignError(f"{what} {expr!r} has {bad} non-finite value(s)")
    return arr


def _blocks(formula: ParsedFormula, frame: pd.DataFrame, env: Any) -> tuple[REBlock, ...]:
    blocks: list[REBlock] = []
    seen: dict[str, int] = {}
    for term in formula.random:
        group = term.group_name
        seen[group] = seen.get(group, 0) + 1
        name = group if seen[group] == 1 else f"{group}_{seen[group]}"
        label = f"({term.expr} | {group})"
        zm = _dmatrix(term.expr, frame, env, f"random-effect term {label}")
        Z = _finite_matrix(zm, f"random-effect term {label}")
        terms = tuple(zm.design_info.column_names)
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
        kind: CovKind = "lkj" if term.correlated and len(terms) > 1 else "diag"
        blocks.append(
            REBlock(
                name=name,
                group=group,
                levels=tuple(levels),
                codes=codes,
                Z=Z,
                terms=terms,
                kind=kind,
                design_info=zm.design_info,
            )
        )
    return tuple(blocks)


def categorical_levels(info: Any) -> dict[str, list[Any]]:
    """Training levels of each categorical predictor (a single data column) in a patsy
    DesignInfo: column name -> levels."""
    out: dict[str, list[Any]] = {}
    if info is None:
        return out
    for factor, finfo in info.factor_infos.items():
        if finfo.type != "categorical":
            continue
        try:
            cols = variable_names(factor.name())
        except FormulaError:
            continue
        if len(cols) == 1:
            out[cols[0]] = list(finfo.categories)
    return out


def _unseen_levels(info: Any, frame: pd.DataFrame) -> str | None:
    """Describe levels of categorical predictors in ``frame`` that training did not have."""
    for col, levels in categorical_levels(info).items():
        if col not in frame.columns:
            continue
        known = set(levels)
        unseen = [v for v in pd.unique(frame[col]) if v not in known]
        if unseen:
            shown = ", ".join(repr(v) for v in unseen[:10])
            return f"column {col!r} has level(s) not seen in training: {shown}"
    return None


def _rebuild(info: Any, frame: pd.DataFrame, what: str) -> np.ndarray:
    """Rebuild a patsy matrix on new data with the stored design info."""
    message = _unseen_levels(info, frame)
    if message is not None:
        raise DesignError(f"{what}: {message}")
    try:
        (m,) = patsy.build_design_matrices([info], frame, NA_action="raise")
    except PatsyError as err:
        raise _patsy_error(err, what) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as err:
        raise DesignError(f"{what}: cannot evaluate on new data: {err!r}") from None
    return _finite_matrix(m, what)
