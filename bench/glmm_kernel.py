"""Time Bayesian GLMM fits through the compiled-once GLMM kernel against the PyMC path (#16).

Run: ``python bench/glmm_kernel.py [--draws 1000 --tune 1000 --chains 4]``. Each (model,
engine) runs in a fresh process, which fits the model twice: the first fit (for the PyMC path
it compiles the PyMC model; for the kernel it loads the kernel from numba's on-disk cache, or
compiles it when the cache is cold) and a second fit of a new ``pg.Model`` on the same data
(what refitting or a new data set of the same kind costs). ``--cold`` points the first kernel
process at an empty ``NUMBA_CACHE_DIR`` (the first fit ever on an installation). Prints a
markdown table: model, engine, wall seconds of each fit, ``compile`` seconds, the minimum bulk
ESS and the ESS per wall second of each fit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys, time, warnings
    import numpy as np, pandas as pd
    import pyglmm as pg

    warnings.simplefilter("ignore")
    case, engine, draws, tune, chains = sys.argv[1:6]
    if case == "cbpp":
        df = pg.datasets.load("cbpp")
        formula, family = "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"
    else:  # epilepsy-like: 59 patients x 4 visits, observation-level effects (brms's example)
        rng = np.random.default_rng(1)
        pat = np.repeat(np.arange(59), 4)
        trt = np.repeat(rng.integers(0, 2, 59), 4)
        zbase = np.repeat(rng.normal(size=59), 4)
        zage = np.repeat(rng.normal(size=59), 4)
        eta = 1.8 + 0.7 * zbase - 0.3 * trt + 0.1 * zage + rng.normal(0, 0.5, 59)[pat]
        y = rng.poisson(np.exp(eta + rng.normal(0, 0.3, pat.size)))
        df = pd.DataFrame({"count": y, "zBase": zbase, "Trt": trt, "zAge": zage,
                           "patient": pat.astype(str), "obs": np.arange(pat.size).astype(str)})
        formula = "count ~ zAge + zBase * Trt + (1 | patient) + (1 | obs)"
        family = "poisson"
    kw = dict(draws=int(draws), tune=int(tune), chains=int(chains), seed=1,
              progressbar=False, warn=False, kernel=engine == "kernel")
    out = []
    for _ in range(2):
        t0 = time.perf_counter()
        fit = pg.Model(formula, df, family=family).fit(**kw)
        wall = time.perf_counter() - t0
        ess = float(fit.diagnostics()["min_bulk_ess"])
        out.append(dict(wall=wall, compile=float(fit.timing["compile"]), ess=ess,
                        kernel=fit.timing["kernel"]))
    print(json.dumps(out))
    """
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--cold", action="store_true", help="first kernel run on an empty cache")
    args = ap.parse_args()
    rows = []
    for case in ("cbpp", "epilepsy-like"):
        for engine in ("kernel", "pymc"):
            env = dict(os.environ)
            if args.cold and engine == "kernel" and case == "cbpp":
                env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="pyglmm-numba-cold-")
            cmd = [sys.executable, "-c", SCRIPT, case, engine]
            cmd += [str(args.draws), str(args.tune), str(args.chains)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            first, second = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append((case, engine, first, second))
    print(
        "| model | engine | fit 1 s | compile 1 s | fit 2 s | compile 2 s | min bulk ESS "
        "(1 / 2) | ESS/s fit 1 | ESS/s fit 2 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for case, engine, a, b in rows:
        print(
            f"| {case} | {engine} | {a['wall']:.1f} | {a['compile']:.2f} | {b['wall']:.1f} | "
            f"{b['compile']:.2f} | {a['ess']:.0f} / {b['ess']:.0f} | "
            f"{a['ess'] / a['wall']:.0f} | {b['ess'] / b['wall']:.0f} |"
        )


if __name__ == "__main__":
    main()
