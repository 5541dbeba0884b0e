"""Stage 4: compile a design, priors and family into a PyMC model.

``build``: :func:`build_model` (the fixed part, the coords, the likelihood; the linear
predictor's maths); ``blocks``: the PyMC variables of a random-effect block per covariance kind
and parameterization (:data:`~pyglmm.compile.blocks.PYMC_BLOCKS`); ``parameterization``: the
policy choosing non-centered, centered or marginal per block (``"auto"``) and the
hierarchical centering of centered blocks on fixed effects; ``listing``: the program text
``Model.code()`` prints; ``structured``: the builders of the structured kinds (known
covariances among levels, ar1, cs), registered in ``PYMC_BLOCKS`` on import; ``smooths``:
the builder of a smooth term's penalized part (``s(x)``), likewise. To add a block
kind see ``docs/architecture.md``.
"""

from . import smooths as smooths  # registers the smooth kind's builder
from . import structured as structured  # registers the structured kinds' builders
from .blocks import (
    PYMC_BLOCKS,
    Builder,
    Center,
    PyMCBlock,
    block_contribution,
    diag_centered,
    diag_noncentered,
    lkj_centered,
    lkj_noncentered,
    pymc_block,
)
from .build import CompiledModel, FixedPart, build_model, coords_of
from .parameterization import (
    AUTO_CENTERED_MIN_KAPPA,
    AUTO_CENTERED_MIN_LEVELS,
    AUTO_CENTERED_MIN_ROWS,
    MARGINAL_ENGINE,
    PARAMETERIZATIONS,
    auto_latent,
    can_laplace,
    can_marginalize,
    group_level_centering,
    hierarchical_centering,
    resolve_parameterization,
    theta_names,
)

__all__ = [
    "AUTO_CENTERED_MIN_KAPPA",
    "AUTO_CENTERED_MIN_LEVELS",
    "AUTO_CENTERED_MIN_ROWS",
    "MARGINAL_ENGINE",
    "PARAMETERIZATIONS",
    "PYMC_BLOCKS",
    "Builder",
    "Center",
    "CompiledModel",
    "FixedPart",
    "PyMCBlock",
    "auto_latent",
    "block_contribution",
    "build_model",
    "can_laplace",
    "can_marginalize",
    "coords_of",
    "diag_centered",
    "diag_noncentered",
    "group_level_centering",
    "hierarchical_centering",
    "lkj_centered",
    "lkj_noncentered",
    "pymc_block",
    "resolve_parameterization",
    "theta_names",
]
