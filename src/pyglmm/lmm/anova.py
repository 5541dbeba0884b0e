"""``pg.anova``: likelihood-ratio tests of nested point fits, as lme4's ``anova.merMod``.

The models are sorted by their number of parameters ``npar`` (stable); REML fits are first
refitted by maximum likelihood (the REML criteria of models with different fixed effects are
not comparable; lme4 says "refitting model(s) with ML (instead of REML)"). For consecutive
models ``i - 1, i`` ::

    Chisq_i = 2 max(0, logLik_i - logLik_{i-1}),   Df_i = npar_i - npar_{i-1},
    Pr(>Chisq)_i = P(chi^2_{Df_i} > Chisq_i)

with ``AIC = deviance + 2 npar`` and ``BIC = deviance + log(n) npar``. lme4 checks the models
were fitted to the same data; here the number of observations and the response values must
agree (else :class:`~pyglmm.errors.ModelComparisonError`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ..errors import ModelComparisonError
from .pointfit import PointFit
from .printing import (
    SIGNIF_LEGEND,
    format_pval,
    matrix_lines,
    r_format,
    signif_stars,
    zapsmall,
)

REFIT_MESSAGE = "refitting model(s) with ML (instead of REML)"
COLUMNS = ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"]


@dataclass(frozen=True, eq=False)
class AnovaResult:
    """The likelihood-ratio table (``table``, lme4's columns, rows named after the models), the
    models' formulas, the data name and whether REML fits were refitted by ML."""

    table: pd.DataFrame
    formulas: dict[str, str]
    refitted: bool
    data_name: str | None = None
    fits: dict[str, Any] = field(default_factory=dict, repr=False)

    def lines(self) -> list[str]:
        """lme4's printout of the table: R's ``print.anova`` (``digits = 5``: the likelihood
        columns ``zapsmall``-ed and formatted, ``Chisq`` rounded to 4 decimals, p values by
        ``format.pval`` with 4 digits, significance stars)."""
        out = [f"Data: {self.data_name}"] if self.data_name else []
        out.append("Models:")
        out += [f"{k}: {v}" for k, v in self.formulas.items()]
        t = self.table
        cells = {  # print.anova: zapsmall(, 5) then format(, digits = 5)
            c: r_format(zapsmall(t[c].to_numpy(dtype=float), 5), 5)
            for c in ("npar", "AIC", "BIC", "logLik", "deviance")
        }
        for c, digits in (("Chisq", 5), ("Df", 5)):
            vals = t[c].to_numpy(dtype=float)
            if c == "Chisq":  # the test statistic: round(, dig.tst = 4) first
                vals = np.round(vals, 4)
            fin = np.isfinite(vals)
            col = [""] * len(vals)
            if fin.any():
                for i, s in zip(np.flatnonzero(fin), r_format(vals[fin], digits), strict=True):
                    col[i] = s
            cells[c] = col
        pv = t["Pr(>Chisq)"].to_numpy()
        fin = np.isfinite(pv)
        pcol = [""] * len(pv)
        if fin.any():
            for i, s in zip(np.flatnonzero(fin), format_pval(pv[fin], 4), strict=True):
                pcol[i] = s
        cells["Pr(>Chisq)"] = pcol
        cols = list(COLUMNS)
        stars = fin.any() and np.nanmin(pv) < 0.1
        if stars:
            cols.append("")
            cells[""] = signif_stars(np.where(fin, pv, np.nan))
        rows = [[cells[c][i] for c in cols] for i in range(len(t))]
        out += matrix_lines(list(t.index), cols, rows, right=True)
        if stars:
            out += ["---", SIGNIF_LEGEND]
        return out

    def __str__(self) -> str:
        head = [REFIT_MESSAGE] if self.refitted else []
        return "\n".join(head + self.lines())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        note = f"<p>{html.escape(REFIT_MESSAGE)}</p>" if self.refitted else ""
        models = "<br>".join(html.escape(f"{k}: {v}") for k, v in self.formulas.items())
        return f"{note}<p>{models}</p>" + self.table.to_html(na_rep="")


def _formula(fit: PointFit) -> str:
    return str(fit.design.formula.formula)


def anova(*fits: PointFit, **named: PointFit) -> AnovaResult:
    """Likelihood-ratio table of nested point fits (``LmmFit``/``GlmmFit``), as lme4's
    ``anova(m0, m1, ...)``; see the module docstring. Positional fits are named ``m0``,
    ``m1``, ...; keyword arguments name them (``pg.anova(fm0=f0, fm1=f1)``)."""
    models: dict[str, PointFit] = {f"m{i}": f for i, f in enumerate(fits)}
    for k, f in named.items():
        if k in models:
            raise ModelComparisonError(f"two models are named {k!r}")
        models[k] = f
    if len(models) < 2:
        raise ModelComparisonError("anova needs at least two fitted models")
    first = next(iter(models.values()))
    y0 = np.asarray(first.design.y, dtype=float)
    for k, f in models.items():
        y = np.asarray(f.design.y, dtype=float)
        if f.n_obs != first.n_obs or y.shape != y0.shape or not np.array_equal(y, y0):
            raise ModelComparisonError(
                f"models were not all fitted to the same data: {k} has {f.n_obs} observations "
                f"of {f.design.response or 'its response'!r}, the first model "
                f"{first.n_obs} of {first.design.response or 'its response'!r}"
            )
    refitted = any(f.reml for f in models.values())
    ml = {k: (f.to_ml() if f.reml else f) for k, f in models.items()}
    order = sorted(ml, key=lambda k: ml[k].n_params)
    npar = np.array([ml[k].n_params for k in order], dtype=float)
    ll = np.array([ml[k].loglik for k in order])
    dev = -2 * ll
    n = first.n_obs
    chisq = np.concatenate([[np.nan], 2 * np.maximum(0, np.diff(ll))])
    df = np.concatenate([[np.nan], np.diff(npar)])
    with np.errstate(invalid="ignore"):
        p = np.where(np.isfinite(df) & (df > 0), chi2.sf(chisq, np.where(df > 0, df, 1)), np.nan)
    table = pd.DataFrame(
        {
            "npar": npar.astype(int),
            "AIC": dev + 2 * npar,
            "BIC": dev + np.log(n) * npar,
            "logLik": ll,
            "deviance": dev,
            "Chisq": chisq,
            "Df": df,
            "Pr(>Chisq)": p,
        },
        index=pd.Index(order),
    )
    names = {getattr(f, "data_name", None) for f in models.values()}
    data_name = names.pop() if len(names) == 1 else None
    return AnovaResult(
        table,
        {k: _formula(models[k]) for k in order},
        refitted,
        data_name,
        {k: ml[k] for k in order},
    )
