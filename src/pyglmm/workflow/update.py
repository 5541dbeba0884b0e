"""brms's ``update()``: refit a model with new data, a new formula or other sampling settings
(``fit.update(newdata=df2)``).

What is reused: the family, the priors the user gave (``Model(priors=...)``; the data-scaled
defaults follow the new data, as in a fresh ``Model``), the parameterization argument, the
``data2`` matrices and the data's name, and every argument of the original ``Model.fit`` call
(draws, tune, chains, sampler, seed, target_accept, init, kernel, ...) that is not overridden.
So ``fit.update(newdata=df2)`` gives the posterior that ``Model(formula, df2, family,
priors=...).fit(<the same arguments>)`` gives, draw for draw.

What is not recompiled: with neither ``newdata`` nor ``formula`` the refit uses the same
``Model`` object, whose compiled PyMC model is cached (``Model.compile``), so only sampling
runs. A model the compiled-once kernel covers (:mod:`pyglmm.kernel`) never compiles anything,
whatever the data: its numba log density is cached on disk and takes the data as arguments. A
new data set for a PyMC-sampled model builds and compiles a new PyMC model (its data are
constants of the graph).
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def refit_model(fit: Any, newdata: pd.DataFrame | None = None, formula: Any = None) -> Any:
    """The model of ``fit`` rebuilt on ``newdata`` and/or ``formula`` (the same object when
    neither is given), with the same family, user priors and parameterization."""
    model = fit.model
    if newdata is None and formula is None:
        return model
    data = model.data if newdata is None else newdata
    if formula is None:
        formula = model.bf if getattr(model, "bf", None) is not None else model.formula.formula
    extra: dict[str, Any] = {}
    if getattr(model, "data2", None) is not None:
        extra["data2"] = model.data2
    return type(model)(
        formula,
        data,
        family=model.family,
        priors=getattr(model, "user_priors", None) or None,
        parameterization=model.parameterization,
        data_name=model.data_name if newdata is None else None,
        **extra,
    )


def fit_arguments(fit: Any, **overrides: Any) -> dict[str, Any]:
    """The arguments of the ``Model.fit`` call that made ``fit``, with ``overrides``."""
    kwargs: dict[str, Any] = {
        "draws": fit.draws,
        "tune": fit.tune,
        "chains": fit.chains,
        "sampler": fit.sampler,
        **getattr(fit, "settings", {}),
    }
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return kwargs


def update_fit(
    fit: Any,
    newdata: pd.DataFrame | None = None,
    formula: Any = None,
    draws: int | None = None,
    **fit_kwargs: Any,
) -> Any:
    """Refit ``fit``'s model (see the module docstring); ``fit_kwargs`` override the original
    ``Model.fit`` arguments (``seed``, ``tune``, ``chains``, ...)."""
    model = refit_model(fit, newdata, formula)
    return model.fit(**fit_arguments(fit, draws=draws, **fit_kwargs))
