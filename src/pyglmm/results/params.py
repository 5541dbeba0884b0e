"""Simulate responses from a model's own design: at given parameter values or from the prior.

Parameters are given (and reported in ``df.attrs["params"]``) in one nested format::

    {"b": {"Intercept": 250, "Days": 10},                 # every fixed effect
     "sd": {"Subject": {"Intercept": 25, "Days": 6}},     # every block (group or block name)
     "cor": {"Subject": {("Intercept", "Days"): 0.3}},    # optional; missing pairs are 0
     "sigma": 25}                                         # the family's parameters

A single-term block may give its SD as a number (``"sd": {"g": 0.5}``). Group keys name a
grouping factor (``"Subject"``); when several blocks share one (``(1 | g) + (0 + x | g)``) the
block names (``"g"``, ``"g_2"``) may be used instead.

For one draw ``s`` the simulation is ``r_k = z_k L_k'`` with ``z ~ N(0, 1)`` (levels x q) and
``L_k`` the Cholesky factor of ``diag(sd) cor diag(sd)``; ``eta = X b + offset + sum_k Z_k r_k``,
``mu = linkinv(eta)``, ``y ~ family(mu, theta)`` (``Family.draw``).

Prior draws (``params=None``) use ``pm.draw`` of each prior's ``dist_obj``; the Intercept prior
is on centered predictors (brms's rule), so ``b_Intercept = Intercept - xbar . slopes``.

Scalar parameters are labelled brms-style everywhere in the workflow layer: ``b_<coef>``,
``sd_<block>__<term>``, ``cor_<block>__<term1>__<term2>`` and the family parameter names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..design import Design


PARAM_CLASSES = ("b", "sd", "cor")


@dataclass
class ParamDraws:
    """Parameter values with a leading draws axis (S).

    ``b``: (S, p) over ``design.x_names``; ``sd[block]``: (S, q); ``cor[block]``: (S, q, q);
    ``family[name]``: (S,).
    """

    b: np.ndarray
    sd: dict[str, np.ndarray]
    cor: dict[str, np.ndarray]
    family: dict[str, np.ndarray]

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
        )

    def nested(self, design: Design, s: int = 0) -> dict[str, Any]:
        """Draw ``s`` in the nested user format (sd/cor keyed by block name)."""
        out: dict[str, Any] = {
            "b": {c: float(self.b[s, j]) for j, c in enumerate(design.x_names)},
            "sd": {},
            "cor": {},
        }
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
            out[name] = float(v[s])
        return out

    def flat(self, design: Design, s: int = 0) -> dict[str, float]:
        """Draw ``s`` as ``{label: value}`` with the workflow's parameter labels."""
        out = {f"b_{c}": float(self.b[s, j]) for j, c in enumerate(design.x_names)}
        for blk in design.blocks:
            for j, t in enumerate(blk.terms):
                out[f"sd_{blk.name}__{t}"] = float(self.sd[blk.name][s, j])
        for blk in design.blocks:
            if blk.covariance.correlated:
                c = self.cor[blk.name][s]
                for j, k in blk.covariance.cor_pairs(blk.q):
                    out[f"cor_{blk.name}__{blk.terms[j]}__{blk.terms[k]}"] = float(c[j, k])
        for name, v in self.family.items():
            out[name] = float(v[s])
        return out


def label_class(label: str) -> str:
    """The class of a parameter label: ``"b"``, ``"sd"``, ``"cor"`` or a family parameter."""
    head = label.split("_", 1)[0]
    return head if head in PARAM_CLASSES and "_" in label else label


def posterior_params(posterior: Any, design: Design, family_params: tuple[str, ...]) -> dict:
    """``{label: draws (chains x draws)}`` for every scalar parameter of a posterior."""
    out: dict[str, np.ndarray] = {}
    if design.x_names:
        b = np.asarray(posterior["b"].values)
        for j, c in enumerate(design.x_names):
            out[f"b_{c}"] = b[..., j]
    for blk in design.blocks:
        sd = np.asarray(posterior[f"sd_{blk.name}"].values)
        for j, t in enumerate(blk.terms):
            out[f"sd_{blk.name}__{t}"] = sd[..., j]
    for blk in design.blocks:
        if blk.covariance.correlated:
            cor = np.asarray(posterior[f"cor_{blk.name}"].values)
            for j, k in blk.covariance.cor_pairs(blk.q):
                out[f"cor_{blk.name}__{blk.terms[j]}__{blk.terms[k]}"] = cor[..., j, k]
    for name in family_params:
        out[name] = np.asarray(posterior[name].values)
    return out
