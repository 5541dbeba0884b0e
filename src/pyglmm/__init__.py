"""pyglmm: Bayesian mixed models from lme4/brms formulas, on PyMC and nutpie.

import pyglmm as pg
model = pg.Model("Reaction ~ Days + (Days | Subject)", pg.datasets.load("sleepstudy"))
fit = model.fit(seed=1)
print(fit)
"""

from . import (
    _numba_cache,  # noqa: F401  (first: before any kernel is defined with cache=True)
    _pytensor_cache,  # noqa: F401  (before PyTensor compiles: a usable compiledir)
    _quiet,  # noqa: F401  (filters a PyTensor import-time warning)
    datasets,
    workflow,
)
from ._version import __version__
from .errors import (
    ArgumentError,
    DesignError,
    FamilyError,
    FitFileError,
    FormulaError,
    PriorError,
    PyglmmError,
    SamplingWarning,
)
from .families import Family, family
from .lmm import LmmFit
from .model import Model
from .persist import load_fit
from .priors import Prior, prior
from .results.fit import Fit
from .workflow import CompareResult, RecoveryResult, compare, plots, recover
from .workflow.simulation import simulate

__all__ = [
    "ArgumentError",
    "CompareResult",
    "DesignError",
    "Family",
    "FamilyError",
    "Fit",
    "FitFileError",
    "FormulaError",
    "LmmFit",
    "Model",
    "Prior",
    "PriorError",
    "PyglmmError",
    "RecoveryResult",
    "SamplingWarning",
    "__version__",
    "compare",
    "datasets",
    "family",
    "load_fit",
    "plots",
    "prior",
    "recover",
    "simulate",
    "workflow",
]
