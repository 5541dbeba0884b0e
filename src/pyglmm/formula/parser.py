"""Stage 1: parse an lme4/brms formula into a typed, expanded description.

``parse_formula("Reaction ~ Days + (Days | Subject)")`` returns a :class:`ParsedFormula`:

* ``response``: the left-hand side as text (``"Reaction"``, ``"np.log(y)"``,
  ``"cbind(s, f)"``; brms' ``"s | trials(n)"`` keeps its text too).
* ``fixed``: the fixed-effect right-hand side with every ``( ... | ...)`` term removed, in
  patsy syntax (``^`` rewritten to ``**``), e.g. ``"1 + Days"`` or ``"0 + x"``. An empty fixed
  part becomes ``"1"``; ``"0"``/``"-1"`` are kept.
* ``random``: the random-effect terms *after* expansion of the lme4 shorthands:

  - ``(x || g)``  -> one term with ``correlated=False`` (the design stage makes it a ``"diag"``
    block: an independent SD per model-matrix column, lme4's split semantics);
  - ``(1 | a/b)`` -> ``(1 | a) + (1 | a:b)``  (and ``a/b/c`` -> ``a``, ``a:b``, ``a:b:c``);
  - ``(1 | a:b)`` -> group ``("a", "b")`` (levels are the observed combinations);
  - ``(1 | a + b)`` is not lme4 syntax and raises; crossed factors are ``(1|a) + (1|b)``;
  - ``(x |p| g)`` (brms's ID): ``id="p"``; the design stage merges every term with the same
    ID and grouping factor (in one formula or across the formulas of ``pg.bf``) into one
    correlated block (:mod:`pyglmm.design.ids`).

  Covariances among levels and structured covariances (:mod:`pyglmm.formula.structures`):

  - ``(x | gr(g, cov = A))`` (brms): the levels of ``g`` are correlated through the known
    matrix ``A``, looked up by name in ``Model(data2={"A": A})``: ``cov=("A",)``;
  - ``(1 | gr(a:b, cov = kron(U, V)))``: the levels of ``a:b`` through ``U (x) V``:
    ``cov=("U", "V")``;
  - ``ar1(0 + time | g)``, ``cs(x | g)``, ``diag(x | g)``, ``us(x | g)`` (glmmTMB) as whole
    terms: ``structure="ar1"`` etc.

* ``smooths``: brms/mgcv smooth terms ``s(x)``, ``s(x, k = 5, by = f)`` of the fixed part
  (:mod:`pyglmm.formula.smooths`), taken out of ``fixed``.
* ``me``: brms's measurement-error terms ``me(x, sdx)`` of the fixed part
  (:mod:`pyglmm.formula.measurement`), each replaced in ``fixed`` by its placeholder column
  (``mex1sd1``).

Errors raise :class:`FormulaError`, whose message repeats the formula with a caret under the
offending position.

The formula is tokenized once with character spans; every error points at a token (or at the
end of the formula when something is missing there).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import FormulaError as FormulaError  # defined in errors, raised here
from .additions import addition_terms
from .lexer import _BARS, Token, _is, _Source
from .measurement import MeTerm, refuse_me, render_fixed
from .smooths import SmoothTerm, is_smooth_call, refuse_smooth, smooth_term
from .structures import gr_call, structure_call
from .text import _unquote, join_terms, variable_names


@dataclass(frozen=True)
class RandomTerm:
    """One expanded ``(expr | group)`` term.

    ``expr``: the left of the bar as patsy text (``"1 + Days"``, ``"0 + cond"``); an implicit
    intercept follows R's rules (``(x|g)`` has one, ``(0 + x|g)`` does not).
    ``group``: the grouping variables; more than one means their interaction ``a:b``.
    ``correlated``: ``False`` for ``||``.
    ``span``: (start, end) character offsets of the whole parenthesised term in the formula.
    ``cov``: the ``data2`` names of ``gr(g, cov = A)`` (one name) or ``gr(a:b, cov = kron(U,
    V))`` (two names), else empty.
    ``structure``: the glmmTMB wrapper of the term (``"ar1"``, ``"cs"``, ``"diag"``,
    ``"us"``), else ``""``.
    ``id``: brms's correlation ID of ``(x |p| g)`` (``"p"``), else ``""``.
    """

    expr: str
    group: tuple[str, ...]
    correlated: bool
    span: tuple[int, int]
    cov: tuple[str, ...] = ()
    structure: str = ""
    id: str = ""

    @property
    def group_name(self) -> str:
        """The grouping factor as lme4 prints it: ``"Subject"``, ``"a:b"``."""
        return ":".join(self.group)


@dataclass(frozen=True)
class ParsedFormula:
    formula: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]
    me: tuple[MeTerm, ...] = ()
    smooths: tuple[SmoothTerm, ...] = ()

    def fixed_variables(self) -> list[str]:
        """The data columns the fixed part reads: ``me()`` placeholders replaced by their
        ``x`` (their ``sdx`` is read by the model only, see :meth:`variables`), and the
        covariates and ``by`` columns of smooth terms."""
        coefs = {t.coef: t.x for t in self.me}
        names = [coefs.get(n, n) for n in variable_names(self.fixed)]
        names += [v for t in self.smooths for v in t.variables]
        return list(dict.fromkeys(names))

    def variables(self) -> tuple[str, ...]:
        """Every bare identifier the formula reads from the data (response, fixed, random,
        groups, the ``x`` and ``sdx`` of ``me()`` terms), in order of first appearance,
        without functions and modules (``np``, ``C``, ``scale``, ``I``, ``log`` ...)."""
        names: list[str] = [*variable_names(self.response), *self.fixed_variables()]
        names += [t.sdx for t in self.me]
        for term in self.random:
            names += [*variable_names(term.expr), *term.group]
        wanted = set(names)
        try:  # order of first appearance in the original text
            ordered = [n for n in variable_names(self.formula) if n in wanted]
        except FormulaError:
            ordered = []
        return tuple(dict.fromkeys([*ordered, *names]))


def parse_formula(formula: str) -> ParsedFormula:
    """Parse and expand an lme4/brms formula (see the module docstring)."""
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string, got {type(formula).__name__}")
    src = _Source(formula)
    toks = src.tokens
    if not toks:
        raise src.error("empty formula", 0)
    tildes = [k for k, t in enumerate(toks) if _is(t, "~")]
    if not tildes:
        raise src.error("missing '~' between the response and the predictors", 0)
    tilde = tildes[0]
    if any(o < tilde < c for o, c in src.match.items()):
        raise src.error("unexpected '~' inside brackets", toks[tilde].start)
    if len(tildes) > 1:
        raise src.error("unexpected '~' (only one is allowed)", toks[tildes[1]].start)
    if tilde == 0:
        raise src.error("missing response before '~'", toks[0].start)

    src.check_expr(0, tilde, unary=True, bars=True)
    refuse_me(src, 0, tilde, "the response")
    refuse_smooth(src, 0, tilde, "the response")
    addition_terms(src, 0, tilde)  # brms's `y | weights(w) + cens(c)`: checked here
    response = formula[toks[0].start : toks[tilde - 1].end]

    n = len(toks)
    if tilde + 1 >= n:
        raise src.error("expected a term after '~'", len(formula))
    fixed: list[tuple[str, str]] = []
    fixed_keys: set[tuple[str, str]] = set()
    random: list[RandomTerm] = []
    random_keys: set[tuple[str, tuple[str, ...], str, tuple[str, ...], str]] = set()
    me: dict[str, MeTerm] = {}
    smooths: list[SmoothTerm] = []
    for sep, a, b in src.split(tilde + 1, n, {"+", "-"}):
        sign = toks[sep].text if sep >= 0 else "+"
        if a == b:
            if b == tilde + 1 and sep < 0:
                continue  # leading sign: the empty part before it
            raise src.error(f"expected a term after {sign!r}", src.pos(b))
        wrapper = structure_call(src, a, b)
        if wrapper or (
            _is(toks[a], "(") and src.match[a] == b - 1 and len(src.split(a + 1, b - 1, _BARS)) > 1
        ):
            if sign == "-":
                raise src.error("a random-effect term cannot be removed with '-'", toks[sep].start)
            open_ = a + 1 if wrapper else a
            refuse_me(src, a, b, "a random-effect term", unsupported=True)
            refuse_smooth(src, a, b, "a random-effect term")
            for term in _random_terms(src, open_, b - 1, wrapper):
                key = (term.expr.replace(" ", ""), term.group, term.structure, term.cov, term.id)
                if key in random_keys:
                    raise src.error(
                        f"duplicate random-effect term '({term.expr} | {term.group_name})'",
                        toks[a].start,
                    )
                random_keys.add(key)
                random.append(term)
            continue
        if is_smooth_call(src, a, b):
            if sign == "-":
                raise src.error("a smooth term cannot be removed with '-'", toks[sep].start)
            smooth = smooth_term(src, a, b)
            if any(t.covariates == smooth.covariates and t.by == smooth.by for t in smooths):
                raise src.error(f"duplicate smooth term {smooth.text!r}", toks[a].start)
            smooths.append(smooth)
            continue
        refuse_smooth(src, a, b, "an interaction or another call")
        src.check_expr(a, b, unary=False, bars=False, after=sign)
        fkey = (sign, src.key(a, b))
        if fkey in fixed_keys:
            raise src.error(f"duplicate term {src.render(a, b)!r}", toks[a].start)
        fixed_keys.add(fkey)
        fixed.append((sign, render_fixed(src, a, b, me)))

    return ParsedFormula(
        formula=formula,
        response=response,
        fixed=join_terms(fixed) or "1",
        random=tuple(random),
        me=tuple(me.values()),
        smooths=tuple(smooths),
    )


def _random_terms(src: _Source, open_: int, close: int, wrapper: str = "") -> list[RandomTerm]:
    """Parse and expand the random-effect term between brackets ``open_`` and ``close``
    (``wrapper``: the glmmTMB structure the brackets belong to, ``ar1(...)``, or ``""``)."""
    toks = src.tokens
    bars = [k for k, _, _ in src.split(open_ + 1, close, _BARS)[1:]]
    first = bars[0]
    bar, block_id = _id_bars(src, bars, close, wrapper)
    if first == open_ + 1:
        raise src.error(f"expected a term before {toks[first].text!r}", toks[first].start)
    src.check_expr(open_ + 1, first, unary=True, bars=False, after="(")
    if bar + 1 == close:
        raise src.error(f"expected a grouping factor after {toks[bar].text!r}", toks[close].start)

    cov: tuple[str, ...] = ()
    end = close
    call = gr_call(src, bar + 1, close)
    if call is not None:
        end, cov = call
        if cov and wrapper:
            raise src.error(
                f"{wrapper}() and gr(..., cov = ...) cannot be combined in one term",
                toks[open_ - 1].start,
            )
        if cov and block_id:
            raise src.error(
                "a gr(..., cov = ...) term takes no ID (its effects are correlated through "
                "the known matrix)",
                toks[first + 1].start,
            )
    segments = _group_segments(src, bar + 3 if call else bar + 1, end, toks[bar].text)
    if cov and len(segments) > 1:
        raise src.error(
            "gr(..., cov = ...) takes one grouping factor ('g' or 'a:b'), not nested 'a/b'",
            toks[bar + 3].start,
        )
    if len(cov) == 2 and len(segments[0]) != 2:
        raise src.error(
            "cov = kron(U, V) needs a grouping factor of two variables, gr(a:b, cov = kron(U, V))",
            toks[bar + 3].start,
        )

    expr = src.render(open_ + 1, first).strip()
    correlated = toks[bar].text == "|"
    if wrapper and not correlated:
        raise src.error(
            f"{wrapper}() sets the covariance itself: write {wrapper}(terms | group), not '||'",
            toks[bar].start,
        )
    span = (toks[open_ - 1 if wrapper else open_].start, toks[close].end)
    terms: list[RandomTerm] = []
    group: tuple[str, ...] = ()
    for seg in segments:
        group = group + tuple(seg)
        terms.append(RandomTerm(expr, group, correlated, span, cov, wrapper, block_id))
    return terms


def _id_bars(src: _Source, bars: list[int], close: int, wrapper: str) -> tuple[int, str]:
    """(index of the bar before the grouping factor, ID) of a random term whose depth-0 bars
    are at ``bars``: ``(x | g)`` has one bar and no ID; brms's ``(x |p| g)`` has two single
    bars with one name between them. ``(x || p | g)``, ``(x |p|| g)``, ``(x | | g)`` (an
    empty ID), ``(x |p q| g)`` and a third bar are errors pointing at the culprit."""
    toks = src.tokens
    first = bars[0]
    if len(bars) == 1:
        nxt = first + 1
        if nxt < close and _is(toks[nxt], "|", "||"):
            if toks[first].text == "||":
                raise src.error(
                    "'||' takes no ID: brms's ID goes between single bars, (x |p| g)",
                    toks[first].start,
                )
            raise src.error(
                "empty ID between the bars: write (x |p| g) or (x | g)", toks[nxt].start
            )
        return first, ""
    if len(bars) > 2:
        raise src.error("more than two '|' in a random-effect term", toks[bars[2]].start)
    second = bars[1]
    for k in (first, second):
        if toks[k].text == "||":
            raise src.error(
                "an ID goes between single bars, (x |p| g); '||' (uncorrelated terms) takes no ID",
                toks[k].start,
            )
    name = toks[first + 1]
    if second - first != 2 or name.kind != "name" or not name.text.isidentifier():
        culprit = toks[first + 2] if second - first > 2 and name.kind == "name" else name
        raise src.error("an ID is one name between the bars, e.g. (1 |p| g)", culprit.start)
    if wrapper:
        raise src.error(f"{wrapper}() terms take no ID", name.start)
    return second, name.text


def _group_segments(src: _Source, start: int, close: int, prev: str) -> list[list[str]]:
    """The grouping factor between tokens ``start`` and ``close`` (exclusive) as its ``/``
    segments of ``:`` factors; ``prev`` is the text before it (for messages)."""
    toks = src.tokens
    # group: seg ('/' seg)*, seg: factor (':' factor)*, factor: name ('.' name)* | Q("column")
    segments: list[list[str]] = [[]]
    expect_name = True
    k = start
    while k < close:
        tok = toks[k]
        k += 1
        if expect_name:
            if tok.kind != "name":
                raise src.error(
                    f"expected a grouping factor after {prev!r} (a variable name, 'a:b' or 'a/b')",
                    tok.start,
                )
            name, k = _factor_name(toks, k - 1, close)
            segments[-1].append(name)
            expect_name = False
        elif _is(tok, ":", "/"):
            if tok.text == "/":
                segments.append([])
            expect_name, prev = True, tok.text
        else:
            hint = "; crossed factors are written (1|a) + (1|b)" if _is(tok, "+", "*") else ""
            raise src.error(f"unexpected {tok.text!r} in a grouping factor{hint}", tok.start)
    if expect_name:
        raise src.error(f"expected a grouping factor after {prev!r}", src.pos(close))
    return segments


def _factor_name(toks: list[Token], k: int, close: int) -> tuple[str, int]:
    """The column a grouping factor starting at token ``k`` names, and the token after it:
    ``Q("a column")``, a dotted name written without spaces (``g.id``, as in R), or a name."""
    tok = toks[k]
    if (
        tok.text == "Q"
        and k + 3 < close
        and _is(toks[k + 1], "(")
        and toks[k + 2].kind == "string"
        and _is(toks[k + 3], ")")
    ):
        return _unquote(toks[k + 2].text), k + 4
    name, k = tok.text, k + 1
    while (
        k + 1 < close
        and _is(toks[k], ".")
        and toks[k + 1].kind == "name"
        and toks[k - 1].end == toks[k].start
        and toks[k].end == toks[k + 1].start
    ):
        name, k = f"{name}.{toks[k + 1].text}", k + 2
    return name, k
