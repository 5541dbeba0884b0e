"""REML starting values map back to the REML estimates through the compiled model."""

import numpy as np
import pytensor.tensor as pt
import pytest

import pyglmm as pg
from pyglmm.init import initvals_from_lmm


@pytest.mark.parametrize("param", ["noncentered", "centered"])
@pytest.mark.parametrize(
    "formula", ["Reaction ~ Days + (Days | Subject)", "Reaction ~ Days + (Days || Subject)"]
)
def test_reml_start_reproduces_reml_estimates(formula, param):
    model = pg.Model(formula, pg.datasets.load("sleepstudy"), parameterization=param)
    lmm = model.optimize(reml=True)
    compiled = model.compile()
    start = initvals_from_lmm(model.design, lmm, compiled.parameterization)
    pm_model = compiled.model
    point = pm_model.initial_point()
    # the model's own transforms take the constrained starting values to the sampler's space
    for rv in pm_model.free_RVs:
        value_var = pm_model.rvs_to_values[rv]
        transform = pm_model.rvs_to_transforms.get(rv)
        val = start[rv.name]
        point[value_var.name] = (
            transform.forward(pt.as_tensor(val), *rv.owner.inputs).eval()
            if transform is not None
            else val
        )
    outs = pm_model.replace_rvs_by_values(
        [pm_model[n] for n in ["b", "r_Subject", "sd_Subject", "sigma"]]
    )
    fn = pm_model.compile_fn(outs, inputs=pm_model.value_vars, on_unused_input="ignore")
    b, r, sd, sigma = fn(point)
    np.testing.assert_allclose(b, lmm.beta, rtol=1e-8)
    np.testing.assert_allclose(r, lmm.b[0].reshape(18, 2), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sd, lmm.theta_to_sd_cor()[0][0], rtol=1e-6)
    assert sigma == pytest.approx(lmm.sigma, rel=1e-8)
    assert np.isfinite(pm_model.compile_logp()(point))


def test_unknown_init_raises():
    model = pg.Model("Reaction ~ Days + (1 | Subject)", pg.datasets.load("sleepstudy"))
    with pytest.raises(ValueError, match="unknown init"):
        model.fit(init="mle", draws=10, tune=10, chains=1, progressbar=False)
