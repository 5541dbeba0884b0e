"""The ``pyglmm`` command line.

    pyglmm fit data.csv "Reaction ~ Days + (Days | Subject)" --draws 1000 --output fit.nc
    pyglmm fit data.csv "Reaction ~ Days + (Days | Subject)" --reml
    pyglmm fit cbpp.csv "cbind(incidence, size - incidence) ~ period + (1 | herd)" \
        --family binomial --ml
    pyglmm summary fit.nc
    pyglmm demo
    python -m pyglmm demo

Errors in the user's input (a missing file, a formula that does not parse, data that do not fit
the formula) print one message to stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["build_parser", "main"]

# The model class, imported on first use so ``pyglmm --help`` does not import PyMC.
# Tests replace it with ``monkeypatch.setattr(pyglmm.cli, "Model", Fake)``.
Model: Any = None

DEMO_FORMULA = "Reaction ~ Days + (Days | Subject)"


class CLIError(Exception):
    """A user error detected by the command line itself (bad option value, unknown column)."""


def _model_class() -> Any:
    if Model is not None:
        return Model
    from .model import Model as model_class

    return model_class


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions reported as a message + exit 2 instead of a traceback."""
    from .errors import PyglmmError

    return (
        CLIError,
        PyglmmError,
        FileNotFoundError,
        IsADirectoryError,
        pd.errors.EmptyDataError,
        pd.errors.ParserError,
    )


def _parameterization(text: str) -> str | dict[str, str]:
    """``"centered"`` stays a string; ``"Subject=centered,plate=noncentered"`` becomes a dict."""
    if "=" not in text:
        return text
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise argparse.ArgumentTypeError(
                f"bad --parameterization item {item!r}; "
                "use NAME=auto|marginal|laplace|centered|noncentered"
            )
        out[key.strip()] = value.strip()
    return out


def _int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low`` (``what`` names it in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "positive")
_nonnegative_int = _int_at_least(0, "non-negative")


def _add_sampling_options(p: argparse.ArgumentParser, seed_default: int | None) -> None:
    from .sampling import SAMPLERS

    g = p.add_argument_group("sampling")
    g.add_argument("--draws", type=_positive_int, default=1000, help="draws per chain (1000)")
    g.add_argument("--tune", type=_nonnegative_int, default=1000, help="tuning steps (1000)")
    g.add_argument("--chains", type=_positive_int, default=4, help="number of chains (4)")
    seed_help = "random seed" + ("" if seed_default is None else f" ({seed_default})")
    g.add_argument("--seed", type=int, default=seed_default, help=seed_help)
    g.add_argument(
        "--sampler", choices=list(SAMPLERS), default="nutpie", help="NUTS sampler (nutpie)"
    )
    g.add_argument(
        "--parameterization",
        type=_parameterization,
        default="auto",
        metavar="P",
        help='"auto" (default), "marginal", "laplace", "noncentered", "centered", or per block: '
        '"Subject=marginal,plate=centered"',
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyglmm",
        description="Bayesian mixed models from lme4/brms formulas (PyMC + nutpie).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = sub.add_parser(
        "fit",
        help="fit a formula to a CSV file",
        description="Fit FORMULA to the data in CSV and print the brms-style summary.",
    )
    fit.add_argument("data", metavar="CSV", help="data file (CSV with a header row)")
    fit.add_argument("formula", metavar="FORMULA", help='lme4/brms formula, e.g. "y ~ x + (x | g)"')
    fit.add_argument("--family", default="gaussian", help="response family (gaussian)")
    fit.add_argument(
        "--link", default=None, help="link function (default: the family's, e.g. logit)"
    )
    _add_sampling_options(fit, seed_default=None)
    fit.add_argument(
        "--output",
        "-o",
        metavar="PATH",
        help="save the fit (posterior, model and data) to one netCDF file; "
        "'pyglmm summary PATH' prints it again, pyglmm.load_fit(PATH) reloads it",
    )
    point = fit.add_mutually_exclusive_group()
    point.add_argument(
        "--reml",
        dest="reml",
        action="store_const",
        const=True,
        default=None,
        help="REML point estimates instead of sampling",
    )
    point.add_argument(
        "--ml",
        dest="reml",
        action="store_const",
        const=False,
        help="maximum-likelihood point estimates instead of sampling",
    )
    fit.add_argument(
        "--nagq",
        type=_nonnegative_int,
        default=None,
        metavar="N",
        help="GLMM point estimates (implies --ml): 1 Laplace, 0 fast, N > 1 adaptive "
        "Gauss-Hermite with N nodes (one scalar random-effect term)",
    )
    fit.add_argument(
        "--group-cols",
        metavar="A,B",
        default="",
        help="columns to read as categorical (grouping factors are categorical anyway)",
    )

    summary = sub.add_parser(
        "summary",
        help="print the summary of a fit saved with 'pyglmm fit --output'",
        description="Print the brms-style summary of a fit saved with 'pyglmm fit --output FILE' "
        "or fit.save(FILE) (no sampling).",
    )
    summary.add_argument("file", metavar="FILE", help="a saved fit (netCDF)")

    demo = sub.add_parser(
        "demo",
        help=f"fit the shipped sleepstudy data: {DEMO_FORMULA}",
        description=f"Fit {DEMO_FORMULA} to the shipped sleepstudy data and print the summary.",
    )
    _add_sampling_options(demo, seed_default=1)
    return parser


def _read_data(path: str, group_cols: str) -> pd.DataFrame:
    from .datasets import natural_categorical

    data = pd.read_csv(path)
    data.attrs["name"] = Path(path).name  # shown as the data name in the summary
    cols = [c.strip() for c in group_cols.split(",") if c.strip()]
    unknown = [c for c in cols if c not in data.columns]
    if unknown:
        raise CLIError(
            f"--group-cols names column(s) not in {path}: {', '.join(unknown)}; "
            f"its columns are: {', '.join(map(str, data.columns))}"
        )
    for col in cols:
        data[col] = natural_categorical(data[col])
    return data


def _sample_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "draws": args.draws,
        "tune": args.tune,
        "chains": args.chains,
        "seed": args.seed,
        "sampler": args.sampler,
    }


def _cmd_fit(args: argparse.Namespace) -> int:
    if args.reml is not None and args.output:
        raise CLIError("--output writes posterior draws; it cannot be combined with --reml/--ml")
    if args.output:
        from .persist import netcdf_missing

        missing = netcdf_missing()  # before sampling, not after
        if missing is not None:
            raise CLIError(f"--output: {missing}")
    data = _read_data(args.data, args.group_cols)
    from .families import family

    model = _model_class()(
        args.formula,
        data,
        family=family(args.family, link=args.link) if args.link else args.family,
        parameterization=args.parameterization,
    )
    if args.nagq is not None and args.reml is None:
        args.reml = False
    if args.reml is not None:
        nagq = 1 if args.nagq is None else args.nagq
        print(model.optimize(reml=args.reml, nagq=nagq))
        return 0
    fit = model.fit(**_sample_kwargs(args))
    print(fit)
    if args.output:
        fit.save(args.output)
        print(f"fit saved to {args.output} (pyglmm summary {args.output})", file=sys.stderr)
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from .persist import load_fit, netcdf_missing

    missing = netcdf_missing()
    if missing is not None:
        raise CLIError(missing)
    print(load_fit(args.file))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .datasets import load

    data = load("sleepstudy")
    print(f"sleepstudy (180 rows): {DEMO_FORMULA}\n", flush=True)
    model = _model_class()(DEMO_FORMULA, data, parameterization=args.parameterization)
    print(model.fit(**_sample_kwargs(args)))
    return 0


def _message(exc: BaseException) -> str:
    from .design import DesignError
    from .formula import FormulaError

    if isinstance(exc, FileNotFoundError):
        name = exc.filename if exc.filename is not None else str(exc)
        return f"file not found: {name}"
    if isinstance(exc, IsADirectoryError):
        return f"not a file: {exc.filename}"
    if isinstance(exc, FormulaError):
        return f"bad formula: {exc}"
    if isinstance(exc, DesignError):
        return f"data do not fit the formula: {exc}"
    if isinstance(exc, pd.errors.EmptyDataError | pd.errors.ParserError):
        return f"cannot read the data file: {exc}"
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    commands = {"fit": _cmd_fit, "demo": _cmd_demo, "summary": _cmd_summary}
    try:
        return commands[args.command](args)
    except _user_errors() as exc:
        print(f"pyglmm: error: {_message(exc)}", file=sys.stderr)
        return 2
