"""The PyMC variables of ``me(x, sdx)`` terms (:mod:`pyglmm.design.measurement`).

For K terms, with ``x``/``sdx`` (n x K) the observed values and their known SDs::

    meanme ~ prior (K,)        sdme ~ prior (K,)        C ~ LKJ(eta)  (class corme; C = I
                                                                       with mecor=False or K = 1)
    Xme[i, :] ~ MvNormal(meanme, diag(sdme) C diag(sdme))   (centered: one row per observation)
    x[i, k]   ~ Normal(Xme[i, k], sdx[i, k])               (observed, ``x_me``)

so the log density of the measurement part is

    sum_i log N(Xme_i | meanme, S) + sum_{i,k} log N(x_ik | Xme_ik, sdx_ik) + priors,

and the fixed part's columns that use the latent values are rebuilt from ``Xme``
(``X[:, j] = base_j * prod_k Xme[:, k]``, see :class:`~pyglmm.design.measurement.MeColumn`).
The latent values are centered, not written ``meanme + z L'``: with ``sdx`` small against
``sdme`` the data pin each ``Xme_i`` down and the centered form is the better geometry.
Variables: ``meanme``, ``sdme`` (dims ``me_term``), ``corme`` (``me_term`` x ``me_term_``,
correlated only), ``Xme`` (``obs`` x ``me_term``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import stack
from ..design import Design
from ..priors import PriorSet
from .blocks import _mvn_rows_logp, _mvn_rows_random
from .listing import _Code, _stacked

TERM_DIM = "me_term"
LATENT = "Xme"


def me_coords(design: Design) -> dict[str, Any]:
    """The dims of the measurement part (none without me() terms)."""
    if design.me is None:
        return {}
    names = list(design.me.names)
    return {TERM_DIM: names, TERM_DIM + "_": names}


def latent_design(design: Design, priors: PriorSet, code: _Code) -> Any:
    """Build the measurement part (module docstring) and return the fixed-effect matrix with
    the latent columns in place (a tensor n x p), or ``design.X`` without me() terms."""
    me = design.me
    if me is None:
        return design.X
    k = len(me.terms)
    mean = _stacked("meanme", [priors.me["meanme"][n] for n in me.names], TERM_DIM, code)
    sd = _stacked("sdme", [priors.me["sdme"][n] for n in me.names], TERM_DIM, code)
    if me.correlated:
        eta = priors.me["corme"][""].params.get("eta", 1.0)
        code(f"Lcorme = pm.LKJCorr('Lcorme', n={k}, eta={eta:.4g})  # Cholesky factor")
        corr_chol = stack.lkj_corr_cholesky("Lcorme", k, eta)
        pm.Deterministic("corme", corr_chol @ corr_chol.T, dims=(TERM_DIM, TERM_DIM + "_"))
        code("Lme = sdme[:, None] * Lcorme")
        chol = sd[:, None] * corr_chol
    else:
        code("Lme = diag(sdme)  # independent latent values (mecor=False or one term)")
        chol = pt.diag(sd)
    dims = ("obs", TERM_DIM)
    code(f"Xme = MvNormal('Xme', mu=meanme, chol=Lme, dims={dims!r})  # latent true values")
    latent = pm.CustomDist(
        LATENT,
        mean,
        chol,
        logp=_mvn_rows_logp,
        random=_mvn_rows_random,
        signature="(q),(q,q)->(q)",
        dims=dims,
    )
    code("x_me = pm.Normal('x_me', mu=Xme, sigma=sdx, observed=x)  # measured with error")
    pm.Normal("x_me", mu=latent, sigma=me.sdx, observed=me.x, dims=dims)
    X: Any = pt.as_tensor_variable(np.asarray(design.X, dtype=float))
    for j, value in me.column_values(latent, design.x_names).items():
        X = pt.set_subtensor(X[:, j], value)
    shown = "; ".join(
        f"{c.coef} = {' * '.join(['base'] + [me.terms[t].name for t in c.terms])}"
        for c in me.columns
    )
    code(f"X[:, me columns] from Xme: {shown}")
    return X
