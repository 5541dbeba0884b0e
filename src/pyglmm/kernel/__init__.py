"""Compiled-once log-density kernel for gaussian models (``model.fit(kernel=...)``).

Why: nutpie compiles each PyMC model with numba from scratch (15-40 s for sleepstudy, most of it
LLVM work that is not cached across processes), while sampling takes under a second. For the
gaussian models with identity link (at most one block integrated out, see
:mod:`pyglmm.marginal`, the others latent, centered or non-centered), the log-density and its
gradient are written by hand as numba functions compiled with ``cache=True``
(:mod:`~pyglmm.kernel.densities`, :mod:`~pyglmm.kernel.logp`): the machine code is compiled once
per installation and loaded from numba's on-disk cache afterwards, and the data enter as
arguments. Other families and priors without a kernel density use the PyMC model.

Unconstrained parameters: see :mod:`pyglmm.kernel.logp` (per block ``log sd`` and, for
``"lkj"`` blocks, ``q(q-1)/2`` unconstrained partial correlations ``y``).
``theta`` are the coefficients of the centered predictors of :mod:`pyglmm.compile`
(``[Intercept, beta]`` with an intercept, else ``b``). The correlation Cholesky factor ``L`` is
built from canonical partial correlations ``z = tanh(y)`` row by row (Stan's construction):

    L[i, 0] = z[i, 0],   L[i, j] = z[i, j] sqrt(rem_ij),   L[i, i] = sqrt(rem_ii),
    rem_ij = 1 - sum_{k<j} L[i, k]^2,

whose log-Jacobian is ``sum log(1 - z^2) + sum_{i, 1<=j<i} 1/2 log rem_ij``; the LKJ(eta)
density of ``L`` is ``sum_{i>=1} (q - i - 3 + 2 eta) / 2 log rem_ii`` (Stan's
``lkj_corr_cholesky``). With ``Lambda = diag(sd) L`` (``diag(sd)`` for diag blocks) the block
covariance is ``Lambda Lambda'``.

Log-likelihood per level g (``S_g = Z_g'Z_g``, ``c_g = Z_g'e_g``, ``B_g = s I + Lambda' S_g
Lambda``, ``s = sigma^2``, ``d_g = Lambda' c_g``, ``w_g = B_g^-1 d_g``), as in
:mod:`pyglmm.marginal`:

    ll = -1/2 [n log 2 pi + (n - G q) log s + sum_g log det B_g + (e'e - sum_g d_g'w_g) / s]

With latent blocks, ``e = y - X theta - sum_k Z_k r_k`` is formed row by row and
``c_g`` by a segment sum (O(n) per gradient); otherwise ``c_g`` and ``e'e`` come from
sufficient statistics (nothing per row). The gradient (matrix calculus on the Woodbury form):

    d ll / d Lambda = sum_g [ -S_g Lambda B_g^-1 + (c_g - S_g Lambda w_g) w_g' / s ]
    d ll / d theta  = (X'y - X'X theta) / s - sum_g (Z_g'X_g)' Lambda w_g / s
    d ll / d s      = -1/2 [ (n - G q) / s + sum_g tr B_g^-1 - (e'e - sum_g d_g'w_g) / s^2
                             + sum_g w_g'w_g / s ],
    d ll / d mean_i = (e_i - Z_i Lambda w_g(i)) / s          (V^-1 e; to theta and latent r).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr

from .. import stack
from ..compile import hierarchical_centering, theta_names
from ..design import Design, REBlock
from ..families import Family
from ..marginal import MarginalStats, sufficient_stats, woodbury_system
from ..priors import PriorSet
from ..sampling import SampleResult, nutpie_sample, resolve_cores
from .densities import (
    LOCATION_PRIORS,
    POSITIVE_PRIORS,
    PRIOR_CODES,
    corr_cholesky,
    encode_prior,
    prior_lp,
)
from .logp import block_scale, block_scale_grad, logp_grad, marginal_levels

NUMBA_FUNCTIONS = (
    prior_lp,
    corr_cholesky,
    block_scale,
    block_scale_grad,
    marginal_levels,
    logp_grad,
    woodbury_system,
)


@dataclass(frozen=True, eq=False)
class KernelBlock:
    """One random-effect block in the kernel: ``role`` is ``"marginal"``, ``"centered"`` or
    ``"noncentered"``; ``offset`` is where its scale starts in ``x`` (its effects follow).
    ``center[i]``: the index in ``theta`` that the centered block's term ``i`` is
    hierarchically centered on (its stored effects are ``theta_c + r``), or -1; empty when
    the block is not hierarchically centered."""

    name: str
    terms: tuple[str, ...]
    levels: tuple[str, ...]
    diag: bool
    role: str
    eta: float
    sd_priors: np.ndarray
    offset: int
    center: tuple[int, ...] = ()

    @property
    def q(self) -> int:
        return len(self.terms)

    @property
    def m(self) -> int:
        return 0 if self.diag else self.q * (self.q - 1) // 2

    @property
    def size(self) -> int:
        """Entries of ``x``: scale, plus levels x q effects when latent."""
        effects = 0 if self.role == "marginal" else len(self.levels) * self.q
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

    @property
    def p(self) -> int:
        return int(self.Xc.shape[1])

    @property
    def blocks(self) -> tuple[KernelBlock, ...]:
        return ((self.marginal,) if self.marginal else ()) + self.latent

    @property
    def ndim(self) -> int:
        return self.p + 1 + sum(b.size for b in self.blocks)

    def logp(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log posterior density (unconstrained ``x``) and its gradient (-inf and zeros where
        it overflows, far out in the tails)."""
        grad = np.empty(self.ndim)
        lp = logp_grad(np.ascontiguousarray(x, dtype=np.float64), grad, *self._args)
        return lp, grad

    @cached_property
    def _args(self) -> tuple:
        """The data arguments of :func:`~pyglmm.kernel.logp.logp_grad` (built once: the
        sampler calls :meth:`logp` tens of thousands of times)."""
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
        )

    @cached_property
    def _lat(self) -> dict[str, np.ndarray]:
        lat = self.latent
        qmax = max([b.q for b in lat], default=1)
        sd_priors = np.zeros((len(lat), qmax, 4))
        center = np.full((len(lat), qmax), -1, dtype=np.int64)
        for k, b in enumerate(lat):
            sd_priors[k, : b.q] = b.sd_priors
            center[k, : len(b.center)] = b.center
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
        for blk, (names, tril, dL) in zip(self.blocks, self._expand_plan, strict=True):
            o, q = blk.offset, blk.q
            sd = np.exp(X[:, o : o + q])
            out[names[0]] = sd
            if blk.diag:
                Lam = sd[:, :, None] * np.eye(q)
            else:
                L = np.empty((S, q, q))
                for s in range(S):
                    L[s] = np.eye(q)
                    corr_cholesky(X[s, o + q : o + q + blk.m], q, 1.0, L[s], dL)
                Lam = sd[:, :, None] * L
                out[names[1]] = Lam[:, tril[0], tril[1]]
                out[names[2]] = L @ L.transpose(0, 2, 1)
            if blk.role != "marginal":
                eff = X[:, o + q + blk.m : o + blk.size].reshape(S, -1, q)
                if blk.role == "noncentered":
                    out[names[3]] = eff.copy()
                    out[names[4]] = np.einsum("slj,sij->sli", eff, Lam)
                else:
                    out[names[4]] = eff - self._center_values(blk, X)
                    if blk.center:
                        out[names[5]] = eff.copy()
        out["sigma"] = np.exp(X[:, p])
        return {k: v.reshape(lead + v.shape[1:]) for k, v in out.items()}

    @staticmethod
    def _center_values(blk: KernelBlock, X: np.ndarray) -> np.ndarray:
        """``theta_c`` per term of ``blk`` at draws ``X`` (S, ndim), 0 where not centered:
        the centered block stores ``theta_c + r`` (shape (S, 1, q))."""
        out = np.zeros((X.shape[0], 1, blk.q))
        for i, c in enumerate(blk.center):
            if c >= 0:
                out[:, 0, i] = X[:, c]
        return out

    @cached_property
    def _slope_pos(self) -> np.ndarray:
        slopes = [j for j in range(len(self.x_names)) if j != self.intercept_pos]
        return np.array(slopes, dtype=np.int64)

    @cached_property
    def _expand_plan(self) -> list[tuple[tuple[str, ...], tuple, np.ndarray]]:
        return [
            (
                tuple(f"{k}_{b.name}" for k in ("sd", "L", "cor", "z", "r", "alpha")),
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
        x[p] = math.log(float(values["sigma"]))
        for blk in self.blocks:
            o, q = blk.offset, blk.q
            if blk.diag:
                x[o : o + q] = np.log(np.asarray(values[f"sd_{blk.name}"], dtype=float))
            else:
                Lam = np.zeros((q, q))
                Lam[np.tril_indices(q)] = np.asarray(values[f"L_{blk.name}"], dtype=float)
                sd = np.sqrt((Lam**2).sum(axis=1))
                x[o : o + q] = np.log(sd)
                x[o + q : o + q + blk.m] = _partial_correlations(Lam / sd[:, None])
            start = o + q + blk.m
            key = {"noncentered": f"z_{blk.name}", "centered": f"r_{blk.name}"}.get(blk.role)
            if key is not None:
                eff = np.zeros((len(blk.levels), q))
                if f"alpha_{blk.name}" in values:  # stored as sampled (hierarchically centered)
                    eff[:] = np.asarray(values[f"alpha_{blk.name}"], dtype=float).reshape(-1, q)
                else:
                    if key in values:
                        eff[:] = np.asarray(values[key], dtype=float).reshape(-1, q)
                    if blk.role == "centered":
                        eff = eff + self._center_values(blk, x[None])[0]
                x[start : start + len(blk.levels) * q] = eff.reshape(-1)
        return x

    def initial_point(self, seed: int) -> np.ndarray:
        """Least-squares fixed effects, residual SD, block SDs at half of it, no correlation,
        effects 0; jittered by U(-1, 1) on log scales, correlations and ``z`` (PyMC's jitter),
        by 0.1 residual SD (per column SD) on the coefficients and 0.1 SD on centered ``r``."""
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


def _block(
    blk: REBlock, priors: PriorSet, role: str, offset: int, center: tuple[int, ...] = ()
) -> KernelBlock | str:
    enc = [encode_prior(priors.sd[blk.name][t], POSITIVE_PRIORS) for t in blk.terms]
    if any(e is None for e in enc):
        return _no_density()
    eta = priors.cor[blk.name].params.get("eta", 1.0) if blk.kind == "lkj" else 1.0
    return KernelBlock(
        name=blk.name,
        terms=tuple(blk.terms),
        levels=tuple(blk.levels),
        diag=blk.kind == "diag",
        role=role,
        eta=float(eta),
        sd_priors=np.array(enc, dtype=float).reshape(-1, 4),
        offset=offset,
        center=center,
    )


def _no_density() -> str:
    return "a prior has no kernel density (kernel priors: " + ", ".join(PRIOR_CODES) + ")"


def kernel_model(
    design: Design, priors: PriorSet, family: Family, parameterization: dict[str, str]
) -> KernelModel | str:
    """The :class:`KernelModel` of a model, or the reason (a string) it has none."""
    if family.name != "gaussian" or family.link != "identity":
        return f"family {family.name}({family.link}) is not gaussian(identity)"
    names = list(design.x_names)
    i0 = names.index("Intercept") if design.has_intercept else None
    slopes = [c for c in names if c != "Intercept"]
    enc: list[np.ndarray | None] = []
    if i0 is not None:
        assert priors.intercept is not None
        enc.append(encode_prior(priors.intercept, LOCATION_PRIORS))
    enc += [encode_prior(priors.b[c], LOCATION_PRIORS) for c in slopes]
    sigma_enc = encode_prior(priors.family["sigma"], POSITIVE_PRIORS)
    if any(e is None for e in [*enc, sigma_enc]):
        return _no_density()
    y = design.y if design.offset is None else design.y - design.offset
    if i0 is not None:
        xs = np.delete(design.X, i0, axis=1)
        xbar = xs.mean(axis=0)
        Xc = np.column_stack([np.ones(design.n_obs), xs - xbar])
    else:
        xbar, Xc = np.zeros(0), np.asarray(design.X, dtype=float)
    p = Xc.shape[1]
    shift = float(np.mean(y)) if i0 is not None else 0.0
    offset = p + 1
    order = sorted(design.blocks, key=lambda b: parameterization[b.name] != "marginal")
    centers = hierarchical_centering(design, parameterization, theta_names(design))
    blocks: list[KernelBlock] = []
    for blk in order:
        kb = _block(blk, priors, parameterization[blk.name], offset, centers.get(blk.name, ()))
        if isinstance(kb, str):
            return kb
        blocks.append(kb)
        offset += kb.size
    marginal = blocks[0] if blocks and blocks[0].role == "marginal" else None
    latent = tuple(b for b in blocks if b.role != "marginal")
    by_name = {b.name: b for b in design.blocks}
    n = design.n_obs
    stats = None
    m_codes, m_Z = np.zeros(n, dtype=np.int64), np.zeros((n, 0))
    if marginal is not None:
        mblk = by_name[marginal.name]
        stats = sufficient_stats(mblk, Xc, y, 0 if i0 is not None else None)
        m_codes, m_Z = mblk.codes.astype(np.int64), np.ascontiguousarray(mblk.Z, dtype=float)
    qmax = max([b.q for b in latent], default=1)
    lat_codes = np.zeros((len(latent), n), dtype=np.int64)
    lat_Z = np.zeros((len(latent), n, qmax))
    for k, b in enumerate(latent):
        lat_codes[k] = by_name[b.name].codes
        lat_Z[k, :, : b.q] = by_name[b.name].Z
    return KernelModel(
        stats=stats,
        Xc=np.ascontiguousarray(Xc),
        ys=np.asarray(y, dtype=float) - shift,
        shift=shift,
        theta_priors=np.array(enc, dtype=float).reshape(-1, 4),
        sigma_prior=np.asarray(sigma_enc, dtype=float),
        marginal=marginal,
        latent=latent,
        lat_codes=lat_codes,
        lat_Z=lat_Z,
        m_codes=m_codes,
        m_Z=m_Z,
        x_names=tuple(names),
        intercept_pos=i0,
        xbar=xbar,
    )


def nutpie_model(km: KernelModel, initvals: dict[str, Any] | None = None) -> tuple[Any, float]:
    """A nutpie model of ``km`` (C callbacks, :mod:`pyglmm.kernel.ccall`) and the seconds
    spent loading (or, the first time on a machine, compiling) the kernel."""
    t0 = time.perf_counter()
    from . import ccall  # loads the cached machine code (compiles it on first use)

    table, keep = ccall.pack(km._args)
    compile_s = time.perf_counter() - t0
    base = km.unconstrained(initvals) if initvals else None

    def initial_point(seed: int) -> np.ndarray:
        if base is None:
            return km.initial_point(seed)
        rng = np.random.default_rng(seed)
        x = base.copy()
        x[km.p :] += rng.uniform(-0.1, 0.1, km.ndim - km.p)
        return x

    return ccall.nutpie_compiled(table, keep, km.ndim, initial_point), compile_s


def named_posterior(km: KernelModel, posterior: xr.Dataset) -> xr.Dataset:
    """The kernel's draws (``posterior[DRAW_NAME]``, unconstrained) as the PyMC model's
    variables, with its names, dims and coordinates."""
    from .ccall import DRAW_NAME

    values = km.constrained(posterior[DRAW_NAME].values)
    dims = _dims(km)
    chain_draw = ("chain", "draw")
    data = {k: (chain_draw + dims.get(k, ()), v) for k, v in values.items()}
    coords = {**_coords(km), "chain": posterior.chain, "draw": posterior.draw}
    return xr.Dataset(data, coords=coords, attrs=posterior.attrs)


def _dims(km: KernelModel) -> dict[str, tuple[str, ...]]:
    """Dims of the stored variables (as the PyMC model names them; scalars have none)."""
    dims: dict[str, tuple[str, ...]] = {"b": ("coef",), "beta": ("coef_slope",)}
    for blk in km.blocks:
        level, term = f"{blk.name}_level", f"{blk.name}_term"
        dims[f"sd_{blk.name}"] = (term,)
        dims[f"cor_{blk.name}"] = (term, term + "_")
        dims[f"L_{blk.name}"] = (f"L_{blk.name}_dim_0",)
        dims[f"z_{blk.name}"] = dims[f"r_{blk.name}"] = dims[f"alpha_{blk.name}"] = (level, term)
    return dims


def _coords(km: KernelModel) -> dict[str, Any]:
    coords: dict[str, Any] = {"coef": list(km.x_names)}
    slopes = [c for c in km.x_names if c != "Intercept"]
    if km.intercept_pos is not None and slopes:
        coords["coef_slope"] = slopes
    for blk in km.blocks:
        term = f"{blk.name}_term"
        coords[term] = coords[term + "_"] = list(blk.terms)
        coords[f"{blk.name}_level"] = list(blk.levels)
        if not blk.diag:
            coords[f"L_{blk.name}_dim_0"] = np.arange(blk.q * (blk.q + 1) // 2)
    return coords


def sample(
    km: KernelModel,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int | None,
    progressbar: bool,
    target_accept: float,
    cores: int | None,
    initvals: dict[str, Any] | None = None,
    low_rank_mass_matrix: bool = False,
) -> SampleResult:
    """NUTS (nutpie) on the kernel; ``timing`` holds ``compile`` (kernel load), ``sample`` and
    ``compile_cached`` (1.0 when nothing was compiled: numba loaded the kernel from its
    on-disk cache or it was loaded already, else 0.0)."""
    misses = _cache_misses()
    imported = "pyglmm.kernel.ccall" in sys.modules  # its C callbacks load (compile) on import
    compiled, compile_s = nutpie_model(km, initvals)
    from .ccall import compiled_on_import

    cached = float(_cache_misses() == misses and (imported or not compiled_on_import()))
    t0 = time.perf_counter()
    cores = resolve_cores(cores, chains)
    idata = nutpie_sample(
        compiled, draws, tune, chains, cores, seed, progressbar, target_accept, low_rank_mass_matrix
    )
    stack.set_group(idata, "posterior", named_posterior(km, stack.posterior(idata)))
    timing = {"compile": compile_s, "sample": time.perf_counter() - t0, "compile_cached": cached}
    return SampleResult(idata, timing)


def _cache_misses() -> int:
    """Kernel functions numba compiled (rather than loaded from its cache) in this process."""
    return sum(int(sum(f.stats.cache_misses.values())) for f in NUMBA_FUNCTIONS)
