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

    formula: ParsedFormula
    design: Design
    family: Family
    prior_set: PriorSet
    parameterization: str | Mapping[str, str]
    data: pd.DataFrame | None
    data_name: str


@runtime_checkable
class FittableModel(ModelSpec, Protocol):
    """A :class:`ModelSpec` that can be fitted (``model.fit(**kwargs)`` returns a Fit)."""

    def fit(self, **kwargs: Any) -> Any: ...


class FittedModel(Protocol):
    """What the layers below :class:`~pyglmm.Fit` read from a fit (plots, R², saving)."""

    model: ModelSpec
    idata: Any
    sampler: str
    draws: int
    tune: int
    chains: int
    timing: dict[str, float]
    parameterization: Mapping[str, str]

    @property
    def design(self) -> Design: ...
    @property
    def family(self) -> Family: ...
    @property
    def posterior(self) -> xr.Dataset: ...
    def predict(self, *args: Any, **kwargs: Any) -> Any: ...
