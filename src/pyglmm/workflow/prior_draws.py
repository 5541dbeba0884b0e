"""Parameter sets for simulation: drawn from the priors, or given by the user.

Parameters are given (and reported in ``df.attrs["params"]``) in one nested format::

    {"b": {"Intercept": 250, "Days": 10},                 # every fixed effect
     "sd": {"Subject": {"Intercept": 25, "Days": 6}},     # every block (group or block name)
     "cor": {"Subject": {("Intercept", "Days"): 0.3}},    # optional; missing pairs are 0
     "sigma": 25}                                         # the family's parameters

An ordinal model (``cumulative``) gives its thresholds as ``"Intercept": [-1.0, 0.5, 2.0]``
(increasing; or ``{1: ..., 2: ..., 3: ...}``); its prior draws sort independent draws of the
centred thresholds (exact for equal priors, the default) and add ``xbar . b``.

A single-term block may give its SD as a number (``"sd": {"g": 0.5}``). Group keys name a
grouping factor (``"Subject"``); when several blocks share one (``(1 | g) + (0 + x | g)``) the
block names (``"g"``, ``"g_2"``) may be used instead. :func:`params_from_dict` checks such a dict
and names what is missing or out of range (SDs and ``Family.positive_params`` must be positive,
correlation matrices positive definite).

Distributional formulas (``pg.bf(..., "sigma ~ x + (1 | g)")``): the formula's coefficients
are among ``"b"`` by brms's names (``"sigma_Intercept"``, ``"sigma_x"``, on the link scale), its
blocks' SDs under ``"sd"`` by block name (``"sigma_g"``) or group with the block's terms
(``{"g": {"Intercept": 1, "sigma_Intercept": 0.3}}``), and the parameter has no value of its
own (``"sigma"`` is refused).

Multivariate models (``mvbind``, ``bf() + bf()``): the coefficients by brms's names
(``"y1_Intercept"``, ``"y1_x"``) among ``"b"``, the family parameters per response
(``"sigma_y1"``; a shared ``"nu"`` with student ``rescor``) and ``"rescor": {("y1", "y2"):
0.5}`` (:mod:`pyglmm.workflow.simulation_mv`); prior draws draw ``rescor`` from its LKJ prior.

Structured blocks: an ``ar1`` block has one SD (a number, or its first term's entry; other
terms may repeat it), and an ``ar1``/``cs`` block one correlation rho, given as the pair of its
first two terms (``{("t1", "t2"): rho}``, the pair the summary reports as ``ar1``/``cs``), from
which the whole correlation matrix follows (``rho^|i-j|``, or ``rho`` off the diagonal).

Prior draws (:func:`draw_prior`) use ``pm.draw`` of each prior's ``dist_obj``; the Intercept
prior is on centred predictors (brms's rule, :mod:`pyglmm.design.centering`), so
``b_Intercept = Intercept - xbar . slopes``. Both give a
:class:`~pyglmm.results.params.ParamDraws`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm

from .. import stack
from ..design.centering import centered_fixed
from ..errors import ArgumentError, UnsupportedModelError
from ..names import THRESHOLDS
from ..results.params import PARAM_CLASSES, ParamDraws
from ..spec import ModelSpec
from .param_checks import family_value
from .param_checks import number as _number
from .simulation_mv import mv_family_values, mv_param_keys

if TYPE_CHECKING:
    from ..design import Design, DparPart, REBlock


def check_simulable(design: Any) -> None:
    """:class:`UnsupportedModelError` for a design with ``me()`` terms (simulation does not
    draw latent predictors: their distribution is a model of the data, not of the design) or
    several responses."""
    if getattr(design, "me", None) is not None:
        raise UnsupportedModelError(
            "simulation (simulate, recover, prior draws) of a model with me() terms is not "
            "supported yet: simulate the true predictors, their measurements and the response "
            "yourself"
        )
    # Addition terms all simulate: weights() and rate() (the draws ignore weights, as brms's
    # do), trunc() (drawn within the bounds by rejection), se() (the rows' SDs join sigma),
    # cens() (drawn, then censored at the data's bounds: simulation.apply_censoring).


def draw_prior(model: ModelSpec, draws: int = 1, seed: Any = None) -> ParamDraws:
    """``draws`` parameter sets from ``model.prior_set`` (one compiled ``pm.draw`` call)."""
    design, ps = model.design, model.prior_set
    check_simulable(design)
    names = list(design.x_names)
    dists: list[Any] = []
    keys: list[tuple[str, ...]] = []
    if ps.intercept is not None:
        dists.append(ps.intercept.dist_obj())
        keys.append(("Intercept",))
    for c in names:
        if c != "Intercept":
            dists.append(ps.b[c].dist_obj())
            keys.append(("b", c))
    for blk in design.blocks:
        for t in blk.terms[:1] if blk.covariance.shared_sd else blk.terms:
            dists.append(ps.sd[blk.name][t].dist_obj())
            keys.append(("sd", blk.name, t))
        if blk.covariance.cor_tag:  # ar1, cs: a scalar rho (a Uniform prior)
            dists.append(ps.cor[blk.name].dist_obj())
            keys.append(("cor", blk.name))
        elif blk.covariance.correlated:
            eta = ps.cor[blk.name].params.get("eta", 1.0)
            dists.append(stack.lkj_corr_matrix_dist(blk.q, eta))
            keys.append(("cor", blk.name))
    mv = design.mv  # a multivariate model: sigma_y1, ..., and the residual correlations
    fam_priors = ps.family if mv is None else ps.scalar_family(mv)  # type: ignore[attr-defined]
    for name, p in fam_priors.items():
        dists.append(p.dist_obj())
        keys.append(("family", name))
    rescor = None if mv is None else ps.rescor  # type: ignore[attr-defined]
    if rescor is not None and mv is not None:
        eta = float(rescor.params.get("eta", 1.0))
        dists.append(stack.lkj_corr_matrix_dist(len(mv.responses), eta))
        keys.append(("family", "rescor"))
    for part in design.dpars:  # a distributional formula's coefficients (pg.bf)
        if part.name in ps.dpar_intercept:
            dists.append(ps.dpar_intercept[part.name].dist_obj())
            keys.append(("Intercept", part.name))
        for c in part.x_names:
            if c != "Intercept":
                dists.append(ps.dpar_b[part.name][c].dist_obj())
                keys.append(("b", part.name, c))
    for k, p in enumerate(ps.thresholds):  # an ordinal model's (centred) thresholds
        dists.append(p.dist_obj())
        keys.append(("thres", str(k)))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    values = pm.draw(dists, draws=draws, random_seed=rng) if dists else []
    if len(dists) == 1:
        values = [values]
    # pm.draw drops the draws axis when draws == 1
    got = {
        k: np.asarray(v, dtype=float)[None] if draws == 1 else np.asarray(v, dtype=float)
        for k, v in zip(keys, values, strict=True)
    }

    b = _reported_b(design, draws, got, ())
    dpar_b = {part.name: _reported_b(part, draws, got, (part.name,)) for part in design.dpars}
    sd = {}
    for blk in design.blocks:
        drawn = blk.terms[:1] * blk.q if blk.covariance.shared_sd else blk.terms
        sd[blk.name] = np.column_stack([got[("sd", blk.name, t)] for t in drawn])
    cor = {}
    for blk in design.blocks:
        if blk.covariance.cor_tag:
            cor[blk.name] = structure_correlation(blk, got[("cor", blk.name)])
        elif blk.covariance.correlated:
            cor[blk.name] = got[("cor", blk.name)]
        else:
            cor[blk.name] = _eye(draws, blk.q)
    fam = {name: got[("family", name)] for name in fam_priors}
    if rescor is not None:
        fam["rescor"] = got[("family", "rescor")]
    if ps.thresholds:
        fam[THRESHOLDS] = _prior_thresholds(design, b, got, len(ps.thresholds))
    return ParamDraws(b, sd, cor, fam, dpar_b)


def _reported_b(
    part: Design | DparPart, draws: int, got: Mapping[tuple[str, ...], np.ndarray], key: tuple
) -> np.ndarray:
    """The reported coefficients (draws, p) of the mean's (``key = ()``) or a distributional
    formula's (``key = (name,)``) fixed part from prior draws of the slopes and of the
    intercept on centred predictors: ``b_Intercept = Intercept - xbar . slopes``."""
    b = np.zeros((draws, len(part.x_names)))
    for j, c in enumerate(part.x_names):
        if c != "Intercept":
            b[:, j] = got[("b", *key, c)]
    fixed = centered_fixed(part)
    if fixed.intercept is not None and ("Intercept", *key) in got:
        b[:, fixed.intercept] = fixed.b_intercept(
            got[("Intercept", *key)], b[:, list(fixed.slopes)]
        )
    return b


def _prior_thresholds(
    design: Design, b: np.ndarray, got: dict[tuple[str, ...], np.ndarray], n: int
) -> np.ndarray:
    """Reported thresholds (S, n) from independent prior draws of the centred ones: sorted
    (the ordered prior's distribution when the thresholds' priors are equal, the default:
    the order statistics of iid draws), then shifted by ``xbar . b``
    (:mod:`pyglmm.compile.ordinal`)."""
    centred = np.sort(np.column_stack([got[("thres", str(k))] for k in range(n)]), axis=1)
    xbar = np.asarray(design.X, dtype=float).mean(axis=0) if design.X.shape[1] else None
    return centred if xbar is None else centred + (b @ xbar)[:, None]


def structure_correlation(blk: REBlock, rho: np.ndarray) -> np.ndarray:
    """The correlation matrices (S, q, q) of an ``ar1``/``cs`` block from its rho (S,)."""
    kind: Any = blk.covariance
    return np.asarray(kind.correlation(np.asarray(rho, dtype=float)[:, None, None], blk.q))


def _eye(draws: int, q: int) -> np.ndarray:
    return np.broadcast_to(np.eye(q), (draws, q, q)).copy()


def _block_spec(
    spec: Any, cls: str, blk: REBlock, design: Design
) -> tuple[Any, str] | tuple[None, None]:
    """The entry of ``params[cls]`` for ``blk`` (by block name, else by group name)."""
    if not isinstance(spec, Mapping):
        return None, None
    if blk.name in spec:
        return spec[blk.name], blk.name
    if blk.group in spec:
        return spec[blk.group], blk.group
    return None, None


def params_from_dict(model: ModelSpec, params: Mapping[str, Any]) -> ParamDraws:
    """Validate the nested parameter dict (see the module docstring) into one draw."""
    design, family = model.design, model.family
    check_simulable(design)
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    allowed = {*PARAM_CLASSES, *family.params} | ({"Intercept"} if design.categories else set())
    if design.mv is not None:  # sigma_y1, ..., rescor (simulation_mv.py)
        allowed = {*PARAM_CLASSES, *mv_param_keys(design)}
    unknown = sorted(str(k) for k in set(params) - allowed)
    if unknown:
        raise ArgumentError(f"unknown params key(s) {unknown}; known: {sorted(allowed)}")

    # fixed effects: all required (a distributional formula's by brms's name, sigma_x)
    coefs = [*design.x_names, *(c for part in design.dpars for c in part.labels)]
    b_spec = params.get("b", {} if not coefs else None)
    if not isinstance(b_spec, Mapping):
        raise ArgumentError(f"params['b'] must be a dict of every fixed effect: {coefs}")
    extra = sorted(str(k) for k in set(b_spec) - set(coefs))
    if extra:
        raise ArgumentError(f"params['b'] names unknown coefficient(s) {extra}; known: {coefs}")
    missing = [c for c in coefs if c not in b_spec]
    if missing:
        raise ArgumentError(f"params['b'] is missing coefficient(s) {missing}")
    b = np.array([[_number(b_spec[c], f"['b'][{c!r}]") for c in design.x_names]])
    dpar_b = {
        part.name: np.array([[_number(b_spec[c], f"['b'][{c!r}]") for c in part.labels]])
        for part in design.dpars
    }

    # group keys
    keys = {blk.name for blk in design.blocks} | {blk.group for blk in design.blocks}
    for cls in ("sd", "cor"):
        spec = params.get(cls)
        if spec is None:
            continue
        if not isinstance(spec, Mapping):
            raise ArgumentError(f"params[{cls!r}] must be a dict keyed by group: {sorted(keys)}")
        bad = sorted(str(k) for k in set(spec) - keys)
        if bad:
            raise ArgumentError(
                f"params[{cls!r}] names unknown group(s) {bad}; known: {sorted(keys)}"
            )

    sd: dict[str, np.ndarray] = {}
    cor: dict[str, np.ndarray] = {}
    used_terms: dict[tuple[str, str], set[str]] = {}
    for blk in design.blocks:
        entry, key = _block_spec(params.get("sd"), "sd", blk, design)
        if entry is None:
            raise ArgumentError(
                f"params['sd'] is missing group {blk.group!r} (terms {list(blk.terms)})"
            )
        if not isinstance(entry, Mapping):  # one number: a one-term or one-SD block's
            if blk.q != 1 and not blk.covariance.shared_sd:
                raise ArgumentError(
                    f"params['sd'][{key!r}] must be a dict over terms {list(blk.terms)}"
                )
            entry = {blk.terms[0]: entry}
        if key == blk.group and key != blk.name:
            shared = [b for b in design.blocks if b.group == blk.group]
            if len(shared) > 1 and any(
                t in other.terms for other in shared if other is not blk for t in blk.terms
            ):
                raise ArgumentError(
                    f"group {blk.group!r} has several blocks with a common term "
                    f"({', '.join(b.name for b in shared)}); key params['sd'] by block name"
                )
        used_terms.setdefault(("sd", str(key)), set()).update(entry)
        if blk.covariance.shared_sd and blk.terms[0] in entry:  # one SD: the rest repeat it
            entry = {t: entry.get(t, entry[blk.terms[0]]) for t in blk.terms}
            if len({_number(v, f"['sd'][{key!r}]") for v in entry.values()}) > 1:
                raise ArgumentError(
                    f"params['sd'][{key!r}]: block {blk.name!r} ({blk.covariance.name}) has "
                    f"one SD for all its terms; give it once, e.g. {{{blk.terms[0]!r}: 1.0}}"
                )
        values = []
        for t in blk.terms:
            if t not in entry:
                raise ArgumentError(f"params['sd'][{key!r}] is missing term {t!r}")
            v = _number(entry[t], f"['sd'][{key!r}][{t!r}]")
            if v < 0:
                raise ArgumentError(f"params['sd'][{key!r}][{t!r}] must be >= 0, got {v}")
            values.append(v)
        sd[blk.name] = np.array([values])

        c = np.eye(blk.q)
        centry, ckey = _block_spec(params.get("cor"), "cor", blk, design)
        if centry is not None:
            if not isinstance(centry, Mapping):
                raise ArgumentError(
                    f"params['cor'][{ckey!r}] must be a dict {{(term1, term2): value}}"
                )
            for pair, value in centry.items():
                if not (isinstance(pair, tuple) and len(pair) == 2):
                    raise ArgumentError(
                        f"params['cor'][{ckey!r}] keys must be (term1, term2) pairs, got {pair!r}"
                    )
                if pair[0] not in blk.terms or pair[1] not in blk.terms:
                    if (
                        ckey == blk.group
                        and len([b for b in design.blocks if b.group == blk.group]) > 1
                    ):
                        continue  # belongs to another block of the group (checked below)
                    raise ArgumentError(
                        f"params['cor'][{ckey!r}] pair {pair!r}: terms must be among "
                        f"{list(blk.terms)}"
                    )
                if pair[0] == pair[1]:
                    raise ArgumentError(f"params['cor'][{ckey!r}] pair {pair!r} repeats a term")
                v = _number(value, f"['cor'][{ckey!r}][{pair!r}]")
                if not -1 <= v <= 1:
                    raise ArgumentError(f"params['cor'][{ckey!r}][{pair!r}] must be in [-1, 1]")
                if v != 0 and not blk.covariance.correlated:
                    raise ArgumentError(
                        f"block {blk.name!r} is uncorrelated ('||' or one term): "
                        f"params['cor'][{ckey!r}][{pair!r}] must be 0"
                    )
                j, k = blk.terms.index(pair[0]), blk.terms.index(pair[1])
                if blk.covariance.cor_tag:  # ar1/cs: rho, as the first two terms' pair
                    if {j, k} != {0, 1}:
                        raise ArgumentError(
                            f"params['cor'][{ckey!r}]: block {blk.name!r} "
                            f"({blk.covariance.name}) has one correlation rho; give it as the "
                            f"pair {(blk.terms[0], blk.terms[1])!r}"
                        )
                    c = structure_correlation(blk, np.array([v]))[0]
                    continue
                c[j, k] = c[k, j] = v
                used_terms.setdefault(("cor", str(ckey)), set()).add(str(pair))
            try:
                np.linalg.cholesky(c)
            except np.linalg.LinAlgError:
                raise ArgumentError(
                    f"params['cor'][{ckey!r}] is not a valid correlation matrix "
                    "(not positive definite)"
                ) from None
        cor[blk.name] = c[None]

    # terms named under a group key that no block of the group has
    for (cls, key), terms in used_terms.items():
        if cls != "sd":
            continue
        known = {t for b in design.blocks if key in (b.name, b.group) for t in b.terms}
        bad = sorted(str(t) for t in set(terms) - known)
        if bad:
            raise ArgumentError(
                f"params['sd'][{key!r}] names unknown term(s) {bad}; known: {sorted(known)}"
            )
    cor_spec = params.get("cor")
    if isinstance(cor_spec, Mapping):
        for key, entry in cor_spec.items():
            if not isinstance(entry, Mapping):
                continue
            known = {t for b in design.blocks if key in (b.name, b.group) for t in b.terms}
            for pair in entry:
                if isinstance(pair, tuple) and not set(pair) <= known:
                    raise ArgumentError(
                        f"params['cor'][{key!r}] pair {pair!r}: terms must be among {sorted(known)}"
                    )

    if design.mv is not None:
        return ParamDraws(b, sd, cor, mv_family_values(design, params), dpar_b)
    fam: dict[str, np.ndarray] = {}
    modelled = {part.name for part in design.dpars}
    given = sorted(modelled & set(params))
    if given:
        raise ArgumentError(
            f"params[{given[0]!r}]: {given[0]!r} has a formula (pg.bf); give its "
            f"coefficients in params['b'] ({given[0]}_Intercept, ...)"
        )
    fixed = set(getattr(design, "fixed_params", ()))  # sigma under se(s): the rows' SDs
    if fixed & set(params):
        raise ArgumentError(
            f"params[{sorted(fixed & set(params))[0]!r}]: the model has no such parameter "
            "(se(s) makes the rows' known SDs the residual SDs; se(s, sigma = TRUE) adds one)"
        )
    if design.categories:
        fam[THRESHOLDS] = _given_thresholds(params.get("Intercept"), len(design.categories) - 1)
    for name in family.params:
        if name in modelled or name in fixed:
            continue
        fam[name] = np.array([family_value(params, name, family, name)])
    return ParamDraws(b, sd, cor, fam, dpar_b)


def _given_thresholds(spec: Any, n: int) -> np.ndarray:
    """An ordinal model's ``params["Intercept"]``: its ``n`` thresholds, a list or a dict
    ``{1: ..., 2: ...}``, strictly increasing; as (1, n)."""
    if isinstance(spec, Mapping):
        spec = {str(k): v for k, v in spec.items()}
        if set(spec) != {str(k) for k in range(1, n + 1)}:
            raise ArgumentError(
                f"params['Intercept'] must give the {n} thresholds 1..{n}, got keys {sorted(spec)}"
            )
        spec = [spec[str(k)] for k in range(1, n + 1)]
    if spec is None or isinstance(spec, (str, bytes)) or np.ndim(spec) != 1 or len(spec) != n:
        raise ArgumentError(
            f"params['Intercept'] must be the model's {n} thresholds in increasing order "
            f"(a list, or a dict {{1: ..., {n}: ...}}), got {spec!r}"
        )
    values = np.array([_number(v, f"['Intercept'][{k}]") for k, v in enumerate(spec, start=1)])
    if np.any(np.diff(values) <= 0):
        raise ArgumentError(f"params['Intercept'] must increase strictly, got {values.tolist()}")
    return values[None, :]
