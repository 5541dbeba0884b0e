"""Centered vs non-centered for a block of two correlated terms, against kappa (issue #16).

    python bench/geometry_terms.py                 # n = 10, 20, 35, 50 rows per level, seeds 1, 2
    python bench/geometry_terms.py --ns 50 --seeds 3

bench/geometry.py measured the crossover of the ``"auto"`` rule on one-term blocks
``y ~ x + (1 | g)``. For a block of several terms the rule's kappa is the smallest eigenvalue of
``S' M_l S`` (median over levels; :mod:`pyglmm.information`), the least informed direction. This
script simulates the Bernoulli ``y ~ x + (1 + x | g)`` of ``data.simulate_bernoulli`` (sd 1 and
0.5, correlation 0.3) with 200 levels of ``n`` rows, fits both forms with nutpie (the kernel,
2 chains x 500 draws + 500 tune) and prints kappa and, per form, the minimum bulk ESS over the
population-level and block parameters per 1000 post-warmup leapfrog steps (independent of
machine load), and ``log2 C/NC``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from azcompat import ess, group
from data import simulate_bernoulli


def ess_per_1k_steps(fit: object) -> float:
    """Minimum bulk ESS over fixed effects, SDs and correlations per 1000 leapfrog steps."""
    idata = fit.idata  # type: ignore[attr-defined]
    post = group(idata, "posterior")
    lowest = np.inf
    for name, var in post.data_vars.items():
        if not str(name).startswith(("b_", "Intercept", "sd_", "cor_")):
            continue
        values = np.asarray(var).reshape(var.shape[0], var.shape[1], -1)
        for j in range(values.shape[2]):
            if np.ptp(values[:, :, j]) > 0:  # a correlation matrix's fixed diagonal: no ESS
                lowest = min(lowest, ess(values[:, :, j]))
    steps = float(group(idata, "sample_stats")["n_steps"].sum())
    return lowest / steps * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", default="10,20,35,50", help="rows per level")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--groups", type=int, default=200)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    import pyglmm as pg
    from pyglmm.information import block_information

    print("| n | seed | kappa | C ess/1k | NC ess/1k | log2 C/NC |")
    print("|---|---|---|---|---|---|")
    for n in (int(v) for v in a.ns.split(",")):
        for seed in (int(v) for v in a.seeds.split(",")):
            df = simulate_bernoulli(a.groups, n, seed=seed)
            model = pg.Model("y ~ x + (1 + x | g)", df, family="bernoulli")
            kappa = block_information(model.design, model.family, model._cheap_point_fit())["g"]
            rate = {
                form: ess_per_1k_steps(
                    model.fit(
                        draws=500,
                        tune=500,
                        chains=2,
                        seed=seed,
                        parameterization={"g": form},
                        progressbar=False,
                        log_likelihood=False,
                    )
                )
                for form in ("centered", "noncentered")
            }
            c, nc = rate["centered"], rate["noncentered"]
            print(f"| {n} | {seed} | {kappa:.2f} | {c:.2f} | {nc:.2f} | {np.log2(c / nc):+.2f} |")


if __name__ == "__main__":
    main()
