"""Stage 4: compile a design, priors and family into a PyMC model (:func:`build_model`).

Linear predictor (brms's centering of the fixed part)::

    eta_i = Intercept + (X_i - xbar) . beta + offset_i + sum_k Z_k[i, :] . r_k[codes_k[i], :]
    b     = [Intercept - xbar . beta, beta]              (reported, over the coef names)

Each block's variables come from the builders of its kind (:mod:`pyglmm.compile.blocks`) for
its parameterization (:func:`~pyglmm.compile.parameterization.resolve_parameterization`). A
``"marginal"`` block (gaussian, identity link; one block) gets only its ``L``/``sd`` priors:
its effects are integrated out and the likelihood is ``pm.Potential('y_marginal', ...)`` of
:mod:`pyglmm.marginal` (``r_<block>`` is drawn after sampling by ``Model.fit``).

Variable names: ``b`` (dims ``coef``), ``Intercept`` and ``beta`` (``coef_slope``) with an
intercept, the blocks' variables, family parameters (``sigma``) and the observed ``y`` (dims
``obs``).

Distributional formulas (``pg.bf``): a parameter with a formula, e.g. ``sigma``, is a vector
over the rows, ``sigma_i = exp(eta_sigma_i)`` (``nu``: ``1 + exp``), with its own centred
fixed part (``Intercept_sigma``, ``beta_sigma``, reported ``b_sigma`` over ``sigma_coef``) and
its blocks (``REBlock.dpar``), built by the same block builders::

    eta_sigma_i = Intercept_sigma + (X^s_i - xbar^s) . beta_sigma
                  + sum_{k: dpar_k = sigma} Z_k[i, :] . r_k[codes_k[i], :]

A block merged across formulas by brms's ``|ID|`` (``REBlock.col_dpars``) is built once (one
covariance over all its columns, never hierarchically centered) and each column j enters its
own predictor: ``eta_{d_j} += Z[:, j] * r[codes, j]``.

(no marginal block then: the integrated likelihood assumes one sigma).

An ordinal model (``design.categories``): no intercept column; the thresholds
``b_Intercept`` (:mod:`pyglmm.compile.ordinal`) enter the family's likelihood with ``eta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import marginal
from .. import names as _names
from ..design import Design, DparPart, REBlock
from ..design.centering import centered_fixed
from ..errors import ArgumentError
from ..families import Family
from ..priors import PriorSet
from .additions import additions_likelihood
from .blocks import Center, _dims, block_contribution, pymc_block
from .listing import _Code, _kw, _stacked
from .measurement import latent_design, me_coords
from .multivariate import mv_coords, mv_likelihood
from .ordinal import add_thresholds, threshold_coords
from .parameterization import (
    LevelPredictors,
    group_level_centering,
    hierarchical_centering,
    resolve_parameterization,
    theta_names,
)


@dataclass(frozen=True)
class CompiledModel:
    """A PyMC model plus the readable program text and the resolved parameterization."""

    model: pm.Model
    code: str
    parameterization: dict[str, str]


def coords_of(design: Design) -> dict[str, Any]:
    """Named coordinates for every dim the model uses."""
    coords: dict[str, Any] = {"obs": np.arange(design.n_obs)}
    parts: list[tuple[Design | DparPart, str]] = [(design, "")]
    parts += [(p, p.name) for p in design.dpars]
    for part, dpar in parts:
        dim = _names.coef_dim(dpar)
        coords[dim] = list(part.x_names)
        slopes = [c for c in part.x_names if c != "Intercept"]
        if part.has_intercept and slopes:
            coords[f"{dim}_slope"] = slopes
    coords |= me_coords(design) | mv_coords(design)
    coords |= threshold_coords(design)
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


def _fixed_part(
    design: Design | DparPart,
    priors: PriorSet,
    code: _Code,
    dpar: str = "",
) -> FixedPart:
    """The fixed part of the mean (``dpar=""``) or of a distributional parameter's formula
    (variables ``Intercept_sigma``, ``beta_sigma``, ``b_sigma``); with an intercept, slopes
    act on centered columns. With ``me()`` terms (the mean's formula only) the columns that
    use latent values are tensors (:mod:`pyglmm.compile.measurement`), centered by the
    observed columns' means (a constant shift: ``b`` is unchanged)."""
    names = list(design.x_names)
    n = design.X.shape[0]
    me = design.me if isinstance(design, Design) else None
    X = latent_design(design, priors, code) if isinstance(design, Design) else design.X
    sfx = f"_{dpar}" if dpar else ""
    b_name, dim = _names.dpar_fixed(dpar), _names.coef_dim(dpar)
    i_name, beta_name, eta = f"Intercept{sfx}", f"beta{sfx}", f"eta{sfx}"
    x_name = f"X{sfx}"
    icpt = priors.dpar_intercept.get(dpar) if dpar else priors.intercept
    b_priors = priors.dpar_b[dpar] if dpar else priors.b
    centred = centered_fixed(design)
    i0 = centred.intercept
    if i0 is None or icpt is None:  # (an intercept column has an Intercept prior)
        if not names:
            return FixedPart(pt.zeros(n), None, np.zeros((n, 0)), pt.zeros(0), None)
        b = _stacked(b_name, [b_priors[c] for c in names], dim, code)
        code(f"{eta} = {x_name} @ {b_name}")
        return FixedPart(pt.dot(X, b), b, design.X, b, None)
    code(f"{i_name} = {icpt.code(i_name)}  # on centered predictors")
    intercept = icpt.rv(i_name)
    slopes = [names[j] for j in centred.slopes]
    if not slopes:
        b = pm.Deterministic(b_name, pt.stack([intercept]), dims=dim)
        code(f"{b_name} = pm.Deterministic({b_name!r}, [{i_name}], dims={dim!r})")
        return FixedPart(intercept, b, centred.Xc, pt.stack([intercept]), 0)
    xbar, Xc = centred.xbar, centred.Xc
    beta = _stacked(beta_name, [b_priors[c] for c in slopes], f"{dim}_slope", code)
    b_int = intercept - pt.dot(xbar, beta)
    parts = [beta[k] for k in range(len(slopes))]
    parts.insert(i0, b_int)
    xbar_text = _kw({"": xbar})[1:]
    code(
        f"{b_name} = pm.Deterministic({b_name!r}, [{i_name} - xbar{sfx} @ {beta_name}, "
        f"{beta_name}], dims={dim!r})  # xbar{sfx} = {xbar_text}"
    )
    b = pm.Deterministic(b_name, pt.stack(parts), dims=dim)
    code(f"{eta} = {i_name} + ({x_name} - xbar{sfx}) @ {beta_name}")
    theta = pt.concatenate([pt.stack([intercept]), beta])
    if me is not None:  # the slopes' columns, latent ones included, centred
        slopes_x = X[:, list(centred.slopes)] - xbar
        return FixedPart(intercept + pt.dot(slopes_x, beta), b, Xc, theta, 0)
    return FixedPart(intercept + pt.dot(Xc[:, 1:], beta), b, Xc, theta, 0)


def _center(
    blk: REBlock,
    index: tuple[int, ...],
    fixed: FixedPart,
    names: list[str],
    level: LevelPredictors | None = None,
) -> Center | None:
    """The :class:`Center` of a block from its :func:`hierarchical_centering` indices and
    :func:`group_level_centering` predictors (none: not hierarchically centered)."""
    if not index and level is None:
        return None
    index = index or (-1,) * blk.q
    vec = "beta" if fixed.intercept_col is not None else "b"
    offset = 1 if fixed.intercept_col is not None else 0

    def text(c: int) -> str:
        if c < 0:
            return "0"
        return "Intercept" if names[c] == "Intercept" else f"{vec}[{c - offset}]"

    parts = [fixed.theta[c] if c >= 0 else pt.constant(0.0) for c in index]
    texts = [text(c) for c in index]
    if level is None:
        return Center(pt.stack(parts), "[" + ", ".join(texts) + "]")
    i0 = blk.terms.index("Intercept")
    shares = pt.dot(pt.as_tensor(level.values), fixed.theta[list(level.index)])
    cols = [
        shares + parts[i] if i == i0 else pt.ones(blk.n_levels) * parts[i]
        for i in range(len(parts))
    ]
    texts[i0] += f" + W_{blk.name} @ {vec}[{[c - offset for c in level.index]}]"
    return Center(pt.stack(cols, axis=1), "[" + ", ".join(texts) + "]")


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
    latent_only = "me() terms" if design.me is not None else ""
    if design.additions is not None and design.additions.changes_likelihood:
        latent_only = f"the addition terms {design.additions.describe()}"
    params = resolve_parameterization(
        parameterization,
        design.blocks,
        family,
        latent_only=latent_only,
        distributional=design.distributional,
    )
    laplace = [name for name, value in params.items() if value == "laplace"]
    if laplace:
        raise ArgumentError(
            f"parameterization 'laplace' (block {laplace[0]!r}) runs only in the compiled-once "
            "kernel (model.fit() with sampler='nutpie' and kernel=None or True); there is no "
            "PyMC model of it: use 'noncentered', 'centered' or 'auto' for the PyMC path"
        )
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
        levels = group_level_centering(design, params, names)
        dpar_eta = {p.name: _fixed_part(p, priors, code, p.name).eta for p in design.dpars}
        for blk in design.blocks:
            kind = pymc_block(blk.covariance)
            if blk.spans_dpars:  # brms's |ID| across formulas: columns to their predictors
                r = kind.builders[params[blk.name]](blk, priors, code, None)
                for dpar in dict.fromkeys(blk.column_dpars):
                    cols = blk.columns_of(dpar)
                    eta_d = f"eta_{dpar}" if dpar else "eta"
                    code(
                        f"{eta_d} = {eta_d} + (r_{blk.name}[codes_{blk.name}][:, {cols.tolist()}]"
                        f" * Z_{blk.name}[:, {cols.tolist()}]).sum(-1)"
                    )
                    contribution = block_contribution(blk, r, cols.tolist())
                    if dpar:
                        dpar_eta[dpar] = dpar_eta[dpar] + contribution
                    else:
                        eta = eta + contribution
                continue
            if blk.dpar:  # a distributional parameter's block: not centered on a fixed effect
                r = kind.builders[params[blk.name]](blk, priors, code, None)
                z_text = "" if blk.q == 1 and np.all(blk.Z == 1.0) else f" * Z_{blk.name}"
                eta_d = f"eta_{blk.dpar}"
                code(f"{eta_d} = {eta_d} + (r_{blk.name}[codes_{blk.name}]{z_text}).sum(-1)")
                dpar_eta[blk.dpar] = dpar_eta[blk.dpar] + block_contribution(blk, r)
                continue
            if params[blk.name] == "marginal":
                marginal_blk = blk
                marginal_scale = kind.scale(blk, priors, code)
                continue
            builder = kind.builders[params[blk.name]]
            center = _center(blk, centers.get(blk.name, ()), fixed, names, levels.get(blk.name))
            r = builder(blk, priors, code, center)
            z_text = "" if blk.q == 1 and np.all(blk.Z == 1.0) else f" * Z_{blk.name}"
            code(f"eta = eta + (r_{blk.name}[codes_{blk.name}]{z_text}).sum(-1)")
            contribution = block_contribution(blk, r)
            eta = eta + contribution
            other = contribution if other is None else other + contribution
            latent.append(blk.name)
        if design.mv is not None:  # one predictor per response (compile/multivariate.py)
            mv_likelihood(design, priors, code, dpar_eta)
            return _compiled(model, code, params)
        fam_params = {}
        for name, p in priors.family.items():
            code(f"{name} = {p.code(name)}")
            fam_params[name] = p.rv(name)
        for name, eta_d in dpar_eta.items():
            code(family.dpar_code(name))
            fam_params[name] = family.dpar_linkinv(name, eta_d)
        if marginal_blk is not None:
            y_eff = design.y if design.offset is None else design.y - design.offset
            stats = marginal.sufficient_stats(marginal_blk, fixed.Xc, y_eff, fixed.intercept_col)
            loglik = marginal.marginal_loglik(
                stats,
                fixed.theta,
                fam_params["sigma"],
                marginal_scale,
                diag=not marginal_blk.covariance.correlated,
                other=other,
            )
            for line in marginal.marginal_code(marginal_blk, latent, design.offset is not None):
                code(line)
            pm.Potential("y_marginal", loglik)
        elif design.categories:  # ordinal: thresholds, no mean (pyglmm.compile.ordinal)
            fam_params[_names.THRESHOLDS] = add_thresholds(design, priors, family, fixed.b, code)
            code(family.likelihood_code("y"))
            family.likelihood("y", eta, design.y, fam_params, design.trials)
        else:
            if not design.categorical:  # (a categorical model's predictors are its dpars)
                code(
                    f"mu = linkinv_{family.link}(eta)" if family.link != "identity" else "mu = eta"
                )
            mu = family.linkinv(eta)
            if design.additions is not None:  # brms's weights(), se(), cens(), trunc()
                additions_likelihood(design, family, mu, fam_params, code)
            else:
                code(family.likelihood_code("y"))
                family.likelihood("y", mu, design.y, fam_params, design.trials)
    return _compiled(model, code, params)


def _compiled(model: pm.Model, code: _Code, params: dict[str, str]) -> CompiledModel:
    text = "\n".join(code.lines[:2] + ["    " + line for line in code.lines[2:]])
    return CompiledModel(model, text, params)
