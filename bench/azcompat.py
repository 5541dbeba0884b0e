"""The few ArviZ calls the benchmark workers make, on both ArviZ generations.

The workers run under pyglmm's interpreter *and* under a peer interpreter that may not have
pyglmm installed (``run.py --peer-python``), so this module imports only numpy, xarray and
arviz (lazily), never ``pyglmm.stack``:

* ArviZ 0.2x (PyMC 5): the posterior container is ``arviz.InferenceData`` and
  ``idata["posterior"]`` is an ``xarray.Dataset``.
* ArviZ 1.x (PyMC 6, bambi 0.21, nutpie on ArviZ 1): the container is an ``xarray.DataTree``
  and ``dt["posterior"]`` is a ``DataTree`` node (``.to_dataset()`` gives the Dataset).

Both support ``name in idata`` and ``idata[name]``. On a ``(chain, draw)`` numpy array both
``az.ess`` and ``az.rhat`` take chains on axis 0 and draws on axis 1 (their defaults); the tail
ESS needs its quantiles on ArviZ 1 (``prob``), which ArviZ 0.2x accepts too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# what a tail ESS is computed on (Vehtari et al. 2021): the 5% and 95% quantiles
TAIL_PROB = (0.05, 0.95)


def group(idata: Any, name: str) -> Any:
    """Group ``name`` of an ``InferenceData`` or ``DataTree`` as an ``xarray.Dataset``, or None
    if there is no such group (or ``idata`` is not a container)."""
    import xarray as xr

    try:
        if idata is None or name not in idata:
            return None
    except TypeError:
        return None
    node = idata[name]
    datatree = getattr(xr, "DataTree", None)
    if datatree is not None and isinstance(node, datatree):
        return node.to_dataset()
    return node


def posterior(idata: Any) -> Any:
    """The ``posterior`` group as an ``xarray.Dataset``."""
    ds = group(idata, "posterior")
    if ds is None:
        raise ValueError(f"no posterior group in {type(idata).__name__}")
    return ds


def ess(draws: np.ndarray, method: str = "bulk") -> float:
    """Bulk (default) or tail ESS of one scalar parameter's ``(chain, draw)`` draws."""
    import arviz as az

    x = np.asarray(draws, dtype=float)
    if method == "tail":
        return float(az.ess(x, method="tail", prob=TAIL_PROB))
    return float(az.ess(x, method=method))


def rhat(draws: np.ndarray) -> float:
    """Rank-normalized split R-hat (the default of both generations) of ``(chain, draw)``
    draws."""
    import arviz as az

    return float(np.asarray(az.rhat(np.asarray(draws, dtype=float))))


def mean_mcse(params: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Posterior ``mean``, ``mcse_mean`` and ``sd`` (``arviz.summary``, unrounded; both
    generations name the columns so) per scalar parameter given as ``(chain, draw)`` arrays."""
    import arviz as az

    names = list(params)
    # arviz wants identifier-like variable names: summarise p0, p1, ... and map back
    data = {f"p{i}": np.asarray(params[k], dtype=float) for i, k in enumerate(names)}
    table = az.summary(data, kind="all", round_to="none")
    return {
        k: {
            "mean": float(table.loc[f"p{i}", "mean"]),
            "mcse_mean": float(table.loc[f"p{i}", "mcse_mean"]),
            "sd": float(table.loc[f"p{i}", "sd"]),
        }
        for i, k in enumerate(names)
    }
