"""Fits saved by the other stack load here: ``tests/data/saved_fit_py311.nc`` was written with
Python 3.11 (PyMC 5 / ArviZ 0.x, InferenceData) and ``saved_fit_py312.nc`` with Python 3.12
(PyMC 6 / ArviZ 1.x, DataTree) by ``tests/data/make_saved_fits.py``; each stack loads both and
must print the writer's summary and give its ``ranef`` and seeded ``predict`` draws."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm import stack

DATA = Path(__file__).resolve().parent / "data"
NEWDATA = pd.DataFrame({"Days": [0.0, 4.5, 9.0], "Subject": ["308", "335", "372"]})


@pytest.mark.parametrize("tag", ["py311", "py312"])
def test_fit_saved_by_either_stack_loads(tag):
    expected = json.loads((DATA / f"saved_fit_{tag}.json").read_text())
    fit = pg.load_fit(DATA / f"saved_fit_{tag}.nc")
    assert str(fit) == expected["summary"]
    ranef = fit.ranef()["Subject"]
    for term, values in expected["ranef"].items():
        np.testing.assert_allclose(ranef[term].to_numpy(), values, rtol=1e-9, atol=1e-9)
    draws = fit.predict(NEWDATA, kind="response", seed=3, summary=False)
    np.testing.assert_allclose(draws, np.asarray(expected["predict"]), rtol=1e-9, atol=1e-7)
    elpd, se = stack.elpd(fit.loo())
    assert np.isfinite(elpd) and se > 0
    assert expected["stack"]["python"].startswith(f"3.{tag[3:]}")  # written by that Python
