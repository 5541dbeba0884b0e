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
    ModelComparisonError,
    PriorError,
    PyglmmError,
    SamplingWarning,
    SingularFitWarning,
    UnsupportedModelError,
    UnsupportedTermError,
)
from .families import Family, family
from .formula import BrmsFormula, bf
from .lmm import AnovaResult, LmmFit, PointFit, Profile, anova
from .model import Model
from .persist import load_fit
from .priors import Prior, prior
from .results.fit import Fit
from .workflow import CompareResult, RecoveryResult, compare, plots, recover
from .workflow.simulation import simulate

__all__ = [
    "AnovaResult",
    "ArgumentError",
    "BrmsFormula",
    "CompareResult",
    "DesignError",
    "Family",
    "FamilyError",
    "Fit",
    "FitFileError",
    "FormulaError",
    "LmmFit",
    "Model",
    "ModelComparisonError",
    "PointFit",
    "Prior",
    "PriorError",
    "Profile",
    "PyglmmError",
    "RecoveryResult",
    "SamplingWarning",
    "SingularFitWarning",
    "UnsupportedModelError",
    "UnsupportedTermError",
    "__version__",
    "anova",
    "bf",
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
