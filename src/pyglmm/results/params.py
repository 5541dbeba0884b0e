"""The one enumeration of a model's scalar parameters, and parameter sets with a draws axis.

:func:`parameters` lists every reported scalar in brms's draws order (fixed effects, SDs,
correlations, the family's parameters; :func:`summary_order` gives the printed summary's) as
:class:`ParamRef` records:
where its draws are (a variable of :mod:`pyglmm.names` and an index into it) and its two names,

* ``key``: stable and unique, used as a column/row label by simulation, recovery, SBC, plots and
  the benchmark: ``b_<coef>``, ``sd_<block>__<term>``, ``cor_<block>__<term1>__<term2>``, and
  the family parameter names;
* ``label``: brms's row label, ``Days``, ``sd(Days)``, ``cor(Intercept,Days)``, ``sigma`` (unique
  within a grouping factor; ``Fit.summary`` shows it beside the class and group).

me() terms: ``meanme_<mex>``, ``sdme_<mex>`` and ``corme__<mex1>__<mex2>`` (brms's names; the
variables ``meanme``, ``sdme``, ``corme`` of :mod:`pyglmm.compile.measurement`), the slope of
``me(x1, sd1)`` the coefficient ``mex1sd1``.

Smooth terms (``s(x)``): the SD of a smooth's penalized coefficients is class ``sds``, key
``sds_<block>``, label ``sds(sx_1)`` (brms's); its unpenalized columns are fixed effects
(``sx_1``).

Structured blocks: an ``ar1`` block reports its one SD once (``sd(<first term>)``, as glmmTMB
prints it) and its correlation rho as the row ``ar1`` (key ``cor_<block>__ar1``); a ``cs``
block its SDs and rho as the row ``cs``. In ``varcorr()`` that row is the correlation of the
first two terms, which is rho.

:class:`ParamDraws` holds parameter values with a leading draws axis (from the prior, or given
by a user) in the arrays the simulation needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import names

if TYPE_CHECKING:
    from ..design import Design


PARAM_CLASSES = ("b", "sd", "cor")
# the parameters of me() terms' latent values (brms's classes and names)
ME_CLASSES = ("meanme", "sdme", "corme")


@dataclass(frozen=True)
class ParamRef:
    """One reported scalar parameter: where its draws are and how it is named."""

    cls: str  # "b", "sd", "cor", or a family parameter ("sigma")
    var: str  # the posterior variable: "b", names.sd(block), names.cor(block), "sigma", ...
    index: tuple[int, ...]  # its position on the variable's axes after (chain, draw)
    group: str = ""  # grouping factor (sd/cor)
    block: str = ""  # block name (sd/cor)
    var1: str = ""  # coefficient, term, or the family parameter's name
    var2: str = ""  # the second term of a correlation
    tag: str = ""  # a structure's correlation (ar1, cs): its label and key suffix

    @property
    def key(self) -> str:
        """``b_<coef>``, ``sd_<block>__<term>``, ``cor_<block>__<t1>__<t2>`` or the name."""
        if self.cls == "b":
            return f"b_{self.var1}"
        if self.cls == "sd":
            return f"{self.var}__{self.var1}"
        if self.cls == "sds":
            return names.smooth_sd(self.block)
        if self.cls == "cor":
            if self.tag:
                return f"{self.var}__{self.tag}"
            return f"{self.var}__{self.var1}__{self.var2}"
        if self.cls in ("meanme", "sdme"):
            return f"{self.cls}_{self.var1}"
        if self.cls == "corme":
            return f"corme__{self.var1}__{self.var2}"
        if self.cls == "rescor":
            return f"rescor__{self.var1}__{self.var2}"
        return self.cls

    @property
    def label(self) -> str:
        """brms's row label: ``sd(Days)``, ``cor(Intercept,Days)``, ``Days``, ``sigma``."""
        if self.cls == "sd":
            return f"sd({self.var1})"
        if self.cls == "sds":
            return f"sds({self.block})"
        if self.cls == "cor":
            return self.tag or f"cor({self.var1},{self.var2})"
        if self.cls in ME_CLASSES:
            return self.key
        if self.cls == "rescor":
            return f"rescor({self.var1},{self.var2})"
        return self.var1 if self.cls == "b" else self.cls

    def take(self, values: np.ndarray) -> np.ndarray:
        """This parameter's entries of its variable's values (leading axes kept)."""
        values = np.asarray(values)
        where: tuple[Any, ...] = (Ellipsis, *self.index)
        return values[where] if self.index else values


def parameters(design: Design, family_params: tuple[str, ...]) -> list[ParamRef]:
    """Every reported scalar parameter in brms's draws order (its ``variables()``): an
    ordinal model's thresholds (``Intercept[1]``, ..., key ``b_Intercept[1]``), fixed
    effects (the mean's, then each distributional formula's, ``sigma_Intercept``,
    ``sigma_x``: key ``b_sigma_x``, as brms), SDs (block by block), correlations, the family's
    parameters (those without a formula)."""
    n_thres = len(getattr(design, "categories", ())) - 1  # an ordinal model's thresholds
    out = [
        ParamRef("b", names.THRESHOLDS, (k,), var1=f"Intercept[{k + 1}]") for k in range(n_thres)
    ]
    out += [ParamRef("b", names.FIXED, (j,), var1=c) for j, c in enumerate(design.x_names)]
    dpars = getattr(design, "dpars", ())
    for part in dpars:
        var = names.dpar_fixed(part.name)
        out += [ParamRef("b", var, (j,), var1=c) for j, c in enumerate(part.labels)]
    modelled = {part.name for part in dpars} | set(getattr(design, "fixed_params", ()))
    family_params = tuple(p for p in family_params if p not in modelled)
    for blk in design.blocks:
        if blk.covariance.smooth:
            sd_var = names.sd(blk.name)
            out.append(ParamRef("sds", sd_var, (0,), blk.group, blk.name, blk.terms[0]))
            continue
        for j in blk.covariance.sd_index(blk.q):
            term = blk.terms[j]
            out.append(ParamRef("sd", names.sd(blk.name), (j,), blk.group, blk.name, term))
    for blk in design.blocks:
        tag = blk.covariance.cor_tag
        for j, k in blk.covariance.cor_pairs(blk.q):
            t1, t2 = blk.terms[j], blk.terms[k]
            ref = ParamRef("cor", names.cor(blk.name), (j, k), blk.group, blk.name, t1, t2, tag)
            out.append(ref)
    mv = getattr(design, "mv", None)
    if mv is not None:  # per response: sigma_y1, ...; then rescor(y1,y2) (brms's names)
        family_params = ()
        out += [ParamRef(name, name, ()) for name, _, _ in mv.family_params()]
        if mv.rescor:
            pairs = [(j, k) for k in range(len(mv.responses)) for j in range(k)]
            r = mv.responses
            out += [ParamRef("rescor", "rescor", (j, k), var1=r[j], var2=r[k]) for j, k in pairs]
    out.extend(ParamRef(name, name, (), var1=name) for name in family_params)
    me = design.me
    if me is not None:
        for cls in ("meanme", "sdme"):
            out.extend(ParamRef(cls, cls, (k,), var1=n) for k, n in enumerate(me.names))
        for a, b in me.cor_pairs():
            out.append(ParamRef("corme", "corme", (a, b), var1=me.names[a], var2=me.names[b]))
    return out


def summary_order(design: Design, refs: list[ParamRef]) -> list[ParamRef]:
    """``refs`` in brms's summary order: per block its SDs then its correlations, then the
    fixed effects, the latent values' parameters of me() terms, then the family's parameters
    (the order within each kept)."""
    block_rank = {blk.name: i for i, blk in enumerate(design.blocks)}

    def rank(ref: ParamRef) -> tuple[int, int, int]:
        if ref.cls == "sds":
            return (0, -1, 0)  # brms prints the smooths' SDs before the group-level ones
        if ref.cls in ("sd", "cor"):
            return (0, block_rank[ref.block], 0 if ref.cls == "sd" else 1)
        if ref.cls in ME_CLASSES:
            return (2, 0, 0)
        return (1, 0, 0) if ref.cls == "b" else (3, 0, 0)

    return sorted(refs, key=rank)  # stable


@dataclass
class ParamDraws:
    """Parameter values with a leading draws axis (S).

    ``b``: (S, p) over ``design.x_names``; ``sd[block]``: (S, q); ``cor[block]``: (S, q, q);
    ``family[name]``: (S,) for the family's parameters without a formula; ``dpar_b[name]``:
    (S, p_name) over the ``x_names`` of a distributional parameter's formula (``pg.bf``),
    reported as ``sigma_Intercept``, ``sigma_x`` (:attr:`DparPart.labels`).
    An ordinal model's thresholds: ``family["b_Intercept"]`` (S, K - 1).
    """

    b: np.ndarray
    sd: dict[str, np.ndarray]
    cor: dict[str, np.ndarray]
    family: dict[str, np.ndarray]
    dpar_b: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_draws(self) -> int:
        return int(self.b.shape[0])

    def draw(self, s: int) -> ParamDraws:
        """Draw ``s`` alone (keeping the draws axis, length 1)."""
        sl = slice(s, s + 1)
        return ParamDraws(
            self.b[sl],
            {k: v[sl] for k, v in self.sd.items()},
            {k: v[sl] for k, v in self.cor.items()},
            {k: v[sl] for k, v in self.family.items()},
            {k: v[sl] for k, v in self.dpar_b.items()},
        )

    def nested(self, design: Design, s: int = 0) -> dict[str, Any]:
        """Draw ``s`` in the nested user format (sd/cor keyed by block name)."""
        out: dict[str, Any] = {
            "b": {c: float(self.b[s, j]) for j, c in enumerate(design.x_names)},
            "sd": {},
            "cor": {},
        }
        for part in design.dpars:  # sigma_Intercept, sigma_x: brms's names, among "b"
            values = self.dpar_b[part.name][s]
            out["b"] |= {c: float(v) for c, v in zip(part.labels, values, strict=True)}
        for blk in design.blocks:
            out["sd"][blk.name] = {
                t: float(self.sd[blk.name][s, j]) for j, t in enumerate(blk.terms)
            }
            if blk.covariance.correlated:
                c = self.cor[blk.name][s]
                out["cor"][blk.name] = {
                    (blk.terms[j], blk.terms[k]): float(c[j, k])
                    for j, k in blk.covariance.cor_pairs(blk.q)
                }
        for name, v in self.family.items():
            if name == names.THRESHOLDS:  # an ordinal model's, as params["Intercept"]
                out["Intercept"] = [float(t) for t in v[s]]
            elif name == "rescor" and design.mv is not None:  # {(y1, y2): value}
                r = design.mv.responses
                out["rescor"] = {
                    (r[j], r[k]): float(v[s][j, k]) for k in range(len(r)) for j in range(k)
                }
            else:
                out[name] = float(v[s])
        return out

    def flat(self, design: Design, s: int = 0) -> dict[str, float]:
        """Draw ``s`` as ``{key: value}`` (:attr:`ParamRef.key`)."""
        return {
            ref.key: float(ref.take(self.values(ref)[s]))
            for ref in parameters(design, tuple(k for k in self.family if k != names.THRESHOLDS))
        }

    def values(self, ref: ParamRef) -> np.ndarray:
        """The array (draws first) that holds ``ref``'s variable."""
        if ref.var == names.THRESHOLDS:
            return self.family[names.THRESHOLDS]
        if ref.cls == "b":
            if ref.var == names.FIXED:
                return self.b
            return {names.dpar_fixed(k): v for k, v in self.dpar_b.items()}[ref.var]
        if ref.cls in ("sd", "sds"):
            return self.sd[ref.block]
        if ref.cls == "cor":
            return self.cor[ref.block]
        return self.family[ref.cls]


def label_class(label: str) -> str:
    """The class of a parameter label: ``"b"``, ``"sd"``, ``"cor"`` or a family parameter."""
    head = label.split("_", 1)[0]
    return head if head in (*PARAM_CLASSES, *ME_CLASSES) and "_" in label else label


def posterior_params(posterior: Any, design: Design, family_params: tuple[str, ...]) -> dict:
    """``{key: draws (chains x draws)}`` for every scalar parameter of a posterior."""
    return {
        ref.key: ref.take(np.asarray(posterior[ref.var].values))
        for ref in parameters(design, family_params)
    }
