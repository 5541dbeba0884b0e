"""brms/mgcv smooth terms ``s(x)``, ``s(x, k = 10)``, ``s(x, by = f)`` in the fixed part.

A smooth is a whole term of the right-hand side (not a factor of an interaction, not inside
another call); the parser takes it out of the fixed part and keeps a :class:`SmoothTerm`, which
the design turns into a penalized regression spline in its mixed-model form
(:mod:`pyglmm.design.smooths`).

Arguments, as mgcv's ``s()``: one or more bare column names (the covariates), then the
keywords ``k`` (basis dimension, an integer of at least ``M + 1``, ``M`` the dimension of the
penalty's null space: 2 for one covariate, 3 for two; default ``M + 8`` for one covariate and
``M + 27`` for two, mgcv's), ``by`` (a column: one smooth per level of a factor) and ``bs``
(the basis; only mgcv's default ``"tp"``, the thin plate regression spline). mgcv's other
arguments and bases, and ``t2()`` tensor products, are refused with a
:class:`~pyglmm.errors.FormulaError` (:class:`~pyglmm.errors.UnsupportedTermError` for valid
mgcv syntax pyglmm does not fit yet) with the caret under the culprit.

Names follow brms: the term's label is mgcv's label with brms's ``rename`` applied
(``s(x)`` -> ``sx``, ``s(x1,x2)`` -> ``sx1x2``; a factor ``by`` level ``A`` -> ``sxfA``), its
unpenalized columns are ``<label>_1``, ... and its penalized part's SD is ``sds(<label>_1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedTermError
from .lexer import _is, _Source

SMOOTH_CALLS = ("s", "t2")
BASES = ("tp",)  # mgcv's bases pyglmm builds
MGCV_BASES = ("tp", "ts", "ds", "cr", "cs", "cc", "sos", "ps", "cp", "bs", "re", "mrf", "gp", "so")
MAX_COVARIATES = 2


def null_space_dim(d: int) -> int:
    """``M``: the dimension of the thin plate penalty's null space for ``d`` covariates at
    mgcv's default order ``m`` (the smallest with ``2m > d + 1``): the polynomials of degree
    below ``m``, ``choose(m + d - 1, d)``."""
    m = default_order(d)
    out = 1
    for j in range(1, d + 1):
        out = out * (m + d - j) // j
    return out


def default_order(d: int) -> int:
    """mgcv's default penalty order ``m`` for ``d`` covariates: the smallest with ``2m > d + 1``."""
    return (d + 1) // 2 + 1


def default_k(d: int) -> int:
    """mgcv's default basis dimension ``M + (8, 27, 100)[d - 1]``."""
    return null_space_dim(d) + (8, 27, 100)[min(d, 3) - 1]


@dataclass(frozen=True)
class SmoothTerm:
    """One ``s(...)`` term: ``covariates`` (columns), ``k`` (basis dimension), ``by`` (a
    factor column, or ``""``), ``bs`` (``"tp"``), ``span`` (character offsets of the call),
    ``text`` (the call as written)."""

    covariates: tuple[str, ...]
    k: int
    by: str
    bs: str
    span: tuple[int, int]
    text: str

    @property
    def label(self) -> str:
        """brms's label: ``sx``, ``sx1x2`` (mgcv's ``s(x1,x2)`` without brackets and commas)."""
        return "s" + "".join(self.covariates)

    @property
    def variables(self) -> tuple[str, ...]:
        return (*self.covariates, *((self.by,) if self.by else ()))


def is_smooth_call(src: _Source, a: int, b: int) -> bool:
    """Whether tokens ``a:b`` are exactly one call ``s(...)`` or ``t2(...)``."""
    toks = src.tokens
    return (
        b - a >= 3
        and toks[a].kind == "name"
        and toks[a].text in SMOOTH_CALLS
        and _is(toks[a + 1], "(")
        and src.match.get(a + 1) == b - 1
    )


def refuse_smooth(src: _Source, a: int, b: int, where: str) -> None:
    """A :class:`FormulaError` at the first ``s(`` / ``t2(`` call in tokens ``a:b`` that is not a
    whole term (``where``: e.g. "an interaction or another call")."""
    toks = src.tokens
    for k in range(a, b - 1):
        if (
            toks[k].kind == "name"
            and toks[k].text in SMOOTH_CALLS
            and _is(toks[k + 1], "(")
            and (k == 0 or not _is(toks[k - 1], "."))
        ):
            raise src.error(
                f"{toks[k].text}() must be a whole term of the formula (y ~ s(x) + z), not part "
                f"of {where}",
                toks[k].start,
            )


def smooth_term(src: _Source, a: int, b: int) -> SmoothTerm:
    """The :class:`SmoothTerm` of the call at tokens ``a:b`` (see the module docstring)."""
    toks = src.tokens
    name = toks[a].text
    if name == "t2":
        raise UnsupportedTermError(
            "t2() tensor product smooths are not supported yet; use s() of one or two covariates",
            src.text,
            toks[a].start,
        )
    covariates: list[str] = []
    k: int | None = None
    k_pos = toks[a].start
    by, bs = "", "tp"
    for _sep, x, y in src.split_commas(a + 2, b - 1):
        if x == y:
            raise src.error(f"{name}(): empty argument", src.pos(y))
        if y - x >= 2 and toks[x].kind == "name" and _is(toks[x + 1], "="):
            key, vx = toks[x].text, x + 2
            if vx >= y:
                raise src.error(f"{name}(): expected a value after '{key} ='", src.pos(y))
            if key == "k":
                k, k_pos = _integer(src, vx, y, name), toks[vx].start
            elif key == "by":
                if y - vx != 1 or toks[vx].kind != "name":
                    raise src.error(f"{name}(): by = takes a column name", toks[vx].start)
                by = toks[vx].text
            elif key == "bs":
                bs = _basis(src, vx, y, name)
            elif key in ("m", "fx", "id", "xt", "sp", "pc", "d", "mp", "np"):
                raise UnsupportedTermError(
                    f"{name}(): argument {key!r} is not supported yet (k, by and bs are)",
                    src.text,
                    toks[x].start,
                )
            else:
                raise src.error(
                    f"{name}(): unknown argument {key!r}; known: k, by, bs", toks[x].start
                )
            continue
        if covariates and (k is not None or by or bs != "tp"):
            raise src.error(f"{name}(): covariates go before the named arguments", toks[x].start)
        if y - x != 1 or toks[x].kind != "name" or not toks[x].text.isidentifier():
            raise src.error(
                f"{name}(): a covariate is a column name (s(x), s(x1, x2)); transform it in "
                "the data first",
                toks[x].start,
            )
        if toks[x].text in covariates:
            raise src.error(f"{name}(): covariate {toks[x].text!r} twice", toks[x].start)
        covariates.append(toks[x].text)
    if not covariates:
        raise src.error(f"{name}() needs a covariate, e.g. s(x)", toks[a].start)
    if len(covariates) > MAX_COVARIATES:
        raise UnsupportedTermError(
            f"{name}() of {len(covariates)} covariates is not supported yet (at most "
            f"{MAX_COVARIATES})",
            src.text,
            toks[a].start,
        )
    if by and by in covariates:
        raise src.error(f"{name}(): by = {by!r} is also a covariate", toks[a].start)
    d = len(covariates)
    M = null_space_dim(d)
    if k is None:
        k = default_k(d)
    elif k < M + 1:
        raise src.error(
            f"{name}(): k = {k} is too small: a thin plate spline of {d} covariate"
            f"{'s' if d > 1 else ''} needs k >= {M + 1} (its null space has dimension {M}, "
            "one of which the centering constraint removes)",
            k_pos,
        )
    text = src.text[toks[a].start : toks[b - 1].end]
    return SmoothTerm(tuple(covariates), k, by, bs, (toks[a].start, toks[b - 1].end), text)


def _integer(src: _Source, x: int, y: int, name: str) -> int:
    toks = src.tokens
    if y - x != 1 or toks[x].kind != "number":
        raise src.error(f"{name}(): k = takes an integer (the basis dimension)", toks[x].start)
    try:
        value = float(toks[x].text)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise src.error(f"{name}(): k = takes an integer, got {toks[x].text}", toks[x].start)
    return int(value)


def _basis(src: _Source, x: int, y: int, name: str) -> str:
    toks = src.tokens
    tok = toks[x]
    if y - x != 1 or tok.kind != "string":
        raise src.error(f'{name}(): bs = takes a quoted basis name, e.g. bs = "tp"', tok.start)
    bs = tok.text[1:-1]
    if bs in BASES:
        return bs
    if bs in MGCV_BASES:
        raise UnsupportedTermError(
            f'{name}(): basis bs = "{bs}" is not supported yet (only mgcv\'s default "tp", the '
            "thin plate regression spline)",
            src.text,
            tok.start,
        )
    raise src.error(f'{name}(): unknown basis bs = "{bs}"; known: "tp"', tok.start)
