"""Default priors (brms's data-scaled rules) and overrides by class, group and term."""

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm.priors import r_mad


@pytest.fixture(scope="module")
def sleep():
    return pg.datasets.load("sleepstudy")


def test_r_mad_matches_r():
    # R: mad(c(1, 2, 3, 4, 100)) == 1.4826
    assert r_mad(np.array([1.0, 2, 3, 4, 100])) == pytest.approx(1.4826)


def test_sleepstudy_defaults_match_brms_get_prior(sleep):
    # brms::get_prior(Reaction ~ Days + (Days | Subject), sleepstudy):
    # Intercept student_t(3, 288.7, 59.3); sd and sigma student_t(3, 0, 59.3); cor lkj(1)
    pri = pg.Model("Reaction ~ Days + (Days | Subject)", sleep).priors
    assert list(pri.columns) == ["prior", "class", "coef", "group", "source"]
    by = {(r["class"], r["coef"], r["group"]): r["prior"] for _, r in pri.iterrows()}
    assert by[("Intercept", "", "")] == "StudentT(nu=3, mu=288.7, sigma=59.34)"
    assert by[("sd", "Intercept", "Subject")] == "HalfStudentT(nu=3, sigma=59.34)"
    assert by[("sd", "Days", "Subject")] == "HalfStudentT(nu=3, sigma=59.34)"
    assert by[("cor", "", "Subject")] == "LKJ(eta=1)"
    assert by[("sigma", "", "")] == "HalfStudentT(nu=3, sigma=59.34)"
    # b: Normal(0, 2.5 sd(y) / sd(x)), population SDs
    s = 2.5 * sleep["Reaction"].std(ddof=0) / sleep["Days"].std(ddof=0)
    assert by[("b", "Days", "")] == f"Normal(mu=0, sigma={s:.4g})"
    assert set(pri["source"]) == {"default"}
    assert len(pri) == 6


def test_overrides_by_class_group_and_term(sleep):
    pri = pg.Model(
        "Reaction ~ Days + (Days | Subject)",
        sleep,
        priors={
            "b": {"Days": pg.prior("Normal", mu=10, sigma=5)},
            "sd": {"Subject": {"Days": pg.prior("HalfNormal", sigma=20)}},
            "cor": pg.prior("LKJ", eta=2),
            "sigma": pg.prior("Exponential", lam=0.1),
            "Intercept": pg.prior("Normal", mu=250, sigma=50),
        },
    ).priors
    user = pri[pri["source"] == "user"].set_index(["class", "coef"])["prior"]
    assert user[("b", "Days")] == "Normal(mu=10, sigma=5)"
    assert user[("sd", "Days")] == "HalfNormal(sigma=20)"
    assert user[("cor", "")] == "LKJ(eta=2)"
    assert user[("sigma", "")] == "Exponential(lam=0.1)"
    assert user[("Intercept", "")] == "Normal(mu=250, sigma=50)"
    # the intercept SD keeps its default
    sd_int = pri[(pri["class"] == "sd") & (pri["coef"] == "Intercept")]
    assert sd_int["source"].item() == "default"


def test_sd_override_for_whole_group(sleep):
    pri = pg.Model(
        "Reaction ~ Days + (Days | Subject)",
        sleep,
        priors={"sd": {"Subject": pg.prior("HalfNormal", sigma=20)}},
    ).priors
    sd = pri[pri["class"] == "sd"]
    assert list(sd["prior"]) == ["HalfNormal(sigma=20)"] * 2


@pytest.mark.parametrize(
    ("priors", "match"),
    [
        ({"slope": pg.prior("Normal", mu=0, sigma=1)}, "unknown prior class"),
        ({"sd": {"Subjekt": pg.prior("HalfNormal", sigma=1)}}, "unknown groups"),
        ({"b": {"Dayz": pg.prior("Normal", mu=0, sigma=1)}}, "unknown coefficients"),
        ({"cor": pg.prior("Normal", mu=0, sigma=1)}, "LKJ"),
    ],
)
def test_bad_overrides_raise(sleep, priors, match):
    with pytest.raises(ValueError, match=match):
        pg.Model("Reaction ~ Days + (Days | Subject)", sleep, priors=priors)


def test_unknown_distribution_raises():
    with pytest.raises(ValueError, match="unknown PyMC distribution"):
        pg.prior("Gausian", mu=0, sigma=1)


def test_prior_params_are_floats():
    # PyMC evaluates HalfStudentT(nu=3, sigma=59) with integer arguments to NaN
    p = pg.prior("HalfStudentT", nu=3, sigma=59)
    assert all(isinstance(v, float) for v in p.params.values())


def test_no_intercept_model_has_no_intercept_prior():
    df = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 6], "x": [1.0, 0, 2, 1, 3, 2], "g": list("aabbcc")})
    pri = pg.Model("y ~ 0 + x + (1 | g)", df).priors
    assert "Intercept" not in set(pri["class"])
    assert list(pri.loc[pri["class"] == "b", "coef"]) == ["x"]
