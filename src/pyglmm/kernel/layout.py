"""The kernel's parameter layout: :class:`KernelBlock` (where a block's scale and effects sit
in the unconstrained vector ``x``, see :mod:`pyglmm.kernel.logp`) and :class:`KernelModel`
(the data arguments of :func:`~pyglmm.kernel.logp.logp_grad`, or of
:func:`~pyglmm.kernel.glmm.glmm_logp_grad` for a GLMM (:class:`GlmmData`), and the maps
between ``x`` and the PyMC model's variables: :meth:`~KernelModel.constrained`,
:meth:`~KernelModel.unconstrained`, :meth:`~KernelModel.initial_point`).

``x = [theta (p), log of each family parameter, blocks...]``: the family parameters are
:attr:`KernelModel.family_params` (``sigma`` for the gaussian, ``shape`` for the negative
binomial, none for the binomial and Poisson).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import names
from .densities import corr_cholesky
from .glmm import glmm_logp_grad
from .logp import logp_grad

if TYPE_CHECKING:
    from ..marginal import MarginalStats

INTEGRATED_ROLES = ("marginal", "laplace")  # blocks whose effects are not in ``x``


@dataclass(frozen=True, eq=False)
class KernelBlock:
    """One random-effect block in the kernel: ``role`` is ``"marginal"``, ``"laplace"``
    (integrated out: only its scale is in ``x``), ``"centered"`` or ``"noncentered"``;
    ``offset`` is where its scale starts in ``x`` (a latent block's effects follow).
    ``center[i]``: the index in ``theta`` that the centered block's term ``i`` is
    hierarchically centered on (its stored effects are ``theta_c + r``), or -1; empty when
    the block is not hierarchically centered. ``level_index``, ``level_values``: the
    group-level predictors its intercept term is centered on too (their ``theta`` indices and
    values per level, :func:`pyglmm.compile.group_level_centering`), empty when none."""

    name: str
    terms: tuple[str, ...]
    levels: tuple[str, ...]
    diag: bool
    role: str
    eta: float
    sd_priors: np.ndarray
    offset: int
    center: tuple[int, ...] = ()
    level_index: tuple[int, ...] = ()
    level_values: np.ndarray | None = None

    @property
    def level_term(self) -> int:
        """The term centered on the group-level predictors (the intercept), or -1."""
        return self.terms.index("Intercept") if self.level_index else -1

    @property
    def q(self) -> int:
        return len(self.terms)

    @property
    def latent(self) -> bool:
        """Whether its effects are sampled (in ``x``), not integrated out."""
        return self.role not in INTEGRATED_ROLES

    @property
    def m(self) -> int:
        return 0 if self.diag else self.q * (self.q - 1) // 2

    @property
    def size(self) -> int:
        """Entries of ``x``: scale, plus levels x q effects when latent."""
        effects = len(self.levels) * self.q if self.latent else 0
        return self.q + self.m + effects

    def scale(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SDs and the correlation Cholesky factor L at ``x``."""
        sd = np.exp(x[self.offset : self.offset + self.q])
        L = np.eye(self.q)
        if not self.diag:
            dL = np.zeros((self.m + 1, self.q, self.q))
            corr_cholesky(
                x[self.offset + self.q : self.offset + self.q + self.m], self.q, 1.0, L, dL
            )
        return sd, L

    def effects(self, x: np.ndarray) -> np.ndarray:
        """The latent block's stored effects (levels x q): ``r`` or ``z``."""
        start = self.offset + self.q + self.m
        return x[start : start + len(self.levels) * self.q].reshape(len(self.levels), self.q)


@dataclass(frozen=True, eq=False)
class GlmmData:
    """The data of a GLMM kernel (:func:`~pyglmm.kernel.glmm.glmm_logp_grad`): the row
    density and link codes of :mod:`~pyglmm.kernel.likelihoods`, the log-likelihood's
    data-only constant, the response, trials (ones but for the binomial), offset (zeros
    without one), the family parameters' priors (rows of ``[code, a, b, c]``) and the start of
    ``theta`` (the link of the mean response as intercept). With a Laplace block the rows (of
    these arrays and of the :class:`KernelModel`'s ``Xc``, ``lat_codes``, ``lat_Z``) are sorted
    by its level: level l is rows ``lap_ptr[l]:lap_ptr[l + 1]``, whose columns are ``lap_Z``."""

    density: int
    link: int
    ll_const: float
    y: np.ndarray
    trials: np.ndarray
    offset: np.ndarray
    family_priors: np.ndarray
    theta0: np.ndarray
    lap_ptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    lap_Z: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))


@dataclass(frozen=True, eq=False)
class KernelModel:
    """Everything the kernel needs for one model (data as arguments, never compiled in)."""

    stats: MarginalStats | None  # of the marginal block, if any
    Xc: np.ndarray  # centered fixed-effect columns (see pyglmm.compile.FixedPart)
    ys: np.ndarray  # response - offset - shift
    shift: float
    theta_priors: np.ndarray
    sigma_prior: np.ndarray
    marginal: KernelBlock | None
    latent: tuple[KernelBlock, ...]
    lat_codes: np.ndarray  # (K, n) level codes of the latent blocks
    lat_Z: np.ndarray  # (K, n, qmax) their columns, zero-padded
    m_codes: np.ndarray
    m_Z: np.ndarray
    x_names: tuple[str, ...]
    intercept_pos: int | None  # position of "Intercept" in x_names
    xbar: np.ndarray  # means of the slope columns (with an intercept)
    family_params: tuple[str, ...] = ("sigma",)  # at x[p:], each on the log scale
    glmm: GlmmData | None = None  # a GLMM: glmm_logp_grad's data (ys, sigma_prior unused)
    laplace: KernelBlock | None = None  # a GLMM's block integrated out (kernel.laplace)

    @property
    def p(self) -> int:
        return int(self.Xc.shape[1])

    @property
    def blocks(self) -> tuple[KernelBlock, ...]:
        integrated = tuple(b for b in (self.marginal, self.laplace) if b is not None)
        return integrated + self.latent

    @property
    def ndim(self) -> int:
        return self.p + len(self.family_params) + sum(b.size for b in self.blocks)

    def logp(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior density (unconstrained ``x``) and its gradient (-inf and zeros where
        it overflows, far out in the tails)."""
        grad = np.empty(self.ndim)
        fn = logp_grad if self.glmm is None else glmm_logp_grad
        lp = fn(np.ascontiguousarray(x, dtype=np.float64), grad, *self._args)
        return lp, grad

    @property
    def callbacks(self) -> Any:
        """The module with this model's C callbacks for nutpie: :mod:`~pyglmm.kernel.ccall`
        (gaussian) or :mod:`~pyglmm.kernel.glmm_ccall` (imported on first use: importing
        compiles, or loads from numba's cache, its callbacks)."""
        if self.glmm is None:
            from . import ccall

            return ccall
        from . import glmm_ccall

        return glmm_ccall

    @cached_property
    def _args(self) -> tuple:
        """The data arguments of :func:`~pyglmm.kernel.logp.logp_grad` or
        :func:`~pyglmm.kernel.glmm.glmm_logp_grad` (built once: the sampler calls
        :meth:`logp` tens of thousands of times)."""
        if self.glmm is not None:
            return self._glmm_args
        mb, st, lat = self.marginal, self.stats, self._lat
        return (
            self.p,
            len(self.ys),
            self.shift,
            self.theta_priors,
            self.sigma_prior,
            mb.q if mb else 0,
            mb.diag if mb else True,
            mb.eta if mb else 1.0,
            mb.sd_priors if mb else _NO_PRIORS,
            st.A if st else _EMPTY3,
            st.ZX if st else _EMPTY3,
            st.Zy if st else _EMPTY2,
            st.XtX if st else _EMPTY2,
            st.Xty if st else _EMPTY1,
            st.yty if st else 0.0,
            self.Xc,
            self.ys,
            self.m_codes,
            self.m_Z,
            lat["q"],
            lat["G"],
            lat["diag"],
            lat["centered"],
            lat["eta"],
            lat["sd_priors"],
            lat["off"],
            self.lat_codes,
            self.lat_Z,
            lat["unit"],
            lat["center"],
            lat["lc_term"],
            lat["lc_index"],
            lat["lc_values"],
        )

    @cached_property
    def _glmm_args(self) -> tuple:
        g, lat = self.glmm, self._lat
        assert g is not None
        return (
            self.p,
            g.density,
            g.link,
            g.ll_const,
            self.theta_priors,
            g.family_priors,
            self.Xc,
            g.y,
            g.trials,
            g.offset,
            *(lat[k] for k in ("q", "G", "diag", "centered", "eta", "sd_priors", "off")),
            self.lat_codes,
            self.lat_Z,
            lat["unit"],
            lat["center"],
            lat["lc_term"],
            lat["lc_index"],
            lat["lc_values"],
            *self._lap_args,
        )

    @cached_property
    def _lap_args(self) -> tuple:
        """The Laplace block's arguments of ``glmm_logp_grad`` (``lap_q = 0``: none)."""
        g, b = self.glmm, self.laplace
        assert g is not None
        if b is None:
            return (0, 1, 1.0, _NO_PRIORS, 0, g.lap_ptr, g.lap_Z)
        return (b.q, int(b.diag), b.eta, b.sd_priors, b.offset, g.lap_ptr, g.lap_Z)

    @cached_property
    def _lat(self) -> dict[str, np.ndarray]:
        lat = self.latent
        qmax = max([b.q for b in lat], default=1)
        sd_priors = np.zeros((len(lat), qmax, 4))
        center = np.full((len(lat), qmax), -1, dtype=np.int64)
        pmax = max([len(b.level_index) for b in lat], default=0) or 1
        gmax = max([len(b.levels) for b in lat], default=0) or 1
        lc_index = np.full((len(lat), pmax), -1, dtype=np.int64)
        lc_values = np.zeros((len(lat), gmax, pmax))
        for k, b in enumerate(lat):
            sd_priors[k, : b.q] = b.sd_priors
            center[k, : len(b.center)] = b.center
            if b.level_index:
                lc_index[k, : len(b.level_index)] = b.level_index
                lc_values[k, : len(b.levels), : len(b.level_index)] = b.level_values
        return {
            "q": np.array([b.q for b in lat], dtype=np.int64),
            "G": np.array([len(b.levels) for b in lat], dtype=np.int64),
            "diag": np.array([b.diag for b in lat], dtype=np.bool_),
            "centered": np.array([b.role == "centered" for b in lat], dtype=np.bool_),
            "eta": np.array([b.eta for b in lat], dtype=np.float64),
            "sd_priors": sd_priors,
            "off": np.array([b.offset for b in lat], dtype=np.int64),
            "unit": np.array(
                [b.q == 1 and bool(np.all(self.lat_Z[k, :, 0] == 1)) for k, b in enumerate(lat)],
                dtype=np.bool_,
            ),
            "center": center,
            "lc_term": np.array([b.level_term for b in lat], dtype=np.int64),
            "lc_index": lc_index,
            "lc_values": lc_values,
        }

    def constrained(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The model's variables at unconstrained ``x`` (one point, or draws ``(..., ndim)``:
        the result then has the same leading axes), named as in the PyMC model."""
        x = np.asarray(x, dtype=np.float64)
        lead = x.shape[:-1]
        X = x.reshape(-1, self.ndim)
        S, p = X.shape[0], self.p
        theta = X[:, :p]
        out: dict[str, np.ndarray] = {}
        if self.intercept_pos is not None:
            out["Intercept"] = theta[:, 0].copy()
            beta = theta[:, 1:]
            b = np.empty((S, p))
            b[:, self._slope_pos] = beta
            b[:, self.intercept_pos] = theta[:, 0] - beta @ self.xbar
            if p > 1:
                out["beta"] = beta.copy()
            out["b"] = b
        elif p:
            out["b"] = theta.copy()
        for blk, (var_names, tril, dL) in zip(self.blocks, self._expand_plan, strict=True):
            o, q = blk.offset, blk.q
            sd = np.exp(X[:, o : o + q])
            out[var_names[0]] = sd
            if blk.diag:
                Lam = sd[:, :, None] * np.eye(q)
            else:
                L = np.empty((S, q, q))
                for s in range(S):
                    L[s] = np.eye(q)
                    corr_cholesky(X[s, o + q : o + q + blk.m], q, 1.0, L[s], dL)
                Lam = sd[:, :, None] * L
                out[var_names[1]] = Lam[:, tril[0], tril[1]]
                out[var_names[2]] = L @ L.transpose(0, 2, 1)
            if blk.latent:
                eff = X[:, o + q + blk.m : o + blk.size].reshape(S, -1, q)
                if blk.role == "noncentered":
                    out[var_names[3]] = eff.copy()
                    out[var_names[4]] = np.einsum("slj,sij->sli", eff, Lam)
                else:
                    out[var_names[4]] = eff - self._center_values(blk, X)
                    if blk.center or blk.level_index:
                        out[var_names[5]] = eff.copy()
        for i, name in enumerate(self.family_params):
            out[name] = np.exp(X[:, p + i])
        return {k: v.reshape(lead + v.shape[1:]) for k, v in out.items()}

    @staticmethod
    def _center_values(blk: KernelBlock, X: np.ndarray) -> np.ndarray:
        """``theta_c`` per term of ``blk`` at draws ``X`` (S, ndim), 0 where not centered,
        plus the group-level predictors' share on the intercept: the centered block stores
        ``theta_c + w_l' theta + r`` (shape (S, 1, q), or (S, levels, q) with predictors)."""
        out = np.zeros((X.shape[0], 1, blk.q))
        for i, c in enumerate(blk.center):
            if c >= 0:
                out[:, 0, i] = X[:, c]
        if blk.level_index and blk.level_values is not None:
            out = np.repeat(out, len(blk.levels), axis=1)
            out[:, :, blk.level_term] += X[:, list(blk.level_index)] @ blk.level_values.T
        return out

    @cached_property
    def _slope_pos(self) -> np.ndarray:
        slopes = [j for j in range(len(self.x_names)) if j != self.intercept_pos]
        return np.array(slopes, dtype=np.int64)

    @cached_property
    def _expand_plan(self) -> list[tuple[tuple[str, ...], tuple, np.ndarray]]:
        return [
            (
                tuple(
                    var(b.name)
                    for var in (
                        names.sd,
                        names.chol,
                        names.cor,
                        names.standardized,
                        names.effects,
                        names.alpha,
                    )
                ),
                np.tril_indices(b.q),
                np.zeros((b.m + 1, b.q, b.q)),
            )
            for b in self.blocks
        ]

    def unconstrained(self, values: dict[str, Any]) -> np.ndarray:
        """Inverse of :meth:`constrained` from the free variables of the PyMC model
        (``Intercept``/``beta`` or ``b``, ``sigma``, ``L_``/``sd_`` and ``z_``/``r_``, or
        ``alpha_`` for hierarchically centered blocks)."""
        p = self.p
        x = np.zeros(self.ndim)
        if self.intercept_pos is not None:
            x[0] = float(values["Intercept"])
            x[1:p] = np.asarray(values.get("beta", np.zeros(p - 1)), dtype=float)
        elif p:
            x[:p] = np.asarray(values["b"], dtype=float)
        for i, name in enumerate(self.family_params):
            x[p + i] = math.log(float(values[name]))
        for blk in self.blocks:
            o, q = blk.offset, blk.q
            if blk.diag:
                x[o : o + q] = np.log(np.asarray(values[names.sd(blk.name)], dtype=float))
            else:
                Lam = np.zeros((q, q))
                Lam[np.tril_indices(q)] = np.asarray(values[names.chol(blk.name)], dtype=float)
                sd = np.sqrt((Lam**2).sum(axis=1))
                x[o : o + q] = np.log(sd)
                x[o + q : o + q + blk.m] = _partial_correlations(Lam / sd[:, None])
            start = o + q + blk.m
            key = {
                "noncentered": names.standardized(blk.name),
                "centered": names.effects(blk.name),
            }.get(blk.role)
            if key is not None:
                eff = np.zeros((len(blk.levels), q))
                if names.alpha(blk.name) in values:  # stored as sampled (hierarchically centered)
                    eff[:] = np.asarray(values[names.alpha(blk.name)], dtype=float).reshape(-1, q)
                else:
                    if key in values:
                        eff[:] = np.asarray(values[key], dtype=float).reshape(-1, q)
                    if blk.role == "centered":
                        eff = eff + self._center_values(blk, x[None])[0]
                x[start : start + len(blk.levels) * q] = eff.reshape(-1)
        return x

    def jittered(self, base: np.ndarray, seed: int) -> np.ndarray:
        """A chain's start near ``base`` (a point estimate, :meth:`unconstrained`): U(-0.1, 0.1)
        on the coefficients, the family parameters and centered effects, U(-1, 1) on the log
        scales, correlations and ``z`` (as :meth:`initial_point`): chains that all start at
        the mode with a small jitter of their scales adapted badly on a 9-level correlated
        block (345 divergences in 4,000 transitions, against 4 from the default start)."""
        rng = np.random.default_rng(seed)
        x = base + rng.uniform(-0.1, 0.1, self.ndim)
        for blk in self.blocks:
            o, q = blk.offset, blk.q
            wide = q + blk.m + (blk.size - q - blk.m if blk.role == "noncentered" else 0)
            x[o : o + wide] = base[o : o + wide] + rng.uniform(-1, 1, wide)
        return x

    def initial_point(self, seed: int) -> np.ndarray:
        """Least-squares fixed effects, residual SD, block SDs at half of it, no correlation,
        effects 0; jittered by U(-1, 1) on log scales, correlations and ``z`` (PyMC's jitter),
        by 0.1 residual SD (per column SD) on the coefficients and 0.1 SD on centered ``r``.
        A GLMM (:meth:`_glmm_initial_point`) starts elsewhere."""
        if self.glmm is not None:
            return self._glmm_initial_point(seed)
        rng = np.random.default_rng(seed)
        p, n = self.p, len(self.ys)
        x = np.zeros(self.ndim)
        resid_sd = float(np.std(self.ys)) or 1.0
        if p:
            theta = np.linalg.lstsq(self.Xc, self.ys, rcond=None)[0]
            resid = self.ys - self.Xc @ theta
            resid_sd = math.sqrt(max(float(resid @ resid) / max(n - p, 1), 1e-24)) or 1.0
            col_sd = np.std(self.Xc, axis=0)
            col_sd[col_sd == 0] = 1.0
            if self.intercept_pos is not None:
                theta[0] += self.shift
            x[:p] = theta + 0.1 * resid_sd / col_sd * rng.uniform(-1, 1, p)
        x[p] = math.log(resid_sd) + rng.uniform(-1, 1)
        for blk in self.blocks:
            o, q = blk.offset, blk.q
            x[o : o + q] = math.log(0.5 * resid_sd) + rng.uniform(-1, 1, q)
            x[o + q : o + q + blk.m] = rng.uniform(-1, 1, blk.m)
            size = blk.size - q - blk.m
            jitter = 1.0 if blk.role == "noncentered" else 0.05 * resid_sd
            eff = jitter * rng.uniform(-1, 1, size).reshape(-1, q)
            x[o + q + blk.m : o + blk.size] = (eff + self._center_values(blk, x[None])[0]).ravel()
        return x

    def _glmm_initial_point(self, seed: int) -> np.ndarray:
        """``theta`` at :attr:`GlmmData.theta0` jittered by U(-0.1, 0.1) per column SD, the
        family parameters at 1, block SDs at 1 (link scale) and no correlation, jittered by
        U(-1, 1) on the log scales, correlations and ``z``; centered ``r`` by U(-0.1, 0.1)."""
        assert self.glmm is not None
        rng = np.random.default_rng(seed)
        p, nf = self.p, len(self.family_params)
        x = np.zeros(self.ndim)
        if p:
            col_sd = np.std(self.Xc, axis=0)
            col_sd[col_sd == 0] = 1.0
            x[:p] = self.glmm.theta0 + 0.1 / col_sd * rng.uniform(-1, 1, p)
        x[p : p + nf] = rng.uniform(-1, 1, nf)
        for blk in self.blocks:
            o, q = blk.offset, blk.q
            x[o : o + q] = rng.uniform(-1, 1, q)
            x[o + q : o + q + blk.m] = rng.uniform(-1, 1, blk.m)
            size = blk.size - q - blk.m
            jitter = 1.0 if blk.role == "noncentered" else 0.1
            eff = jitter * rng.uniform(-1, 1, size).reshape(-1, q)
            x[o + q + blk.m : o + blk.size] = (eff + self._center_values(blk, x[None])[0]).ravel()
        return x


_NO_PRIORS = np.zeros((0, 4))
_EMPTY1, _EMPTY2, _EMPTY3 = np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0, 0))


def _partial_correlations(L: np.ndarray) -> np.ndarray:
    """Unconstrained ``y`` with ``corr_cholesky(y) = L`` (L: correlation Cholesky factor)."""
    out = []
    for i in range(1, L.shape[0]):
        rem = 1.0
        for j in range(i):
            z = L[i, j] / math.sqrt(max(rem, 1e-300))
            out.append(math.atanh(min(max(z, -1 + 1e-12), 1 - 1e-12)))
            rem -= L[i, j] ** 2
    return np.array(out)
