"""Priors: brms-like, data-scaled defaults, overridable by class and by group/term.

Parameter classes (brms's names):

* ``Intercept``: the intercept on *centered* predictors (brms's rule); the reported
  ``b[Intercept]`` is recovered as ``Intercept - mean(X) @ b``.
  Default (identity link): ``StudentT(nu=3, mu=median(y), sigma=s)`` with
  ``s = max(2.5, mad(y))`` and ``mad`` R's scaled MAD (1.4826 x median absolute deviation).
* ``Intercept`` of an ordinal model (``cumulative``): its K - 1 thresholds on centred
  predictors, ``StudentT(3, 0, 2.5)`` each (brms); ``{"Intercept": {2: ...}}`` sets the
  second (brms's ``coef``). One distribution for all (their vector is ordered).
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
* ``sds``: the SD of a smooth term's penalized coefficients (``s(x)``: ``sds(sx_1)``,
  :mod:`pyglmm.design.smooths`), brms's class and default, the ``sd`` default
  ``HalfStudentT(3, s)``; overridden for all smooths (``{"sds": ...}``) or one, by its name
  (``{"sds": {"sx_1": ...}}``). Its blocks take no ``sd`` prior.
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

Distributional formulas (``pg.bf(..., "sigma ~ x + (1 | g)")``): the parameter's intercept
is class ``Intercept_sigma`` (default ``StudentT(3, 0, 2.5)`` on the log scale, brms's
``student_t(3, 0, 2.5)``), its slopes class ``b_sigma`` (``Normal(0, 2.5 / sd(x_j))``, the
non-identity-link rule; brms: flat), overridden as ``Intercept``/``b`` are
(``{"b_sigma": {"x": ...}}``); the class names are brms's Stan names, class + ``_`` + dpar. Its
blocks' SDs are class ``sd`` with the block's terms, ``sd(sigma_Intercept)``:
``{"sd": {"g": {"sigma_Intercept": ...}}}``, default ``HalfStudentT(3, 2.5)``. A parameter with
a formula has no prior of its own (``priors["sigma"]`` is refused). ``model.priors`` then has
a ``dpar`` column. A block merged across formulas by brms's ``|ID|`` (``(1 |p| g)`` in the
mean's and ``sigma``'s) has an ``sd`` prior per term, each with its own formula's default
(``Intercept``: the response's scale, ``sigma_Intercept``: 2.5) and ``dpar``, and one ``cor``
(LKJ) prior under its group, as any correlated block.

Any leaf may also be a brms prior string, ``"normal(0, 10)"``, ``"student_t(3, 0, 2.5)"``,
``"lkj(2)"`` (:mod:`pyglmm.brms_prior`).

A categorical model (``family="categorical"``): each category's predictor ``mu2``, ... is a
distributional parameter, so its classes are ``Intercept_mu2`` and ``b_mu2`` (brms's ``dpar =
"mu2"``); ``"Intercept"`` / ``"b"`` without a category apply to every category that has no
entry of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import PriorError
from .prior_dist import Prior as Prior
from .prior_dist import _check_keys, _lookup
from .prior_dist import prior as prior
from .prior_dist import r_mad as r_mad

# plus the family's own (sigma, shape, ...)
PRIOR_CLASSES = ("Intercept", "b", "sd", "sds", "cor", "ar", "meanme", "sdme", "corme")
ME_CLASSES = ("meanme", "sdme", "corme")


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
    dpar_intercept: dict[str, Prior] = field(default_factory=dict)
    dpar_b: dict[str, dict[str, Prior]] = field(default_factory=dict)
    dpar_blocks: dict[str, str] = field(default_factory=dict)  # block name -> its dpar
    # block name -> term -> its dpar, for a block spanning predictors (brms's |ID|)
    dpar_terms: dict[str, dict[str, str]] = field(default_factory=dict)
    me: dict[str, dict[str, Prior]] = field(default_factory=dict)
    thresholds: tuple[Prior, ...] = ()  # an ordinal model's, class Intercept, coef 1..K-1
    smooths: tuple[str, ...] = ()  # the blocks of smooth terms (their sd entry is class sds)

    def table(self) -> pd.DataFrame:
        """brms ``get_prior``-style table: prior, class, coef, group, source (and dpar, for a
        model with distributional formulas: the rows of ``Intercept_sigma``/``b_sigma`` are
        class ``Intercept``/``b`` with dpar ``sigma``)."""
        rows: list[tuple[str, ...]] = []

        def add(p: Prior, cls: str, coef: str = "", group: str = "", dpar: str = "") -> None:
            key = f"{cls}_{dpar}" if dpar and cls in ("b", "Intercept") else cls
            src = self.sources.get((key, group, coef), "default")
            rows.append((str(p), cls, coef, group, src, dpar))

        for coef, p in self.b.items():
            add(p, "b", coef)
        if self.intercept is not None:
            add(self.intercept, "Intercept")
        for k, p in enumerate(self.thresholds, start=1):
            add(p, "Intercept", str(k))
        for dpar, p in self.dpar_intercept.items():
            add(p, "Intercept", dpar=dpar)
        for dpar, coefs in self.dpar_b.items():
            for coef, p in coefs.items():
                add(p, "b", coef, dpar=dpar)
        for block, terms in self.sd.items():
            if block in self.smooths:
                for p in terms.values():
                    add(p, "sds", block)
                continue
            for term, p in terms.items():
                dpar = self.dpar_terms.get(block, {}).get(term, self.dpar_blocks.get(block, ""))
                add(p, "sd", term, self.groups[block], dpar)
        for block, p in self.cor.items():
            cls = self.cor_class.get(block, "cor")
            add(p, cls, "", self.groups[block], self.dpar_blocks.get(block, ""))
        for name, p in self.family.items():
            add(p, name)
        for cls, entries in self.me.items():
            for coef, p in entries.items():
                add(p, cls, coef)
        columns = ["prior", "class", "coef", "group", "source", "dpar"]
        table = pd.DataFrame(rows, columns=columns)
        return table if self.dpar_intercept or self.dpar_b else table.iloc[:, :5]


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
    dpars = tuple(getattr(design, "dpars", ()))
    if getattr(design, "categorical", ()):  # brms: per category; plain b/Intercept: all
        for cls in ("b", "Intercept"):
            if cls in user:
                spec = user.pop(cls)
                for part in dpars:
                    user.setdefault(f"{cls}_{part.name}", spec)
    modelled = {part.name for part in dpars}
    absent = set(getattr(design, "fixed_params", ()))  # sigma under brms's se(s)
    fam_params = tuple(p for p in family.params if p not in modelled | absent)
    dpar_classes = {f"{c}_{part.name}" for part in dpars for c in ("Intercept", "b")}
    allowed = set(PRIOR_CLASSES) | set(fam_params) | dpar_classes
    given = sorted(modelled & set(user))
    if given:
        raise PriorError(
            f"{given[0]!r} has a formula (pg.bf), so it has no prior of its own: set the "
            f"priors of its coefficients, classes 'Intercept_{given[0]}' and 'b_{given[0]}', "
            f"and of its blocks' SDs (class 'sd')"
        )
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

    thresholds = _threshold_priors(design, user, sources)
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

    smooth_blocks = tuple(blk.name for blk in design.blocks if blk.covariance.smooth)
    if "sds" in user and not smooth_blocks:
        raise PriorError("priors['sds'] is for smooth terms (s(x)); this model has none")
    _check_keys(user.get("sds"), set(smooth_blocks), "priors['sds']", "smooth terms")
    groups = {blk.name: blk.group for blk in design.blocks}
    keys = {k for blk in design.blocks if not blk.covariance.smooth for k in (blk.name, blk.group)}
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
        if blk.covariance.smooth:
            p, is_user = _lookup(
                user.get("sds"), (blk.name,), prior("HalfStudentT", nu=3, sigma=scale), "sds"
            )
            sd[blk.name] = {blk.terms[0]: p}
            if is_user:
                sources[("sds", "", blk.name)] = "user"
            continue
        gkey = (
            blk.name
            if isinstance(user.get("sd"), Mapping) and blk.name in user["sd"]
            else (blk.group)
        )
        sd[blk.name] = {}
        group_spec = user["sd"].get(gkey) if isinstance(user.get("sd"), Mapping) else None
        terms = {t for b in design.blocks if gkey in (b.name, b.group) for t in _sd_terms(b)}
        _check_keys(group_spec, terms, f"priors['sd'][{gkey!r}]", "terms")
        term_dpar = dict(zip(blk.terms, blk.column_dpars, strict=True))
        for term in _sd_terms(blk):
            sd_scale = 2.5 if term_dpar[term] else scale  # a dpar's terms act on its link scale
            p, is_user = _lookup(
                user.get("sd"), (gkey, term), prior("HalfStudentT", nu=3, sigma=sd_scale), "sd"
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
        if name in modelled or name in absent:
            continue
        fam[name], is_user = _lookup(user.get(name), (), default, name)
        if is_user:
            sources[(name, "", "")] = "user"
    dpar_intercept, dpar_b = _dpar_priors(dpars, user, sources, family)
    me = _me_priors(getattr(design, "me", None), user, sources)
    dpar_blocks = {blk.name: blk.dpar for blk in design.blocks if blk.dpar and not blk.col_dpars}
    dpar_terms = {
        blk.name: dict(zip(blk.terms, blk.column_dpars, strict=True))
        for blk in design.blocks
        if blk.col_dpars
    }
    return PriorSet(
        intercept,
        b,
        sd,
        cor,
        fam,
        groups,
        sources,
        cor_class,
        dpar_intercept,
        dpar_b,
        dpar_blocks,
        dpar_terms,
        me,
        thresholds,
        smooth_blocks,
    )


def _threshold_priors(
    design: Any, user: Mapping[str, Any], sources: dict[tuple[str, str, str], str]
) -> tuple[Prior, ...]:
    """An ordinal model's threshold priors (``design.categories``: K - 1 of them), brms's
    ``student_t(3, 0, 2.5)`` each on the centred thresholds; ``priors["Intercept"]`` sets all,
    ``priors["Intercept"][k]`` (k = 1..K-1, as brms's ``coef``) one."""
    n = len(getattr(design, "categories", ())) - 1
    if n < 1:
        return ()
    spec = user.get("Intercept")
    if isinstance(spec, Mapping):
        spec = {str(k): v for k, v in spec.items()}
        _check_keys(spec, {str(k) for k in range(1, n + 1)}, "priors['Intercept']", "thresholds")
    out = []
    for k in range(1, n + 1):
        default = prior("StudentT", nu=3, mu=0, sigma=2.5)
        p, is_user = _lookup(spec, (str(k),), default, "Intercept")
        if is_user:
            sources[("Intercept", "", str(k))] = "user"
        out.append(p)
    return tuple(out)


def _dpar_priors(
    dpars: tuple[Any, ...],
    user: Mapping[str, Any],
    sources: dict[tuple[str, str, str], str],
    family: Any,
) -> tuple[dict[str, Prior], dict[str, dict[str, Prior]]]:
    """The priors of the distributional formulas' fixed parts (see the module docstring):
    ``Intercept_<dpar>`` ``StudentT(3, 0, 2.5)`` (brms; ``Logistic(0, 1)`` for ``zi`` and
    ``hu``: ``family.dpar_intercept_prior``) and ``b_<dpar>`` per slope
    ``Normal(0, 2.5 / sd(x_j))``, with the user's overrides recorded in ``sources``."""
    intercepts: dict[str, Prior] = {}
    slopes: dict[str, dict[str, Prior]] = {}
    for part in dpars:
        icls, bcls = f"Intercept_{part.name}", f"b_{part.name}"
        if part.has_intercept:
            default = family.dpar_intercept_prior(part.name)
            intercepts[part.name], is_user = _lookup(user.get(icls), (), default, "Intercept")
            if is_user:
                sources[(icls, "", "")] = "user"
        names = [c for c in part.x_names if c != "Intercept"]
        _check_keys(user.get(bcls), set(names), f"priors[{bcls!r}]", "coefficients")
        slopes[part.name] = {}
        for j, name in enumerate(part.x_names):
            if name == "Intercept":
                continue
            x_sd = float(np.std(part.X[:, j]))
            s = 2.5 / x_sd if x_sd > 0 else 2.5
            p, is_user = _lookup(user.get(bcls), (name,), prior("Normal", mu=0, sigma=s), "b")
            slopes[part.name][name] = p
            if is_user:
                sources[(bcls, "", name)] = "user"
    return intercepts, slopes


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
