"""The links brms offers beside the defaults: poisson / negative binomial identity and sqrt,
gamma inverse and identity (#14)."""

import numpy as np
import pandas as pd
import pytensor.tensor as pt
import pytest

import pyglmm as pg


@pytest.mark.parametrize(
    ("family", "link", "eta", "mu"),
    [
        ("poisson", "sqrt", np.array([0.5, 2.0]), np.array([0.25, 4.0])),
        ("poisson", "identity", np.array([0.5, 2.0]), np.array([0.5, 2.0])),
        ("negativebinomial", "sqrt", np.array([3.0]), np.array([9.0])),
        ("gamma", "inverse", np.array([0.5, 4.0]), np.array([2.0, 0.25])),
        ("gamma", "identity", np.array([1.5]), np.array([1.5])),
    ],
)
def test_inverse_links(family, link, eta, mu):
    fam = pg.family(family, link=link)
    np.testing.assert_allclose(fam.linkinv_np(eta), mu)
    np.testing.assert_allclose(fam.linkinv(pt.as_tensor(eta)).eval(), mu)


def test_default_intercept_prior_is_on_the_link_scale():
    """brms's def_scale_prior: location median(link(y)), scale max(2.5, mad(link(y)))."""
    y = np.array([1.0, 4.0, 9.0, 16.0, 25.0])
    fam = pg.family("poisson", link="sqrt")
    assert fam.default_center(y, None) == pytest.approx(3.0)
    fam = pg.family("gamma", link="inverse")
    assert fam.default_center(y, None) == pytest.approx(1 / 9)


def test_poisson_sqrt_link_recovers_its_coefficients():
    rng = np.random.default_rng(11)
    n, groups = 600, 30
    g = np.repeat(np.arange(groups), n // groups)
    x = rng.uniform(0, 1, n)
    eta = 2.0 + 1.0 * x + rng.normal(0, 0.2, groups)[g]  # sqrt(mu)
    df = pd.DataFrame({"y": rng.poisson(eta**2), "x": x, "g": [f"g{i}" for i in g]})
    fit = pg.Model("y ~ x + (1 | g)", df, family=pg.family("poisson", link="sqrt")).fit(
        draws=500, tune=500, chains=2, seed=1, progressbar=False, warn=False
    )
    fe = fit.fixef()
    for name, truth in [("Intercept", 2.0), ("x", 1.0)]:
        assert fe.loc[name, "Q2.5"] < truth < fe.loc[name, "Q97.5"], fe
