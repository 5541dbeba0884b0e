"""numba's on-disk cache for pyglmm's compiled-once kernels, invalidated by a change to any of
their source files.

numba keys a cached function on the stamp (mtime, size) of the one file that defines it, so
after an edit to a callee in another file (``kernel/logp.py`` under ``kernel/ccall.py``'s C
callback, ``kernel/densities.py`` or ``marginal.py`` under ``logp_grad``) it would load stale
machine code. The locators below are numba's own (``NUMBA_CACHE_DIR``, ``__pycache__`` beside
the source, the user-wide cache) with one stamp for all of :data:`SOURCES`, and a last one in the
temporary directory, so that a machine where none of numba's is writable still caches (numba
would refuse to define the functions at all). Registered on import of :mod:`pyglmm`, before any
kernel is defined.

A cache file that cannot be read (truncated, corrupted, written by another numba) or written
(read-only) never breaks a fit: for the kernel's functions, loading falls back to compiling
(with a warning, once per function) and rewrites the index; a failed save only warns.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from numba.core import caching

_ROOT = Path(__file__).resolve().parent
SOURCES = tuple(str(p) for p in sorted([*(_ROOT / "kernel").glob("*.py"), _ROOT / "marginal.py"]))


def source_stamp() -> tuple[tuple[str, float, int], ...]:
    """(name, mtime, size) of every kernel source file."""
    stats = ((Path(f).name, os.stat(f)) for f in SOURCES)
    return tuple((name, st.st_mtime, st.st_size) for name, st in stats)


class _StampAllSources:
    """Mixin for a numba locator: applies to the kernel sources only, stamped by all of them."""

    def get_source_stamp(self) -> Any:
        return source_stamp()

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if os.path.realpath(py_file) not in SOURCES:
            return None
        return super().from_function(py_func, py_file)  # type: ignore[misc]


class UserProvidedLocator(_StampAllSources, caching.UserProvidedCacheLocator):
    pass


class InTreeLocator(_StampAllSources, caching.InTreeCacheLocator):
    pass


class UserWideLocator(_StampAllSources, caching.UserWideCacheLocator):
    pass


class TempDirLocator(_StampAllSources, caching.UserProvidedCacheLocator):
    """The last resort: ``<tempdir>/pyglmm-numba-<uid>``."""

    def __init__(self, py_func: Any, py_file: str) -> None:
        super().__init__(py_func, py_file)
        root = (
            Path(tempfile.gettempdir())
            / f"pyglmm-numba-{os.getuid() if hasattr(os, 'getuid') else 0}"
        )
        self._cache_path = str(root / self.get_suitable_cache_subpath(py_file))

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if os.path.realpath(py_file) not in SOURCES:
            return None
        locator = cls(py_func, py_file)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


LOCATORS = (UserProvidedLocator, InTreeLocator, UserWideLocator, TempDirLocator)


def _is_kernel(cache: Any) -> bool:
    code = getattr(getattr(cache, "_py_func", None), "__code__", None)
    return code is not None and os.path.realpath(code.co_filename) in SOURCES


_load_overload = caching.Cache.load_overload
_save_overload = caching.Cache.save_overload


def _robust_load(self: Any, sig: Any, target_context: Any) -> Any:
    """numba's load; for a kernel function an unreadable cache entry means: compile afresh."""
    try:
        return _load_overload(self, sig, target_context)
    except Exception as err:
        if not _is_kernel(self):
            raise
        warnings.warn(
            f"pyglmm: the numba cache of {self._name} is unreadable ({type(err).__name__}); "
            "compiling it again and rewriting the cache",
            RuntimeWarning,
            stacklevel=2,
        )
        with contextlib.suppress(Exception):  # (an unwritable cache: the save then warns)
            self._cache_file.flush()  # an empty index in place of the unreadable one
        return None


def _robust_save(self: Any, sig: Any, data: Any) -> None:
    """numba's save; for a kernel function a cache that cannot be written only warns."""
    try:
        _save_overload(self, sig, data)
    except Exception as err:
        if not _is_kernel(self):
            raise
        warnings.warn(
            f"pyglmm: cannot write the numba cache of {self._name} ({type(err).__name__}: "
            f"{err}); it is compiled again in the next process",
            RuntimeWarning,
            stacklevel=2,
        )


def register() -> None:
    """Put :data:`LOCATORS` first in numba's list (once)."""
    # numba >= 0.61 names it CacheImpl (typed from 0.68 on), older ones _CacheImpl
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # type: ignore[attr-defined]
    classes = impl._locator_classes
    if classes[: len(LOCATORS)] != list(LOCATORS):
        classes[:0] = LOCATORS
    caching.Cache.load_overload = _robust_load  # type: ignore[method-assign]
    caching.Cache.save_overload = _robust_save  # type: ignore[method-assign]


register()
