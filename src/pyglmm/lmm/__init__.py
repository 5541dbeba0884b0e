"""Point estimates of mixed models, equivalent to lme4's ``lmer`` and ``glmer``.

``fit_lmm(design, reml=True)`` minimises lme4's profiled (restricted) deviance over the
relative covariance parameters theta (see :mod:`pyglmm.lmm.profiled` for the algebra) and
returns an :class:`LmmFit`; ``fit_glmm(design, family, nagq=1)`` minimises the Laplace
(or adaptive Gauss-Hermite) deviance of a GLMM with PIRLS inside (:mod:`pyglmm.lmm.pirls`,
:mod:`pyglmm.lmm.glmm_fit`) and returns a :class:`GlmmFit`. Both have ``fixef()``,
``varcorr()``, ``ranef()``, ``coef()`` and lme4's printed summary.
"""

from .fit import fit_lmm
from .glmm_fit import fit_glmm
from .glmm_result import GlmmFit
from .profiled import ProfiledLmm, ThetaLayout
from .result import LmmFit, theta_to_sd_cor

__all__ = [
    "GlmmFit",
    "LmmFit",
    "ProfiledLmm",
    "ThetaLayout",
    "fit_glmm",
    "fit_lmm",
    "theta_to_sd_cor",
]
