"""The covariance kinds of random-effect blocks: one class per kind, one lookup.

A block ``k`` with ``q`` columns has effects ``r_k[level] ~ N(0, Sigma_k)`` per level. Every
kind is parameterized by an SD vector ``sd`` (q,) and, when it has one, a correlation matrix
``C`` (q, q)::

    Sigma = diag(sd) C diag(sd)      (C = I for kinds without a correlation)

* :class:`Correlated` (stored as ``"lkj"``): a multi-column ``(x | g)`` block; ``C`` is free
  (LKJ prior), reported as its upper-triangle pairs.
* :class:`Diagonal` (stored as ``"diag"``): ``(x || g)`` or a single column; ``C = I``.
* :class:`KnownCorrelated` / :class:`KnownDiagonal` (``"gr_lkj"``, ``"gr_diag"``): as the two
  above across terms, with the levels correlated through a known matrix ``K`` (brms's
  ``gr(g, cov = A)``: ``K = A``; ``cov = kron(U, V)``: ``K = U (x) V``), stored on the block
  (:class:`~pyglmm.design.levelcov.LevelCovariance`): ``vec(r) ~ N(0, Sigma (x) K)``.
* :class:`AR1` (``"ar1"``, glmmTMB's ``ar1(0 + time | g)``): one SD and
  ``C[i, j] = rho^|i - j|`` over the columns (the levels of ``time``, unit spaced).
* :class:`Smooth` (``"smooth"``): the penalized part of a smooth term ``s(x)``
  (:mod:`pyglmm.design.smooths`): one level, its columns' coefficients iid ``N(0, sds^2)``
  (one SD shared by every column, prior class ``sds``).
* :class:`CompoundSymmetry` (``"cs"``, glmmTMB's ``cs(x | g)``): an SD per term and one
  correlation, ``C = (1 - rho) I + rho 1 1'`` (positive definite for
  ``-1/(q - 1) < rho < 1``).

:class:`REBlock` stores the kind's ``name`` (saved fits and fingerprints hold these strings)
and returns the kind object from :attr:`REBlock.covariance`; :func:`block_kind` maps a stored
name to its kind. This module is numpy only: the PyMC builders of a kind are registered under
its class in :mod:`pyglmm.compile.blocks`. A new kind is a subclass with a new ``name``
(registered when the class is defined); engines other than PyMC run it only when named in its
``engines`` (``"kernel"``: :mod:`pyglmm.kernel`, ``"marginal"``: :mod:`pyglmm.marginal`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ..errors import DesignError

KINDS: dict[str, BlockKind] = {}
"""Every block kind by its stored name (filled as the classes are defined)."""


# the fast paths a kind can name in ``BlockKind.engines``
KERNEL_ENGINE = "kernel"  # pyglmm.kernel: the compiled-once numba log-density
MARGINAL_ENGINE = "marginal"  # pyglmm.marginal: the block integrated out

# relative diagonal jitter of a numerical Cholesky factorization (see BlockKind.cholesky)
CHOLESKY_JITTER = 1e-12


class BlockKind:
    """The covariance structure of a random-effect block (stateless; one instance per kind).

    Class attributes: ``name`` (stored on disk), ``correlated`` (has a correlation matrix:
    an LKJ ``cor`` prior, ``cor_<block>`` draws, reported pairs), ``engines`` (the fast
    paths besides PyMC that handle the kind; an engine not named falls back to PyMC).
    """

    name: ClassVar[str]
    correlated: ClassVar[bool] = False
    engines: ClassVar[frozenset[str]] = frozenset()
    # a structured kind (known covariance among levels, ar1, cs): sampled by the PyMC model
    # only; model.optimize() and simulation refuse it (DesignError / ArgumentError)
    structured: ClassVar[bool] = False
    # one SD shared by every term (reported once, with one prior: the first term's)
    shared_sd: ClassVar[bool] = False
    # the label of the structure's correlation parameter ("ar1", "cs"); "" for LKJ blocks
    cor_tag: ClassVar[str] = ""
    # the prior class of the correlation: "cor" (LKJ, or cs's scalar rho), "ar" (ar1's rho)
    cor_class: ClassVar[str] = "cor"
    # the penalized part of a smooth term (class "sds", reported under "Smoothing Spline
    # Hyperparameters", kept in predictions without group-level effects, no ranef/coef table)
    smooth: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            if cls.name in KINDS:
                raise TypeError(f"block kind {cls.name!r} is already defined")
            KINDS[cls.name] = cls()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def cor_pairs(self, q: int) -> tuple[tuple[int, int], ...]:
        """The reported correlations ``(j, k)``, ``j < k``, row by row (none if uncorrelated)."""
        if not self.correlated:
            return ()
        return tuple((j, k) for j in range(q) for k in range(j + 1, q))

    def sd_index(self, q: int) -> tuple[int, ...]:
        """The reported SDs (every term's; the first only when they are shared)."""
        return (0,) if self.shared_sd else tuple(range(q))

    def cor_support(self, q: int) -> tuple[float, float] | None:
        """The interval of a scalar structure correlation ``rho`` (ar1, cs), or None for a
        kind whose correlation matrix is free (LKJ) or absent."""
        return None

    def theta_index(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of the free entries of lme4's relative factor ``T`` (q x q, lower
        triangular), in lme4's order; ``Sigma = sigma^2 T T'``."""
        raise NotImplementedError

    def theta_map(self, q: int) -> np.ndarray:
        """The parameter of each entry of :meth:`theta_index` (indices into the block's part of
        ``theta``): each its own, unless the kind shares one among several entries."""
        return np.arange(len(self.theta_index(q)[0]))

    def n_theta(self, q: int) -> int:
        """Number of covariance parameters of the block in :mod:`pyglmm.lmm`."""
        tmap = self.theta_map(q)
        return int(tmap.max()) + 1 if tmap.size else 0

    def matrix(self, sd: np.ndarray, cor: np.ndarray | None = None) -> np.ndarray:
        """``Sigma = diag(sd) C diag(sd)`` (..., q, q) from ``sd`` (..., q) and ``cor``
        (..., q, q; ignored by kinds without a correlation)."""
        raise NotImplementedError

    def cholesky(
        self, sd: np.ndarray, cor: np.ndarray | None = None, jitter: float = CHOLESKY_JITTER
    ) -> np.ndarray:
        """Lower-triangular ``L`` (..., q, q) with ``L L' = Sigma``. A numerical factorization
        first adds ``jitter * max_j sd_j^2`` (per leading index) to the diagonal, so a zero SD
        or a correlation of +-1 still factorizes; a closed-form factor ignores it."""
        raise NotImplementedError


class Correlated(BlockKind):
    """``(x | g)`` with several columns: free correlations, ``Sigma = diag(sd) C diag(sd)``;
    ``T`` is a full lower triangle (``q (q + 1) / 2`` parameters)."""

    name = "lkj"
    correlated = True
    engines = frozenset({KERNEL_ENGINE, MARGINAL_ENGINE})

    def theta_index(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        r, c = np.triu_indices(q)  # column-major lower triangle: (row c, col r)
        return c, r

    def matrix(self, sd: np.ndarray, cor: np.ndarray | None = None) -> np.ndarray:
        if cor is None:
            raise ValueError("a correlated block's covariance needs its correlation matrix")
        sd = np.asarray(sd, dtype=float)
        return sd[..., :, None] * np.asarray(cor, dtype=float) * sd[..., None, :]

    def cholesky(
        self, sd: np.ndarray, cor: np.ndarray | None = None, jitter: float = CHOLESKY_JITTER
    ) -> np.ndarray:
        cov = self.matrix(sd, cor)
        scale = np.maximum(np.max(np.asarray(sd, dtype=float), axis=-1), 1e-300) ** 2
        eye = np.eye(cov.shape[-1])
        return np.linalg.cholesky(cov + (jitter * scale)[..., None, None] * eye)


class Diagonal(BlockKind):
    """``(x || g)`` or one column: independent effects, ``Sigma = diag(sd^2)``; ``T`` is
    diagonal (``q`` parameters)."""

    name = "diag"
    engines = frozenset({KERNEL_ENGINE, MARGINAL_ENGINE})

    def theta_index(self, q: int) -> tuple[np.ndarray, np.ndarray]:
        d = np.arange(q)
        return d, d

    def matrix(self, sd: np.ndarray, cor: np.ndarray | None = None) -> np.ndarray:
        sd = np.asarray(sd, dtype=float)
        return sd[..., :, None] * np.eye(sd.shape[-1]) * sd[..., None, :]

    def cholesky(
        self, sd: np.ndarray, cor: np.ndarray | None = None, jitter: float = CHOLESKY_JITTER
    ) -> np.ndarray:
        sd = np.asarray(sd, dtype=float)
        return sd[..., :, None] * np.eye(sd.shape[-1])


class KnownCorrelated(Correlated):
    """``(x | gr(g, cov = A))``: ``Sigma`` across terms as :class:`Correlated`, the levels
    correlated through the block's known ``K``: ``vec(r) ~ N(0, Sigma (x) K)`` (brms)."""

    name = "gr_lkj"
    engines = frozenset()
    structured = True


class KnownDiagonal(Diagonal):
    """``(1 | gr(g, cov = A))`` or ``(x || gr(g, cov = A))``: independent terms, each with
    effects ``sd_j^2 K`` across levels."""

    name = "gr_diag"
    engines = frozenset()
    structured = True


class AR1(Correlated):
    """glmmTMB's ``ar1(0 + time | g)``: per level of ``g`` the effects over the (unit spaced)
    levels of ``time`` have covariance ``sd^2 rho^|i - j|``: one SD, one correlation
    ``rho`` in (-1, 1) (prior class ``ar``). Its Cholesky factor has a closed form:
    ``L[i, 0] = rho^i``, ``L[i, j] = rho^(i - j) sqrt(1 - rho^2)`` for ``1 <= j <= i``."""

    name = "ar1"
    engines = frozenset()
    structured = True
    shared_sd = True
    cor_tag = "ar1"
    cor_class = "ar"

    def cor_pairs(self, q: int) -> tuple[tuple[int, int], ...]:
        return ((0, 1),)  # rho itself: cor(term 1, term 2)

    def cor_support(self, q: int) -> tuple[float, float] | None:
        return (-1.0, 1.0)

    @staticmethod
    def correlation(rho: float, q: int) -> np.ndarray:
        """``C[i, j] = rho^|i - j|`` (q x q)."""
        lag = np.abs(np.subtract.outer(np.arange(q), np.arange(q)))
        return np.asarray(rho, dtype=float) ** lag


class CompoundSymmetry(Correlated):
    """glmmTMB's ``cs(x | g)`` (heterogeneous compound symmetry): an SD per term and one
    correlation ``rho`` between every pair, ``C = (1 - rho) I + rho 1 1'``, positive definite
    for ``-1/(q - 1) < rho < 1`` (prior class ``cor``, a scalar prior on that interval)."""

    name = "cs"
    engines = frozenset()
    structured = True
    cor_tag = "cs"

    def cor_pairs(self, q: int) -> tuple[tuple[int, int], ...]:
        return ((0, 1),)

    def cor_support(self, q: int) -> tuple[float, float] | None:
        return (-1.0 / (q - 1), 1.0)

    @staticmethod
    def correlation(rho: float, q: int) -> np.ndarray:
        """``(1 - rho) I + rho 1 1'`` (q x q)."""
        return (1.0 - rho) * np.eye(q) + rho * np.ones((q, q))


class Smooth(Diagonal):
    """The penalized part of a smooth term (brms's ``s(x)`` via mgcv's ``smooth2random``):
    one level, ``r ~ N(0, sds^2 I)`` over its columns, one SD (prior class ``sds``). lme4's
    ``T`` is ``theta I`` (one parameter shared by the diagonal, :meth:`theta_map`)."""

    name = "smooth"
    engines = frozenset()
    shared_sd = True
    smooth = True

    def theta_map(self, q: int) -> np.ndarray:
        return np.zeros(q, dtype=int)


def block_kind(name: str) -> BlockKind:
    """The kind stored as ``name``; :class:`DesignError` naming the known kinds if none."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise DesignError(
            f"unknown random-effect block kind {name!r}; known kinds: {sorted(KINDS)}"
        ) from None


def kind_for(correlated: bool, q: int, structure: str = "", known: bool = False) -> BlockKind:
    """The kind of a random term with ``q`` columns: :class:`Correlated` for a ``|`` term
    with several columns, else :class:`Diagonal`; glmmTMB's ``structure`` (``"us"``: the
    same, ``"diag"``: :class:`Diagonal`, ``"ar1"``, ``"cs"``: their kinds, which need
    ``q >= 2``); ``known`` (``gr(g, cov = ...)``): the ``Known*`` twin of the kind."""
    if structure in ("ar1", "cs"):
        if known:
            raise DesignError(f"{structure}() cannot be combined with gr(..., cov = ...)")
        if q < 2:
            raise DesignError(
                f"{structure}() needs at least two columns (the levels of a factor, e.g. "
                f"{structure}(0 + time | g)); this term has {q}"
            )
        return KINDS[AR1.name if structure == "ar1" else CompoundSymmetry.name]
    multi = correlated and q > 1 and structure != "diag"
    if known:
        return KINDS[KnownCorrelated.name if multi else KnownDiagonal.name]
    return KINDS[Correlated.name] if multi else KINDS[Diagonal.name]
