"""The covariance syntax of random-effect terms: brms's ``gr(g, cov = A)`` as the grouping part,
and glmmTMB's structure wrappers ``ar1(...)``, ``cs(...)``, ``diag(...)``, ``us(...)`` around a
whole ``terms | group`` term.

* ``gr(g, cov = A)``: the levels of ``g`` correlated through a known matrix named ``A`` (found in
  ``Model(data2=...)``); ``gr(a:b, cov = kron(U, V))``: the levels of ``a:b`` through the
  Kronecker product of ``U`` (levels of ``a``) and ``V`` (levels of ``b``). ``gr(g)`` alone is
  ``g``. brms's other ``gr`` arguments (``by``, ``id``, ``dist``, ``cor``) are refused.
* ``ar1(0 + time | g)``, ``cs(x | g)``, ``diag(x | g)``, ``us(x | g)``: the covariance of a
  level's effects across the term's columns (glmmTMB's meaning, see
  :mod:`pyglmm.design.blocks`).

Errors are :class:`~pyglmm.errors.FormulaError` with a caret under the offending token.
"""

from __future__ import annotations

from .lexer import _BARS, _is, _Source

# glmmTMB's structure wrappers pyglmm knows (a term ``name(terms | group)``)
STRUCTURES = ("ar1", "cs", "diag", "us")


def structure_call(src: _Source, a: int, b: int) -> str:
    """The wrapper name when tokens ``a:b`` are one call ``ar1( ... | ... )`` (a structure of
    :data:`STRUCTURES` around a random-effect term), else ``""``."""
    toks = src.tokens
    if b - a < 3 or toks[a].kind != "name" or toks[a].text not in STRUCTURES:
        return ""
    if not _is(toks[a + 1], "(") or src.match.get(a + 1) != b - 1:
        return ""
    if len(src.split(a + 2, b - 1, _BARS)) < 2:
        raise src.error(
            f"{toks[a].text}() wraps a random-effect term: write {toks[a].text}(terms | group)",
            toks[a].start,
        )
    return toks[a].text


def gr_call(src: _Source, i: int, close: int) -> tuple[int, tuple[str, ...]] | None:
    """brms's ``gr(group, cov = ...)`` spanning tokens ``i`` to ``close`` (exclusive), or None
    when the grouping part is not a ``gr`` call. Returns (the token ending the group inside
    ``gr``, the ``data2`` names of ``cov``: ``("A",)``, ``("U", "V")`` for ``kron(U, V)``, or
    ``()`` without ``cov``)."""
    toks = src.tokens
    if not (i + 1 < close and toks[i].text == "gr" and toks[i].kind == "name"):
        return None
    if not _is(toks[i + 1], "("):
        return None
    inner_close = src.match[i + 1]
    if inner_close != close - 1:
        raise src.error("unexpected text after gr(...)", toks[inner_close + 1].start)
    parts = src.split_commas(i + 2, inner_close)
    _, g_start, g_end = parts[0]
    if g_start == g_end:
        raise src.error("gr() needs a grouping factor: gr(g, cov = A)", src.pos(g_start))
    cov: tuple[str, ...] = ()
    for sep, a, b in parts[1:]:
        if a == b:
            raise src.error("expected an argument after ','", toks[sep].start)
        if not (b - a >= 3 and toks[a].kind == "name" and _is(toks[a + 1], "=")):
            raise src.error("gr() takes 'cov = NAME' after the grouping factor", toks[a].start)
        if toks[a].text != "cov":
            raise src.error(
                f"gr() argument {toks[a].text!r} is not supported (only cov = NAME or "
                "cov = kron(U, V))",
                toks[a].start,
            )
        if cov:
            raise src.error("gr() takes one 'cov' argument", toks[a].start)
        cov = _cov_value(src, a + 2, b)
    return g_end, cov


def _cov_value(src: _Source, a: int, b: int) -> tuple[str, ...]:
    """The names in ``cov = NAME`` or ``cov = kron(U, V)`` (tokens ``a:b``)."""
    toks = src.tokens
    if b - a == 1 and toks[a].kind == "name":
        return (toks[a].text,)
    if toks[a].kind == "name" and toks[a].text == "kron" and b - a > 1 and _is(toks[a + 1], "("):
        if src.match[a + 1] != b - 1:
            raise src.error("unexpected text after kron(...)", toks[src.match[a + 1] + 1].start)
        names = []
        for sep, x, y in src.split_commas(a + 2, b - 1):
            if y - x != 1 or toks[x].kind != "name":
                where = toks[x].start if x < y else (toks[sep].start if sep >= 0 else toks[a].start)
                raise src.error("kron() takes two matrix names: kron(U, V)", where)
            names.append(toks[x].text)
        if len(names) != 2:
            raise src.error("kron() takes two matrix names: kron(U, V)", toks[a].start)
        return tuple(names)
    raise src.error(
        "cov = takes the name of a matrix in data2, or kron(U, V)", src.pos(a) if a < b else a
    )
