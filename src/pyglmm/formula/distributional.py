"""brms's ``bf()``: a main formula plus one formula per distributional parameter.

``bf("y ~ x + (1 | g)", "sigma ~ x + (1 | g)")`` (positional: the left side names the
parameter) and ``bf("y ~ x", sigma="~ x")`` (keyword: the name is the keyword; a left side, if
written, must repeat it) are the same :class:`BrmsFormula`. A distributional formula predicts
the family parameter through its link (log for ``sigma``, ``shape``, ``phi``; ``logm1`` for
``nu``, as brms)::

    y_i ~ Normal(mu_i, sigma_i),   mu_i = X_i b + Z_i r,   log sigma_i = X^s_i b^s + Z^s_i r^s

Its right side takes the main formula's grammar (fixed terms, ``(x | g)`` blocks, ``C()``,
``scale()``, ...); an offset is refused. Whether the family has the parameter is checked when
the model is built (``pg.Model``: :class:`~pyglmm.errors.FamilyError` naming it and listing
the family's parameters). ``bf(...) + bf(...)`` is brms's multivariate model
(:mod:`pyglmm.formula.multivariate`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import FormulaError
from .parser import ParsedFormula, parse_formula


@dataclass(frozen=True)
class BrmsFormula:
    """A main formula and the formulas of distributional parameters (``pg.bf``).

    ``formula``: the main formula text (``"y ~ x + (1 | g)"``); ``dpars``: (parameter, formula
    text) pairs in the order given, each text with the parameter as its left side
    (``("sigma", "sigma ~ x")``).
    """

    formula: str
    dpars: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        parse_formula(self.formula)  # FormulaError with a caret
        seen: set[str] = set()
        for name, text in self.dpars:
            if name in seen:
                raise FormulaError(f"distributional parameter {name!r} has two formulas", text, 0)
            seen.add(name)
            parsed = parse_formula(text)
            if parsed.response.strip() != name:
                raise FormulaError(
                    f"the left side of a distributional formula names its parameter "
                    f"({name!r}), got {parsed.response.strip()!r}",
                    text,
                    0,
                )

    @property
    def dpar_names(self) -> tuple[str, ...]:
        """The parameters with a formula, in the order given."""
        return tuple(name for name, _ in self.dpars)

    def parsed_dpars(self) -> dict[str, ParsedFormula]:
        """Each parameter's :class:`ParsedFormula` (its ``response`` is the parameter's name)."""
        return {name: parse_formula(text) for name, text in self.dpars}

    def __str__(self) -> str:
        return "\n".join([self.formula, *(text for _, text in self.dpars)])

    def __add__(self, other: object) -> MvFormula:
        """``bf(...) + bf(...)``: a multivariate model (:class:`MvFormula`)."""
        return MvFormula((self,)) + other

    def __radd__(self, other: object) -> MvFormula:
        return MvFormula((*_parts_of(other), self))


def resp_name(response: str) -> str:
    """brms's name of a response: its text with every character other than a letter or a
    digit removed (``y_1`` -> ``y1``, ``log(y)`` -> ``logy``)."""
    return re.sub(r"[^A-Za-z0-9]", "", response)


@dataclass(frozen=True)
class MvFormula:
    """The formulas of a multivariate model, one per response (``parts``, in order)."""

    parts: tuple[BrmsFormula, ...]
    text: str = ""  # the formula as the user wrote it (mvbind), else the parts joined

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for part in self.parts:
            response = _lhs(part.formula)
            name = resp_name(response)
            if not name:
                raise FormulaError(
                    f"response {response!r} has no letters or digits to name it", part.formula, 0
                )
            if name in seen:
                raise FormulaError(
                    f"two responses are named {name!r} ({seen[name]!r} and {response!r}); each "
                    "response of a multivariate model appears once",
                    part.formula,
                    0,
                )
            seen[name] = response

    @property
    def responses(self) -> tuple[str, ...]:
        """The responses' names (:func:`resp_name`), in order."""
        return tuple(resp_name(_lhs(p.formula)) for p in self.parts)

    def __str__(self) -> str:
        return self.text or " + ".join(f"bf({p.formula!r})" for p in self.parts)

    def __add__(self, other: object) -> MvFormula:
        return MvFormula((*self.parts, *_parts_of(other)))

    def __radd__(self, other: object) -> MvFormula:
        return MvFormula((*_parts_of(other), *self.parts))


def _parts_of(value: object) -> tuple[BrmsFormula, ...]:
    if isinstance(value, MvFormula):
        return value.parts
    if isinstance(value, BrmsFormula):
        return (value,)
    if isinstance(value, str):
        return (BrmsFormula(value),)
    raise TypeError(f"cannot add {type(value).__name__} to a formula (use pg.bf(...) + pg.bf(...))")


def _lhs(text: str) -> str:
    return text.split("~", 1)[0].strip()


def _dpar_text(text: str, name: str | None) -> tuple[str, str]:
    """(parameter, formula text with the parameter as left side) of one dpar formula."""
    if not isinstance(text, str):
        raise TypeError(f"a distributional formula must be a string, got {type(text).__name__}")
    stripped = text.strip()
    if name is None:  # positional: "sigma ~ x"
        if stripped.startswith("~"):
            raise FormulaError(
                "a distributional formula names its parameter on the left, e.g. 'sigma ~ x' "
                "(or pass it as a keyword: bf(..., sigma='~ x'))",
                text,
                0,
            )
        lhs = stripped.split("~", 1)[0].strip()
        if not lhs.isidentifier():
            raise FormulaError(
                f"the left side of a distributional formula is a parameter name, got {lhs!r}",
                text,
                0,
            )
        return lhs, stripped
    if stripped.startswith("~"):
        return name, f"{name} {stripped}"
    return name, stripped  # "sigma ~ x" as sigma=...: __post_init__ checks the name matches


def bf(formula: str, *dpar_formulas: str, **dpars: str) -> BrmsFormula:
    """brms's ``bf``: ``bf("y ~ x + (1 | g)", "sigma ~ x")`` or ``bf("y ~ x", sigma="~ x")``
    (see the module docstring). Returns a :class:`BrmsFormula` for ``pg.Model``."""
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__}")
    pairs = [_dpar_text(t, None) for t in dpar_formulas]
    pairs += [_dpar_text(t, k) for k, t in dpars.items()]
    return BrmsFormula(formula, tuple(pairs))


def dpar_design_formula(parsed: ParsedFormula, main: ParsedFormula) -> ParsedFormula:
    """A dpar formula with the main formula's response, as the design stage builds it (the
    parameter's name is not a column); its text keeps what the user wrote."""
    return replace(parsed, response=main.response)
