"""numba's on-disk cache for pyglmm's compiled-once kernels, invalidated by a change to any of
their source files.

numba keys a cached function on the stamp (mtime, size) of the one file that defines it, so
after an edit to a callee in another file (``kernel/logp.py`` under ``kernel/ccall.py``'s C
callback, ``kernel/densities.py`` or ``marginal.py`` under ``logp_grad``) it would load stale
machine code. The locators below are numba's own (``NUMBA_CACHE_DIR``, ``__pycache__`` beside
the source, the user-wide cache) with one stamp for all of :data:`SOURCES`, then one in the
temporary directory, so that a machine where none of numba's is writable still caches, and a
last one that caches nowhere: numba raises (and ``import pyglmm`` would fail) when no locator
fits, and a machine may have no writable directory at all (a read-only container).

numba takes a cache directory only if it can write there, so a filled cache mounted read-only
(a container image, a shared site cache) would be skipped and every process would compile
again; here such a directory is still used when it holds an up-to-date index for the function
(loads work; saving a new signature only warns).

A cache file that cannot be read (truncated, corrupted, written by another numba) or written
(read-only) never breaks a fit: for the kernel's functions, loading falls back to compiling
(with a warning, once per function) and rewrites the index; a failed save only warns. The same
holds for the functions PyTensor compiles with numba into its own cache directory (with one
warning per process: they are many).
Registered on import of :mod:`pyglmm`, before any kernel is defined.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import pickle
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numba
from numba.core import caching

_ROOT = Path(__file__).resolve().parent
SOURCES = tuple(str(p) for p in sorted([*(_ROOT / "kernel").glob("*.py"), _ROOT / "marginal.py"]))


def source_stamp() -> tuple[tuple[str, float, int], ...]:
    """(name, mtime, size) of every kernel source file."""
    stats = ((Path(f).name, os.stat(f)) for f in SOURCES)
    return tuple((name, st.st_mtime, st.st_size) for name, st in stats)


def has_fresh_index(cache_path: str, py_func: Any) -> bool:
    """Whether ``cache_path`` holds an index of ``py_func`` that this numba would load: written by
    the same numba version, for this Python, stamped with today's :func:`source_stamp`.

    The name is numba's ``<module>.<qualname>-<line>.py<major><minor><abiflags>.nbi`` (with a
    prefix for ``cfunc``); the index is a pickled version followed by a pickled
    ``(stamp, overloads)``, as numba's ``IndexDataCacheFile`` writes it.
    """
    modname = Path(py_func.__code__.co_filename).stem
    qualname = py_func.__qualname__.replace("<", "").replace(">", "")
    major, minor = sys.version_info[:2]
    name = f"{modname}.{qualname}-{py_func.__code__.co_firstlineno}.py{major}{minor}"
    pattern = f"*{name}{getattr(sys, 'abiflags', '')}.nbi"
    try:
        entries = [e.path for e in os.scandir(cache_path) if fnmatch.fnmatchcase(e.name, pattern)]
        for path in entries:
            with open(path, "rb") as f:
                if pickle.load(f) != numba.__version__:
                    continue
                stamp = pickle.loads(f.read())[0]
            if stamp == source_stamp():
                return True
    except Exception:  # missing, unreadable or corrupted: not a cache to read from
        return False
    return False


class _StampAllSources:
    """Mixin for a numba locator: applies to the kernel sources only, stamped by all of them;
    a directory numba refuses because it cannot write there is still taken when it holds an
    up-to-date index of the function (see :func:`has_fresh_index`)."""

    def get_source_stamp(self) -> Any:
        return source_stamp()

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if os.path.realpath(py_file) not in SOURCES:
            return None
        locator = super().from_function(py_func, py_file)  # type: ignore[misc]
        unset = cls is UserProvidedLocator and not getattr(numba.config, "CACHE_DIR", "")
        if locator is not None or unset:
            return locator
        try:
            read_only: Any = cls(py_func, py_file)  # type: ignore[call-arg]
        except Exception:
            return None
        return read_only if has_fresh_index(read_only.get_cache_path(), py_func) else None


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
        # (gettempdir raises FileNotFoundError when no candidate directory is writable)
        root = (
            Path(tempfile.gettempdir())
            / f"pyglmm-numba-{os.getuid() if hasattr(os, 'getuid') else 0}"
        )
        self._cache_path = str(root / self.get_suitable_cache_subpath(py_file))

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if os.path.realpath(py_file) not in SOURCES:
            return None
        try:
            locator = cls(py_func, py_file)
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


class NoCacheLocator(_StampAllSources, caching.UserProvidedCacheLocator):
    """The very last: no directory at all. Loads find nothing and saves are skipped (see
    :func:`_robust_load` / :func:`_robust_save`), with one warning per process."""

    def __init__(self, py_func: Any, py_file: str) -> None:
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(os.devnull, "pyglmm-numba")  # never a directory

    @classmethod
    def from_function(cls, py_func: Any, py_file: str) -> Any:
        if os.path.realpath(py_file) not in SOURCES:
            return None
        return cls(py_func, py_file)


LOCATORS = (UserProvidedLocator, InTreeLocator, UserWideLocator, TempDirLocator, NoCacheLocator)

_warned_no_cache = False


def _uncached(cache: Any) -> bool:
    """Whether ``cache`` belongs to :class:`NoCacheLocator`; warns the first time."""
    global _warned_no_cache
    if not isinstance(getattr(getattr(cache, "_impl", None), "locator", None), NoCacheLocator):
        return False
    if not _warned_no_cache:
        _warned_no_cache = True
        warnings.warn(
            "pyglmm: no writable directory for numba's cache (NUMBA_CACHE_DIR, __pycache__ "
            "beside the sources, the user cache, the temporary directory); the kernel is "
            "compiled in every process. Set NUMBA_CACHE_DIR to a writable directory.",
            RuntimeWarning,
            stacklevel=3,
        )
    return True


def _is_kernel(cache: Any) -> bool:
    code = getattr(getattr(cache, "_py_func", None), "__code__", None)
    return code is not None and os.path.realpath(code.co_filename) in SOURCES


def _is_pytensor(cache: Any) -> bool:
    """Whether ``cache`` is PyTensor's numba cache (``<base_compiledir>/numba``): the functions
    PyTensor generates for a model's graph (the nutpie path; on PyTensor 3 also PyMC's own
    NUTS). numba's loader lets any unreadable file there raise out of the compile, so a single
    truncated entry would break every fit of a model that uses it."""
    locator = getattr(getattr(cache, "_impl", None), "locator", None)
    return type(locator).__module__.startswith("pytensor.")


_warned_pytensor: set[str] = set()  # "load"/"save": PyTensor's functions are many, warn once


def _warn(cache: Any, what: str, message: str) -> None:
    if _is_kernel(cache):
        warnings.warn(f"pyglmm: {message.format(name=cache._name)}", RuntimeWarning, stacklevel=3)
    elif what not in _warned_pytensor:
        _warned_pytensor.add(what)
        where = f"PyTensor's compiled functions ({cache._cache_path})"
        warnings.warn(f"pyglmm: {message.format(name=where)}", RuntimeWarning, stacklevel=3)


_load_overload = caching.Cache.load_overload
_save_overload = caching.Cache.save_overload


def _robust_load(self: Any, sig: Any, target_context: Any) -> Any:
    """numba's load; for a kernel or PyTensor function an unreadable cache entry means: compile
    afresh (and rewrite the entry)."""
    if _uncached(self):
        target_context.refresh()  # (as numba's load does first)
        return None
    try:
        return _load_overload(self, sig, target_context)
    except Exception as err:
        if not (_is_kernel(self) or _is_pytensor(self)):
            raise
        _warn(
            self,
            "load",
            f"the numba cache of {{name}} is unreadable ({type(err).__name__}); "
            "compiling again and rewriting the cache",
        )
        with contextlib.suppress(Exception):  # (an unwritable cache: the save then warns)
            self._cache_file.flush()  # an empty index in place of the unreadable one
        return None


def _robust_save(self: Any, sig: Any, data: Any) -> None:
    """numba's save; for a kernel or PyTensor function a cache that cannot be written only
    warns."""
    if _uncached(self):
        return
    try:
        _save_overload(self, sig, data)
    except Exception as err:
        if not (_is_kernel(self) or _is_pytensor(self)):
            raise
        _warn(
            self,
            "save",
            f"cannot write the numba cache of {{name}} ({type(err).__name__}: {err}); "
            "it is compiled again in the next process",
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
