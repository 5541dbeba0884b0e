"""Column checks and patsy evaluation shared by :func:`~pyglmm.design.build_design` and
:meth:`~pyglmm.design.Design.transform`: which columns a formula reads, missing and infinite
values, patsy errors turned into :class:`~pyglmm.errors.DesignError`, and rebuilding columns for
new data from a stored patsy ``DesignInfo``.
"""

from __future__ import annotations

import difflib
import warnings
from collections import ChainMap
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import patsy
from patsy import PatsyError

from ..errors import DesignError as DesignError  # defined in errors, raised here
from ..formula import (
    FormulaError,
    ParsedFormula,
    variable_names,
)

T = TypeVar("T")


def as_frame(data: Any) -> pd.DataFrame:
    """``data`` as a pandas DataFrame: a DataFrame as it is; a dict of columns; a polars,
    pyarrow or narwhals frame (anything with ``to_pandas()``); any object of the dataframe
    interchange protocol (``__dataframe__``). Anything else is refused with a
    :class:`DesignError` naming its type."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame(data)
    if callable(getattr(data, "to_pandas", None)):
        frame = data.to_pandas()
        if isinstance(frame, pd.DataFrame):
            return frame
    if hasattr(data, "__dataframe__"):
        with warnings.catch_warnings():  # pandas 3 deprecates the protocol; it still works
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            return pd.api.interchange.from_dataframe(data)
    raise DesignError(
        f"data must be a DataFrame (pandas, or one with to_pandas() such as polars), or a dict "
        f"of columns; got {type(data).__name__}"
    )


def rhs_variables(formula: ParsedFormula, random: bool = True) -> list[str]:
    """Columns needed for new data: the fixed part (with offsets) and, with ``random``, the
    random terms and their grouping factors."""
    names = formula.fixed_variables()
    for term in formula.random if random else ():
        names += [*variable_names(term.expr), *term.group]
    return [n for n in formula.variables() if n in set(names)]


def check_columns(names: list[str], data: pd.DataFrame) -> None:
    """Every name is one column of ``data``: unknown names get close matches as a hint, and a
    name that two columns share is refused (it would be ambiguous)."""
    columns = [str(c) for c in data.columns]
    for name in names:
        if name not in data.columns:
            close = difflib.get_close_matches(name, columns, n=3)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise DesignError(f"unknown column {name!r} in formula{hint}")
        count = columns.count(name)
        if count > 1:
            raise DesignError(
                f"the data have {count} columns named {name!r}: rename them so the formula's "
                f"{name!r} names one column"
            )


def na_counts(data: pd.DataFrame, names: list[str]) -> dict[str, int]:
    counts = data[names].isna().sum()
    return {n: int(counts[n]) for n in names if counts[n] > 0}


def format_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} ({k})" for name, k in counts.items())


def drop_missing_rows(
    data: pd.DataFrame, names: list[str], missing: str, stacklevel: int
) -> tuple[pd.DataFrame, int]:
    """``data`` without the rows that have a missing value in any of ``names``, and how many
    were dropped: with a ``UserWarning`` naming the columns and their counts
    (``missing="drop"``; ``stacklevel`` counted from the caller) or a :class:`DesignError`
    (``missing="raise"``, or when no row is left)."""
    counts = na_counts(data, names)
    if not counts:
        return data, 0
    n_total = len(data)
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
        f"dropped {n_dropped} of {n_total} rows with missing values in: {format_counts(counts)}",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    return data.iloc[np.flatnonzero(keep)], n_dropped


def patsy_frame(data: pd.DataFrame, names: list[str]) -> pd.DataFrame:
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


def check_finite_columns(frame: pd.DataFrame, names: list[str], where: str) -> None:
    for name in names:
        col = frame[name]
        if pd.api.types.is_float_dtype(col.dtype):
            k = int(np.isinf(col.to_numpy(dtype=float)).sum())
            if k:
                raise DesignError(f"column {name!r} has {k} infinite value(s) in {where}")


def patsy_error(err: PatsyError, what: str) -> DesignError:
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


def dmatrix(
    formula: str | patsy.ModelDesc,
    frame: pd.DataFrame,
    env: Any,
    what: str,
    text: str | None = None,
) -> Any:
    """``patsy.dmatrix`` of ``formula`` (text, or a ``ModelDesc`` whose formula is ``text``) on
    ``frame``, with patsy's and Python's errors as :class:`DesignError`."""
    if text is None:
        text = formula if isinstance(formula, str) else formula.describe()
    return patsy_call(
        lambda: patsy.dmatrix(formula, frame, eval_env=env, NA_action="raise"), text, what
    )


def patsy_call(call: Callable[[], T], formula: str, what: str) -> T:
    """``call()``, a patsy step on ``formula``, with its errors as :class:`DesignError`."""
    try:
        return call()
    except PatsyError as err:
        raise patsy_error(err, what) from None
    except (ArithmeticError, LookupError, TypeError, ValueError, AssertionError) as err:
        # (patsy asserts on some token streams Python's tokenizer rejects)
        raise DesignError(f"{what}: cannot evaluate {formula!r}: {err!r}") from None
    except SyntaxError as err:  # a term patsy hands to Python's parser (the formula checks
        # refuse the cases known to reach here; this names any other)
        raise DesignError(f"{what}: {formula!r} is not a Python expression: {err.msg}") from None
    except RecursionError:
        raise DesignError(f"{what}: {formula!r} is nested too deeply to evaluate") from None


def finite_matrix(m: Any, what: str) -> np.ndarray:
    arr = np.ascontiguousarray(m, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        counts = bad.sum(axis=0)
        cols = m.design_info.column_names
        detail = ", ".join(f"{c} ({k})" for c, k in zip(cols, counts, strict=True) if k)
        raise DesignError(f"non-finite values in {what} column(s): {detail}")
    return arr


def evaluate_column(expr: str, frame: pd.DataFrame, env: Any, what: str) -> np.ndarray:
    """Evaluate ``expr`` on the data into a finite float64 vector (``Q("a column")`` reads a
    column by name, as in patsy's formulas)."""
    columns: Any = frame  # a Mapping of columns, as ChainMap reads it
    namespace: ChainMap[str, Any] = ChainMap({"Q": lambda name: frame[name]}, columns)
    try:
        value = env.eval(expr, inner_namespace=namespace)
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


def unseen_levels(info: Any, frame: pd.DataFrame) -> str | None:
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


def rebuild_columns(info: Any, frame: pd.DataFrame, what: str) -> np.ndarray:
    """Rebuild a patsy matrix on new data with the stored design info."""
    message = unseen_levels(info, frame)
    if message is not None:
        raise DesignError(f"{what}: {message}")
    try:
        (m,) = patsy.build_design_matrices([info], frame, NA_action="raise")
    except PatsyError as err:
        raise patsy_error(err, what) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as err:
        raise DesignError(f"{what}: cannot evaluate on new data: {err!r}") from None
    return finite_matrix(m, what)


# a text column with at least this many rows and one distinct value per row is almost surely an
# identifier, not a factor (it would become n - 1 coefficients)
ID_LIKE_MIN_ROWS = 20


def check_fixed_column_types(frame: pd.DataFrame, names: list[str]) -> None:
    """Refuse datetime columns in the fixed part (patsy would make every date a level) and warn
    about a text column with one level per row (an identifier used as a factor)."""
    for name in names:
        col = frame[name]
        if pd.api.types.is_datetime64_any_dtype(col) or pd.api.types.is_timedelta64_dtype(col):
            raise DesignError(
                f"column {name!r} is a {col.dtype} column: convert it to a number first (e.g. "
                f"days since the first date: (df[{name!r}] - df[{name!r}].min()).dt.days) or to "
                "a categorical"
            )
        textual = pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)
        n = len(col)
        if textual and n >= ID_LIKE_MIN_ROWS and col.nunique() == n:
            warnings.warn(
                f"column {name!r} has a different value in each of its {n} rows: as a factor it "
                f"gives {n - 1} coefficients. If it identifies rows or groups, use it as a "
                f"grouping factor, (1 | {name}); if it holds numbers, convert it with "
                "pd.to_numeric",
                UserWarning,
                stacklevel=3,
            )
