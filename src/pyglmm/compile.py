"""Stage 4: compile a design, priors and family into a PyMC model.

Linear predictor (brms's centering of the fixed part)::

    eta_i = Intercept + (X_i - xbar) . beta + offset_i + sum_k Z_k[i, :] . r_k[codes_k[i], :]
    b     = [Intercept - xbar . beta, beta]              (reported, over the coef names)

One pure builder per (block kind, parameterization) adds the block's variables:

* ``"lkj"``: ``L = LKJCholeskyCov(eta, sd_dist)`` (L L' = Sigma, the block covariance);
  non-centered ``z ~ Normal(0, 1)`` (levels x q) and ``r = z L'``; centered
  ``r ~ MvNormal(0, chol=L)``.
* ``"diag"``: ``sd`` (q,); non-centered ``r = sd * z``; centered ``r ~ Normal(0, sd)``.
* centered blocks whose terms are fixed effects are hierarchically centered on them
  (:func:`hierarchical_centering`): ``alpha ~ MvNormal(mu, chol=L)`` / ``Normal(mu, sd)``
  with ``mu = theta_c`` per term (0 for other terms) and ``r = alpha - mu``.
* ``"marginal"`` (gaussian, identity link; one block): only the block's ``L``/``sd`` priors;
  its effects are integrated out and the likelihood is ``pm.Potential('y_marginal', ...)``
  of :mod:`pyglmm.marginal` (``r_<block>`` is drawn after sampling by ``Model.fit``).
  ``"auto"`` chooses per block, see :func:`resolve_parameterization`.

Variable names: ``b`` (dims ``coef``), ``sd_<block>`` (``<block>_term``), ``cor_<block>``
(``<block>_term`` x ``<block>_term_``), ``r_<block>`` and, for hierarchically centered blocks,
``alpha_<block>`` (``<block>_level`` x ``<block>_term``),
family parameters (``sigma``) and the observed ``y`` (dims ``obs``). To add a block kind or a
parameterization: write a builder with the signature of :func:`lkj_noncentered` and register it
in ``BLOCK_BUILDERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from . import marginal, stack
from .design import Design, REBlock
from .errors import ArgumentError
from .families import Family
from .priors import Prior, PriorSet

PARAMETERIZATIONS = ("noncentered", "centered", "marginal", "auto")

# ``"auto"``: a latent block is centered when its median number of rows per level is at least this.
AUTO_CENTERED_MIN_ROWS = 20
# ... times this for bernoulli/binomial rows (a 0/1 outcome carries at most 1/4 of the information)
AUTO_BINARY_FACTOR = 4


@dataclass(frozen=True)
class Center:
    """The mean a hierarchically centered block's effects are centered on: ``mean`` (q,)
    holds ``theta_c`` for centered terms and 0 for the others; ``text`` is its code."""

    mean: Any
    text: str


@dataclass(frozen=True)
class CompiledModel:
    """A PyMC model plus the readable program text and the resolved parameterization."""

    model: pm.Model
    code: str
    parameterization: dict[str, str]


def can_marginalize(family: Family | None) -> bool:
    """Whether a block can be integrated out (``Family.marginalizable``: gaussian, identity)."""
    return family is not None and family.marginalizable


def auto_latent(blk: REBlock, family: Family | None = None) -> str:
    """The ``"auto"`` rule for a latent block: ``"centered"`` when the median number of rows
    per level is at least ``AUTO_CENTERED_MIN_ROWS`` times ``Family.information_factor`` (20;
    80 for bernoulli/binomial), else ``"noncentered"``."""
    rows = np.bincount(blk.codes, minlength=blk.n_levels)
    threshold = AUTO_CENTERED_MIN_ROWS * (1 if family is None else family.information_factor)
    return "centered" if float(np.median(rows)) >= threshold else "noncentered"


def resolve_parameterization(
    spec: str | Mapping[str, str], blocks: tuple[REBlock, ...], family: Family | None = None
) -> dict[str, str]:
    """Per-block parameterization (``"noncentered"``, ``"centered"`` or ``"marginal"``).

    ``spec`` is a string for all blocks or a dict keyed by block name or group (blocks not
    named get ``"noncentered"``).

    * ``"marginal"`` (string): the block with most levels (the first on ties) is integrated
      out (gaussian family with identity link only, see :mod:`pyglmm.marginal`); the other
      blocks follow the ``"auto"`` rule for latent blocks. In a dict, ``"marginal"`` names the
      block; at most one block may be marginal (a group name shared by several blocks is
      ambiguous: name the block, e.g. ``"g_2"``).
    * ``"auto"`` (string): the marginal block as for ``"marginal"`` when the family allows it;
      each other block is ``"centered"`` if the median number of rows per level is at least
      ``AUTO_CENTERED_MIN_ROWS`` = 20, else ``"noncentered"``. Rationale: the data carry
      ``n_j sd^2 / sigma^2`` units of information about a level's effect relative to its prior;
      the centered form samples well when that is large, the non-centered one when it is
      small, and with SDs of the order of sigma/4 the crossover is near 20 rows per level.
      The rule uses the data only (no estimates); for non-gaussian families ``"auto"``
      applies this latent rule only, with 4x the rows for bernoulli/binomial (a 0/1 outcome
      carries at most 1/4 of the information; measured on a 100k-row, 2,000-group Bernoulli
      model with 50 rows per level: non-centered finished 4 x 2000 iterations in 9 min,
      centered had not after 15). In a dict, ``"auto"`` applies the latent rule to the named
      block.
    """
    marginal_ok = can_marginalize(family)
    if isinstance(spec, str):
        _check_param(spec)
        if spec == "marginal" and not marginal_ok:
            raise ArgumentError(_not_marginal(family))
        if spec in ("noncentered", "centered"):
            return {blk.name: spec for blk in blocks}
        target = None
        if marginal_ok and blocks:
            target = max(blocks, key=lambda blk: blk.n_levels).name
        return {
            blk.name: "marginal" if blk.name == target else auto_latent(blk, family)
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
            shared = [b.name for b in blocks if b.group == blk.group]
            if blk.name not in spec and len(shared) > 1:
                raise ArgumentError(
                    f"'marginal' for group {blk.group!r} is ambiguous: it has blocks {shared}; "
                    "name one block (only one block may be marginal)"
                )
        out[blk.name] = auto_latent(blk, family) if value == "auto" else value
    marginal_blocks = [k for k, v in out.items() if v == "marginal"]
    if len(marginal_blocks) > 1:
        raise ArgumentError(f"only one block may be marginal, got {marginal_blocks}")
    return out


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
        if parameterization[blk.name] != "centered":
            continue
        for t in blk.terms:
            if t in names and (t not in owner or len(blk.levels) < len(owner[t].levels)):
                owner[t] = blk
    owners = {blk.name for blk in owner.values()}
    return {
        blk.name: tuple(names.index(t) if owner.get(t) is blk else -1 for t in blk.terms)
        for blk in design.blocks
        if blk.name in owners
    }


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


def _check_param(value: str) -> None:
    if value not in PARAMETERIZATIONS:
        raise ArgumentError(
            f"unknown parameterization {value!r}; choose one of {list(PARAMETERIZATIONS)}"
        )


class _Code:
    """Collects the PyMC statements as they are issued, for ``Model.code()``."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


def _stacked(name: str, priors: list[Prior], dims: str, code: _Code) -> Any:
    """One vector random variable over ``dims`` with per-element prior parameters; when the
    elements' distributions differ, one scalar variable each, stacked into a Deterministic."""
    dists = {p.dist for p in priors}
    if len(dists) == 1:
        params = {k: np.array([p.params[k] for p in priors]) for k in priors[0].params}
        dist = priors[0].dist
        code(f"{name} = pm.{dist}({name!r}, {_kw(params)}, dims={dims!r})")
        return getattr(pm, dist)(name, dims=dims, **params)
    parts = []
    for i, p in enumerate(priors):
        code(f"{name}_{i} = {p.code(f'{name}_{i}')}")
        parts.append(p.rv(f"{name}_{i}"))
    code(f"{name} = pm.Deterministic({name!r}, pt.stack([...]), dims={dims!r})")
    return pm.Deterministic(name, pt.stack(parts), dims=dims)


def _kw(params: Mapping[str, Any]) -> str:
    def show(v: Any) -> str:
        arr = np.atleast_1d(v)
        if arr.size > 1 and np.all(arr == arr[0]):
            return f"{float(arr[0]):.4g}"
        return "[" + ", ".join(f"{x:.4g}" for x in arr) + "]" if arr.size > 1 else f"{arr[0]:.4g}"

    return ", ".join(f"{k}={show(v)}" for k, v in params.items())


def _dims(blk: REBlock) -> tuple[str, str]:
    return f"{blk.name}_level", f"{blk.name}_term"


def _lkj_chol(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    """``LKJCholeskyCov`` for an lkj block; registers ``sd_<name>`` and ``cor_<name>``."""
    sd_priors = [priors.sd[blk.name][t] for t in blk.terms]
    if len({p.dist for p in sd_priors}) > 1:
        raise ValueError(
            f"the sd priors of the correlated block {blk.name!r} must share one distribution "
            f"(got {sorted({p.dist for p in sd_priors})}); vary their parameters instead"
        )
    params = {k: np.array([p.params[k] for p in sd_priors]) for k in sd_priors[0].params}
    sd_dist = getattr(pm, sd_priors[0].dist).dist(shape=blk.q, **params)
    eta = priors.cor[blk.name].params.get("eta", 1.0)
    name = blk.name
    code(
        f"L_{name}, cor_{name}, sd_{name} = pm.LKJCholeskyCov('L_{name}', n={blk.q}, "
        f"eta={eta:.4g}, sd_dist=pm.{sd_priors[0].dist}.dist({_kw(params)}, shape={blk.q}))"
    )
    chol, corr, stds = pm.LKJCholeskyCov(
        f"L_{name}",
        n=blk.q,
        eta=eta,
        sd_dist=sd_dist,
        compute_corr=True,
        store_in_trace=False,
        **stack.lkj_cholesky_initval(blk.q),
    )
    _, term = _dims(blk)
    pm.Deterministic(f"sd_{name}", stds, dims=term)
    pm.Deterministic(f"cor_{name}", corr, dims=(term, term + "_"))
    return chol


def lkj_noncentered(
    blk: REBlock, priors: PriorSet, code: _Code, center: Center | None = None
) -> Any:
    """``z ~ Normal(0, 1)``, ``r = z L'``: levels x q correlated effects (``center`` is for
    centered builders only)."""
    chol = _lkj_chol(blk, priors, code)
    dims = _dims(blk)
    code(f"z_{blk.name} = pm.Normal('z_{blk.name}', 0, 1, dims={dims!r})")
    z = pm.Normal(f"z_{blk.name}", 0.0, 1.0, dims=dims)
    code(f"r_{blk.name} = pm.Deterministic('r_{blk.name}', z_{blk.name} @ L_{blk.name}.T)")
    return pm.Deterministic(f"r_{blk.name}", z @ chol.T, dims=dims)


def _mvn_rows_logp(value: Any, mu: Any, chol: Any) -> Any:
    """log N(r_j | mu, L L') per level j, with one triangular solve for all levels:
    ``-1/2 |L^-1 (r_j - mu)|^2 - sum(log diag L) - q/2 log(2 pi)``. (PyMC's MvNormal
    re-factors ``L L'`` and solves per level, which nutpie's numba backend runs ~20x slower.)"""
    while chol.ndim > 2:  # PyMC broadcasts the shared factor over the level axis
        chol = chol[0]
    while mu.ndim > 1:
        mu = mu[0]
    z = pt.linalg.solve_triangular(chol, (value - mu).T, lower=True)
    log_det = pt.sum(pt.log(pt.diag(chol)))
    return -0.5 * pt.sum(z**2, axis=0) - log_det - 0.5 * value.shape[-1] * np.log(2 * np.pi)


def _mvn_rows_random(
    mu: np.ndarray, chol: np.ndarray, rng: np.random.Generator, size: Any
) -> np.ndarray:
    q = chol.shape[-1]
    factor = np.asarray(chol).reshape(-1, q, q)[0]
    return np.asarray(mu).reshape(-1, q)[0] + rng.standard_normal((*size, q)) @ factor.T


def _centered_effects(blk: REBlock, center: Center | None, dims: Any, code: _Code, rv: Any) -> Any:
    """``r`` from the block's centered random variable ``rv(name, mu, mu_text)``: ``r`` itself
    (mu = 0), or ``alpha`` around ``center`` and ``r = alpha - mu``."""
    name = blk.name
    if center is None:
        return rv(f"r_{name}", pt.zeros(blk.q), "0")
    alpha = rv(f"alpha_{name}", center.mean, center.text)
    code(f"r_{name} = pm.Deterministic('r_{name}', alpha_{name} - {center.text})")
    return pm.Deterministic(f"r_{name}", alpha - center.mean, dims=dims)


def lkj_centered(blk: REBlock, priors: PriorSet, code: _Code, center: Center | None = None) -> Any:
    """``r_j ~ MultivariateNormal(0, L L')`` for each level j (see :func:`_mvn_rows_logp`),
    or ``alpha_j ~ MultivariateNormal(mu, L L')``, ``r_j = alpha_j - mu`` with ``center``."""
    chol = _lkj_chol(blk, priors, code)
    dims = _dims(blk)

    def rv(name: str, mu: Any, mu_text: str) -> Any:
        code(f"{name} = MvNormal({name!r}, mu={mu_text}, chol=L_{blk.name}, dims={dims!r})")
        return pm.CustomDist(
            name,
            mu,
            chol,
            logp=_mvn_rows_logp,
            random=_mvn_rows_random,
            signature="(q),(q,q)->(q)",
            dims=dims,
        )

    return _centered_effects(blk, center, dims, code, rv)


def _diag_sd(blk: REBlock, priors: PriorSet, code: _Code) -> Any:
    _, term = _dims(blk)
    return _stacked(f"sd_{blk.name}", [priors.sd[blk.name][t] for t in blk.terms], term, code)


def diag_noncentered(
    blk: REBlock, priors: PriorSet, code: _Code, center: Center | None = None
) -> Any:
    """``z ~ Normal(0, 1)``, ``r = sd * z``: independent effects."""
    sd = _diag_sd(blk, priors, code)
    dims = _dims(blk)
    code(f"z_{blk.name} = pm.Normal('z_{blk.name}', 0, 1, dims={dims!r})")
    z = pm.Normal(f"z_{blk.name}", 0.0, 1.0, dims=dims)
    code(f"r_{blk.name} = pm.Deterministic('r_{blk.name}', z_{blk.name} * sd_{blk.name})")
    return pm.Deterministic(f"r_{blk.name}", z * sd, dims=dims)


def diag_centered(blk: REBlock, priors: PriorSet, code: _Code, center: Center | None = None) -> Any:
    """``r ~ Normal(0, sd)``, or ``alpha ~ Normal(mu, sd)``, ``r = alpha - mu`` with
    ``center``."""
    sd = _diag_sd(blk, priors, code)
    dims = _dims(blk)

    def rv(name: str, mu: Any, mu_text: str) -> Any:
        code(f"{name} = pm.Normal({name!r}, {mu_text}, sd_{blk.name}, dims={dims!r})")
        return pm.Normal(name, mu, sd, dims=dims)

    return _centered_effects(blk, center, dims, code, rv)


Builder = Callable[[REBlock, PriorSet, _Code, Center | None], Any]
BLOCK_BUILDERS: dict[tuple[str, str], Builder] = {
    ("lkj", "noncentered"): lkj_noncentered,
    ("lkj", "centered"): lkj_centered,
    ("diag", "noncentered"): diag_noncentered,
    ("diag", "centered"): diag_centered,
}


def block_contribution(blk: REBlock, r: Any) -> Any:
    """``sum_j Z[i, j] * r[codes[i], j]`` by one indexed gather per column (never a dense Z;
    per-column gathers ran 1.6x faster than gathering rows of ``r`` under nutpie's numba
    backend on a 100k-row Bernoulli model). Columns of ones are not multiplied."""
    out = None
    for j in range(blk.q):
        z = blk.Z[:, j]
        term = r[blk.codes, j] if np.all(z == 1.0) else r[blk.codes, j] * z
        out = term if out is None else out + term
    return out


def coords_of(design: Design) -> dict[str, Any]:
    """Named coordinates for every dim the model uses."""
    coords: dict[str, Any] = {"obs": np.arange(design.n_obs), "coef": list(design.x_names)}
    slopes = [c for c in design.x_names if c != "Intercept"]
    if design.has_intercept and slopes:
        coords["coef_slope"] = slopes
    for blk in design.blocks:
        level, term = _dims(blk)
        coords[level] = list(blk.levels)
        coords[term] = list(blk.terms)
        coords[term + "_"] = list(blk.terms)
    return coords


@dataclass(frozen=True)
class FixedPart:
    """The fixed part as sampled: ``eta = Xc @ theta`` with ``Xc = [1, X - xbar]`` and
    ``theta = [Intercept, beta]`` (with an intercept; ``intercept_col`` its column), or
    ``Xc = X``, ``theta = b`` without one. ``b`` is the reported coefficient vector."""

    eta: Any
    b: Any
    Xc: np.ndarray
    theta: Any
    intercept_col: int | None


def _fixed_part(design: Design, priors: PriorSet, code: _Code) -> FixedPart:
    """The fixed part; with an intercept, slopes act on centered columns."""
    names = list(design.x_names)
    n = design.n_obs
    if not design.has_intercept:
        if not names:
            return FixedPart(pt.zeros(n), None, np.zeros((n, 0)), pt.zeros(0), None)
        b = _stacked("b", [priors.b[c] for c in names], "coef", code)
        code("eta = X @ b")
        return FixedPart(pt.dot(design.X, b), b, design.X, b, None)
    assert priors.intercept is not None
    code(f"Intercept = {priors.intercept.code('Intercept')}  # on centered predictors")
    intercept = priors.intercept.rv("Intercept")
    i0 = names.index("Intercept")
    slopes = [c for c in names if c != "Intercept"]
    if not slopes:
        b = pm.Deterministic("b", pt.stack([intercept]), dims="coef")
        code("b = pm.Deterministic('b', [Intercept], dims='coef')")
        return FixedPart(intercept, b, np.ones((n, 1)), pt.stack([intercept]), 0)
    cols = [j for j in range(len(names)) if j != i0]
    xs = design.X[:, cols]
    xbar = xs.mean(axis=0)
    beta = _stacked("beta", [priors.b[c] for c in slopes], "coef_slope", code)
    b_int = intercept - pt.dot(xbar, beta)
    parts = [beta[k] for k in range(len(slopes))]
    parts.insert(i0, b_int)
    xbar_text = _kw({"": xbar})[1:]
    code(
        "b = pm.Deterministic('b', [Intercept - xbar @ beta, beta], dims='coef')"
        f"  # xbar = {xbar_text}"
    )
    b = pm.Deterministic("b", pt.stack(parts), dims="coef")
    code("eta = Intercept + (X - xbar) @ beta")
    Xc = np.column_stack([np.ones(n), xs - xbar])
    theta = pt.concatenate([pt.stack([intercept]), beta])
    return FixedPart(intercept + pt.dot(xs - xbar, beta), b, Xc, theta, 0)


def _center(index: tuple[int, ...], fixed: FixedPart, names: list[str]) -> Center | None:
    """The :class:`Center` of a block from its :func:`hierarchical_centering` indices (none:
    not hierarchically centered)."""
    if not index:
        return None
    mean = pt.stack([fixed.theta[c] if c >= 0 else pt.constant(0.0) for c in index])
    vec = "beta" if fixed.intercept_col is not None else "b"
    offset = 1 if fixed.intercept_col is not None else 0

    def text(c: int) -> str:
        if c < 0:
            return "0"
        return "Intercept" if names[c] == "Intercept" else f"{vec}[{c - offset}]"

    return Center(mean, "[" + ", ".join(text(c) for c in index) + "]")


def build_model(
    design: Design,
    priors: PriorSet,
    family: Family,
    parameterization: str | Mapping[str, str] = "noncentered",
) -> CompiledModel:
    """Build the PyMC model of ``design`` (pure: a new ``pm.Model`` each call).

    A block resolved to ``"marginal"`` gets its prior variables (``L_``/``sd_``/``cor_``) but
    no effects: the likelihood is the marginal one of :mod:`pyglmm.marginal`, registered as
    ``pm.Potential('y_marginal', ...)``, and ``r_<block>`` is drawn after sampling.
    """
    params = resolve_parameterization(parameterization, design.blocks, family)
    code = _Code()
    code(f"# {design.formula.formula}   family: {family.name}({family.link}), n = {design.n_obs}")
    code("with pm.Model(coords=coords) as model:")
    with pm.Model(coords=coords_of(design)) as model:
        fixed = _fixed_part(design, priors, code)
        eta = fixed.eta
        if design.offset is not None:
            code("eta = eta + offset")
            eta = eta + design.offset
        marginal_blk: REBlock | None = None
        marginal_scale: Any = None
        other: Any = None
        latent: list[str] = []
        names = theta_names(design)
        centers = hierarchical_centering(design, params, names)
        for blk in design.blocks:
            if params[blk.name] == "marginal":
                marginal_blk = blk
                if blk.kind == "lkj":
                    marginal_scale = _lkj_chol(blk, priors, code)
                else:
                    marginal_scale = _diag_sd(blk, priors, code)
                continue
            builder = BLOCK_BUILDERS[(blk.kind, params[blk.name])]
            r = builder(blk, priors, code, _center(centers.get(blk.name, ()), fixed, names))
            z_text = "" if blk.q == 1 and np.all(blk.Z == 1.0) else f" * Z_{blk.name}"
            code(f"eta = eta + (r_{blk.name}[codes_{blk.name}]{z_text}).sum(-1)")
            contribution = block_contribution(blk, r)
            eta = eta + contribution
            other = contribution if other is None else other + contribution
            latent.append(blk.name)
        fam_params = {}
        for name, p in priors.family.items():
            code(f"{name} = {p.code(name)}")
            fam_params[name] = p.rv(name)
        if marginal_blk is not None:
            y_eff = design.y if design.offset is None else design.y - design.offset
            stats = marginal.sufficient_stats(marginal_blk, fixed.Xc, y_eff, fixed.intercept_col)
            loglik = marginal.marginal_loglik(
                stats,
                fixed.theta,
                fam_params["sigma"],
                marginal_scale,
                diag=marginal_blk.kind == "diag",
                other=other,
            )
            for line in marginal.marginal_code(marginal_blk, latent, design.offset is not None):
                code(line)
            pm.Potential("y_marginal", loglik)
        else:
            code(f"mu = linkinv_{family.link}(eta)" if family.link != "identity" else "mu = eta")
            mu = family.linkinv(eta)
            code(family.likelihood_code("y"))
            family.likelihood("y", mu, design.y, fam_params, design.trials)
    text = "\n".join(code.lines[:2] + ["    " + line for line in code.lines[2:]])
    return CompiledModel(model, text, params)
