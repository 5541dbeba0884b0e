"""A corrupted or truncated numba cache never breaks a fit (#14): the kernel's functions are
compiled again, with a warning, and the cache is rewritten. Each step runs in a fresh process
with its own ``NUMBA_CACHE_DIR``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("which", "corrupt"),
    [("nbc", _truncate), ("nbi", _flip), ("nbc", _empty)],
    ids=["data-truncated", "index-flipped", "data-empty"],
)
def test_a_corrupted_kernel_cache_is_rebuilt(tmp_path, which, corrupt):
    cache = tmp_path / "numba"
    first = _fit(cache)  # compiles and fills the cache
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
