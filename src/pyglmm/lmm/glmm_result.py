"""The fit object of :func:`pyglmm.lmm.glmm_fit.fit_glmm`, with glmer's accessors and summary.

Conventions (lme4's ``glmerMod``): the random-effect covariance of block k is ``T_k T_k'``
(no residual scale); ``loglik`` is ``-criterion / 2`` with ``criterion`` the Laplace (or
adaptive Gauss-Hermite) deviance, all constants included; ``deviance`` is ``-2 loglik`` (the
summary's ``deviance`` column); AIC/BIC count ``p + len(theta)`` parameters plus the family's
own (the negative binomial's shape); Wald ``z`` tests use ``vcov`` (see
:mod:`pyglmm.lmm.glmm_fit` for how it is computed).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import special

from ..design import Design
from ..design.grouping import columns_by_group
from ..design.sparse import block_matrix
from ..families import Family
from ..posterior import block_term
from .pirls import GlmmData, PirlsResult, pirls
from .profiled import ThetaLayout
from .result import _lme4_name, _rformat, theta_to_sd_cor

SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on theta's diagonal


@dataclass(frozen=True, eq=False)
class GlmmFit:
    """A fitted generalized linear mixed model (glmer's point estimates).

    ``theta``: relative covariance parameters (lme4 scale, design block order); ``beta``:
    fixed effects; ``params``: the family's own estimated parameters (``shape``); ``u``: the
    spherical conditional modes per block ``(m_k, q_k)`` (``b_k = u_k T_k'``);
    ``criterion``: the minimised deviance; ``nagq``: 0, 1 (Laplace) or the number of
    adaptive Gauss-Hermite nodes.
    """

    design: Design
    family: Family
    nagq: int
    theta: np.ndarray
    beta: np.ndarray
    params: dict[str, float]
    u: tuple[np.ndarray, ...]
    vcov_beta: np.ndarray
    criterion: float
    converged: bool
    n_evals: int
    fit_time: float
    message: str = ""
    data_name: str | None = None
    information: str = "expected"
    pirls_result: PirlsResult | None = field(default=None, repr=False)

    reml = False  # a GLMM point fit is a maximum-likelihood fit

    # ----- scalars -------------------------------------------------------------------
    @property
    def n_obs(self) -> int:
        return self.design.n_obs

    @property
    def n_params(self) -> int:
        return len(self.beta) + len(self.theta) + len(self.params)

    @property
    def loglik(self) -> float:
        return -0.5 * self.criterion

    @property
    def deviance(self) -> float:
        """``-2 loglik`` (the ``deviance`` column of glmer's summary)."""
        return self.criterion

    @property
    def aic(self) -> float:
        return self.criterion + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return self.criterion + np.log(self.n_obs) * self.n_params

    @property
    def sigma(self) -> float:
        """1: a GLMM without a residual scale (glmer's ``sigma()`` for binomial/poisson)."""
        return 1.0

    @property
    def b(self) -> tuple[np.ndarray, ...]:
        """Conditional modes on the scale of the effects, per block ``(m_k, q_k)``."""
        Ts = ThetaLayout.from_blocks(self.design.blocks).unpack(self.theta)
        return tuple(uk @ T.T for uk, T in zip(self.u, Ts, strict=True))

    def is_singular(self, tol: float = SINGULAR_TOL) -> bool:
        """lme4's ``isSingular``: a diagonal entry of theta below ``tol`` (a zero SD, or a
        correlation matrix of less than full rank)."""
        diag = ThetaLayout.from_blocks(self.design.blocks).is_diagonal()
        return bool(np.any(self.theta[diag] < tol))

    # ----- tables --------------------------------------------------------------------
    def vcov(self) -> pd.DataFrame:
        """Covariance matrix of the fixed-effect estimates."""
        names = list(self.design.x_names)
        return pd.DataFrame(self.vcov_beta, index=names, columns=names)

    def fixef(self) -> pd.DataFrame:
        """Estimates, standard errors, Wald z values and their two-sided p values."""
        se = np.sqrt(np.diag(self.vcov_beta))
        z = self.beta / se
        return pd.DataFrame(
            {
                "Estimate": self.beta,
                "Std. Error": se,
                "z value": z,
                "Pr(>|z|)": 2.0 * special.ndtr(-np.abs(z)),
            },
            index=pd.Index(list(self.design.x_names)),
        )

    def theta_to_sd_cor(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per block: SD vector and correlation matrix of ``T T'``."""
        return theta_to_sd_cor(self.theta, self.design.blocks, 1.0)

    def varcorr(self) -> pd.DataFrame:
        """lme4's ``as.data.frame(VarCorr(fit))`` columns, as :meth:`LmmFit.varcorr` (no
        ``Residual`` row: the family has no residual scale)."""
        rows: list[tuple[str, str, str, str, float]] = []
        for blk, (sd, cor) in zip(self.design.blocks, self.theta_to_sd_cor(), strict=True):
            for t, s in zip(blk.terms, sd, strict=True):
                rows.append((blk.group, t, "", "sd", float(s)))
            for i, j in blk.covariance.cor_pairs(blk.q):
                rows.append((blk.group, blk.terms[i], blk.terms[j], "cor", cor[i, j]))
        df = pd.DataFrame(rows, columns=["group", "var1", "var2", "kind", "Estimate"])
        for c in ("Est.Error", "Q2.5", "Q97.5"):
            df[c] = np.nan
        return df

    def ranef(self, condvar: bool = False) -> dict[str, pd.DataFrame] | tuple[dict, dict]:
        """Conditional modes per grouping factor (levels x terms), as lme4's ``ranef``;
        ``condvar=True``: also their conditional variances (lme4's ``postVar``, the
        diagonal of each level's block), as a second dict of the same shape."""
        modes = self._by_group(dict(self._effects()), None)
        if not condvar:
            return modes
        return modes, self._by_group(self._condvar(), None)

    def coef(self) -> dict[str, pd.DataFrame]:
        """Per level, fixed effects plus the matching random effects (lme4's ``coef``)."""
        beta = {n: np.asarray(v) for n, v in zip(self.design.x_names, self.beta, strict=True)}
        return self._by_group(dict(self._effects()), beta)

    def _effects(self) -> list[tuple[str, np.ndarray]]:
        return [(blk.name, bk) for blk, bk in zip(self.design.blocks, self.b, strict=True)]

    def _by_group(
        self, effects: dict[str, np.ndarray], beta: dict[str, np.ndarray] | None
    ) -> dict[str, pd.DataFrame]:
        return {
            group: pd.DataFrame(cols, index=pd.Index(levels))
            for group, (levels, cols) in columns_by_group(self.design.blocks, effects, beta).items()
        }

    def _condvar(self) -> dict[str, np.ndarray]:
        """``diag(T (A^{-1})_{ll} T')`` per level, ``A = Lambda' Z' W Z Lambda + I`` at the
        modes (W the working weights): the conditional variances of the effects."""
        d = self.design
        res = self._pirls()
        Ts = ThetaLayout.from_blocks(d.blocks).unpack(self.theta)
        sqrtw = np.sqrt(res.weights)
        parts = []
        for blk, T in zip(d.blocks, Ts, strict=True):
            lam = sp.kron(sp.identity(blk.n_levels), sp.csr_matrix(T))
            parts.append(sp.csr_matrix(sp.diags(sqrtw) @ block_matrix(blk) @ lam))
        ZL = sp.hstack(parts, format="csc")
        A = sp.csc_matrix(ZL.T @ ZL + sp.identity(ZL.shape[1]))
        lu = sp.linalg.splu(A)
        out, pos = {}, 0
        for blk, T in zip(d.blocks, Ts, strict=True):
            out[blk.name] = self._condvar_block(lu, A.shape[0], pos, blk.n_levels, blk.q, T)
            pos += blk.n_levels * blk.q
        return out

    @staticmethod
    def _condvar_block(
        lu: sp.linalg.SuperLU, size: int, pos: int, m: int, q: int, T: np.ndarray
    ) -> np.ndarray:
        """Per level the diagonal of ``T C_l T'``, ``C_l`` the level's q x q block of A^{-1}."""
        C = np.empty((m, q, q))
        for j in range(q):
            e = np.zeros((size, m))
            e[pos + np.arange(m) * q + j, np.arange(m)] = 1.0
            sol = lu.solve(e)
            for i in range(q):
                C[:, i, j] = sol[pos + np.arange(m) * q + i, np.arange(m)]
        V = np.einsum("ab,lbc,dc->lad", T, C, T)
        return np.asarray(np.diagonal(V, axis1=1, axis2=2))

    def _pirls(self) -> PirlsResult:
        if self.pirls_result is not None:
            return self.pirls_result
        data = GlmmData.from_design(self.design, self.family, self.information)
        Ts = ThetaLayout.from_blocks(self.design.blocks).unpack(self.theta)
        return pirls(data, self.theta, self.params, Ts, beta=self.beta, u0=list(self.u))

    def simulate(self, n: int = 1, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """``n`` new responses (n, n_obs) from the estimates, as lme4's ``simulate`` with
        ``use.u = FALSE``: new effects ``b ~ N(0, T T')`` per level, then ``y | b`` from
        the family (binomial: successes out of the same trials)."""
        rng = np.random.default_rng(seed)
        d = self.design
        Ts = ThetaLayout.from_blocks(d.blocks).unpack(self.theta)
        eta0 = np.asarray(d.X, float) @ self.beta
        if d.offset is not None:
            eta0 = eta0 + d.offset
        params = {k: np.full(n, v) for k, v in self.params.items()}
        eta = np.broadcast_to(eta0, (n, d.n_obs)).copy()
        for blk, T in zip(d.blocks, Ts, strict=True):
            u = rng.standard_normal((n, blk.n_levels, blk.q))
            eta += block_term(np.asarray(blk.Z, float), blk.codes, u @ T.T)
        return np.asarray(self.family.draw(rng, self.family.linkinv_np(eta), params, d.trials))

    # ----- predictions -----------------------------------------------------------------
    def fitted(self, kind: str = "response") -> np.ndarray:
        """Conditional fitted values on the ``"link"`` or ``"response"`` (mean) scale."""
        return self.predict(None, kind=kind, re=True)

    def predict(
        self, newdata: pd.DataFrame | None = None, kind: str = "link", re: bool = True
    ) -> np.ndarray:
        """Predictions as lme4's ``predict.merMod``: ``kind="link"`` (the linear predictor)
        or ``"response"`` (the mean ``mu``, a probability for binomial models); ``re=False``
        is the population level (``re.form = NA``; no grouping columns needed in
        ``newdata``). Levels not seen in the fit get no random effect (the population
        value), as lme4's ``allow.new.levels = TRUE``."""
        if kind not in ("link", "response"):
            from ..errors import ArgumentError

            raise ArgumentError(f"kind must be 'link' or 'response', got {kind!r}")
        d = self.design
        effects = dict(self._effects())
        if newdata is None:
            eta = np.asarray(d.X, float) @ self.beta
            if d.offset is not None:
                eta = eta + d.offset
            if re:
                for blk in d.blocks:
                    eta = eta + block_term(np.asarray(blk.Z, float), blk.codes, effects[blk.name])
        else:
            new = d.transform(newdata, random=re)
            eta = np.asarray(new.X, float) @ self.beta
            if new.offset is not None:
                eta = eta + new.offset
            if re:
                for blk in d.blocks:
                    codes, z = new.codes[blk.name], np.asarray(new.Z[blk.name], float)
                    r = np.vstack([effects[blk.name], np.zeros((1, blk.q))])  # code -1: zero
                    eta = eta + block_term(z, np.where(codes < 0, blk.n_levels, codes), r)
        return eta if kind == "link" else self.family.linkinv_np(eta)

    # ----- printing ------------------------------------------------------------------
    def _re_lines(self) -> list[str]:
        cells = []
        order = sorted(
            range(len(self.design.blocks)), key=lambda k: -self.design.blocks[k].n_levels
        )
        sdcor = self.theta_to_sd_cor()
        any_cor = any(b.covariance.cor_pairs(b.q) for b in self.design.blocks)
        for k in order:
            blk = self.design.blocks[k]
            sd, cor = sdcor[k]
            for i, t in enumerate(blk.terms):
                cs = ""
                if blk.covariance.correlated and i > 0:
                    cs = " ".join(f"{cor[i, j]:5.2f}" for j in range(i))
                cells.append((blk.group if i == 0 else "", _lme4_name(t), sd[i], cs))
        gw = max(6, *(len(c[0]) for c in cells))
        nw = max(4, *(len(c[1]) for c in cells))
        sds = np.array([c[2] for c in cells])
        var_s, sd_s = _rformat(sds**2), _rformat(sds)
        vw, sw = max(8, *map(len, var_s)), max(7, *map(len, sd_s))
        head = f" {'Groups':<{gw}} {'Name':<{nw}} {'Variance':<{vw}} {'Std.Dev.':<{sw}}"
        lines = [(head + (" Corr" if any_cor else "")).rstrip()]
        for (g, nm, _, cs), v, sdv in zip(cells, var_s, sd_s, strict=True):
            line = f" {g:<{gw}} {nm:<{nw}} {v:<{vw}} {sdv:<{sw}}"
            lines.append((line + (" " + cs if cs else "")).rstrip())
        return lines

    def __str__(self) -> str:
        d, fam = self.design, self.family
        approx = (  # lme4's methTitle, nAGQ = 0 included
            "Laplace Approximation"
            if self.nagq == 1
            else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nagq}"
        )
        out = [f"Generalized linear mixed model fit by maximum likelihood ({approx}) ['glmerMod']"]
        extra = "".join(f"({v:.4g})" for v in self.params.values())
        out.append(f" Family: {fam.name}{extra}  ( {fam.link} )")
        out.append(f"Formula: {d.formula.formula}")
        if self.data_name:
            out.append(f"   Data: {self.data_name}")
        out.append("")
        out.append(f"{'AIC':>9}{'BIC':>9}{'logLik':>9}{'deviance':>9}{'df.resid':>9}")
        out.append(
            f"{self.aic:>9.1f}{self.bic:>9.1f}{self.loglik:>9.1f}"
            f"{self.deviance:>9.1f}{self.n_obs - self.n_params:>9d}"
        )
        out.append("")
        res = self._pirls()
        with np.errstate(divide="ignore", invalid="ignore"):
            pearson = (GlmmData.from_design(d, fam).ywork - res.mu) * np.sqrt(
                GlmmData.from_design(d, fam).weights / fam.variance(res.mu, self.params)
            )
        q = np.quantile(pearson[np.isfinite(pearson)], [0, 0.25, 0.5, 0.75, 1])
        out.append("Scaled residuals:")
        out.append("".join(f"{h:>9}" for h in ("Min", "1Q", "Median", "3Q", "Max")))
        out.append("".join(f"{v:>9.4f}" for v in q))
        out.append("")
        out.append("Random effects:")
        out.extend(self._re_lines())
        groups = "; ".join(
            f"{b.group}, {b.n_levels}" for b in sorted(d.blocks, key=lambda b: -b.n_levels)
        )
        out.append(f"Number of obs: {self.n_obs}, groups:  {groups}")
        out.append("")
        out.append("Fixed effects:")
        fe = self.fixef()
        table = pd.DataFrame(
            {c: _rformat(fe[c].to_numpy()) for c in ("Estimate", "Std. Error", "z value")},
            index=pd.Index([_lme4_name(str(i)) for i in fe.index]),
        )
        table["Pr(>|z|)"] = [_pformat(p) for p in fe["Pr(>|z|)"]]
        table[""] = [_stars(p) for p in fe["Pr(>|z|)"]]
        out.append(table.to_string())
        out.append("---")
        out.append("Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1")
        if self.is_singular():
            out.append("optimizer: boundary (singular) fit: see help('isSingular')")
        if not self.converged:
            out.append(f"\nWarning: optimizer did not converge ({self.message})")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        """A notebook's view: glmer's printout, preformatted."""
        return f"<pre>{html.escape(str(self))}</pre>"

    def __repr__(self) -> str:
        return (
            f"<GlmmFit {self.family.name}({self.family.link}) nAGQ={self.nagq} "
            f"{self.design.formula.formula!r} deviance={self.criterion:.4f}>"
        )


def _pformat(p: float) -> str:
    """R's ``format.pval`` with 3 significant digits and ``< 2e-16``."""
    if p < 2e-16:
        return "< 2e-16"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}".replace("e-0", "e-")


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""
