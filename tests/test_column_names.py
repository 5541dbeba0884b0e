"""Column names lme4/brms users bring (#14): R's dotted names, brms's backticks, names with
spaces, Python keywords, and Q() everywhere (response, terms, grouping factors)."""

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm.formula import quote_columns


@pytest.fixture(scope="module")
def awkward() -> pd.DataFrame:
    """sleepstudy with the names renamed the way R users' data often are."""
    df = pg.datasets.load("sleepstudy")
    return df.rename(columns={"Reaction": "Reaction.time", "Days": "days in", "Subject": "sub.id"})


def test_dotted_backticked_and_quoted_names_give_lme4s_fit(lme4_ref, awkward):
    ref = lme4_ref["sleepstudy_reml"]
    for formula in [
        "Reaction.time ~ `days in` + (`days in` | sub.id)",
        "`Reaction.time` ~ Q('days in') + (Q('days in') | Q('sub.id'))",
    ]:
        model = pg.Model(formula, awkward)
        assert model.formula.formula == formula  # shown as written
        assert model.design.x_names == ("Intercept", "days in")  # lme4/brms show the name
        assert model.design.blocks[0].group == "sub.id"
        fit = model.optimize()
        np.testing.assert_allclose(
            fit.beta, [ref["fixef"]["(Intercept)"], ref["fixef"]["Days"]], rtol=1e-5
        )
        assert list(fit.ranef()) == ["sub.id"]


def test_a_keyword_column_and_functions_of_dotted_modules():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "y": rng.normal(size=40),
            "lambda": rng.normal(size=40),
            "x": rng.uniform(1, 2, 40),
            "g": np.repeat(list("abcd"), 10),
        }
    )
    model = pg.Model("y ~ lambda + np.log(x) + (1 | g)", df)
    assert model.design.x_names == ("Intercept", "lambda", "np.log(x)")
    np.testing.assert_allclose(model.design.X[:, 2], np.log(df["x"]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.b ~ x + (1 | g.h)", 'Q("a.b") ~ x + (1 | Q("g.h"))'),
        ("y ~ np.log(a.b)", 'y ~ np.log(Q("a.b"))'),
        ("y ~ `my x` + lambda", 'y ~ Q("my x") + Q("lambda")'),
        ("y ~ np.e + a . b", "y ~ np.e + a . b"),  # not columns / not written as one name
    ],
)
def test_quote_columns(text, expected):
    assert quote_columns(text, ["a.b", "g.h", "y", "x", "lambda", "my x"]) == expected
