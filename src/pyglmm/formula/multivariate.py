"""brms's multivariate formulas: several responses, each with its own formula.

Two spellings give the same :class:`MvFormula` (one :class:`~.distributional.BrmsFormula` per
response, in order)::

    "mvbind(y1, y2) ~ x + (1 |p| g)"            # one right side shared by every response
    pg.bf("y1 ~ x + (1 |p| g)") + pg.bf("y2 ~ z + (1 |p| g)")   # one formula each

``mvbind(...)`` takes two or more distinct column names; anything else (an empty or repeated
argument, an expression, ``mvbind`` on the right side or a missing parenthesis) is a
:class:`~pyglmm.errors.FormulaError` with a caret under the offending position. Each response
is named as brms names it (:func:`resp_name`: the response text without characters other
than letters and digits, ``y_1`` -> ``y1``), and that name prefixes its coefficients
(``y1_Intercept``), its group-level terms (``sd(y1_Intercept)``) and its family parameters
(``sigma_y1``). A response's own distributional formulas (``pg.bf("y1 ~ x", "sigma ~ x")``
inside a sum) are refused when the model is built.
"""

from __future__ import annotations

import re

from ..errors import FormulaError
from .distributional import BrmsFormula, MvFormula

_MVBIND = re.compile(r"\bmvbind\s*\(")
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$|^`[^`]+`$")


def mvbind_responses(text: str) -> list[str] | None:
    """The responses of ``"mvbind(y1, y2) ~ rhs"`` (None when the formula has no
    ``mvbind``); :class:`FormulaError` with the position for a malformed one."""
    match = _MVBIND.search(text)
    if match is None:
        return None
    tilde = text.find("~")
    start = match.start()
    if tilde < 0:
        raise FormulaError("missing '~' after mvbind(...)", text, len(text))
    if start > tilde:
        raise FormulaError("mvbind(...) binds responses: it belongs left of '~'", text, start)
    if text[:start].strip():
        raise FormulaError("mvbind(...) is the whole left side of a formula", text, 0)
    open_at = match.end() - 1
    close_at = text.find(")", open_at)
    if close_at < 0 or close_at > tilde:
        raise FormulaError("mvbind( has no closing ')'", text, open_at)
    args: list[str] = []
    pos = open_at + 1
    for piece in text[open_at + 1 : close_at].split(","):
        name = piece.strip()
        where = pos + len(piece) - len(piece.lstrip())
        if not name:
            raise FormulaError("empty argument in mvbind(...)", text, where)
        if not _NAME.match(name):
            raise FormulaError(
                f"mvbind(...) takes column names, got {name!r} (transform the column first)",
                text,
                where,
            )
        if name in args:
            raise FormulaError(f"response {name!r} appears twice in mvbind(...)", text, where)
        args.append(name)
        pos += len(piece) + 1
    if text[close_at + 1 : tilde].strip():
        raise FormulaError("unexpected text after mvbind(...) on the left side", text, close_at + 1)
    if len(args) < 2:
        raise FormulaError("mvbind(...) needs at least two responses", text, open_at)
    return args


def multivariate_formula(formula: object) -> MvFormula | None:
    """The :class:`MvFormula` of ``pg.Model``'s formula argument: a sum of ``pg.bf``, a
    string or ``pg.bf`` with ``mvbind`` on its left side; None for a univariate formula."""
    if isinstance(formula, MvFormula):
        return formula
    text = formula.formula if isinstance(formula, BrmsFormula) else formula
    if not isinstance(text, str):
        return None
    responses = mvbind_responses(text)
    if responses is None:
        return None
    if isinstance(formula, BrmsFormula) and formula.dpars:
        raise FormulaError(
            "mvbind(...) with distributional formulas: write one pg.bf per response and add "
            "them (pg.bf('y1 ~ x') + pg.bf('y2 ~ x'))",
            text,
            0,
        )
    rhs = text.split("~", 1)[1]
    return MvFormula(tuple(BrmsFormula(f"{r} ~{rhs}") for r in responses), text=text)
