"""Small text operations on formula pieces, shared by the parser and the design: the data columns
an expression reads (:func:`variable_names`), splitting a sum into signed terms and joining it
back, splitting ``f(a, b)`` into its name and arguments, and ``a | b`` at top-level bars. All work
on tokens (:mod:`pyglmm.formula.lexer`), so strings, brackets and operators are respected.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable

from ..errors import FormulaError as FormulaError  # defined in errors, raised here
from .lexer import _CLOSE, _NOT_VARIABLES, _OPEN, _is, _Source, tokenize


def variable_names(text: str) -> list[str]:
    """Bare identifiers read from the data in ``text``, in order (duplicates kept once)."""
    toks = tokenize(text)
    names: list[str] = []
    depth = 0
    for k, tok in enumerate(toks):
        if tok.kind == "op":
            depth += tok.text in _OPEN
            depth -= tok.text in _CLOSE
            continue
        if tok.kind != "name":
            continue
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        prv = toks[k - 1] if k > 0 else None
        if tok.text == "Q" and nxt is not None and _is(nxt, "("):
            arg = toks[k + 2] if k + 2 < len(toks) else None
            if arg is not None and arg.kind == "string":
                names.append(_unquote(arg.text))
            continue
        if nxt is not None and _is(nxt, "(", "."):
            continue
        if nxt is not None and depth > 0 and _is(nxt, "="):
            continue  # keyword argument
        if prv is not None and _is(prv, "."):
            continue
        if tok.text in _NOT_VARIABLES or keyword.iskeyword(tok.text):
            continue
        if keyword.issoftkeyword(tok.text):
            continue
        names.append(tok.text)
    return list(dict.fromkeys(names))


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def split_terms(text: str) -> list[tuple[str, str]]:
    """Split a right-hand side at top-level ``+``/``-``: ``[(sign, term text), ...]``."""
    src = _Source(text)
    out: list[tuple[str, str]] = []
    for sep, a, b in src.split(0, len(src.tokens), {"+", "-"}):
        if a == b:
            continue
        sign = src.tokens[sep].text if sep >= 0 else "+"
        out.append((sign, src.render(a, b).strip()))
    return out


def join_terms(terms: list[tuple[str, str]]) -> str:
    """Inverse of :func:`split_terms`; an empty list gives ``""``."""
    out = ""
    for sign, term in terms:
        if not out:
            out = term if sign == "+" else f"-{term}"
        else:
            out += f" {sign} {term}"
    return out


def split_call(text: str) -> tuple[str, list[str]] | None:
    """``"f(a, b)"`` -> ``("f", ["a", "b"])``; None unless ``text`` is exactly one call."""
    src = _Source(text)
    toks = src.tokens
    if len(toks) < 3 or toks[0].kind != "name" or not _is(toks[1], "("):
        return None
    if src.match[1] != len(toks) - 1:
        return None
    if len(toks) == 3:
        return toks[0].text, []
    args = [
        text[toks[a].start : toks[b - 1].end]
        for _, a, b in src.split_commas(2, len(toks) - 1)
        if a < b
    ]
    return toks[0].text, args


def split_bar(text: str) -> list[str]:
    """Split ``text`` at top-level ``|`` (brms' ``y | trials(n)``)."""
    src = _Source(text)
    parts = src.split(0, len(src.tokens), {"|"})
    return [src.render(a, b).strip() for _, a, b in parts]


_BACKTICK = re.compile(r"`([^`]*)`")


def quote_columns(text: str, columns: Iterable[object]) -> str:
    """``text`` with the column names that Python cannot read as names written ``Q("...")``:

    * brms's backticks, ``` `my x` ``` (any name);
    * R's dotted names, ``Sepal.Length`` written without spaces, when that is a column of the
      data (so ``np.log(x)`` and ``np.e`` are left alone);
    * a column named like a Python keyword (``lambda``, ``class``).
    """
    names = {str(c) for c in columns}
    text = _BACKTICK.sub(lambda m: "Q(" + repr(m.group(1)).replace("'", '"', 2) + ")", text)
    toks = tokenize(text)
    edits: list[tuple[int, int, str]] = []
    k = 0
    while k < len(toks):
        tok = toks[k]
        if tok.kind != "name" or (k > 0 and _is(toks[k - 1], ".")):
            k += 1
            continue
        j, name = k, tok.text
        while (
            j + 2 < len(toks)
            and _is(toks[j + 1], ".")
            and toks[j + 2].kind == "name"
            and toks[j].end == toks[j + 1].start
            and toks[j + 1].end == toks[j + 2].start
        ):
            name, j = f"{name}.{toks[j + 2].text}", j + 2
        called = j + 1 < len(toks) and _is(toks[j + 1], "(")
        if name in names and not called and ("." in name or keyword.iskeyword(name)):
            edits.append((tok.start, toks[j].end, f'Q("{name}")'))
        k = j + 1
    for start, end, new in reversed(edits):
        text = text[:start] + new + text[end:]
    return text
