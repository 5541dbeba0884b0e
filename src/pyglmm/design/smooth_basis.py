"""The thin plate regression spline (mgcv's ``bs = "tp"``) in its mixed-model form, in numpy.

Basis (Wood 2003, J. R. Statist. Soc. B 65, 95-114; mgcv's ``smooth.construct.tp``), for
``d`` covariates at penalty order ``m`` (the smallest with ``2m > d + 1``):

* the covariates are shifted by their means; the knots are their unique values (a random
  subset of ``max_knots = 2000`` when there are more, as mgcv; mgcv's R seed is not
  reproduced, so such data sets get a different subset);
* ``E[i, j] = eta(|x_i - x_j|)`` over the knots, with ``eta(r) = Gamma(d/2 - m) /
  (2^(2m) pi^(d/2) (m - 1)!) r^(2m - d)`` for odd ``d`` and ``(-1)^(m + 1 + d/2) /
  (2^(2m - 1) pi^(d/2) (m - 1)! (m - d/2)!) r^(2m - d) log r`` for even ``d``; ``T`` holds the
  ``M`` polynomials of degree below ``m``;
* ``E = U D U'``; keep the ``k`` eigenvalues of largest magnitude, ``U_k``, ``D_k``; the
  constraint ``T' U_k delta = 0`` is absorbed by ``Z`` (the last ``k - M`` columns of the Q of
  the QR factorization of ``U_k' T``);
* a point ``x`` has basis row ``[e(x)' U_k Z, t(x)]`` (``e(x)_j = eta(|x - knot_j|)``), and the
  penalty is ``S = blockdiag(Z' D_k Z, 0)``; as mgcv's ``tprs_setup``, each column is then
  divided by its root mean square ``w_j`` over the data rows (``X -> X W``, ``S -> W S W``),
  and ``S`` is scaled as ``smoothCon`` does (``S / (||S||_1 / ||X||_inf^2)``).

Identifiability (mgcv's ``absorb.cons``): the sum-to-zero constraint ``C = colMeans(X)`` over
the data rows is absorbed by the last ``k - 1`` columns ``Q_2`` of the Householder Q of ``C'``:
``X_c = X Q_2``, ``S_c = Q_2' S Q_2``.

Mixed-model form (mgcv's ``smooth2random``): ``S_c = V diag(lambda) V'`` with the eigenvalues
decreasing; the first ``rank = k - M`` columns give the penalized (random) part
``Z_r = X_c V_+ diag(lambda_+)^(-1/2)``, whose coefficients are iid ``N(0, sds^2)``, the rest
the unpenalized (fixed) part ``X_f = X_c V_0`` (for one covariate the centred linear term; its
sign is chosen so that the column increases with the first covariate, mgcv leaves it to
LAPACK). A smooth ``by`` a factor multiplies every row by the indicator of the level (one
smooth per level, all with the constraint computed from every row, as mgcv's ``smoothCon``).

New data get ``[Z_r, X_f]`` from the same knots, ``U_k Z``, ``Q_2`` and ``V``
(:meth:`TprsSmooth.columns`), so predictions and effect plots evaluate the fitted smooth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np

MAX_KNOTS = 2000


def tps_eta(r: np.ndarray, m: int, d: int) -> np.ndarray:
    """The thin plate spline's radial function ``eta_{m,d}(r)`` (module docstring)."""
    r = np.asarray(r, dtype=float)
    if d % 2:
        c = math.gamma(d / 2 - m) / (2 ** (2 * m) * math.pi ** (d / 2) * math.factorial(m - 1))
        return c * r ** (2 * m - d)
    c = (-1) ** (m + 1 + d // 2) / (
        2 ** (2 * m - 1) * math.pi ** (d / 2) * math.factorial(m - 1) * math.factorial(m - d // 2)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c * r ** (2 * m - d) * np.log(r)
    return np.where(r > 0, out, 0.0)


def polynomial_powers(d: int, m: int) -> np.ndarray:
    """The exponents (M, d) of the monomials of total degree below ``m``, by degree."""
    powers = [p for p in product(range(m), repeat=d) if sum(p) < m]
    powers.sort(key=lambda p: (sum(p), tuple(-v for v in p)))
    return np.asarray(powers, dtype=int).reshape(-1, d)


def _poly(x: np.ndarray, powers: np.ndarray) -> np.ndarray:
    return np.prod(x[:, None, :] ** powers[None, :, :], axis=2)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum((a[:, None, :] - b[None, :, :]) ** 2, axis=2))


@dataclass(frozen=True, eq=False)
class TprsBasis:
    """The unconstrained thin plate regression spline of ``d`` covariates (module docstring):
    ``shift`` (d,), ``knots`` (nk, d) shifted, ``UZ`` (nk, k - M), ``powers`` (M, d), the
    order ``m``, the columns' divisors ``w`` (k,) and the scaled penalty ``S`` (k, k) over
    ``[e' U_k Z, t] / w``."""

    shift: np.ndarray
    knots: np.ndarray
    UZ: np.ndarray
    powers: np.ndarray
    m: int
    w: np.ndarray
    S: np.ndarray

    @property
    def k(self) -> int:
        return self.UZ.shape[1] + self.powers.shape[0]

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The basis rows (n, k) at the points ``x`` (n, d), unshifted."""
        xs = np.asarray(x, dtype=float).reshape(len(x), -1) - self.shift
        d = xs.shape[1]
        out = np.empty((xs.shape[0], self.k))
        step = max(1, 2_000_000 // max(len(self.knots), 1))
        for a in range(0, xs.shape[0], step):  # rows in chunks: E is rows x knots
            e = tps_eta(_distances(xs[a : a + step], self.knots), self.m, d)
            out[a : a + step, : self.UZ.shape[1]] = e @ self.UZ
        out[:, self.UZ.shape[1] :] = _poly(xs, self.powers)
        return out / self.w


def tprs_basis(
    x: np.ndarray, k: int, max_knots: int = MAX_KNOTS, seed: int = 1
) -> tuple[TprsBasis, np.ndarray]:
    """The basis of the points ``x`` (n, d) with dimension ``k`` and its rows at ``x`` (n, k);
    ``ValueError`` when ``x`` has fewer than ``k`` unique points."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    d = x.shape[1]
    m = (d + 1) // 2 + 1
    shift = x.mean(axis=0)
    xs = x - shift
    knots = np.unique(xs, axis=0)
    if len(knots) > max_knots:
        pick = np.random.default_rng(seed).choice(len(knots), max_knots, replace=False)
        knots = knots[np.sort(pick)]
    if len(knots) < k:
        raise ValueError(
            f"it has {len(knots)} unique covariate values, fewer than the basis dimension "
            f"k = {k}; set a smaller k"
        )
    powers = polynomial_powers(d, m)
    M = len(powers)
    E = tps_eta(_distances(knots, knots), m, d)
    values, vectors = np.linalg.eigh(E)
    top = np.argsort(-np.abs(values), kind="stable")[:k]
    U, D = vectors[:, top], values[top]
    T = _poly(knots, powers)
    Q, _ = np.linalg.qr(U.T @ T, mode="complete")
    Zc = Q[:, M:]
    unscaled = TprsBasis(shift, knots, U @ Zc, powers, m, np.ones(k), np.zeros((k, k)))
    X = unscaled.raw(x)
    w = np.sqrt(np.mean(X**2, axis=0))
    w[w == 0] = 1.0
    X = X / w
    S = np.zeros((k, k))
    S[: k - M, : k - M] = Zc.T @ (D[:, None] * Zc)
    S = (S + S.T) / 2 / np.outer(w, w)
    scale = np.abs(S).sum(axis=0).max() / np.abs(X).sum(axis=1).max() ** 2  # smoothCon's
    return TprsBasis(shift, knots, U @ Zc, powers, m, w, S / scale), X


@dataclass(frozen=True, eq=False)
class TprsSmooth:
    """A constrained thin plate smooth in its mixed-model form (module docstring):
    ``basis``, ``Q2`` (k, k - 1) absorbing the centering constraint, ``V`` (k - 1, k - 1) the
    eigenvectors of the constrained penalty and ``scale`` (k - 1,) the factors of its columns
    (``lambda^(-1/2)`` for the ``rank`` penalized ones, 1 for the others); ``rank`` the
    number of penalized columns; ``covariates`` the data columns."""

    basis: TprsBasis
    Q2: np.ndarray
    V: np.ndarray
    scale: np.ndarray
    rank: int
    covariates: tuple[str, ...]

    def columns(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Z_r, X_f)``: the random (n, rank) and fixed (n, k - 1 - rank) columns at ``x``."""
        mixed = (self.basis.raw(x) @ self.Q2 @ self.V) * self.scale
        return mixed[:, : self.rank], mixed[:, self.rank :]

    @property
    def n_fixed(self) -> int:
        return self.V.shape[1] - self.rank


def tprs_smooth(x: np.ndarray, k: int, covariates: tuple[str, ...]) -> TprsSmooth:
    """The :class:`TprsSmooth` of the data ``x`` (n, d) (``ValueError``: too few unique
    values for ``k``)."""
    x = np.asarray(x, dtype=float).reshape(len(x), -1)
    basis, X = tprs_basis(x, k)
    C = X.mean(axis=0)[:, None]
    Q, _ = np.linalg.qr(C, mode="complete")
    Q2 = Q[:, 1:]
    Sc = Q2.T @ basis.S @ Q2
    Sc = (Sc + Sc.T) / 2
    values, vectors = np.linalg.eigh(Sc)
    order = np.argsort(-values, kind="stable")
    values, vectors = values[order], vectors[:, order]
    rank = k - basis.powers.shape[0]
    if values[rank - 1] <= values[0] * 1e-12:
        raise ValueError("the constrained penalty has lower rank than expected (collinear data)")
    scale = np.ones(k - 1)
    scale[:rank] = 1.0 / np.sqrt(values[:rank])
    smooth = TprsSmooth(basis, Q2, vectors, scale, rank, covariates)
    _, fixed = smooth.columns(x)
    signs = np.where(np.sum(fixed * (x[:, :1] - x[:, :1].mean()), axis=0) < 0, -1.0, 1.0)
    V = vectors.copy()
    V[:, rank:] *= signs
    return TprsSmooth(basis, Q2, V, scale, rank, covariates)
