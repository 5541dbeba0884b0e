"""The values of brms's addition terms (``y | weights(w) + cens(c, y2) + trunc(lb, ub) +
se(s) + rate(t) ~ ...``, parsed by :mod:`pyglmm.formula.additions`) per used row.

What each changes (brms's meaning; the likelihood itself is :mod:`pyglmm.families.additions`
in numpy and :mod:`pyglmm.compile.additions` in PyMC):

* ``weights(w)``: row i's log-likelihood is ``w_i log p(y_i)`` (``w >= 0``);
* ``se(s)``: gaussian with known SDs: ``y_i ~ N(mu_i, s_i)`` (``sigma = FALSE``, brms's
  default: no ``sigma`` parameter) or ``N(mu_i, sqrt(sigma^2 + s_i^2))`` (``sigma = TRUE``);
* ``rate(t)``: ``log(t_i)`` is added to the linear predictor (``Design.offset``; log link);
* ``cens(c, y2)``: censoring codes -1 (left: ``y_i`` is an upper bound), 0 (none), 1 (right:
  a lower bound), 2 (interval ``(y_i, y2_i]``); strings "left"/"none"/"right"/"interval"
  and logicals (TRUE: right) as brms reads them;
* ``trunc(lb, ub)``: the density is truncated to ``[lb, ub]`` (constants or columns); every
  ``y`` must lie inside (:class:`DesignError` naming the rows).

Missing values in these columns drop the row like any used column (the formula's variables
include them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError as DesignError  # defined in errors, raised here
from ..formula.additions import Response
from . import terms as _terms
from .frame import evaluate_column

CENS_CODES: dict[str, int] = {"left": -1, "none": 0, "right": 1, "interval": 2}
_LOGICAL = {"TRUE": True, "T": True, "True": True, "FALSE": False, "F": False, "False": False}


@dataclass(frozen=True, eq=False)
class Additions:
    """Per-row values of the addition terms that change the likelihood (all (n,) arrays or
    None): ``weights``, ``se`` (with ``se_sigma``: whether ``sigma`` is estimated too),
    ``cens`` (int codes -1/0/1/2) with ``y2`` (the upper bounds; NaN where unused), ``lb`` /
    ``ub`` (truncation bounds, -inf / inf where absent); ``rate_text``: the exposure
    expression of ``rate()`` (already in ``Design.offset`` as its log), for new data."""

    weights: np.ndarray | None = None
    se: np.ndarray | None = None
    se_sigma: bool = False
    cens: np.ndarray | None = None
    y2: np.ndarray | None = None
    lb: np.ndarray | None = None
    ub: np.ndarray | None = None
    rate_text: str = ""
    lb_text: str = ""
    ub_text: str = ""
    se_text: str = ""
    cens_text: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """The terms present that change the likelihood (``rate`` is an offset)."""
        present = {
            "weights": self.weights is not None,
            "se": self.se is not None,
            "cens": self.cens is not None,
            "trunc": self.lb is not None,
        }
        return tuple(k for k, v in present.items() if v)

    @property
    def changes_likelihood(self) -> bool:
        return bool(self.names)

    @property
    def fixed_params(self) -> tuple[str, ...]:
        """Family parameters the model does not have: ``sigma`` under ``se(s)`` without
        ``sigma = TRUE`` (its value is 0: the SD of row i is ``s_i``)."""
        return ("sigma",) if self.se is not None and not self.se_sigma else ()

    def without_rows(self) -> Additions:
        """The same terms with zero-length arrays (a design saved without its data)."""

        def empty(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[:0]

        return replace(
            self,
            weights=empty(self.weights),
            se=empty(self.se),
            cens=empty(self.cens),
            y2=empty(self.y2),
            lb=empty(self.lb),
            ub=empty(self.ub),
        )

    def describe(self) -> str:
        """The terms as the formula wrote them (for messages)."""
        return ", ".join(f"{n}()" for n in self.names)


def build_additions(
    response: Response, frame: pd.DataFrame, env: Any, y: np.ndarray, index: pd.Index
) -> tuple[Additions | None, np.ndarray | None]:
    """(Additions or None, the log exposure of ``rate()`` or None) of the used rows."""
    if not set(response.names) - {"trials"}:
        return None, None
    kw: dict[str, Any] = {}
    term = response.term("weights")
    if term is not None:
        w = evaluate_column(str(term.get("w")), frame, env, "weights()")
        _rows(w < 0, "weights() must be non-negative", index)
        kw["weights"] = w
    term = response.term("se")
    if term is not None:
        text = str(term.get("se"))
        se = evaluate_column(text, frame, env, "se()")
        flag = term.get("sigma", "FALSE")
        if flag not in _LOGICAL:
            raise DesignError(f"se(): sigma must be TRUE or FALSE, got {flag!r}")
        kw["se_sigma"] = _LOGICAL[str(flag)]
        if kw["se_sigma"]:
            _rows(se < 0, f"se({text}) must be non-negative", index)
        else:
            _rows(se <= 0, f"se({text}) must be positive (sigma = FALSE: it is the SD)", index)
        kw["se"], kw["se_text"] = se, text
    log_rate = None
    term = response.term("rate")
    if term is not None:
        text = str(term.get("denom"))
        denom = evaluate_column(text, frame, env, "rate()")
        _rows(denom <= 0, f"rate({text}) must be positive", index)
        log_rate = np.log(denom)
        kw["rate_text"] = text
    term = response.term("cens")
    if term is not None:
        kw["cens_text"] = str(term.get("x"))
        cens = censoring_codes(kw["cens_text"], frame, env, index)
        kw["cens"] = cens
        interval = cens == 2
        y2_text = term.get("y2")
        if interval.any() and y2_text is None:
            raise DesignError(
                f"cens(): {int(interval.sum())} interval-censored row(s) need the upper bounds: "
                "cens(c, y2)"
            )
        if y2_text is not None:
            y2 = evaluate_column(y2_text, frame, env, "cens() upper bound y2")
            _rows(interval & ~(y2 > y), f"cens(): interval rows need {y2_text} > y", index)
            kw["y2"] = np.where(interval, y2, np.nan)
    term = response.term("trunc")
    if term is not None:
        n = len(y)
        lb, ub = np.full(n, -np.inf), np.full(n, np.inf)
        kw["lb_text"], kw["ub_text"] = term.get("lb", ""), term.get("ub", "")
        lb, ub = _bounds(kw["lb_text"], kw["ub_text"], frame, env, n)
        _rows(~(lb < ub), "trunc(): lb must be below ub", index)
        _rows((y < lb) | (y > ub), "trunc(): the response lies outside [lb, ub]", index)
        if "y2" in kw:
            y2 = kw["y2"]
            _rows(y2 > ub, "trunc(): the cens() upper bound y2 lies above ub", index)
        kw["lb"], kw["ub"] = lb, ub
    return Additions(**kw), log_rate


def _bounds(
    lb_text: str, ub_text: str, frame: pd.DataFrame, env: Any, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The truncation bounds per row (-inf / inf where a bound is absent)."""
    lb = evaluate_column(lb_text, frame, env, "trunc() lb") if lb_text else np.full(n, -np.inf)
    ub = evaluate_column(ub_text, frame, env, "trunc() ub") if ub_text else np.full(n, np.inf)
    return lb, ub


def new_bounds(additions: Additions, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The truncation bounds of new rows (columns named by ``trunc()`` must be in ``data``)."""
    return _bounds(additions.lb_text, additions.ub_text, data, _terms.eval_env(), len(data))


def new_se(additions: Additions, data: pd.DataFrame) -> np.ndarray:
    """The known SEs of new rows (the column of ``se()`` must be in ``data``, as in brms)."""
    return evaluate_column(additions.se_text, data, _terms.eval_env(), "se() of new data")


def censoring_codes(text: str, frame: pd.DataFrame, env: Any, index: pd.Index) -> np.ndarray:
    """brms's censoring indicator as int codes: "left"/"none"/"right"/"interval" (any case),
    -1/0/1/2, or logicals (TRUE: right censored)."""
    try:
        value = env.eval(text, inner_namespace={"Q": lambda name: frame[name], **frame})
    except Exception as err:
        raise DesignError(f"cannot evaluate cens() indicator {text!r}: {err}") from None
    values = np.broadcast_to(np.asarray(value, dtype=object), (len(frame),))
    codes = np.zeros(len(frame), dtype=np.int64)
    bad = np.zeros(len(frame), dtype=bool)
    for k, v in enumerate(values):
        if isinstance(v, str):
            code = CENS_CODES.get(v.strip().lower())
        elif isinstance(v, (bool, np.bool_)):
            code = int(bool(v))
        else:
            try:
                f = float(v)
            except (TypeError, ValueError):
                f = np.nan
            code = int(f) if f in (-1.0, 0.0, 1.0, 2.0) else None
        if code is None:
            bad[k] = True
        else:
            codes[k] = code
    _rows(
        bad,
        f"cens({text}) takes 'left', 'none', 'right', 'interval' or -1, 0, 1, 2 (brms)",
        index,
    )
    return codes


def _rows(bad: np.ndarray, message: str, index: pd.Index) -> None:
    """:class:`DesignError` naming the first offending rows by the data's index."""
    rows = np.flatnonzero(bad)
    if rows.size:
        shown = ", ".join(str(v) for v in np.asarray(index)[rows[:5]])
        more = ", ..." if rows.size > 5 else ""
        raise DesignError(f"{message}: {rows.size} row(s) (data index {shown}{more})")


def new_log_rate(text: str, data: pd.DataFrame) -> np.ndarray:
    """``log(t)`` of ``rate(t)`` on new data (which must hold the exposure, as in brms)."""
    denom = evaluate_column(text, data, _terms.eval_env(), "rate() exposure of new data")
    if (denom <= 0).any():
        raise DesignError(f"rate({text}) must be positive in new data")
    return np.asarray(np.log(denom))
