"""Things that used to be accepted silently or broke in ordinary use (#14), each with the
behaviour users of lme4/brms expect."""

import warnings

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg


def _slopes_only_data(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), 20)
    x, c = rng.normal(size=200), rng.normal(size=200)
    y = 1 + 0.5 * x + rng.normal(size=10)[g] * c + rng.normal(size=200) * 0.5
    return pd.DataFrame({"y": y, "x": x, "c": c, "g": [f"g{i}" for i in g]})


@pytest.fixture(scope="module")
def slopes_only_fit():
    model = pg.Model("y ~ x + (0 + c | g)", _slopes_only_data())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(draws=300, tune=300, chains=2, seed=1, progressbar=False)


def test_coef_includes_random_terms_without_a_fixed_twin(slopes_only_fit):
    """lme4's coef() has a column for `c` in y ~ x + (0 + c | g); it used to be left out."""
    coef = slopes_only_fit.coef()["g"]
    ranef = slopes_only_fit.ranef()["g"]
    fixef = slopes_only_fit.fixef()["Estimate"]
    assert list(coef.columns) == ["Intercept", "x", "c"]
    np.testing.assert_allclose(coef["c"], ranef["c"])  # no fixed part: coef = ranef
    np.testing.assert_allclose(coef["x"], fixef["x"])  # no random part: coef = fixef
    reml = slopes_only_fit.model.optimize().coef()
    reml_c = next(iter(reml.values()))["c"] if isinstance(reml, dict) else reml["c"]
    assert np.corrcoef(reml_c, coef["c"])[0, 1] > 0.95  # the same per-level slopes


def test_population_predictions_need_no_grouping_columns(slopes_only_fit):
    """predict(newdata, include_random=False) used to require g (and c) in newdata."""
    new = pd.DataFrame({"x": [-1.0, 0.0, 2.0]})
    pred = slopes_only_fit.predict(new, include_random=False)
    b = slopes_only_fit.fixef()["Estimate"]
    np.testing.assert_allclose(pred["Estimate"], b["Intercept"] + b["x"] * new["x"], rtol=1e-9)
    with pytest.raises(pg.DesignError, match=r"'g'|'c'"):
        slopes_only_fit.predict(new)  # with the random part the columns are needed


def test_a_gaussian_grouping_factor_with_one_level_per_row_is_refused():
    df = _slopes_only_data().assign(row=lambda d: [f"r{i}" for i in range(len(d))])
    with pytest.raises(pg.DesignError, match="'row' has 200 levels for 200 observations"):
        pg.Model("y ~ x + (1 | row)", df)


def test_an_observation_level_effect_stays_allowed_beside_a_count_family():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"y": rng.poisson(3, size=60), "obs": [str(i) for i in range(60)]})
    model = pg.Model("y ~ 1 + (1 | obs)", df, family="poisson")  # overdispersion, as in brms
    assert model.design.blocks[0].n_levels == 60


def test_an_aliased_fixed_column_is_dropped_with_a_message_like_lme4(lme4_ref):
    """lme4: 'fixed-effect model matrix is rank deficient so dropping 1 column / coefficient';
    the remaining fit is the full-rank one (Bates et al. 2015's fm1 numbers)."""
    ref = lme4_ref["sleepstudy_reml"]
    df = pg.datasets.load("sleepstudy")
    with pytest.warns(UserWarning, match=r"rank deficient so dropping 1 column.*I\(2 \* Days\)"):
        model = pg.Model("Reaction ~ Days + I(2 * Days) + (Days | Subject)", df)
    assert model.design.x_names == ("Intercept", "Days")
    fit = model.optimize()
    np.testing.assert_allclose(
        fit.beta, [ref["fixef"]["(Intercept)"], ref["fixef"]["Days"]], rtol=1e-5
    )
    # new data get the same columns (the aliased one is dropped there too)
    assert model.design.transform(df.head(3)).X.shape == (3, 2)


def test_aliased_factor_columns_are_dropped_in_order():
    rng = np.random.default_rng(2)
    f = rng.choice(["a", "b", "c"], 90)
    df = pd.DataFrame({"y": rng.normal(size=90), "f": f, "f2": f, "g": np.repeat(list("xyz"), 30)})
    with pytest.warns(
        UserWarning, match=r"dropping 2 columns / coefficients: f2\[T.b\], f2\[T.c\]"
    ):
        model = pg.Model("y ~ f + f2 + (1 | g)", df)
    assert model.design.x_names == ("Intercept", "f[T.b]", "f[T.c]")


def test_a_full_rank_design_keeps_every_column():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = pg.Model("Reaction ~ Days + (1 | Subject)", pg.datasets.load("sleepstudy"))
    assert model.design.x_names == ("Intercept", "Days")


def test_the_ess_warning_scales_with_the_number_of_chains(sleep_fit):
    """Stan's and brms's rule, 100 per chain: two chains of a fit are held to 200, not 400."""
    two = sleep_fit.idata.isel(chain=slice(0, 2), draw=slice(0, 60))
    fit = pg.Fit(
        sleep_fit.model,
        two,
        draws=60,
        tune=1000,
        chains=2,
        sampler="nutpie",
        parameterization=sleep_fit.parameterization,
        timing={},
    )
    ess = fit.summary()[["Bulk_ESS", "Tail_ESS"]].to_numpy()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        msgs = fit.check()
    low = [m for m in msgs if "effective sample size below" in m]
    assert (ess < 200).any() and low  # 2 x 60 draws: some ESS is below 200
    assert all("below 200 for" in m for m in low)


def test_a_bad_response_is_named_by_the_data_index_after_dropped_rows():
    """Row 2 is dropped (missing); the negative count at index 7 is reported as 7, not 6."""
    df = pd.DataFrame({"y": [1, 2, np.nan, 3, 4, 5, 6, -2, 1, 2], "g": list("aabbccddee")})
    with (
        pytest.warns(UserWarning, match="dropped 1 of 10 rows"),
        pytest.raises(pg.FamilyError, match=r"negative values in 1 row\(s\) \(data index 7\)"),
    ):
        pg.Model("y ~ 1 + (1 | g)", df, family="poisson")
    df.index = [f"r{i}" for i in range(10)]
    with (
        pytest.warns(UserWarning, match="dropped 1 of 10 rows"),
        pytest.raises(pg.FamilyError, match=r"\(data index r7\)"),
    ):
        pg.Model("y ~ 1 + (1 | g)", df, family="poisson")


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.ones(20), r"response 'y' is constant \(every value is 1\)"),
        (
            2.0 + 0.5 * np.arange(20.0),
            r"exact linear function of the fixed effects \(Intercept, x\)",
        ),
    ],
)
def test_optimize_refuses_a_response_the_fixed_part_reproduces(y, match):
    df = pd.DataFrame({"y": y, "x": np.arange(20.0), "g": np.repeat(list("abcd"), 5)})
    with pytest.raises(pg.DesignError, match=match):
        pg.Model("y ~ x + (1 | g)", df).optimize()


def _typed_columns(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "y": rng.normal(size=n),
            "d": pd.date_range("2020-01-01", periods=n),
            "id": [f"s{i}" for i in range(n)],
            "g": np.repeat(list("abc"), n // 3),
        }
    )


def test_a_datetime_fixed_effect_is_refused_naming_the_column():
    with pytest.raises(pg.DesignError, match=r"column 'd' is a datetime64.*convert it to a number"):
        pg.Model("y ~ d + (1 | g)", _typed_columns())


def test_an_identifier_used_as_a_factor_warns():
    with pytest.warns(
        UserWarning, match=r"column 'id' has a different value in each of its 30 rows"
    ):
        pg.Model("y ~ id + (1 | g)", _typed_columns())


def test_an_identifier_as_grouping_factor_is_not_warned_about():
    df = _typed_columns().assign(y=np.repeat([1.0, 2.0, 3.0], 10), x=np.arange(30.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pg.Model("y ~ x + (1 | g)", df)


def test_mixed_sd_priors_in_a_correlated_block_sample_on_the_pymc_path_as_on_the_kernel():
    """brms allows a different SD prior per term of a correlated block; the PyMC path (which
    cannot put them in one LKJCholeskyCov) samples sd and LKJCorr separately, and agrees with
    the kernel path, which takes per-term densities anyway."""
    df = pg.datasets.load("sleepstudy")
    priors = {"sd": {"Subject": {"Days": pg.prior("HalfNormal", sigma=20)}}}
    model = pg.Model("Reaction ~ Days + (Days | Subject)", df, priors=priors)
    kw = dict(draws=500, tune=500, chains=2, seed=3, progressbar=False, warn=False)
    a = model.fit(kernel=False, **kw).summary().set_index("term")
    b = model.fit(**kw).summary().set_index("term")
    assert "Lcorr_Subject" in model.pymc_model.named_vars
    for term in ["sd(Intercept)", "sd(Days)", "cor(Intercept,Days)", "Days", "sigma"]:
        se = np.hypot(
            a.loc[term, "Est.Error"] / np.sqrt(a.loc[term, "Bulk_ESS"]),
            b.loc[term, "Est.Error"] / np.sqrt(b.loc[term, "Bulk_ESS"]),
        )
        assert abs(a.loc[term, "Estimate"] - b.loc[term, "Estimate"]) < 4 * se, term


class _ForeignFrame:
    """A stand-in for a polars / narwhals frame: it converts itself with to_pandas()."""

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def to_pandas(self) -> pd.DataFrame:
        return self._df.copy()


def test_a_frame_with_to_pandas_and_an_interchange_frame_are_taken():
    df = pg.datasets.load("sleepstudy")
    a = pg.Model("Reaction ~ Days + (1 | Subject)", _ForeignFrame(df))
    with warnings.catch_warnings():  # pandas 3 deprecates the interchange protocol
        warnings.simplefilter("ignore")
        b = pg.Model("Reaction ~ Days + (1 | Subject)", df.__dataframe__())
    np.testing.assert_array_equal(a.design.X, b.design.X)
    np.testing.assert_array_equal(a.design.y, df["Reaction"].to_numpy())


def test_two_columns_with_the_formulas_name_are_refused():
    df = pd.DataFrame(np.ones((6, 3)), columns=["y", "x", "x"]).assign(g=list("aabbcc"))
    with pytest.raises(pg.DesignError, match=r"the data have 2 columns named 'x'"):
        pg.Model("y ~ x + (1 | g)", df)


def test_result_objects_have_an_html_view_for_notebooks(sleep_fit):
    html = sleep_fit._repr_html_()
    assert "<table" in html and "sd(Intercept)" in html and "Family: gaussian" in html
    lmm = sleep_fit.model.optimize()
    assert lmm._repr_html_().startswith("<pre>") and "REML" in lmm._repr_html_()


def test_result_objects_repr_as_tables_not_dataclass_fields():
    from pyglmm.workflow.comparison import CompareResult
    from pyglmm.workflow.recovery import RecoveryResult

    table = pd.DataFrame({"wall_s": [1.5, 2.5]}, index=["centered", "marginal"])
    cmp = CompareResult(table=table, verdict="marginal samples best", best="marginal")
    assert repr(cmp) == str(cmp)
    assert not repr(cmp).startswith("CompareResult(") and "marginal samples best" in repr(cmp)
    rec_table = pd.DataFrame(
        {
            "parameter": ["b_x"],
            "true": [0.5],
            "mean": [0.48],
            "q2.5": [0.3],
            "q97.5": [0.7],
            "covered": [True],
        }
    )
    rec = RecoveryResult(
        table=rec_table,
        coverage=pd.DataFrame(),
        ranks=pd.DataFrame(),
        diagnostics=pd.DataFrame({"divergences": [0]}),
        n_ranks=100,
        sbc=False,
    )
    assert repr(rec) == str(rec) and not repr(rec).startswith("RecoveryResult(")
    assert "b_x" in repr(rec)
