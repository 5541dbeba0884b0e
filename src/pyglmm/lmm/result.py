"""The fit object of :func:`pyglmm.lmm.fit_lmm`, with lme4-style accessors and summary.

Conventions (lme4): random-effect covariance of block k is ``sigma^2 T_k T_k'``; ``loglik``
is ``-criterion / 2`` (restricted log-likelihood for REML fits); AIC/BIC count
``p + len(theta) + 1`` parameters; ``vcov(beta) = sigma^2 R_X^{-1} R_X^{-T}``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..design import Design, REBlock
from ..design.grouping import columns_by_group
from ..posterior import design_eta
from .profiled import ThetaLayout


def theta_to_sd_cor(
    theta: np.ndarray, blocks: tuple[REBlock, ...], sigma: float = 1.0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per block (design order): SD vector and correlation matrix of ``sigma^2 T T'``."""
    out = []
    for T in ThetaLayout.from_blocks(blocks).unpack(np.asarray(theta, dtype=float)):
        cov = sigma**2 * (T @ T.T)
        sd = np.sqrt(np.diag(cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            cor = cov / np.outer(sd, sd)
        cor[~np.isfinite(cor)] = 0.0
        np.fill_diagonal(cor, 1.0)
        out.append((sd, cor))
    return out


def _rformat(values: np.ndarray, digits: int = 4) -> list[str]:
    """Format a column like R's ``format(x, digits=4)``: common decimals, >= 4 sig. digits."""
    v = np.asarray(values, dtype=float)
    fin = np.abs(v[np.isfinite(v) & (v != 0)])
    dec = 0
    if fin.size:
        dec = int(max(0, np.max(digits - 1 - np.floor(np.log10(fin)))))
        dec = min(dec, 10)
    return [f"{x:.{dec}f}" for x in v]


def _lme4_name(name: str) -> str:
    return "(Intercept)" if name == "Intercept" else name


@dataclass(frozen=True, eq=False)
class LmmFit:
    """A fitted linear mixed model (REML or ML point estimates).

    ``theta``: relative covariance parameters (lme4 scale, design block order); ``beta``:
    fixed effects; ``sigma``: residual SD; ``b``: conditional modes per block ``(m_k, q_k)``;
    ``criterion``: ``-2 log`` restricted likelihood (REML) or deviance (ML).
    """

    design: Design
    reml: bool
    theta: np.ndarray
    beta: np.ndarray
    sigma: float
    b: tuple[np.ndarray, ...]
    vcov_beta: np.ndarray
    criterion: float
    converged: bool
    n_evals: int
    fit_time: float
    message: str = ""

    # ----- scalars -------------------------------------------------------------------
    @property
    def n_obs(self) -> int:
        return self.design.n_obs

    @property
    def n_params(self) -> int:
        return len(self.beta) + len(self.theta) + 1

    @property
    def loglik(self) -> float:
        return -0.5 * self.criterion

    @property
    def aic(self) -> float:
        return self.criterion + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return self.criterion + np.log(self.n_obs) * self.n_params

    # ----- tables --------------------------------------------------------------------
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates."""
        names = list(self.design.x_names)
        return pd.DataFrame(self.vcov_beta, index=names, columns=names)

    def fixef(self) -> pd.DataFrame:
        """Estimates, standard errors and t values of the fixed effects."""
        se = np.sqrt(np.diag(self.vcov_beta))
        return pd.DataFrame(
            {"Estimate": self.beta, "Std. Error": se, "t value": self.beta / se},
            index=pd.Index(list(self.design.x_names)),
        )

    def theta_to_sd_cor(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block: SD vector and correlation matrix (``sigma^2 T T'``)."""
        return theta_to_sd_cor(self.theta, self.design.blocks, self.sigma)

    def varcorr(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(fit))`` with point estimates (errors/CIs NaN)."""
        rows: list[tuple[str, str, str, str, float]] = []
        for blk, (sd, cor) in zip(self.design.blocks, self.theta_to_sd_cor(), strict=True):
            for t, s in zip(blk.terms, sd, strict=True):
                rows.append((blk.group, t, "", "sd", float(s)))
            for i, j in blk.covariance.cor_pairs(blk.q):
                rows.append((blk.group, blk.terms[i], blk.terms[j], "cor", cor[i, j]))
        rows.append(("Residual", "", "", "sd", self.sigma))
        df = pd.DataFrame(rows, columns=["group", "var1", "var2", "kind", "Estimate"])
        for c in ("Est.Error", "Q2.5", "Q97.5"):
            df[c] = np.nan
        return df

    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, as lme4's ``ranef``: grouping factor ->
        levels x terms (blocks on one factor share a table, as in :meth:`pyglmm.Fit.ranef`)."""
        return self._by_group(fixed=False)

    def coef(self) -> dict[str, pd.DataFrame]:
        """Per level, fixed effects plus the matching random effects (lme4's ``coef``)."""
        return self._by_group(fixed=True)

    def _by_group(self, fixed: bool) -> dict[str, pd.DataFrame]:
        d = self.design
        effects = {
            blk.name: np.asarray(bk, float) for blk, bk in zip(d.blocks, self.b, strict=True)
        }
        beta = dict(zip(d.x_names, np.asarray(self.beta, float), strict=True)) if fixed else None
        return {
            group: pd.DataFrame(cols, index=pd.Index(levels))
            for group, (levels, cols) in columns_by_group(d.blocks, effects, beta).items()
        }

    def fitted(self) -> np.ndarray:
        """Conditional fitted values ``X beta + Z b (+ offset)``."""
        d = self.design
        effects = {
            blk.name: np.asarray(bk, float) for blk, bk in zip(d.blocks, self.b, strict=True)
        }
        return design_eta(d, self.beta, effects)

    def residuals(self) -> np.ndarray:
        return np.asarray(self.design.y, float) - self.fitted()

    # ----- printing ------------------------------------------------------------------
    def _re_table(self) -> list[str]:
        lines, cells = [], []
        any_cor = any(b.covariance.cor_pairs(b.q) for b in self.design.blocks)
        order = sorted(
            range(len(self.design.blocks)), key=lambda k: -self.design.blocks[k].n_levels
        )
        sdcor = self.theta_to_sd_cor()
        for k in order:
            blk = self.design.blocks[k]
            sd, cor = sdcor[k]
            for i, t in enumerate(blk.terms):
                cs = ""
                if blk.covariance.correlated and i > 0:
                    cs = " ".join(f"{cor[i, j]:5.2f}" for j in range(i))
                cells.append((blk.group if i == 0 else "", _lme4_name(t), sd[i], cs))
        cells.append(("Residual", "", self.sigma, ""))
        gw = max(6, *(len(c[0]) for c in cells))
        nw = max(4, *(len(c[1]) for c in cells))
        sds = np.array([c[2] for c in cells])
        var_s, sd_s = _rformat(sds**2), _rformat(sds)
        vw, sw = max(8, *map(len, var_s)), max(8, *map(len, sd_s))
        head = f" {'Groups':<{gw}} {'Name':<{nw}} {'Variance':<{vw}} {'Std.Dev.':<{sw}}"
        lines.append((head + (" Corr" if any_cor else "")).rstrip())
        for (g, nm, _, cs), v, sdv in zip(cells, var_s, sd_s, strict=True):
            line = f" {g:<{gw}} {nm:<{nw}} {v:<{vw}} {sdv:<{sw}}"
            lines.append((line + (" " + cs if cs else "")).rstrip())
        return lines

    def __str__(self) -> str:
        d = self.design
        method = "REML" if self.reml else "maximum likelihood "
        out = [f"Linear mixed model fit by {method} ['lmerMod']"]
        out.append(f"Formula: {d.formula.formula}")
        out.append("")
        if self.reml:
            out.append(f"REML criterion at convergence: {self.criterion:.1f}")
        else:
            out.append(f"{'AIC':>10}{'BIC':>10}{'logLik':>10}{'deviance':>10}{'df.resid':>10}")
            out.append(
                f"{self.aic:>10.1f}{self.bic:>10.1f}{self.loglik:>10.1f}"
                f"{self.criterion:>10.1f}{self.n_obs - self.n_params:>10d}"
            )
        out.append("")
        q = np.quantile(self.residuals() / self.sigma, [0, 0.25, 0.5, 0.75, 1])
        out.append("Scaled residuals:")
        out.append("".join(f"{h:>9}" for h in ("Min", "1Q", "Median", "3Q", "Max")))
        out.append("".join(f"{v:>9.4f}" for v in q))
        out.append("")
        out.append("Random effects:")
        out.extend(self._re_table())
        groups = "; ".join(
            f"{b.group}, {b.n_levels}" for b in sorted(d.blocks, key=lambda b: -b.n_levels)
        )
        out.append(f"Number of obs: {self.n_obs}, groups:  {groups}")
        out.append("")
        out.append("Fixed effects:")
        fe = self.fixef()
        table = pd.DataFrame(
            {c: _rformat(fe[c].to_numpy()) for c in fe.columns},
            index=pd.Index([_lme4_name(str(i)) for i in fe.index]),
        )
        out.append(table.to_string())
        if not self.converged:
            out.append(f"\nWarning: optimizer did not converge ({self.message})")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """A notebook's view: lme4's printout, preformatted."""
        return f"<pre>{html.escape(str(self))}</pre>"

    def __repr__(self) -> str:
        kind = "REML" if self.reml else "ML"
        return f"<LmmFit {kind} {self.design.formula.formula!r} criterion={self.criterion:.4f}>"
