"""Scale in bounded memory (issue #14): a large gaussian ``y ~ x1 + x2 + (1 + x1 | g)`` built,
sampled (the compiled-once kernel: the block with most levels integrated out) and fitted by
REML, with wall time, rows per second and the peak resident memory of each step.

    python bench/scale.py                         # 20,000,000 rows x 200,000 groups
    python bench/scale.py --groups 20000 --per-group 50 --draws 200

Each step runs in its own subprocess, so each peak RSS is that step's alone (the data set is
simulated inside each). Prints a markdown table and writes it to ``bench/results/scale.md``
(or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

STEP = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, {here!r})
from data import simulate
import pyglmm as pg

warnings.simplefilter("ignore")
groups, per, draws, step = {groups}, {per}, {draws}, {step!r}
t0 = time.perf_counter()
df = simulate(groups, per)
t_sim = time.perf_counter() - t0
t0 = time.perf_counter()
model = pg.Model("y ~ x1 + x2 + (1 + x1 | g)", df)
t_build = time.perf_counter() - t0
t0 = time.perf_counter()
if step == "fit":
    fit = model.fit(draws=draws, tune=draws, chains=2, seed=1, progressbar=False, warn=False,
                    log_likelihood=False)
    est = fit.fixef()["Estimate"].round(4).tolist()
    extra = {{"parameterization": dict(fit.parameterization), "max_rhat":
              float(fit.summary()["Rhat"].max())}}
else:
    res = model.optimize()
    est = [round(float(b), 4) for b in res.beta]
    extra = {{}}
t_step = time.perf_counter() - t0
peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({{"rows": len(df), "simulate_s": t_sim, "build_s": t_build, "step_s": t_step,
                  "peak_gb": peak_gb, "fixef": est, **extra}}))
"""


def run(step: str, groups: int, per: int, draws: int) -> dict:
    code = STEP.format(here=str(HERE), groups=groups, per=per, draws=draws, step=step)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": res.stderr[-1500:]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=200_000)
    ap.add_argument("--per-group", type=int, default=100)
    ap.add_argument("--draws", type=int, default=500, help="draws = tune per chain (2 chains)")
    ap.add_argument("--out", default=str(HERE / "results" / "scale.md"))
    a = ap.parse_args()
    rows = []
    for step in ("fit", "optimize"):
        t0 = time.perf_counter()
        out = run(step, a.groups, a.per_group, a.draws)
        out["wall_s"] = time.perf_counter() - t0
        rows.append((step, out))
        print(step, json.dumps(out), flush=True)
    lines = [
        f"# scale: y ~ x1 + x2 + (1 + x1 | g), {a.groups * a.per_group:,} rows x "
        f"{a.groups:,} groups",
        "",
        f"python {sys.version.split()[0]}; fit: 2 chains x {a.draws} + {a.draws} (kernel); "
        "each step in its own process (peak GB is that process's maximum resident size)",
        "",
        "| step | rows | build s | step s | rows/s (step) | peak GB | fixed effects | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for step, out in rows:
        if "error" in out:
            lines.append(f"| {step} | | | | | | | error: {out['error'][-200:]!r} |")
            continue
        note = ", ".join(
            f"{k}={v}" for k, v in out.items() if k in ("parameterization", "max_rhat")
        )
        lines.append(
            f"| {step} | {out['rows']:,} | {out['build_s']:.1f} | {out['step_s']:.1f} | "
            f"{out['rows'] / out['step_s']:,.0f} | {out['peak_gb']:.2f} | {out['fixef']} | {note} |"
        )
    text = "\n".join(lines) + "\n"
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
