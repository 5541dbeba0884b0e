"""Stage 1, the formula: lme4/brms text to a typed, expanded :class:`ParsedFormula`.

``lexer``: tokens with character spans; ``parser``: :func:`parse_formula` (see its module
docstring for the grammar and the expansion of lme4's shorthands); ``text``: operations on
pieces of formula text used by the parser and the design; ``distributional``: brms's
``bf()`` (a main formula plus formulas of distributional parameters).
"""

from ..errors import FormulaError
from .distributional import BrmsFormula, bf
from .lexer import Token, tokenize
from .measurement import MeTerm
from .parser import ParsedFormula, RandomTerm, parse_formula
from .text import (
    join_terms,
    quote_columns,
    split_bar,
    split_call,
    split_terms,
    variable_names,
)

__all__ = [
    "BrmsFormula",
    "FormulaError",
    "MeTerm",
    "ParsedFormula",
    "RandomTerm",
    "Token",
    "bf",
    "join_terms",
    "parse_formula",
    "quote_columns",
    "split_bar",
    "split_call",
    "split_terms",
    "tokenize",
    "variable_names",
]
