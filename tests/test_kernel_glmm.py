"""The GLMM kernel (pyglmm.kernel.glmm): its log density and gradient against the compiled
PyMC model's at random points, its gradient against finite differences, the row densities'
tails, its scope, posterior agreement with the PyMC path, and that a new data set of the
same kind of model compiles nothing."""

import ctypes

import numpy as np
import pandas as pd
import pytensor.tensor
import pytest
from scipy import special

import pyglmm as pg
from pyglmm import kernel
from pyglmm.compile import resolve_parameterization
from pyglmm.kernel import glmm, glmm_ccall, likelihoods
from pyglmm.kernel.densities import corr_cholesky


def _frame(seed: int, n: int = 96, groups: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, size=n)
    h = rng.integers(0, 5, size=n)
    x = rng.normal(size=n)
    off = 0.3 * rng.normal(size=n)
    u = rng.normal(size=(groups, 2)) * [0.8, 0.4]
    eta = -0.3 + u[g, 0] + (0.5 + u[g, 1]) * x + 0.3 * rng.normal(size=5)[h] + off
    trials = rng.integers(1, 12, size=n)
    mu = special.expit(eta)
    succ = rng.binomial(trials, mu)
    counts = rng.negative_binomial(4.0, 4.0 / (4.0 + np.exp(eta + 1)))
    w = 0.5 * rng.normal(size=groups)[g]  # a group-level predictor: constant within g
    v = 0.5 * rng.normal(size=5)[h]  # and one constant within h
    return pd.DataFrame(
        {
            "yb": rng.binomial(1, mu),
            "ys": succ,
            "yf": trials - succ,
            "yc": counts,
            "x": x,
            "off": off,
            "w": w,
            "v": v,
            "g": [f"g{k}" for k in g],
            "h": [f"h{k}" for k in h],
        }
    )


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return _frame(7)


RESPONSES = {
    "bernoulli": "yb",
    "binomial": "cbind(ys, yf)",
    "poisson": "yc",
    "negativebinomial": "yc",
}
FAMILY_LINKS = [
    ("bernoulli", "logit"),
    ("bernoulli", "probit"),
    ("bernoulli", "cloglog"),
    ("binomial", "logit"),
    ("binomial", "probit"),
    ("binomial", "cloglog"),
    ("poisson", "log"),
    ("negativebinomial", "log"),
]
STRUCTURES = {
    "one block": "x + offset(off) + (1 | g)",
    "two crossed": "x + offset(off) + (1 | g) + (1 | h)",
    "correlated slope": "x + offset(off) + (1 + x | g)",
    # w is constant within g: a centered g block's intercepts are centered on it too
    "group-level predictor": "x + w + offset(off) + (1 + x | g)",
    # crossed: h (fewest levels) is centered on Intercept and v, g on w alone
    "group-level crossed": "x + w + v + offset(off) + (1 | g) + (1 | h)",
}
USER_PRIORS = {
    "Intercept": pg.prior("Normal", mu=0, sigma=3),
    "b": pg.prior("StudentT", nu=4, mu=0, sigma=2),
    "sd": pg.prior("Exponential", lam=1.5),
    "cor": pg.prior("LKJ", eta=2),
}


def _model(df, family, link, structure, priors=None) -> pg.Model:
    formula = f"{RESPONSES[family]} ~ {STRUCTURES[structure]}"
    pri = dict(priors or {})
    if "cor" in pri and "1 + x |" not in formula:
        pri.pop("cor")
    return pg.Model(formula, df, family=pg.family(family, link=link), priors=pri)


def _kernel(model: pg.Model, spec) -> kernel.KernelModel:
    params = resolve_parameterization(spec, model.design.blocks, model.family)
    km = kernel.kernel_model(model.design, model.prior_set, model.family, params)
    assert isinstance(km, kernel.KernelModel), km
    assert km.glmm is not None
    return km


def _random_point(km: kernel.KernelModel, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return km.initial_point(seed) + 0.3 * rng.normal(size=km.ndim)


def _moderate_points(model: pg.Model, km: kernel.KernelModel, count: int) -> list[np.ndarray]:
    """Random points where every ``|eta| < 2.5``: PyMC's Binomial takes ``log(1 - mu)`` of
    ``mu``, which loses digits as ``mu -> 1`` (``1 - mu = exp(-e^4)`` under cloglog at eta = 4),
    so far out the kernel's stable forms and PyMC's differ by PyMC's rounding (the tails are
    tested against scipy in :func:`test_row_densities_in_the_tails`)."""
    d, out = model.design, []
    for seed in range(1, 200):
        x = _random_point(km, seed)
        vals = km.constrained(x)
        eta = d.X @ vals["b"] + (0 if d.offset is None else d.offset)
        for blk in d.blocks:
            eta = eta + (vals[f"r_{blk.name}"][blk.codes] * blk.Z).sum(axis=1)
        if np.abs(eta).max() < 2.5:
            out.append(x)
        if len(out) == count:
            return out
    raise AssertionError("no moderate points")


class _PyMC:
    """The PyMC model's log density and gradient at the kernel's points: the free variables
    from ``km.constrained`` through each variable's transform. The kernel's ``x`` and PyMC's
    unconstrained values coincide but for an LKJ block's scale (kernel: log SDs and partial
    correlations; PyMC: the packed Cholesky factor with log diagonal), where the densities
    differ by the log-Jacobian of that map (computed exactly, :meth:`_lkj_jacobian`) and
    PyMC's LKJ normalizing constant."""

    def __init__(self, model: pg.Model, km: kernel.KernelModel, spec):
        self.km = km
        self.m = model.compile(spec).model
        # FAST_COMPILE: no C compilation (48 models; a few evaluations each)
        self.logp_fn = self.m.compile_logp(mode="FAST_COMPILE")
        self.dlogp_fn = self.m.compile_dlogp(mode="FAST_COMPILE")
        self.rvs = [self.m.values_to_rvs[v] for v in self.m.value_vars]

    def point(self, x: np.ndarray) -> dict[str, np.ndarray]:
        vals = self.km.constrained(x)
        out = {}
        for value, rv in zip(self.m.value_vars, self.rvs, strict=True):
            v = np.asarray(vals[rv.name], dtype=float)
            tr = self.m.rvs_to_transforms.get(rv)
            if tr is not None:
                v = tr.forward(pytensor.tensor.as_tensor_variable(v), *rv.owner.inputs).eval()
            out[value.name] = np.asarray(v, dtype=float)
        return out

    def _slices(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per PyMC value variable, the kernel coordinates it equals (LKJ: its block's scale)."""
        km, p = self.km, self.km.p
        out = {"Intercept": np.array([0]), "beta": np.arange(1, p), "shape_log__": np.array([p])}
        if km.intercept_pos is None:
            out["b"] = np.arange(p)
        for blk in km.blocks:
            o, q, m = blk.offset, blk.q, blk.m
            eff = np.arange(o + q + m, o + blk.size)
            out[f"sd_{blk.name}_log__"] = np.arange(o, o + q)
            out[f"L_{blk.name}_cholesky-cov-packed__"] = np.arange(o, o + q + m)
            for name in ("z", "r", "alpha"):
                out[f"{name}_{blk.name}"] = eff
        return out

    def _lkj_jacobian(self, x: np.ndarray, blk) -> np.ndarray:
        """d(packed Cholesky factor, log diagonal) / d(log sd, partial correlations)."""
        o, q, m = blk.offset, blk.q, blk.m
        sd = np.exp(x[o : o + q])
        L, dL = np.eye(q), np.zeros((m + 1, q, q))
        corr_cholesky(x[o + q : o + q + m], q, 1.0, L, dL)
        Lam = sd[:, None] * L
        rows, cols = np.tril_indices(q)
        J = np.zeros((rows.size, q + m))
        for j in range(q):  # d Lam / d log sd_j: row j of Lam
            J[rows == j, j] = Lam[j, cols[rows == j]]
        for k in range(m):
            z = np.tanh(x[o + q + k])
            J[:, q + k] = (sd[:, None] * dL[k])[rows, cols] * (1 - z * z)
        diag = rows == cols
        J[diag] /= Lam[rows[diag], cols[diag]][:, None]
        return J

    def logdet(self, x: np.ndarray) -> float:
        return sum(
            np.linalg.slogdet(self._lkj_jacobian(x, blk))[1] for blk in self.km.blocks if blk.m
        )

    def logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """The PyMC density as a density of the kernel's ``x`` (up to the LKJ constant) and
        its gradient in ``x``."""
        pt = self.point(x)
        lp = float(self.logp_fn(pt)) + self.logdet(x)
        g_u = np.asarray(self.dlogp_fn(pt))
        grad = np.zeros(self.km.ndim)
        slices, start = self._slices(x), 0
        lkj = {f"L_{b.name}_cholesky-cov-packed__": b for b in self.km.blocks if b.m}
        for value in self.m.value_vars:
            size = int(np.prod(pt[value.name].shape))
            g = g_u[start : start + size]
            start += size
            idx = slices[value.name]
            if value.name in lkj:
                g = self._lkj_jacobian(x, lkj[value.name]).T @ g
            grad[idx] += g
        if lkj:  # + d log|J| / dx, by central differences of the exact log-Jacobian
            eps = 1e-5
            for i in np.concatenate([slices[name] for name in lkj]):
                e = np.zeros_like(x)
                e[i] = eps
                grad[i] += (self.logdet(x + e) - self.logdet(x - e)) / (2 * eps)
        assert start == g_u.size
        return lp, grad


@pytest.mark.parametrize("family,link", FAMILY_LINKS)
@pytest.mark.parametrize("structure", list(STRUCTURES))
@pytest.mark.parametrize("spec", ["centered", "noncentered"])
def test_logp_and_gradient_equal_the_pymc_model(data, family, link, structure, spec):
    priors = USER_PRIORS if family in ("poisson", "binomial") else None
    model = _model(data, family, link, structure, priors)
    km = _kernel(model, spec)
    ref = _PyMC(model, km, spec)
    gaps = []
    for x in _moderate_points(model, km, 3):
        lp, grad = km.logp(x)
        lp_ref, grad_ref = ref.logp_grad(x)
        assert np.isfinite(lp)
        gaps.append(lp - lp_ref)
        tol = 1e-8 * max(1.0, np.abs(grad_ref).max())
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-7, atol=tol)
    # the gap is PyMC's LKJ normalizing constant (none without a correlated block)
    scale = 1e-9 * max(1.0, abs(lp))
    np.testing.assert_allclose(gaps, gaps[0], atol=scale)
    if all(b.m == 0 for b in km.blocks):
        assert abs(gaps[0]) < scale


@pytest.mark.parametrize("family,link", FAMILY_LINKS)
@pytest.mark.parametrize("spec", ["centered", "noncentered"])
def test_gradient_matches_finite_differences(data, family, link, spec):
    formula = f"{RESPONSES[family]} ~ x + offset(off) + (1 + x | g) + (1 | h)"
    model = pg.Model(formula, data, family=pg.family(family, link=link))
    km = _kernel(model, spec)
    x = _random_point(km, 4)
    lp, grad = km.logp(x)
    eps = 1e-6
    fd = [(km.logp(x + eps * e)[0] - km.logp(x - eps * e)[0]) / (2 * eps) for e in np.eye(km.ndim)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5 * max(1.0, abs(lp)) ** 0.5)


def test_group_level_predictors_are_centered_on(data):
    """w is constant within g: the centered g block's intercepts are centered on Intercept + w
    (x varies within g, so only its own slope term is centered on it); the stored alpha maps
    back and forth, and the gradient matches finite differences there."""
    model = _model(data, "poisson", "log", "group-level predictor")
    km = _kernel(model, "centered")
    (blk,) = km.latent
    assert blk.center == (0, 1) and blk.level_index == (2,)  # theta = [Intercept, x, w]
    w = data.groupby("g")["w"].first().reindex(list(blk.levels)).to_numpy()
    np.testing.assert_allclose(blk.level_values[:, 0], w - data["w"].mean(), rtol=1e-12)
    x = _random_point(km, 5)
    vals = km.constrained(x)
    alpha = vals["alpha_g"][:, 0]
    np.testing.assert_allclose(
        vals["r_g"][:, 0], alpha - x[0] - x[2] * blk.level_values[:, 0], rtol=1e-12
    )
    np.testing.assert_allclose(km.unconstrained(vals), x, atol=1e-9)
    lp, grad = km.logp(x)
    eps = 1e-6
    fd = [(km.logp(x + eps * e)[0] - km.logp(x - eps * e)[0]) / (2 * eps) for e in np.eye(km.ndim)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5 * max(1.0, abs(lp)) ** 0.5)
    noncentered = _kernel(model, "noncentered")
    assert noncentered.latent[0].level_index == ()
    crossed = _kernel(_model(data, "bernoulli", "logit", "group-level crossed"), "centered")
    by_name = {b.name: b for b in crossed.latent}
    assert by_name["h"].center == (0,) and by_name["h"].level_index == (3,)  # [Int, x, w, v]
    assert by_name["g"].center == () and by_name["g"].level_index == (2,)
    x = _random_point(crossed, 6)
    np.testing.assert_allclose(crossed.unconstrained(crossed.constrained(x)), x, atol=1e-9)


def test_hierarchically_centered_blocks_store_alpha(data):
    """Centered blocks with the intercept (and x) as a term are centered on theta."""
    model = _model(data, "poisson", "log", "correlated slope")
    km = _kernel(model, "centered")
    (blk,) = km.latent
    assert blk.center == (0, 1)
    x = _random_point(km, 5)
    np.testing.assert_allclose(km.unconstrained(km.constrained(x)), x, atol=1e-9)


def test_row_densities_in_the_tails():
    """log Phi, phi / Phi, log(1 - exp(-exp(eta))) and psi against scipy, far into the tails
    (where the naive forms underflow or lose every digit)."""
    for x in np.concatenate([np.linspace(-80, 40, 241), [-37.0001, -36.9999, 6.0001]]):
        ref = special.log_ndtr(x)
        assert likelihoods.log_ndtr(x) == pytest.approx(ref, rel=1e-12, abs=1e-300)
        ratio = np.exp(-0.5 * x * x - 0.5 * np.log(2 * np.pi) - ref)
        assert likelihoods.ndtr_ratio(x, ref) == pytest.approx(ratio, rel=1e-10)
    for a in (1e-3, 0.37, 1.0, 5.5, 9.99, 10.0, 123.4, 1e6):
        assert likelihoods.digamma(a) == pytest.approx(special.digamma(a), rel=1e-13, abs=1e-13)
    code, link = likelihoods.BINOMIAL, likelihoods.CLOGLOG
    for eta in (-700.0, -40.0, -1.0, 0.0, 2.0, 3.5):
        mu = -np.expm1(-np.exp(eta))
        ll, d, _ = likelihoods.row_logp(code, link, 1.0, 1.0, eta, 0.0, 0.0)
        assert ll == pytest.approx(np.log(mu) if mu > 0 else eta, rel=1e-12)
        assert np.isfinite(d)
    # logit and probit with 3 of 5 trials at |eta| = 40: finite, the right sign
    for link in (likelihoods.LOGIT, likelihoods.PROBIT):
        for eta in (-40.0, 40.0):
            ll, d, _ = likelihoods.row_logp(likelihoods.BINOMIAL, link, 3.0, 5.0, eta, 0.0, 0.0)
            assert np.isfinite(ll) and ll < 0 and np.sign(d) == -np.sign(eta)


def test_negative_binomial_shape_gradient():
    """d ll / d shape of the row density against central differences."""
    for y in (0.0, 3.0, 40.0):
        for eta in (-2.0, 0.5, 4.0):
            for a in (0.05, 1.3, 30.0):

                def ll(s, y=y, eta=eta):
                    return likelihoods.row_logp(likelihoods.NEGBIN, 3, y, 1.0, eta, s, np.log(s))[0]

                _, _, d_a = likelihoods.row_logp(likelihoods.NEGBIN, 3, y, 1.0, eta, a, np.log(a))
                fd = (ll(a * (1 + 1e-6)) - ll(a * (1 - 1e-6))) / (2e-6 * a)
                assert d_a == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_c_callback_equals_the_kernel(data):
    model = _model(data, "negativebinomial", "log", "correlated slope")
    km = _kernel(model, "noncentered")
    table, _keep = glmm_ccall.pack(km._args)
    ptr = ctypes.POINTER(ctypes.c_double)
    for seed in (1, 2):
        x = _random_point(km, seed)
        grad, lp = np.full(km.ndim, np.nan), np.full(1, np.nan)
        rc = glmm_ccall.logp_cfunc.ctypes(
            km.ndim, x.ctypes.data_as(ptr), grad.ctypes.data_as(ptr), lp.ctypes.data_as(ptr),
            table.ctypes.data_as(ctypes.c_void_p),
        )  # fmt: skip
        lp_ref, grad_ref = km.logp(x)
        assert rc == 0 and lp[0] == lp_ref
        np.testing.assert_array_equal(grad, grad_ref)


def test_scope(data):
    def reason(family, link=None, formula=None, priors=None, spec="noncentered"):
        fam = pg.family(family) if link is None else pg.family(family, link=link)
        resp = RESPONSES.get(family, "yc")
        model = pg.Model(formula or f"{resp} ~ x + (1 | g)", data, family=fam, priors=priors)
        params = resolve_parameterization(spec, model.design.blocks, model.family)
        return kernel.kernel_model(model.design, model.prior_set, model.family, params)

    for family, link in FAMILY_LINKS:
        assert isinstance(reason(family, link), kernel.KernelModel)
    assert "links log for this family" in reason("poisson", "sqrt")
    lognormal = {"sd": pg.prior("LogNormal", mu=0, sigma=1)}
    assert "no kernel density" in reason("bernoulli", priors=lognormal)
    lognormal_shape = {"shape": pg.prior("LogNormal", mu=0, sigma=1)}
    assert "no kernel density" in reason("negativebinomial", priors=lognormal_shape)
    with pytest.raises(ValueError, match=r"has no kernel: family poisson\(identity\)"):
        pg.Model("yc ~ x + (1 | g)", data, family=pg.family("poisson", link="identity")).fit(
            kernel=True
        )


def test_a_new_data_set_compiles_nothing(data):
    """Models of the same kind (any family, link, data, blocks) run the same machine code:
    the numba dispatcher gains no signature and the C callback is one function."""
    first = _kernel(_model(data, "binomial", "logit", "one block"), "noncentered")
    first.logp(_random_point(first, 1))
    signatures = len(glmm.glmm_logp_grad.signatures)
    address = glmm_ccall.logp_cfunc.address
    other = _frame(99, n=150, groups=11)
    for family, link, structure, spec in (
        ("binomial", "logit", "one block", "noncentered"),
        ("bernoulli", "probit", "two crossed", "centered"),
        ("negativebinomial", "log", "correlated slope", "noncentered"),
    ):
        km = _kernel(_model(other, family, link, structure), spec)
        assert km.callbacks is glmm_ccall
        assert np.isfinite(km.logp(_random_point(km, 2))[0])
    assert len(glmm.glmm_logp_grad.signatures) == signatures == 1
    assert glmm_ccall.logp_cfunc.address == address


def _agree(fast, slow) -> None:
    assert fast.timing["kernel"] == 1.0 and slow.timing["kernel"] == 0.0
    slow_vars = {v for v in slow.idata.posterior.data_vars if not str(v).endswith("__")}
    assert set(fast.idata.posterior.data_vars) == slow_vars
    for v in slow_vars:
        assert fast.idata.posterior[v].dims == slow.idata.posterior[v].dims, v
    a, b = fast.summary(), slow.summary()
    assert list(a["term"]) == list(b["term"])
    mcse = np.sqrt(a["Est.Error"] ** 2 / a["Bulk_ESS"] + b["Est.Error"] ** 2 / b["Bulk_ESS"])
    z = (a["Estimate"] - b["Estimate"]).abs() / mcse
    assert (z < 4).all(), dict(zip(a["term"], z, strict=True))
    np.testing.assert_allclose(a["Est.Error"], b["Est.Error"], rtol=0.25)


KW = dict(draws=1000, tune=1000, chains=4, seed=3, progressbar=False, warn=False)


def test_cbpp_binomial_kernel_and_pymc_agree():
    df = pg.datasets.load("cbpp")
    model = pg.Model(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)", df, family="binomial"
    )
    fast, slow = model.fit(**KW), model.fit(kernel=False, **KW)
    assert "compile_cached" in fast.timing
    _agree(fast, slow)
    # the pointwise log-likelihood (loo) is the family's, from the named draws
    assert fast.idata.log_likelihood["y"].shape == slow.idata.log_likelihood["y"].shape


def test_poisson_with_offset_kernel_and_pymc_agree():
    """An epilepsy-like Poisson model: subjects with 4 visits, a log-exposure offset, a
    treatment and a visit slope, observation-level effects."""
    rng = np.random.default_rng(8)
    subjects, visits = 40, 4
    subj = np.repeat(np.arange(subjects), visits)
    trt = np.repeat(rng.integers(0, 2, subjects), visits)
    visit = np.tile(np.arange(visits) - 1.5, subjects) / 3
    base = np.repeat(rng.normal(size=subjects), visits)
    expo = rng.uniform(0.5, 2.0, size=subj.size)
    eta = 1.2 + 0.5 * base - 0.3 * trt - 0.2 * visit + rng.normal(scale=0.5, size=subjects)[subj]
    y = rng.poisson(np.exp(eta + np.log(expo) + rng.normal(scale=0.2, size=subj.size)))
    df = pd.DataFrame(
        {
            "y": y,
            "base": base,
            "trt": trt,
            "visit": visit,
            "lexpo": np.log(expo),
            "subj": subj.astype(str),
            "obs": np.arange(subj.size).astype(str),
        }
    )
    formula = "y ~ base + trt + visit + offset(lexpo) + (1 | subj) + (1 | obs)"
    model = pg.Model(formula, df, family="poisson")
    fast, slow = model.fit(**KW), model.fit(kernel=False, **KW)
    _agree(fast, slow)


def test_glmm_kernel_cache_is_stamped_by_every_kernel_source():
    """numba would otherwise reuse machine code compiled before an edit to a callee's file."""
    from pyglmm import _numba_cache

    for fn in (glmm_ccall.logp_cfunc, glmm.glmm_logp_grad, likelihoods.rows_logp):
        locator = fn._cache._impl.locator
        assert isinstance(locator, _numba_cache.LOCATORS)
        names = {name for name, _, _ in locator.get_source_stamp()}
        assert {"glmm_ccall.py", "glmm.py", "likelihoods.py", "slots.py", "latent.py"} <= names
