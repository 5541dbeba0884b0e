"""The JAX samplers (``sampler="numpyro"`` / ``"blackjax"``, extra ``pyglmm[jax]``) on the CPU.

Sleepstudy against lme4's published fixed effects (Intercept 251.405, Days 10.467; posterior
SDs about 6.8 and 1.5), for the marginal and one latent parameterization.
"""

import importlib.util
import math
import warnings

import arviz as az
import numpy as np
import pytest

import pyglmm as pg
from pyglmm.sampling import SAMPLERS

LME4 = {"Intercept": 251.405, "Days": 10.467}


@pytest.fixture(scope="module")
def sleep_model():
    return pg.Model("Reaction ~ Days + (Days | Subject)", pg.datasets.load("sleepstudy"))


@pytest.mark.parametrize(
    ("sampler", "parameterization", "init"),
    [
        ("numpyro", "marginal", None),
        ("numpyro", "noncentered", None),
        ("blackjax", "marginal", None),
        # init="reml" also passes initial values through pm.sample's JAX path
        ("blackjax", "noncentered", "reml"),
    ],
)
def test_jax_sampler_fits_sleepstudy(sleep_model, sampler, parameterization, init):
    pytest.importorskip("jax")
    pytest.importorskip(sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BLAS / sampler chatter; convergence checked below
        fit = sleep_model.fit(
            draws=500,
            tune=500,
            chains=4,
            seed=3,
            sampler=sampler,
            parameterization=parameterization,
            init=init,
            progressbar=False,
            warn=False,
        )
    assert fit.sampler == sampler
    assert fit.parameterization == {"Subject": parameterization}

    fixef = fit.fixef()
    for name, value in LME4.items():
        est, err = fixef.loc[name, "Estimate"], fixef.loc[name, "Est.Error"]
        assert abs(est - value) < 0.5 * err, (name, est, err)
    assert 5.0 < fixef.loc["Intercept", "Est.Error"] < 9.0
    assert 1.1 < fixef.loc["Days", "Est.Error"] < 2.1

    post = fit.idata["posterior"]
    assert post.sizes["chain"] == 4 and post.sizes["draw"] == 500
    rhat = az.rhat(fit.idata, var_names=["b", "sd_Subject", "sigma"])
    assert max(float(rhat[v].max()) for v in rhat.data_vars) < 1.05

    # the same posterior as nutpie's: deterministics present, no transformed values
    for name in ("b", "sd_Subject", "cor_Subject", "r_Subject", "sigma"):
        assert name in post
    assert not [v for v in post.data_vars if str(v).endswith("__")]
    assert post["b"].dims == ("chain", "draw", "coef")
    assert post["r_Subject"].dims == ("chain", "draw", "Subject_level", "Subject_term")
    assert "log_likelihood" in fit.idata
    assert fit.n_divergent >= 0  # sample_stats carry "diverging"

    # JAX compiles inside the sampling call
    assert math.isnan(fit.timing["compile"])
    assert fit.timing["sample"] > 0
    assert "sampled using " + sampler in str(fit)


def test_unknown_sampler_lists_choices(sleep_model):
    with pytest.raises(ValueError, match="unknown sampler 'stan'") as err:
        sleep_model.fit(draws=10, tune=10, sampler="stan", progressbar=False)
    for name in ("nutpie", "pymc", "numpyro", "blackjax"):
        assert repr(name) in str(err.value)
    assert set(SAMPLERS) == {"nutpie", "pymc", "numpyro", "blackjax"}


def test_missing_jax_library_names_the_extra(sleep_model, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "numpyro" else real(name, *a)
    )
    with pytest.raises(ImportError, match=r'pip install "pyglmm\[jax\]"'):
        sleep_model.fit(draws=10, tune=10, sampler="numpyro", progressbar=False, warn=False)


@pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")
def test_jax_logp_matches_pytensor_for_custom_and_marginal_graphs(sleep_model):
    """The centered block's CustomDist (triangular solve) and the marginal Potential lower to
    JAX with the same log density as PyTensor's default backend."""
    jax = pytest.importorskip("jax")
    from pymc.sampling.jax import get_jaxified_logp

    for parameterization in ("centered", "marginal"):
        model = sleep_model.compile(parameterization).model
        point = model.initial_point()
        rng = np.random.default_rng(0)
        point = {k: v + 0.1 * rng.standard_normal(np.shape(v)) for k, v in point.items()}
        expected = model.compile_logp()(point)
        logp = jax.jit(get_jaxified_logp(model))  # the log density (what blackjax uses)
        got = logp([jax.numpy.asarray(point[v.name]) for v in model.value_vars])
        np.testing.assert_allclose(float(got), expected, rtol=1e-8)
