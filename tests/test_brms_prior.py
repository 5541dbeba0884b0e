"""brms's prior strings (pyglmm/brms_prior.py): the mapping to PyMC, and the refusals."""

import pytest

import pyglmm as pg


@pytest.fixture(scope="module")
def sleep():
    return pg.datasets.load("sleepstudy")


def test_brms_strings_give_the_same_priors_as_pg_prior(sleep):
    formula = "Reaction ~ Days + (Days | Subject)"
    brms = {
        "b": "normal(0, 10)",
        "Intercept": "student_t(3, 250, 50)",
        "sd": {"Subject": {"Days": "cauchy(0, 5)"}},
        "cor": "lkj(2)",
        "sigma": "exponential(0.1)",
    }
    objects = {
        "b": pg.prior("Normal", mu=0, sigma=10),
        "Intercept": pg.prior("StudentT", nu=3, mu=250, sigma=50),
        "sd": {"Subject": {"Days": pg.prior("HalfCauchy", beta=5)}},
        "cor": pg.prior("LKJ", eta=2),
        "sigma": pg.prior("Exponential", lam=0.1),
    }
    a = pg.Model(formula, sleep, priors=brms).priors
    b = pg.Model(formula, sleep, priors=objects).priors
    assert a.equals(b)


@pytest.mark.parametrize(
    ("text", "cls", "expected"),
    [
        ("normal(0, 2.5)", "b", pg.prior("Normal", mu=0, sigma=2.5)),
        ("normal(0, 2.5)", "sd", pg.prior("HalfNormal", sigma=2.5)),
        ("student_t(3, 0, 2.5)", "sd", pg.prior("HalfStudentT", nu=3, sigma=2.5)),
        ("student_t(3, 1, 2.5)", "b", pg.prior("StudentT", nu=3, mu=1, sigma=2.5)),
        ("cauchy(0, 1)", "sigma", pg.prior("HalfCauchy", beta=1)),
        ("gamma(2, 0.1)", "sigma", pg.prior("Gamma", alpha=2, beta=0.1)),
        ("lognormal(0, 1)", "sd", pg.prior("LogNormal", mu=0, sigma=1)),
        ("double_exponential(0, 1)", "b", pg.prior("Laplace", mu=0, b=1)),
        ("lkj_corr_cholesky(4)", "cor", pg.prior("LKJ", eta=4)),
    ],
)
def test_the_mapping_to_pymc(sleep, text, cls, expected):
    key = {"cor": "cor", "sd": "sd", "b": "b", "sigma": "sigma"}[cls]
    pri = pg.Model("Reaction ~ Days + (Days | Subject)", sleep, priors={key: text}).priors
    row = pri[(pri["class"] == cls) & (pri["source"] == "user")]
    assert set(row["prior"]) == {str(expected)}


@pytest.mark.parametrize(
    ("priors", "match"),
    [
        ({"b": "normall(0, 1)"}, r"unknown brms distribution 'normall'"),
        ({"b": "normal(0)"}, r"normal takes 2 argument\(s\) \(mu, sigma"),
        ({"b": "normal(0, a)"}, r"the arguments must be numbers"),
        ({"sd": "normal(2, 1)"}, r"bounded at 0.*location 2 would be truncated"),
        ({"cor": "normal(0, 1)"}, r"'cor' class takes lkj\(eta\)"),
        ({"b": "lkj(2)"}, r"lkj\(\) is the prior of the 'cor' class only"),
        ({"sigma": "exponential"}, r"neither a pg.prior\(...\) nor a brms prior string"),
        ({"sd": "exponential(-1)"}, r"must be positive"),
    ],
)
def test_bad_brms_strings_name_the_place_and_the_problem(sleep, priors, match):
    with pytest.raises(pg.PriorError, match=match):
        pg.Model("Reaction ~ Days + (Days | Subject)", sleep, priors=priors)
