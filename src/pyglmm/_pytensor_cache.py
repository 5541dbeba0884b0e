"""A PyTensor compile cache that cannot be created or written never breaks a fit.

PyTensor creates ``compiledir`` (C modules) under ``base_compiledir`` the first time it is
needed, and raises ``ValueError("Unable to create the compiledir directory ...")`` out of the
first compile when it cannot (a read-only home, a path below a regular file); its numba cache,
``<base_compiledir>/numba``, is created when its module is imported, and fails the same way.
Both are checked once, on import of :mod:`pyglmm` (before PyTensor compiles anything): if
either is unusable, PyTensor is pointed at a fresh private directory in the temporary directory
(nothing is cached across processes then), with one warning.

A C module of the cache cut short (a full disk, a killed copy) would crash the process when
PyTensor loads it: ``dlopen`` maps the file and the first access past its end is a ``SIGBUS``,
which Python cannot catch. :func:`remove_truncated_modules` checks, on import, that every
``compiledir/*/*.so`` (but a compiled op's module without its ``key.pkl``, which PyTensor
writes once the module is linked: another process is still writing it) is as long as its ELF
header says (the section header table, which the linker writes last, ends at
``e_shoff + e_shnum * e_shentsize``) and removes the module's directory when it is not, so
PyTensor compiles it again (one warning).

The two settings cannot be changed once PyTensor has read them; a value that failed PyTensor's
check was never stored, and ``base_compiledir``'s check does not test writing, so the fallback
replaces only values PyTensor could not use. (A corrupted entry of the numba cache is handled
by :mod:`pyglmm._numba_cache`.)
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Literal


def _usable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _replace(config: Any, name: str, value: Path) -> None:
    """Set a PyTensor setting that is immutable once read, if it was not (or not validly)."""
    param = config._config_var_dict[name]
    if hasattr(param, "val"):  # read and accepted: only a refused value is replaced
        if Path(param.val) == value:
            return
        del param.val
    param.__set__(config, value)


def ensure_usable_compiledir() -> Path | None:
    """Check PyTensor's ``compiledir`` and ``<base_compiledir>/numba``; if either cannot be
    created or written, switch both to a private temporary directory (returned) and warn."""
    from pytensor import config

    try:
        base = Path(config.base_compiledir)
        compiledir = Path(config.compiledir)  # (PyTensor creates it here, or raises)
        numba_ready = "pytensor.link.numba.cache" in sys.modules  # (it created its directory)
        if _usable(compiledir) and (numba_ready or _usable(base / "numba")):
            return None
        reason = f"{base} is not writable"
    except (OSError, ValueError) as err:
        reason = str(err)
    private = Path(tempfile.mkdtemp(prefix="pyglmm-pytensor-"))
    try:
        _replace(config, "base_compiledir", private)
        _replace(config, "compiledir", private / "compiledir")
    except Exception as err:  # a PyTensor whose settings work otherwise: leave them alone
        warnings.warn(
            f"pyglmm: PyTensor's compile cache is unusable ({reason}) and could not be moved "
            f"({type(err).__name__}: {err}); set PYTENSOR_FLAGS=base_compiledir=<writable dir>",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    warnings.warn(
        f"pyglmm: PyTensor's compile cache is unusable ({reason}); compiling into {private} "
        "for this process (set PYTENSOR_FLAGS=base_compiledir=<writable dir> to keep a cache)",
        RuntimeWarning,
        stacklevel=2,
    )
    return private


def _elf_truncated(path: Path) -> bool:
    """Whether an ELF file is shorter than its header says (or has no readable header)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit ELF only
        return len(head) < 64
    order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
    shoff = int.from_bytes(head[0x28:0x30], order)
    shentsize = int.from_bytes(head[0x3A:0x3C], order)
    shnum = int.from_bytes(head[0x3C:0x3E], order)
    return size < shoff + shentsize * shnum


def remove_truncated_modules(compiledir: Path | None = None) -> list[Path]:
    """Remove the module directories of PyTensor's compiledir (or of ``compiledir``) whose
    cached ``.so`` is truncated (module docstring); returns them."""
    import shutil

    try:
        if compiledir is None:
            from pytensor import config

            compiledir = Path(config.compiledir)
        modules = list(compiledir.glob("*/*.so"))
    except (OSError, ValueError):
        return []
    removed = []
    for so in modules:
        # A compiled op's module (``tmp*``, PyTensor's ModuleCache) is loaded from the cache
        # only once its ``key.pkl`` is written, after linking: one without it is being written
        # by another process right now (removing it broke that compile with
        # ``FileNotFoundError``) or failed. The named modules (``lazylinker_ext``,
        # ``cutils_ext``) have no ``key.pkl`` and are always checked.
        in_progress = so.parent.name.startswith("tmp") and not (so.parent / "key.pkl").exists()
        if not in_progress and _elf_truncated(so):
            shutil.rmtree(so.parent, ignore_errors=True)
            removed.append(so.parent)
    if removed:
        warnings.warn(
            f"pyglmm: removed {len(removed)} truncated module(s) from PyTensor's compile cache "
            f"({compiledir}); they are compiled again",
            RuntimeWarning,
            stacklevel=2,
        )
    return removed


def exact_numba_math() -> None:
    """Compile PyTensor's numba code without ``fastmath`` unless the user chose otherwise
    (``PYTENSOR_FLAGS=numba__fastmath=...``): with it, LLVM may reassociate sums differently
    in a fresh compile and in code loaded from the cache, and the same seed gave different
    draws on PyTensor 3 depending on whether the cache was filled (measured on a Poisson GLMM:
    Days 0.032779 against 0.035135)."""
    import os

    if "numba__fastmath" in os.environ.get("PYTENSOR_FLAGS", ""):
        return
    from pytensor import config

    with contextlib.suppress(Exception):  # a PyTensor without the setting: nothing to do
        config.numba__fastmath = False


if ensure_usable_compiledir() is None:
    remove_truncated_modules()
exact_numba_math()
