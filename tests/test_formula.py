"""Tests of the formula tokenizer/parser (pyglmm.formula)."""

from __future__ import annotations

import pytest

from pyglmm.formula import FormulaError, ParsedFormula, RandomTerm, parse_formula, tokenize


def rt(expr: str, *group: str, correlated: bool = True) -> tuple[str, tuple[str, ...], bool]:
    return (expr, group, correlated)


def terms(pf: ParsedFormula) -> list[tuple[str, tuple[str, ...], bool]]:
    return [(t.expr, t.group, t.correlated) for t in pf.random]


# ---- successful parses -----------------------------------------------------------------------


def test_sleepstudy() -> None:
    f = "Reaction ~ Days + (Days | Subject)"
    pf = parse_formula(f)
    assert pf.formula == f
    assert pf.response == "Reaction"
    assert pf.fixed == "Days"
    assert pf.random == (RandomTerm("Days", ("Subject",), True, (18, 34)),)
    assert f[18:34] == "(Days | Subject)"
    assert pf.random[0].group_name == "Subject"
    assert pf.variables() == ("Reaction", "Days", "Subject")


@pytest.mark.parametrize(
    ("formula", "fixed"),
    [
        ("y ~ x", "x"),
        ("y ~ x + z", "x + z"),
        ("y ~ (1 | g)", "1"),
        ("y ~ 0 + (1 | g)", "0"),
        ("y ~ 0 + x + (1 | g)", "0 + x"),
        ("y ~ x - 1", "x - 1"),
        ("y ~ -1 + x", "-1 + x"),
        ("y ~ (1|g) - 1", "-1"),
        ("y ~ a:b", "a:b"),
        ("y ~ a*b", "a*b"),
        ("y ~ (a+b+c)^2", "(a+b+c)**2"),
        ("y ~ (a + b)^2 + (1|g) + x", "(a + b)**2 + x"),
        ("y ~ I(x^2)", "I(x**2)"),
        ("y ~ I(x**2) + np.log(z)", "I(x**2) + np.log(z)"),
        ("y ~ C(x, levels=['b', 'a'])", "C(x, levels=['b', 'a'])"),
        ("y ~ scale(x) + center(z)", "scale(x) + center(z)"),
        ("y ~ x + offset(np.log(e))", "x + offset(np.log(e))"),
        ("y ~ I(x - 1) + z", "I(x - 1) + z"),
        ("y ~ x + 1e-3", "x + 1e-3"),
    ],
)
def test_fixed_part(formula: str, fixed: str) -> None:
    assert parse_formula(formula).fixed == fixed


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("y ~ (1 | g)", [rt("1", "g")]),
        ("y ~ (x | g)", [rt("x", "g")]),
        ("y ~ (0 + x | g)", [rt("0 + x", "g")]),
        ("y ~ (1 + x + z | g)", [rt("1 + x + z", "g")]),
        ("y ~ (-1 + x | g)", [rt("-1 + x", "g")]),
        ("y ~ (x || g)", [rt("x", "g", correlated=False)]),
        ("y ~ (1 | a/b)", [rt("1", "a"), rt("1", "a", "b")]),
        ("y ~ (1 | a/b/c)", [rt("1", "a"), rt("1", "a", "b"), rt("1", "a", "b", "c")]),
        ("y ~ (1 | a:b)", [rt("1", "a", "b")]),
        ("y ~ (1 | a/b:c)", [rt("1", "a"), rt("1", "a", "b", "c")]),
        ("y ~ (1 | a) + (1 | b)", [rt("1", "a"), rt("1", "b")]),
        ("y ~ (1 | g) + (0 + x | g)", [rt("1", "g"), rt("0 + x", "g")]),
        ("y ~ (0 + cond | subject)", [rt("0 + cond", "subject")]),
        ("y ~ (I(x^2) | g)", [rt("I(x**2)", "g")]),
        ("y ~ x + (x||g) + z", [rt("x", "g", correlated=False)]),
    ],
)
def test_random_terms(formula: str, expected: list[tuple[str, tuple[str, ...], bool]]) -> None:
    assert terms(parse_formula(formula)) == expected


def test_random_spans_and_group_names() -> None:
    f = "y ~ x + (1 | a/b) + (0 + x || g)"
    pf = parse_formula(f)
    assert [t.group_name for t in pf.random] == ["a", "a:b", "g"]
    assert [f[slice(*t.span)] for t in pf.random] == ["(1 | a/b)", "(1 | a/b)", "(0 + x || g)"]
    assert pf.fixed == "x"


@pytest.mark.parametrize(
    ("formula", "response"),
    [
        ("np.log(y) ~ x", "np.log(y)"),
        ("cbind(s, f) ~ x + (1|g)", "cbind(s, f)"),
        ("s | trials(n) ~ x", "s | trials(n)"),
        ("  y   ~ x", "y"),
    ],
)
def test_response_text(formula: str, response: str) -> None:
    assert parse_formula(formula).response == response


@pytest.mark.parametrize(
    ("formula", "variables"),
    [
        ("np.log(y) ~ np.log(x) + I(z**2)", ("y", "x", "z")),
        ("y ~ C(x, levels=['a', 'b'])", ("y", "x")),
        ("y ~ C(x, Treatment(reference='b'))", ("y", "x")),
        ("y ~ C(x, Sum)", ("y", "x")),
        ("y ~ C(x, levels=('b', 'a'))", ("y", "x")),
        ("y ~ I(x * z) + I(x ** 2 / (1 + w))", ("y", "x", "z", "w")),
        ("cbind(s, f) ~ scale(x) + center(w) + (1 | g)", ("s", "f", "x", "w", "g")),
        ("s | trials(n) ~ x", ("s", "n", "x")),
        ("y ~ x + offset(log(e))", ("y", "x", "e")),
        ("y ~ numpy.sqrt(x) + exp(z)", ("y", "x", "z")),
        ("y ~ a*b + (x | g1/g2)", ("y", "a", "b", "x", "g1", "g2")),
        ("y ~ I(x if True else None)", ("y", "x")),
        ("y ~ I((x > 0) and not z) + I(w not in [1, 2])", ("y", "x", "z", "w")),
        ("y ~ Q('my var') + z", ("y", "my var", "z")),
        ("y ~ x + (x | g) + x:z", ("y", "x", "g", "z")),
    ],
)
def test_variables(formula: str, variables: tuple[str, ...]) -> None:
    assert parse_formula(formula).variables() == variables


def test_variables_follow_components() -> None:
    import dataclasses

    pf = parse_formula("y ~ x + (1 | g)")
    assert dataclasses.replace(pf, random=()).variables() == ("y", "x")


def test_tokenize_spans() -> None:
    toks = tokenize("y ~ a:b**2")
    assert [(t.kind, t.text, t.start, t.end) for t in toks] == [
        ("name", "y", 0, 1),
        ("op", "~", 2, 3),
        ("name", "a", 4, 5),
        ("op", ":", 5, 6),
        ("name", "b", 6, 7),
        ("op", "**", 7, 9),
        ("number", "2", 9, 10),
    ]


# ---- errors ------------------------------------------------------------------------------------


def caret_at(err: FormulaError) -> int:
    """Recover the caret column from the rendered message (checks the rendering too)."""
    lines = str(err).split("\n")
    assert lines[1] == "  " + err.formula
    return lines[2].index("^") - 2


@pytest.mark.parametrize(
    ("formula", "reason", "at"),
    [
        ("Reaction ~ Days + (Days | )", "expected a grouping factor after '|'", ")"),
        ("y ~ (x|)", "expected a grouping factor after '|'", ")"),
        ("y ~ (x||)", "expected a grouping factor after '||'", ")"),
        ("y ~ (|g)", "expected a term before '|'", "|"),
        ("y ~ (x | 1+g)", "expected a grouping factor after '|'", "1"),
        ("y ~ (x | g+h)", "unexpected '+' in a grouping factor", "+"),
        ("y ~ (x | f(g))", "unexpected '(' in a grouping factor", "("),
        ("y ~ (x | a/)", "expected a grouping factor after '/'", ")"),
        ("y ~ (x | g | h | k)", "more than two '|'", "| k"),  # (x |g| h): brms's ID
        ("y ~ (x + | g)", "expected a term after '+'", "|"),
        ("y ~ x + (1 | g", "unclosed '('", "(1"),
        ("y ~ x + 1 | g)", "unmatched ')'", ")"),
        ("y ~ f(x]", "']' does not close '('", "]"),
        ("y x", "missing '~'", "y"),
        ("~ x", "missing response before '~'", "~"),
        ("y ~ x ~ z", "only one is allowed", "~ z"),
        ("y ~ I(a ~ b)", "only one is allowed", "~ b"),
        ("f(y ~ x)", "unexpected '~' inside brackets", "~"),
        ("y ~ x +", "expected a term after '+'", ""),
        ("y ~", "expected a term after '~'", ""),
        ("y ~ x + + z", "expected a term after '+'", "+ z"),
        ("y ~ x * ", "expected a term after '*'", ""),
        ("y ~ x + ()", "expected a term after '('", ")"),
        ("y ~ x y", "unexpected 'y'; expected an operator", "y"),
        ("y ~ x + 'abc", "unterminated string", "'abc"),
        ("y ~ x $ z", "unexpected character '$'", "$"),
        ("y ~ x | g", "'|' is only allowed in a random-effect term", "| g"),
        ("y ~ (x | g):z", "must stand alone", "| g"),
        ("y ~ x - (1 | g)", "cannot be removed with '-'", "- ("),
        ("y ~ x + x", "duplicate term 'x'", "x"),
        ("y ~ a:b + z + a:b", "duplicate term 'a:b'", "a:b"),
        ("y ~ (1 | g) + (1 | g)", "duplicate random-effect term '(1 | g)'", "(1 | g)"),
        ("y ~ (1|a/b) + (1|a:b)", "duplicate random-effect term '(1 | a:b)'", "(1|a:b)"),
        ("y ~ f(x,,z)", "expected a term after ','", ",z"),
        ("y ~ np.", "expected a name after '.'", ""),
        ("y ~ (a, b)", "unexpected ','", ","),
        ("", "empty formula", ""),
    ],
)
def test_errors(formula: str, reason: str, at: str) -> None:
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    err = info.value
    assert reason in err.reason
    assert err.formula == formula
    expected = formula.rindex(at) if at else len(formula)
    if formula == "":
        expected = 0
    assert err.position == expected
    assert caret_at(err) == expected


def test_spec_example_message() -> None:
    f = "Reaction ~ Days + (Days | )"
    with pytest.raises(FormulaError) as info:
        parse_formula(f)
    assert str(info.value) == (
        "expected a grouping factor after '|'\n"
        "  Reaction ~ Days + (Days | )\n"
        "                            ^"
    )


def test_duplicate_points_at_second_occurrence() -> None:
    f = "y ~ (1 | g) + x + (1 | g)"
    with pytest.raises(FormulaError) as info:
        parse_formula(f)
    assert info.value.position == 18


def test_formula_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="missing '~'"):
        parse_formula("y")


def test_non_string_formula() -> None:
    with pytest.raises(TypeError):
        parse_formula(42)  # type: ignore[arg-type]
