"""numba's on-disk cache for pyglmm's compiled-once kernels, invalidated by a change to any of
their source files.

numba keys a cached function on the stamp (mtime, size) of the one file that defines it, so
after an edit to a callee in another file (``kernel/logp.py`` under ``kernel/ccall.py``'s C
callback, ``kernel/densities.py`` or ``marginal.py`` under ``logp_grad``) it would load stale
machine code. The locators below are numba's own (``NUMBA_CACHE_DIR``, ``__pycache__`` beside
the source, the user-wide cache) with one stamp for all of :data:`SOURCES`. Registered on
import of :mod:`pyglmm`, before any kernel is defined.
"""

from __future__ import annotations

import os
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


LOCATORS = (UserProvidedLocator, InTreeLocator, UserWideLocator)


def register() -> None:
    """Put :data:`LOCATORS` first in numba's list (once)."""
    # numba >= 0.61 names it CacheImpl (typed from 0.68 on), older ones _CacheImpl
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # type: ignore[attr-defined]
    classes = impl._locator_classes
    if classes[: len(LOCATORS)] != list(LOCATORS):
        classes[:0] = LOCATORS


register()
