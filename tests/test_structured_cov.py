"""Known and structured covariances among levels (#17, item 3): ``gr(g, cov = A)``,
``gr(a:b, cov = kron(U, V))``, ``ar1()``, ``cs()``, ``diag()``, ``us()``.

The PyMC model's effects are checked against dense references: a non-centered block's
effects are linear in its standardized effects, ``vec(r) = M z``, so their covariance is
``M M'`` (M found column by column) and their log density is the model's ``log N(z | 0, I)``
minus ``log |det M|``; both are compared with the dense covariance (``Sigma (x) A``,
``np.kron(U, V)``, ``sd^2 rho^|i - j|``) and ``scipy.stats.multivariate_normal``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import pyglmm as pg
from pyglmm.design.levelcov import LevelCovariance
from pyglmm.results.params import parameters


def _spd(n: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(size=(n, n))
    return x @ x.T / n + 0.5 * np.eye(n)


def _levels(n: int) -> list[str]:
    return [f"s{i:02d}" for i in range(n)]


@pytest.fixture
def known_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    lev = _levels(6)
    A = _spd(6, rng)
    df = pd.DataFrame({"species": np.repeat(lev, 4), "x": rng.normal(size=24)})
    df["y"] = rng.normal(size=24)
    return df, pd.DataFrame(A, index=lev, columns=lev)


def _point(model, rng: np.random.Generator) -> dict:
    """A random point of the model (transformed values, jittered from the initial point)."""
    point = model.initial_point()
    return {k: v + 0.4 * rng.normal(size=np.shape(v)) for k, v in point.items()}


def _fn(model, name: str):
    """``name``'s value as a function of a full point (every value variable)."""
    out = model.replace_rvs_by_values([model[name]])[0]
    return model.compile_fn(out, inputs=model.value_vars, on_unused_input="ignore")


def _effects_map(model, point: dict, block: str) -> tuple[np.ndarray, np.ndarray]:
    """(vec r at ``point``, M with vec(r) = M vec(z)) of a non-centered block (row-major vec)."""
    r_fn = _fn(model, f"r_{block}")
    z_name = f"z_{block}"
    shape = np.shape(point[z_name])
    cols = []
    for k in range(int(np.prod(shape))):
        unit = dict(point)
        e = np.zeros(int(np.prod(shape)))
        e[k] = 1.0
        unit[z_name] = e.reshape(shape)
        cols.append(np.asarray(r_fn(unit)).ravel())
    return np.asarray(r_fn(point)).ravel(), np.column_stack(cols)


def _values(model, point: dict, *names: str) -> list[np.ndarray]:
    return [np.asarray(_fn(model, n)(point)) for n in names]


def _check_density(model, point: dict, block: str, expected_cov: np.ndarray) -> None:
    """Covariance and log density of ``r_<block>`` against the dense reference."""
    r, M = _effects_map(model, point, block)
    np.testing.assert_allclose(M @ M.T, expected_cov, rtol=1e-8, atol=1e-10)
    z_logp = float(model.compile_logp(vars=[model[f"z_{block}"]])(point))
    implied = z_logp - np.linalg.slogdet(M)[1]
    reference = multivariate_normal(np.zeros(len(r)), expected_cov).logpdf(r)
    assert implied == pytest.approx(reference, rel=1e-9, abs=1e-8)


# --- (a) a known covariance: intercepts, and correlated slopes (Sigma (x) A) -----------------


def test_known_intercept_density_matches_dense_mvnormal(known_data) -> None:
    df, A = known_data
    m = pg.Model("y ~ x + (1 | gr(species, cov = A))", df, data2={"A": A})
    assert m.design.blocks[0].kind == "gr_diag"
    assert m.resolve() == {"species": "noncentered"}
    model = m.compile().model
    point = _point(model, np.random.default_rng(0))
    (sd,) = _values(model, point, "sd_species")
    _check_density(model, point, "species", sd[0] ** 2 * A.to_numpy())


def test_known_correlated_slopes_are_sigma_kron_a(known_data) -> None:
    df, A = known_data
    # A's rows in another order than the data's levels: matched by label
    A = A.iloc[::-1, ::-1]
    m = pg.Model("y ~ x + (1 + x | gr(species, cov = A))", df, data2={"A": A})
    assert m.design.blocks[0].kind == "gr_lkj"
    model = m.compile().model
    point = _point(model, np.random.default_rng(1))
    sd, cor = _values(model, point, "sd_species", "cor_species")
    sigma = np.outer(sd, sd) * cor
    assert abs(cor[0, 1]) > 0.01  # a point with a real correlation
    A_sorted = A.loc[_levels(6), _levels(6)].to_numpy()
    _check_density(model, point, "species", np.kron(A_sorted, sigma))  # r[level, term]


def test_unlabelled_array_is_taken_in_sorted_level_order(known_data) -> None:
    df, A = known_data
    m = pg.Model("y ~ (1 | gr(species, cov = A))", df, data2={"A": A.to_numpy()})
    np.testing.assert_allclose(m.design.blocks[0].level_cov.dense(), A.to_numpy(), rtol=1e-12)


def test_extra_levels_in_a_are_dropped_as_brms_does(known_data) -> None:
    df, _ = known_data
    rng = np.random.default_rng(5)
    lev = _levels(9)
    big = pd.DataFrame(_spd(9, rng), index=lev, columns=lev)
    m = pg.Model("y ~ (1 | gr(species, cov = A))", df, data2={"A": big})
    blk = m.design.blocks[0]
    assert blk.levels == tuple(_levels(6))
    np.testing.assert_allclose(blk.level_cov.dense(), big.iloc[:6, :6].to_numpy(), rtol=1e-12)


# --- (b) kron(U, V) ---------------------------------------------------------------------------


def _kron_data(rng: np.random.Generator) -> pd.DataFrame:
    a = np.repeat([f"a{i}" for i in range(3)], 8)
    b = np.tile([f"b{j}" for j in range(4)], 6)
    return pd.DataFrame({"a": a, "b": b, "y": rng.normal(size=24)})


def test_kron_density_matches_dense_product() -> None:
    rng = np.random.default_rng(7)
    df = _kron_data(rng)
    U = pd.DataFrame(_spd(3, rng), index=["a0", "a1", "a2"], columns=["a0", "a1", "a2"])
    V = _spd(4, rng)
    m = pg.Model("y ~ 1 + (1 | gr(a:b, cov = kron(U, V)))", df, data2={"U": U, "V": V})
    blk = m.design.blocks[0]
    assert blk.n_levels == 12 and blk.levels[:2] == ("a0:b0", "a0:b1")
    model = m.compile().model
    point = _point(model, np.random.default_rng(2))
    (sd,) = _values(model, point, "sd_a:b")
    _check_density(model, point, "a:b", sd[0] ** 2 * np.kron(U.to_numpy(), V))


def test_kron_left_multiply_and_solve_match_dense() -> None:
    rng = np.random.default_rng(8)
    lu, lv = (np.linalg.cholesky(_spd(n, rng)) for n in (4, 3))
    cov = LevelCovariance(("U", "V"), (lu, lv), (("a",) * 4, ("b",) * 3))
    z = rng.normal(size=(12, 2))
    np.testing.assert_allclose(cov.left_multiply(z), np.kron(lu, lv) @ z, rtol=1e-12)
    np.testing.assert_allclose(cov.solve_left(np.kron(lu, lv) @ z), z, rtol=1e-10, atol=1e-12)


def test_kron_500_by_200_never_forms_the_product() -> None:
    """A 500 x 500 by 200 x 200 Kronecker block: the design holds the two factors only (the
    product would be 10^10 numbers) and L z costs two matrix products."""
    rng = np.random.default_rng(9)
    n = 2000
    a = rng.integers(0, 500, size=n)
    b = rng.integers(0, 200, size=n)
    a[:500], b[:200] = np.arange(500), np.arange(200)  # every level present
    df = pd.DataFrame({"a": a, "b": b, "y": rng.normal(size=n)})
    U = np.eye(500) + 0.5 * np.exp(-np.abs(np.subtract.outer(np.arange(500), np.arange(500))))
    V = np.eye(200) + 0.2
    m = pg.Model("y ~ 1 + (1 | gr(a:b, cov = kron(U, V)))", df, data2={"U": U, "V": V})
    blk = m.design.blocks[0]
    assert blk.n_levels == 100_000
    assert sum(f.size for f in blk.level_cov.factors) == 500**2 + 200**2
    z = rng.normal(size=(100_000, 1))
    out = blk.level_cov.left_multiply(z)
    lu, lv = blk.level_cov.factors
    i, j = 123, 45  # one entry by the definition: sum_ab L_U[i, a] L_V[j, b] Z[a, b]
    assert out[i * 200 + j, 0] == pytest.approx(lu[i] @ z[:, 0].reshape(500, 200) @ lv[j])


# --- (c) ar1 and cs against their dense covariances ---------------------------------------


def _time_data(rng: np.random.Generator, n_g: int = 6, n_t: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "g": np.repeat([f"g{i}" for i in range(n_g)], n_t),
            "time": np.tile(np.arange(1, n_t + 1), n_g),
            "x": rng.normal(size=n_g * n_t),
            "y": rng.normal(size=n_g * n_t),
        }
    )


def test_ar1_density_matches_dense_ar1_covariance() -> None:
    rng = np.random.default_rng(11)
    m = pg.Model("y ~ x + ar1(0 + time | g)", _time_data(rng))
    blk = m.design.blocks[0]
    assert blk.kind == "ar1" and blk.q == 4
    model = m.compile("noncentered").model
    point = _point(model, np.random.default_rng(3))
    sd1, rho, cor = _values(model, point, "sd1_g", "ar1_g", "cor_g")
    dense = rho ** np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    assert abs(rho) > 0.05
    np.testing.assert_allclose(cor, dense, rtol=1e-12)
    _check_density(model, point, "g", np.kron(np.eye(6), sd1**2 * dense))


def test_ar1_centered_logp_matches_scipy() -> None:
    rng = np.random.default_rng(12)
    m = pg.Model("y ~ x + ar1(0 + time | g)", _time_data(rng))
    model = m.compile("centered").model
    point = _point(model, np.random.default_rng(4))
    sd1, rho, r = _values(model, point, "sd1_g", "ar1_g", "r_g")
    cov = sd1**2 * rho ** np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    reference = multivariate_normal(np.zeros(4), cov).logpdf(r).sum()
    logp = float(model.compile_logp(vars=[model["r_g"]])(point))
    assert logp == pytest.approx(reference, rel=1e-9)


def test_cs_density_matches_dense_compound_symmetry() -> None:
    rng = np.random.default_rng(13)
    m = pg.Model("y ~ x + cs(0 + C(time) | g)", _time_data(rng, n_g=8))
    assert m.design.blocks[0].kind == "cs"
    model = m.compile("noncentered").model
    point = _point(model, np.random.default_rng(5))
    sd, rho = _values(model, point, "sd_g", "cs_g")
    assert -1 / 3 < rho < 1
    dense = np.outer(sd, sd) * ((1 - rho) * np.eye(4) + rho)
    _check_density(model, point, "g", np.kron(np.eye(8), dense))


def test_structure_kinds_priors_and_labels() -> None:
    rng = np.random.default_rng(14)
    df = _time_data(rng, n_g=8)
    m = pg.Model("y ~ x + ar1(0 + time | g) + diag(x | g) + us(x | g)", df)
    kinds = [b.kind for b in m.design.blocks]
    assert kinds == ["ar1", "diag", "lkj"]  # glmmTMB's diag and us are lme4's || and |
    table = m.priors
    assert list(table.loc[table["class"] == "ar", "prior"]) == ["Uniform(lower=-1, upper=1)"]
    assert (table["class"] == "sd").sum() == 1 + 2 + 2  # ar1: one shared SD
    labels = [p.label for p in parameters(m.design, ("sigma",)) if p.block == "g"]
    assert labels == ["sd(C(time)[1])", "ar1"]
    m2 = pg.Model("y ~ x + cs(1 + x | g)", df, priors={"cor": {"g": "uniform(0, 1)"}})
    assert str(m2.prior_set.cor["g"]) == "Uniform(lower=0, upper=1)"
    m3 = pg.Model("y ~ x + ar1(0 + time | g)", df, priors={"ar": "uniform(0, 0.9)"})
    assert m3.prior_set.cor["g"].params == {"lower": 0.0, "upper": 0.9}
    with pytest.raises(pg.PriorError, match="Uniform"):
        pg.Model("y ~ x + ar1(0 + time | g)", df, priors={"ar": "normal(0, 1)"})


def test_engines_and_point_fit_refuse_structured_blocks(known_data) -> None:
    df, A = known_data
    m = pg.Model("y ~ x + (1 | gr(species, cov = A))", df, data2={"A": A})
    from pyglmm import kernel

    reason = kernel.kernel_model(m.design, m.prior_set, m.family, m.resolve())
    assert isinstance(reason, str) and "gr_diag" in reason
    with pytest.raises(pg.UnsupportedModelError, match="optimize"):
        m.optimize()
    with pytest.raises(pg.ArgumentError, match="centered"):
        m.resolve("centered")
    with pytest.raises(pg.ArgumentError):
        m.resolve("marginal")


# --- (d) input errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda A: A.where(~np.eye(6, k=1, dtype=bool), A + 0.3), "not symmetric"),
        (lambda A: A - 5 * np.eye(6), "not positive definite"),
        (lambda A: A.iloc[1:, 1:], r"lacks 1 level.*'s00'"),
        (lambda A: A.iloc[:, ::-1], "same levels in the same order"),
        (lambda A: A.to_numpy()[:5, :5], "unlabelled array of 5 rows"),
        (lambda A: A.iloc[:, :5], "must be square"),
    ],
)
def test_bad_covariance_matrices_raise_design_errors(known_data, mutate, message) -> None:
    df, A = known_data
    with pytest.raises(pg.DesignError, match=message):
        pg.Model("y ~ (1 | gr(species, cov = A))", df, data2={"A": mutate(A)})


def test_unknown_data2_name_is_named(known_data) -> None:
    df, A = known_data
    with pytest.raises(pg.DesignError, match=r"'B' names no matrix in data2.*'A'"):
        pg.Model("y ~ (1 | gr(species, cov = B))", df, data2={"A": A})
    with pytest.raises(pg.DesignError, match="'A' names no matrix"):
        pg.Model("y ~ (1 | gr(species, cov = A))", df)


@pytest.mark.parametrize(
    ("formula", "message", "at"),
    [
        ("y ~ (1 | gr(species, by = x))", "'by' is not supported", "by"),
        ("y ~ (1 | gr(species, cov = kron(U)))", "two matrix names", "kron"),
        ("y ~ (1 | gr(species, cov = kron(U, V)))", "two variables", "species"),
        ("y ~ ar1(time)", "wraps a random-effect term", "ar1"),
        ("y ~ ar1(0 + time || g)", "not '||'", "||"),
        ("y ~ (1 | gr(species, cov = A) + g)", "after gr(...)", "+ g"),
        ("y ~ ar1(0 + time | gr(g, cov = A))", "cannot be combined", "ar1"),
    ],
)
def test_bad_syntax_points_at_the_culprit(formula, message, at) -> None:
    with pytest.raises(pg.FormulaError, match=message) as info:
        pg.Model(formula, pd.DataFrame({"y": [1.0, 2.0], "species": ["a", "b"]}))
    assert info.value.position == formula.index(at)


def test_ar1_design_errors() -> None:
    rng = np.random.default_rng(15)
    df = _time_data(rng)
    with pytest.raises(pg.DesignError, match="drop the intercept"):
        pg.Model("y ~ ar1(C(time) | g)", df)
    df["time"] = np.tile([1, 2, 4, 5], 6)
    with pytest.raises(pg.DesignError, match="unit-spaced"):
        pg.Model("y ~ ar1(0 + time | g)", df)


# --- (e) recovery -------------------------------------------------------------------------


def test_known_covariance_recovery() -> None:
    """Simulated with a known A over 40 levels (sd 1.0, sigma 0.5, 5 rows per level): the true
    sd is inside the central 95% interval."""
    rng = np.random.default_rng(2024)
    n_lev, per = 40, 5
    lev = [f"sp{i:02d}" for i in range(n_lev)]
    dist = np.abs(np.subtract.outer(np.arange(n_lev), np.arange(n_lev)))
    A = np.exp(-dist / 5.0)  # a smooth, strongly correlated covariance
    r = np.linalg.cholesky(A) @ rng.normal(size=n_lev) * 1.0
    df = pd.DataFrame({"species": np.repeat(lev, per), "x": rng.normal(size=n_lev * per)})
    df["y"] = 2.0 + 0.5 * df["x"] + np.repeat(r, per) + rng.normal(scale=0.5, size=len(df))
    m = pg.Model(
        "y ~ x + (1 | gr(species, cov = A))",
        df,
        data2={"A": pd.DataFrame(A, index=lev, columns=lev)},
    )
    fit = m.fit(draws=500, tune=500, chains=2, seed=1, progressbar=False, warn=False)
    assert fit.timing["kernel"] == 0.0
    vc = fit.varcorr().set_index(["group", "var1"])
    row = vc.loc[("species", "Intercept")]
    assert row["Q2.5"] < 1.0 < row["Q97.5"], row
    assert set(fit.ranef()["species"].index) == set(lev)
    summary = fit.summary()
    assert "sd(Intercept)" in set(summary.loc[summary["group"] == "species", "term"])


def test_ar1_recovery() -> None:
    """Simulated AR(1) effects (rho 0.6, sd 1.0) over 6 time points in 50 groups, two rows per
    group and time (sigma 0.3): the true sd and rho are inside their central 95% intervals,
    reported as the rows sd(C(time)[0]) and ar1."""
    rng = np.random.default_rng(77)
    n_g, n_t, rho = 50, 6, 0.6
    R = rho ** np.abs(np.subtract.outer(np.arange(n_t), np.arange(n_t)))
    r = rng.normal(size=(n_g, n_t)) @ np.linalg.cholesky(R).T
    one = pd.DataFrame(
        {"g": np.repeat([f"g{i}" for i in range(n_g)], n_t), "time": np.tile(np.arange(n_t), n_g)}
    )
    df = pd.concat([one, one], ignore_index=True)
    df["y"] = 1.0 + np.tile(r.ravel(), 2) + rng.normal(scale=0.3, size=len(df))
    m = pg.Model("y ~ 1 + ar1(0 + time | g)", df)
    fit = m.fit(draws=500, tune=500, chains=2, seed=2, progressbar=False, warn=False)
    table = fit.summary().set_index("term")
    for term, truth in (("sd(C(time)[0])", 1.0), ("ar1", rho)):
        row = table.loc[term]
        assert row["group"] == "g"
        assert row["l-95% CI"] < truth < row["u-95% CI"], (term, row)


# --- (f) simulation, saving and prediction (#17 part: the gaps of the first merge) ----------


def _repeat(one, n: int):
    from pyglmm.results.params import ParamDraws

    return ParamDraws(
        np.repeat(one.b, n, axis=0),
        {k: np.repeat(v, n, axis=0) for k, v in one.sd.items()},
        {k: np.repeat(v, n, axis=0) for k, v in one.cor.items()},
        {k: np.repeat(v, n, axis=0) for k, v in one.family.items()},
    )


def _empirical_check(model, params: dict, block: str, expected: np.ndarray, n: int = 6000):
    """The simulated effects' covariance (row-major vec over levels x terms) against
    ``expected``, within 5 standard errors of a sample covariance (and 0.04 absolute)."""
    from pyglmm.workflow.prior_draws import params_from_dict
    from pyglmm.workflow.simulation import draw_effects

    draws = _repeat(params_from_dict(model, params), n)
    r = draw_effects(model.design, draws, np.random.default_rng(11))[block]
    emp = np.cov(r.reshape(n, -1), rowvar=False)
    se = np.sqrt((expected**2 + np.outer(np.diag(expected), np.diag(expected))) / n)
    assert np.all(np.abs(emp - expected) <= 5 * se + 0.04), np.max(np.abs(emp - expected))


def test_simulated_known_effects_have_covariance_sigma_kron_a(known_data) -> None:
    df, A = known_data
    m = pg.Model("y ~ x + (1 + x | gr(species, cov = A))", df, data2={"A": A})
    sd, rho = np.array([1.2, 0.7]), 0.4
    params = {
        "b": {"Intercept": 0.0, "x": 0.5},
        "sd": {"species": {"Intercept": sd[0], "x": sd[1]}},
        "cor": {"species": {("Intercept", "x"): rho}},
        "sigma": 1.0,
    }
    sigma = np.outer(sd, sd) * np.array([[1, rho], [rho, 1]])
    _empirical_check(m, params, "species", np.kron(A.to_numpy(), sigma))


def test_simulated_kron_effects_have_covariance_u_kron_v() -> None:
    rng = np.random.default_rng(8)
    df = _kron_data(rng)
    U, V = _spd(3, rng), _spd(4, rng)
    m = pg.Model("y ~ 1 + (1 | gr(a:b, cov = kron(U, V)))", df, data2={"U": U, "V": V})
    params = {"b": {"Intercept": 0.0}, "sd": {"a:b": 0.8}, "sigma": 1.0}
    _empirical_check(m, params, "a:b", 0.64 * np.kron(U, V))


def test_simulated_ar1_and_cs_effects_have_their_structure() -> None:
    rng = np.random.default_rng(9)
    df = _time_data(rng, n_g=6, n_t=4)
    m = pg.Model("y ~ 1 + ar1(0 + time | g)", df)
    terms = m.design.blocks[0].terms
    params = {
        "b": {"Intercept": 0.0},
        "sd": {"g": {terms[0]: 1.5}},  # one SD: the other terms repeat it
        "cor": {"g": {(terms[0], terms[1]): 0.6}},
        "sigma": 1.0,
    }
    lag = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    ar1 = 2.25 * 0.6**lag
    _empirical_check(m, params, "g", np.kron(np.eye(6), ar1))
    sim = m.simulate(params, seed=1)
    assert sim.attrs["params"]["cor"]["g"] == {(terms[0], terms[1]): 0.6}
    assert m.simulate(sim.attrs["params"], seed=1).equals(sim)  # the reported params round-trip
    with pytest.raises(pg.ArgumentError, match="one correlation rho"):
        m.simulate({**params, "cor": {"g": {(terms[0], terms[2]): 0.3}}})
    with pytest.raises(pg.ArgumentError, match="one SD"):
        m.simulate({**params, "sd": {"g": {terms[0]: 1.0, terms[1]: 2.0}}})

    cs = pg.Model("y ~ 1 + cs(0 + C(time) | g)", df)
    t = cs.design.blocks[0].terms
    sd = np.array([1.0, 0.5, 2.0, 1.5])
    params = {
        "b": {"Intercept": 0.0},
        "sd": {"g": dict(zip(t, sd, strict=True))},
        "cor": {"g": {(t[0], t[1]): -0.2}},
        "sigma": 1.0,
    }
    C = 1.2 * np.eye(4) - 0.2
    _empirical_check(cs, params, "g", np.kron(np.eye(6), np.outer(sd, sd) * C))


def test_prior_draws_of_structured_blocks() -> None:
    from pyglmm.workflow.prior_draws import draw_prior

    rng = np.random.default_rng(10)
    df = _time_data(rng, n_g=6, n_t=4)
    m = pg.Model("y ~ 1 + ar1(0 + time | g)", df, priors={"ar": "uniform(0.2, 0.9)"})
    draws = draw_prior(m, 50, 3)
    sd, cor = draws.sd["g"], draws.cor["g"]
    assert np.allclose(sd, sd[:, :1])  # one SD per draw
    rho = cor[:, 0, 1]
    assert np.all((rho > 0.2) & (rho < 0.9))
    assert np.allclose(cor[:, 0, 3], rho**3)
    y = m.prior_predictive(draws=20, seed=1)
    assert y.shape == (20, len(df)) and np.all(np.isfinite(y))


def test_data2_round_trips_through_the_file_encoding() -> None:
    """The stored matrices (labelled by integer or string levels, or unlabelled) decode to what
    was given, and rebuild the same design."""
    import xarray as xr

    from pyglmm.persist.data2 import decode_data2, encode_data2

    rng = np.random.default_rng(12)
    df = _kron_data(rng)
    U = pd.DataFrame(_spd(3, rng), index=[10, 11, 12], columns=[10, 11, 12])
    df["a"] = df["a"].map({lv: 10 + k for k, lv in enumerate(sorted(df["a"].unique()))})
    V = _spd(4, rng)
    m = pg.Model("y ~ 1 + (1 | gr(a:b, cov = kron(U, V)))", df, data2={"U": U, "V": V})
    variables, spec = encode_data2(m, m.design)
    back = decode_data2(xr.Dataset(variables), {"data2": spec})
    pd.testing.assert_frame_equal(back["U"], U)
    np.testing.assert_array_equal(back["V"], V)
    again = pg.Model("y ~ 1 + (1 | gr(a:b, cov = kron(U, V)))", df, data2=back)
    assert again.design.blocks[0].levels == m.design.blocks[0].levels


def test_conditional_levels_match_the_dense_conditional(known_data) -> None:
    from pyglmm.design.levelcov import conditional_levels

    df, _ = known_data
    rng = np.random.default_rng(13)
    lev = _levels(8)  # s06, s07 have no rows
    full = pd.DataFrame(_spd(8, rng), index=lev, columns=lev)
    m = pg.Model("y ~ (1 | gr(species, cov = A))", df, data2={"A": full})
    blk = m.design.blocks[0]
    new, W, L = conditional_levels(full, blk.level_cov, ["s07", "zz", "s06", "s01"])
    assert new == ["s07", "s06"]
    a = full.to_numpy()
    f, u = np.arange(6), np.array([7, 6])
    W_ref = a[np.ix_(u, f)] @ np.linalg.inv(a[np.ix_(f, f)])
    np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-10)
    S_ref = a[np.ix_(u, u)] - W_ref @ a[np.ix_(f, u)]
    np.testing.assert_allclose(L @ L.T, S_ref, rtol=1e-6, atol=1e-8)


def test_save_load_and_predict_levels_of_a_without_data(known_data, tmp_path) -> None:
    """A gr() fit saves its A (with the level that has no data) and loads with and without its
    data; predict() of A's level without data follows its near-copy in A (correlation 0.995),
    not an independent draw."""
    df, _ = known_data
    rng = np.random.default_rng(14)
    lev = _levels(7)
    a = _spd(6, rng)
    full = np.zeros((7, 7))
    full[:6, :6] = a
    full[6, :6] = full[:6, 6] = 0.995 * a[2]
    full[6, 6] = a[2, 2]
    A = pd.DataFrame(full, index=lev, columns=lev)
    df = df.copy()
    df["y"] = df["y"] + np.where(df["species"] == "s02", 6.0, 0.0)
    m = pg.Model("y ~ (1 | gr(species, cov = A))", df, data2={"A": A})
    fit = m.fit(draws=300, tune=300, chains=2, seed=3, progressbar=False, warn=False)
    new = pd.DataFrame({"species": ["s02", "s06"]})
    pred = fit.predict(new, kind="link", new_levels="gaussian", seed=1)
    assert abs(pred["Estimate"].iloc[1] - pred["Estimate"].iloc[0]) < 0.5, pred
    alone = fit.predict(new.iloc[1:], kind="link", new_levels="gaussian", seed=1)
    assert pred["Estimate"].iloc[1] == pytest.approx(alone["Estimate"].iloc[0], abs=1e-9)
    with pytest.raises(pg.DesignError, match="not seen"):
        fit.predict(new)  # new_levels="error" still refuses it
    for data in (True, False):
        path = tmp_path / f"gr-{data}.nc"
        fit.save(path, data=data)
        loaded = pg.load_fit(path)
        assert str(loaded) == str(fit)
        pd.testing.assert_frame_equal(loaded.model.data2["A"], A)
        again = loaded.predict(new, kind="link", new_levels="gaussian", seed=1)
        pd.testing.assert_frame_equal(again, pred)
    assert loaded.model.data is None


def test_recover_refits_a_known_covariance_model(known_data) -> None:
    df, A = known_data
    m = pg.Model("y ~ 1 + (1 | gr(species, cov = A))", df, data2={"A": A})
    params = {"b": {"Intercept": 1.0}, "sd": {"species": 0.5}, "sigma": 1.0}
    res = pg.recover(
        m, params, seed=2, fit_kwargs={"draws": 200, "tune": 200, "chains": 2}, n_ranks=20
    )
    assert set(res.table["parameter"]) == {"b_Intercept", "sd_species__Intercept", "sigma"}
    assert res.diagnostics["wall_s"].iloc[0] > 0


@pytest.mark.parametrize(
    ("formula", "reference"),
    [
        ("Reaction ~ Days + us(Days | Subject)", "sleepstudy_reml"),
        ("Reaction ~ Days + diag(Days | Subject)", "sleepstudy_uncorrelated_reml"),
    ],
)
def test_optimize_diag_and_us_against_lme4(lme4_ref, formula: str, reference: str) -> None:
    """glmmTMB's ``us()``/``diag()`` are lme4's ``(x | g)``/``(x || g)`` blocks, so
    ``model.optimize()`` fits them: REML estimates against lme4's published sleepstudy fits
    (tests/data/lme4_reference.json, Bates et al. 2015)."""
    ref = lme4_ref[reference]
    fit = pg.Model(formula, pg.datasets.load("sleepstudy")).optimize()
    vc = fit.varcorr()
    sd = vc[(vc.group == "Subject") & (vc.kind == "sd")].set_index("var1")["Estimate"]
    for term, value in ref["sd"]["Subject"].items():
        assert sd["Intercept" if term == "(Intercept)" else term] == pytest.approx(value, rel=2e-4)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=2e-4)
    cor = vc[vc.kind == "cor"]["Estimate"].to_numpy()
    if "cor" in ref:
        assert cor == pytest.approx([ref["cor"]["Subject"]["(Intercept),Days"]], abs=1e-3)
    else:
        assert cor.size == 0
    se = fit.fixef()["Std. Error"]
    assert se["Days"] == pytest.approx(ref["fixef_se"]["Days"], rel=1e-3)
