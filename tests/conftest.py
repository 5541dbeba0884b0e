"""Shared fixtures: one sleepstudy fit per test session (a fit costs a nutpie compile)."""

import warnings

import pytest

import pyglmm as pg


@pytest.fixture(scope="session")
def sleep_fit():
    df = pg.datasets.load("sleepstudy")
    model = pg.Model("Reaction ~ Days + (Days | Subject)", df)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pg.SamplingWarning)
        fit = model.fit(draws=1000, tune=1000, chains=4, seed=1, progressbar=False)
    fit.caught = [w for w in caught if issubclass(w.category, pg.SamplingWarning)]
    return fit
