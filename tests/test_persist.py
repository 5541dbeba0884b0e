"""Saving a fit and loading it back: ``fit.save``, ``pg.load_fit``, ``pyglmm summary`` (#12).

Three fits are sampled once per module (gaussian sleepstudy, binomial cbpp, and a gaussian model
whose data exercise the stored state: ``scale()``, ``center()``, a categorical in its own
order, an object column of strings, a nullable integer, missing values and a custom index) and
saved with and without data. One fresh Python process loads every file and reports the summary
text, seeded predictive draws, ``ranef()`` and LOO, which must equal the original fit's.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import pyglmm as pg
from pyglmm import cli, persist, stack

FIT = {"draws": 200, "tune": 200, "chains": 2, "seed": 1, "progressbar": False, "warn": False}
SEED = 7
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"
CBPP_FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
MIXED_FORMULA = "Reaction ~ scale(Days) + arm + C(shift) + center(dose) + (1 | Subject)"
MIXED_PRIORS = {"b": {"arm[T.a]": pg.prior("Normal", mu=0, sigma=30)}}
MIXED_PARAMETERIZATION = {"Subject": "centered"}

# run in a fresh interpreter: load each file, write its predictive draws and ranef, report the
# summary, LOO and groups as one JSON line
LOADER = r"""
import json, sys, warnings
import numpy as np, pandas as pd
import pyglmm as pg
out = {}
for job in json.loads(sys.argv[1]):
    fit = pg.load_fit(job["path"])
    newdata = None if job["newdata"] is None else pd.read_pickle(job["newdata"])
    draws = fit.predict(newdata, kind="response", summary=False, seed=job["seed"])
    np.save(job["prefix"] + "-predict.npy", draws)
    pd.to_pickle(fit.ranef(), job["prefix"] + "-ranef.pkl")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        elpd, se = pg.stack.elpd(fit.loo())
    out[job["name"]] = {
        "summary": str(fit),
        "elpd": elpd,
        "groups": pg.stack.group_names(fit.idata),
        "model_data": fit.model.data is not None,
    }
print(json.dumps(out))
"""


def mixed_data() -> pd.DataFrame:
    """sleepstudy plus columns whose encoding matters: a categorical whose categories are not
    sorted (its first category is the contrasts' baseline), an object column of strings, a
    nullable integer, missing values in three used columns (rows dropped) and an index that
    is not 0..n-1."""
    df = pg.datasets.load("sleepstudy")
    n = len(df)
    df["arm"] = pd.Categorical(
        np.array(["b", "a", "c"])[np.arange(n) % 3], categories=["c", "a", "b"]
    )
    df["shift"] = pd.Series(np.where(np.arange(n) % 2, "am", "pm"), dtype=object)
    df["dose"] = pd.array(np.random.default_rng(3).integers(0, 40, n), dtype="Int64")
    df["unused"] = np.arange(n) * 1.5
    df.loc[5, "shift"] = None
    df.loc[11, "dose"] = pd.NA
    df.loc[17, "Reaction"] = np.nan
    df.index = pd.Index(1000 + 3 * np.arange(n), name="row_id")
    return df


def mixed_newdata() -> pd.DataFrame:
    """New rows whose own means, SDs and levels differ from the training data's: predicting
    them right needs the stored scale()/center() constants and contrasts."""
    df = mixed_data().dropna()
    rows = df[(df["Days"] >= 6) & (df["arm"] != "b")].iloc[:12]
    return rows.drop(columns=["Reaction"])


@pytest.fixture(scope="module")
def fits() -> dict[str, pg.Fit]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="dropped", category=UserWarning)
        mixed = pg.Model(
            MIXED_FORMULA,
            mixed_data(),
            priors=MIXED_PRIORS,
            parameterization=MIXED_PARAMETERIZATION,
            data_name="mixed",
        ).fit(**FIT)
    sleep = pg.Model(SLEEP_FORMULA, pg.datasets.load("sleepstudy")).fit(**FIT)
    cbpp = pg.Model(CBPP_FORMULA, pg.datasets.load("cbpp"), family="binomial").fit(**FIT)
    return {"sleep": sleep, "cbpp": cbpp, "mixed": mixed}


# name -> (fit, data=, newdata for predict or None for the fitted rows)
CASES = {
    "sleep": ("sleep", True, None),
    "cbpp": ("cbpp", True, None),
    "mixed": ("mixed", True, None),
    "mixed_new": ("mixed", True, "mixed"),
    "sleep_nodata": ("sleep", False, "sleep"),
    "cbpp_nodata": ("cbpp", False, "cbpp"),
    "mixed_nodata": ("mixed", False, "mixed"),
}


def newdata(name: str) -> pd.DataFrame:
    if name == "sleep":
        return pg.datasets.load("sleepstudy").iloc[::7]
    if name == "cbpp":
        return pg.datasets.load("cbpp").iloc[::3]
    return mixed_newdata()


@pytest.fixture(scope="module")
def saved(fits: dict[str, pg.Fit], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("persist")
    paths = {}
    for name, (fit_name, data, _) in CASES.items():
        path = out / f"{fit_name}-{'data' if data else 'nodata'}.nc"
        if not path.exists():
            fits[fit_name].save(path, data=data)
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def fresh(saved: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a fresh process reports for each saved file (see ``LOADER``)."""
    out = tmp_path_factory.mktemp("fresh")
    jobs = []
    for name, (_, _, new) in CASES.items():
        new_path = None
        if new is not None:
            new_path = str(out / f"{name}-newdata.pkl")
            newdata(new).to_pickle(new_path)
        prefix = str(out / name)
        jobs.append(
            {"name": name, "path": str(saved[name]), "newdata": new_path, "seed": SEED}
            | {"prefix": prefix}
        )
    proc = subprocess.run(
        [sys.executable, "-c", LOADER, json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for job in jobs:
        report[job["name"]]["prefix"] = job["prefix"]
    return report


def expected_draws(fit: pg.Fit, new: str | None) -> np.ndarray:
    data = None if new is None else newdata(new)
    return np.asarray(fit.predict(data, kind="response", summary=False, seed=SEED))


@pytest.mark.parametrize("name", list(CASES))
def test_fresh_process_gives_the_same_summary(fits, fresh, name):
    fit = fits[CASES[name][0]]
    assert fresh[name]["summary"] == str(fit)
    assert fresh[name]["model_data"] is CASES[name][1]


@pytest.mark.parametrize("name", list(CASES))
def test_fresh_process_gives_the_same_predictive_draws(fits, fresh, name):
    fit_name, _, new = CASES[name]
    got = np.load(fresh[name]["prefix"] + "-predict.npy")
    want = expected_draws(fits[fit_name], new)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("name", list(CASES))
def test_fresh_process_gives_the_same_ranef_and_loo(fits, fresh, name):
    fit = fits[CASES[name][0]]
    got = pd.read_pickle(fresh[name]["prefix"] + "-ranef.pkl")
    want = fit.ranef()
    assert list(got) == list(want)
    for group in want:
        pd.testing.assert_frame_equal(got[group], want[group])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        elpd, _ = stack.elpd(fit.loo())
    assert np.isfinite(fresh[name]["elpd"])
    assert fresh[name]["elpd"] == pytest.approx(elpd, rel=1e-9)


@pytest.mark.parametrize("name", list(CASES))
def test_loaded_idata_is_the_plain_container(fits, fresh, name):
    groups = fresh[name]["groups"]
    assert persist.GROUP not in groups
    assert len(groups) == len(set(groups))
    assert set(groups) == set(stack.group_names(fits[CASES[name][0]].idata))


def test_save_leaves_the_fit_unchanged(fits, saved):
    for fit in fits.values():
        assert persist.GROUP not in stack.group_names(fit.idata)


def test_rebuilt_model_has_the_same_data_design_and_priors(fits, saved):
    fit = fits["mixed"]
    loaded = pg.load_fit(saved["mixed"])
    used = ["Reaction", "Days", "Subject", "arm", "shift", "dose"]
    pd.testing.assert_frame_equal(loaded.model.data, fit.model.data[used])
    assert loaded.model.data["shift"].dtype == object
    assert list(loaded.model.data["arm"].cat.categories) == ["c", "a", "b"]
    d, d0 = loaded.design, fit.design
    assert d.n_dropped == d0.n_dropped == 3
    assert d.index.equals(d0.index)
    assert d.x_names == d0.x_names
    assert np.array_equal(d.X, d0.X)
    assert np.array_equal(d.y, d0.y)
    assert [b.levels for b in d.blocks] == [b.levels for b in d0.blocks]
    assert loaded.model.prior_set == fit.model.prior_set
    pd.testing.assert_frame_equal(loaded.model.priors, fit.model.priors)
    assert "user" in set(loaded.model.priors["source"])
    assert loaded.model.parameterization == MIXED_PARAMETERIZATION
    assert loaded.parameterization == fit.parameterization
    assert (loaded.draws, loaded.tune, loaded.chains) == (fit.draws, fit.tune, fit.chains)
    assert loaded.sampler == fit.sampler
    assert loaded.timing == fit.timing


def test_stored_state_is_what_new_data_need(fits, saved):
    """Building the design from the new rows alone gives other columns (other scale/center
    constants, other levels), so equal predictions below come from the stored state."""
    fit = fits["mixed"]
    new = mixed_newdata()
    assert new["arm"].nunique() < 3
    stored = fit.design.transform(new).X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = pg.Model(MIXED_FORMULA, mixed_data().loc[new.index]).design.X
    assert stored.shape != alone.shape or not np.allclose(stored, alone)
    for name in ("mixed", "mixed_nodata"):
        loaded = pg.load_fit(saved[name])
        assert np.array_equal(loaded.design.transform(new).X, stored)
        pd.testing.assert_frame_equal(loaded.predict(new), fit.predict(new))


def test_without_data(fits, saved):
    fit = fits["sleep"]
    loaded = pg.load_fit(saved["sleep_nodata"])
    assert loaded.model.data is None
    assert not loaded.design.has_data
    assert loaded.design.n_obs == fit.design.n_obs == 180
    assert set(vars(loaded.model)) == set(vars(fit.model))
    pd.testing.assert_frame_equal(loaded.fixef(), fit.fixef())
    pd.testing.assert_frame_equal(loaded.varcorr(), fit.varcorr())
    pd.testing.assert_frame_equal(loaded.coef()["Subject"], fit.coef()["Subject"])
    with pytest.raises(ValueError, match="saved with data=False"):
        loaded.predict()
    again = saved["sleep_nodata"].with_name("again.nc")
    with pytest.raises(ValueError, match="data=False"):
        loaded.save(again)
    loaded.save(again, data=False)  # a loaded fit saves again, and loads the same
    assert str(pg.load_fit(again)) == str(fit)
    again.unlink()


def test_a_loaded_fit_saves_again_with_its_data(fits, saved, tmp_path):
    loaded = pg.load_fit(saved["mixed"])
    loaded.save(tmp_path / "again.nc")
    twice = pg.load_fit(tmp_path / "again.nc")
    assert str(twice) == str(fits["mixed"])
    pd.testing.assert_frame_equal(twice.model.data, loaded.model.data)


def test_file_layout(fits, saved):
    with xr.open_dataset(saved["mixed"], group=persist.GROUP, engine="h5netcdf") as ds:
        attrs = dict(ds.attrs)
        variables = set(ds.data_vars)
    assert attrs["format"] == "pyglmm.fit"
    assert int(attrs["format_version"]) == persist.FORMAT_VERSION
    for key in ("formula", "family", "priors", "parameterization", "stack", "columns", "index"):
        assert isinstance(attrs[key], str), key
    assert attrs["formula"] == MIXED_FORMULA
    assert json.loads(attrs["family"]) == {"name": "gaussian", "link": "identity"}
    assert json.loads(attrs["parameterization_spec"]) == MIXED_PARAMETERIZATION
    assert json.loads(attrs["stack"]) == stack.versions()
    assert attrs["pyglmm_version"] == pg.__version__
    assert attrs["data"] == "included"
    priors = json.loads(attrs["priors"])
    assert priors["b"]["arm[T.a]"] == {"dist": "Normal", "params": {"mu": 0.0, "sigma": 30.0}}
    columns = {c["name"]: c for c in json.loads(attrs["columns"])}
    assert list(columns) == ["Reaction", "Days", "Subject", "arm", "shift", "dose"]
    assert columns["arm"]["kind"] == "categorical"
    assert columns["arm"]["categories"] == ["c", "a", "b"]
    assert columns["shift"]["kind"] == "string"
    assert json.loads(attrs["index"])["names"] == ["row_id"]
    assert {columns[c]["var"] for c in columns} <= variables
    assert persist.PICKLE_VAR not in variables
    with xr.open_dataset(saved["sleep_nodata"], group=persist.GROUP, engine="h5netcdf") as ds:
        assert ds.attrs["data"] == "omitted"
        assert set(ds.data_vars) == {persist.PICKLE_VAR}
        assert ds[persist.PICKLE_VAR].dtype == np.uint8
    groups = stack.group_names(stack.from_netcdf(str(saved["cbpp"])))
    assert {"posterior", "log_likelihood", "observed_data", persist.GROUP} <= set(groups)


def test_a_plain_arviz_file_is_rejected(fits, tmp_path):
    path = tmp_path / "posterior.nc"
    stack.to_netcdf(fits["sleep"].idata, str(path))
    with pytest.raises(pg.FitFileError, match=r"not a saved pyglmm fit.*posterior"):
        pg.load_fit(path)


def test_other_files_are_rejected(tmp_path):
    text = tmp_path / "data.csv"
    text.write_text("y,x\n1,2\n")
    with pytest.raises(pg.FitFileError, match="not a netCDF file"):
        pg.load_fit(text)
    with pytest.raises(FileNotFoundError):
        pg.load_fit(tmp_path / "absent.nc")


def test_a_newer_format_version_is_rejected(fits, tmp_path, monkeypatch):
    path = tmp_path / "future.nc"
    with monkeypatch.context() as m:
        m.setattr(persist.write, "FORMAT_VERSION", persist.FORMAT_VERSION + 1)
        fits["sleep"].save(path, data=False)
    with pytest.raises(
        pg.FitFileError, match=rf"format version {persist.FORMAT_VERSION + 1};.*upgrade pyglmm"
    ):
        pg.load_fit(path)


def test_a_design_that_rebuilds_differently_is_rejected(saved, monkeypatch):
    decode = persist._decode_frame

    def shifted(ds: xr.Dataset, attrs: Any) -> pd.DataFrame:
        frame = decode(ds, attrs)
        return frame.assign(Reaction=frame["Reaction"] + 1.0)

    monkeypatch.setattr(persist, "_decode_frame", shifted)
    with pytest.raises(pg.FitFileError, match=r"different design.*\(y differ\)"):
        pg.load_fit(saved["sleep"])


def test_a_failed_rebuild_names_both_stacks(saved, monkeypatch):
    def broken(*args: Any) -> None:
        raise RuntimeError("no such thing here")

    monkeypatch.setattr(persist, "_rebuild", broken)
    with pytest.raises(pg.FitFileError) as info:
        pg.load_fit(saved["cbpp"])
    message = str(info.value)
    here = f"pyglmm {pg.__version__} on {stack.describe_stack()}"
    assert "RuntimeError: no such thing here" in message
    assert f"saved with {here}; loading with {here}" in message


def test_unsupported_columns_and_arguments(fits, tmp_path):
    fit = copy.copy(fits["sleep"])
    fit.model = copy.copy(fit.model)
    data = fit.model.data.copy()
    data["Subject"] = pd.Series([1, "a"] * (len(data) // 2), index=data.index, dtype=object)
    fit.model.data = data
    with pytest.raises(ValueError, match="cannot save column 'Subject'"):
        fit.save(tmp_path / "bad.nc")
    assert not list(tmp_path.iterdir())
    with pytest.raises(TypeError, match="data must be True or False"):
        fits["sleep"].save(tmp_path / "bad.nc", data="yes")  # type: ignore[arg-type]


# --- the command line -------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::pyglmm.SamplingWarning")
def test_cli_output_and_summary(tmp_path, capsys):
    csv = tmp_path / "sleep.csv"
    pg.datasets.load("sleepstudy").to_csv(csv, index=False)
    target = tmp_path / "fit.nc"
    argv = ["fit", str(csv), "Reaction ~ Days + (1 | Subject)", "--draws", "100"]
    argv += ["--tune", "100", "--chains", "1", "--seed", "1", "--output", str(target)]
    assert cli.main(argv) == 0
    printed, err = capsys.readouterr()
    assert str(target) in err
    assert "Data: sleep.csv (Number of observations: 180)" in printed
    assert cli.main(["summary", str(target)]) == 0
    again, err = capsys.readouterr()
    assert again == printed
    assert err == ""
    assert pg.load_fit(target).model.data_name == "sleep.csv"


def test_cli_summary_user_errors(fits, tmp_path, capsys):
    plain = tmp_path / "posterior.nc"
    stack.to_netcdf(fits["sleep"].idata, str(plain))
    text = tmp_path / "data.csv"
    text.write_text("y,x\n1,2\n")
    cases = [
        (plain, "not a saved pyglmm fit"),
        (text, "not a netCDF file"),
        (tmp_path / "absent.nc", "file not found"),
    ]
    for path, message in cases:
        code = cli.main(["summary", str(path)])
        out, err = capsys.readouterr()
        assert code == 2
        assert out == ""
        assert err.startswith("pyglmm: error: ")
        assert message in err
        assert err.count("\n") == 1
        assert "Traceback" not in err


def test_a_missing_netcdf_writer_is_reported_before_sampling(fits, tmp_path, monkeypatch, capsys):
    class NoModel:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("the model was built")

    monkeypatch.setattr(persist.write.importlib.util, "find_spec", lambda *args: None)
    message = persist.netcdf_missing()
    assert message is not None
    assert "pip install h5netcdf" in message
    with pytest.raises(ImportError, match="h5netcdf"):
        fits["sleep"].save(tmp_path / "fit.nc")
    monkeypatch.setattr(cli, "Model", NoModel)
    csv = tmp_path / "data.csv"
    csv.write_text("y,x,g\n1,2,a\n")
    code = cli.main(["fit", str(csv), "y ~ x + (1 | g)", "--output", str(tmp_path / "fit.nc")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("pyglmm: error: --output:")
    assert "h5netcdf" in err
    assert not list(tmp_path.glob("*.nc"))


def test_cli_summary_usage(capsys):
    assert cli.main(["summary", "--help"]) == 0
    assert "FILE" in capsys.readouterr().out
    assert cli.main(["summary"]) == 2
    assert "usage: pyglmm summary" in capsys.readouterr().err
