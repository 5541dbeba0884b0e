"""The response expression: ``y``, ``cbind(successes, failures)`` or ``successes | trials(n)``
(brms), plus brms's other addition terms (:mod:`pyglmm.formula.additions` parses them all,
:mod:`pyglmm.design.additions` evaluates them). :func:`response_parts` is the one reader of
the response's columns; the design, the trial counts of new data and simulation (which must
write the columns back) all use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError as DesignError  # defined in errors, raised here
from ..formula import split_call
from ..formula.additions import parse_response
from . import terms as _terms
from .frame import evaluate_column


def response_parts(text: str) -> tuple[str, str | None, str | None]:
    """The texts of (successes or y, cbind() failures, trials()) of a left-hand side (its
    other addition terms, brms's ``weights()``, ``cens()``, ...: :func:`parse_response`)."""
    response = parse_response(text)
    term = response.term("trials")
    trials_text = None if term is None else term.get("n")
    failures_text: str | None = None
    y_text = response.y
    call = split_call(y_text)
    if call is not None and call[0] == "cbind":
        if len(call[1]) != 2 or trials_text is not None:
            raise DesignError(f"cbind() response needs two arguments (successes, failures): {text}")
        y_text, failures_text = call[1]
    return y_text, failures_text, trials_text


def response_columns(
    text: str, frame: pd.DataFrame, env: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    """Evaluate the left-hand side: ``y``, ``cbind(s, f)`` or ``s | trials(n)``."""
    y_text, failures_text, trials_text = response_parts(text)
    y = evaluate_column(y_text, frame, env, "response")
    trials = None
    if failures_text is not None:
        failures = evaluate_column(failures_text, frame, env, "cbind() failures")
        if (failures < 0).any():
            raise DesignError(f"cbind() failures {failures_text!r} has negative values")
        trials = y + failures
    elif trials_text is not None:
        trials = evaluate_column(trials_text, frame, env, "trials")
    if trials is not None:
        if (trials < 0).any():
            raise DesignError(f"trials {trials_text or text!r} has negative values")
        if ((y < 0) | (y > trials)).any():
            raise DesignError(f"response {y_text!r} must lie between 0 and the number of trials")
    return y, trials


def new_trials(text: str, frame: pd.DataFrame) -> np.ndarray | None:
    """Binomial trials of new rows: ``n`` of ``| trials(n)`` or ``s + f`` of ``cbind(s, f)``;
    None when the formula has none or the columns are absent from the new data."""
    y_text, failures_text, trials_text = response_parts(text)
    exprs = [trials_text] if trials_text else [y_text, failures_text] if failures_text else []
    if not exprs:
        return None
    env = _terms.eval_env()
    try:
        values = [evaluate_column(e, frame, env, "trials") for e in exprs if e is not None]
    except DesignError:
        return None
    trials = np.sum(values, axis=0)
    if (trials < 0).any():
        raise DesignError(f"trials {' + '.join(e for e in exprs if e)!r} has negative values")
    return trials
