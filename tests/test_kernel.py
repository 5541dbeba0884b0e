"""The compiled-once kernel (pyglmm.kernel): its log density against an independent dense
computation, its gradient against finite differences, its scope, and posterior agreement
with the compiled PyMC model."""

import ctypes

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import pyglmm as pg
from pyglmm import kernel
from pyglmm.compile import hierarchical_centering, resolve_parameterization
from pyglmm.init import initvals_from_lmm
from pyglmm.kernel import ccall
from pyglmm.priors import Prior


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n, groups = 72, 9
    g = np.repeat(np.arange(groups), n // groups)
    h = rng.integers(0, 4, size=n)
    x, w = rng.normal(size=n), rng.normal(size=n)
    u = rng.normal(size=(groups, 3)) * [1.0, 0.5, 0.3]
    y = 3 + u[g, 0] + (0.7 + u[g, 1]) * x + (-0.4 + u[g, 2]) * w + rng.normal(size=n)
    return pd.DataFrame(
        {
            "y": y + 0.5 * h,
            "x": x,
            "w": w,
            "off": rng.normal(size=n),
            "g": [f"s{k}" for k in g],
            "h": [f"h{k}" for k in h],
        }
    )


PRIORS = {
    "defaults": {},
    "normal/cauchy/gamma/invgamma/lkj2": {
        "Intercept": pg.prior("Normal", mu=3, sigma=5),
        "b": pg.prior("Cauchy", alpha=0, beta=2),
        "sd": pg.prior("Gamma", alpha=2, beta=1),
        "sigma": pg.prior("InverseGamma", alpha=3, beta=2),
        "cor": pg.prior("LKJ", eta=2),
    },
    "flat/exponential/halfcauchy": {
        "Intercept": pg.prior("Flat"),
        "b": pg.prior("Flat"),
        "sd": pg.prior("Exponential", lam=2),
        "sigma": pg.prior("HalfCauchy", beta=2),
    },
    "halfnormal/halfflat/lkj0.5": {
        "sd": pg.prior("HalfNormal", sigma=2),
        "sigma": pg.prior("HalfFlat"),
        "cor": pg.prior("LKJ", eta=0.5),
    },
}
M = "marginal"
FORMULAS = {
    "lkj q=3": ("y ~ x + w + (1 + x + w | g)", M),
    "lkj q=2": ("y ~ x + (1 + x | g)", M),
    "diag q=3": ("y ~ x + w + (1 + x + w || g)", M),
    "q=1": ("y ~ x + (1 | g)", M),
    "no intercept": ("y ~ 0 + x + (1 + x | g)", M),
    "offset": ("y ~ x + offset(off) + (1 + x | g)", M),
    "marginal + noncentered": ("y ~ x + (1 + x | g) + (1 | h)", {"g": M, "h": "noncentered"}),
    "marginal + centered lkj": ("y ~ x + (1 | g) + (1 + x | h)", {"g": M, "h": "centered"}),
    "noncentered lkj q=3": ("y ~ x + w + (1 + x + w | g)", "noncentered"),
    "centered lkj q=3": ("y ~ x + w + (1 + x + w | g)", "centered"),
    "intercept only, crossed": ("y ~ 1 + (1 | g) + (1 | h)", {"g": M, "h": "centered"}),
    "slope only, crossed": ("y ~ x + (1 | g) + (0 + x | h)", {"g": M, "h": "centered"}),
    "centered diag + noncentered lkj": (
        "y ~ offset(off) + x + (1 + x || g) + (1 + x | h)",
        {"g": "centered", "h": "noncentered"},
    ),
}


def _kernel(name: str, df: pd.DataFrame, priors: dict) -> tuple[pg.Model, kernel.KernelModel]:
    formula, spec = FORMULAS[name]
    pri = dict(priors)
    if "0 +" in formula:
        pri.pop("Intercept", None)
    if "cor" in pri and "|" not in formula.replace("||", ""):
        pri.pop("cor")
    model = pg.Model(formula, df, priors=pri)
    params = resolve_parameterization(spec, model.design.blocks, model.family)
    km = kernel.kernel_model(model.design, model.prior_set, model.family, params)
    assert isinstance(km, kernel.KernelModel), km
    return model, km


def _scipy_logpdf(p: Prior, x: float) -> float:
    a = p.params
    match p.dist:
        case "Normal":
            return stats.norm.logpdf(x, a.get("mu", 0), a.get("sigma", 1))
        case "StudentT":
            return stats.t.logpdf(x, a["nu"], a.get("mu", 0), a.get("sigma", 1))
        case "Cauchy":
            return stats.cauchy.logpdf(x, a["alpha"], a["beta"])
        case "HalfNormal":
            return stats.halfnorm.logpdf(x, scale=a.get("sigma", 1))
        case "HalfStudentT":
            return np.log(2) + stats.t.logpdf(x, a["nu"], 0, a.get("sigma", 1))
        case "HalfCauchy":
            return stats.halfcauchy.logpdf(x, scale=a["beta"])
        case "Exponential":
            return stats.expon.logpdf(x, scale=1 / a["lam"])
        case "Gamma":
            return stats.gamma.logpdf(x, a["alpha"], scale=1 / a["beta"])
        case "InverseGamma":
            return stats.invgamma.logpdf(x, a["alpha"], scale=a["beta"])
        case "Flat" | "HalfFlat":
            return 0.0
    raise AssertionError(p.dist)


def _dense_z(blk) -> np.ndarray:
    Z = np.zeros((len(blk.codes), blk.n_levels * blk.q))
    for j in range(blk.q):
        Z[np.arange(len(blk.codes)), blk.codes * blk.q + j] = blk.Z[:, j]
    return Z


def _reference_logp(model: pg.Model, km: kernel.KernelModel, x: np.ndarray) -> float:
    """Dense MVN likelihood (marginal block integrated out, latent blocks in the mean) + scipy
    priors + latent effects' priors + the Jacobian of x -> (sigma, sd, correlations) with the
    correlations' part from finite differences + LKJ (eta - 1) log det R (no constant)."""
    d, pri, p = model.design, model.prior_set, km.p
    vals = km.constrained(x)
    mean = d.X @ vals["b"] + (0 if d.offset is None else d.offset)
    V = vals["sigma"] ** 2 * np.eye(d.n_obs)
    lp = 0.0
    for kb, blk in ((kb, next(b for b in d.blocks if b.name == kb.name)) for kb in km.blocks):
        sd = vals[f"sd_{kb.name}"]
        R = vals.get(f"cor_{kb.name}", np.eye(kb.q))
        cov = np.outer(sd, sd) * R
        Z = _dense_z(blk)
        if kb.role == "marginal":
            V = V + Z @ np.kron(np.eye(blk.n_levels), cov) @ Z.T
        else:
            r = vals[f"r_{kb.name}"]
            mean = mean + Z @ r.reshape(-1)
            if kb.role == "centered":
                lp += stats.multivariate_normal.logpdf(r, np.zeros(kb.q), cov).sum()
            else:
                lp += stats.norm.logpdf(vals[f"z_{kb.name}"]).sum()
        for t, s_, xs in zip(blk.terms, sd, x[kb.offset : kb.offset + kb.q], strict=True):
            lp += _scipy_logpdf(pri.sd[kb.name][t], s_) + xs
        if kb.m:
            y0 = x[kb.offset + kb.q : kb.offset + kb.q + kb.m]

            def corr(y, kb=kb):
                xx = x.copy()
                xx[kb.offset + kb.q : kb.offset + kb.q + kb.m] = y
                _, L = kb.scale(xx)
                return (L @ L.T)[np.triu_indices(kb.q, 1)]

            eps = 1e-6
            J = np.array(
                [(corr(y0 + eps * e) - corr(y0 - eps * e)) / (2 * eps) for e in np.eye(kb.m)]
            )
            lp += np.linalg.slogdet(J)[1] + (kb.eta - 1) * np.linalg.slogdet(R)[1]
    lp += stats.multivariate_normal.logpdf(d.y, mean, V)
    if km.intercept_pos is not None:
        lp += _scipy_logpdf(pri.intercept, float(vals["Intercept"]))
        betas = vals.get("beta", [])
        lp += sum(_scipy_logpdf(pri.b[c], v) for c, v in zip(pri.b, betas, strict=True))
    else:
        lp += sum(_scipy_logpdf(pri.b[c], v) for c, v in zip(pri.b, vals["b"], strict=True))
    lp += _scipy_logpdf(pri.family["sigma"], float(vals["sigma"])) + x[p]
    return lp


@pytest.mark.parametrize("formula", list(FORMULAS))
@pytest.mark.parametrize("prior_set", list(PRIORS))
def test_logp_equals_dense_reference_up_to_a_constant(data, formula, prior_set):
    model, km = _kernel(formula, data, PRIORS[prior_set])
    rng = np.random.default_rng(5)
    gaps = []
    for _ in range(3):
        x = km.initial_point(int(rng.integers(1000)))
        gaps.append(km.logp(x)[0] - _reference_logp(model, km, x))
    # the constant is the LKJ normalizing constant (0 without a correlation matrix)
    np.testing.assert_allclose(gaps, gaps[0], atol=1e-6)
    if all(b.m == 0 for b in km.blocks):
        assert abs(gaps[0]) < 1e-6


@pytest.mark.parametrize("formula", list(FORMULAS))
@pytest.mark.parametrize("prior_set", list(PRIORS))
def test_gradient_matches_finite_differences(data, formula, prior_set):
    _, km = _kernel(formula, data, PRIORS[prior_set])
    x = km.initial_point(3)
    lp, grad = km.logp(x)
    eps = 1e-6
    fd = [(km.logp(x + eps * e)[0] - km.logp(x - eps * e)[0]) / (2 * eps) for e in np.eye(km.ndim)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5 * max(1.0, abs(lp)) ** 0.5)


def test_unconstrained_inverts_constrained(data):
    for name in ("lkj q=3", "centered diag + noncentered lkj", "marginal + centered lkj"):
        _, km = _kernel(name, data, {})
        x = km.initial_point(8)
        np.testing.assert_allclose(km.unconstrained(km.constrained(x)), x, atol=1e-9)


@pytest.mark.parametrize("formula", list(FORMULAS))
def test_c_callback_equals_the_kernel(data, formula):
    """nutpie's C callback (slot table + cfunc) gives the kernel's density and gradient
    exactly, returns 4 where the density overflows, and stores draws as they are."""
    _, km = _kernel(formula, data, {})
    table, _keep = ccall.pack(km._args)
    ptr = ctypes.POINTER(ctypes.c_double)

    def call(x: np.ndarray) -> tuple[int, float, np.ndarray]:
        grad, lp = np.full(km.ndim, np.nan), np.full(1, np.nan)
        rc = ccall.logp_cfunc.ctypes(
            km.ndim, x.ctypes.data_as(ptr), grad.ctypes.data_as(ptr), lp.ctypes.data_as(ptr),
            table.ctypes.data_as(ctypes.c_void_p),
        )  # fmt: skip
        return rc, float(lp[0]), grad

    for seed in (1, 2):
        x = km.initial_point(seed)
        rc, lp, grad = call(x)
        lp_ref, grad_ref = km.logp(x)
        assert rc == 0 and lp == lp_ref
        np.testing.assert_array_equal(grad, grad_ref)
    x[km.p] = 800.0  # log sigma: sigma**2 overflows
    assert call(x)[0] == 4
    out = np.zeros(km.ndim)
    assert (
        ccall.copy_cfunc.ctypes(
            km.ndim, km.ndim, x.ctypes.data_as(ptr), out.ctypes.data_as(ptr), None
        )
        == 0
    )
    np.testing.assert_array_equal(out, x)


def test_unit_columns_are_detected(data):
    """Latent q = 1 blocks whose column is ones take the row loops without the multiply."""
    assert list(_kernel("intercept only, crossed", data, {})[1]._lat["unit"]) == [True]
    assert list(_kernel("slope only, crossed", data, {})[1]._lat["unit"]) == [False]
    assert list(_kernel("centered lkj q=3", data, {})[1]._lat["unit"]) == [False]


def test_hierarchical_centering_rule(data):
    """Each fixed effect is centered on by the centered block with the fewest levels that has
    it as a term; non-centered and marginal blocks store their own effects."""
    model = pg.Model("y ~ x + (1 + x | g) + (1 | h) + (1 | g:h)", data)
    spec = {"g": "centered", "h": "centered", "g:h": "noncentered"}
    params = resolve_parameterization(spec, model.design.blocks, model.family)
    theta = ["Intercept", "x"]
    centers = hierarchical_centering(model.design, params, theta)
    # h (4 levels) takes the Intercept from g (9 levels); x is a term of g only
    assert centers == {"g": (-1, 1), "h": (0,)}
    params["h"] = "noncentered"
    assert hierarchical_centering(model.design, params, theta) == {"g": (0, 1)}
    params["g"] = "marginal"
    assert hierarchical_centering(model.design, params, theta) == {}
    no_intercept = pg.Model("y ~ 0 + x + (1 + x | g)", data)
    centers = hierarchical_centering(no_intercept.design, {"g": "centered"}, ["x"])
    assert centers == {"g": (-1, 0)}


def test_centered_effects_are_stored_around_the_fixed_effects(data):
    """x holds alpha_l = theta_c + r_l for the centered terms; constrained() returns r."""
    _, km = _kernel("marginal + centered lkj", data, {})
    (h,) = km.latent
    assert h.center == (0, 1)
    x = km.initial_point(4)
    alpha = x[h.offset + h.q + h.m : h.offset + h.size].reshape(-1, 2)
    r = km.constrained(x)["r_h"]
    np.testing.assert_allclose(r, alpha - x[[0, 1]], rtol=1e-14)
    # the density depends on r only: shifting theta_c with alpha fixed moves every r
    x2 = x.copy()
    x2[0] += 0.3
    np.testing.assert_allclose(km.constrained(x2)["r_h"][:, 0], r[:, 0] - 0.3, rtol=1e-12)


def test_reml_start_passes_alpha_to_the_kernel(data):
    """``init="reml"`` hands the PyMC model's free variables to the kernel: for a
    hierarchically centered block that is ``alpha``, which the kernel stores as it is."""
    model, km = _kernel("marginal + centered lkj", data, {})
    lmm = model.optimize(reml=True)
    start = initvals_from_lmm(model.design, lmm, {"g": "marginal", "h": "centered"})
    assert "alpha_h" in start and "r_h" not in start
    values = km.constrained(km.unconstrained(start))
    names = [b.name for b in model.design.blocks]
    r_h = np.asarray(lmm.b[names.index("h")]).reshape(-1, 2)
    np.testing.assert_allclose(values["r_h"], r_h, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(values["alpha_h"], start["alpha_h"], rtol=1e-12)


def test_hierarchically_centered_fit_agrees_with_marginal():
    """Sampling the stored alpha = theta + r and reporting r gives the marginal fit's posterior
    (intercept and slope both hierarchically centered; 6 groups x 40 rows)."""
    rng = np.random.default_rng(21)
    g = np.repeat(np.arange(6), 40)
    x = rng.normal(size=g.size)
    u = rng.normal(size=(6, 2)) * [1.0, 0.5]
    y = 1 + u[g, 0] + (0.5 + u[g, 1]) * x + rng.normal(scale=0.5, size=g.size)
    model = pg.Model("y ~ x + (1 + x | g)", pd.DataFrame({"y": y, "x": x, "g": g.astype(str)}))
    kw = dict(draws=1000, tune=1000, chains=4, seed=2, progressbar=False, warn=False)
    hc, marginal = model.fit(parameterization="centered", **kw), model.fit(**kw)
    assert hc.parameterization == {"g": "centered"} and "compile_cached" in hc.timing
    assert marginal.parameterization == {"g": "marginal"}
    a, b = hc.summary(), marginal.summary()
    mcse = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = (a["Estimate"] - b["Estimate"]).abs() / mcse
    assert (z < 4).all(), dict(zip(a["term"], z, strict=True))
    np.testing.assert_allclose(a["Est.Error"], b["Est.Error"], rtol=0.2)
    # r, not alpha = theta + r (theta is about (1, 0.5)): posterior SD of r about 0.4
    np.testing.assert_allclose(hc.ranef()["g"].values, marginal.ranef()["g"].values, atol=0.1)


def test_constrained_of_draws_equals_per_point(data):
    for name in ("lkj q=3", "centered diag + noncentered lkj", "marginal + centered lkj"):
        _, km = _kernel(name, data, {})
        X = np.stack([km.initial_point(s) for s in range(6)]).reshape(2, 3, km.ndim)
        batch = km.constrained(X)
        for i, j in np.ndindex(2, 3):
            for key, value in km.constrained(X[i, j]).items():
                np.testing.assert_allclose(batch[key][i, j], value, rtol=1e-14, err_msg=key)


def test_scope(data):
    def reason(formula, family="gaussian", param="marginal", priors=None):
        model = pg.Model(
            formula, data.assign(c=(data.y > 3).astype(int)), family=family, priors=priors
        )
        spec = {"g": param}
        return kernel.kernel_model(model.design, model.prior_set, model.family, spec)

    assert isinstance(reason("y ~ x + (1 + x | g)"), kernel.KernelModel)
    gamma = reason("c + 1 ~ x + (1 | g)", family="gamma", param="noncentered")
    assert "family gamma(log) has no kernel density" in gamma
    assert isinstance(
        reason("c ~ x + (1 | g)", family="bernoulli", param="noncentered"), kernel.KernelModel
    )
    assert isinstance(reason("y ~ x + (1 + x | g)", param="noncentered"), kernel.KernelModel)
    lognormal_sd = {"sd": pg.prior("LogNormal", mu=0, sigma=1)}
    assert "no kernel density" in reason("y ~ x + (1 | g)", priors=lognormal_sd)
    with pytest.raises(ValueError, match="has no kernel: family gamma"):
        pg.Model("exp(y) ~ x + (1 | g)", data, family="gamma").fit(kernel=True)
    with pytest.raises(ValueError, match="needs sampler='nutpie'"):
        pg.Model("y ~ x + (1 | g)", data).fit(sampler="pymc", kernel=True)


@pytest.fixture(scope="module")
def pair(data):
    """The same model (g integrated out, h latent and non-centered by the auto rule: 4 levels,
    fewer than 5) sampled through the kernel and through the PyMC model."""
    model = pg.Model("y ~ x + (1 + x | g) + (1 | h)", data)
    kw = dict(draws=1000, tune=1000, chains=4, seed=3, progressbar=False, warn=False)
    return model.fit(kernel=True, **kw), model.fit(kernel=False, **kw)


def test_kernel_and_pymc_posteriors_agree(pair):
    fast, slow = pair
    assert fast.parameterization == {"g": "marginal", "h": "noncentered"}
    assert "compile_cached" in fast.timing
    slow_vars = {v for v in slow.idata.posterior.data_vars if not str(v).endswith("__")}
    assert set(fast.idata.posterior.data_vars) == slow_vars
    for v in slow_vars:
        assert fast.idata.posterior[v].dims == slow.idata.posterior[v].dims, v
        for dim in slow.idata.posterior[v].dims:
            assert list(fast.idata.posterior[dim].values) == list(slow.idata.posterior[dim].values)
    a, b = fast.summary(), slow.summary()
    assert list(a["term"]) == list(b["term"])
    mcse = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = (a["Estimate"] - b["Estimate"]).abs() / mcse
    assert (z < 4).all(), dict(zip(a["term"], z, strict=True))
    np.testing.assert_allclose(a["Est.Error"], b["Est.Error"], rtol=0.2)
    # h has 4 levels, so both samplers see a few divergences (at seed 3: 7 and 9, then 18 and
    # 5 once PyTensor compiled without fastmath): the model's, not the kernel's; neither may
    # diverge in more than 1% of its 4,000 transitions
    for fit in (fast, slow):
        assert fit.diagnostics()["divergences"] <= 40


def test_kernel_cache_is_stamped_by_every_kernel_source():
    """numba would otherwise reuse machine code compiled before an edit to a callee's file."""
    from pyglmm import _numba_cache
    from pyglmm.kernel import logp

    for fn in (ccall.logp_cfunc, logp.logp_grad, logp.block_scale):
        locator = fn._cache._impl.locator
        assert isinstance(locator, _numba_cache.LOCATORS)
        names = {name for name, _, _ in locator.get_source_stamp()}
        assert {"ccall.py", "logp.py", "densities.py", "marginal.py"} <= names
