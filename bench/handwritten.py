"""A hand-written PyMC model of a benchmark model's structure, as a user would write it.

Non-centered random effects: for a block with several terms ``L = LKJCholeskyCov(...)`` and
``r = z @ L.T`` with ``z ~ Normal(0, 1)``; for an intercept-only block ``r = sd * z``. The
linear predictor gathers ``r[codes]`` per row (no dense Z). Priors are pyglmm's defaults
(written out here independently, so the model does not depend on pyglmm internals):

* ``Intercept`` on centered predictors ~ StudentT(3, median(y), s), s = max(2.5, mad(y)),
* slopes ``beta_j`` ~ Normal(0, 2.5 sd(y) / sd(x_j)) (population SDs, as pyglmm),
* group SDs ~ HalfStudentT(3, s), correlations ~ LKJ(eta=1), sigma ~ HalfStudentT(3, s).

``spec.family == "bernoulli"`` (logit link): brms's defaults on a non-identity link, i.e.
``Intercept`` ~ StudentT(3, 0, 2.5), slopes ~ Normal(0, 2.5 / sd(x_j)), group SDs ~
HalfStudentT(3, 2.5), and ``y ~ Bernoulli(logit_p=eta)`` (no sigma).

Reported variables use pyglmm's names: ``b`` (intercept first), ``sd_<group>``,
``cor_<group>`` (matrix), ``sigma``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from data import BenchModel


def _fixed_matrix(df: pd.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Slope columns (treatment dummies for categoricals), without the intercept."""
    parts, names = [], []
    for col in columns:
        s = df[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object:
            dummies = pd.get_dummies(s, prefix=col, drop_first=True, dtype=float)
            parts.append(dummies.to_numpy())
            names.extend(dummies.columns)
        else:
            parts.append(s.to_numpy(dtype=float)[:, None])
            names.append(col)
    if not parts:
        return np.zeros((len(df), 0)), []
    return np.hstack(parts), names


def _mad(y: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(y - np.median(y))))


def build(spec: BenchModel, df: pd.DataFrame) -> pm.Model:
    if spec.family not in ("gaussian", "bernoulli"):
        raise ValueError(f"hand-written model: unsupported family {spec.family!r}")
    gaussian = spec.family == "gaussian"
    y = df[spec.response].to_numpy(dtype=float)
    xs, slope_names = _fixed_matrix(df, spec.fixed)
    # pyglmm's defaults: data-scaled on the identity link, 2.5 on the logit scale
    s = max(2.5, _mad(y)) if gaussian else 2.5
    loc = float(np.median(y)) if gaussian else 0.0
    sd_y = float(np.std(y)) if gaussian else 1.0
    xbar = xs.mean(axis=0)
    xsd = xs.std(axis=0)
    coords: dict[str, list] = {"coef": ["Intercept", *slope_names], "coef_slope": slope_names}
    with pm.Model(coords=coords) as model:
        intercept = pm.StudentT("Intercept", nu=3, mu=loc, sigma=s)
        beta = pm.Normal("beta", 0.0, 2.5 * sd_y / xsd, dims="coef_slope")
        pm.Deterministic("b", pt.concatenate([[intercept - pt.dot(xbar, beta)], beta]), dims="coef")
        mu = intercept + pt.dot(xs - xbar, beta)
        for group, terms in spec.blocks:
            codes = df[group].cat.codes.to_numpy()
            levels = list(df[group].cat.categories)
            model.add_coord(f"{group}_level", levels)
            model.add_coord(f"{group}_term", list(terms))
            model.add_coord(f"{group}_term_", list(terms))
            dims = (f"{group}_level", f"{group}_term")
            z = pm.Normal(f"z_{group}", 0.0, 1.0, dims=dims)
            if len(terms) == 1:
                sd = pm.HalfStudentT(f"sd_{group}", nu=3, sigma=s, dims=f"{group}_term")
                r = z * sd
            else:
                chol, corr, stds = pm.LKJCholeskyCov(
                    f"L_{group}",
                    n=len(terms),
                    eta=1.0,
                    sd_dist=pm.HalfStudentT.dist(nu=3, sigma=s, shape=len(terms)),
                    compute_corr=True,
                    store_in_trace=False,
                )
                pm.Deterministic(f"sd_{group}", stds, dims=f"{group}_term")
                pm.Deterministic(f"cor_{group}", corr, dims=(f"{group}_term", f"{group}_term_"))
                r = z @ chol.T
            zcols = np.column_stack(
                [np.ones(len(df)) if t == "1" else df[t].to_numpy(dtype=float) for t in terms]
            )
            gathered = r[codes]
            mu = mu + (
                gathered[:, 0]
                if len(terms) == 1 and terms[0] == "1"
                else (gathered * zcols).sum(axis=-1)
            )
        if gaussian:
            sigma = pm.HalfStudentT("sigma", nu=3, sigma=s)
            pm.Normal("y", mu=mu, sigma=sigma, observed=y)
        else:
            pm.Bernoulli("y", logit_p=mu, observed=y.astype(np.int64))
    return model
