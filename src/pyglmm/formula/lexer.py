"""The formula tokenizer: one pass of a regular expression gives tokens with their character
spans (``Token.start``/``end``), so every later error can point at its position; brackets are
matched once (:func:`_match_brackets`), raising :class:`~pyglmm.errors.FormulaError` with a caret
under an unmatched one.
"""

from __future__ import annotations

import keyword
import re
from typing import NamedTuple

from ..errors import FormulaError as FormulaError  # defined in errors, raised here

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
_CONSTANTS = frozenset(["True", "False", "None"])


# names that are functions, modules or contrasts rather than data columns
_NOT_VARIABLES = frozenset(
    {"np", "numpy", "C", "I", "Q", "scale", "center", "standardize", "log", "exp", "sqrt"}
    | {"offset", "cbind", "trials", "Treatment", "Sum", "Poly", "Diff", "Helmert"}
    | {"TRUE", "FALSE"}  # R's logical constants (brms's se(s, sigma = TRUE))
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


# Python 3.12's tokenizer refuses more than 200 nested brackets; patsy tokenizes every term
MAX_NESTING = 100


def _match_brackets(text: str, tokens: list[Token]) -> dict[int, int]:
    """Map the index of every opening bracket to its closing one; raise if unbalanced."""
    stack: list[int] = []
    match: dict[int, int] = {}
    for i, tok in enumerate(tokens):
        if tok.kind != "op":
            continue
        if tok.text in _OPEN:
            stack.append(i)
            if len(stack) > MAX_NESTING:
                raise FormulaError(
                    f"brackets nested more than {MAX_NESTING} deep (Python's parser, which "
                    "evaluates the terms, refuses deeper nesting)",
                    text,
                    tok.start,
                )
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
                    self._check_operand(k, j)
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

    def _check_operand(self, k: int, j: int) -> None:
        """Refuse operands Python cannot evaluate, which patsy would hand to Python's parser:
        a keyword (a column named so is written `lambda` or Q("lambda")) and a number called
        like a function (``8(x)``)."""
        tok = self.tokens[k]
        if tok.kind == "name" and keyword.iskeyword(tok.text) and tok.text not in _CONSTANTS:
            raise self.error(
                f"{tok.text!r} is a Python keyword; a column of that name is written "
                f"`{tok.text}` or Q({tok.text!r})",
                tok.start,
            )
        if tok.kind == "number" and k + 1 < j and _is(self.tokens[k + 1], "(", "["):
            raise self.error(
                f"a number cannot be called: {tok.text}{self.tokens[k + 1].text}...; an "
                "operator is missing",
                self.tokens[k + 1].start,
            )

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
