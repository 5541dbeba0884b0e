"""What the layers below :class:`pyglmm.Model` read from a model, as a typing protocol.

The results, simulation, plots and workflow layers take a model's parts (its design, family,
priors) through :class:`ModelSpec`, so none of them imports :mod:`pyglmm.model`; a
:class:`~pyglmm.Model` is one (and so is a model rebuilt by :func:`pyglmm.load_fit`). The workflow
functions that fit a model again (recovery, comparison) call ``fit`` on the object they were
given, and a worker process builds a new model with ``type(model)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import pandas as pd
import xarray as xr

from .design import Design
from .families import Family
from .formula import ParsedFormula
from .priors import PriorSet


class ModelSpec(Protocol):
    """A model's formula, design, family, priors, parameterization and (optional) data."""

    @property
    def formula(self) -> ParsedFormula: ...
    @property
    def design(self) -> Design: ...
    @property
    def family(self) -> Family: ...
    @property
    def prior_set(self) -> PriorSet: ...
    @property
    def parameterization(self) -> str | Mapping[str, str]: ...
    @property
    def data(self) -> pd.DataFrame | None: ...
    @property
    def data_name(self) -> str: ...
    @property
    def data2(self) -> Mapping[str, Any] | None: ...


@runtime_checkable
class FittableModel(ModelSpec, Protocol):
    """A :class:`ModelSpec` that can be fitted (``model.fit(**kwargs)`` returns a Fit)."""

    def fit(self, **kwargs: Any) -> Any: ...


class FittedModel(Protocol):
    """What the layers below :class:`~pyglmm.Fit` read from a fit (plots, R², saving)."""

    @property
    def model(self) -> ModelSpec: ...
    @property
    def idata(self) -> Any: ...
    @property
    def sampler(self) -> str: ...
    @property
    def draws(self) -> int: ...
    @property
    def tune(self) -> int: ...
    @property
    def chains(self) -> int: ...
    @property
    def timing(self) -> Mapping[str, float]: ...
    @property
    def parameterization(self) -> Mapping[str, str]: ...

    @property
    def design(self) -> Design: ...
    @property
    def family(self) -> Family: ...
    @property
    def posterior(self) -> xr.Dataset: ...
    def predict(self, *args: Any, **kwargs: Any) -> Any: ...
