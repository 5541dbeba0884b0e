"""Stage 2, the design: a :class:`~pyglmm.formula.ParsedFormula` and a DataFrame become arrays.

``records``: the typed results (:class:`Design`, :class:`REBlock`, :class:`NewData`);
``blocks``: the covariance kinds of the blocks (:class:`BlockKind`, :func:`block_kind`);
``build``: :func:`build_design`; ``frame``: column checks and patsy evaluation shared by
``build`` and :meth:`Design.transform`; ``response``: the response expression (``cbind``,
``trials``); ``terms``: the functions formulas may call (``scale``, ``center``, ...) and
grouping codes; ``distributional``: the designs of ``pg.bf``'s distributional formulas.
"""

from ..errors import DesignError
from .blocks import KINDS, BlockKind, Correlated, Diagonal, block_kind, kind_for
from .build import build_design
from .distributional import build_distributional_design
from .frame import as_frame, categorical_levels, rhs_variables
from .records import CovKind, Design, DparPart, NewData, REBlock

__all__ = [
    "KINDS",
    "BlockKind",
    "Correlated",
    "CovKind",
    "Design",
    "DesignError",
    "Diagonal",
    "DparPart",
    "NewData",
    "REBlock",
    "as_frame",
    "block_kind",
    "build_design",
    "build_distributional_design",
    "categorical_levels",
    "kind_for",
    "rhs_variables",
]
