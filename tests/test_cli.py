"""The command line, with the model replaced by a recording fake (no sampling here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

import pyglmm as pg
from pyglmm import cli
from pyglmm.design import DesignError
from pyglmm.formula import FormulaError

SUMMARY = "FAKE-FIT-SUMMARY: Regression Coefficients"
POINT_SUMMARY = "FAKE-POINT-SUMMARY: REML criterion"


class FakeIData:
    def to_netcdf(self, path: str) -> None:
        Path(path).write_text("fake netcdf")


class FakeFit:
    idata = FakeIData()

    def save(self, path: str, data: bool = True) -> None:
        self.idata.to_netcdf(path)

    def __str__(self) -> str:
        return SUMMARY


class FakePointFit:
    def __str__(self) -> str:
        return POINT_SUMMARY


class FakeModel:
    """Records every construction and call; raises the library's errors on cue."""

    instances: ClassVar[list[FakeModel]] = []

    def __init__(self, formula: str, data: pd.DataFrame, **kwargs: Any) -> None:
        if "((" in formula:
            raise FormulaError("unbalanced parenthesis", formula, formula.index("(("))
        if "missing_col" in formula:
            raise DesignError("column 'missing_col' is not in the data")
        self.formula = formula
        self.data = data
        self.kwargs = kwargs
        self.fit_kwargs: dict[str, Any] | None = None
        self.optimize_kwargs: dict[str, Any] | None = None
        FakeModel.instances.append(self)

    def fit(self, **kwargs: Any) -> FakeFit:
        self.fit_kwargs = kwargs
        return FakeFit()

    def optimize(self, **kwargs: Any) -> FakePointFit:
        self.optimize_kwargs = kwargs
        return FakePointFit()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeModel]:
    FakeModel.instances = []
    monkeypatch.setattr(cli, "Model", FakeModel)
    return FakeModel


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    pd.DataFrame(
        {"y": [1.0, 2.0, 3.5, 4.0], "x": [0, 1, 2, 3], "g": [10, 2, 10, 2], "h": ["b", "a"] * 2}
    ).to_csv(path, index=False)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_fit_defaults_are_passed_through(fake, csv, capsys):
    code, out, err = run(capsys, "fit", str(csv), "y ~ x + (x | g)")
    assert code == 0
    assert SUMMARY in out
    assert err == ""
    (model,) = fake.instances
    assert model.formula == "y ~ x + (x | g)"
    assert model.kwargs == {"family": "gaussian", "parameterization": "auto"}
    assert model.fit_kwargs == {
        "draws": 1000,
        "tune": 1000,
        "chains": 4,
        "seed": None,
        "sampler": "nutpie",
    }
    assert model.optimize_kwargs is None
    assert list(model.data.columns) == ["y", "x", "g", "h"]
    assert model.data.shape == (4, 4)
    assert model.data["y"].tolist() == [1.0, 2.0, 3.5, 4.0]
    assert model.data.attrs["name"] == "data.csv"


def test_fit_options_are_passed_through(fake, csv, capsys):
    code, out, _ = run(
        capsys,
        "fit",
        str(csv),
        "y ~ x + (1 | g)",
        "--family",
        "student",
        "--draws",
        "200",
        "--tune",
        "300",
        "--chains",
        "2",
        "--seed",
        "42",
        "--sampler",
        "pymc",
        "--parameterization",
        "centered",
    )
    assert code == 0
    assert SUMMARY in out
    (model,) = fake.instances
    assert model.kwargs == {"family": "student", "parameterization": "centered"}
    assert model.fit_kwargs == {
        "draws": 200,
        "tune": 300,
        "chains": 2,
        "seed": 42,
        "sampler": "pymc",
    }


def test_parameterization_per_block(fake, csv, capsys):
    code, _, _ = run(
        capsys,
        "fit",
        str(csv),
        "y ~ (1|g) + (1|h)",
        "--parameterization",
        "g=centered, h=noncentered",
    )
    assert code == 0
    assert fake.instances[0].kwargs["parameterization"] == {"g": "centered", "h": "noncentered"}


def test_bad_parameterization_item_is_a_usage_error(fake, csv, capsys):
    code, _, err = run(capsys, "fit", str(csv), "y ~ (1|g)", "--parameterization", "g=")
    assert code == 2
    assert "--parameterization" in err
    assert fake.instances == []


def test_output_writes_netcdf(fake, csv, tmp_path, capsys):
    target = tmp_path / "posterior.nc"
    code, out, err = run(capsys, "fit", str(csv), "y ~ x + (1 | g)", "--output", str(target))
    assert code == 0
    assert target.read_text() == "fake netcdf"
    assert SUMMARY in out
    assert str(target) in err


def test_no_output_file_without_option(fake, csv, tmp_path, capsys):
    code, _, _ = run(capsys, "fit", str(csv), "y ~ x + (1 | g)")
    assert code == 0
    assert not list(tmp_path.glob("*.nc"))


@pytest.mark.parametrize(("flag", "reml"), [("--reml", True), ("--ml", False)])
def test_point_estimates_instead_of_sampling(fake, csv, capsys, flag, reml):
    code, out, _ = run(capsys, "fit", str(csv), "y ~ x + (1 | g)", flag)
    assert code == 0
    assert POINT_SUMMARY in out
    assert SUMMARY not in out
    (model,) = fake.instances
    assert model.optimize_kwargs == {"reml": reml, "nagq": 1}
    assert model.fit_kwargs is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--nagq", "9"], {"reml": False, "nagq": 9}),
        (["--ml", "--nagq", "0"], {"reml": False, "nagq": 0}),
    ],
)
def test_glmm_point_estimates_with_nagq(fake, csv, capsys, argv, expected):
    code, out, _ = run(capsys, "fit", str(csv), "y ~ x + (1 | g)", "--family", "binomial", *argv)
    assert code == 0 and POINT_SUMMARY in out
    (model,) = fake.instances
    assert model.optimize_kwargs == expected


def test_glmm_point_fit_end_to_end(tmp_path, capsys):
    path = tmp_path / "cbpp.csv"
    pg.datasets.load("cbpp").to_csv(path, index=False)
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    code, out, _ = run(
        capsys,
        "fit",
        str(path),
        formula,
        "--family",
        "binomial",
        "--ml",
        "--group-cols",
        "herd,period",
    )
    assert code == 0
    assert "[glmerMod]" in out and "Data: cbpp.csv" in out
    code, _, err = run(capsys, "fit", str(path), formula, "--family", "binomial", "--reml")
    assert code == 2 and "REML is for gaussian models" in err


def test_reml_and_ml_are_exclusive(fake, csv, capsys):
    code, _, err = run(capsys, "fit", str(csv), "y ~ x + (1 | g)", "--reml", "--ml")
    assert code == 2
    assert "not allowed with" in err
    assert fake.instances == []


def test_output_with_reml_is_rejected(fake, csv, tmp_path, capsys):
    target = tmp_path / "p.nc"
    code, _, err = run(capsys, "fit", str(csv), "y ~ (1|g)", "--reml", "-o", str(target))
    assert code == 2
    assert "--output" in err
    assert not target.exists()
    assert fake.instances == []


def test_group_cols_become_categorical_in_natural_order(fake, csv, capsys):
    code, _, _ = run(capsys, "fit", str(csv), "y ~ x + (1 | g)", "--group-cols", "g, h")
    assert code == 0
    data = fake.instances[0].data
    assert isinstance(data["g"].dtype, pd.CategoricalDtype)
    assert list(data["g"].cat.categories) == ["2", "10"]
    assert list(data["h"].cat.categories) == ["a", "b"]
    assert data["x"].dtype.kind == "i"


def test_group_cols_unknown_column(fake, csv, capsys):
    code, out, err = run(capsys, "fit", str(csv), "y ~ (1|g)", "--group-cols", "g,nope")
    assert code == 2
    assert out == ""
    assert "nope" in err
    assert "Traceback" not in err
    assert fake.instances == []


def test_missing_file_exits_2_with_message(fake, tmp_path, capsys):
    missing = tmp_path / "absent.csv"
    code, out, err = run(capsys, "fit", str(missing), "y ~ x + (1 | g)")
    assert code == 2
    assert out == ""
    assert err.startswith("pyglmm: error: file not found:")
    assert "absent.csv" in err
    assert "Traceback" not in err
    assert fake.instances == []


def test_bad_formula_exits_2_with_caret(fake, csv, capsys):
    code, out, err = run(capsys, "fit", str(csv), "y ~ ((x | g)")
    assert code == 2
    assert out == ""
    assert "bad formula: unbalanced parenthesis" in err
    assert "y ~ ((x | g)" in err
    assert "\n      ^" in err  # caret under position 4 of the indented formula
    assert "Traceback" not in err


def test_design_error_exits_2(fake, csv, capsys):
    code, _, err = run(capsys, "fit", str(csv), "y ~ missing_col + (1 | g)")
    assert code == 2
    assert "missing_col" in err
    assert "Traceback" not in err


def test_empty_csv_exits_2(fake, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, _, err = run(capsys, "fit", str(empty), "y ~ (1|g)")
    assert code == 2
    assert "cannot read the data file" in err


def test_other_exceptions_are_not_swallowed(monkeypatch, csv):
    class Broken(FakeModel):
        def fit(self, **kwargs: Any) -> FakeFit:
            raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "Model", Broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["fit", str(csv), "y ~ (1|g)"])


@pytest.mark.parametrize(
    "argv",
    [
        ["fit"],
        ["fit", "data.csv"],
        ["fit", "d.csv", "y ~ x", "--draws", "0"],
        ["fit", "d.csv", "y ~ x", "--chains", "two"],
        ["fit", "d.csv", "y ~ x", "--sampler", "stan"],
        ["fit", "d.csv", "y ~ x", "--tune", "-1"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(fake, capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage: pyglmm" in err
    assert fake.instances == []


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "fit", "--help")
    assert code == 0
    for option in ("--family", "--draws", "--tune", "--chains", "--seed", "--sampler"):
        assert option in out
    for option in ("--parameterization", "--output", "--reml", "--ml", "--group-cols"):
        assert option in out


def test_demo_fits_sleepstudy_with_seed_1(fake, capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert SUMMARY in out
    (model,) = fake.instances
    assert model.formula == "Reaction ~ Days + (Days | Subject)"
    assert model.data.shape == (180, 3)
    assert isinstance(model.data["Subject"].dtype, pd.CategoricalDtype)
    assert model.fit_kwargs is not None
    assert model.fit_kwargs["seed"] == 1
    assert model.fit_kwargs["draws"] == 1000
    assert model.fit_kwargs["chains"] == 4


def test_demo_accepts_sampling_options(fake, capsys):
    code, _, _ = run(capsys, "demo", "--draws", "50", "--chains", "1", "--seed", "7")
    assert code == 0
    fit_kwargs = fake.instances[0].fit_kwargs
    assert fit_kwargs is not None
    assert (fit_kwargs["draws"], fit_kwargs["chains"], fit_kwargs["seed"]) == (50, 1, 7)


def test_python_dash_m_runs_the_cli(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pyglmm", "fit", str(tmp_path / "absent.csv"), "y ~ x"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "file not found" in proc.stderr
    assert "Traceback" not in proc.stderr
