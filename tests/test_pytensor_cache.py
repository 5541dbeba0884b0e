"""PyTensor's compile cache never breaks a fit (#14).

PyTensor keeps the functions it generates with numba (the nutpie path; on PyTensor 3 also
PyMC's own NUTS) in ``<base_compiledir>/numba``, read by numba's loader, which lets any
unreadable file raise out of the compile: one truncated entry broke every fit of a model using
it, on both stacks. :mod:`pyglmm._numba_cache` compiles such entries again (one warning per
process) and rewrites them. Each step runs in a fresh process with its own
``PYTENSOR_FLAGS=base_compiledir=...``; the model is a Poisson GLMM fitted through its PyMC
model (``kernel=False``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIT = textwrap.dedent(
    """
    import hashlib, json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import numpy as np
        import pyglmm as pg
        sleep = pg.datasets.load("sleepstudy")
        counts = sleep.assign(n=np.round(sleep["Reaction"] / 10).astype(int))
        fit = pg.Model("n ~ Days + (1 | Subject)", counts, family="poisson").fit(
            kernel=False, draws=50, tune=50, chains=1, seed=3, progressbar=False, warn=False
        )
    h = hashlib.sha256()
    for var in sorted(fit.posterior.data_vars):
        h.update(var.encode())
        h.update(np.ascontiguousarray(fit.posterior[var].values).tobytes())
    notes = [str(w.message) for w in caught if str(w.message).startswith("pyglmm:")]
    print(json.dumps({"digest": h.hexdigest(), "warnings": notes}))
    """
)


def _env(base: Path) -> dict[str, str]:
    return {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={base}"}


def _parse(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def _fit(base: Path) -> dict:
    res = subprocess.run(
        [sys.executable, "-c", FIT], capture_output=True, text=True, env=_env(base), timeout=900
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return _parse(res.stdout)


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
def filled(tmp_path_factory) -> tuple[Path, dict]:
    """A base_compiledir filled by one fit, and that fit's output."""
    base = tmp_path_factory.mktemp("pytensor") / "base"
    out = _fit(base)
    assert list((base / "numba").glob("*.nbi")), "PyTensor wrote no numba cache"
    return base, out


@pytest.mark.slow
def test_a_corrupted_pytensor_numba_cache_is_rebuilt(filled, tmp_path):
    """The cache's files truncated, byte-flipped and emptied in turn (one process sees all
    three kinds: each fit costs a PyMC compile)."""
    source, first = filled
    base = tmp_path / "base"
    shutil.copytree(source, base)
    files = sorted((base / "numba").glob("*.nb[ci]"))
    kinds = (_truncate, _flip, _empty)
    assert len(files) >= 3
    for k, f in enumerate(files):
        kinds[k % 3](f)
    second = _fit(base)
    assert second["digest"] == first["digest"]  # compiled again, as in the first process
    assert len(second["warnings"]) == 1, second["warnings"]
    assert "unreadable" in second["warnings"][0]
    third = _fit(base)  # the rewritten cache loads cleanly, and gives the same draws as a
    assert third["warnings"] == []  # fresh compile (no fastmath: pyglmm._pytensor_cache)
    assert third["digest"] == first["digest"]


@pytest.mark.slow
def test_two_processes_compiling_into_one_fresh_compiledir(tmp_path):
    """Both compile the same model into the same empty base_compiledir at once: both fit,
    cleanly, with the same draws."""
    base = tmp_path / "base"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FIT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(base),
        )
        for _ in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
        outs.append(_parse(out))
    assert outs[0] == outs[1]
    assert outs[0]["warnings"] == []


@pytest.mark.slow
def test_an_uncreatable_compiledir_falls_back_to_a_private_one(tmp_path):
    """base_compiledir below a regular file: PyTensor raised out of the first compile; now
    pyglmm moves it to a private temporary directory, with one warning."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = _fit(blocker / "pytensor")
    assert len(out["warnings"]) == 1, out["warnings"]
    assert "compile cache is unusable" in out["warnings"][0]


def test_a_truncated_elf_module_is_recognised(tmp_path):
    """The check behind removing truncated C modules: a real shared library is whole; cut to
    a third, or to a few bytes, it is truncated; a file that is not ELF is left alone."""
    import numpy as npcore

    from pyglmm._pytensor_cache import _elf_truncated

    lib = next(Path(npcore.__file__).parent.rglob("_multiarray_umath*.so"), None)
    whole = tmp_path / "whole.so"
    shutil.copyfile(lib, whole)
    assert not _elf_truncated(whole)
    cut = tmp_path / "cut.so"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    assert _elf_truncated(cut)
    tiny = tmp_path / "tiny.so"
    tiny.write_bytes(b"\x7fELF")
    assert _elf_truncated(tiny)
    other = tmp_path / "other.so"
    other.write_bytes(b"not an ELF file at all, but long enough to have a header" * 2)
    assert not _elf_truncated(other)


def test_only_cached_truncated_modules_are_removed(tmp_path):
    """A truncated ``.so`` of a compiled op whose directory has PyTensor's ``key.pkl`` is a
    broken cache entry and is removed, as is a truncated named extension (``lazylinker_ext``);
    an op's module without ``key.pkl`` is another process's compile in progress (the linker
    still writing it) and is left alone: removing it broke that compile."""
    import numpy as npcore

    from pyglmm._pytensor_cache import remove_truncated_modules

    lib = next(Path(npcore.__file__).parent.rglob("_multiarray_umath*.so"), None)
    cut = lib.read_bytes()[: lib.stat().st_size // 3]
    cached, in_progress = tmp_path / "tmpcached", tmp_path / "tmpbusy"
    named = tmp_path / "lazylinker_ext"  # PyTensor's own extension: no key.pkl, always checked
    for d in (cached, in_progress, named):
        d.mkdir()
        (d / "lib.so").write_bytes(cut)
    (cached / "key.pkl").write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="removed 2 truncated module"):
        removed = remove_truncated_modules(tmp_path)
    assert sorted(removed) == sorted([cached, named])
    assert not cached.exists() and not named.exists() and (in_progress / "lib.so").exists()


SO_FIT = textwrap.dedent(
    """
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import pyglmm as pg
        fit = pg.Model("Reaction ~ Days + (1 | Subject)", pg.datasets.load("sleepstudy")).fit(
            draws=30, tune=30, chains=1, seed=1, sampler="pymc", progressbar=False, warn=False
        )
    print(sum("truncated module" in str(w.message) for w in caught))
    print(round(float(fit.fixef().loc["Days", "Estimate"]), 8))
    """
)


@pytest.mark.slow
def test_truncated_c_modules_are_compiled_again(tmp_path):
    """Before: PyMC's own NUTS on PyTensor 2 died with SIGBUS (exit 135) loading a truncated
    ``.so`` of the C cache; now the module is removed on import and compiled again."""
    base = tmp_path / "base"

    def run() -> list[str]:
        res = subprocess.run(
            [sys.executable, "-c", SO_FIT],
            capture_output=True,
            text=True,
            env=_env(base),
            timeout=900,
        )
        assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
        return res.stdout.split()

    first = run()
    modules = list(base.rglob("*.so"))
    if not modules:
        pytest.skip("this PyTensor wrote no C modules")
    for so in modules:
        so.write_bytes(so.read_bytes()[: so.stat().st_size // 3])
    second = run()
    assert int(second[0]) == 1 and second[1] == first[1]
