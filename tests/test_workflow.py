"""Parameter recovery, SBC ranks, executors (process pool, dask), compare() and Bayesian R^2."""

import concurrent.futures as cf
import re
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import pyglmm as pg
from pyglmm import workflow
from pyglmm.workflow import bayes_r2, compare, fit_summary, prior_spec, recover


def make_model(formula, df, **kwargs):
    model = pg.Model(formula, df, **kwargs)
    if getattr(model, "data", None) is None:  # until Model keeps its data
        model.data = df
    return model


def grouped_data(n_groups, n_per, seed=0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), n_per)
    return pd.DataFrame(
        {"y": rng.normal(size=g.size), "x": rng.normal(size=g.size), "g": [f"g{i}" for i in g]}
    )


def test_recovery_one_simulation_covers_truth():
    model = make_model("y ~ x + (1 + x | g)", grouped_data(30, 20))
    truth = {
        "b": {"Intercept": 1.0, "x": 0.5},
        "sd": {"g": {"Intercept": 0.8, "x": 0.4}},
        "cor": {"g": {("Intercept", "x"): 0.3}},
        "sigma": 1.0,
    }
    res = recover(model, truth, seed=3, fit_kwargs={"draws": 500, "tune": 500, "chains": 2})
    table = res.table
    assert list(table["parameter"]) == [
        "b_Intercept",
        "b_x",
        "sd_g__Intercept",
        "sd_g__x",
        "cor_g__Intercept__x",
        "sigma",
    ]
    assert list(table["true"]) == [1.0, 0.5, 0.8, 0.4, 0.3, 1.0]
    assert table["covered"].all(), table
    assert res.all_covered and not res.sbc
    assert ((table["q2.5"] < table["mean"]) & (table["mean"] < table["q97.5"])).all()
    assert table["rank"].between(0, 100).all()
    assert (res.coverage["coverage"] == 1.0).all() and (res.coverage["n_sims"] == 1).all()
    assert res.diagnostics.loc[0, "divergences"] == 0
    assert res.diagnostics.loc[0, "max_rhat"] < 1.02
    assert len(res.data) == 1 and res.data[0].shape == (600, 3)
    assert "b_Intercept" in str(res)


def _fake_results(n_sims, labels, rng, biased=None):
    """Worker summaries whose posterior draws are N(truth-ish) so ranks are uniform."""
    results, truths = [], []
    for _ in range(n_sims):
        truth = {lab: float(rng.normal()) for lab in labels}
        params, thinned = {}, {}
        for lab in labels:
            center = rng.normal()  # posterior N(center, 1) with truth ~ N(center, 1): uniform
            truth[lab] = center + rng.normal() + (2.0 if lab == biased else 0.0)
            draws = center + rng.normal(size=100)
            q = np.quantile(draws, [0.025, 0.975])
            params[lab] = {
                "mean": draws.mean(),
                "sd": draws.std(),
                "q2.5": q[0],
                "q97.5": q[1],
                "rhat": 1.0,
                "ess_bulk": 100.0,
            }
            thinned[lab] = draws
        results.append(
            {
                "params": params,
                "thinned": thinned,
                "diagnostics": {"divergences": 0.0, "max_rhat": 1.0},
                "wall_s": 0.1,
            }
        )
        truths.append(truth)
    return results, truths


def test_sbc_ranks_coverage_and_rank_plot(tmp_path):
    rng = np.random.default_rng(5)
    labels = ["b_Intercept", "sd_g__Intercept", "sigma"]
    results, truths = _fake_results(400, labels, rng, biased="sigma")
    res = workflow.recovery._recovery_result(results, truths, [], n_ranks=100, sbc=True, seed=1)
    assert res.ranks.shape == (400, 3) and list(res.ranks.columns) == labels
    assert res.ranks.to_numpy().min() >= 0 and res.ranks.to_numpy().max() <= 100
    for i in (0, 7):
        below = int((results[i]["thinned"]["sigma"] < truths[i]["sigma"]).sum())
        assert res.ranks.loc[i, "sigma"] == below
    cov = res.coverage
    assert 0.9 < cov.loc["b_Intercept", "coverage"] <= 1.0
    assert cov.loc["sigma", "coverage"] < 0.8  # the biased one
    assert cov.loc["b_Intercept", "rank_pvalue"] > 0.001
    assert cov.loc["sigma", "rank_pvalue"] < 1e-6
    assert cov.loc["sigma", "bias"] < -1.5
    fig = res.plot()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3 and [ax.get_title() for ax in axes] == labels
    assert all(len(ax.patches) >= 20 for ax in axes)  # bins + the band
    path = tmp_path / "ranks.png"
    fig.savefig(path)
    img = matplotlib.image.imread(path)
    assert path.stat().st_size > 0 and img.std() > 0


def test_prior_spec_reproduces_priors():
    df = grouped_data(6, 5)
    model = make_model("y ~ x + (1 + x | g)", df, priors={"sigma": pg.prior("HalfNormal", sigma=3)})
    rescaled = df.assign(y=df["y"] * 100)  # data-scaled defaults would change
    again = pg.Model("y ~ x + (1 + x | g)", rescaled, priors=prior_spec(model))
    assert again.priors["prior"].tolist() == model.priors["prior"].tolist()


def test_executor_validation_and_worker_errors():
    with pytest.raises(pg.ArgumentError, match="unknown executor"):
        workflow.run_jobs([(1,)], "threads", fn=abs)
    with pytest.raises(TypeError, match="submit"):
        workflow.run_jobs([(1,)], object(), fn=abs)
    with cf.ThreadPoolExecutor(2) as ex:  # any Executor works
        assert workflow.run_jobs([(-1,), (-2,)], ex, fn=abs, progressbar=False) == [1, 2]
    out = fit_summary(pg.Model, "y ~ nothing", grouped_data(3, 3), "gaussian", None, {})
    assert out["error"].startswith("DesignError") and out["wall_s"] >= 0


def test_r2_sleepstudy(sleep_fit):
    r2 = sleep_fit.r2() if hasattr(sleep_fit, "r2") else bayes_r2(sleep_fit)
    assert list(r2.columns) == ["Estimate", "Est.Error", "Q2.5", "Q97.5"]
    assert list(r2.index) == ["R2"]
    # brms::bayes_R2 on this model gives about 0.80
    assert 0.7 < r2.loc["R2", "Estimate"] < 0.9
    assert r2.loc["R2", "Q2.5"] < r2.loc["R2", "Estimate"] < r2.loc["R2", "Q97.5"]
    draws = bayes_r2(sleep_fit, summary=False)
    assert draws.shape == (4000,) and ((draws > 0) & (draws < 1)).all()


def test_compare_fits_by_loo(sleep_fit):
    diag_model = pg.Model("Reaction ~ Days + (Days || Subject)", pg.datasets.load("sleepstudy"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compare(
            {"corr": sleep_fit, "uncorr": diag_model},
            draws=500,
            tune=500,
            chains=2,
            seed=2,
        )
    t = res.table
    for col in ["elpd_loo", "elpd_loo_se", "elpd_diff", "dse", "weight", "min_ess_per_s"]:
        assert t[col].notna().all(), col
    assert set(t.index) == {"corr", "uncorr"}
    assert t["elpd_diff"].iloc[0] == 0 and t["weight"].sum() == pytest.approx(1)
    assert res.best in ("corr", "uncorr") and res.verdict.startswith(f"preferred: {res.best}")
    # these two models predict about equally well: elpd_loo differs by a few units, and the
    # verdict says "within 2 SE" exactly when the difference is below 2 SE (here ~1.7 vs ~0.8,
    # near the line, so which side it falls on is left open)
    second = t.iloc[1]
    assert 0 < second["elpd_diff"] < 4
    assert ("within 2 SE" in res.verdict) == (second["elpd_diff"] <= 2 * second["dse"])
    assert set(res.fits) == {"corr", "uncorr"}
    with pytest.raises(ValueError, match="at least two"):
        compare([sleep_fit])


def test_compare_parameterizations_process_pool():
    df = grouped_data(8, 40, seed=4)
    df["y"] += np.repeat(np.random.default_rng(1).normal(size=8), 40)
    model = make_model("y ~ x + (1 | g)", df)
    res = compare(
        model,
        ["noncentered", "centered"],
        executor="processes",
        draws=500,
        tune=500,
        chains=2,
        seed=1,
        progressbar=False,
    )
    t = res.table
    assert list(t.index) == ["noncentered", "centered"]
    assert list(t.columns) == workflow.COMPARE_COLUMNS
    assert t.notna().all().all(), t
    assert (t["min_ess_per_s"] <= t["min_ess_per_sample_s"]).all()
    assert (t["wall_s"] >= t["sample_s"]).all()
    assert res.best in ("noncentered", "centered")
    assert res.best in res.verdict.split("(")[0]


def test_sbc_with_dask_cluster():
    distributed = pytest.importorskip("dask.distributed")
    df = grouped_data(8, 6, seed=2)
    model = make_model("y ~ 1 + (1 | g)", df)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        res = recover(
            model,
            None,
            n_sims=2,
            seed=11,
            executor=client,
            n_ranks=50,
            fit_kwargs={"draws": 300, "tune": 300, "chains": 2},
        )
    assert res.sbc and res.ranks.shape == (2, 3)
    assert res.ranks.to_numpy().max() <= 50
    truths = res.table.pivot(index="sim", columns="parameter", values="true")
    assert (truths["sd_g__Intercept"] > 0).all() and (truths["sigma"] > 0).all()
    assert truths["sigma"].iloc[0] != truths["sigma"].iloc[1]  # a new prior draw each time
    assert res.diagnostics["wall_s"].gt(0).all()


def test_compare_parameterizations_sleepstudy_all_columns():
    model = pg.Model("Reaction ~ Days + (Days | Subject)", pg.datasets.load("sleepstudy"))
    specs = ["noncentered", "centered", "marginal"]
    res = compare(
        model,
        parameterizations=specs,
        executor="serial",
        draws=500,
        tune=500,
        chains=4,
        seed=1,
        progressbar=False,
    )
    t = res.table
    assert list(t.index) == specs
    assert list(t.columns) == workflow.COMPARE_COLUMNS  # no "error" column: every fit ran
    assert t.notna().all().all(), t
    assert (t[["wall_s", "sample_s", "min_bulk_ess", "min_tail_ess"]] > 0).all().all()
    assert (t["compile_s"] >= 0).all()
    assert (t["min_ess_per_s"] <= t["min_ess_per_sample_s"]).all()
    assert np.allclose(t["min_ess_per_s"], t["min_bulk_ess"] / (t["compile_s"] + t["sample_s"]))
    # the verdict names the highest min ESS/s among the fits without divergences or R-hat issues
    clean = t[(t["divergences"] == 0) & (t["max_rhat"] <= workflow.comparison.RHAT_LIMIT)]
    if clean.empty:
        assert res.best is None and res.verdict.startswith("no parameterization")
    else:
        assert res.best == clean["min_ess_per_s"].idxmax()
        assert res.verdict.startswith(f"best parameterization: {res.best} (")
        for label in set(t.index) - set(clean.index):
            assert label in res.verdict.split("excluded")[1]
    # integrating out the random effects (the kernel, no PyMC compile) is by far the fastest
    # (so it is the verdict's best unless its short run left an R-hat above the limit)
    assert t["min_ess_per_s"].idxmax() == "marginal"
    assert "marginal" in res.verdict
    # the three parameterizations are the same model: elpd_loo agrees within its SE
    assert np.ptp(t["elpd_loo"]) < t["elpd_loo_se"].min()


def test_speed_row_without_separate_compile_time():
    diag = {"divergences": 0.0, "max_rhat": 1.0, "min_bulk_ess": 400.0, "min_tail_ess": 300.0}
    # sampler="pymc"/JAX: compiled inside sampling, reported as NaN -> 0, counted in sample_s
    row = workflow.comparison._speed_row(
        {"build": 0.5, "compile": np.nan, "sample": 8.0}, diag, 9.0
    )
    assert row["compile_s"] == 0.0 and row["sample_s"] == 8.0
    assert row["min_ess_per_s"] == row["min_ess_per_sample_s"] == 50.0
    row = workflow.comparison._speed_row({"compile": 2.0, "sample": 8.0}, diag, 10.5)
    assert row["compile_s"] == 2.0 and row["min_ess_per_s"] == 40.0
    # a fit's total seconds: NaN entries and flags such as compile_cached are not seconds
    timing = {"build": 0.5, "compile": np.nan, "sample": 8.0, "compile_cached": 1.0}
    assert workflow.comparison._timing_seconds(timing) == 8.5


def test_model_graph():
    pytest.importorskip("graphviz")
    model = pg.Model("Reaction ~ Days + (Days | Subject)", pg.datasets.load("sleepstudy"))
    graph = model.graph("noncentered")
    for name in ("sd_Subject", "cor_Subject", "r_Subject", "sigma", "Intercept", "y"):
        assert re.search(rf"\b{name} \[label=", graph.source), name
    assert re.search(r"\br_Subject -> y\b", graph.source)
    marginal = model.graph("marginal")  # the random effects are integrated out
    assert re.search(r"\bsd_Subject \[label=", marginal.source)
    assert not re.search(r"\br_Subject\b", marginal.source)


def test_model_graph_without_graphviz(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("No module named 'graphviz'")
        return real_import(name, *args, **kwargs)

    model = pg.Model("y ~ x + (1 | g)", grouped_data(4, 5))
    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    with pytest.raises(ImportError, match="pip install graphviz"):
        model.graph()


SCRIPT = """
import numpy as np, pandas as pd, pyglmm as pg
rng = np.random.default_rng(0)
g = np.repeat(np.arange(6), 10)
df = pd.DataFrame({{"y": rng.normal(size=60) + g, "g": g.astype(str)}})
model = pg.Model("y ~ 1 + (1 | g)", df)
res = pg.compare(model, ["noncentered", "centered"], {executor}draws=50, tune=50, chains=1,
                 progressbar=False)
print("ROWS", list(res.table.index))
"""


def _run_script(tmp_path, executor: str):
    import subprocess
    import sys

    path = tmp_path / "script.py"  # no `if __name__ == "__main__":` guard, as users write
    path.write_text(SCRIPT.format(executor=executor))
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600)


def test_compare_in_a_plain_script_works_by_default(tmp_path):
    """The default executor used to be a spawn process pool, which died with BrokenProcessPool
    in a script without the __main__ guard."""
    out = _run_script(tmp_path, "")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ROWS ['noncentered', 'centered']" in out.stdout


@pytest.mark.slow
def test_processes_without_the_guard_explain_it(tmp_path):
    out = _run_script(tmp_path, "executor='processes', ")
    assert out.returncode != 0
    assert 'if __name__ == "__main__":' in out.stderr
