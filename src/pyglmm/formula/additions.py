"""brms's addition terms of the response: ``y | term(...) + term(...) ~ ...``.

The left-hand side is the response expression, then (after one ``|``) a ``+``-separated list
of calls, each at most once (brms's names and arguments):

=====================  ==========================================================  ========
term                   meaning                                                      arguments
=====================  ==========================================================  ========
``trials(n)``          binomial trials                                              n
``weights(w)``         each row's log-likelihood multiplied by ``w``                w
``se(s, sigma=F)``     known standard errors (gaussian): residual SD ``s`` (or      s, sigma
                       ``sqrt(sigma^2 + s^2)`` with ``sigma = TRUE``)
``rate(t)``            exposure: ``log(t)`` added to the linear predictor (log      t
                       link)
``cens(c, y2)``        censoring per row: ``c`` in "left"/"none"/"right"/          c, y2
                       "interval" or -1/0/1/2; ``y2`` the upper bound of an
                       interval
``trunc(lb, ub)``      truncation bounds (constants or columns)                     lb, ub
=====================  ==========================================================  ========

:func:`addition_terms` checks the syntax on the formula's tokens, so an unknown term, a
repeated one or a wrong argument raises :class:`FormulaError` with a caret under it; the design
evaluates the argument texts (:mod:`pyglmm.design.additions`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormulaError as FormulaError  # defined in errors, raised here
from .lexer import _is, _Source

# term -> (positional/keyword argument names in order, how many are required)
ADDITION_TERMS: dict[str, tuple[tuple[str, ...], int]] = {
    "trials": (("n",), 1),
    "weights": (("w",), 1),
    "se": (("se", "sigma"), 1),
    "rate": (("denom",), 1),
    "cens": (("x", "y2"), 1),
    "trunc": (("lb", "ub"), 0),
}


@dataclass(frozen=True)
class AdditionTerm:
    """One addition term: its ``name`` and its arguments' texts by argument name (``args``,
    in :data:`ADDITION_TERMS` order; absent optional arguments are left out)."""

    name: str
    args: tuple[tuple[str, str], ...]

    def get(self, arg: str, default: str | None = None) -> str | None:
        return dict(self.args).get(arg, default)


@dataclass(frozen=True)
class Response:
    """The left-hand side: the response expression (``"y"``, ``"cbind(s, f)"``) and its
    addition terms by name."""

    y: str
    terms: tuple[AdditionTerm, ...] = ()

    def term(self, name: str) -> AdditionTerm | None:
        return next((t for t in self.terms if t.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.terms)


def addition_terms(src: _Source, i: int, j: int) -> Response:
    """The :class:`Response` of tokens ``[i, j)`` of ``src`` (the left-hand side); errors point
    into ``src.text``."""
    toks = src.tokens
    parts = src.split(i, j, {"|"})
    y = src.render(parts[0][1], parts[0][2]).strip()
    if len(parts) == 1:
        return Response(y)
    if len(parts) > 2:
        raise src.error(
            "one '|' separates the response from its addition terms; join the terms with '+' "
            "(brms: y | cens(c) + weights(w))",
            toks[parts[2][0]].start,
        )
    terms: list[AdditionTerm] = []
    for _, a, b in src.split(parts[1][1], parts[1][2], {"+"}):
        if a == b:
            raise src.error("expected an addition term", src.pos(b))
        name = toks[a].text
        if (
            toks[a].kind != "name"
            or a + 1 >= b
            or not _is(toks[a + 1], "(")
            or src.match[a + 1] != b - 1
        ):
            raise src.error(
                f"expected an addition term such as weights(w), got {src.render(a, b)!r}",
                toks[a].start,
            )
        if name not in ADDITION_TERMS:
            known = ", ".join(f"{t}()" for t in ADDITION_TERMS)
            raise src.error(
                f"unknown addition term {name}(); brms's terms here: {known}", toks[a].start
            )
        if name in (t.name for t in terms):
            raise src.error(f"addition term {name}() given twice", toks[a].start)
        terms.append(_term(src, name, a + 1, b - 1))
    names = {t.name for t in terms}
    if "trials" in names and y.replace(" ", "").startswith("cbind("):
        raise src.error("cbind(s, f) already gives the trials; drop trials()", toks[i].start)
    return Response(y, tuple(terms))


def _term(src: _Source, name: str, open_: int, close: int) -> AdditionTerm:
    """The arguments between brackets ``open_`` and ``close`` of term ``name``."""
    toks = src.tokens
    allowed, required = ADDITION_TERMS[name]
    given: dict[str, str] = {}
    if close > open_ + 1:
        positional = 0
        for _, a, b in src.split_commas(open_ + 1, close):
            if a == b:
                raise src.error(f"empty argument of {name}()", src.pos(b))
            if b - a >= 2 and toks[a].kind == "name" and _is(toks[a + 1], "="):
                arg, a = toks[a].text, a + 2
                if arg not in allowed:
                    raise src.error(
                        f"{name}() has no argument {arg!r}; its arguments: {', '.join(allowed)}",
                        toks[a - 2].start,
                    )
            else:
                if positional >= len(allowed) or given.keys() - set(allowed[:positional]):
                    raise src.error(f"too many arguments to {name}()", toks[a].start)
                arg = allowed[positional]
                positional += 1
            if arg in given:
                raise src.error(f"argument {arg!r} of {name}() given twice", toks[a].start)
            if a == b:
                raise src.error(f"expected a value for {arg!r}", src.pos(b))
            src.check_expr(a, b, unary=True, bars=False, after="=")
            given[arg] = src.render(a, b).strip()
    missing = [a for a in allowed[:required] if a not in given]
    if missing:
        raise src.error(f"{name}() needs its argument {missing[0]!r}", toks[close].start)
    return AdditionTerm(name, tuple((a, given[a]) for a in allowed if a in given))


def parse_response(text: str) -> Response:
    """The :class:`Response` of a left-hand side's text (errors point into ``text``)."""
    src = _Source(text)
    if not src.tokens:
        raise src.error("missing response", 0)
    return addition_terms(src, 0, len(src.tokens))
