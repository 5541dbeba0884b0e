"""pyglmm.stack: the calls that differ between PyMC 5 / ArviZ 0.x and PyMC 6 / ArviZ 1.x give the
same answers on both (each test runs on whichever stack is installed; CI runs both)."""

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from pyglmm import stack


def _loglik_tree(shift: float, seed: int):
    rng = np.random.default_rng(seed)
    ll = rng.normal(-1.0 - shift, 0.5, size=(4, 200, 30))
    post = xr.Dataset({"a": (("chain", "draw"), rng.normal(size=(4, 200)))})
    loglik = xr.Dataset({"y": (("chain", "draw", "obs"), ll)})
    return stack.from_datasets({"posterior": post, "log_likelihood": loglik}), ll


def test_versions_name_the_stack():
    v = stack.versions()
    assert set(v) >= {"python", "pymc", "pytensor", "arviz", "nutpie"}
    assert (int(v["arviz"].split(".")[0]) >= 1) == stack.ARVIZ_1
    assert (int(v["pymc"].split(".")[0]) >= 6) == stack.PYMC_6
    assert stack.describe_stack().startswith(f"python {v['python']}, pymc {v['pymc']}")


def test_groups_read_add_replace_and_list():
    idata, _ = _loglik_tree(0.0, 1)
    assert isinstance(stack.posterior(idata), xr.Dataset)
    assert stack.group(idata, "sample_stats") is None
    extra = xr.Dataset({"y": ("obs", np.arange(3.0))})
    stack.set_group(idata, "observed_data", extra)
    stack.set_group(idata, "observed_data", extra * 2)  # replaced, not listed twice
    assert stack.group_names(idata).count("observed_data") == 1
    np.testing.assert_array_equal(stack.group(idata, "observed_data")["y"].values, [0, 2, 4])
    assert sorted(stack.group_names(idata)) == ["log_likelihood", "observed_data", "posterior"]


def test_netcdf_round_trip(tmp_path):
    idata, ll = _loglik_tree(0.0, 2)
    path = str(tmp_path / "x.nc")
    stack.to_netcdf(idata, path)
    back = stack.from_netcdf(path)
    assert sorted(stack.group_names(back)) == ["log_likelihood", "posterior"]  # each once
    np.testing.assert_array_equal(stack.group(back, "log_likelihood")["y"].values, ll)


def test_waic_from_loglik_by_hand():
    """lppd_i - p_waic_i per observation, computed here in the most literal way."""
    rng = np.random.default_rng(3)
    ll = rng.normal(-2.0, 0.7, size=(2, 50, 5))
    flat = ll.reshape(100, 5)
    lppd = np.log(np.mean(np.exp(flat), axis=0))
    p = np.array([np.mean((c - c.mean()) ** 2) for c in flat.T])
    res = stack.waic_from_loglik(ll)
    np.testing.assert_allclose(res["waic_i"], lppd - p, rtol=1e-12)
    assert res["elpd_waic"] == pytest.approx(float(np.sum(lppd - p)), rel=1e-12)
    assert res["p_waic"] == pytest.approx(float(p.sum()), rel=1e-12)
    assert res["se"] == pytest.approx(float(np.sqrt(5 * np.var(lppd - p))), rel=1e-12)
    assert res["n_samples"] == 100 and res["n_data_points"] == 5


@pytest.mark.skipif(stack.ARVIZ_1, reason="ArviZ 1 has no az.waic to compare with")
def test_waic_from_loglik_equals_arviz_0x():
    import arviz as az

    idata, ll = _loglik_tree(0.0, 4)
    ref = az.waic(idata)
    ours = stack.waic_from_loglik(ll)
    assert ours["elpd_waic"] == pytest.approx(ref.elpd_waic, rel=1e-12)
    assert ours["se"] == pytest.approx(ref.se, rel=1e-12)
    assert ours["p_waic"] == pytest.approx(ref.p_waic, rel=1e-12)


def test_waic_refuses_a_fit_without_loglik():
    idata, _ = _loglik_tree(0.0, 5)
    del idata["log_likelihood"]
    with pytest.raises((ValueError, TypeError), match="log"):
        stack.waic(idata)


def test_compare_columns_and_signs():
    good, _ = _loglik_tree(0.0, 6)
    worse, _ = _loglik_tree(0.5, 7)  # 0.5 lower log density per observation: elpd 15 lower
    table = stack.compare({"good": good, "worse": worse})
    assert list(table.columns) == list(stack.COMPARE_COLUMNS)
    assert list(table.index) == ["good", "worse"]
    assert table.loc["good", "elpd_diff"] == 0
    assert table.loc["worse", "elpd_diff"] == pytest.approx(15.0, abs=1.5)
    assert table.loc["worse", "elpd_diff"] == pytest.approx(
        table.loc["good", "elpd_loo"] - table.loc["worse", "elpd_loo"], rel=1e-9
    )


def test_tail_ess_is_the_smaller_quantile_ess():
    """Tail ESS (Vehtari et al. 2021): the minimum of the 5% and 95% quantile ESS."""
    import arviz as az

    rng = np.random.default_rng(0)
    draws = rng.normal(size=(4, 100)).cumsum(axis=1) * 0.1 + rng.normal(size=(4, 100))
    lo, hi = (float(az.ess(draws, method="quantile", prob=p)) for p in (0.05, 0.95))
    assert stack.ess_tail(draws) == pytest.approx(min(lo, hi), rel=1e-10)
    assert 1 < stack.ess_bulk(draws) < 400
    assert stack.rhat(draws) > 1.0


def test_lkj_correlation_draws():
    """LKJ(1) for n = 2: the correlation is uniform on (-1, 1) (variance 1/3)."""
    corr = pm.draw(stack.lkj_corr_matrix_dist(2, 1.0), draws=4000, random_seed=1)
    assert corr.shape == (4000, 2, 2)
    np.testing.assert_allclose(corr[:, 0, 0], 1.0)
    np.testing.assert_allclose(corr[:, 1, 1], 1.0)
    np.testing.assert_allclose(corr[:, 0, 1], corr[:, 1, 0])
    assert abs(corr[:, 0, 1].var() - 1 / 3) < 0.03
    assert abs(corr[:, 0, 1].mean()) < 0.05


def test_fit_waic_and_loo(sleep_fit):
    res = sleep_fit.waic()
    ll = stack.group(sleep_fit.idata, "log_likelihood")["y"].values
    assert res["elpd_waic"] == pytest.approx(stack.waic_from_loglik(ll)["elpd_waic"], rel=1e-9)
    elpd, se = stack.elpd(sleep_fit.loo())
    assert abs(elpd - res["elpd_waic"]) < se  # WAIC and PSIS-LOO agree closely here
