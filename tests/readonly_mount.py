"""Run a command with some directories truly read-only (#14).

Tests run as root in CI containers, where file modes do not stop writes, and a compiler
spawned by PyTensor would not see a Python-level patch; so the command runs in a private mount
namespace (``unshare --mount``) in which the given directories are bind-mounted read-only and
others get a fresh, empty tmpfs. Nothing outside that one process tree sees the mounts, and
they vanish with it. Where namespaces are not allowed, :func:`require_read_only_mounts` skips.
"""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest


def read_only_command(
    argv: Sequence[str],
    read_only: Sequence[str | Path],
    tmpfs: Sequence[str | Path] = (),
    files: Sequence[str | Path] = (),
    hidden: Sequence[str | Path] = (),
) -> list[str]:
    """``argv`` with ``read_only`` mounted read-only, an empty writable tmpfs on each of
    ``tmpfs`` and an empty read-only one on each of ``hidden`` (both after the read-only ones,
    so they can lie inside them), and an empty regular file at each of ``files`` (created last,
    e.g. inside a tmpfs). Exit status 97/98 = a mount failed."""
    lines = []
    for p in map(shlex.quote, map(str, read_only)):
        lines.append(f"mount --bind {p} {p} && mount -o remount,bind,ro {p} || exit 97")
    for p in map(shlex.quote, map(str, tmpfs)):
        lines.append(f"mount -t tmpfs tmpfs {p} || exit 98")
    for p in map(shlex.quote, map(str, hidden)):
        lines.append(f"mount -t tmpfs -o ro tmpfs {p} || exit 98")
    for p in map(shlex.quote, map(str, files)):
        lines.append(f": > {p} || exit 98")
    lines.append('exec "$@"')
    script = "\n".join(lines)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]


@functools.cache
def _read_only_mounts_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        write = f"! ( : > {shlex.quote(d)}/probe ) 2>/dev/null"
        probe = read_only_command(["sh", "-c", write], [d])
        try:
            return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def require_read_only_mounts() -> None:
    """Skip the calling test where private read-only mounts cannot be made."""
    if not _read_only_mounts_work():
        pytest.skip("needs `unshare --mount` and bind mounts (root or a user namespace)")
