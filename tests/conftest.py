"""Shared fixtures: the published reference values (``tests/data``) and one sleepstudy fit per
test session.

Every reference number a test asserts against lives in ``tests/data/`` inside the repository,
each entry with its ``source`` (paper, lme4 test file, printout); no test reads a file outside
the clone.
"""

import json
import warnings
from functools import cache
from pathlib import Path

import pytest

import pyglmm as pg

DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def load_reference(name: str) -> dict:
    """``tests/data/<name>.json`` (parsed once per session)."""
    return json.loads((DATA_DIR / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def lme4_ref() -> dict:
    """Published lme4 estimates (Bates et al. 2015, lme4's tests; see each entry's source)."""
    return load_reference("lme4_reference")


@pytest.fixture(scope="session")
def sleep_fit():
    df = pg.datasets.load("sleepstudy")
    model = pg.Model("Reaction ~ Days + (Days | Subject)", df)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pg.SamplingWarning)
        fit = model.fit(draws=1000, tune=1000, chains=4, seed=1, progressbar=False)
    fit.caught = [w for w in caught if issubclass(w.category, pg.SamplingWarning)]
    return fit
