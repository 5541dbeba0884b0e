"""Compiled-once log-density kernel for gaussian models and the common GLMMs
(``model.fit(kernel=...)``).

Why: nutpie compiles each PyMC model with numba from scratch (15-40 s for sleepstudy, most of it
LLVM work that is not cached across processes), while sampling takes under a second. For the
gaussian models with identity link (at most one block integrated out, see
:mod:`pyglmm.marginal`, the others latent, centered or non-centered), the log-density and its
gradient are written by hand as numba functions compiled with ``cache=True``
(:mod:`~pyglmm.kernel.densities`, :mod:`~pyglmm.kernel.logp`): the machine code is compiled once
per installation and loaded from numba's on-disk cache afterwards, and the data enter as
arguments. The common GLMMs (bernoulli and binomial with logit, probit or cloglog links,
Poisson and negative binomial with log link; every block latent) have a kernel of their own,
:func:`~pyglmm.kernel.glmm.glmm_logp_grad` with the row densities of
:mod:`~pyglmm.kernel.likelihoods` (``Family.kernel_density``), which shares the latent
blocks' code below. Other families and priors without a kernel density use the PyMC model.

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

GLMMs (:mod:`pyglmm.kernel.glmm`): ``ll = sum_i log p(y_i | eta_i)``, ``eta = offset + X theta
+ sum_k Z_k r_k``, and ``d ll / d eta_i`` takes the place of ``d ll / d mean_i`` above.

Modules: this one builds the :class:`KernelModel` of a model (:func:`kernel_model`);
:mod:`~pyglmm.kernel.layout` holds the parameter layout and the data arguments,
:mod:`~pyglmm.kernel.nutpie` the sampling (:func:`sample`) and the naming of the draws,
:mod:`~pyglmm.kernel.ccall` and :mod:`~pyglmm.kernel.glmm_ccall` the C callbacks nutpie calls
(gaussian, GLMM), with the slot table and nutpie model of :mod:`~pyglmm.kernel.slots`. The
numba code: :func:`~pyglmm.kernel.logp.logp_grad` in :mod:`~pyglmm.kernel.logp` and
:func:`~pyglmm.kernel.glmm.glmm_logp_grad` in :mod:`~pyglmm.kernel.glmm`, with
:mod:`~pyglmm.kernel.scale` (a block's scale), :mod:`~pyglmm.kernel.latent` (latent blocks'
priors and gradients), :mod:`~pyglmm.kernel.woodbury` (the marginal block per level),
:mod:`~pyglmm.kernel.rows` (the row loops), :mod:`~pyglmm.kernel.likelihoods` (the GLMM row
densities) and :mod:`~pyglmm.kernel.densities` (priors, LKJ); the triangular products and
substitutions are in :mod:`pyglmm.marginal`, which this package imports.
"""

from __future__ import annotations

import numpy as np

from ..compile import group_level_centering, hierarchical_centering, theta_names
from ..compile.parameterization import LevelPredictors
from ..design import Design, REBlock
from ..design.blocks import KERNEL_ENGINE
from ..design.centering import centered_fixed
from ..families import Family
from ..marginal import sufficient_stats
from ..priors import PriorSet
from .densities import LOCATION_PRIORS, POSITIVE_PRIORS, PRIOR_CODES, encode_prior
from .layout import INTEGRATED_ROLES, GlmmData, KernelBlock, KernelModel
from .likelihoods import BINOMIAL, DENSITIES, LINK_CODES, loglik_constant
from .nutpie import NUMBA_FUNCTIONS, named_posterior, nutpie_model, sample

__all__ = [
    "NUMBA_FUNCTIONS",
    "GlmmData",
    "KernelBlock",
    "KernelModel",
    "kernel_model",
    "named_posterior",
    "nutpie_model",
    "sample",
]


def _block(
    blk: REBlock,
    priors: PriorSet,
    role: str,
    offset: int,
    center: tuple[int, ...] = (),
    level: LevelPredictors | None = None,
) -> KernelBlock | str:
    kind = blk.covariance
    if KERNEL_ENGINE not in kind.engines:
        return f"block {blk.name!r} is of kind {kind.name!r}, which the kernel does not cover"
    enc = [encode_prior(priors.sd[blk.name][t], POSITIVE_PRIORS) for t in blk.terms]
    if any(e is None for e in enc):
        return _no_density()
    eta = priors.cor[blk.name].params.get("eta", 1.0) if kind.correlated else 1.0
    return KernelBlock(
        name=blk.name,
        terms=tuple(blk.terms),
        levels=tuple(blk.levels),
        diag=not kind.correlated,
        role=role,
        eta=float(eta),
        sd_priors=np.array(enc, dtype=float).reshape(-1, 4),
        offset=offset,
        center=center,
        level_index=() if level is None else level.index,
        level_values=None if level is None else level.values,
    )


def _no_density() -> str:
    return "a prior has no kernel density (kernel priors: " + ", ".join(PRIOR_CODES) + ")"


def _theta_priors(design: Design, priors: PriorSet) -> np.ndarray | str:
    """The encoded priors of ``theta`` (``[Intercept, beta]`` or ``b``), or the reason."""
    names = list(design.x_names)
    fixed = centered_fixed(design)
    enc: list[np.ndarray | None] = []
    if fixed.intercept is not None:
        if priors.intercept is None:  # not built so: an intercept column has an Intercept prior
            return "the model has an intercept column but no Intercept prior"
        enc.append(encode_prior(priors.intercept, LOCATION_PRIORS))
    enc += [encode_prior(priors.b[names[j]], LOCATION_PRIORS) for j in fixed.slopes]
    if any(e is None for e in enc):
        return _no_density()
    return np.array(enc, dtype=float).reshape(-1, 4)


def _blocks(
    design: Design, priors: PriorSet, parameterization: dict[str, str], offset: int
) -> list[KernelBlock] | str:
    """The blocks' :class:`KernelBlock` (an integrated one, marginal or Laplace, first), the
    first scale at ``offset``."""
    order = sorted(design.blocks, key=lambda b: parameterization[b.name] not in INTEGRATED_ROLES)
    names = theta_names(design)
    centers = hierarchical_centering(design, parameterization, names)
    levels = group_level_centering(design, parameterization, names)
    blocks: list[KernelBlock] = []
    for blk in order:
        kb = _block(
            blk,
            priors,
            parameterization[blk.name],
            offset,
            centers.get(blk.name, ()),
            levels.get(blk.name),
        )
        if isinstance(kb, str):
            return kb
        blocks.append(kb)
        offset += kb.size
    return blocks


def _latent_arrays(design: Design, latent: tuple[KernelBlock, ...]) -> tuple[np.ndarray, ...]:
    """The latent blocks' level codes (K, n) and columns (K, n, qmax, zero-padded)."""
    by_name = {b.name: b for b in design.blocks}
    n = design.n_obs
    qmax = max([b.q for b in latent], default=1)
    lat_codes = np.zeros((len(latent), n), dtype=np.int64)
    lat_Z = np.zeros((len(latent), n, qmax))
    for k, b in enumerate(latent):
        lat_codes[k] = by_name[b.name].codes
        lat_Z[k, :, : b.q] = by_name[b.name].Z
    return lat_codes, lat_Z


def kernel_model(
    design: Design, priors: PriorSet, family: Family, parameterization: dict[str, str]
) -> KernelModel | str:
    """The :class:`KernelModel` of a model, or the reason (a string) it has none."""
    if design.me is not None:
        return (
            "me() terms (latent predictors measured with error) are sampled by the PyMC model only"
        )
    if design.additions is not None and design.additions.changes_likelihood:
        return (
            f"the addition terms {design.additions.describe()} change the likelihood, which "
            "the PyMC model builds (rate() alone is an offset the kernel takes)"
        )
    spanning = [blk.name for blk in design.blocks if blk.spans_dpars]
    if spanning:
        return (
            f"block {spanning[0]!r} correlates effects of several linear predictors (brms's "
            "|ID| across pg.bf's formulas); the PyMC model samples it"
        )
    if design.categorical:
        return (
            "family 'categorical' (one linear predictor per category) is sampled by the PyMC "
            "model; the kernel has one linear predictor"
        )
    if design.distributional:
        which = ", ".join(p.name for p in design.dpars)
        return (
            f"distributional formulas ({which} per row, pg.bf) are sampled by the PyMC model; "
            "the kernel has one value of each family parameter"
        )
    if not family.is_gaussian_identity:
        return _glmm_kernel_model(design, priors, family, parameterization)
    if any(v == "laplace" for v in parameterization.values()):  # refused by the policy first
        return "a Laplace block (GLMMs only; a gaussian block is integrated out exactly: marginal)"
    names = list(design.x_names)
    fixed = centered_fixed(design)
    i0 = fixed.intercept
    theta_priors = _theta_priors(design, priors)
    sigma_enc = encode_prior(priors.family["sigma"], POSITIVE_PRIORS)
    if isinstance(theta_priors, str):
        return theta_priors
    if sigma_enc is None:
        return _no_density()
    y = design.y if design.offset is None else design.y - design.offset
    xbar = fixed.xbar if i0 is not None else np.zeros(0)
    Xc = fixed.Xc
    p = Xc.shape[1]
    shift = float(np.mean(y)) if i0 is not None else 0.0
    blocks = _blocks(design, priors, parameterization, p + 1)
    if isinstance(blocks, str):
        return blocks
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
    lat_codes, lat_Z = _latent_arrays(design, latent)
    return KernelModel(
        stats=stats,
        Xc=np.ascontiguousarray(Xc),
        ys=np.asarray(y, dtype=float) - shift,
        shift=shift,
        theta_priors=theta_priors,
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


def _glmm_kernel_model(
    design: Design, priors: PriorSet, family: Family, parameterization: dict[str, str]
) -> KernelModel | str:
    """The GLMM kernel (:mod:`~pyglmm.kernel.glmm`) of a model, or the reason it has none."""
    what = f"family {family.name}({family.link})"
    entry = DENSITIES.get(family.kernel_density or "")
    if entry is None:
        return (
            f"{what} has no kernel density (kernel: gaussian(identity), "
            + ", ".join(f"{name}({'/'.join(links)})" for name, (_, links, _) in DENSITIES.items())
            + ")"
        )
    density, links, fam_params = entry
    if family.link not in links:
        return f"{what}: the kernel has the links {'/'.join(links)} for this family"
    if any(v == "marginal" for v in parameterization.values()):  # gaussian only; not reached
        return "a marginal block (gaussian(identity) only)"
    theta_priors = _theta_priors(design, priors)
    if isinstance(theta_priors, str):
        return theta_priors
    if set(priors.family) != set(fam_params):
        return f"{what} has family parameters {sorted(priors.family)} the kernel does not take"
    fam_enc = [encode_prior(priors.family[name], POSITIVE_PRIORS) for name in fam_params]
    if any(e is None for e in fam_enc):
        return _no_density()
    fixed = centered_fixed(design)
    i0, Xc = fixed.intercept, np.ascontiguousarray(fixed.Xc, dtype=float)
    p, n = Xc.shape[1], design.n_obs
    blocks = _blocks(design, priors, parameterization, p + len(fam_params))
    if isinstance(blocks, str):
        return blocks
    laplace = blocks[0] if blocks and blocks[0].role == "laplace" else None
    latent = tuple(b for b in blocks if b is not laplace)
    y = np.asarray(design.y, dtype=float)
    trials = np.ones(n)
    if density == BINOMIAL:
        trials = np.asarray(family.prior_weights(design.trials, n), dtype=float)
    offset = np.zeros(n) if design.offset is None else np.asarray(design.offset, dtype=float)
    theta0 = np.zeros(p)
    if i0 is not None:  # the link of the mean response, less the mean offset
        m = (y.sum() + 0.5) / (trials.sum() + 1.0) if density == BINOMIAL else y.mean() + 0.1
        theta0[0] = float(family.linkfun_np(np.array([m]))[0]) - float(offset.mean())
    lat_codes, lat_Z = _latent_arrays(design, latent)
    lap_ptr, lap_Z = np.zeros(1, dtype=np.int64), np.zeros((0, 0))
    if laplace is not None:  # rows sorted by the Laplace block's level (the density is a sum)
        lblk = next(b for b in design.blocks if b.name == laplace.name)
        order = np.argsort(lblk.codes, kind="stable")
        counts = np.bincount(lblk.codes, minlength=lblk.n_levels)
        lap_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        lap_Z = np.ascontiguousarray(lblk.Z[order], dtype=float)
        Xc, y, trials, offset = (np.ascontiguousarray(a[order]) for a in (Xc, y, trials, offset))
        lat_codes = np.ascontiguousarray(lat_codes[:, order])
        lat_Z = np.ascontiguousarray(lat_Z[:, order])
    glmm = GlmmData(
        density=density,
        link=LINK_CODES[family.link],
        ll_const=loglik_constant(density, y, trials),
        y=y,
        trials=trials,
        offset=offset,
        family_priors=np.array(fam_enc, dtype=float).reshape(-1, 4),
        theta0=theta0,
        lap_ptr=lap_ptr,
        lap_Z=lap_Z,
    )
    return KernelModel(
        stats=None,
        Xc=Xc,
        ys=y,
        shift=0.0,
        theta_priors=theta_priors,
        sigma_prior=np.zeros(4),
        marginal=None,
        latent=latent,
        lat_codes=lat_codes,
        lat_Z=lat_Z,
        m_codes=np.zeros(n, dtype=np.int64),
        m_Z=np.zeros((n, 0)),
        x_names=tuple(design.x_names),
        intercept_pos=i0,
        xbar=fixed.xbar if i0 is not None else np.zeros(0),
        family_params=fam_params,
        glmm=glmm,
        laplace=laplace,
    )
