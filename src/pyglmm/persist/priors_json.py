"""The resolved prior set as JSON (the ``priors`` attribute) and back, and the user's overrides
in it, which ``Model(priors=...)`` takes when the model is rebuilt."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..priors import Prior, PriorSet


def _prior_json(p: Prior | None) -> Any:
    return None if p is None else {"dist": p.dist, "params": dict(p.params)}


def _prior_set_json(ps: PriorSet) -> dict[str, Any]:
    return {
        "intercept": _prior_json(ps.intercept),
        "b": {k: _prior_json(p) for k, p in ps.b.items()},
        "sd": {blk: {t: _prior_json(p) for t, p in terms.items()} for blk, terms in ps.sd.items()},
        "cor": {k: _prior_json(p) for k, p in ps.cor.items()},
        "family": {k: _prior_json(p) for k, p in ps.family.items()},
        "groups": dict(ps.groups),
        "sources": [[*key, src] for key, src in ps.sources.items()],
        "cor_class": dict(ps.cor_class),
        "me": {c: {k: _prior_json(p) for k, p in d.items()} for c, d in ps.me.items()},
        "dpar_intercept": {k: _prior_json(p) for k, p in ps.dpar_intercept.items()},
        "dpar_b": {d: {k: _prior_json(p) for k, p in c.items()} for d, c in ps.dpar_b.items()},
        "dpar_blocks": dict(ps.dpar_blocks),
        "dpar_terms": {k: dict(v) for k, v in ps.dpar_terms.items()},
    }


def _prior_from_json(obj: Any) -> Prior | None:
    return None if obj is None else Prior(obj["dist"], dict(obj["params"]))


def _prior_set_from_json(obj: Mapping[str, Any]) -> PriorSet:
    def priors(d: Mapping[str, Any]) -> dict[str, Prior]:
        out = {k: _prior_from_json(v) for k, v in d.items()}
        return {k: v for k, v in out.items() if v is not None}

    return PriorSet(
        intercept=_prior_from_json(obj["intercept"]),
        b=priors(obj["b"]),
        sd={blk: priors(terms) for blk, terms in obj["sd"].items()},
        cor=priors(obj["cor"]),
        family=priors(obj["family"]),
        groups=dict(obj["groups"]),
        sources={(c, g, t): s for c, g, t, s in obj["sources"]},
        cor_class=dict(obj.get("cor_class", {})),  # (absent from files before ar1/me priors)
        me={c: priors(d) for c, d in obj.get("me", {}).items()},
        # (absent from files before format version 3: no distributional formulas)
        dpar_intercept=priors(obj.get("dpar_intercept", {})),
        dpar_b={d: priors(c) for d, c in obj.get("dpar_b", {}).items()},
        dpar_blocks=dict(obj.get("dpar_blocks", {})),
        dpar_terms={k: dict(v) for k, v in obj.get("dpar_terms", {}).items()},
    )


def _overrides(ps: PriorSet) -> dict[str, Any]:
    """The user's overrides of a resolved prior set, as ``Model(priors=...)`` takes them (sd
    and cor keyed by block name, so blocks sharing a grouping factor stay apart)."""
    user = {key for key, src in ps.sources.items() if src == "user"}
    out: dict[str, Any] = {}
    if ps.intercept is not None and ("Intercept", "", "") in user:
        out["Intercept"] = ps.intercept
    b = {k: p for k, p in ps.b.items() if ("b", "", k) in user}
    sd = {
        blk: picked
        for blk, terms in ps.sd.items()
        if (picked := {t: p for t, p in terms.items() if ("sd", ps.groups[blk], t) in user})
    }
    cor: dict[str, dict[str, Prior]] = {}
    for blk, p in ps.cor.items():
        cls = ps.cor_class.get(blk, "cor")
        if (cls, ps.groups[blk], "") in user:
            cor.setdefault(cls, {})[blk] = p
    fam = {k: p for k, p in ps.family.items() if (k, "", "") in user}
    out |= {k: v for k, v in (("b", b), ("sd", sd)) if v} | cor | fam
    for dpar, p in ps.dpar_intercept.items():  # classes Intercept_sigma, b_sigma
        if (f"Intercept_{dpar}", "", "") in user:
            out[f"Intercept_{dpar}"] = p
    for dpar, coefs in ps.dpar_b.items():
        picked_b = {k: p for k, p in coefs.items() if (f"b_{dpar}", "", k) in user}
        if picked_b:
            out[f"b_{dpar}"] = picked_b
    for cls, entries in ps.me.items():
        picked = {k: p for k, p in entries.items() if (cls, "", k) in user}
        if picked:
            out[cls] = picked[""] if cls == "corme" else picked
    return out
