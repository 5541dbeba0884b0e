"""The parameterization policy: how each random-effect block is sampled.

A latent block's effects are sampled non-centered (``z ~ N(0, 1)``, ``r = z L'``) or centered
(``r ~ N(0, Sigma)``); a ``"marginal"`` block (gaussian family, identity link) is integrated
out (:mod:`pyglmm.marginal`), a ``"laplace"`` block (a GLMM the kernel covers) is integrated
out approximately, by the Laplace approximation inside the kernel (:mod:`pyglmm.kernel.laplace`).
:func:`resolve_parameterization` turns the user's choice (``"auto"`` by default) into one of
these per block; :func:`hierarchical_centering` picks the
centered blocks whose effects are centered on a fixed effect (:func:`theta_names`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..design import Design, REBlock
from ..design.blocks import KERNEL_ENGINE, MARGINAL_ENGINE
from ..design.centering import centered_fixed
from ..errors import ArgumentError
from ..families import Family

PARAMETERIZATIONS = ("noncentered", "centered", "marginal", "laplace", "auto")
# the parameterizations that integrate a block out (at most one block per model)
INTEGRATED = ("marginal", "laplace")

# ``"auto"`` with a point fit: a latent block is centered when the median over its levels of
# kappa (the data's information about a level's effects relative to the prior's, at the point
# estimate: :mod:`pyglmm.information`) is at least ``Family.centered_min_kappa`` (this without
# a family). 1 is where the two forms' Gibbs rates cross in the normal hierarchy
# (Papaspiliopoulos, Roberts & Skold 2007); 2 for 0/1 outcomes, as measured (bench/geometry.py).
AUTO_CENTERED_MIN_KAPPA = 1.0
# For a block of two or more terms kappa is the smallest eigenvalue (its least informed
# direction; the others favour centering more), and the crossover measured on bernoulli
# ``(1 + x | g)`` blocks is near 1, not 2 (bench/geometry_terms.py: log2 C/NC of ESS per leapfrog
# step -0.67 at kappa 0.75, +0.04 and +0.19 at 1.0 and 0.91, +0.81 and +1.2 at 1.25 and 1.58; the
# 2,000 x 50 model of bench/run.py at 1.41: +1.3): such a block uses at most this threshold.
# ... and when it has at least this many levels: with few levels the SD's posterior reaches
# near 0, where a centered block's intercepts pin ``Intercept`` (its conditional SD is
# sd / sqrt(levels)), a funnel in (Intercept, sd) whatever kappa is at the point estimate
# (tests/test_kernel.py: a 4-level block with 18 rows per level diverged 45 times in 4,000
# transitions centered, 4 non-centered; tests/test_marginal.py: a 6-level block with 40 rows
# per level 0 centered, 2 non-centered)
AUTO_CENTERED_MIN_LEVELS = 5
# ``"auto"`` without one (families with no point fit, very large models): centered when the
# median number of rows per level is at least this (times ``Family.information_factor``: 4 for
# a 0/1 outcome, which carries at most 1/4 of the information of a gaussian row)
AUTO_CENTERED_MIN_ROWS = 20


def can_marginalize(family: Family | None) -> bool:
    """Whether a block can be integrated out (``Family.marginalizable``: gaussian, identity)."""
    return family is not None and family.marginalizable


def can_laplace(family: Family | None) -> bool:
    """Whether a block can be integrated out by the Laplace approximation: a family other
    than gaussian(identity) with a row density in the GLMM kernel (``Family.kernel_density``;
    whether its link and priors are covered too is the kernel's to say, at fit time)."""
    return (
        family is not None and not family.is_gaussian_identity and family.kernel_density is not None
    )


def auto_latent(
    blk: REBlock, family: Family | None = None, information: Mapping[str, float] | None = None
) -> str:
    """The ``"auto"`` rule for a latent block. With ``information`` (per block name, the median
    over levels of kappa at a point estimate, :func:`pyglmm.information.block_information`):
    ``"centered"`` when it is at least ``Family.centered_min_kappa`` (1; 2 for
    bernoulli/binomial, as measured by bench/geometry.py; at most 1 for a block of several
    terms, bench/geometry_terms.py) and the block has at least
    ``AUTO_CENTERED_MIN_LEVELS`` (5) levels (a smooth's penalized part, one level: its kappa is
    the median over its columns, whose coefficients are iid, and no level count). Without: when the
    median number of rows per level is at least ``AUTO_CENTERED_MIN_ROWS`` times
    ``Family.information_factor`` (20; 80 for bernoulli/binomial). Else ``"noncentered"``."""
    if "centered" not in latent_forms(blk):
        return "noncentered"
    if information is not None and blk.name in information:
        kappa_min = AUTO_CENTERED_MIN_KAPPA if family is None else family.centered_min_kappa
        if blk.q > 1:
            kappa_min = min(kappa_min, AUTO_CENTERED_MIN_KAPPA)
        # a smooth: one level whose iid columns stand for levels (its kappa is their median)
        enough = blk.is_smooth or blk.n_levels >= AUTO_CENTERED_MIN_LEVELS
        informed = information[blk.name] >= kappa_min and enough
        return "centered" if informed else "noncentered"
    rows = np.bincount(blk.codes, minlength=blk.n_levels)
    threshold = AUTO_CENTERED_MIN_ROWS * (1 if family is None else family.information_factor)
    return "centered" if float(np.median(rows)) >= threshold else "noncentered"


def latent_forms(blk: REBlock) -> tuple[str, ...]:
    """The latent parameterizations the block's kind has builders for
    (:data:`~pyglmm.compile.blocks.PYMC_BLOCKS`; a known level covariance: non-centered only)."""
    from .blocks import pymc_block

    return tuple(pymc_block(blk.covariance).builders)


def resolve_parameterization(
    spec: str | Mapping[str, str],
    blocks: tuple[REBlock, ...],
    family: Family | None = None,
    information: Mapping[str, float] | None = None,
    latent_only: str = "",
    distributional: bool = False,
) -> dict[str, str]:
    """Per-block parameterization (``"noncentered"``, ``"centered"``, ``"marginal"`` or
    ``"laplace"``).

    ``latent_only``: why no block of this model can be integrated out (a model with ``me()``
    terms: its fixed part is not a constant matrix); ``"auto"`` then keeps every block latent
    and ``"marginal"``/``"laplace"`` raise :class:`ArgumentError` with the reason.

    ``spec`` is a string for all blocks or a dict keyed by block name or group (blocks not
    named get ``"noncentered"``).

    * ``"marginal"`` (string): the block with most levels (the first on ties) among those
      whose kind can be (``"marginal"`` in its ``engines``) is integrated out (gaussian
      family with identity link only, see :mod:`pyglmm.marginal`); the other blocks follow
      the ``"auto"`` rule for latent blocks. In a dict, ``"marginal"`` names the block; at
      most one block may be marginal (a group name shared by several blocks is ambiguous:
      name the block, e.g. ``"g_2"``).
    * ``"laplace"`` (string): as ``"marginal"``, for the GLMMs of the kernel (``can_laplace``):
      the block with most levels among those the kernel covers is integrated out by the
      Laplace approximation (:mod:`pyglmm.kernel.laplace`; approximate, kernel only), the
      others follow the ``"auto"`` rule. In a dict it names the block; at most one block may
      be ``"laplace"``. ``"auto"`` never chooses it.
    * ``"auto"`` (string): the marginal block as for ``"marginal"`` when the family allows it;
      each other block by :func:`auto_latent`. With ``information`` (what :meth:`Model.fit`
      passes when it has a point fit) a block is ``"centered"`` when the data's information
      about its levels' effects relative to the prior's, ``kappa`` (median over levels, at
      the point estimate: :mod:`pyglmm.information`), is at least the family's
      ``centered_min_kappa`` (1; 2 for bernoulli/binomial, bench/geometry.py's measured
      crossover) and the block has at least ``AUTO_CENTERED_MIN_LEVELS`` = 5 levels, else
      ``"noncentered"``. Without it the rule uses the data only: ``"centered"`` if
      the median number of rows per level is at least ``AUTO_CENTERED_MIN_ROWS`` = 20 (80 for
      bernoulli/binomial, whose rows carry at most 1/4 of a gaussian row's information; with
      SDs of the order of sigma/4, kappa = 1 near 20 gaussian rows per level). In a dict,
      ``"auto"`` applies the latent rule to the named block.

    ``distributional``: a family parameter has its own formula (``pg.bf``), so it varies by
    row: no block is integrated out (``"marginal"``/``"laplace"`` are refused, ``"auto"``
    keeps every block latent).
    """
    marginal_ok = can_marginalize(family) and not distributional and not latent_only
    if distributional and (
        spec in INTEGRATED
        or (isinstance(spec, Mapping) and any(v in INTEGRATED for v in spec.values()))
    ):
        raise ArgumentError(
            "a model with distributional formulas (pg.bf) has no 'marginal' or 'laplace' "
            "parameterization (they integrate a block out given one family parameter for all "
            "rows): use 'noncentered', 'centered' or 'auto'"
        )
    asked = [spec] if isinstance(spec, str) else list(spec.values())
    if latent_only and any(v in INTEGRATED for v in asked):
        raise ArgumentError(f"no block can be integrated out of this model: {latent_only}")
    if isinstance(spec, str):
        _check_param(spec)
        if spec == "marginal" and not marginal_ok:
            raise ArgumentError(_not_marginal(family))
        if spec == "laplace" and not can_laplace(family):
            raise ArgumentError(_not_laplace(family))
        if spec in ("noncentered", "centered"):
            for blk in blocks:
                _check_latent(blk, spec)
            return {blk.name: spec for blk in blocks}
        target, integrated = None, "laplace" if spec == "laplace" else "marginal"
        engine = KERNEL_ENGINE if spec == "laplace" else MARGINAL_ENGINE
        eligible = [blk for blk in blocks if engine in blk.covariance.engines]
        if (marginal_ok or (spec == "laplace" and not latent_only)) and eligible:
            target = max(eligible, key=lambda blk: blk.n_levels).name
        elif spec in INTEGRATED and blocks:
            raise ArgumentError(
                f"parameterization {spec!r}: no block of this model has a kind that can be "
                "integrated out; use 'noncentered', 'centered' or 'auto'"
            )
        return {
            blk.name: integrated if blk.name == target else auto_latent(blk, family, information)
            for blk in blocks
        }
    known = {blk.name for blk in blocks} | {blk.group for blk in blocks}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ArgumentError(
            f"parameterization names unknown blocks {unknown}; known: {sorted(known)}"
        )
    out = {}
    for blk in blocks:
        value = spec.get(blk.name, spec.get(blk.group, "noncentered"))
        _check_param(value)
        if value == "marginal":
            if not marginal_ok:
                raise ArgumentError(_not_marginal(family))
            if MARGINAL_ENGINE not in blk.covariance.engines:
                raise ArgumentError(
                    f"block {blk.name!r} ({type(blk.covariance).__name__} covariance) cannot be "
                    "integrated out: use 'noncentered', 'centered' or 'auto'"
                )
            _check_named_block(blk, "marginal", spec, blocks, "marginal")
        if value == "laplace":
            if not can_laplace(family):
                raise ArgumentError(_not_laplace(family))
            if KERNEL_ENGINE not in blk.covariance.engines:
                raise ArgumentError(
                    f"block {blk.name!r} ({type(blk.covariance).__name__} covariance) has no "
                    "kernel, so no Laplace approximation: use 'noncentered', 'centered' or 'auto'"
                )
            _check_named_block(blk, "laplace", spec, blocks, "integrated out")
        if value in ("noncentered", "centered"):
            _check_latent(blk, value)
        out[blk.name] = auto_latent(blk, family, information) if value == "auto" else value
    for what in INTEGRATED:
        chosen = [k for k, v in out.items() if v == what]
        if len(chosen) > 1:
            raise ArgumentError(f"only one block may be {what}, got {chosen}")
    return out


def _check_latent(blk: REBlock, value: str) -> None:
    """Refuse a latent parameterization the block's kind has no builder for."""
    forms = latent_forms(blk)
    if value not in forms:
        raise ArgumentError(
            f"block {blk.name!r} ({type(blk.covariance).__name__} covariance) has no "
            f"{value!r} form; use {' or '.join(repr(f) for f in forms)} (or 'auto')"
        )


def hierarchical_centering(
    design: Design, parameterization: Mapping[str, str], names: list[str]
) -> dict[str, tuple[int, ...]]:
    """Per centered block with a fixed effect among its terms, the index in ``names`` (of
    ``theta``, :func:`theta_names`) each of its terms is centered on (-1: none); blocks
    centered on nothing are left out.

    ``theta`` are the sampled fixed-effect coefficients (``[Intercept, beta]`` on centered
    predictors with an intercept, else ``b``). A centered block whose term is also a fixed
    effect (``Intercept``, or a slope ``x`` in ``(x | g)``) samples
    ``alpha_l = theta_c + r_l`` with prior ``alpha_l ~ N(theta_c, Sigma)`` instead of
    ``r_l ~ N(0, Sigma)`` (Gelfand, Sahu & Carlin 1995): the likelihood sees ``alpha_l`` only.
    The linear change of variables has unit Jacobian, so the posterior is the same; it removes
    the ridge along ``theta_c + r_l = const`` that the sampler otherwise has to learn (the
    data pin down each level's ``alpha_l``, which is why the block was centered). Each fixed
    effect is centered on by one block, the one with the fewest levels (where that ridge is
    strongest); crossed blocks sharing it would leave ``theta_c`` in the likelihood with
    weight -1 per extra block.
    """
    owner: dict[str, REBlock] = {}
    for blk in design.blocks:
        if parameterization[blk.name] != "centered" or blk.dpar or blk.spans_dpars:
            continue  # (a block of a distributional formula, or spanning one, is not centered)
        for t in blk.terms:
            if t in names and (t not in owner or len(blk.levels) < len(owner[t].levels)):
                owner[t] = blk
    owners = {blk.name for blk in owner.values()}
    return {
        blk.name: tuple(names.index(t) if owner.get(t) is blk else -1 for t in blk.terms)
        for blk in design.blocks
        if blk.name in owners
    }


@dataclass(frozen=True)
class LevelPredictors:
    """The fixed effects a hierarchically centered block's intercepts are also centered on
    (:func:`group_level_centering`): ``index`` their positions in ``theta``, ``values``
    (levels x len(index)) their centered predictor at each level."""

    index: tuple[int, ...]
    values: np.ndarray


def group_level_centering(
    design: Design, parameterization: Mapping[str, str], names: list[str]
) -> dict[str, LevelPredictors]:
    """Per centered block with an intercept term, the fixed effects whose predictor is
    constant within each of its levels (group-level predictors: a patient's age, a treatment
    given per patient), which its intercepts are centered on::

        alpha_l = [Intercept +] sum_k theta_k w_lk + r_l,
        alpha_l ~ N([Intercept +] w_l' theta, sd^2)

    (``w_lk`` the centered predictor ``x_k - xbar_k`` at level l; ``Intercept`` for the block
    :func:`hierarchical_centering` centres on it). The likelihood then sees ``alpha_l`` and
    the row-varying predictors only: the ridge along ``theta_k w_lk + r_l = const`` between a
    group-level coefficient and the block's effects goes, as the one along the intercept does
    (Gelfand, Sahu & Carlin 1995, section 3). Unit Jacobian: the posterior is the same. Each
    fixed effect goes to one block: the one centered on ``Intercept`` first, then by fewest
    levels; a fixed effect a term is centered on (a slope ``x`` in ``(x | g)``) is left out,
    and so is a column of ``me()`` latent values.
    {} without an intercept."""
    if not design.has_intercept or "Intercept" not in names:
        return {}
    centers = hierarchical_centering(design, parameterization, names)
    i0 = names.index("Intercept")

    def owns_intercept(blk: REBlock) -> bool:
        return blk.name in centers and centers[blk.name][blk.terms.index("Intercept")] == i0

    candidates = sorted(
        (
            blk
            for blk in design.blocks
            if parameterization[blk.name] == "centered"
            and "Intercept" in blk.terms
            and not blk.spans_dpars
        ),
        key=lambda blk: (not owns_intercept(blk), blk.n_levels),
    )
    used = {c for index in centers.values() for c in index if c >= 0}
    if design.me is not None:  # a column of latent values is not known per level
        latent = {c.coef for c in design.me.columns}
        used |= {k for k, name in enumerate(names) if name in latent}
    fixed = centered_fixed(design)
    out = {}
    for blk in candidates:
        order = np.argsort(blk.codes, kind="stable")
        starts = np.searchsorted(blk.codes[order], np.arange(blk.n_levels))
        index, columns = [], []
        for c in range(1, 1 + len(fixed.slopes)):
            if c in used:
                continue
            col = fixed.Xc[order, c]
            lo, hi = np.minimum.reduceat(col, starts), np.maximum.reduceat(col, starts)
            if np.all(hi - lo <= 1e-12 * max(1.0, float(np.max(np.abs(col))))):
                index.append(c)
                columns.append(fixed.Xc[order[starts], c])
        if index:
            used.update(index)
            out[blk.name] = LevelPredictors(tuple(index), np.column_stack(columns))
    return out


def theta_names(design: Design) -> list[str]:
    """Names of the sampled fixed-effect coefficients ``theta`` (see :class:`FixedPart`)."""
    names = list(design.x_names)
    if design.has_intercept:
        return ["Intercept", *[c for c in names if c != "Intercept"]]
    return names


def _not_marginal(family: Family | None) -> str:
    what = "no family given" if family is None else f"family {family.name}({family.link})"
    return (
        "parameterization 'marginal' integrates a block out of a gaussian model with identity "
        f"link; {what}: use 'noncentered', 'centered' or 'auto'"
    )


def _check_named_block(
    blk: REBlock, value: str, spec: Mapping[str, str], blocks: tuple[REBlock, ...], what: str
) -> None:
    """Refuse an integrated-out ``value`` given for ``blk``'s group when that group has several
    blocks (only one block may be ``what``): the user must name the block."""
    shared = [b.name for b in blocks if b.group == blk.group]
    if blk.name not in spec and len(shared) > 1:
        raise ArgumentError(
            f"{value!r} for group {blk.group!r} is ambiguous: it has blocks {shared}; "
            f"name one block (only one block may be {what})"
        )


def _not_laplace(family: Family | None) -> str:
    if family is None:
        return "parameterization 'laplace' needs a family (GLMMs of the kernel only)"
    what = f"family {family.name}({family.link})"
    if family.is_gaussian_identity:
        return (
            f"parameterization 'laplace' approximates the integral over a GLMM block's effects; "
            f"for {what} it is exact: use 'marginal'"
        )
    return (
        f"parameterization 'laplace' runs in the GLMM kernel, which has no row density for "
        f"{what} (kernel: bernoulli/binomial, poisson, negativebinomial): use 'noncentered', "
        "'centered' or 'auto'"
    )


def _check_param(value: str) -> None:
    if value not in PARAMETERIZATIONS:
        raise ArgumentError(
            f"unknown parameterization {value!r}; choose one of {list(PARAMETERIZATIONS)}"
        )
