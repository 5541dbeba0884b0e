"""Joint predictions of a multivariate model (``Design.mv``): every response at once.

Each response's draws come from :func:`~pyglmm.results.predict.predict_draws` (its own
predictor, family and parameters). ``kind="response"`` with ``rescor`` draws the responses of
a row jointly, ``y_i = mu_i + C_s z``, ``z ~ N(0, I)``, with ``C_s = D_s chol(R_s)`` per draw
(:func:`~pyglmm.posterior_mv.rescor_chol`; student responses: ``C_s z sqrt(nu_s / w)``,
``w ~ chi2(nu_s)``, the multivariate t); without it the responses are independent given
the parameters, and are drawn one by one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..posterior import flat_draws
from ..posterior_mv import rescor_chol
from ..spec import FittedModel
from .predict import Kind, NewLevels, predict_draws


def mv_predict_draws(
    fit: FittedModel,
    newdata: pd.DataFrame | None,
    kind: Kind,
    include_random: bool,
    new_levels: NewLevels,
    seed: int | None,
    summary: bool,
) -> np.ndarray | pd.DataFrame:
    """Draws (chains*draws x rows x responses) or, with ``summary``, a DataFrame whose columns
    are (response, statistic): Estimate, Est.Error, Q2.5, Q97.5 per row."""
    design = fit.design
    mv = design.mv
    assert mv is not None
    joint = kind == "response" and mv.rescor
    base: Kind = "mean" if joint else kind
    rng = np.random.default_rng(seed)
    draws = [
        np.asarray(
            predict_draws(
                fit,
                newdata,
                kind=base,
                include_random=include_random,
                new_levels=new_levels,
                seed=int(rng.integers(2**31)),
                summary=False,
                resp=resp,
            )
        )
        for resp in mv.responses
    ]
    out = np.stack(draws, axis=-1)  # S x n x K
    if joint:
        chol = rescor_chol(design, fit.posterior)
        e = np.einsum("skj,snj->snk", chol, rng.standard_normal(out.shape))
        if "nu" in mv.shared_params:  # multivariate t: the normal over sqrt(chi2_nu / nu)
            nu = flat_draws(fit.posterior, "nu")[:, None]
            e = e * np.sqrt(nu / rng.chisquare(np.broadcast_to(nu, out.shape[:2])))[..., None]
        out = out + e
    if not summary:
        return out
    index = design.index if newdata is None else design.transform(newdata, random=False).index
    q = np.quantile(out, [0.025, 0.975], axis=0)
    stats = np.stack([out.mean(0), out.std(0, ddof=1), q[0], q[1]], axis=-1)  # n x K x 4
    columns = pd.MultiIndex.from_product(
        [list(mv.responses), ["Estimate", "Est.Error", "Q2.5", "Q97.5"]], names=["resp", "stat"]
    )
    return pd.DataFrame(stats.reshape(stats.shape[0], -1), index=index, columns=columns)
