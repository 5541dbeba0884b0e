"""The Bayesian workflow around fits: simulation from the model, prior and posterior predictive
checks and plots, parameter recovery and simulation-based calibration, comparing fits and
parameterizations, and Bayesian R².

``executors``: running independent jobs serially or in processes; ``prior_draws``: parameter
sets from the priors or from a user's dict; ``simulation``: data sets drawn from a design;
``recovery``: :func:`recover`; ``comparison``: :func:`compare`; ``r2``: :func:`bayes_r2`;
``plots``: the figures. These modules take what they use (a design, a family, draws, or an
object with a model's attributes, :class:`pyglmm.spec.ModelSpec`); none imports
:mod:`pyglmm.model`.
"""

from .comparison import COMPARE_COLUMNS, CompareResult, compare
from .executors import EXECUTORS, fit_summary, prior_spec, run_jobs
from .r2 import bayes_r2
from .recovery import RecoveryResult, recover

__all__ = [
    "COMPARE_COLUMNS",
    "EXECUTORS",
    "CompareResult",
    "RecoveryResult",
    "bayes_r2",
    "compare",
    "fit_summary",
    "prior_spec",
    "recover",
    "run_jobs",
]
