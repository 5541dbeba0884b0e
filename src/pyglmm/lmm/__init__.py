"""REML/ML point estimates of linear mixed models, equivalent to lme4's ``lmer``.

``fit_lmm(design, reml=True)`` minimises lme4's profiled (restricted) deviance over the
relative covariance parameters theta (see :mod:`pyglmm.lmm.profiled` for the algebra) and
returns an :class:`LmmFit` with ``fixef()``, ``varcorr()``, ``ranef()``, ``coef()`` and an
lme4-style printed summary.
"""

from .fit import fit_lmm
from .profiled import ProfiledLmm, ThetaLayout
from .result import LmmFit, theta_to_sd_cor

__all__ = ["LmmFit", "ProfiledLmm", "ThetaLayout", "fit_lmm", "theta_to_sd_cor"]
