"""Point estimates of mixed models, equivalent to lme4's ``lmer`` and ``glmer``, and the
inference of point fits.

``fit_lmm(design, reml=True)`` minimises lme4's profiled (restricted) deviance over the
relative covariance parameters theta (see :mod:`pyglmm.lmm.profiled` for the algebra) and
returns an :class:`LmmFit`; ``fit_glmm(design, family, nagq=1)`` minimises the Laplace
(or adaptive Gauss-Hermite) deviance of a GLMM with PIRLS inside (:mod:`pyglmm.lmm.pirls`,
:mod:`pyglmm.lmm.glmm_fit`) and returns a :class:`GlmmFit`. Both have ``fixef()``,
``varcorr()``, ``ranef()``, ``coef()`` and lme4's printed summary, and both follow
:class:`PointFit` (:mod:`pyglmm.lmm.pointfit`), which gives them profiles
(:mod:`pyglmm.lmm.profile`), confidence intervals (:mod:`pyglmm.lmm.intervals`), the
parametric bootstrap (:mod:`pyglmm.workflow.bootstrap`) and likelihood-ratio tables
(:func:`anova`).
"""

from .anova import AnovaResult, anova
from .fit import fit_lmm
from .glmm_result import GlmmFit, fit_glmm
from .natural import NaturalLayout
from .pointfit import PointFit, is_singular
from .profile import Profile, profile
from .profiled import ProfiledLmm, ThetaLayout
from .result import LmmFit, theta_to_sd_cor

__all__ = [
    "AnovaResult",
    "GlmmFit",
    "LmmFit",
    "NaturalLayout",
    "PointFit",
    "Profile",
    "ProfiledLmm",
    "ThetaLayout",
    "anova",
    "fit_glmm",
    "fit_lmm",
    "is_singular",
    "profile",
    "theta_to_sd_cor",
]
