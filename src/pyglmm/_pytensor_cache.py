"""A PyTensor compile cache that cannot be created or written never breaks a fit.

PyTensor creates ``compiledir`` (C modules) under ``base_compiledir`` the first time it is
needed, and raises ``ValueError("Unable to create the compiledir directory ...")`` out of the
first compile when it cannot (a read-only home, a path below a regular file); its numba cache,
``<base_compiledir>/numba``, is created when its module is imported, and fails the same way.
Both are checked once, on import of :mod:`pyglmm` (before PyTensor compiles anything): if
either is unusable, PyTensor is pointed at a fresh private directory in the temporary directory
(nothing is cached across processes then), with one warning.

The two settings cannot be changed once PyTensor has read them; a value that failed PyTensor's
check was never stored, and ``base_compiledir``'s check does not test writing, so the fallback
replaces only values PyTensor could not use. (A corrupted entry of the numba cache is handled
by :mod:`pyglmm._numba_cache`.)
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any


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


ensure_usable_compiledir()
