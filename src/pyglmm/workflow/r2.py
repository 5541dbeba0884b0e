"""The Bayesian workflow around one model: parameter recovery, simulation-based calibration,
comparison of parameterizations or models, and Bayesian R^2.

* :func:`recover` simulates data from the model's design (:mod:`pyglmm.simulate`) at given
  parameters, or, with ``params=None``, at parameters drawn from the prior for every simulation
  (simulation-based calibration, Talts et al. 2018), refits each data set with the same formula,
  family and priors, and reports per parameter the truth, posterior mean, 95% interval and
  coverage, plus the SBC rank of the truth among ``n_ranks`` thinned posterior draws.
* :func:`compare` fits one model under several parameterizations and tabulates speed and
  sampling quality (ESS per second), or compares several fits by PSIS-LOO (``arviz.compare``).
* :func:`bayes_r2`: Gelman, Goodrich, Gabry & Vehtari (2019), like brms's ``bayes_R2``.

Fits run through an executor: by default (``None`` or ``"serial"``) one after the other in the
calling process, which works in a plain script and in a notebook (each fit already samples
its chains on every core);
``executor="processes"`` runs them in a local ``ProcessPoolExecutor`` with the spawn start
method, which re-imports the calling script in each worker, so a script needs the usual
``if __name__ == "__main__":`` guard (the error says so when it is missing); any
``concurrent.futures.Executor`` or a ``dask.distributed.Client`` (anything with
``submit(fn, *args)`` returning futures with ``result()``) works too. The worker,
:func:`fit_summary`, is a top-level function returning a small picklable summary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..spec import FittedModel


def bayes_r2(fit: FittedModel, summary: bool = True) -> pd.DataFrame | np.ndarray:
    """Bayesian R^2 (Gelman, Goodrich, Gabry & Vehtari 2019), like brms's ``bayes_R2``.

    Per draw s: ``R2_s = var_i(E[y_i | s]) / (var_i(E[y_i | s]) + mean residual variance_s)``,
    with ``E[y | s]`` from :meth:`Family.expected_response` (``mu``; ``n mu`` for binomial,
    ``exp(mu + sigma^2/2)`` for lognormal) and the residual variance from
    :meth:`Family.residual_variance` (each family's variance function, e.g. gaussian
    ``sigma^2``, bernoulli ``mean mu(1-mu)``; residual-based where there is none). Random
    effects are included. Returns a one-row DataFrame (index ``R2``; Estimate, Est.Error,
    Q2.5, Q97.5) or, with ``summary=False``, the draws.
    """
    from ..posterior import flat_draws

    family, design = fit.family, fit.design
    mu = np.asarray(fit.predict(kind="mean", summary=False))  # S x n
    post = fit.posterior
    p = {name: flat_draws(post, name) for name in family.params}  # each (S,)
    ey = family.expected_response(mu, p, design.trials)
    res_var = family.residual_variance(mu, p, design.trials, design.y)
    var_fit = np.var(ey, axis=1, ddof=1)
    r2 = var_fit / (var_fit + res_var)
    if not summary:
        return r2
    q = np.quantile(r2, [0.025, 0.975])
    return pd.DataFrame(
        {
            "Estimate": [float(r2.mean())],
            "Est.Error": [float(r2.std(ddof=1))],
            "Q2.5": [float(q[0])],
            "Q97.5": [float(q[1])],
        },
        index=pd.Index(["R2"]),
    )
