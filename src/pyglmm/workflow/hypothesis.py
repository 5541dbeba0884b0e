"""brms's ``hypothesis()``: posterior summaries of expressions of the parameters
(``fit.hypothesis("Days > 5")``).

A hypothesis ``lhs <op> rhs`` (``op`` one of ``<``, ``>``, ``=``) is rewritten, as brms does, as
``h = (lhs) - (rhs) <op> 0`` and evaluated on every posterior draw. Per hypothesis the table has
brms's columns:

* ``Estimate``, ``Est.Error``: the mean and SD of ``h``'s draws;
* ``CI.Lower``, ``CI.Upper``: for ``=`` the equal-tailed ``1 - alpha`` interval; for ``>`` the
  one-sided ``(q_alpha, Inf)``, for ``<`` ``(-Inf, q_{1 - alpha})``;
* ``Evid.Ratio``: for ``>`` ``P(h > 0) / P(h <= 0)`` (``<``: the mirror image) over the
  draws; for ``=`` the Savage-Dickey density ratio ``p(h = 0 | y) / p(h = 0)``, the Bayes factor
  of the point hypothesis, with both densities estimated at 0 by a Gaussian kernel density from
  the posterior draws and from draws of the priors (brms estimates them with logspline from
  ``sample_prior = "yes"`` draws; here the priors are drawn when the hypothesis is tested,
  :func:`~pyglmm.workflow.prior_draws.draw_prior`); NA when no prior draws exist for ``h``
  (group-level hypotheses, models :func:`draw_prior` does not cover);
* ``Post.Prob``: ``Evid.Ratio / (1 + Evid.Ratio)``, the posterior probability of the hypothesis
  (for ``=`` under equal prior odds);
* ``Star``: ``*`` when 0 lies outside ``(CI.Lower, CI.Upper)``.

Names: a fixed effect as brms writes it in hypotheses (``Days``, ``Intercept``; or
``b_Days``), an SD ``sd_<group>__<term>``, a correlation ``cor_<group>__<t1>__<t2>``, a family
parameter by its name (``sigma``); any name the summary reports may be used, even one Python
cannot read (``period2``, ``x:z``). ``exp``, ``log``, ``sqrt``, ``abs``, ``inv_logit`` and the
operators ``+ - * / ^ **`` are allowed.

``group="Subject"``: the hypothesis is tested per level of the grouping factor, with the names
standing for that level's random effects (``scope="ranef"``) or its coefficients, fixed plus
random (``scope="coef"``); brms's ``hypothesis(fit, h, group = "Subject", scope = "coef")``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from ..errors import ArgumentError, PyglmmError
from ..results.params import parameters, posterior_params

COLUMNS = ["Hypothesis", "Estimate", "Est.Error", "CI.Lower", "CI.Upper", "Evid.Ratio"]
COLUMNS += ["Post.Prob", "Star"]
FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "inv_logit": special.expit,
}
_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}
PRIOR_DRAWS = 20_000  # prior draws for the Savage-Dickey ratio


@dataclass
class HypothesisResult:
    """brms's ``brmshypothesis``: ``hypothesis`` (the table), ``samples`` (the draws of each
    hypothesis's ``h``, one column per row of the table), ``alpha`` and the class line."""

    hypothesis: pd.DataFrame
    samples: pd.DataFrame
    alpha: float
    title: str = "Hypothesis Tests for class b:"
    prior_samples: pd.DataFrame | None = field(default=None, repr=False)

    def __str__(self) -> str:
        table = self.hypothesis.copy()
        for col in COLUMNS[1:7]:
            table[col] = [_fmt(v) for v in table[col]]
        table.index = pd.RangeIndex(1, len(table) + 1)
        pct = round(100 * (1 - self.alpha))
        return "\n".join(
            [
                self.title,
                table.to_string(),
                "---",
                f"'CI': {round(100 * (1 - 2 * self.alpha))}%-CI for one-sided and {pct}%-CI for "
                "two-sided hypotheses.",
                f"'*': For one-sided hypotheses, the posterior probability exceeds {pct}%;",
                f"for two-sided hypotheses, the value tested against lies outside the {pct}%-CI.",
                "Posterior probabilities of point hypotheses assume equal prior probabilities.",
            ]
        )

    def __repr__(self) -> str:
        return str(self)


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return v
    if not np.isfinite(v):
        return "NA" if np.isnan(v) else ("Inf" if v > 0 else "-Inf")
    return f"{v:.2f}"


def split_hypothesis(text: str) -> tuple[str, str, str]:
    """``(h, sign, label)``: the expression ``(lhs)-(rhs)`` tested against 0, the sign
    (``<``, ``>``, ``=``) and brms's label ``(lhs)-(rhs) > 0`` (whitespace removed)."""
    compact = re.sub(r"\s+", "", text).replace("==", "=")
    signs = re.findall(r"<=|>=|<|>|=", compact)
    if len(signs) != 1 or signs[0] in ("<=", ">="):
        raise ArgumentError(
            f"hypothesis {text!r}: write one comparison with '<', '>' or '=' "
            "(e.g. 'Days > 5', 'a - b = 0')"
        )
    lhs, rhs = compact.split(signs[0])
    if not lhs or not rhs:
        raise ArgumentError(f"hypothesis {text!r} has an empty side")
    h = f"({lhs})" + ("" if rhs == "0" else f"-({rhs})")
    return h, signs[0], f"{h} {signs[0]} 0"


def evaluate(expr: str, values: Mapping[str, np.ndarray]) -> np.ndarray:
    """``expr`` (a hypothesis's ``h``) with each name of ``values`` replaced by its array.

    Names are matched whole (longest first), so names Python cannot read (``x:z``,
    ``period2``) work; the rest of the expression may only hold numbers, the operators
    ``+ - * / ^ **`` and the functions of :data:`FUNCTIONS`."""
    slots: dict[str, np.ndarray] = {}
    text = expr
    for i, name in enumerate(sorted(values, key=len, reverse=True)):
        pattern = r"(?<![\w.\[\]])" + re.escape(name) + r"(?![\w.\[\]])"
        text, n = re.subn(pattern, f" __p{i}__ ", text)
        if n:
            slots[f"__p{i}__"] = np.asarray(values[name], dtype=float)
    text = text.replace("^", "**")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ArgumentError(f"cannot read hypothesis expression {expr!r}: {err.msg}") from None
    return np.asarray(_eval(tree.body, slots, expr), dtype=float)


def _eval(node: ast.AST, slots: Mapping[str, np.ndarray], expr: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id in slots:
            return slots[node.id]
        raise ArgumentError(f"hypothesis {expr!r}: unknown parameter {node.id!r}")
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left, slots, expr), _eval(node.right, slots, expr))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval(node.operand, slots, expr)
        return -value if isinstance(node.op, ast.USub) else value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        return FUNCTIONS[node.func.id](_eval(node.args[0], slots, expr))
    raise ArgumentError(
        f"hypothesis {expr!r}: only numbers, parameter names, + - * / ^ and "
        f"{', '.join(FUNCTIONS)} are allowed"
    )


def summarize(h: np.ndarray, sign: str, alpha: float, prior: np.ndarray | None) -> dict:
    """One row of the table from the draws of ``h`` (and its prior draws, for ``=``)."""
    h = np.asarray(h, dtype=float).reshape(-1)
    if sign == "=":
        lo, hi = np.quantile(h, [alpha / 2, 1 - alpha / 2])
        ratio = np.nan if prior is None else density_ratio(h, prior)
    elif sign == ">":
        lo, hi = float(np.quantile(h, alpha)), np.inf
        ratio = _odds(float(np.mean(h > 0)))
    else:
        lo, hi = -np.inf, float(np.quantile(h, 1 - alpha))
        ratio = _odds(float(np.mean(h < 0)))
    prob = ratio / (1 + ratio) if np.isfinite(ratio) else (1.0 if ratio == np.inf else np.nan)
    return {
        "Estimate": float(h.mean()),
        "Est.Error": float(h.std(ddof=1)),
        "CI.Lower": float(lo),
        "CI.Upper": float(hi),
        "Evid.Ratio": float(ratio),
        "Post.Prob": float(prob),
        "Star": "" if lo <= 0 <= hi else "*",
    }


def _odds(p: float) -> float:
    return np.inf if p >= 1 else float(p / (1 - p))


def density_ratio(posterior: np.ndarray, prior: np.ndarray, point: float = 0.0) -> float:
    """Savage-Dickey: the posterior density at ``point`` over the prior's, each a Gaussian
    kernel density estimate (Scott's bandwidth) from its draws."""
    post = stats.gaussian_kde(np.asarray(posterior, dtype=float).reshape(-1))(point)[0]
    prior = np.asarray(prior, dtype=float).reshape(-1)
    prior = prior[np.isfinite(prior)]
    return float(post / stats.gaussian_kde(prior)(point)[0])


def _names(draws: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The parameter keys plus brms's bare names of the fixed effects (``Days`` for
    ``b_Days``)."""
    out = dict(draws)
    for key, value in draws.items():
        if key.startswith("b_"):
            out.setdefault(key[2:], value)
    return out


def _prior_values(fit: Any, seed: Any) -> dict[str, np.ndarray] | None:
    """Draws of the priors by parameter key, or None when they cannot be drawn."""
    from .prior_draws import draw_prior

    model = fit.model
    try:
        draws = draw_prior(model, PRIOR_DRAWS, seed)
    except PyglmmError:
        return None
    refs = parameters(model.design, tuple(draws.family))
    return _names({ref.key: ref.take(draws.values(ref)) for ref in refs})


def hypothesis(
    fit: Any,
    hypothesis: str | Sequence[str],
    group: str | None = None,
    scope: str = "standard",
    alpha: float = 0.05,
    seed: Any = None,
) -> HypothesisResult:
    """brms's ``hypothesis(fit, hypothesis, alpha, group, scope)`` (see the module docstring):
    one row per hypothesis (per hypothesis and level with ``group``)."""
    texts = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if not texts:
        raise ArgumentError("hypothesis: give at least one hypothesis")
    if not 0 < alpha < 0.5:
        raise ArgumentError(f"alpha must lie in (0, 0.5), got {alpha}")
    parsed = [split_hypothesis(t) for t in texts]
    if group is None:
        if scope != "standard":
            raise ArgumentError(f"scope={scope!r} needs group= (a grouping factor)")
        post = _names(posterior_params(fit.posterior, fit.design, fit.family.params))
        prior = _prior_values(fit, seed) if any(s == "=" for _, s, _ in parsed) else None
        rows, samples, prior_cols = [], {}, {}
        for h, sign, label in parsed:
            values = evaluate(h, post).reshape(-1)
            prior_h = None
            if sign == "=" and prior is not None:
                try:
                    prior_h = evaluate(h, prior).reshape(-1)
                except ArgumentError:  # a name without prior draws
                    prior_h = None
            rows.append({"Hypothesis": label, **summarize(values, sign, alpha, prior_h)})
            samples[label] = values
            if prior_h is not None:
                prior_cols[label] = prior_h
        table = pd.DataFrame(rows, columns=COLUMNS)
        priors = pd.DataFrame(prior_cols) if prior_cols else None
        return HypothesisResult(table, pd.DataFrame(samples), alpha, prior_samples=priors)
    if scope not in ("ranef", "coef"):
        raise ArgumentError(f"scope must be 'ranef' or 'coef' with group=, got {scope!r}")
    tables = fit.group_draws(by_fixed=scope == "coef")
    if group not in tables:
        raise ArgumentError(f"unknown group {group!r}; the model's: {sorted(tables)}")
    levels, cols = tables[group]
    rows, samples = [], {}
    for h, sign, label in parsed:
        for j, level in enumerate(levels):
            values = evaluate(h, {k: v[..., j] for k, v in cols.items()}).reshape(-1)
            rows.append(
                {"Group": level, "Hypothesis": label, **summarize(values, sign, alpha, None)}
            )
            samples[f"{label} [{level}]"] = values
    table = pd.DataFrame(rows, columns=["Group", *COLUMNS])
    what = f"class r_{group}" if scope == "ranef" else f"the coefficients of {group}"
    title = f"Hypothesis Tests for {what}:"
    return HypothesisResult(table, pd.DataFrame(samples), alpha, title=title)
