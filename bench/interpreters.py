"""Driver side of the sampling benchmark: the interpreters the workers run under, and the plan.

* :class:`Interpreter`, :func:`probe` (each interpreter reports its own Python and package
  versions in a tiny subprocess) and :func:`resolve_interpreters` (``--pyglmm-python``,
  ``--peer-python``: paths, ``LABEL=PATH``, labels ``py<major>.<minor>``);
* :class:`Row` and :func:`plan_rows`: every (model, fitter, interpreter) fit of the run, in
  order, with its table label (``<fitter>@<label>`` when there are several pyglmm
  interpreters);
* :func:`resolve_reference`: the row label the ratio columns divide by (``--reference``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from workers import PYGLMM_FITTERS

# Asked of every interpreter the run uses (a tiny subprocess, so the versions are those the
# workers see, not the driver's): its Python and the versions of these packages.
VERSION_PACKAGES = ("pyglmm", "pymc", "pytensor", "arviz", "nutpie", "bambi", "numpy")
PROBE = """
import json, platform, sys
from importlib import metadata
out = {"python": platform.python_version(), "executable": sys.executable}
for pkg in sys.argv[1:]:
    try:
        out[pkg] = metadata.version(pkg)
    except metadata.PackageNotFoundError:
        out[pkg] = "not installed"
print(json.dumps(out))
"""


@dataclass
class Interpreter:
    """One Python interpreter the workers run under, and what it is used for."""

    label: str  # "py3.11" (or the LABEL of LABEL=PATH)
    path: str  # as given (absolute); not resolved, so a venv's python stays the venv's
    versions: dict[str, str]
    roles: list[str] = field(default_factory=list)  # "pyglmm", "peers"

    def describe(self) -> str:
        v = self.versions
        pkgs = ", ".join(f"{k} {v.get(k, '?')}" for k in VERSION_PACKAGES)
        return f"{self.path}: python {v.get('python', '?')}, {pkgs}"


def _split_interpreters(spec: str, option: str) -> list[tuple[str | None, str]]:
    """``PATH[,PATH...]`` where each PATH may be ``LABEL=PATH``."""
    out: list[tuple[str | None, str]] = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        label, sep, path = item.partition("=")
        if not sep:
            label, path = "", item
        label = label.strip()
        if label and not all(c.isalnum() or c in "._-" for c in label):
            sys.exit(f"{option}: label {label!r} may only hold letters, digits, '.', '_', '-'")
        path = os.path.expanduser(path.strip())
        if os.sep not in path:  # a command name such as python3.12: look it up on PATH
            path = shutil.which(path) or path
        out.append((label or None, os.path.abspath(path)))
    if not out:
        sys.exit(f"{option}: no interpreter given")
    return out


def probe(path: str, option: str) -> dict[str, str]:
    """Python and package versions of interpreter ``path``; exits with a message if it cannot
    be run."""
    if not os.path.exists(path):
        sys.exit(f"{option}: {path} does not exist")
    try:
        proc = subprocess.run(
            [path, "-c", PROBE, *VERSION_PACKAGES],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        sys.exit(f"{option}: cannot run {path}: {err}")
    if proc.returncode != 0:
        sys.exit(f"{option}: {path} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def resolve_interpreters(
    a: argparse.Namespace, need_pyglmm: bool, need_peers: bool
) -> tuple[list[Interpreter], Interpreter | None]:
    """The ``--pyglmm-python`` interpreters (in the order given) and the ``--peer-python``
    one, probed and labelled. A path given twice is one interpreter; an unlabelled one is
    ``py<major>.<minor>`` (``-2``, ``-3``... appended if two paths share a Python version)."""
    by_path: dict[str, Interpreter] = {}
    labels: set[str] = set()

    def get(label: str | None, path: str, option: str, role: str) -> Interpreter:
        interp = by_path.get(path)
        if interp is None:
            versions = probe(path, option)
            if label is None:
                base = "py" + ".".join(versions["python"].split(".")[:2])
                label, n = base, 1
                while label in labels:
                    n += 1
                    label = f"{base}-{n}"
            elif label in labels:
                sys.exit(f"{option}: label {label!r} is used twice")
            labels.add(label)
            interp = by_path[path] = Interpreter(label, path, versions)
        if role not in interp.roles:
            interp.roles.append(role)
        return interp

    pyglmm: list[Interpreter] = []
    if need_pyglmm:
        for label, path in _split_interpreters(a.pyglmm_python, "--pyglmm-python"):
            interp = get(label, path, "--pyglmm-python", "pyglmm")
            if interp not in pyglmm:
                pyglmm.append(interp)
            if interp.versions.get("pyglmm") == "not installed":
                print(f"warning: pyglmm is not installed in {path}", file=sys.stderr)
    peer = None
    if need_peers:
        peers = _split_interpreters(a.peer_python, "--peer-python")
        if len(peers) > 1:
            sys.exit("--peer-python takes one interpreter")
        peer = get(*peers[0], "--peer-python", "peers")
        if peer.versions.get("bambi") == "not installed" and any(
            f.startswith("bambi") for f in a.fitter_list
        ):
            print(f"warning: bambi is not installed in {peer.path}", file=sys.stderr)
    return pyglmm, peer


@dataclass
class Row:
    """One (model, fitter, interpreter) fit of the run."""

    model: str
    fitter: str  # the fitter the worker runs (FITTERS)
    label: str  # the table's fitter column: fitter, or fitter@interpreter
    interp: Interpreter


def plan_rows(
    models: list[str],
    fitters: list[str],
    pyglmm: list[Interpreter],
    peer: Interpreter | None,
    a: argparse.Namespace,
) -> list[Row]:
    """Every fit in run order. pyglmm fitters run once per ``--pyglmm-python`` interpreter and
    are labelled ``<fitter>@<interpreter>`` when there are several; peers run under
    ``--peer-python`` and keep their plain names."""
    from data import MODELS

    rows = []
    for m in models:
        for f in fitters:
            if f in PYGLMM_FITTERS:
                for interp in pyglmm:
                    label = f if len(pyglmm) == 1 else f"{f}@{interp.label}"
                    rows.append(Row(m, f, label, interp))
            elif not MODELS[m].big or a.big_peers:
                assert peer is not None
                rows.append(Row(m, f, f, peer))
    return rows


def resolve_reference(ref: str, rows: list[Row], pyglmm: list[Interpreter]) -> str:
    """The fitter label the ratio columns divide by. ``--reference`` is a row label
    (``pyglmm-auto@py3.12``) or a fitter name; a pyglmm fitter name means that fitter on the
    first ``--pyglmm-python`` interpreter."""
    labels = {r.label for r in rows}
    if ref in labels:
        return ref
    if ref in PYGLMM_FITTERS and pyglmm:
        label = f"{ref}@{pyglmm[0].label}"
        if label in labels:
            return label
    print(
        f"warning: --reference {ref!r} is not among this run's fitters "
        f"({', '.join(sorted(labels))}): the ratio columns stay empty",
        file=sys.stderr,
    )
    return ref
