"""Formula build time for long formulas (issue #14): seconds per stage of ``pg.Model(formula,
df)`` as the formula grows.

* ``nested``: ``y ~ x + (1 | g1/g2/.../gK)``, which expands to K random-effect blocks
  ``g1``, ``g1:g2``, ..., ``g1:...:gK`` (K columns of 2 levels each, at most 64
  combinations, 400 rows).
* ``distinct``: ``y ~ I(x1 * 1) + I(x2 * 2) + ... + I(xM * M)``, M distinct columns (full
  rank; M + 50 rows) and ``(1 | g)``.
* ``aliased``: ``y ~ I(x * 1) + I(x * 2) + ... + I(x * M)``, every term a multiple of one
  column (200 rows): all but the first are dropped as aliased, lme4's way.

    python bench/formula_build.py                        # all cases, default sizes
    python bench/formula_build.py --case nested --sizes 10,50,100

Stages: ``parse`` (``quote_columns`` + ``parse_formula``), ``design`` (``build_design``, which
evaluates the fixed part and every random term with patsy), ``alias`` (``drop_aliased_columns``,
the rank check), ``rest`` (priors, family checks) and ``total`` (the whole ``pg.Model``, timed
separately). Prints a markdown table; ``--repeat N`` shows each stage's minimum over N runs
(the machine's load adds noise, never speed).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

import pyglmm as pg
from pyglmm.design import build_design
from pyglmm.design.build import drop_aliased_columns
from pyglmm.formula import parse_formula, quote_columns

SIZES = {
    "nested": [10, 50, 100, 200, 500],
    "distinct": [100, 500, 1000, 3000],
    "aliased": [100, 500, 1000, 3000],
}


def case(name: str, k: int, seed: int = 1) -> tuple[str, pd.DataFrame]:
    """The formula and data of case ``name`` at size ``k``."""
    rng = np.random.default_rng(seed)
    if name == "nested":
        n = 400
        # 2 levels each; past g6 each repeats g6, so the combinations stay at most 64 (< n)
        base = {j: rng.integers(0, 2, n) for j in range(1, 7)}
        cols = {f"g{j}": base[min(j, 6)] for j in range(1, k + 1)}
        df = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n), **cols})
        return "y ~ x + (1 | " + "/".join(f"g{j}" for j in range(1, k + 1)) + ")", df
    if name == "distinct":
        n = k + 50
        cols = {f"x{j}": rng.normal(size=n) for j in range(1, k + 1)}
        df = pd.DataFrame({"y": rng.normal(size=n), "g": rng.integers(0, 10, n), **cols})
        rhs = " + ".join(f"I(x{j} * {j})" for j in range(1, k + 1))
        return f"y ~ {rhs} + (1 | g)", df
    if name == "aliased":
        n = 200
        df = pd.DataFrame(
            {"y": rng.normal(size=n), "x": rng.normal(size=n), "g": rng.integers(0, 10, n)}
        )
        rhs = " + ".join(f"I(x * {j})" for j in range(1, k + 1))
        return f"y ~ {rhs} + (1 | g)", df
    raise ValueError(f"unknown case {name!r}")


def _timed(f: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def stages(formula: str, df: pd.DataFrame) -> dict[str, float]:
    """Seconds per stage (see the module docstring)."""
    t_parse, parsed = _timed(lambda: parse_formula(quote_columns(formula, df.columns)))
    t_design, design = _timed(lambda: build_design(parsed, df))  # type: ignore[arg-type]
    t_alias, _ = _timed(lambda: drop_aliased_columns(design))  # type: ignore[arg-type]
    t_total, _ = _timed(lambda: pg.Model(formula, df))
    rest = max(0.0, t_total - t_parse - t_design - t_alias)
    return {
        "parse": t_parse,
        "design": t_design,
        "alias": t_alias,
        "rest": rest,
        "total": t_total,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", default="all", choices=["all", *SIZES])
    ap.add_argument("--sizes", default=None, help="comma-separated sizes (default per case)")
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs per size; each stage's minimum is shown"
    )
    args = ap.parse_args(argv)
    names = list(SIZES) if args.case == "all" else [args.case]
    print("| case | K | chars | parse s | design s | alias s | rest s | total s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else SIZES[name]
        for k in sizes:
            formula, df = case(name, k)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runs = [stages(formula, df) for _ in range(max(1, args.repeat))]
            t = {key: min(r[key] for r in runs) for key in runs[0]}
            print(
                f"| {name} | {k} | {len(formula)} | {t['parse']:.3f} | {t['design']:.3f} | "
                f"{t['alias']:.3f} | {t['rest']:.3f} | {t['total']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
