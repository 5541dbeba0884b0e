"""The priors of a multivariate model (:mod:`pyglmm.design.multivariate`).

Each response gets the priors a univariate model of it would have (:func:`build_priors` on
that response's fixed part, its observed values and its family): ``Intercept`` and ``b``
(brms's Stan names ``Intercept_y1``, ``b_y1``), the SDs of its group-level terms (on its own
scale) and its family's parameters (``sigma``, the variable ``sigma_y1``). A block merged
across responses by brms's ``|ID|`` takes each term's SD prior from its response and one
``cor`` (LKJ) prior. With ``rescor`` the residual correlation matrix of the gaussian responses
has prior class ``rescor``, default ``LKJ(eta=1)`` (brms's ``lkj(1)``); student responses
with ``rescor`` share one ``nu`` (``MvPriorSet.shared``, the family's default
``Gamma(2, 0.1)``, overridden by ``priors={"nu": ...}`` only: a response's own ``nu`` is a
:class:`PriorError`).

Overrides, in ``Model(priors=...)``, follow brms's ``resp`` argument: a key that is a
response's name holds that response's overrides, any other class applies to every response::

    {"b": "normal(0, 5)",                            # every response's slopes
     "y1": {"b": {"x": "normal(0, 1)"}, "sigma": "exponential(1)"},   # resp = y1 only
     "sd": {"g": "normal(0, 2)"},                     # every response's terms over g
     "y2": {"sd": {"g": {"Intercept": "normal(0, 1)"}}},   # y2_Intercept's SD over g
     "cor": {"g": "lkj(2)"}, "rescor": "lkj(2)"}

``model.priors`` has a ``resp`` column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .errors import PriorError
from .prior_dist import Prior, _lookup, prior
from .priors import PriorSet, build_priors


@dataclass(frozen=True)
class MvPriorSet(PriorSet):
    """A :class:`PriorSet` over the final blocks (``sd``, ``cor``) and the responses' fixed
    parts (``dpar_intercept``/``dpar_b`` keyed by response), plus ``resp_family`` (response ->
    family parameter -> Prior), ``rescor`` (or None) and the per-response sets (``resp_sets``,
    for the table)."""

    resp_family: dict[str, dict[str, Prior]] = field(default_factory=dict)
    rescor: Prior | None = None
    resp_sets: dict[str, PriorSet] = field(default_factory=dict)
    spanning: dict[str, str] = field(default_factory=dict)  # block -> group, merged over resps
    shared: dict[str, Prior] = field(default_factory=dict)  # a parameter of every response (nu)

    def scalar_family(self, mv: Any) -> dict[str, Prior]:
        """The prior of every scalar family parameter (``sigma_y1``, ..., a shared ``nu``), in
        the order of :meth:`~pyglmm.design.records.MvPart.family_params`."""
        return {
            name: self.shared[p] if k < 0 else self.resp_family[mv.responses[k]][p]
            for name, k, p in mv.family_params()
        }

    def table(self) -> pd.DataFrame:
        """brms ``get_prior``-style: prior, class, coef, group, source, resp."""
        tables = []
        for resp, ps in self.resp_sets.items():
            t = ps.table().iloc[:, :5].copy()
            span_groups = set(self.spanning.values())
            t = t[~((t["class"] == "cor") & t["group"].isin(span_groups))]
            t = t[~t["class"].isin(list(self.shared))]  # a shared parameter: one row below
            t["resp"] = resp
            tables.append(t)
        rows = [
            (str(self.cor[b]), "cor", "", g, self.sources.get(("cor", g, ""), "default"), "")
            for b, g in self.spanning.items()
            if b in self.cor
        ]
        for name, p in self.shared.items():
            rows.append((str(p), name, "", "", self.sources.get((name, "", ""), "default"), ""))
        if self.rescor is not None:
            src = self.sources.get(("rescor", "", ""), "default")
            rows.append((str(self.rescor), "rescor", "", "", src, ""))
        columns = ["prior", "class", "coef", "group", "source", "resp"]
        tables.append(pd.DataFrame(rows, columns=columns))
        return pd.concat(tables, ignore_index=True)


def build_mv_priors(design: Any, user: Mapping[str, Any] | None = None) -> MvPriorSet:
    """The priors of the multivariate ``design`` (``design.mv`` set), see the module
    docstring."""
    mv = design.mv
    user = dict(user or {})
    responses = list(mv.responses)
    shared = {k: v for k, v in user.items() if k not in responses and k != "rescor"}
    for resp in responses:
        if resp in user and not isinstance(user[resp], Mapping):
            raise PriorError(
                f"priors[{resp!r}] holds the overrides of response {resp!r}: a dict by class, "
                f"e.g. {{'b': 'normal(0, 1)'}}"
            )
    sets: dict[str, PriorSet] = {}
    sd: dict[str, dict[str, Prior]] = {b.name: {} for b in design.blocks}
    cor: dict[str, Prior] = {}
    cor_class: dict[str, str] = {}
    sources: dict[tuple[str, str, str], str] = {}
    for k, resp in enumerate(responses):
        view = _response_view(design, k)
        try:
            ps = build_priors(view, mv.families[k], {**shared, **dict(user.get(resp, {}))})
        except PriorError as err:
            raise PriorError(f"response {resp!r}: {err}") from None
        sets[resp] = ps
        for block, terms in ps.sd.items():
            sd[block].update({f"{resp}_{t}": p for t, p in terms.items()})
        for block, p in ps.cor.items():
            cor.setdefault(block, p)
            if block in ps.cor_class:
                cor_class[block] = ps.cor_class[block]
        for (cls, group, coef), src in ps.sources.items():
            if cls in ("Intercept", "b"):
                sources[(f"{cls}_{resp}", group, coef)] = src
            elif cls == "sd":
                sources[("sd", group, f"{resp}_{coef}")] = src
            elif cls in ("cor", "ar"):
                sources[(cls, group, coef)] = src
    one_prior: dict[str, Prior] = {}
    for name in mv.shared_params:  # student rescor: one nu for every response
        per_resp = [r for r in responses if isinstance(user.get(r), Mapping) and name in user[r]]
        if per_resp:
            raise PriorError(
                f"priors[{per_resp[0]!r}][{name!r}]: with rescor the student responses share "
                f"one {name!r}; give its prior once, priors={{{name!r}: ...}}"
            )
        one_prior[name] = sets[responses[0]].family[name]
        if name in user:
            sources[(name, "", "")] = "user"
    rescor = None
    if mv.rescor:
        rescor, is_user = _lookup(user.get("rescor"), (), prior("LKJ", eta=1), "rescor")
        if rescor.dist != "LKJ":
            raise PriorError("a 'rescor' prior must be pg.prior('LKJ', eta=...) or 'lkj(eta)'")
        if is_user:
            sources[("rescor", "", "")] = "user"
    elif "rescor" in user:
        raise PriorError(
            "priors['rescor'] is for residual correlations; this model has rescor=False"
        )
    spanning = {b.name: b.group for b in design.blocks if b.spans_dpars}
    return MvPriorSet(
        intercept=None,
        b={},
        sd=sd,
        cor=cor,
        family={},
        groups={b.name: b.group for b in design.blocks},
        sources=sources,
        cor_class=cor_class,
        dpar_intercept={r: ps.intercept for r, ps in sets.items() if ps.intercept is not None},
        dpar_b={r: ps.b for r, ps in sets.items()},
        resp_family={r: ps.family for r, ps in sets.items()},
        rescor=rescor,
        resp_sets=sets,
        spanning=spanning,
        shared=one_prior,
    )


def _response_view(design: Any, k: int) -> Any:
    """Response ``k`` as a univariate design for :func:`build_priors`: its fixed part, its
    observed values, and the columns of each block that feed it (terms without the
    response's prefix, block names as in the model)."""
    mv = design.mv
    resp = mv.responses[k]
    part = design.dpar(resp)
    rows = mv.observed(k)
    blocks = []
    for blk in design.blocks:
        cols = blk.columns_of(resp)
        if not cols.size:
            continue
        terms = tuple(blk.terms[j][len(resp) + 1 :] for j in cols)
        blocks.append(
            replace(blk, Z=np.asarray(blk.Z)[:, cols], terms=terms, dpar="", col_dpars=())
        )
    trials = mv.trials[k]
    return replace(
        design,
        y=mv.Y[rows, k],
        X=part.X,
        x_names=part.x_names,
        blocks=tuple(blocks),
        trials=None if trials is None else trials[rows],
        dpars=(),
        mv=None,
    )
