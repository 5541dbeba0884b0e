"""The error of a file that is not a fit this pyglmm can load, and the two stacks its messages
name: the one that saved the fit (the file's ``stack`` attribute) and the one loading it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import stack
from ..errors import FitFileError as FitFileError  # raised by load_fit


def _this_stack() -> str:
    from .._version import __version__

    return f"pyglmm {__version__} on {stack.describe_stack()}"


def _saved_stack(attrs: Mapping[str, Any]) -> str:
    try:
        versions = json.loads(attrs.get("stack", "{}"))
    except (TypeError, ValueError):
        versions = {}
    return f"pyglmm {attrs.get('pyglmm_version', '?')} on {stack.describe_stack(versions)}"
