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
  - ``(1 | a + b)`` is not lme4 syntax and raises; crossed factors are ``(1|a) + (1|b)``.

Errors raise :class:`FormulaError`, whose message repeats the formula with a caret under the
offending position.

The formula is tokenized once with character spans; every error points at a token (or at the
end of the formula when something is missing there).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import NamedTuple

from .errors import FormulaError as FormulaError  # defined in errors, raised here


@dataclass(frozen=True)
class RandomTerm:
    """One expanded ``(expr | group)`` term.

    ``expr``: the left of the bar as patsy text (``"1 + Days"``, ``"0 + cond"``); an implicit
    intercept follows R's rules (``(x|g)`` has one, ``(0 + x|g)`` does not).
    ``group``: the grouping variables; more than one means their interaction ``a:b``.
    ``correlated``: ``False`` for ``||``.
    ``span``: (start, end) character offsets of the whole parenthesised term in the formula.
    """

    expr: str
    group: tuple[str, ...]
    correlated: bool
    span: tuple[int, int]

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

    def variables(self) -> tuple[str, ...]:
        """Every bare identifier the formula reads from the data (response, fixed, random,
        groups), in order of first appearance, without functions and modules (``np``, ``C``,
        ``scale``, ``I``, ``log`` ...)."""
        names: list[str] = [*variable_names(self.response), *variable_names(self.fixed)]
        for term in self.random:
            names += [*variable_names(term.expr), *term.group]
        wanted = set(names)
        try:  # order of first appearance in the original text
            ordered = [n for n in variable_names(self.formula) if n in wanted]
        except FormulaError:
            ordered = []
        return tuple(dict.fromkeys([*ordered, *names]))


# --------------------------------------------------------------------------------------------
# tokens

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[jJ]?)
  | (?P<name>[^\W\d]\w*)
  | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<op>\|\||\*\*|//|==|!=|<=|>=|<<|>>|[~+\-*/:^|()\[\]{},=<>%.&@])
    """,
    re.VERBOSE,
)

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_BINARY = frozenset(
    {"+", "-", "*", "/", "//", ":", "^", "**", "|", "||", "%", "&", "@"}
    | {"==", "!=", "<", ">", "<=", ">=", "<<", ">>"}
)
_BARS = frozenset(["|", "||"])
_WORD_OPS = frozenset(["and", "or", "if", "else", "in", "is", "not"])
# names that are functions, modules or contrasts rather than data columns
_NOT_VARIABLES = frozenset(
    {"np", "numpy", "C", "I", "Q", "scale", "center", "standardize", "log", "exp", "sqrt"}
    | {"offset", "cbind", "trials", "Treatment", "Sum", "Poly", "Diff", "Helmert"}
)


class Token(NamedTuple):
    kind: str  # "name" | "number" | "string" | "op"
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens with character spans (whitespace dropped)."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            reason = "unterminated string" if ch in "'\"" else f"unexpected character {ch!r}"
            raise FormulaError(reason, text, pos)
        kind = m.lastgroup or "op"
        if kind != "ws":
            tokens.append(Token(kind, m.group(), m.start(), m.end()))
        pos = m.end()
    return tokens


def _match_brackets(text: str, tokens: list[Token]) -> dict[int, int]:
    """Map the index of every opening bracket to its closing one; raise if unbalanced."""
    stack: list[int] = []
    match: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        if tok.kind != "op":
            continue
        if tok.text in _OPEN:
            stack.append(i)
        elif tok.text in _CLOSE:
            if not stack:
                raise FormulaError(f"unmatched {tok.text!r}", text, tok.start)
            j = stack.pop()
            if tokens[j].text != _CLOSE[tok.text]:
                raise FormulaError(
                    f"{tok.text!r} does not close {tokens[j].text!r}", text, tok.start
                )
            match[j] = i
    if stack:
        tok = tokens[stack[-1]]
        raise FormulaError(f"unclosed {tok.text!r}", text, tok.start)
    return match


def _is(tok: Token, *ops: str) -> bool:
    return tok.kind == "op" and tok.text in ops


class _Source:
    """A tokenized text with bracket matching and structural checks."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.match = _match_brackets(text, self.tokens)

    def error(self, reason: str, pos: int) -> FormulaError:
        return FormulaError(reason, self.text, pos)

    def pos(self, i: int) -> int:
        """Start of token ``i``, or the end of the text past the last token."""
        return self.tokens[i].start if i < len(self.tokens) else len(self.text)

    def split(self, i: int, j: int, ops: frozenset[str] | set[str]) -> list[tuple[int, int, int]]:
        """Split tokens[i:j] at depth-0 operators in ``ops`` that follow an operand.

        Returns (separator index or -1, start, end) triples; a leading sign is a separator.
        """
        parts: list[tuple[int, int, int]] = []
        sep, start, k = -1, i, i
        while k < j:
            tok = self.tokens[k]
            if tok.kind == "op" and tok.text in ops and (k == i or self._ends_operand(k - 1)):
                parts.append((sep, start, k))
                sep, start = k, k + 1
            k = self.match.get(k, k) + 1
        parts.append((sep, start, j))
        return parts

    def _ends_operand(self, k: int) -> bool:
        tok = self.tokens[k]
        return tok.kind != "op" or tok.text in _CLOSE

    def render(self, i: int, j: int) -> str:
        """Original text of tokens[i:j] with ``^`` rewritten to ``**``."""
        if i >= j:
            return ""
        out: list[str] = []
        prev = self.tokens[i].start
        for tok in self.tokens[i:j]:
            out.append(self.text[prev : tok.start])
            out.append("**" if _is(tok, "^") else tok.text)
            prev = tok.end
        return "".join(out)

    def key(self, i: int, j: int) -> str:
        """Whitespace-insensitive form of tokens[i:j] (for duplicate detection)."""
        return "".join("**" if _is(t, "^") else t.text for t in self.tokens[i:j])

    # ---- structural validation -------------------------------------------------------------

    def check_expr(self, i: int, j: int, *, unary: bool, bars: bool, after: str = "") -> None:
        """Validate tokens[i:j] as ``operand (binop operand)*``; ``after`` names what came
        before (for "expected a term after ..." messages)."""
        expect_operand, prev_op, k = True, after, i
        if i >= j:
            raise self.error(f"expected a term after {prev_op!r}", self.pos(j))
        while k < j:
            tok = self.tokens[k]
            if expect_operand:
                if unary and (_is(tok, "+", "-", "~") or (bars and tok.text == "not")):
                    prev_op, k = tok.text, k + 1
                    continue
                if tok.kind != "op":
                    k += 1
                elif tok.text in _OPEN:
                    self._check_group(k, bars=bars)
                    k = self.match[k] + 1
                else:
                    reason = (
                        f"expected a term after {prev_op!r}"
                        if prev_op
                        else f"unexpected {tok.text!r}"
                    )
                    raise self.error(reason, tok.start)
                k = self._postfix(k, j)
                expect_operand = False
            elif bars and tok.kind == "name" and tok.text in _WORD_OPS:
                # Python inside calls such as I(): x if c else z, a and b, x not in s
                if tok.text == "not" and k + 1 < j and self.tokens[k + 1].text == "in":
                    k += 1
                prev_op, expect_operand, k = tok.text, True, k + 1
            else:
                if tok.kind == "op" and tok.text in _BINARY:
                    if tok.text in _BARS and not bars:
                        raise self.error(
                            f"{tok.text!r} is only allowed in a random-effect term "
                            "'(expr | group)'",
                            tok.start,
                        )
                    prev_op, expect_operand, k = tok.text, True, k + 1
                else:
                    raise self.error(f"unexpected {tok.text!r}; expected an operator", tok.start)
        if expect_operand:
            raise self.error(f"expected a term after {prev_op!r}", self.pos(j))

    def _postfix(self, k: int, j: int) -> int:
        """Skip attribute access ``.name``, calls ``f(...)`` and subscripts ``x[...]``."""
        while k < j:
            tok = self.tokens[k]
            if _is(tok, "."):
                if k + 1 >= j or self.tokens[k + 1].kind != "name":
                    raise self.error("expected a name after '.'", self.pos(k + 1))
                k += 2
            elif _is(tok, "(", "["):
                self._check_args(k)
                k = self.match[k] + 1
            else:
                break
        return k

    def _check_group(self, k: int, *, bars: bool) -> None:
        close = self.match[k]
        if self.tokens[k].text == "(":
            if not bars:
                for sep, _, _ in self.split(k + 1, close, _BARS)[1:]:
                    raise self.error(
                        "a random-effect term '(expr | group)' must stand alone, joined to the "
                        "other terms with '+'",
                        self.tokens[sep].start,
                    )
            elif len(self.split_commas(k + 1, close)) > 1:  # a Python tuple inside a call
                self._check_args(k)
                return
            self.check_expr(k + 1, close, unary=True, bars=bars, after="(")
        else:
            self._check_args(k)

    def _check_args(self, k: int) -> None:
        """Comma-separated (keyword) arguments or list items between brackets k and its match."""
        close = self.match[k]
        if close == k + 1:
            return
        for sep, a, b in self.split_commas(k + 1, close):
            after = "," if sep >= 0 else self.tokens[k].text
            if b - a >= 2 and self.tokens[a].kind == "name" and _is(self.tokens[a + 1], "="):
                a, after = a + 2, "="
            if a == b and sep >= 0 and b == close:
                continue  # trailing comma
            self.check_expr(a, b, unary=True, bars=True, after=after)

    def split_commas(self, i: int, j: int) -> list[tuple[int, int, int]]:
        parts: list[tuple[int, int, int]] = []
        sep, start, k = -1, i, i
        while k < j:
            if _is(self.tokens[k], ","):
                parts.append((sep, start, k))
                sep, start = k, k + 1
            k = self.match.get(k, k) + 1
        parts.append((sep, start, j))
        return parts


# --------------------------------------------------------------------------------------------
# helpers shared with the design stage


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


# --------------------------------------------------------------------------------------------
# parser


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
    response = formula[toks[0].start : toks[tilde - 1].end]

    n = len(toks)
    if tilde + 1 >= n:
        raise src.error("expected a term after '~'", len(formula))
    fixed: list[tuple[str, str]] = []
    fixed_keys: set[tuple[str, str]] = set()
    random: list[RandomTerm] = []
    random_keys: set[tuple[str, tuple[str, ...]]] = set()
    for sep, a, b in src.split(tilde + 1, n, {"+", "-"}):
        sign = toks[sep].text if sep >= 0 else "+"
        if a == b:
            if b == tilde + 1 and sep < 0:
                continue  # leading sign: the empty part before it
            raise src.error(f"expected a term after {sign!r}", src.pos(b))
        if _is(toks[a], "(") and src.match[a] == b - 1 and len(src.split(a + 1, b - 1, _BARS)) > 1:
            if sign == "-":
                raise src.error("a random-effect term cannot be removed with '-'", toks[sep].start)
            for term in _random_terms(src, a, b - 1):
                key = (term.expr.replace(" ", ""), term.group)
                if key in random_keys:
                    raise src.error(
                        f"duplicate random-effect term '({term.expr} | {term.group_name})'",
                        toks[a].start,
                    )
                random_keys.add(key)
                random.append(term)
            continue
        src.check_expr(a, b, unary=False, bars=False, after=sign)
        fkey = (sign, src.key(a, b))
        if fkey in fixed_keys:
            raise src.error(f"duplicate term {src.render(a, b)!r}", toks[a].start)
        fixed_keys.add(fkey)
        fixed.append((sign, src.render(a, b)))

    return ParsedFormula(
        formula=formula,
        response=response,
        fixed=join_terms(fixed) or "1",
        random=tuple(random),
    )


def _random_terms(src: _Source, open_: int, close: int) -> list[RandomTerm]:
    """Parse and expand the random-effect term between brackets ``open_`` and ``close``."""
    toks = src.tokens
    bars = [k for k, _, _ in src.split(open_ + 1, close, _BARS)[1:]]
    if len(bars) > 1:
        raise src.error("more than one '|' in a random-effect term", toks[bars[1]].start)
    bar = bars[0]
    if bar == open_ + 1:
        raise src.error(f"expected a term before {toks[bar].text!r}", toks[bar].start)
    src.check_expr(open_ + 1, bar, unary=True, bars=False, after="(")
    if bar + 1 == close:
        raise src.error(f"expected a grouping factor after {toks[bar].text!r}", toks[close].start)

    # group: seg ('/' seg)*, seg: name (':' name)*
    segments: list[list[str]] = [[]]
    expect_name, prev = True, toks[bar].text
    for k in range(bar + 1, close):
        tok = toks[k]
        if expect_name:
            if tok.kind != "name":
                raise src.error(
                    f"expected a grouping factor after {prev!r} (a variable name, 'a:b' or 'a/b')",
                    tok.start,
                )
            segments[-1].append(tok.text)
            expect_name = False
        elif _is(tok, ":", "/"):
            if tok.text == "/":
                segments.append([])
            expect_name, prev = True, tok.text
        else:
            hint = "; crossed factors are written (1|a) + (1|b)" if _is(tok, "+", "*") else ""
            raise src.error(f"unexpected {tok.text!r} in a grouping factor{hint}", tok.start)
    if expect_name:
        raise src.error(f"expected a grouping factor after {prev!r}", toks[close].start)

    expr = src.render(open_ + 1, bar).strip()
    correlated = toks[bar].text == "|"
    span = (toks[open_].start, toks[close].end)
    terms: list[RandomTerm] = []
    group: tuple[str, ...] = ()
    for seg in segments:
        group = group + tuple(seg)
        terms.append(RandomTerm(expr=expr, group=group, correlated=correlated, span=span))
    return terms
