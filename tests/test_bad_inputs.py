"""The bad-input battery (#14): every bad input a user can hand pyglmm raises a typed
:class:`pyglmm.PyglmmError` whose message names the culprit (the column, level, formula
position, prior, family or argument). Each case: (id, call, error class, text the message must
contain). ``sleep`` is lme4's sleepstudy; ``fit`` a fitted ``Reaction ~ Days + (Days |
Subject)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg

F = "Reaction ~ Days + (Days | Subject)"


def _poisson(sleep: pd.DataFrame) -> pd.DataFrame:
    return sleep.assign(n=np.round(sleep["Reaction"]).astype(int))


CASES = [
    # --- formula ------------------------------------------------------------------------
    (
        "unclosed bracket",
        lambda s, f: pg.Model("Reaction ~ Days + (Days | Subject", s),
        pg.FormulaError,
        "unclosed '('",
    ),
    ("no tilde", lambda s, f: pg.Model("Reaction Days", s), pg.FormulaError, "~"),
    ("empty right side", lambda s, f: pg.Model("Reaction ~ ", s), pg.FormulaError, "~"),
    (
        "three bars",  # (1 | Subject | Days) is brms's ID syntax: ID Subject, group Days
        lambda s, f: pg.Model("Reaction ~ (1 | Subject | Days | x)", s),
        pg.FormulaError,
        "more than two '|'",
    ),
    (
        "bar outside brackets",
        lambda s, f: pg.Model("Reaction ~ Days | Subject", s),
        pg.FormulaError,
        "only allowed in a random-effect term",
    ),
    (
        "crossed inside one term",
        lambda s, f: pg.Model("Reaction ~ (1 | Subject + Days)", s),
        pg.FormulaError,
        "crossed factors are written",
    ),
    (
        "no grouping factor",
        lambda s, f: pg.Model("Reaction ~ (1 | )", s),
        pg.FormulaError,
        "expected a grouping factor",
    ),
    (
        "keyword",
        lambda s, f: pg.Model("Reaction ~ Days + class", s),
        pg.FormulaError,
        "'class' is a Python keyword",
    ),
    (
        "called number",
        lambda s, f: pg.Model("Reaction ~ 2(Days)", s),
        pg.FormulaError,
        "a number cannot be called",
    ),
    (
        "operator twice",
        lambda s, f: pg.Model("Reaction ~ Days + + (1 | Subject)", s),
        pg.FormulaError,
        "^",
    ),
    # --- data -----------------------------------------------------------------------------
    (
        "unknown column",
        lambda s, f: pg.Model("Reaction ~ Dayz + (1 | Subject)", s),
        pg.DesignError,
        "did you mean 'Days'",
    ),
    (
        "unknown grouping column",
        lambda s, f: pg.Model("Reaction ~ Days + (1 | Subjekt)", s),
        pg.DesignError,
        "Subjekt",
    ),
    (
        "all rows missing",
        lambda s, f: pg.Model("Reaction ~ Days + (1 | Subject)", s.assign(Days=np.nan)),
        pg.DesignError,
        "all 180 rows have missing values in: Days",
    ),
    (
        "missing with raise",
        lambda s, f: pg.Model(
            "Reaction ~ Days + (1 | Subject)",
            s.assign(Days=s["Days"].where(s.index != 3)),
            missing="raise",
        ),
        pg.DesignError,
        "1 of 180 rows have missing values in: Days (1)",
    ),
    (
        "infinite value",
        lambda s, f: pg.Model(
            "Reaction ~ Days + (1 | Subject)", s.assign(Days=s["Days"].replace(0, np.inf))
        ),
        pg.DesignError,
        "Days",
    ),
    (
        "text response",
        lambda s, f: pg.Model("Subject ~ Days + (1 | Subject)", s),
        pg.DesignError,
        "Subject",
    ),
    (
        "datetime predictor",
        lambda s, f: pg.Model(
            "Reaction ~ d + (1 | Subject)",
            s.assign(d=pd.Timestamp("2020-01-01") + pd.to_timedelta(s["Days"], unit="D")),
        ),
        pg.DesignError,
        "column 'd' is a datetime64",
    ),
    (
        "duplicate column",
        lambda s, f: pg.Model(
            "Reaction ~ Days + (1 | Subject)", pd.concat([s, s[["Days"]]], axis=1)
        ),
        pg.DesignError,
        "2 columns named 'Days'",
    ),
    ("not a frame", lambda s, f: pg.Model(F, [1, 2, 3]), pg.DesignError, "got list"),
    (
        "one level per row",
        lambda s, f: pg.Model(
            "Reaction ~ Days + (1 | row)", s.assign(row=np.arange(len(s)).astype(str))
        ),
        pg.DesignError,
        "row",
    ),
    # --- family -----------------------------------------------------------------------------
    ("unknown family", lambda s, f: pg.Model(F, s, family="gausian"), pg.FamilyError, "gausian"),
    (
        "unknown link",
        lambda s, f: pg.family("poisson", link="probit"),
        pg.FamilyError,
        "'probit' is not available for family 'poisson'",
    ),
    (
        "non-count for poisson",
        lambda s, f: pg.Model(F, s, family="poisson"),
        pg.FamilyError,
        "integer count",
    ),
    (
        "negative for gamma",
        lambda s, f: pg.Model(F, s.assign(Reaction=-s["Reaction"]), family="gamma"),
        pg.FamilyError,
        "positive",
    ),
    (
        "trials for a gaussian",
        lambda s, f: pg.Model("k | trials(n) ~ 1 + (1 | Subject)", s.assign(k=1, n=2)),
        pg.FamilyError,
        "does not use a number of trials",
    ),
    # --- priors -----------------------------------------------------------------------------
    (
        "unknown distribution",
        lambda s, f: pg.prior("Normall", mu=0, sigma=1),
        pg.PriorError,
        "Normall",
    ),
    ("misspelled parameter", lambda s, f: pg.prior("Normal", mean=0, sd=1), pg.PriorError, "mean"),
    (
        "negative scale",
        lambda s, f: pg.prior("HalfNormal", sigma=-1),
        pg.PriorError,
        "sigma must be positive",
    ),
    (
        "unknown class",
        lambda s, f: pg.Model(F, s, priors={"sigmaa": "exponential(1)"}),
        pg.PriorError,
        "sigmaa",
    ),
    (
        "sigma on poisson",
        lambda s, f: pg.Model(
            "n ~ Days + (1 | Subject)",
            _poisson(s),
            family="poisson",
            priors={"sigma": "exponential(1)"},
        ),
        pg.PriorError,
        "unknown prior class ['sigma'] for family 'poisson'",
    ),
    (
        "unknown term",
        lambda s, f: pg.Model(F, s, priors={"b": {"Dayz": "normal(0, 1)"}}),
        pg.PriorError,
        "Dayz",
    ),
    (
        "unknown group",
        lambda s, f: pg.Model(F, s, priors={"sd": {"Subjekt": "normal(0, 1)"}}),
        pg.PriorError,
        "Subjekt",
    ),
    ("not a prior", lambda s, f: pg.Model(F, s, priors={"b": 3.0}), pg.PriorError, "priors['b']"),
    (
        "bad brms string",
        lambda s, f: pg.Model(F, s, priors={"b": "normal(0)"}),
        pg.PriorError,
        "normal takes 2 argument(s)",
    ),
    (
        "truncated sd",
        lambda s, f: pg.Model(F, s, priors={"sd": "normal(5, 1)"}),
        pg.PriorError,
        "would be truncated",
    ),
    # --- parameterization ------------------------------------------------------------------
    (
        "unknown parameterization",
        lambda s, f: pg.Model(F, s, parameterization="centred"),
        pg.ArgumentError,
        "centred",
    ),
    (
        "unknown block in spec",
        lambda s, f: pg.Model(F, s, parameterization={"Subjekt": "centered"}),
        pg.ArgumentError,
        "Subjekt",
    ),
    (
        "marginal on poisson",
        lambda s, f: pg.Model(
            "n ~ Days + (1 | Subject)", _poisson(s), family="poisson", parameterization="marginal"
        ),
        pg.ArgumentError,
        "marginal",
    ),
    # --- sampler arguments -----------------------------------------------------------------
    ("draws 0", lambda s, f: pg.Model(F, s).fit(draws=0), pg.ArgumentError, "draws"),
    ("chains 0", lambda s, f: pg.Model(F, s).fit(chains=0), pg.ArgumentError, "chains"),
    ("negative tune", lambda s, f: pg.Model(F, s).fit(tune=-1), pg.ArgumentError, "tune"),
    (
        "target_accept 1.5",
        lambda s, f: pg.Model(F, s).fit(target_accept=1.5),
        pg.ArgumentError,
        "target_accept",
    ),
    ("unknown sampler", lambda s, f: pg.Model(F, s).fit(sampler="stan"), pg.ArgumentError, "stan"),
    ("unknown init", lambda s, f: pg.Model(F, s).fit(init="zero"), pg.ArgumentError, "init"),
    # --- predict new data ------------------------------------------------------------------
    (
        "new data without a column",
        lambda s, f: f.predict(s.drop(columns="Days")),
        pg.DesignError,
        "Days",
    ),
    (
        "new data with missing values",
        lambda s, f: f.predict(s.assign(Days=np.nan)),
        pg.DesignError,
        "missing values in new data",
    ),
    ("unknown kind", lambda s, f: f.predict(kind="probability"), pg.ArgumentError, "probability"),
    ("unseen level", lambda s, f: f.predict(s.assign(Subject="999")), pg.DesignError, "999"),
    # --- optimize --------------------------------------------------------------------------
    (
        "optimize a student model (no point fit)",
        lambda s, f: pg.Model("Reaction ~ Days + (1 | Subject)", s, family="student").optimize(),
        pg.FamilyError,
        "student",
    ),
    (
        "REML for a poisson model",
        lambda s, f: pg.Model("n ~ Days + (1 | Subject)", _poisson(s), family="poisson").optimize(
            reml=True
        ),
        pg.ArgumentError,
        "REML",
    ),
    (
        "nagq > 1 with a slope block",
        lambda s, f: pg.Model(
            "n ~ Days + (Days | Subject)", _poisson(s), family="poisson"
        ).optimize(nagq=5),
        pg.ArgumentError,
        "(1 + Days | Subject)",
    ),
    (
        "constant response",
        lambda s, f: pg.Model(F, s.assign(Reaction=1.0)).optimize(),
        pg.DesignError,
        "is constant",
    ),
]


@pytest.mark.parametrize(("name", "call", "error", "culprit"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_typed_error_naming_the_culprit(
    sleep, sleep_fit, name, call, error, culprit
):
    with pytest.raises(pg.PyglmmError) as info:
        call(sleep, sleep_fit)
    assert isinstance(info.value, error), f"{name}: {type(info.value).__name__}: {info.value}"
    assert culprit in str(info.value), f"{name}: {info.value}"


def test_the_battery_has_at_least_40_distinct_inputs():
    assert len({c[0] for c in CASES}) == len(CASES) >= 40


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pg.datasets.load("sleepstudy")
