"""REML/ML point estimates of linear mixed models, equivalent to lme4's ``lmer``, and the
inference of point fits.

``fit_lmm(design, reml=True)`` minimises lme4's profiled (restricted) deviance over the
relative covariance parameters theta (see :mod:`pyglmm.lmm.profiled` for the algebra) and
returns an :class:`LmmFit` with ``fixef()``, ``varcorr()``, ``ranef()``, ``coef()`` and an
lme4-style printed summary. Every point fit follows :class:`PointFit`
(:mod:`pyglmm.lmm.pointfit`), which gives it profiles (:mod:`pyglmm.lmm.profile`),
confidence intervals (:mod:`pyglmm.lmm.intervals`), the parametric bootstrap
(:mod:`pyglmm.workflow.bootstrap`) and likelihood-ratio tables (:func:`anova`).
"""

from .anova import AnovaResult, anova
from .fit import fit_lmm
from .natural import NaturalLayout
from .pointfit import PointFit, is_singular
from .profile import Profile, profile
from .profiled import ProfiledLmm, ThetaLayout
from .result import LmmFit, theta_to_sd_cor

__all__ = [
    "AnovaResult",
    "LmmFit",
    "NaturalLayout",
    "PointFit",
    "Profile",
    "ProfiledLmm",
    "ThetaLayout",
    "anova",
    "fit_lmm",
    "is_singular",
    "profile",
    "theta_to_sd_cor",
]
