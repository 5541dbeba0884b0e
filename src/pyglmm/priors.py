"""Priors: brms-like, data-scaled defaults, overridable by class and by group/term.

Parameter classes (brms's names):

* ``Intercept``: the intercept on *centered* predictors (brms's rule); the reported
  ``b[Intercept]`` is recovered as ``Intercept - mean(X) @ b``.
  Default (identity link): ``StudentT(nu=3, mu=median(y), sigma=s)`` with
  ``s = max(2.5, mad(y))`` and ``mad`` R's scaled MAD (1.4826 x median absolute deviation).
* ``b``: the other fixed effects. brms uses a flat prior, which NUTS in PyMC cannot use without
  care; we use a weakly informative ``Normal(0, 2.5 * sd(y) / sd(x_j))`` per column (the
  rstanarm autoscale rule), i.e. an effect of 2.5 outcome SDs per SD of the predictor is
  plausible. With a non-identity link, ``sd(y)`` is replaced by 1.
* ``sd``: random-effect standard deviations, ``HalfStudentT(nu=3, sigma=s)``.
* ``cor``: correlation matrices of correlated blocks, ``LKJ(eta=1)`` (uniform over correlation
  matrices); for a ``cs(x | g)`` block its one correlation rho, ``Uniform(-1/(q - 1), 1)``.
* ``ar``: the correlation rho of an ``ar1(0 + time | g)`` block, ``Uniform(-1, 1)`` (brms's
  class of autocorrelations). The correlation of ``cs``/``ar1`` takes a ``Uniform`` prior
  inside its interval (where the covariance is positive definite).
* an ``ar1`` block has one SD for all its terms: its ``sd`` prior is its first term's.
* ``sigma`` and other family parameters: defaults from the family (``HalfStudentT(3, s)`` for
  gaussian).
* ``meanme``, ``sdme`` (per latent variable ``mex``, brms's names) and ``corme`` (one LKJ
  prior): the location, scale and correlation of the latent true values of ``me(x, sdx)``
  terms. brms leaves ``meanme`` and ``sdme`` flat; pyglmm needs proper priors and scales them
  to the observed ``x``: ``meanme ~ Normal(mean(x), 2.5 sd(x))``, ``sdme ~ HalfStudentT(3,
  2.5 sd(x))`` (``sd(x)`` taken as 1 when it is 0); ``corme ~ LKJ(1)``. Overridden as
  ``{"meanme": pg.prior(...)}`` (every term) or ``{"meanme": {"mex1": ...}}``.

Overrides, in ``Model(priors=...)``::

    {"b": pg.prior("Normal", mu=0, sigma=10),            # every slope
     "b": {"Days": pg.prior("Normal", mu=10, sigma=5)},   # or one coefficient
     "sd": pg.prior("HalfNormal", sigma=20),              # every block
     "sd": {"Subject": pg.prior("HalfNormal", sigma=20)}, # one group (or block name)
     "sd": {"Subject": {"Days": pg.prior(...)}},          # one term of one group
     "cor": pg.prior("LKJ", eta=2), "cor": {"Subject": pg.prior("LKJ", eta=2)},
     "Intercept": ..., "sigma": ...}

Any leaf may also be a brms prior string, ``"normal(0, 10)"``, ``"student_t(3, 0, 2.5)"``,
``"lkj(2)"`` (:mod:`pyglmm.brms_prior`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm

from .brms_prior import brms_prior
from .errors import PriorError

# plus the family's own (sigma, shape, ...)
PRIOR_CLASSES = ("Intercept", "b", "sd", "cor", "ar", "meanme", "sdme", "corme")
ME_CLASSES = ("meanme", "sdme", "corme")

# parameters that must be positive wherever a PyMC distribution has them (scales, shapes,
# rates, degrees of freedom, LKJ's eta); Cauchy's ``alpha`` is its location
POSITIVE_PARAMS = frozenset({"sigma", "tau", "nu", "lam", "scale", "alpha", "beta", "b", "eta"})
LOCATION_PARAMS = frozenset({("Cauchy", "alpha")})


def _check_params(dist: str, params: dict[str, float]) -> None:
    """Refuse parameter names the distribution does not take and impossible values, naming
    them (rather than failing inside the sampler)."""
    known = ["eta"] if dist == "LKJ" else _param_names(dist)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise PriorError(
            f"prior {dist}: unknown parameter(s) {unknown}; {dist} takes {known} "
            "(PyMC's names, e.g. pg.prior('Normal', mu=0, sigma=10))"
        )
    for name, value in params.items():
        if not np.isfinite(value):
            raise PriorError(f"prior {dist}: {name}={value} is not finite")
        if name in POSITIVE_PARAMS and (dist, name) not in LOCATION_PARAMS and value <= 0:
            raise PriorError(f"prior {dist}: {name} must be positive, got {name}={value:g}")
    if "lower" in params and "upper" in params and params["lower"] >= params["upper"]:
        raise PriorError(f"prior {dist}: lower must be below upper, got {params}")


def _param_names(dist: str) -> list[str]:
    """The parameters ``pm.<dist>.dist`` takes (its signature less ``*args``/``**kwargs``)."""
    import inspect

    signature = inspect.signature(getattr(pm, dist).dist)
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [n for n, par in signature.parameters.items() if par.kind not in kinds]


@dataclass(frozen=True)
class Prior:
    """A prior distribution: a PyMC distribution name and its parameters.

    ``pg.prior("HalfNormal", sigma=20)``; ``"LKJ"`` (parameter ``eta``) is the correlation
    prior. Parameters are stored as floats (PyMC mis-evaluates some integer arguments).
    """

    dist: str
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dist != "LKJ" and not hasattr(pm, self.dist):
            raise PriorError(f"unknown PyMC distribution {self.dist!r} in prior")
        try:
            params = {k: float(v) for k, v in self.params.items()}
        except (TypeError, ValueError):
            raise PriorError(
                f"prior {self.dist}{self.params}: parameters must be numbers"
            ) from None
        _check_params(self.dist, params)
        object.__setattr__(self, "params", params)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{self.dist}({args})"

    def dist_obj(self, shape: tuple[int, ...] | int | None = None) -> Any:
        """An unnamed PyMC distribution (``pm.X.dist``), e.g. for ``sd_dist``."""
        kwargs: dict[str, Any] = dict(self.params)
        if shape is not None:
            kwargs["shape"] = shape
        return getattr(pm, self.dist).dist(**kwargs)

    def rv(self, name: str, dims: Any = None) -> Any:
        """A named random variable in the current PyMC model context."""
        return getattr(pm, self.dist)(name, dims=dims, **self.params)

    def code(self, name: str, dims: Any = None) -> str:
        """The PyMC statement :meth:`rv` runs, for ``Model.code()``."""
        args = [repr(name)] + [f"{k}={_fmt(v)}" for k, v in self.params.items()]
        if dims is not None:
            args.append(f"dims={dims!r}")
        return f"pm.{self.dist}({', '.join(args)})"


def prior(dist: str, **params: float) -> Prior:
    """Make a :class:`Prior`: ``prior("StudentT", nu=3, mu=0, sigma=2.5)``."""
    return Prior(dist, dict(params))


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def r_mad(y: np.ndarray) -> float:
    """R's ``mad()``: 1.4826 * median(|y - median(y)|)."""
    return float(1.4826 * np.median(np.abs(y - np.median(y))))


@dataclass(frozen=True)
class PriorSet:
    """The priors actually used by a model, one entry per (class, group, coef).

    ``intercept``: Prior or None; ``b``: coef -> Prior; ``sd``: block name -> term -> Prior;
    ``cor``: block name -> Prior (eta, or a structure's rho); ``family``: family-parameter
    name -> Prior; ``sources``: (class, group, coef) -> "default" | "user"; ``cor_class``:
    the class of a block's ``cor`` entry when it is not ``"cor"`` (``"ar"``).
    """

    intercept: Prior | None
    b: dict[str, Prior]
    sd: dict[str, dict[str, Prior]]
    cor: dict[str, Prior]
    family: dict[str, Prior]
    groups: dict[str, str]
    sources: dict[tuple[str, str, str], str]
    cor_class: dict[str, str] = field(default_factory=dict)
    me: dict[str, dict[str, Prior]] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """brms ``get_prior``-style table: prior, class, coef, group, source."""
        rows: list[tuple[str, str, str, str, str]] = []

        def add(p: Prior, cls: str, coef: str = "", group: str = "") -> None:
            src = self.sources.get((cls, group, coef), "default")
            rows.append((str(p), cls, coef, group, src))

        for coef, p in self.b.items():
            add(p, "b", coef)
        if self.intercept is not None:
            add(self.intercept, "Intercept")
        for block, terms in self.sd.items():
            for term, p in terms.items():
                add(p, "sd", term, self.groups[block])
        for block, p in self.cor.items():
            add(p, self.cor_class.get(block, "cor"), "", self.groups[block])
        for name, p in self.family.items():
            add(p, name)
        for cls, entries in self.me.items():
            for coef, p in entries.items():
                add(p, cls, coef)
        return pd.DataFrame(rows, columns=["prior", "class", "coef", "group", "source"])


def _lookup(spec: Any, keys: tuple[str, ...], default: Prior, cls: str) -> tuple[Prior, bool]:
    """Resolve a user spec that is a Prior or nested dicts keyed by ``keys`` in turn."""
    node = spec
    path = f"priors[{cls!r}]"
    for key in keys:
        if isinstance(node, (Prior, str)) or node is None:
            break
        if not isinstance(node, Mapping):
            raise PriorError(
                f"{path} must be a pg.prior(...) or a dict of them, got {type(node).__name__} "
                f"{node!r}"
            )
        node = node.get(key)
        path += f"[{key!r}]"
    if node is None:
        return default, False
    if isinstance(node, str):
        dist, params = brms_prior(node, cls, path)
        return Prior(dist, params), True
    if not isinstance(node, Prior):
        raise PriorError(
            f"{path} must be a pg.prior(...), e.g. pg.prior('Normal', mu=0, sigma=10); got "
            f"{type(node).__name__} {node!r}"
        )
    return node, True


def _check_keys(spec: Any, allowed: set[str], path: str, what: str) -> None:
    """Refuse keys of the override dict ``spec`` (at ``path``, e.g. ``priors['sd']``) that name
    no known ``what`` (coefficients, groups, terms)."""
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise PriorError(f"{path} names unknown {what} {unknown}; known: {sorted(allowed)}")


def build_priors(
    design: Any,
    family: Any,
    user: Mapping[str, Any] | None = None,
) -> PriorSet:
    """Default priors for ``design`` and ``family``, with the user's overrides applied.

    ``design`` is a :class:`pyglmm.design.Design`, ``family`` a :class:`pyglmm.families.Family`.
    Raises ValueError for an unknown class, group or coefficient in ``user``.
    """
    user = dict(user or {})
    fam_params = tuple(family.params)
    allowed = set(PRIOR_CLASSES) | set(fam_params)
    unknown = sorted(set(user) - allowed)
    if unknown:
        raise PriorError(
            f"unknown prior class {unknown} for family {family.name!r} (a family parameter the "
            f"family lacks has nothing to apply to); known classes: {sorted(allowed)}"
        )

    y = np.asarray(design.y, dtype=float)
    scale = family.default_scale(y, design.trials)
    center = family.default_center(y, design.trials)
    sources: dict[tuple[str, str, str], str] = {}

    intercept = None
    if design.has_intercept:
        default_int = prior("StudentT", nu=3, mu=center, sigma=scale)
        intercept, is_user = _lookup(user.get("Intercept"), (), default_int, "Intercept")
        if is_user:
            sources[("Intercept", "", "")] = "user"

    slope_names = [c for c in design.x_names if c != "Intercept"]
    _check_keys(user.get("b"), set(slope_names), "priors['b']", "coefficients")
    y_sd = family.slope_scale(y)
    b: dict[str, Prior] = {}
    for j, name in enumerate(design.x_names):
        if name == "Intercept":
            continue
        x_sd = float(np.std(design.X[:, j]))
        s = 2.5 * y_sd / x_sd if x_sd > 0 else 2.5 * y_sd
        b[name], is_user = _lookup(user.get("b"), (name,), prior("Normal", mu=0, sigma=s), "b")
        if is_user:
            sources[("b", "", name)] = "user"

    groups = {blk.name: blk.group for blk in design.blocks}
    keys = set(groups) | set(groups.values())
    _check_keys(user.get("sd"), keys, "priors['sd']", "groups")
    _check_keys(user.get("cor"), keys, "priors['cor']", "groups")
    ar_keys = {
        k
        for blk in design.blocks
        if blk.covariance.cor_class == "ar"
        for k in (blk.name, blk.group)
    }
    if "ar" in user and not ar_keys:
        raise PriorError("priors['ar'] is for ar1() blocks; this model has none")
    _check_keys(user.get("ar"), ar_keys, "priors['ar']", "ar1() groups")
    sd: dict[str, dict[str, Prior]] = {}
    cor: dict[str, Prior] = {}
    cor_class: dict[str, str] = {}
    for blk in design.blocks:
        gkey = (
            blk.name
            if isinstance(user.get("sd"), Mapping) and blk.name in user["sd"]
            else (blk.group)
        )
        sd[blk.name] = {}
        group_spec = user["sd"].get(gkey) if isinstance(user.get("sd"), Mapping) else None
        terms = {t for b in design.blocks if gkey in (b.name, b.group) for t in _sd_terms(b)}
        _check_keys(group_spec, terms, f"priors['sd'][{gkey!r}]", "terms")
        for term in _sd_terms(blk):
            p, is_user = _lookup(
                user.get("sd"), (gkey, term), prior("HalfStudentT", nu=3, sigma=scale), "sd"
            )
            sd[blk.name][term] = p
            if is_user:
                sources[("sd", blk.group, term)] = "user"
        support = blk.covariance.cor_support(blk.q)
        if blk.covariance.correlated and support is not None:
            cls = blk.covariance.cor_class
            spec = user.get(cls)
            ckey = blk.name if isinstance(spec, Mapping) and blk.name in spec else blk.group
            default = prior("Uniform", lower=support[0], upper=support[1])
            p, is_user = _lookup(spec, (ckey,), default, "ar")
            _check_structure_prior(p, support, f"priors[{cls!r}][{ckey!r}]")
            cor[blk.name] = p
            cor_class[blk.name] = cls
            if is_user:
                sources[(cls, blk.group, "")] = "user"
        elif blk.covariance.correlated:
            ckey = (
                blk.name
                if isinstance(user.get("cor"), Mapping) and blk.name in user["cor"]
                else blk.group
            )
            p, is_user = _lookup(user.get("cor"), (ckey,), prior("LKJ", eta=1), "cor")
            if p.dist != "LKJ":
                raise PriorError("a 'cor' prior must be pg.prior('LKJ', eta=...)")
            cor[blk.name] = p
            if is_user:
                sources[("cor", blk.group, "")] = "user"

    fam: dict[str, Prior] = {}
    for name, default in family.default_priors(y, design.trials).items():
        fam[name], is_user = _lookup(user.get(name), (), default, name)
        if is_user:
            sources[(name, "", "")] = "user"
    me = _me_priors(getattr(design, "me", None), user, sources)
    return PriorSet(intercept, b, sd, cor, fam, groups, sources, cor_class, me)


def _me_priors(
    me: Any, user: Mapping[str, Any], sources: dict[tuple[str, str, str], str]
) -> dict[str, dict[str, Prior]]:
    """The priors of the latent values of ``me()`` terms (module docstring); ``sources`` gets
    the user's entries."""
    given = [cls for cls in ME_CLASSES if cls in user]
    if me is None:
        if given:
            raise PriorError(f"priors{given} are for me() terms; this model has none")
        return {}
    names = list(me.names)
    if "corme" in user and not me.correlated:
        raise PriorError(
            "priors['corme'] is the correlation of several me() terms' latent values; this "
            "model has " + ("mecor=False" if len(names) > 1 else "one me() term")
        )
    out: dict[str, dict[str, Prior]] = {"meanme": {}, "sdme": {}}
    for cls in ("meanme", "sdme"):
        _check_keys(user.get(cls), set(names), f"priors[{cls!r}]", "me() terms")
        for k, name in enumerate(names):
            x = me.x[:, k]
            spread = float(np.std(x)) or 1.0
            default = (
                prior("Normal", mu=float(np.mean(x)), sigma=2.5 * spread)
                if cls == "meanme"
                else prior("HalfStudentT", nu=3, sigma=2.5 * spread)
            )
            out[cls][name], is_user = _lookup(user.get(cls), (name,), default, cls)
            if is_user:
                sources[(cls, "", name)] = "user"
    if me.correlated:
        p, is_user = _lookup(user.get("corme"), (), prior("LKJ", eta=1), "corme")
        if p.dist != "LKJ":
            raise PriorError("a 'corme' prior must be pg.prior('LKJ', eta=...) or 'lkj(eta)'")
        out["corme"] = {"": p}
        if is_user:
            sources[("corme", "", "")] = "user"
    return out


def _sd_terms(blk: Any) -> tuple[str, ...]:
    """The terms with an SD prior: all, or the first when the kind shares one SD (ar1)."""
    return tuple(blk.terms[:1]) if blk.covariance.shared_sd else tuple(blk.terms)


def _check_structure_prior(p: Prior, support: tuple[float, float], where: str) -> None:
    """A structure's correlation (ar1, cs) takes ``Uniform(lower, upper)`` inside ``support``,
    where the covariance is positive definite (the factor would fail outside it)."""
    lo, hi = support
    ok = (
        p.dist == "Uniform"
        and p.params.get("lower", -np.inf) >= lo - 1e-12
        and p.params.get("upper", np.inf) <= hi + 1e-12
    )
    if not ok:
        raise PriorError(
            f"{where} = {p}: the correlation of this structure takes a Uniform(lower, upper) "
            f"prior within ({lo:.4g}, {hi:.4g}), where its covariance is positive definite"
        )
