"""The names of a model's variables and dims, written once.

Every engine (the PyMC model, the kernel, the marginal parameterization) stores its draws under
these names, and every reader (results, prediction, saving, simulation) looks them up here, so a
name cannot drift between the writer and the reader. For a block named ``g``:

=================  ===========================================================================
``r_g``            its effects, levels x terms (every parameterization reports them)
``sd_g``           its standard deviations, one per term
``cor_g``          its correlation matrix (correlated blocks)
``L_g``            the Cholesky factor of its covariance (correlated blocks, PyMC's packing)
``z_g``            standardized effects of a non-centered block (``r = z L'`` or ``z * sd``)
``alpha_g``        effects of a hierarchically centered block, shifted by the fixed effect
``g_level``        the dim of its levels; ``g_term``: the dim of its terms
``sd1_g``          the one SD of an ``ar1`` block (``sd_g`` repeats it per term)
``ar1_g``, ``cs_g``  the correlation rho of an ``ar1`` / ``cs`` block
``sds_g``          the one SD of a smooth term's penalized part (``sd_g`` repeats it)
=================  ===========================================================================

The fixed part is ``b`` (over the ``coef`` dim) as reported, ``Intercept`` and ``beta`` as
sampled on centered predictors. A distributional parameter with a formula (``pg.bf``), e.g.
``sigma``: ``b_sigma`` (dim ``sigma_coef``), ``Intercept_sigma`` and ``beta_sigma`` (brms's
Stan names); its blocks are named ``sigma_<block>``.

An ordinal model (``cumulative``): its thresholds as reported, ``b_Intercept`` (dim ``thres``,
brms's ``b_Intercept[k]``), and as sampled on centred predictors, ``Intercept`` (an ordered
vector, brms's Stan name).
"""

from __future__ import annotations

COEF_DIM = "coef"
FIXED = "b"
THRESHOLDS = "b_Intercept"
THRESHOLD_DIM = "thres"


def effects(block: str) -> str:
    return f"r_{block}"


def sd(block: str) -> str:
    return f"sd_{block}"


def cor(block: str) -> str:
    return f"cor_{block}"


def chol(block: str) -> str:
    return f"L_{block}"


def standardized(block: str) -> str:
    return f"z_{block}"


def alpha(block: str) -> str:
    return f"alpha_{block}"


def level_dim(block: str) -> str:
    return f"{block}_level"


def term_dim(block: str) -> str:
    return f"{block}_term"


def shared_sd(block: str) -> str:
    return f"sd1_{block}"


def smooth_sd(block: str) -> str:
    """The SD of a smooth's penalized coefficients, brms's ``sds``: ``sds_sx_1``."""
    return f"sds_{block}"


def structure_cor(tag: str, block: str) -> str:
    """The correlation rho of an ``ar1``/``cs`` block: ``ar1_g``, ``cs_g``."""
    return f"{tag}_{block}"


def dpar_fixed(dpar: str) -> str:
    """The reported coefficients of a distributional parameter's formula: ``b_sigma``."""
    return f"{FIXED}_{dpar}" if dpar else FIXED


def coef_dim(dpar: str = "") -> str:
    """The coefficients' dim: ``coef`` for the mean, ``sigma_coef`` for ``sigma``'s formula."""
    return f"{dpar}_{COEF_DIM}" if dpar else COEF_DIM
