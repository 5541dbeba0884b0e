"""brms's measurement-error terms ``me(x, sdx)`` in the fixed part of a formula.

``me(x, sdx)`` stands for a latent predictor: the true values of the column ``x``, observed
with the known standard deviations of the column ``sdx`` (:mod:`pyglmm.design.measurement`,
:mod:`pyglmm.compile.measurement`). The parser replaces each call by a placeholder name, the
coefficient brms reports, ``"me" + x + sdx`` (``me(x1, sd1)`` -> ``mex1sd1``), so patsy builds
its column and its interactions (``me(x1, sd1):z`` -> ``mex1sd1:z``) from the observed values;
the latent values replace them in the model. The latent variable itself is named ``"me" + x``
(``mex1``: brms's ``meanme_mex1``, ``sdme_mex1``, ``Xme_mex1``).

Allowed: a call as a term or as a factor of an interaction (``me(x, s)``, ``me(x, s):z``,
``me(x, s) * z``), the arguments bare column names. Refused with a
:class:`~pyglmm.errors.FormulaError` (caret under the call): ``me()`` inside another call
(``I(me(x, s)**2)``, ``np.log(me(x, s))``), brms's ``gr =`` argument, other arguments than two
column names, one ``x`` with two different ``sdx``, and ``me()`` in the response or inside a
random-effect term (``(1 + me(x, s) | g)``, brms's latent slopes by group: not supported yet,
an :class:`~pyglmm.errors.UnsupportedTermError`, which is also an ``UnsupportedModelError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UnsupportedModelError, UnsupportedTermError
from .lexer import _is, _Source

ME = "me"


@dataclass(frozen=True)
class MeTerm:
    """One ``me(x, sdx)``: ``x``/``sdx`` the columns, ``coef`` the placeholder and slope name
    (``mex1sd1``), ``name`` the latent variable's (``mex1``)."""

    x: str
    sdx: str
    coef: str
    name: str


def _is_call(src: _Source, k: int, end: int) -> bool:
    toks = src.tokens
    return (
        toks[k].kind == "name"
        and toks[k].text == ME
        and k + 1 < end
        and _is(toks[k + 1], "(")
        and (k == 0 or not _is(toks[k - 1], "."))
    )


def refuse_me(src: _Source, a: int, b: int, where: str, unsupported: bool = False) -> None:
    """A :class:`FormulaError` at the first ``me(`` call in tokens ``a:b`` (``where``: the
    part of the formula, e.g. "a random-effect term"); ``unsupported``: an
    :class:`~pyglmm.errors.UnsupportedTermError` (also an ``UnsupportedModelError``), for
    syntax brms fits and pyglmm does not yet."""
    for k in range(a, b):
        if _is_call(src, k, b):
            reason = (
                f"me() is not supported in {where} yet: measurement-error terms go in the "
                "fixed part (me(x, sdx), me(x, sdx):z)"
            )
            if unsupported:
                raise UnsupportedTermError(reason, src.text, src.tokens[k].start)
            raise src.error(reason, src.tokens[k].start)


def render_fixed(src: _Source, a: int, b: int, found: dict[str, MeTerm]) -> str:
    """The text of the fixed term ``a:b`` with each ``me(x, sdx)`` call replaced by its
    placeholder (``^`` rewritten to ``**``, as ``_Source.render``); the calls' terms are added
    to ``found`` (keyed by ``x``)."""
    toks = src.tokens
    out: list[str] = []
    k, prev = a, toks[a].start
    depth_open: list[int] = []  # open brackets enclosing token k (within the term)
    while k < b:
        tok = toks[k]
        if _is_call(src, k, b):
            if depth_open:
                raise src.error(
                    "me() must be a term or a factor of an interaction (me(x, sdx), "
                    "me(x, sdx):z), not inside another call or brackets",
                    tok.start,
                )
            close = src.match[k + 1]
            term = _me_term(src, k, close)
            seen = found.get(term.x)
            if seen is not None and seen.sdx != term.sdx:
                raise src.error(
                    f"variable {term.x!r} is used in two me() calls with different "
                    f"measurement errors ({seen.sdx!r} and {term.sdx!r})",
                    tok.start,
                )
            found[term.x] = term
            out.append(src.text[prev : tok.start] + term.coef)
            prev, k = toks[close].end, close + 1
            continue
        if _is(tok, "(", "[", "{"):
            depth_open.append(k)
        elif _is(tok, ")", "]", "}") and depth_open:
            depth_open.pop()
        out.append(src.text[prev : tok.start])
        out.append("**" if _is(tok, "^") else tok.text)
        prev, k = tok.end, k + 1
    return "".join(out)


def _me_term(src: _Source, k: int, close: int) -> MeTerm:
    """The :class:`MeTerm` of the call ``me( ... )`` at tokens ``k`` .. ``close``."""
    toks = src.tokens
    parts = src.split_commas(k + 2, close)
    names: list[str] = []
    for _sep, x, y in parts:
        if x < y and y - x >= 2 and toks[x].kind == "name" and _is(toks[x + 1], "="):
            what = "gr = (a grouping of the latent values)" if toks[x].text == "gr" else "named"
            raise src.error(f"me(): {what} arguments are not supported", toks[x].start)
        if y - x != 1 or toks[x].kind != "name":
            where = toks[x].start if x < y else src.pos(y)
            raise src.error("me() takes two column names: me(x, sdx)", where)
        names.append(toks[x].text)
    if len(names) != 2:
        raise src.error("me() takes two column names: me(x, sdx)", toks[k].start)
    column, sd_column = names
    return MeTerm(column, sd_column, coef=f"{ME}{column}{sd_column}", name=f"{ME}{column}")


def refuse_me_with_dpars(main: Any, dpars: Mapping[str, Any]) -> None:
    """:class:`~pyglmm.errors.UnsupportedModelError` for ``me()`` terms in a model with
    distributional formulas (``pg.bf``), in the mean's formula or a parameter's (parsed
    formulas, ``.me`` their terms)."""
    where = (["the mean's formula"] if main.me else []) + [
        f"the formula of {name!r}" for name, f in dpars.items() if f.me
    ]
    if where:
        raise UnsupportedModelError(
            f"me() terms in a model with distributional formulas (pg.bf; here in "
            f"{', '.join(where)}) are not supported yet: fit the me() model without "
            "distributional formulas"
        )
