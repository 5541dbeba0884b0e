"""The Laplace block of the GLMM kernel (pyglmm.kernel.laplace, ``parameterization="laplace"``):
its log density against a dense Laplace approximation computed independently (scipy's
optimiser over all the block's effects of the joint density, a finite-difference Hessian), its
gradient against central differences, the effect draws against that Gaussian, the C callback,
the policy's typed errors, and the posterior against exact NUTS where the approximation is
nearly exact (Poisson with large counts)."""

import ctypes

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from test_kernel_glmm import FAMILY_LINKS, RESPONSES, _frame

import pyglmm as pg
from pyglmm import kernel
from pyglmm.compile import resolve_parameterization
from pyglmm.errors import ArgumentError
from pyglmm.kernel import glmm_ccall, laplace, nutpie
from pyglmm.kernel.glmm import glmm_density
from pyglmm.workflow import comparison


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _frame(7)


# the Laplace block g (q = 1, or q = 2 correlated) beside a crossed latent block h (centered:
# hierarchically centered on the intercept, or non-centered)
STRUCTURES = {
    "q=1": ("x + offset(off) + (1 | g) + (1 | h)", {"g": "laplace", "h": "centered"}),
    "q=2": ("x + offset(off) + (1 + x | g) + (1 | h)", {"g": "laplace", "h": "noncentered"}),
}


def _model(df: pd.DataFrame, family: str, link: str, structure: str) -> pg.Model:
    rhs, _ = STRUCTURES[structure]
    return pg.Model(f"{RESPONSES[family]} ~ {rhs}", df, family=pg.family(family, link=link))


def _kernel(model: pg.Model, spec) -> kernel.KernelModel:
    params = resolve_parameterization(spec, model.design.blocks, model.family)
    km = kernel.kernel_model(model.design, model.prior_set, model.family, params)
    assert isinstance(km, kernel.KernelModel), km
    return km


class _Dense:
    """The Laplace approximation computed densely from the joint density of the same model
    with the block latent (non-centered: ``z ~ N(0, I)``, the kernel's latent path, itself
    tested against PyMC in test_kernel_glmm): scipy's ``trust-exact`` over all the block's
    ``z`` at once, the Hessian by central differences of the joint gradient, and

        log p ~= lp(z*) + G q / 2 log 2 pi - 1/2 log det(-d2 lp / dz2)."""

    def __init__(self, model: pg.Model, spec: dict[str, str]):
        self.lap = _kernel(model, spec)
        self.lat = _kernel(model, {**spec, "g": "noncentered"})
        (blk,) = [b for b in self.lat.blocks if b.name == "g"]
        start = blk.offset + blk.q + blk.m
        self.idx = np.arange(start, blk.offset + blk.size)
        self.shape = (len(blk.levels), blk.q)

    def joint_x(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """The latent model's point with the Laplace model's ``x`` and the block's ``z``."""
        out = np.zeros(self.lat.ndim)
        head = self.lap.p + len(self.lap.family_params)
        out[:head] = x[:head]
        by_name = {b.name: b for b in self.lap.blocks}
        for b in self.lat.blocks:
            src = by_name[b.name]
            out[b.offset : b.offset + b.q + b.m] = x[src.offset : src.offset + src.q + src.m]
            if src.latent:
                out[b.offset + b.q + b.m : b.offset + b.size] = src.effects(x).ravel()
        out[self.idx] = z
        return out

    def _neg(self, x: np.ndarray, z: np.ndarray) -> tuple[float, np.ndarray]:
        lp, grad = self.lat.logp(self.joint_x(x, z))
        return -lp, -grad[self.idx]

    def _hess(self, x: np.ndarray, z: np.ndarray, eps: float = 1e-5) -> np.ndarray:
        cols = [
            (self._neg(x, z + eps * e)[1] - self._neg(x, z - eps * e)[1]) / (2 * eps)
            for e in np.eye(z.size)
        ]
        H = np.array(cols).T
        return 0.5 * (H + H.T)

    def mode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """The block's mode ``z*``, the Hessian of ``-lp`` there, and ``lp(z*)``."""
        res = optimize.minimize(
            lambda z: self._neg(x, z), np.zeros(self.idx.size), jac=True,
            hess=lambda z: self._hess(x, z), method="trust-exact", options={"gtol": 1e-8},
        )  # fmt: skip
        z = res.x
        for _ in range(2):  # polish below the optimiser's tolerance: plain Newton steps
            z = z - np.linalg.solve(self._hess(x, z), self._neg(x, z)[1])
        f, g = self._neg(x, z)
        assert np.abs(g).max() < 1e-9, (res.message, g)
        return z, self._hess(x, z), -f

    def logp(self, x: np.ndarray) -> float:
        _, H, lp = self.mode(x)
        return lp + 0.5 * self.idx.size * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(H)[1]


def _points(km: kernel.KernelModel, count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(11)
    return [km.initial_point(s) + 0.3 * rng.normal(size=km.ndim) for s in range(count)]


CASES = [(f, link, s) for f, link in FAMILY_LINKS for s in STRUCTURES]


@pytest.mark.parametrize("family,link,structure", CASES)
def test_density_equals_a_dense_laplace_approximation(data, family, link, structure):
    model = _model(data, family, link, structure)
    dense = _Dense(model, STRUCTURES[structure][1])
    km = dense.lap
    assert km.laplace is not None and km.laplace.name == "g"
    assert km.ndim == dense.lat.ndim - dense.idx.size  # only the block's effects are gone
    for x in _points(km, 2):
        lp, _ = km.logp(x)
        assert np.isfinite(lp)
        assert lp == pytest.approx(dense.logp(x), abs=1e-7, rel=1e-9)


@pytest.mark.parametrize("family,link,structure", CASES)
def test_gradient_matches_finite_differences(data, family, link, structure):
    km = _kernel(_model(data, family, link, structure), STRUCTURES[structure][1])
    (x,) = _points(km, 1)
    lp, grad = km.logp(x)
    eps = 1e-6
    fd = [(km.logp(x + eps * e)[0] - km.logp(x - eps * e)[0]) / (2 * eps) for e in np.eye(km.ndim)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5 * max(1.0, abs(lp)) ** 0.5)


def test_gradient_with_a_tiny_sd_and_far_from_the_data(data):
    """The z form stays finite as an SD goes to 0 (B -> I), and Newton's step halving finds
    the mode from far away (a Poisson intercept 6 units off)."""
    km = _kernel(_model(data, "poisson", "log", "q=2"), STRUCTURES["q=2"][1])
    (x,) = _points(km, 1)
    blk = km.laplace
    for shift in ((blk.offset, -12.0), (0, 6.0), (0, -6.0)):
        xs = x.copy()
        xs[shift[0]] += shift[1]
        lp, grad = km.logp(xs)
        eps = 1e-6
        fd = [
            (km.logp(xs + eps * e)[0] - km.logp(xs - eps * e)[0]) / (2 * eps)
            for e in np.eye(km.ndim)
        ]
        assert np.isfinite(lp)
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5 * max(1.0, abs(lp)) ** 0.5)


@pytest.mark.parametrize("family,link", [("binomial", "probit"), ("negativebinomial", "log")])
def test_effect_draws_are_the_gaussian_approximation(data, family, link):
    """``r_l ~ N(u*_l, H_l^-1)``: at one point, 20000 draws against the dense mode and
    Hessian (in r = Lambda z)."""
    model = _model(data, family, link, "q=2")
    dense = _Dense(model, STRUCTURES["q=2"][1])
    km = dense.lap
    (x,) = _points(km, 1)
    z, H, _ = dense.mode(x)
    sd, L = km.laplace.scale(x)
    Lam = sd[:, None] * L
    G, q = dense.shape
    draws = nutpie.laplace_effects(km, np.repeat(x[None], 20000, axis=0), seed=5)
    assert draws.shape == (20000, G, q)
    cov_z = np.linalg.inv(H)
    for lev in range(G):
        sl = slice(lev * q, (lev + 1) * q)
        mean = Lam @ z[sl]
        cov = Lam @ cov_z[sl, sl] @ Lam.T
        se = np.sqrt(np.diag(cov) / 20000)
        np.testing.assert_array_less(np.abs(draws[:, lev].mean(0) - mean), 4.5 * se)
        np.testing.assert_allclose(np.cov(draws[:, lev].T), cov, rtol=0.06, atol=0.03 * cov.max())
    again = nutpie.laplace_effects(km, np.repeat(x[None], 3, axis=0), seed=5)
    np.testing.assert_array_equal(again, draws[:3])  # seeded


def test_c_callback_equals_the_kernel(data):
    km = _kernel(_model(data, "negativebinomial", "log", "q=2"), STRUCTURES["q=2"][1])
    table, _keep = glmm_ccall.pack(km._args)
    ptr = ctypes.POINTER(ctypes.c_double)
    for x in _points(km, 2):
        grad, lp = np.full(km.ndim, np.nan), np.full(1, np.nan)
        rc = glmm_ccall.logp_cfunc.ctypes(
            km.ndim, x.ctypes.data_as(ptr), grad.ctypes.data_as(ptr), lp.ctypes.data_as(ptr),
            table.ctypes.data_as(ctypes.c_void_p),
        )  # fmt: skip
        lp_ref, grad_ref = km.logp(x)
        assert rc == 0 and lp[0] == lp_ref
        np.testing.assert_array_equal(grad, grad_ref)


def test_modes_equal_the_dense_optimiser(data):
    """Every level's mode from z = 0 (no state kept between calls): the kernel's modes equal
    scipy's over all effects at once."""
    dense = _Dense(_model(data, "bernoulli", "logit", "q=2"), STRUCTURES["q=2"][1])
    km = dense.lap
    (x,) = _points(km, 1)
    z, _, _ = dense.mode(x)
    q = km.laplace.q
    modes, chols, lam = np.empty(dense.shape), np.empty((*dense.shape, q)), np.empty((q, q))
    assert np.isfinite(glmm_density(x, np.empty(km.ndim), modes, chols, lam, *km._args))
    np.testing.assert_allclose(modes.ravel(), z, atol=1e-7)
    assert laplace.STEP_TOL <= 1e-6


# --- the policy ------------------------------------------------------------------------------


def test_resolve_picks_the_block_with_most_levels(data):
    model = _model(data, "poisson", "log", "q=1")
    resolved = resolve_parameterization("laplace", model.design.blocks, model.family)
    assert resolved["g"] == "laplace" and resolved["h"] in ("centered", "noncentered")
    assert (
        "laplace"
        not in resolve_parameterization("auto", model.design.blocks, model.family).values()
    )
    # a group name names its block
    assert resolve_parameterization({"h": "laplace"}, model.design.blocks, model.family) == {
        "g": "noncentered",
        "h": "laplace",
    }


def test_typed_errors(data):
    gauss = pg.Model("x ~ 1 + (1 | g)", data)
    with pytest.raises(ArgumentError, match="use 'marginal'"):
        resolve_parameterization("laplace", gauss.design.blocks, gauss.family)
    with pytest.raises(ArgumentError, match="use 'marginal'"):
        pg.Model("x ~ 1 + (1 | g)", data, parameterization={"g": "laplace"})
    with pytest.raises(ArgumentError, match="no row density"):
        pg.Model("x ~ 1 + (1 | g)", data.assign(x=data.x.abs() + 1), family="gamma",
                 parameterization="laplace")  # fmt: skip
    with pytest.raises(ArgumentError, match="only one block may be laplace"):
        pg.Model("yc ~ x + (1 | g) + (1 | h)", data, family="poisson",
                 parameterization={"g": "laplace", "h": "laplace"})  # fmt: skip
    model = pg.Model("yc ~ x + (1 | g)", data, family="poisson", parameterization="laplace")
    with pytest.raises(ArgumentError, match="kernel=False"):
        model.fit(kernel=False, draws=10, tune=10, chains=1)
    with pytest.raises(ArgumentError, match="sampler='nutpie'"):
        model.fit(sampler="pymc", draws=10, tune=10, chains=1)
    with pytest.raises(ArgumentError, match="no PyMC model"):
        model.code()
    with pytest.raises(ArgumentError, match="no PyMC model"):
        model.compile()
    identity = pg.Model("yc ~ x + (1 | g)", data, family=pg.family("poisson", link="identity"),
                        parameterization="laplace")  # fmt: skip
    with pytest.raises(ArgumentError, match="no kernel: family poisson\\(identity\\)"):
        identity.fit(draws=10, tune=10, chains=1)


def test_compare_includes_laplace_for_glmms_of_the_kernel(data):
    glmm = pg.Model("yc ~ x + (1 | g)", data, family="poisson")
    assert comparison._kernel_covers_laplace(glmm, {})
    assert not comparison._kernel_covers_laplace(glmm, {"kernel": False})
    assert not comparison._kernel_covers_laplace(glmm, {"sampler": "pymc"})
    assert not comparison._kernel_covers_laplace(pg.Model("x ~ 1 + (1 | g)", data), {})
    ident = pg.Model("yc ~ x + (1 | g)", data, family=pg.family("poisson", link="identity"))
    assert not comparison._kernel_covers_laplace(ident, {})


# --- posterior ------------------------------------------------------------------------------


def _large_counts(seed: int) -> tuple[pd.DataFrame, dict[str, float]]:
    """Poisson counts around 60 (20 groups x 8 rows, a random intercept and slope): each
    level's likelihood is nearly gaussian in its effects, so the Laplace approximation is
    nearly exact."""
    rng = np.random.default_rng(seed)
    groups, rows = 20, 8
    g = np.repeat(np.arange(groups), rows)
    x = rng.normal(size=g.size)
    truth = {"Intercept": 4.0, "x": 0.3, "sd0": 0.5, "sd1": 0.2}
    u0 = rng.normal(0, truth["sd0"], groups)
    u1 = rng.normal(0, truth["sd1"], groups)
    y = rng.poisson(np.exp(truth["Intercept"] + u0[g] + (truth["x"] + u1[g]) * x))
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:02d}" for k in g]}), truth


def test_large_counts_posterior_equals_exact_nuts_and_recovers_the_truth():
    df, truth = _large_counts(3)
    model = pg.Model("y ~ x + (1 + x || g)", df, family="poisson")
    kw = dict(draws=1000, tune=1000, chains=4, seed=2, progressbar=False, warn=False)
    exact = model.fit(parameterization="centered", **kw)  # non-centered diverges here
    assert exact.n_divergent == 0
    lap = model.fit(parameterization="laplace", init="laplace", **kw)
    assert lap.timing["kernel"] == 1.0 and "laplace_effects" in lap.timing
    assert lap.parameterization["g"] == "laplace"
    a, b = lap.summary(), exact.summary()
    assert list(a["term"]) == list(b["term"])
    mcse = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = (a["Estimate"] - b["Estimate"]).abs() / mcse
    assert (z < 4).all(), dict(zip(a["term"], z, strict=True))
    np.testing.assert_allclose(a["Est.Error"], b["Est.Error"], rtol=0.15)
    # recovery: the truths inside the 95% intervals
    rows = dict(zip(a["term"], zip(a["l-95% CI"], a["u-95% CI"], strict=True), strict=True))
    for term, key in (("Intercept", "Intercept"), ("x", "x"), ("sd(Intercept)", "sd0")):
        lo, hi = rows[term]
        assert lo < truth[key] < hi, (term, lo, hi)
    # the drawn effects serve ranef, predict and loo as latent ones do
    ra, rb = lap.ranef()["g"], exact.ranef()["g"]
    np.testing.assert_allclose(ra.to_numpy(), rb.to_numpy(), atol=0.02)
    pa, pb = lap.predict(), exact.predict()
    np.testing.assert_allclose(np.asarray(pa)[:, 0], np.asarray(pb)[:, 0], rtol=0.02)
    assert abs(pg.stack.elpd(lap.loo())[0] - pg.stack.elpd(exact.loo())[0]) < 2.0
