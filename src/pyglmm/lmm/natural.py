"""Natural parameters of a mixed-model point fit, in lme4's ``confint``/``profile`` order.

A fit is parameterised internally by the relative covariance factors ``T_k`` (``theta``, see
:mod:`pyglmm.lmm.profiled`), the residual SD ``sigma`` (families with a scale) and the fixed
effects ``beta``. The *natural* parameters are what lme4's ``profile``/``confint`` report
(``oldNames = FALSE``)::

    for each random-effect block k, in lme4's block order (decreasing number of levels,
    ties in formula order), walking T_k's free entries (i, j) in theta order
    (column-major lower triangle):
        i == j  ->  sd_<term_i>|<group>            = s sqrt((T_k T_k')_ii)
        i != j  ->  cor_<term_i>.<term_j>|<group>  = (T_k T_k')_ij / sqrt((T T')_ii (T T')_jj)
    sigma                                            (only when the family has a scale)
    the fixed effects, named as lme4 does ("(Intercept)", "Days", ...)

with ``s = sigma`` for the gaussian LMM (``Cov(b_k) = sigma^2 T_k T_k'``) and ``s = 1`` for
families without a scale. The inverse map builds ``Sigma_k = D C D`` from the SDs ``D`` and
correlations ``C`` and takes ``T_k = chol(Sigma_k) / s``; a semi-definite ``Sigma_k`` (an SD of
0, a correlation of +-1) has a Cholesky factor with zero pivots, which is still a valid ``T_k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..design import REBlock


def lme4_name(name: str) -> str:
    """lme4's spelling of a fixed-effect or random-term name (``Intercept`` -> ``(Intercept)``)."""
    return "(Intercept)" if name == "Intercept" else name


def lme4_block_order(blocks: tuple[REBlock, ...]) -> list[int]:
    """Indices of ``blocks`` in lme4's order: decreasing number of levels, stable."""
    return sorted(range(len(blocks)), key=lambda k: -blocks[k].n_levels)


def chol_psd(S: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Lower Cholesky factor of a positive *semi*-definite matrix (zero pivots allowed).

    Column by column, ``L_jj = sqrt(S_jj - sum_k L_jk^2)``; a pivot within ``tol * max S_ii``
    of 0 gives a zero column below it. Raises ``ValueError`` for an indefinite matrix.
    """
    q = S.shape[0]
    L = np.zeros_like(S, dtype=float)
    scale = max(float(np.max(np.abs(np.diag(S)))), 1e-300)
    for j in range(q):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        if d < -tol * scale * 1e3:
            raise ValueError("the covariance matrix is not positive semi-definite")
        if d <= tol * scale:
            continue
        L[j, j] = np.sqrt(d)
        L[j + 1 :, j] = (S[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L


@dataclass(frozen=True)
class NaturalLayout:
    """Names, kinds and bounds of the natural parameters of a design (see module docstring).

    ``entries[i]`` is ``(block, row, col)`` for the variance parameters (``block`` indexes
    the design's blocks), ``kinds[i]`` one of ``"sd"``, ``"cor"``, ``"sigma"``, ``"beta"``.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    entries: tuple[tuple[int, int, int], ...]
    blocks: tuple[REBlock, ...]
    has_sigma: bool
    n_beta: int

    @classmethod
    def from_blocks(
        cls, blocks: tuple[REBlock, ...], x_names: tuple[str, ...], has_sigma: bool = True
    ) -> NaturalLayout:
        names, kinds, entries = [], [], []
        for k in lme4_block_order(blocks):
            blk = blocks[k]
            terms = [lme4_name(t) for t in blk.terms]
            rows, cols = blk.covariance.theta_index(blk.q)
            first = np.unique(blk.covariance.theta_map(blk.q), return_index=True)[1]
            for r, c in zip(rows[first], cols[first], strict=True):  # one entry per parameter
                if blk.is_smooth:
                    names.append(f"sds_{blk.name}")
                    kinds.append("sd")
                elif r == c:
                    names.append(f"sd_{terms[r]}|{blk.group}")
                    kinds.append("sd")
                else:
                    names.append(f"cor_{terms[r]}.{terms[c]}|{blk.group}")
                    kinds.append("cor")
                entries.append((k, int(r), int(c)))
        if has_sigma:
            names.append("sigma")
            kinds.append("sigma")
        names += [lme4_name(x) for x in x_names]
        kinds += ["beta"] * len(x_names)
        return cls(tuple(names), tuple(kinds), tuple(entries), blocks, has_sigma, len(x_names))

    @property
    def n_variance(self) -> int:
        """Number of variance parameters (SDs, correlations and sigma): lme4's ``nvp``."""
        return len(self.names) - self.n_beta

    def lower(self) -> np.ndarray:
        lo = {"sd": 0.0, "cor": -1.0, "sigma": 0.0, "beta": -np.inf}
        return np.array([lo[k] for k in self.kinds])

    def upper(self) -> np.ndarray:
        up = {"sd": np.inf, "cor": 1.0, "sigma": np.inf, "beta": np.inf}
        return np.array([up[k] for k in self.kinds])

    # ----- conversions ---------------------------------------------------------------
    def from_theta(self, theta: np.ndarray, sigma: float | None, beta: np.ndarray) -> np.ndarray:
        """Natural parameter vector of ``(theta, sigma, beta)``."""
        from .profiled import ThetaLayout

        s = 1.0 if sigma is None else float(sigma)
        Ts = ThetaLayout.from_blocks(self.blocks).unpack(np.asarray(theta, dtype=float))
        covs = [s**2 * (T @ T.T) for T in Ts]
        out = []
        for k, r, c in self.entries:
            cov = covs[k]
            if r == c:
                out.append(np.sqrt(cov[r, r]))
            else:
                den = np.sqrt(cov[r, r] * cov[c, c])
                out.append(cov[r, c] / den if den > 0 else 0.0)
        if self.has_sigma:
            out.append(s)
        return np.concatenate([np.asarray(out, dtype=float), np.asarray(beta, dtype=float)])

    def to_theta(self, values: np.ndarray) -> tuple[np.ndarray, float | None, np.ndarray]:
        """``(theta, sigma, beta)`` of a natural parameter vector (``ValueError`` when the
        SDs and correlations do not make a positive semi-definite covariance matrix)."""
        from .profiled import ThetaLayout

        v = np.asarray(values, dtype=float)
        nv = self.n_variance
        sigma = float(v[nv - 1]) if self.has_sigma else None
        s = 1.0 if sigma is None else sigma
        sds = [np.zeros(b.q) for b in self.blocks]
        cors = [np.eye(b.q) for b in self.blocks]
        for i, (k, r, c) in enumerate(self.entries):
            if r == c:
                sds[k][r] = v[i]
            else:
                cors[k][r, c] = cors[k][c, r] = v[i]
        for k, blk in enumerate(self.blocks):
            if blk.is_smooth:  # one SD for every column
                sds[k][:] = sds[k][0]
        layout = ThetaLayout.from_blocks(self.blocks)
        theta = np.zeros(layout.size)
        for k, blk in enumerate(self.blocks):
            S = sds[k][:, None] * cors[k] * sds[k][None, :]
            if s <= 0:
                raise ValueError("sigma must be positive")
            T = chol_psd(S) / s
            rows, cols = blk.covariance.theta_index(blk.q)
            off = layout.offsets[k]
            theta[off + blk.covariance.theta_map(blk.q)] = T[rows, cols]
        return theta, sigma, v[nv:].copy()

    def series(self, values: np.ndarray) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=float), index=pd.Index(self.names))
