"""Long formulas build in time linear in their length (issue #14; bench/formula_build.py times
it). The guards are structural, counting the expensive calls, never wall time."""

import random
import warnings

import numpy as np
import pandas as pd
import patsy
import pytest

import pyglmm as pg
from pyglmm.design import build_design
from pyglmm.design import terms as design_terms
from pyglmm.design.build import full_rank_columns
from pyglmm.design.desc import model_desc
from pyglmm.formula import join_terms, parse_formula, split_terms


def nested(k: int, n: int = 120) -> tuple[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    base = {j: rng.integers(0, 2, n) for j in range(1, 5)}
    cols = {f"g{j}": base[min(j, 4)] for j in range(1, k + 1)}
    df = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), **cols})
    return "y ~ x + (1 | " + "/".join(f"g{j}" for j in range(1, k + 1)) + ")", df


def test_nested_grouping_factorizes_each_column_once(monkeypatch):
    """(1 | g1/.../gK) has K blocks g1, g1:g2, ...: each extends its prefix's codes (K
    factorizations, not K^2/2) and the shared expression "1" goes through patsy once."""
    formula, df = nested(30)
    calls = {"factorize": 0, "dmatrix": 0}
    factorize, dmatrix = design_terms._factorize, patsy.dmatrix

    def counting_factorize(col):
        calls["factorize"] += 1
        return factorize(col)

    def counting_dmatrix(*args, **kwargs):
        calls["dmatrix"] += 1
        return dmatrix(*args, **kwargs)

    monkeypatch.setattr(design_terms, "_factorize", counting_factorize)
    monkeypatch.setattr(patsy, "dmatrix", counting_dmatrix)
    design = build_design(parse_formula(formula), df)
    assert len(design.blocks) == 30
    assert calls == {"factorize": 30, "dmatrix": 2}  # fixed part + the random "1"
    last = design.blocks[-1]
    assert last.group == ":".join(f"g{j}" for j in range(1, 31))
    # the codes are those of the interaction computed from scratch
    codes, levels = design_terms.group_codes(df, [f"g{j}" for j in range(1, 31)])
    np.testing.assert_array_equal(last.codes, codes)
    assert list(last.levels) == levels
    # blocks own their arrays
    assert not np.shares_memory(design.blocks[0].Z, design.blocks[1].Z)
    # new data rebuild the same codes
    new = design.transform(df.iloc[:10])
    np.testing.assert_array_equal(new.codes[last.name], codes[:10])


def test_patsy_parses_one_term_at_a_time(monkeypatch):
    """patsy's parser deduplicates the growing term list at every '+' (quadratic): the fixed
    part is handed to it one term at a time."""
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.normal(size=300), "x": rng.normal(size=300)})
    rhs = " + ".join(f"I(x ** {k} / {k})" for k in range(1, 121))
    longest = []
    from_formula = patsy.ModelDesc.from_formula

    def spy(text):
        longest.append(len(text) if isinstance(text, str) else 0)
        return from_formula(text)

    monkeypatch.setattr(patsy.ModelDesc, "from_formula", spy)
    design = build_design(parse_formula(f"y ~ {rhs}"), df)
    assert design.X.shape == (300, 121)
    assert max(longest) < 40


@pytest.mark.parametrize(
    "rhs",
    [
        "x",
        "0 + x",
        "-1 + x",
        "x - 1 + 1",
        "x*z - x",
        "(x - 1) + z",
        "x + (1 + z) - 1",
        "0 + x + (1 + z)",
        "(x + z)**2 - x:z + x",
        "x + a/b - a",
    ],
)
def test_model_desc_is_patsys(rhs):
    assert model_desc(split_terms(rhs)).rhs_termlist == (
        patsy.ModelDesc.from_formula(rhs).rhs_termlist
    )


def test_model_desc_matches_patsy_on_random_sums():
    atoms = ["x", "z", "0", "1", "x:z", "(x + z)", "(1 + x)", "(x - 1)", "a*b", "(0 + z)"]
    rng = random.Random(3)
    for _ in range(300):
        parts = [(rng.choice("+-+") if i else "+", rng.choice(atoms)) for i in range(6)]
        rhs = join_terms(parts)
        assert model_desc(split_terms(rhs)).rhs_termlist == (
            patsy.ModelDesc.from_formula(rhs).rhs_termlist
        ), rhs


def test_many_aliased_columns_take_few_factorizations(monkeypatch):
    """300 multiples of one column, more than the rows: one is kept in two QR rounds (it was
    one QR per dropped column, and failed with more columns than rows)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=50)
    X = np.column_stack([np.ones(50), *[x * k for k in range(1, 301)], rng.normal(size=50)])
    qr, count = np.linalg.qr, [0]

    def counting_qr(*args, **kwargs):
        count[0] += 1
        return qr(*args, **kwargs)

    monkeypatch.setattr(np.linalg, "qr", counting_qr)
    np.testing.assert_array_equal(full_rank_columns(X), [0, 1, 301])
    assert count[0] <= 4


def test_more_terms_than_rows_drop_with_a_message():
    rng = np.random.default_rng(4)
    df = pd.DataFrame(
        {"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)}
    )
    rhs = " + ".join(f"I(x * {k})" for k in range(1, 61))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = pg.Model(f"y ~ {rhs} + (1 | g)", df)
    assert model.design.x_names == ("Intercept", "I(x * 1)")
    assert any("dropping 59 columns" in str(w.message) for w in caught)
