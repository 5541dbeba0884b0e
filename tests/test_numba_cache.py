"""A corrupted, truncated or read-only numba cache never breaks a fit (#14): the kernel's
functions are compiled again, with a warning, and the cache is rewritten; a read-only filled
cache is loaded; with no writable directory at all the cache is bypassed with one warning.
Each step runs in a fresh process with its own ``NUMBA_CACHE_DIR``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
from readonly_mount import read_only_command, require_read_only_mounts

import pyglmm

FIT = textwrap.dedent(
    """
    import warnings
    import pyglmm as pg
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = pg.Model("Reaction ~ Days + (Days | Subject)", pg.datasets.load("sleepstudy")).fit(
            draws=50, tune=50, chains=1, seed=1, progressbar=False, warn=False
        )
    print("unreadable" if any("unreadable" in str(w.message) for w in caught) else "clean")
    print(round(float(fit.fixef().loc["Days", "Estimate"]), 6))
    """
)


def _fit(cache: Path) -> list[str]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    res = subprocess.run(
        [sys.executable, "-c", FIT], capture_output=True, text=True, env=env, timeout=900
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.split()


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 3)])


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    for k in range(8, len(data), 97):
        data[k] ^= 0xFF
    p.write_bytes(bytes(data))


def _empty(p: Path) -> None:
    p.write_bytes(b"")


@pytest.fixture(scope="module")
def filled_cache(tmp_path_factory) -> tuple[Path, list[str]]:
    """A cache filled by one fit (compiled once for this module; tests corrupt copies of it)
    and that fit's output."""
    cache = tmp_path_factory.mktemp("filled") / "numba"
    return cache, _fit(cache)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("which", "corrupt"),
    [("nbc", _truncate), ("nbi", _flip), ("nbc", _empty)],
    ids=["data-truncated", "index-flipped", "data-empty"],
)
def test_a_corrupted_kernel_cache_is_rebuilt(tmp_path, filled_cache, which, corrupt):
    cache = tmp_path / "numba"
    shutil.copytree(filled_cache[0], cache)  # a copy of a cache one fit filled
    first = filled_cache[1]
    files = sorted(cache.rglob(f"*.{which}"))
    assert files, f"no .{which} files in {cache}"
    for f in files:
        corrupt(f)
    second = _fit(cache)
    assert second[1] == first[1]  # the same draws
    third = _fit(cache)  # the rewritten cache loads cleanly
    assert third == ["clean", first[1]]


@pytest.mark.slow
def test_two_processes_filling_one_cache_at_once(tmp_path):
    """Both compile into the same empty cache at the same time; both fit, with the same draws,
    and a third process loads what they wrote."""
    cache = tmp_path / "numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FIT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
        outs.append(out.split())
    assert outs[0][1] == outs[1][1]
    assert _fit(cache) == ["clean", outs[0][1]]


# the fit of FIT, printing every warning pyglmm's cache code gave (from the import on)
FIT_JSON = textwrap.dedent(
    """
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:  # (some kernels compile on import)
        warnings.simplefilter("always")
        import pyglmm as pg
        fit = pg.Model("Reaction ~ Days + (Days | Subject)", pg.datasets.load("sleepstudy")).fit(
            draws=50, tune=50, chains=1, seed=1, progressbar=False, warn=False
        )
    days = round(float(fit.fixef().loc["Days", "Estimate"]), 6)
    notes = [str(w.message) for w in caught if str(w.message).startswith("pyglmm:")]
    print(json.dumps({"days": days, "warnings": notes}))
    """
)


def _fit_json(env: dict[str, str], prefix=None, cwd=None) -> dict:
    argv = [sys.executable, "-c", FIT_JSON]
    res = subprocess.run(
        argv if prefix is None else prefix(argv),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def _nothing_writable(tmp_path: Path, cache: Path, hide_in_tree: bool):
    """(env, wrap) for a process in which none of numba's cache locations can be written:
    ``cache`` (NUMBA_CACHE_DIR), the package's own ``__pycache__`` (hidden behind an empty
    read-only mount when ``hide_in_tree``, else only read-only), the user cache (a regular file
    where ``numba/`` would go) and every temporary directory; the user cache directory of the
    other libraries (matplotlib, ArviZ) stays writable."""
    pkg = Path(pyglmm.__file__).resolve().parent
    scratch = tmp_path / "xdg"
    scratch.mkdir()
    temps = {tempfile.gettempdir(), "/tmp", "/var/tmp"}
    ro = [cache, pkg, *sorted(t for t in temps if os.path.isdir(t))]
    hidden = [d for d in (pkg / "__pycache__", pkg / "kernel" / "__pycache__") if d.is_dir()]
    env = {
        "NUMBA_CACHE_DIR": str(cache),
        "XDG_CACHE_HOME": str(scratch),
        "TMPDIR": str(cache),
        # the process runs in `cache` (the last candidate of tempfile): this pyglmm, not the one
        # a relative PYTHONPATH would miss from there
        "PYTHONPATH": os.pathsep.join([str(pkg.parent), os.environ.get("PYTHONPATH", "")]),
    }

    def wrap(argv):
        return read_only_command(
            argv,
            ro,
            tmpfs=[scratch],
            files=[scratch / "numba"],
            hidden=hidden if hide_in_tree else (),
        )

    return env, wrap


@pytest.mark.slow
def test_an_uncreatable_cache_dir_is_bypassed(tmp_path):
    """NUMBA_CACHE_DIR below a regular file: numba's next location is used, without a word."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = _fit_json({"NUMBA_CACHE_DIR": str(blocker / "numba")})
    assert out["warnings"] == []
    assert 5 < out["days"] < 15


@pytest.mark.slow
def test_no_writable_cache_directory_at_all(tmp_path):
    """Nowhere to cache: ``import pyglmm`` and the fit still work, with one warning."""
    require_read_only_mounts()
    cache = tmp_path / "numba"
    cache.mkdir()
    env, wrap = _nothing_writable(tmp_path, cache, hide_in_tree=True)
    out = _fit_json(env, wrap, cwd=cache)
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "no writable directory for numba's cache" in out["warnings"][0]
    assert 5 < out["days"] < 15


@pytest.mark.slow
def test_a_filled_cache_made_read_only_still_loads(tmp_path, filled_cache):
    """A cache filled by one process and then mounted read-only (nothing else writable either)
    is loaded by the next: no compilation, so no warning about saving, and the same draws."""
    require_read_only_mounts()
    cache = tmp_path / "numba"
    shutil.copytree(filled_cache[0], cache)
    assert list(cache.rglob("*.nbi"))
    env, wrap = _nothing_writable(tmp_path, cache, hide_in_tree=True)
    second = _fit_json(env, wrap, cwd=cache)
    assert second == {"days": float(filled_cache[1][1]), "warnings": []}
