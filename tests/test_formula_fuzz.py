"""A property-based fuzz of the formula parser and design (#14): random token strings built from
real column names, operators, brackets and function names. Every outcome must be a model or a
typed pyglmm error (:class:`pyglmm.PyglmmError`), never another exception, and quick.

The default suite runs a bounded number of cases; the slow suite (``-m slow``) runs 10,000 and
prints the outcome counts.
"""

from __future__ import annotations

import collections
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyglmm as pg

COLUMNS = ["y", "x", "z", "cnt", "g", "h", "f"]
TOKENS = [
    *COLUMNS,
    *["+", "-", "*", "/", ":", "^", "**", "|", "||", "~", "(", ")", "[", "]", ",", "=", "."],
    *["1", "0", "2", "8", "0.5", "-1"],
    *["scale(", "center(", "C(", "I(", "np.log(", "log(", "offset(", "cbind(", "trials("],
    *["Q('x')", "`x`", "lambda", "if", "not", "and", "True", "'a'", "np", "Days"],
]


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 24
    return pd.DataFrame(
        {
            "y": rng.poisson(3, n).astype(float),
            "x": rng.normal(size=n),
            "z": rng.uniform(1, 2, n),
            "cnt": rng.poisson(5, n),
            "g": np.repeat(list("abcd"), n // 4),
            "h": np.tile(list("uvw"), n // 3),
            "f": rng.choice(["p", "q"], n),
        }
    )


DATA = _data()


def _formula(tokens: list[str], lhs: str) -> str:
    return f"{lhs} ~ " + " ".join(tokens)


formulas = st.builds(
    _formula,
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14),
    st.sampled_from(["y", "cnt", "np.log(z)", "cbind(cnt, cnt)", "y | trials(cnt)", "Q('y')"]),
)


def _outcome(formula: str) -> str:
    """'model', or the name of the typed error; anything else fails the test."""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pg.Model(formula, DATA)
        out = "model"
    except pg.PyglmmError as err:
        out = type(err).__name__
    except Exception as err:
        pytest.fail(f"{formula!r} raised {type(err).__name__}: {err}")
    assert time.perf_counter() - start < 5.0, f"{formula!r} took too long"
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas)
def test_every_formula_is_a_model_or_a_typed_error(formula: str) -> None:
    _outcome(formula)


COUNTS: collections.Counter[str] = collections.Counter()


@pytest.mark.slow
@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formulas)
def test_fuzz_10000_formulas(formula: str) -> None:
    COUNTS[_outcome(formula)] += 1


@pytest.mark.slow
def test_fuzz_counts_reported() -> None:
    """Prints the outcome counts of the 10,000-case run (run with -s to see them)."""
    if COUNTS:
        print("formula fuzz outcomes:", dict(COUNTS.most_common()))
    assert all(isinstance(k, str) for k in COUNTS)


@pytest.mark.parametrize(
    ("formula", "error", "culprit"),
    [
        ("y ~ x + 8(scale(x) || g)", pg.FormulaError, "a number cannot be called"),
        ("y ~ lambda", pg.FormulaError, "'lambda' is a Python keyword"),
        ("y ~ x + (1 | g) + def", pg.FormulaError, "'def' is a Python keyword"),
        ("y ~ I(lambda: 1)", pg.FormulaError, "'lambda' is a Python keyword"),
        ("y ~ " + "(" * 90 + "x" + ")" * 90, None, ""),
        ("y ~ " + "(" * 400 + "x" + ")" * 400, pg.FormulaError, "nested more than 100 deep"),
    ],
)
def test_formulas_the_fuzz_found(formula, error, culprit):
    if error is None:
        pg.Model(formula, DATA)  # nesting within the limit is fine
        return
    with pytest.raises(error, match=culprit.replace("(", r"\(")):
        pg.Model(formula, DATA)
