"""Known covariances among the levels of a grouping factor (brms's ``gr(g, cov = A)`` and
``gr(a:b, cov = kron(U, V))``), checked and factorized once.

A block with a known level covariance ``K`` (levels x levels) has effects ``r`` (levels x q)
with ``vec(r) ~ N(0, Sigma (x) K)``: the effects of one term are ``N(0, Sigma_jj K)`` across
levels, ``Sigma`` the block's covariance across terms. With ``K = L_K L_K'`` and
``Sigma = Lambda Lambda'`` the non-centered form is

    r = L_K Z Lambda',    Z ~ N(0, I)   (levels x q)

**gr(g, cov = A).** ``K = A`` restricted to the levels of ``g`` in the data, in the block's
level order. ``A`` is a DataFrame labelled by level (index = columns, in the same order) or a
numpy array; an unlabelled array must have one row per level of ``g`` in the data, in the
block's (sorted) level order. As brms does, every level in the data must be in ``A`` (a
:class:`~pyglmm.errors.DesignError` names the missing ones) and levels of ``A`` absent from the
data are dropped (``A[levels, levels]``: the marginal covariance of the observed levels is that
sub-matrix, so nothing is lost for them). ``A`` must be square, finite, symmetric and positive
definite.

**gr(a:b, cov = kron(U, V)).** The block's levels are every combination of the levels of ``a``
(U's) and ``b`` (V's) in the data, ``a``-major: level ``(i, j)`` is row ``i * n_V + j``, also
the combinations that no row has (their effects are drawn from the prior's correlation with
the others). ``cov((i, j), (k, l)) = U[i, k] V[j, l]``, so ``K = np.kron(U, V)``, never formed:
with ``Z`` reshaped to ``n_U x n_V`` (per term), ``(L_U (x) L_V) vec(Z) = vec(L_U Z L_V')``
(row-major ``vec``), two products of ``n_U n_V (n_U + n_V)`` operations and ``n_U^2 + n_V^2``
numbers of storage (a 500 x 500 by 200 x 200 case holds 290,000 numbers, not 10^10).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError
from .terms import level_names

# relative tolerance of the symmetry check (|A - A'| <= tol * max |A|)
SYMMETRY_TOLERANCE = 1e-8


@dataclass(frozen=True, eq=False)
class LevelCovariance:
    """A block's known covariance among levels: ``K = A`` (one factor) or ``U (x) V`` (two).

    ``names``: the ``data2`` names (``("A",)`` or ``("U", "V")``); ``factors``: the lower
    Cholesky factors (``L_A``,) or (``L_U``, ``L_V``) in the block's level order; ``levels``:
    the level names of each factor.
    """

    names: tuple[str, ...]
    factors: tuple[np.ndarray, ...]
    levels: tuple[tuple[str, ...], ...]

    @property
    def is_kron(self) -> bool:
        return len(self.factors) == 2

    @property
    def size(self) -> int:
        """The number of levels ``K`` covers (``n_U n_V`` for a Kronecker product)."""
        return int(np.prod([f.shape[0] for f in self.factors]))

    def left_multiply(self, z: Any, tensordot: Callable[..., Any] = np.tensordot) -> Any:
        """``L_K z`` for ``z`` (levels x q), numpy or PyTensor (pass ``pt.tensordot``):
        ``L_A z``, or per term ``L_U Z L_V'`` with ``Z`` the term's column as n_U x n_V."""
        if not self.is_kron:
            return tensordot(self.factors[0], z, axes=[[1], [0]])
        lu, lv = self.factors
        nu, nv = lu.shape[0], lv.shape[0]
        grid = z.reshape((nu, nv, -1))  # Z[a, b, term]
        left = tensordot(lu, grid, axes=[[1], [0]])  # (L_U Z)[i, b, term]
        both = tensordot(left, lv, axes=[[1], [1]])  # [i, term, j] = (L_U Z L_V')[i, j]
        return both.transpose((0, 2, 1)).reshape((nu * nv, -1))

    def solve_left(self, r: np.ndarray) -> np.ndarray:
        """``L_K^-1 r`` (numpy): the standardized effects of ``r`` (levels x q)."""
        from scipy.linalg import solve_triangular

        if not self.is_kron:
            return solve_triangular(self.factors[0], r, lower=True)
        lu, lv = self.factors
        nu, nv = lu.shape[0], lv.shape[0]
        grid = np.asarray(r, dtype=float).reshape(nu, nv, -1)
        left = solve_triangular(lu, grid.reshape(nu, -1), lower=True).reshape(nu, nv, -1)
        out = solve_triangular(lv, left.transpose(1, 0, 2).reshape(nv, -1), lower=True)
        return out.reshape(nv, nu, -1).transpose(1, 0, 2).reshape(nu * nv, -1)

    def dense(self) -> np.ndarray:
        """``K`` itself (levels x levels); for checks on small cases only."""
        mats = [f @ f.T for f in self.factors]
        return mats[0] if len(mats) == 1 else np.kron(mats[0], mats[1])


def lookup(data2: Mapping[str, Any] | None, name: str, where: str) -> Any:
    """``data2[name]``, or a :class:`DesignError` naming ``name`` and what ``data2`` holds."""
    if data2 is None or name not in data2:
        given = sorted(map(str, data2)) if data2 else []
        raise DesignError(
            f"{where}: cov = {name!r} names no matrix in data2 "
            f"(data2 holds {given if given else 'nothing'}; pass Model(..., data2={{{name!r}: A}}))"
        )
    return data2[name]


def factor_matrix(matrix: Any, name: str, levels: Sequence[str], group: str) -> np.ndarray:
    """The Cholesky factor of ``matrix`` restricted to ``levels`` (in that order), after the
    checks of the module docstring (:class:`DesignError` naming ``name`` and the levels)."""
    try:
        values = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        raise DesignError(
            f"covariance matrix {name!r} must be a numeric numpy array or DataFrame"
        ) from None
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise DesignError(f"covariance matrix {name!r} must be square, got shape {values.shape}")
    rows = None
    if isinstance(matrix, pd.DataFrame):
        rows = level_names(matrix.index.to_numpy())
        if rows != level_names(matrix.columns.to_numpy()):
            raise DesignError(
                f"covariance matrix {name!r}: its index and columns must name the same levels "
                "in the same order"
            )
    if len(set(rows or ())) != len(rows or ()):
        raise DesignError(f"covariance matrix {name!r} names a level twice")
    if not np.all(np.isfinite(values)):
        raise DesignError(f"covariance matrix {name!r} has non-finite values")
    scale = max(float(np.max(np.abs(values))), np.finfo(float).tiny)
    if np.max(np.abs(values - values.T)) > SYMMETRY_TOLERANCE * scale:
        raise DesignError(f"covariance matrix {name!r} is not symmetric")
    levels = list(levels)
    if rows is None:
        if values.shape[0] != len(levels):
            raise DesignError(
                f"covariance matrix {name!r} is an unlabelled array of {values.shape[0]} rows, "
                f"but {group!r} has {len(levels)} levels in the data; pass a DataFrame whose "
                "index and columns name the levels (an unlabelled array is taken in the "
                "sorted order of the levels in the data)"
            )
        sub = values
    else:
        pos = pd.Index(rows).get_indexer(pd.Index(levels))
        missing = [lv for lv, p in zip(levels, pos, strict=True) if p < 0]
        if missing:
            shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
            raise DesignError(
                f"covariance matrix {name!r} lacks {len(missing)} level(s) of {group!r} that "
                f"the data have: {shown} (as brms, every level in the data must be in it)"
            )
        sub = values[np.ix_(pos, pos)]
    try:
        return np.linalg.cholesky(sub)
    except np.linalg.LinAlgError:
        low = float(np.linalg.eigvalsh(sub)[0])
        raise DesignError(
            f"covariance matrix {name!r} (over the levels of {group!r} in the data) is not "
            f"positive definite (smallest eigenvalue {low:.3g})"
        ) from None


def known_covariance(
    names: tuple[str, ...],
    data2: Mapping[str, Any] | None,
    levels: tuple[Sequence[str], ...],
    groups: tuple[str, ...],
    where: str,
) -> LevelCovariance:
    """The :class:`LevelCovariance` of ``cov = A`` (one name, ``levels`` of the group) or
    ``cov = kron(U, V)`` (two names, the levels of ``a`` and of ``b``)."""
    factors = tuple(
        factor_matrix(lookup(data2, name, where), name, lv, group)
        for name, lv, group in zip(names, levels, groups, strict=True)
    )
    return LevelCovariance(names, factors, tuple(tuple(lv) for lv in levels))


def conditional_levels(
    matrix: Any, cov: LevelCovariance, wanted: Sequence[str]
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The levels of ``wanted`` that a labelled ``matrix`` (the full ``A`` of ``gr(g, cov =
    A)``) holds beyond the block's own, with what their effects' conditional distribution
    given the block's effects needs (brms's prediction of such levels).

    With ``f`` the block's levels and ``u`` the new ones, ``vec(r) ~ N(0, Sigma (x) A)`` gives
    ``r_u | r_f ~ N(W r_f, (A_uu - W A_fu) (x) Sigma)``, ``W = A_uf A_ff^-1``. Returns (the
    new levels found, ``W`` (u x f), the lower Cholesky factor of ``A_uu - W A_fu``); no
    levels (and empty arrays) for an unlabelled matrix or a Kronecker block.
    """
    if cov.is_kron or not isinstance(matrix, pd.DataFrame):
        return [], np.zeros((0, 0)), np.zeros((0, 0))
    labels = pd.Index(level_names(matrix.index.to_numpy()))
    own = set(cov.levels[0])
    new = [lv for lv in dict.fromkeys(wanted) if lv not in own and lv in labels]
    if not new:
        return [], np.zeros((0, 0)), np.zeros((0, 0))
    from scipy.linalg import cho_solve

    values = np.asarray(matrix, dtype=float)
    f = labels.get_indexer(pd.Index(cov.levels[0]))
    u = labels.get_indexer(pd.Index(new))
    a_fu = values[np.ix_(f, u)]
    weights = cho_solve((cov.factors[0], True), a_fu).T  # A_uf A_ff^-1
    schur = values[np.ix_(u, u)] - weights @ a_fu
    scale = max(float(np.max(np.abs(np.diag(schur)))), 1e-300)
    chol = np.linalg.cholesky(schur + CONDITIONAL_JITTER * scale * np.eye(len(new)))
    return new, weights, chol


# relative jitter of the conditional covariance's factorization (a new level that is a
# near-copy of a fitted one has a conditional variance near 0)
CONDITIONAL_JITTER = 1e-10
