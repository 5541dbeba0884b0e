"""The one call of nutpie shared by both ways a model is sampled: the PyMC model compiled by
nutpie (:mod:`pyglmm.sampling`) and the compiled-once kernel (:mod:`pyglmm.kernel`), with
pyglmm's settings (no warm-up draws stored; the mass-matrix adaptation chosen through
:func:`pyglmm.stack.nutpie_adaptation`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from . import stack


@dataclass
class SampleResult:
    idata: Any  # arviz.InferenceData (ArviZ 0.x) or xarray.DataTree (ArviZ 1.x)
    timing: dict[str, float] = field(default_factory=dict)


def resolve_cores(cores: int | None, chains: int) -> int:
    """``cores``, or by default one per chain up to the machine's CPU count."""
    return cores or min(chains, os.cpu_count() or 1)


def nutpie_sample(
    compiled: Any,
    draws: int,
    tune: int,
    chains: int,
    cores: int,
    seed: int | None,
    progressbar: bool,
    target_accept: float,
    low_rank_mass_matrix: bool,
) -> Any:
    """``nutpie.sample`` with pyglmm's settings (no warm-up draws stored) for a compiled nutpie
    model (of a PyMC model, or of :mod:`pyglmm.kernel`)."""
    import nutpie

    return nutpie.sample(
        compiled,
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        seed=seed,
        progress_bar=progressbar,
        save_warmup=False,
        target_accept=target_accept,
        **stack.nutpie_adaptation(low_rank_mass_matrix),
    )
