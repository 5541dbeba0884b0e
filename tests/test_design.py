"""Tests of the design stage (pyglmm.design): exact matrices on tiny hand-written data."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from pyglmm.design import Design, DesignError, REBlock, build_design
from pyglmm.formula import parse_formula


def design(formula: str, data: pd.DataFrame, **kw: object) -> Design:
    return build_design(parse_formula(formula), data, **kw)  # type: ignore[arg-type]


def block(d: Design, name: str) -> REBlock:
    (b,) = [b for b in d.blocks if b.name == name]
    return b


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "z": [0.5, 0.0, 1.0, 2.0, 0.0, 1.0],
            "a": ["p", "q", "p", "q", "p", "q"],
            "b": ["v", "v", "w", "w", "v", "w"],
            "g": [10, 2, 10, 2, 33, 33],
        }
    )


# ---- fixed effects -----------------------------------------------------------------------------


def test_numeric_predictor(df: pd.DataFrame) -> None:
    d = design("y ~ x", df)
    assert d.x_names == ("Intercept", "x")
    assert_array_equal(d.X, np.column_stack([np.ones(6), df["x"]]))
    assert d.X.dtype == np.float64
    assert_array_equal(d.y, df["y"])
    assert d.response == "y"
    assert d.blocks == ()
    assert d.has_intercept and d.n_obs == 6
    assert d.trials is None and d.offset is None and d.n_dropped == 0
    assert d.index.equals(df.index)


def test_categorical_predictor_sorted_strings() -> None:
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "c": ["b", "a", "c", "a"]})
    d = design("y ~ c", data)
    assert d.x_names == ("Intercept", "c[T.b]", "c[T.c]")
    assert_array_equal(d.X, [[1, 1, 0], [1, 0, 0], [1, 0, 1], [1, 0, 0]])


def test_categorical_order_respected() -> None:
    data = pd.DataFrame(
        {"y": [1.0, 2, 3], "c": pd.Categorical(["a", "b", "c"], categories=["c", "a", "b"])}
    )
    d = design("y ~ c", data)
    assert d.x_names == ("Intercept", "c[T.a]", "c[T.b]")
    assert_array_equal(d.X, [[1, 1, 0], [1, 0, 1], [1, 0, 0]])


def test_C_with_levels() -> None:
    data = pd.DataFrame({"y": [1.0, 2, 3], "c": ["a", "b", "a"]})
    d = design("y ~ C(c, levels=['b', 'a'])", data)
    assert d.x_names == ("Intercept", "C(c, levels=['b', 'a'])[T.a]")
    assert_array_equal(d.X, [[1, 1], [1, 0], [1, 1]])


def test_interaction_colon(df: pd.DataFrame) -> None:
    d = design("y ~ a:x", df)
    assert d.x_names == ("Intercept", "a[p]:x", "a[q]:x")
    assert_array_equal(d.X[:, 1], [1, 0, 3, 0, 5, 0])
    assert_array_equal(d.X[:, 2], [0, 2, 0, 4, 0, 6])


def test_interaction_star(df: pd.DataFrame) -> None:
    d = design("y ~ a*b", df)
    assert d.x_names == ("Intercept", "a[T.q]", "b[T.w]", "a[T.q]:b[T.w]")
    assert_array_equal(
        d.X,
        [[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 1]],
    )


def test_power_of_sum(df: pd.DataFrame) -> None:
    d = design("y ~ (x + z + g)^2", df)
    assert d.x_names == ("Intercept", "x", "z", "g", "x:z", "x:g", "z:g")
    assert_array_equal(d.X[:, 4], df["x"] * df["z"])
    assert_array_equal(d.X[:, 3], df["g"])  # an integer predictor stays numeric


@pytest.mark.parametrize("formula", ["y ~ 0 + x", "y ~ x - 1", "y ~ -1 + x"])
def test_no_intercept(df: pd.DataFrame, formula: str) -> None:
    d = design(formula, df)
    assert d.x_names == ("x",)
    assert not d.has_intercept
    assert_array_equal(d.X, df[["x"]].to_numpy())


def test_no_intercept_categorical_full_coding(df: pd.DataFrame) -> None:
    d = design("y ~ 0 + a", df)
    assert d.x_names == ("a[p]", "a[q]")
    assert_array_equal(d.X, [[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1]])


def test_functions(df: pd.DataFrame) -> None:
    d = design("y ~ np.log(x) + I(x**2) + center(x)", df)
    assert d.x_names == ("Intercept", "np.log(x)", "I(x ** 2)", "center(x)")
    x = np.arange(1.0, 7.0)
    assert_allclose(d.X[:, 1], np.log(x))
    assert_array_equal(d.X[:, 2], x**2)
    assert_array_equal(d.X[:, 3], x - 3.5)


def test_scale_matches_R() -> None:
    # R: as.vector(scale(c(1, 2, 3, 4))) -> -1.1618950 -0.3872983 0.3872983 1.1618950
    data = pd.DataFrame({"y": [0.0, 1, 0, 1], "x": [1.0, 2, 3, 4]})
    d = design("y ~ scale(x)", data)
    assert d.x_names == ("Intercept", "scale(x)")
    assert_allclose(d.X[:, 1], [-1.1618950, -0.3872983, 0.3872983, 1.1618950], atol=1e-7)
    # R: as.vector(scale(c(1, 2, 3, 4), center = FALSE)) -> x / sqrt(30 / 3)
    d2 = design("y ~ scale(x, center=False)", data)
    assert_allclose(d2.X[:, 1], np.array([1.0, 2, 3, 4]) / np.sqrt(10.0))


def test_response_transform(df: pd.DataFrame) -> None:
    d = design("np.log(y) ~ x", df)
    assert_allclose(d.y, np.log(df["y"]))
    assert d.response == "np.log(y)"
    assert d.y.dtype == np.float64


def test_boolean_response() -> None:
    data = pd.DataFrame({"y": [True, False, True], "x": [1.0, 2, 3]})
    assert_array_equal(design("y ~ x", data).y, [1.0, 0.0, 1.0])


# ---- random effects ----------------------------------------------------------------------------


def test_random_intercept_numeric_group_order(df: pd.DataFrame) -> None:
    d = design("y ~ x + (1 | g)", df)
    (b,) = d.blocks
    assert (b.name, b.group, b.terms, b.kind) == ("g", "g", ("Intercept",), "diag")
    assert b.levels == ("2", "10", "33")  # numeric sort, level names as strings
    assert_array_equal(b.codes, [1, 0, 1, 0, 2, 2])
    assert b.codes.dtype == np.int64
    assert_array_equal(b.Z, np.ones((6, 1)))
    assert b.Z.dtype == np.float64
    assert (b.n_levels, b.q) == (3, 1)


def test_string_and_categorical_group_order() -> None:
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "s": ["b", "a", "c", "b"]})
    b = design("y ~ (1 | s)", data).blocks[0]
    assert b.levels == ("a", "b", "c")
    assert_array_equal(b.codes, [1, 0, 2, 1])
    cat = pd.Categorical(["b", "a", "c", "b"], categories=["c", "x", "b", "a"])
    b = design("y ~ (1 | s)", data.assign(s=cat)).blocks[0]
    assert b.levels == ("c", "b", "a")  # categorical order, unobserved "x" dropped
    assert_array_equal(b.codes, [1, 2, 0, 1])


def test_float_group_levels_print_as_int() -> None:
    data = pd.DataFrame({"y": [1.0, 2, 3, 4], "g": [308.0, 309.0, 308.0, np.nan]})
    with pytest.warns(UserWarning):
        b = design("y ~ (1 | g)", data).blocks[0]
    assert b.levels == ("308", "309")


def test_random_slope(df: pd.DataFrame) -> None:
    b = design("y ~ x + (x | g)", df).blocks[0]
    assert (b.terms, b.kind) == (("Intercept", "x"), "lkj")
    assert_array_equal(b.Z, np.column_stack([np.ones(6), df["x"]]))


def test_slope_only(df: pd.DataFrame) -> None:
    b = design("y ~ x + (0 + x | g)", df).blocks[0]
    assert (b.terms, b.kind) == (("x",), "diag")
    assert_array_equal(b.Z, df[["x"]].to_numpy())


def test_three_columns() -> None:
    data = pd.DataFrame(
        {
            "y": np.arange(8.0),
            "x": np.arange(8.0),
            "z": [1.0, 0, 1, 0, 2, 2, 3, 1],
            "g": list("aabbccdd"),
        }
    )
    b = design("y ~ (1 + x + z | g)", data).blocks[0]
    assert (b.terms, b.kind, b.levels) == (("Intercept", "x", "z"), "lkj", ("a", "b", "c", "d"))
    assert_array_equal(b.Z, np.column_stack([np.ones(8), data["x"], data["z"]]))
    assert_array_equal(b.codes, [0, 0, 1, 1, 2, 2, 3, 3])


def test_uncorrelated_is_one_diag_block(df: pd.DataFrame) -> None:
    d = design("y ~ x + (x || g)", df)
    (b,) = d.blocks
    assert (b.name, b.terms, b.kind, b.q) == ("g", ("Intercept", "x"), "diag", 2)
    assert_array_equal(b.Z, np.column_stack([np.ones(6), df["x"]]))


def test_nested(df: pd.DataFrame) -> None:
    d = design("y ~ (1 | a/b)", df)
    assert [b.name for b in d.blocks] == ["a", "a:b"]
    outer, inner = d.blocks
    assert outer.levels == ("p", "q")
    assert_array_equal(outer.codes, [0, 1, 0, 1, 0, 1])
    assert inner.group == "a:b"
    assert inner.levels == ("p:v", "p:w", "q:v", "q:w")
    assert_array_equal(inner.codes, [0, 2, 1, 3, 0, 3])


def test_interaction_group_only_observed_combinations() -> None:
    data = pd.DataFrame(
        {"y": [1.0, 2, 3, 4, 5], "a": [2, 1, 2, 10, 1], "b": ["u", "v", "u", "v", "v"]}
    )
    (b,) = design("y ~ (1 | a:b)", data).blocks
    # 3 a-levels x 2 b-levels = 6 combinations, only 3 observed; a sorted numerically
    assert (b.name, b.group) == ("a:b", "a:b")
    assert b.levels == ("1:v", "2:u", "10:v")
    assert_array_equal(b.codes, [1, 0, 1, 2, 0])


def test_crossed(df: pd.DataFrame) -> None:
    d = design("y ~ (1 | a) + (1 | b)", df)
    assert [(b.name, b.levels) for b in d.blocks] == [("a", ("p", "q")), ("b", ("v", "w"))]
    assert_array_equal(d.blocks[1].codes, [0, 0, 1, 1, 0, 1])


def test_two_blocks_one_factor(df: pd.DataFrame) -> None:
    d = design("y ~ x + (1 | g) + (0 + x | g)", df)
    assert [(b.name, b.group, b.terms) for b in d.blocks] == [
        ("g", "g", ("Intercept",)),
        ("g_2", "g", ("x",)),
    ]


def test_categorical_inside_block() -> None:
    data = pd.DataFrame(
        {
            "y": np.arange(8.0),
            "cond": ["a", "b", "c", "a", "b", "c", "a", "b"],
            "subject": [1, 1, 1, 2, 2, 2, 3, 4],
        }
    )
    (b,) = design("y ~ cond + (0 + cond | subject)", data).blocks
    assert (b.terms, b.kind) == (("cond[a]", "cond[b]", "cond[c]"), "lkj")
    assert_array_equal(b.Z, np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]])


# ---- responses and offsets ---------------------------------------------------------------------


def test_cbind_response() -> None:
    data = pd.DataFrame({"s": [1, 0, 3], "f": [2, 2, 0], "x": [1.0, 2, 3]})
    d = design("cbind(s, f) ~ x", data)
    assert_array_equal(d.y, [1, 0, 3])
    assert d.trials is not None
    assert_array_equal(d.trials, [3, 2, 3])


def test_trials_response() -> None:
    data = pd.DataFrame({"s": [1, 0, 3], "n": [4, 2, 5], "x": [1.0, 2, 3]})
    d = design("s | trials(n) ~ x", data)
    assert_array_equal(d.y, [1, 0, 3])
    assert d.trials is not None
    assert_array_equal(d.trials, [4, 2, 5])


@pytest.mark.parametrize(
    ("formula", "new", "expected"),
    [
        ("s | trials(n) ~ x", {"n": [7, 1]}, [7, 1]),
        ("s | trials(n + 1) ~ x", {"n": [7, 1]}, [8, 2]),
        ("cbind(s, f) ~ x", {"s": [2, 0], "f": [1, 4]}, [3, 4]),
        ("s | trials(n) ~ x", {}, None),  # trials column absent from the new data
        ("cbind(s, f) ~ x", {"s": [2, 0]}, None),
        ("s ~ x", {"n": [7, 1]}, None),  # not binomial
    ],
)
def test_new_data_trials(formula: str, new: dict, expected: list | None) -> None:
    data = pd.DataFrame({"s": [1, 0, 3], "f": [2, 2, 0], "n": [4, 2, 5], "x": [1.0, 2, 3]})
    nd = design(formula, data).transform(pd.DataFrame({"x": [0.5, 1.5], **new}))
    if expected is None:
        assert nd.trials is None
    else:
        assert nd.trials is not None
        assert_array_equal(nd.trials, expected)


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("s | trials(n) ~ x", "between 0 and the number of trials"),
        ("s | trials(m) ~ x", "trials 'm' has negative values"),
        ("cbind(s, m) ~ x", "failures 'm' has negative values"),
        ("s | weights(m) ~ x", "weights() must be non-negative: 1 row(s)"),
        ("cbind(s) ~ x", "two arguments"),
    ],
)
def test_binomial_response_errors(formula: str, message: str) -> None:
    data = pd.DataFrame({"s": [1, 5, 3], "n": [4, 2, 5], "m": [1, -1, 0], "x": [1.0, 2, 3]})
    with pytest.raises(DesignError, match=re.escape(message)):
        design(formula, data)


def test_offset(df: pd.DataFrame) -> None:
    e = df.assign(e=[1.0, 2, 4, 8, 16, 32])
    d = design("y ~ x + offset(np.log(e))", e)
    assert d.x_names == ("Intercept", "x")
    assert d.offset is not None
    assert_allclose(d.offset, np.log(e["e"]))
    d2 = design("y ~ offset(np.log(e)) + offset(z)", e)
    assert d2.x_names == ("Intercept",)
    assert d2.offset is not None
    assert_allclose(d2.offset, np.log(e["e"]) + e["z"])
    d3 = design("y ~ 0 + offset(z)", e)
    assert d3.X.shape == (6, 0)


# ---- missing values ----------------------------------------------------------------------------


def test_missing_values_dropped_with_warning(df: pd.DataFrame) -> None:
    data = df.assign(
        x=[np.nan, 2, np.nan, 4, 5, 6],
        g=pd.array([10, 2, 10, None, 33, 33], dtype="Int64"),
        unused=[np.nan] * 6,
    )
    with pytest.warns(UserWarning) as record:
        d = design("y ~ x + (1 | g)", data)
    (w,) = record
    assert str(w.message) == "dropped 3 of 6 rows with missing values in: x (2), g (1)"
    assert d.n_dropped == 3
    assert list(d.index) == [1, 4, 5]
    assert_array_equal(d.y, [2, 5, 6])
    assert d.blocks[0].levels == ("2", "33")
    assert_array_equal(d.blocks[0].codes, [0, 1, 1])


def test_no_warning_without_missing(df: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        design("y ~ x + (1 | g)", df.assign(unused=np.nan))


def test_missing_raise(df: pd.DataFrame) -> None:
    data = df.assign(x=[np.nan, 2, np.nan, 4, 5, 6], a=pd.Series(["p", None, "p", "q", "p", "q"]))
    with pytest.raises(DesignError, match=r"3 of 6 rows have missing values in: x \(2\), a \(1\)"):
        design("y ~ x + a", data, missing="raise")
    with pytest.raises(ValueError, match="missing must be"):
        design("y ~ x", df, missing="ignore")


# ---- bad input ---------------------------------------------------------------------------------


def test_unknown_column_suggests(df: pd.DataFrame) -> None:
    data = df.rename(columns={"x": "Days"})
    with pytest.raises(
        DesignError, match=r"unknown column 'Dayz' in formula; did you mean 'Days'\?"
    ):
        design("y ~ Dayz", data)
    with pytest.raises(DesignError, match=r"unknown column 'nothing' in formula$"):
        design("y ~ nothing", data)


def test_response_not_numeric(df: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="response 'a' must be numeric"):
        design("a ~ x", df)


def test_empty_data(df: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="empty data"):
        design("y ~ x", df.iloc[:0])
    with pytest.raises(
        DesignError, match=r"empty data: all 6 rows have missing values in: x \(6\)"
    ):
        design("y ~ x", df.assign(x=np.nan), missing="drop")


def test_infinite_values(df: pd.DataFrame) -> None:
    data = df.assign(z=[np.inf, 0, -np.inf, 1, 2, 3])
    with pytest.raises(DesignError, match=r"column 'z' has 2 infinite value"):
        design("y ~ x + z", data)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_non_finite_after_transform(df: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match=r"np.log\(z\) \(2\)"):
        design("y ~ np.log(z)", df)
    with pytest.raises(DesignError, match=re.escape("response 'np.log(z)' has 2 non-finite")):
        design("np.log(z) ~ x", df)


def test_scale_of_constant(df: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="constant"):
        design("y ~ scale(k)", df.assign(k=1.0))


def test_single_level_group(df: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="grouping factor 'k' has a single level"):
        design("y ~ x + (1 | k)", df.assign(k="only"))


def test_more_columns_than_levels(df: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match=r"block 'a' .* 2 columns .* only 2 levels"):
        design("y ~ x + (x | a)", df)


def test_categorical_level_issue_names_column(df: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match=r"column 'a'.*value 'q' does not match"):
        design("y ~ C(a, levels=['p'])", df)


def test_empty_random_term(df: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="has no columns"):
        design("y ~ (0 | g)", df)


def test_not_a_dataframe() -> None:
    with pytest.raises(DesignError, match="DataFrame"):
        build_design(parse_formula("y ~ x"), [1, 2, 3])  # type: ignore[arg-type]


def test_pure_function(df: pd.DataFrame) -> None:
    before = df.copy()
    design("np.log(y) ~ scale(x) + a + (x | g)", df)
    pd.testing.assert_frame_equal(df, before)


# ---- transform ---------------------------------------------------------------------------------


def test_transform_reproduces_training(df: pd.DataFrame) -> None:
    data = pd.concat([df, df.assign(g=df["g"] + 1)], ignore_index=True)
    data["e"] = np.arange(1.0, 13.0)
    d = design(
        "y ~ scale(x) + a*z + offset(np.log(e)) + (1 + x | g) + (0 + a | g) + (1 | a:b)", data
    )
    new = d.transform(data.drop(columns="y"))
    assert_array_equal(new.X, d.X)
    assert new.offset is not None and d.offset is not None
    assert_array_equal(new.offset, d.offset)
    assert set(new.Z) == {b.name for b in d.blocks} == {"g", "g_2", "a:b"}
    for b in d.blocks:
        assert_array_equal(new.Z[b.name], b.Z)
        assert_array_equal(new.codes[b.name], b.codes)
    assert new.index.equals(data.index)


def test_transform_uses_training_constants() -> None:
    train = pd.DataFrame({"y": [0.0, 1, 0, 1], "x": [1.0, 2, 3, 4], "g": ["a", "b", "a", "b"]})
    d = design("y ~ scale(x) + center(x) + (1 | g)", train)
    new = d.transform(pd.DataFrame({"x": [5.0, 2.5]}, index=[7, 8]).assign(g=["b", "zz"]))
    sd = float(np.std([1.0, 2, 3, 4], ddof=1))
    assert_allclose(new.X, np.array([[1.0, 2.5 / sd, 2.5], [1.0, 0.0, 0.0]]))
    assert_array_equal(new.codes["g"], [1, -1])
    assert_array_equal(new.Z["g"], [[1], [1]])
    assert list(new.index) == [7, 8]
    assert new.offset is None


def test_transform_group_codes_across_dtypes(df: pd.DataFrame) -> None:
    d = design("y ~ (1 | g)", df)
    new = d.transform(pd.DataFrame({"g": [33.0, 2.0, 5.0]}))
    assert_array_equal(new.codes["g"], [2, 0, -1])
    new = d.transform(pd.DataFrame({"g": ["10", "7"]}))
    assert_array_equal(new.codes["g"], [1, -1])


def test_transform_unseen_interaction_level(df: pd.DataFrame) -> None:
    d = design("y ~ (1 | a/b)", df)
    new = d.transform(pd.DataFrame({"a": ["q", "q", "r"], "b": ["w", "x", "v"]}))
    assert_array_equal(new.codes["a"], [1, 1, -1])
    assert_array_equal(new.codes["a:b"], [3, -1, -1])


def test_transform_unseen_predictor_level(df: pd.DataFrame) -> None:
    d = design("y ~ a + (0 + b | g)", df)
    with pytest.raises(DesignError, match=r"fixed effects: column 'a' .* not seen .*: 'r', 's'"):
        d.transform(pd.DataFrame({"a": ["r", "p", "s"], "b": ["v", "v", "v"], "g": [2, 2, 2]}))
    with pytest.raises(DesignError, match=r"block 'g'.*column 'b' .* not seen .*: 'u'"):
        d.transform(pd.DataFrame({"a": ["p"], "b": ["u"], "g": [2]}))


def test_transform_missing_values_and_columns(df: pd.DataFrame) -> None:
    d = design("y ~ x + (1 | g)", df)
    with pytest.raises(DesignError, match=r"missing values in new data: x \(1\)"):
        d.transform(pd.DataFrame({"x": [1.0, np.nan], "g": [2, 2]}))
    with pytest.raises(DesignError, match="unknown column 'g'"):
        d.transform(pd.DataFrame({"x": [1.0]}))


# ---- scale ---------------------------------------------------------------------------------


def test_200k_rows() -> None:
    n, n_groups = 200_000, 2_000
    rng = np.random.default_rng(0)
    g = rng.integers(0, n_groups, size=n)
    data = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), "g": g})
    d = design("y ~ x + (1 + x | g)", data)
    assert d.X.shape == (n, 2) and d.X.dtype == np.float64
    (b,) = d.blocks
    assert b.Z.shape == (n, 2) and b.Z.dtype == np.float64
    assert b.codes.shape == (n,) and b.codes.dtype == np.int64
    levels = np.unique(g)
    assert b.levels == tuple(str(v) for v in levels)
    assert_array_equal(b.codes, np.searchsorted(levels, g))
    assert_array_equal(b.Z[:, 1], data["x"])


def test_fixed_columns_follow_r_term_order():
    # R (and lme4/brms): main effects in formula order, then interactions; patsy alone would
    # put the categorical term first.
    df = pd.DataFrame(
        {"y": [1.0, 2, 3, 4, 5], "a": [1.0, 2, 3, 4, 5], "t": ["0", "1", "0", "1", "1"]}
    )
    d = build_design(parse_formula("y ~ a * t + np.log(a)"), df)
    assert d.x_names == ("Intercept", "a", "t[T.1]", "np.log(a)", "a:t[T.1]")
    a, t = df["a"].to_numpy(), (df["t"] == "1").to_numpy(float)
    expected = np.column_stack([np.ones(5), a, t, np.log(a), a * t])
    np.testing.assert_allclose(d.X, expected)
    np.testing.assert_allclose(d.transform(df).X, expected)
