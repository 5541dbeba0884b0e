"""One exported error hierarchy: every user-input error is a pg.PyglmmError (and a ValueError),
of the subclass that names what was wrong."""

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg

ERRORS = (
    pg.ArgumentError,
    pg.FormulaError,
    pg.DesignError,
    pg.PriorError,
    pg.FamilyError,
    pg.FitFileError,
)


@pytest.mark.parametrize("err", ERRORS)
def test_every_error_is_a_pyglmm_error_and_a_value_error(err):
    assert issubclass(err, pg.PyglmmError)
    assert issubclass(err, ValueError)


def test_the_stage_modules_raise_the_exported_classes():
    from pyglmm import design, formula

    assert formula.FormulaError is pg.FormulaError
    assert design.DesignError is pg.DesignError
    assert issubclass(pg.SamplingWarning, UserWarning)


@pytest.fixture(scope="module")
def sleep() -> pd.DataFrame:
    return pg.datasets.load("sleepstudy")


@pytest.mark.parametrize(
    ("call", "err", "culprit"),
    [
        (lambda d: pg.Model("Reaction ~ Days + (Days | Subject", d), pg.FormulaError, "^"),
        (lambda d: pg.Model("Reaction ~ Dayz + (1 | Subject)", d), pg.DesignError, "Dayz"),
        (lambda d: pg.Model("Reaction ~ Days", d, family="gausian"), pg.FamilyError, "gausian"),
        (lambda d: pg.family("poisson", link="probit"), pg.FamilyError, "probit"),
        (lambda d: pg.prior("Normall", mu=0, sigma=1), pg.PriorError, "Normall"),
        (
            lambda d: pg.Model("Reaction ~ Days", d, priors={"bb": pg.prior("Normal")}),
            pg.PriorError,
            "bb",
        ),
        (lambda d: pg.Model("Reaction ~ Days", d, family="poisson"), pg.FamilyError, "poisson"),
    ],
)
def test_bad_input_raises_the_typed_error_naming_the_culprit(sleep, call, err, culprit):
    with pytest.raises(err) as info:
        call(sleep)
    assert culprit in str(info.value)
    assert isinstance(info.value, pg.PyglmmError)


def test_a_non_fit_file_is_a_fit_file_error(tmp_path):
    path = tmp_path / "x.nc"
    path.write_bytes(b"not netcdf")
    with pytest.raises(pg.FitFileError):
        pg.load_fit(path)


@pytest.mark.parametrize(
    ("priors", "culprit"),
    [
        ({"sd": {"Subject": {"Dayz": pg.prior("HalfNormal", sigma=2)}}}, "Dayz"),
        ({"sigma": "Exponential"}, "'Exponential'"),
        ({"b": {"Days": "normall(0,1)"}}, "priors['b']['Days']"),
        ({"sd": {"Subjekt": pg.prior("HalfNormal", sigma=2)}}, "Subjekt"),
        ({"b": 3.0}, "priors['b']"),
    ],
)
def test_prior_overrides_that_would_be_dropped_are_refused(sleep, priors, culprit):
    """A misspelled term, or a value that is not a prior, used to fall back to the default."""
    with pytest.raises(pg.PriorError) as info:
        pg.Model("Reaction ~ Days + (Days | Subject)", sleep, priors=priors)
    assert culprit in str(info.value)


def test_a_term_prior_for_a_split_block_is_taken(sleep):
    """(Days || Subject) splits into one block per term: a term prior keyed by the group
    applies to the block that has the term."""
    p = pg.prior("HalfNormal", sigma=2)
    m = pg.Model(
        "Reaction ~ Days + (Days || Subject)", sleep, priors={"sd": {"Subject": {"Days": p}}}
    )
    user = m.priors[m.priors["source"] == "user"]
    assert list(user["coef"]) == ["Days"] and list(user["prior"]) == [str(p)]


def test_a_dict_of_columns_is_data_and_other_objects_are_refused():
    rng = np.random.default_rng(1)
    cols = {"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(list("abcd"), 10)}
    model = pg.Model("y ~ x + (1 | g)", cols)  # was: 'dict' object has no attribute 'attrs'
    assert isinstance(model.data, pd.DataFrame) and model.design.n_obs == 40
    with pytest.raises(pg.DesignError, match="got list"):
        pg.Model("y ~ x", [1.0, 2.0])


@pytest.mark.parametrize(
    ("kwargs", "culprit"),
    [
        ({"draws": 0}, "draws"),
        ({"chains": 0}, "chains"),
        ({"tune": -1}, "tune"),
        ({"draws": 10.5}, "draws"),
        ({"target_accept": 1.5}, "target_accept"),
        ({"target_accept": 0.0}, "target_accept"),
        ({"sampler": "stan"}, "stan"),
        ({"init": "lme4"}, "lme4"),
    ],
)
def test_fit_refuses_arguments_that_cannot_work(sleep, kwargs, culprit):
    """Before: IndexError (draws=0), KeyError 'posterior' (chains=0), OverflowError (tune=-1),
    stuck chains (target_accept=1.5)."""
    model = pg.Model("Reaction ~ Days + (1 | Subject)", sleep)
    with pytest.raises(pg.ArgumentError) as info:
        model.fit(**kwargs)
    assert culprit in str(info.value)


@pytest.mark.parametrize(
    ("spec", "culprit"),
    [("centred", "centred"), ({"Subjekt": "centered"}, "Subjekt"), ({"Subject": "c"}, "'c'")],
)
def test_an_unknown_parameterization_is_refused_when_the_model_is_built(sleep, spec, culprit):
    with pytest.raises(pg.ArgumentError) as info:
        pg.Model("Reaction ~ Days + (1 | Subject)", sleep, parameterization=spec)
    assert culprit in str(info.value)


def test_optimize_names_the_family_it_cannot_fit(sleep):
    model = pg.Model("Reaction ~ Days + (1 | Subject)", sleep, "student")
    with pytest.raises(pg.FamilyError, match="'student'"):
        model.optimize()


@pytest.mark.parametrize(
    ("dist", "params", "culprit"),
    [
        ("HalfNormal", {"sigma": -1}, "sigma must be positive"),
        ("Normal", {"mean": 0, "sd": 1}, "['mean', 'sd']"),
        ("StudentT", {"nu": 0, "mu": 0, "sigma": 1}, "nu must be positive"),
        ("Exponential", {"lam": float("inf")}, "not finite"),
        ("LKJ", {"eta": -2}, "eta must be positive"),
        ("Uniform", {"lower": 1, "upper": 0}, "lower must be below upper"),
        ("Normal", {"mu": "zero"}, "must be numbers"),
    ],
)
def test_impossible_prior_parameters_are_refused_when_the_prior_is_made(dist, params, culprit):
    """Before: a Rust backtrace from the sampler at fit time, or a PyTensor TypeError."""
    with pytest.raises(pg.PriorError) as info:
        pg.prior(dist, **params)
    assert culprit in str(info.value)


def test_prior_parameters_that_are_fine_pass():
    assert str(pg.prior("Cauchy", alpha=-1, beta=2)) == "Cauchy(alpha=-1, beta=2)"  # a location
    assert pg.prior("Normal", mu=-3, sigma=2).params == {"mu": -3.0, "sigma": 2.0}


@pytest.mark.parametrize(
    ("extra", "culprit"),
    [
        (["--family", "gausian"], "gausian"),
        (["--family", "poisson", "--link", "probit"], "probit"),
        (["--family", "poisson", "--reml"], "REML is for gaussian models"),
        (["--parameterization", "centred"], "centred"),
    ],
)
def test_cli_user_errors_are_one_line_and_exit_2(tmp_path, capsys, extra, culprit):
    from pyglmm import cli

    path = tmp_path / "d.csv"
    pd.DataFrame({"y": [1, 0, 3, 2] * 5, "g": list("abcde") * 4}).to_csv(path, index=False)
    code = cli.main(["fit", str(path), "y ~ 1 + (1 | g)", "--group-cols", "g", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert culprit in err and "Traceback" not in err


def test_fit_takes_numpy_integers(sleep):
    model = pg.Model("Reaction ~ Days + (1 | Subject)", sleep)
    fit = model.fit(
        draws=np.int64(50), tune=np.int64(50), chains=2, seed=1, progressbar=False, warn=False
    )
    assert fit.posterior.sizes["draw"] == 50
