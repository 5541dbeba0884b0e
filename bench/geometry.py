"""Centered vs non-centered geometry of ``y ~ x + (1 | g)`` against the information per level
(issue #16 item 2: calibrating the ``"auto"`` parameterization rule).

For each family (bernoulli logit, poisson log, gaussian identity), rows per level ``n`` and
group SD ``sd``, simulates ``--groups`` levels of ``n`` rows, computes

    kappa = sd^2 * n * mean(w),   w = the family's Fisher information per row for eta

(bernoulli ``mu (1 - mu)``, poisson ``mu``, gaussian ``1 / sigma^2``) at the true parameters,
and fits ``parameterization="centered"`` and ``"noncentered"`` with nutpie (the kernel),
``cores=1``. Records the minimum bulk ESS over the fixed effects, the SD and the effects
``r_g``, the post-warmup leapfrog steps (``sample_stats.n_steps``), ESS per 1000 leapfrog steps
(load-independent: the number the winner is chosen by), ESS per second of sampling,
divergences and the maximum R-hat. Prints a table sorted by kappa with the winner per cell and,
per family, where the winner changes.

    python bench/geometry.py                          # 2 chains x 500 draws + 500 tune
    python bench/geometry.py --quick                  # smoke run: 2 cells per family, 100 + 100
    python bench/geometry.py --families bernoulli --out geom_bern.csv
    python bench/geometry.py --table-only geometry.csv   # re-print the table of a CSV

Rows are appended to the CSV (``--out``; relative paths go under ``bench/results/``, which is
gitignored) as each cell finishes, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

NS = (2, 5, 10, 20, 50, 200)
SDS = (0.3, 1.0, 2.0)
FAMILIES = ("bernoulli", "poisson", "gaussian")
# true fixed effects (intercept, slope of x ~ N(0, 1)) and the gaussian residual SD
BETA = {"bernoulli": (0.0, 0.5), "poisson": (0.5, 0.3), "gaussian": (1.0, 0.5)}
SIGMA = 1.0
PARAMS = ("centered", "noncentered")
NEAR = 4  # the local line of `crossover` uses the cells within this factor of the threshold


def simulate(
    family: str, n: int, sd: float, groups: int, seed: int
) -> tuple[pd.DataFrame, float, float]:
    """The data frame, kappa = sd^2 * n * mean(w) at the true parameters, and the median over
    levels of kappa_l = sd^2 * sum_{i in l} w_i (the planned rule's statistic)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), n)
    x = rng.normal(size=groups * n)
    u = rng.normal(0.0, sd, groups)
    b0, b1 = BETA[family]
    eta = b0 + b1 * x + u[g]
    if family == "bernoulli":
        mu = 1.0 / (1.0 + np.exp(-eta))
        y = rng.binomial(1, mu)
        w = mu * (1.0 - mu)
    elif family == "poisson":
        mu = np.exp(eta)
        y = rng.poisson(mu)
        w = mu
    else:
        y = eta + rng.normal(0.0, SIGMA, eta.size)
        w = np.full(eta.size, 1.0 / SIGMA**2)
    df = pd.DataFrame({"y": y, "x": x, "g": pd.Categorical([f"g{i:03d}" for i in g])})
    kappa_l = sd**2 * np.bincount(g, weights=w, minlength=groups)
    return df, float(sd**2 * n * w.mean()), float(np.median(kappa_l))


def fit_cell(df: pd.DataFrame, family: str, param: str, a: argparse.Namespace) -> dict:
    import pyglmm as pg
    from pyglmm import stack

    model = pg.Model("y ~ x + (1 | g)", df, family=family)
    fit = model.fit(
        draws=a.draws,
        tune=a.tune,
        chains=a.chains,
        seed=a.seed,
        cores=1,
        progressbar=False,
        warn=False,
        parameterization=param,
        log_likelihood=False,
    )
    post = fit.idata.posterior
    ss = fit.idata.sample_stats
    ess: dict[str, float] = {}
    rhat: list[float] = []
    for name in ("Intercept", "beta", "sd_g", "r_g", "sigma"):
        if name not in post:
            continue
        arr = post[name].values.reshape(post.sizes["chain"], post.sizes["draw"], -1)
        vals = [stack.ess_bulk(arr[:, :, k]) for k in range(arr.shape[2])]
        ess[name] = float(np.nanmin(vals))
        rhat += [stack.rhat(arr[:, :, k]) for k in range(arr.shape[2])]
    ess_min = min(ess.values())
    steps = int(ss["n_steps"].values.sum())
    t_sample = float(fit.timing["sample"])
    return {
        "engine": "kernel" if fit.timing.get("kernel") else "pymc",
        "ess_min": ess_min,
        "ess_min_of": min(ess, key=ess.get),
        "ess_fixef": min(ess["Intercept"], ess.get("beta", math.inf)),
        "ess_sd": ess["sd_g"],
        "ess_r": ess["r_g"],
        "steps": steps,
        "ess_per_1k_steps": 1000.0 * ess_min / steps,
        "mean_steps": steps / ss["n_steps"].size,
        "sample_s": t_sample,
        "ess_per_s": ess_min / t_sample,
        "divergences": int(ss["diverging"].values.sum()),
        "rhat_max": float(np.nanmax(rhat)),
        "sd_mean": float(post["sd_g"].values.mean()),
    }


def winners(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell and seed: kappa, both ESS/1k steps, their log ratio and the winner."""
    keys = ["family", "n", "sd", "seed", "kappa", "kappa_med"]
    w = df.pivot_table(
        index=keys,
        columns="param",
        values=["ess_per_1k_steps", "ess_per_s", "ess_min", "divergences", "rhat_max"],
    )
    w.columns = [f"{v}_{'c' if p == 'centered' else 'nc'}" for v, p in w.columns]
    w = w.reset_index().dropna(subset=["ess_per_1k_steps_c", "ess_per_1k_steps_nc"])
    w["log2_c_over_nc"] = np.log2(w["ess_per_1k_steps_c"] / w["ess_per_1k_steps_nc"])
    w["log2_s"] = np.log2(w["ess_per_s_c"] / w["ess_per_s_nc"])
    w["winner"] = np.where(w["log2_c_over_nc"] >= 0, "C", "NC")
    return w.sort_values(["family", "kappa"]).reset_index(drop=True)


def cells(w: pd.DataFrame) -> pd.DataFrame:
    """``winners`` summarised over seeds: mean kappa, geometric-mean ESS/1k steps and ESS/s,
    mean log2 ratio, the winner by it and how many seeds centered won."""

    def gmean(x: pd.Series) -> float:
        return float(np.exp(np.log(x).mean()))

    g = w.groupby(["family", "n", "sd"])
    c = g.agg(
        seeds=("seed", "size"),
        kappa=("kappa", "mean"),
        kappa_med=("kappa_med", "mean"),
        ess_per_1k_steps_c=("ess_per_1k_steps_c", gmean),
        ess_per_1k_steps_nc=("ess_per_1k_steps_nc", gmean),
        log2_c_over_nc=("log2_c_over_nc", "mean"),
        c_wins=("winner", lambda x: int((x == "C").sum())),
        ess_per_s_c=("ess_per_s_c", gmean),
        ess_per_s_nc=("ess_per_s_nc", gmean),
        log2_s=("log2_s", "mean"),
        divergences_c=("divergences_c", "sum"),
        divergences_nc=("divergences_nc", "sum"),
        rhat_max_c=("rhat_max_c", "max"),
        rhat_max_nc=("rhat_max_nc", "max"),
    ).reset_index()
    c["winner"] = np.where(c["log2_c_over_nc"] >= 0, "C", "NC")
    c["winner_s"] = np.where(c["log2_s"] >= 0, "C", "NC")
    c["c_wins"] = [f"{k}/{m}" for k, m in zip(c["c_wins"], c["seeds"], strict=True)]
    return c.sort_values(["family", "kappa"]).reset_index(drop=True)


def crossover(w: pd.DataFrame, col: str = "kappa") -> list[str]:
    """Per family: the threshold interval(s) of ``col`` with the fewest cells misclassified by
    "centered iff kappa >= t", and the kappa where a least-squares line of log2(C/NC) against
    log10(kappa) crosses zero."""
    lines = []
    for fam, d in w.groupby("family", sort=False):
        k = d[col].to_numpy()
        c = (d["winner"] == "C").to_numpy()
        cands = np.concatenate([np.unique(k), [np.inf]])
        errs = [int(((k >= t) != c).sum()) for t in cands]
        best = min(errs)
        ok = [i for i, e in enumerate(errs) if e == best]
        ivals = []  # contiguous runs of equally good thresholds, as (lo, hi]
        for i in ok:
            lo = cands[i - 1] if i > 0 else 0.0
            if ivals and ivals[-1][1] == lo:
                ivals[-1][1] = cands[i]
            else:
                ivals.append([lo, cands[i]])
        ivals = [f"({lo:.3g}, {hi:.3g}]" for lo, hi in ivals]
        # a line of log2(C/NC) against log10(kappa), fitted to the cells within a factor NEAR of
        # the best interval's geometric midpoint (far from it the ratio saturates)
        i = ok[len(ok) // 2]
        lo, hi = (cands[i - 1] if i > 0 else cands[0] / 10), cands[i]
        mid = math.sqrt(lo * (hi if np.isfinite(hi) else lo * 10))
        near = np.abs(np.log10(k / mid)) <= math.log10(NEAR)
        lk, lr = np.log10(k[near]), d["log2_c_over_nc"].to_numpy()[near]
        k0 = float("nan")
        if near.sum() >= 3:
            slope, icpt = np.polyfit(lk, lr, 1)
            if slope > 0:
                k0 = 10 ** (-icpt / slope)
        lines.append(
            f"{fam} ({col}): best threshold in {' or '.join(ivals)} "
            f"({best}/{len(d)} cells misclassified); a line of log2(C/NC) on log10({col}) "
            f"through the {int(near.sum())} cells within x{NEAR:g} of {mid:.3g} "
            f"crosses 0 at {k0:.3g}"
        )
    return lines


def table(df: pd.DataFrame) -> str:
    w = winners(df)
    c = cells(w)
    cols = [
        "family",
        "n",
        "sd",
        "kappa",
        "kappa_med",
        "ess_per_1k_steps_c",
        "ess_per_1k_steps_nc",
        "log2_c_over_nc",
        "winner",
        "c_wins",
        "ess_per_s_c",
        "ess_per_s_nc",
        "winner_s",
        "divergences_c",
        "divergences_nc",
        "rhat_max_c",
        "rhat_max_nc",
    ]
    short = {
        "ess_per_1k_steps_c": "C ess/1k",
        "ess_per_1k_steps_nc": "NC ess/1k",
        "log2_c_over_nc": "log2 C/NC",
        "winner": "win",
        "c_wins": "C won",
        "ess_per_s_c": "C ess/s",
        "ess_per_s_nc": "NC ess/s",
        "winner_s": "win/s",
        "divergences_c": "C div",
        "divergences_nc": "NC div",
        "rhat_max_c": "C rhat",
        "rhat_max_nc": "NC rhat",
    }
    t = c[cols].rename(columns=short)
    fmt = {
        "kappa": "{:.3g}",
        "kappa_med": "{:.3g}",
        "C ess/1k": "{:.1f}",
        "NC ess/1k": "{:.1f}",
        "log2 C/NC": "{:+.2f}",
        "C ess/s": "{:.0f}",
        "NC ess/s": "{:.0f}",
        "C div": "{:.0f}",
        "NC div": "{:.0f}",
        "C rhat": "{:.3f}",
        "NC rhat": "{:.3f}",
    }
    for c, f in fmt.items():
        t[c] = t[c].map(f.format)
    head = "| " + " | ".join(t.columns) + " |"
    sep = "|" + "|".join("---" for _ in t.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in t.itertuples(index=False)]
    seeds = sorted(w["seed"].unique())
    notes = [
        f"seeds {', '.join(map(str, seeds))}: ESS columns are geometric means over seeds, "
        "'log2 C/NC' the mean log2 ratio of ESS per 1000 leapfrog steps (win = its sign), "
        "'C won' the seeds centered won; div summed, rhat the max over seeds.",
        "Crossover over all (cell, seed) pairs:",
    ]
    return "\n".join([head, sep, *body, "", *notes, *crossover(w), *crossover(w, "kappa_med")])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", help="replicates, e.g. 1,2,3 (overrides --seed)")
    ap.add_argument("--groups", type=int, default=100)
    ap.add_argument("--families", default="bernoulli,poisson")
    ap.add_argument("--ns", default=",".join(map(str, NS)))
    ap.add_argument("--sds", default=",".join(map(str, SDS)))
    ap.add_argument("--quick", action="store_true", help="n in {2, 50}, sd = 1, 100 + 100 draws")
    ap.add_argument("--out", default="geometry.csv")
    ap.add_argument(
        "--table-only", metavar="CSV", nargs="+", help="print the table of existing CSVs"
    )
    a = ap.parse_args()
    if a.table_only:
        paths = [Path(p) for p in a.table_only]
        paths = [p if p.is_absolute() or p.exists() else HERE / "results" / p for p in paths]
        df = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
        print(table(df.dropna(subset=["ess_min"])))
        return
    if a.quick:
        a.draws = a.tune = 100
        a.ns, a.sds = "2,50", "1"
    out = Path(a.out)
    out = out if out.is_absolute() else HERE / "results" / out
    out.parent.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    families = [f.strip() for f in a.families.split(",")]
    ns = [int(v) for v in a.ns.split(",")]
    sds = [float(v) for v in a.sds.split(",")]
    seeds = [int(v) for v in a.seeds.split(",")] if a.seeds else [a.seed]
    print(
        f"# {a.chains} chains x {a.draws} draws + {a.tune} tune, {a.groups} groups, "
        f"seeds {seeds}, cores=1 -> {out}",
        flush=True,
    )
    rows = []
    for seed, fam, n, (i, sd) in itertools.product(seeds, families, ns, enumerate(sds)):
        a.seed = seed
        df, kappa, kappa_med = simulate(fam, n, sd, a.groups, seed * 1000 + 10 * n + i)
        for param in PARAMS:
            t0 = time.perf_counter()
            try:
                res = fit_cell(df, fam, param, a)
            except Exception as exc:  # a failed fit is a row, not the end of the run
                res = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            row = {
                "family": fam,
                "n": n,
                "sd": sd,
                "groups": a.groups,
                "rows": len(df),
                "kappa": kappa,
                "kappa_med": kappa_med,
                "param": param,
                "draws": a.draws,
                "tune": a.tune,
                "chains": a.chains,
                "seed": a.seed,
                **res,
                "wall_s": time.perf_counter() - t0,
            }
            rows.append(row)
            pd.DataFrame([row]).to_csv(
                out,
                mode="a",
                header=not out.exists() or out.stat().st_size == 0,
                index=False,
            )
            print(
                f"{fam:9s} n={n:<4d} sd={sd:<4g} kappa={kappa:<8.3g} {param:11s} "
                + (
                    f"ess_min={res['ess_min']:.0f} ({res['ess_min_of']}) "
                    f"ess/1k={res['ess_per_1k_steps']:.1f} steps/draw="
                    f"{res['mean_steps']:.1f} div={res['divergences']} "
                    f"rhat={res['rhat_max']:.3f} {row['wall_s']:.1f}s"
                    if "error" not in res
                    else res["error"]
                ),
                flush=True,
            )
    df = pd.DataFrame(rows)
    if "ess_min" in df:
        print()
        print(table(df.dropna(subset=["ess_min"])))


if __name__ == "__main__":
    main()
