"""The vectorizable elementary functions of the GLMM kernel (pyglmm.kernel.vmath) against
numpy's, to a few units in the last place, and the logit and Poisson row loops built from them
(pyglmm.kernel.likelihoods.rows_logp) against numpy's log-densities and their derivatives."""

import math

import numpy as np
import pytest
from scipy import special

from pyglmm.kernel import likelihoods, vmath

EPS = np.finfo(float).eps


def _grid(lo: float, hi: float, n: int = 20_001, seed: int = 0) -> np.ndarray:
    """A regular grid on [lo, hi] plus random points (both ends included)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([np.linspace(lo, hi, n), rng.uniform(lo, hi, n)])


def test_exp_fast_to_two_ulps_on_the_normal_range():
    x = np.concatenate([_grid(-708.0, 709.0), _grid(-5.0, 5.0), [0.0, -0.0, 1e-300, -1e-300]])
    got = np.array([vmath.exp_fast(v) for v in x])
    rel = np.abs(got / np.exp(x) - 1.0)
    assert rel.max() <= 2 * EPS


def test_exp_fast_overflows_to_inf_and_is_tiny_below_the_range():
    assert vmath.exp_fast(709.79) == math.inf
    assert vmath.exp_fast(1e6) == math.inf
    assert vmath.exp_fast(math.inf) == math.inf
    assert 0.0 < vmath.exp_fast(-800.0) <= math.exp(-708.0) * (1 + 2 * EPS)
    assert vmath.exp_fast(709.78) == pytest.approx(math.exp(709.78), rel=2 * EPS)


def test_log1p_unit_and_its_reciprocal():
    u = np.concatenate([_grid(0.0, 1.0), np.geomspace(1e-300, 1.0, 2_000)])
    pairs = np.array([vmath.log1p_unit(v) for v in u])
    ref = np.log1p(u)
    nonzero = ref > 0
    assert np.max(np.abs(pairs[nonzero, 0] / ref[nonzero] - 1.0)) <= 4 * EPS
    assert np.all(pairs[~nonzero, 0] == 0.0)
    assert np.max(np.abs(pairs[:, 1] * (1.0 + u) - 1.0)) <= 4 * EPS


def test_ordered_sum_is_a_sum_in_a_fixed_order():
    rng = np.random.default_rng(3)
    for n in (0, 1, 3, 4, 5, 1001):
        v = rng.normal(size=n) * 1e3
        assert vmath.ordered_sum(v) == pytest.approx(math.fsum(v), abs=1e-9)
        s = [0.0, 0.0, 0.0, 0.0]  # the documented order
        for i in range(n - n % 4):
            s[i % 4] += v[i]
        for i in range(n - n % 4, n):
            s[0] += v[i]
        assert vmath.ordered_sum(v) == (s[0] + s[1]) + (s[2] + s[3])


@pytest.mark.parametrize("trials", [1, 7])
def test_logit_rows_against_numpy(trials):
    rng = np.random.default_rng(11)
    eta = np.concatenate([rng.normal(0, 3, 4000), [0.0, 36.0, -36.0, 40.0, -40.0, 800.0, -800.0]])
    n = np.full(eta.size, float(trials))
    y = rng.binomial(trials, 0.4, size=eta.size).astype(float)
    v, scratch = eta.copy(), np.empty(eta.size)
    total, g_shape = likelihoods.rows_logp(
        likelihoods.BINOMIAL, likelihoods.LOGIT, y, n, v, 1.0, 0.0, scratch
    )
    softplus = np.logaddexp(0.0, eta)
    ll = y * eta - n * softplus  # without log C(n, y)
    scale = np.abs(y * eta) + n * softplus  # the terms that cancel: the error is relative to them
    assert np.all(np.abs(scratch - ll) <= 4 * EPS * (scale + 1.0))
    assert np.all(np.abs(v - (y - n * special.expit(eta))) <= 4 * EPS * (y + n))
    assert total == pytest.approx(math.fsum(ll), rel=1e-14)
    assert g_shape == 0.0


def test_poisson_rows_against_numpy_and_overflow():
    rng = np.random.default_rng(12)
    eta = np.concatenate([rng.normal(1, 2, 4000), [-700.0, 0.0, 300.0]])
    y = rng.poisson(3.0, size=eta.size).astype(float)
    v, scratch = eta.copy(), np.empty(eta.size)
    total, _ = likelihoods.rows_logp(
        likelihoods.POISSON, likelihoods.LOG, y, np.ones(eta.size), v, 1.0, 0.0, scratch
    )
    mu = np.exp(eta)
    np.testing.assert_allclose(scratch, y * eta - mu, rtol=4 * EPS, atol=1e-12)
    np.testing.assert_allclose(v, y - mu, rtol=4 * EPS, atol=1e-12)
    assert total == pytest.approx(math.fsum(y * eta - mu), rel=1e-14)
    over = np.array([720.0])
    lp, _ = likelihoods.rows_logp(
        likelihoods.POISSON, likelihoods.LOG, np.ones(1), np.ones(1), over, 1.0, 0.0, np.empty(1)
    )
    assert lp == -math.inf
