"""Which generation of the PyMC stack is installed, and the calls that differ between them.

pyglmm runs on two generations of its ecosystem, chosen by the Python version at install time
(see ``pyproject.toml``):

* **Python 3.11**: PyMC 5.2x, PyTensor 2.x, ArviZ 0.2x. The posterior container is
  ``arviz.InferenceData``; ``az.ess(method="tail")``, ``az.waic`` and ``az.compare(ic=...)``
  exist; plots return matplotlib axes.
* **Python >= 3.12**: PyMC 6, PyTensor 3, ArviZ 1.x (arviz-base, arviz-stats, arviz-plots).
  The posterior container is an ``xarray.DataTree`` (``InferenceData`` is a deprecated alias);
  the tail ESS needs its quantiles (``prob``); WAIC is gone; ``az.compare`` takes no ``ic``;
  plots return a ``PlotCollection``.

This is the only module that branches on versions: everything else calls the functions below.
Both containers support ``idata[group]`` (a ``Dataset`` for ``InferenceData``, a ``DataTree``
node for ``DataTree``), ``idata[group] = dataset``, ``del idata[group]`` and ``group in idata``;
:func:`group` returns a plain ``xarray.Dataset`` on both.

pyglmm's own tables keep brms's 95% equal-tailed intervals on both stacks (ArviZ 1's default
is an 89% interval): they are computed in :mod:`pyglmm.results.diagnostics` with numpy
quantiles, not by ArviZ.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import arviz
import numpy as np
import pandas as pd
import xarray as xr

# the two ArviZ generations have different APIs; typed as Any so that one type check covers both
az: Any = arviz


def _major(package: str) -> int:
    return int(version(package).split(".")[0])


ARVIZ_1 = _major("arviz") >= 1
PYMC_6 = _major("pymc") >= 6

# the packages whose versions define a stack (printed by CI and stored in saved fits)
STACK_PACKAGES = ("pymc", "pytensor", "arviz", "nutpie", "numba", "numpy", "xarray")

# what a tail ESS is computed on (Vehtari et al. 2021): the 5% and 95% quantiles
TAIL_PROB = (0.05, 0.95)


def versions() -> dict[str, str]:
    """The versions of Python and of the stack's packages (``"missing"`` if not installed)."""
    out = {"python": ".".join(map(str, sys.version_info[:3]))}
    for name in STACK_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def describe_stack(vers: dict[str, str] | None = None) -> str:
    """One line: ``python 3.12.1, pymc 6.4.0, pytensor 3.3.8, arviz 1.3.0, nutpie 0.16.11``."""
    vers = versions() if vers is None else vers
    keys = ("python", "pymc", "pytensor", "arviz", "nutpie")
    return ", ".join(f"{k} {vers[k]}" for k in keys if k in vers)


# --- the posterior container ------------------------------------------------------------------
def group(idata: Any, name: str) -> xr.Dataset | None:
    """Group ``name`` of ``idata`` as an ``xarray.Dataset``, or None if it has no such group."""
    if name not in idata:
        return None
    node = idata[name]
    return node.to_dataset() if isinstance(node, xr.DataTree) else node


def posterior(idata: Any) -> xr.Dataset:
    """The ``posterior`` group as an ``xarray.Dataset``."""
    ds = group(idata, "posterior")
    if ds is None:
        raise ValueError("the fit holds no posterior group")
    return ds


def set_group(idata: Any, name: str, ds: xr.Dataset) -> None:
    """Add group ``name`` to ``idata``, or replace it, in place."""
    if name in idata:
        del idata[name]
    if ARVIZ_1:
        idata[name] = xr.DataTree(ds)
    else:
        idata.add_groups({name: ds})


def group_names(idata: Any) -> list[str]:
    """The names of the groups of ``idata`` (``posterior``, ``sample_stats``, ...)."""
    if isinstance(idata, xr.DataTree):
        return list(idata.children)
    return list(idata.groups())


def from_datasets(groups: dict[str, xr.Dataset]) -> Any:
    """A posterior container of the installed ArviZ holding these groups."""
    if ARVIZ_1:
        return xr.DataTree.from_dict({name: ds for name, ds in groups.items()})
    return az.InferenceData(**groups)


def to_netcdf(idata: Any, path: str) -> None:
    """Write ``idata`` to one netCDF file (a group per netCDF group, on both stacks)."""
    idata.to_netcdf(path)


def from_netcdf(path: str) -> Any:
    """Read a netCDF file written by :func:`to_netcdf` into the installed container, fully
    loaded (the file is closed afterwards)."""
    if ARVIZ_1:
        with xr.open_datatree(path) as tree:
            return tree.load().copy()
    idata = az.from_netcdf(path)
    for name in idata.groups():
        idata[name].load()  # in place (assigning would list the group twice in InferenceData)
    return idata


# --- diagnostics ------------------------------------------------------------------------------
def rhat(draws: np.ndarray) -> float:
    """Rank-normalized split R-hat of chains x draws."""
    return float(az.rhat(draws))


def ess_bulk(draws: np.ndarray) -> float:
    """Bulk effective sample size of chains x draws."""
    return float(az.ess(draws, method="bulk"))


def ess_tail(draws: np.ndarray) -> float:
    """Tail effective sample size (minimum over the 5% and 95% quantiles) of chains x draws."""
    if ARVIZ_1:
        return float(az.ess(draws, method="tail", prob=TAIL_PROB))
    return float(az.ess(draws, method="tail"))


# --- model criteria ---------------------------------------------------------------------------
def loo(idata: Any, **kwargs: Any) -> Any:
    """PSIS-LOO of the installed ArviZ (``ELPDData``)."""
    return az.loo(idata, **kwargs)


def elpd(result: Any) -> tuple[float, float]:
    """``(elpd, se)`` of a LOO result of either ArviZ, or of :func:`waic`."""
    for name in ("elpd", "elpd_loo", "elpd_waic"):
        if hasattr(result, name) or (isinstance(result, pd.Series) and name in result.index):
            return float(getattr(result, name)), float(result.se)
    raise TypeError(f"not an ELPD result: {type(result).__name__}")


def waic(idata: Any, **kwargs: Any) -> Any:
    """WAIC (Watanabe 2010) from the pointwise log-likelihood: ``az.waic`` on ArviZ 0.x;
    ArviZ 1 dropped it, and there it is :func:`waic_from_loglik` of the stored
    ``log_likelihood`` group (ArviZ 0.x's options do not apply and are refused)."""
    if not ARVIZ_1:
        return az.waic(idata, **kwargs)
    if kwargs:
        raise TypeError(f"waic() on ArviZ 1 takes no options (got {sorted(kwargs)})")
    ll_group = group(idata, "log_likelihood")
    if ll_group is None or not ll_group.data_vars:
        raise ValueError(
            "WAIC needs the pointwise log-likelihood, which this fit did not store "
            "(refit with model.fit(log_likelihood=True))"
        )
    ll = next(iter(ll_group.data_vars.values()))
    return waic_from_loglik(np.asarray(ll.values).reshape(ll.sizes["chain"], ll.sizes["draw"], -1))


def waic_from_loglik(loglik: np.ndarray) -> pd.Series:
    """WAIC of a chains x draws x observations array of log p(y_i | theta_s).

    Per observation ``i`` over the S draws,

        lppd_i   = log( (1/S) sum_s exp(log p(y_i | theta_s)) )
        p_waic_i = Var_s( log p(y_i | theta_s) )          (variance over draws, ddof = 0)
        elpd_waic = sum_i (lppd_i - p_waic_i),  se = sqrt(n Var_i(lppd_i - p_waic_i)),

    as ArviZ 0.x's ``az.waic`` (log scale) computes it, returned as a ``pandas.Series`` with its
    names (``elpd_waic``, ``se``, ``p_waic``, ``n_samples``, ``n_data_points``, ``warning``,
    ``waic_i``, ``scale``); ``warning`` is True where some ``p_waic_i`` exceeds 0.4.
    """
    values = loglik.reshape(-1, loglik.shape[-1])
    s = values.shape[0]
    top = values.max(axis=0)
    lppd = top + np.log(np.exp(values - top).sum(axis=0) / s)
    p_waic = values.var(axis=0)
    pointwise = lppd - p_waic
    n = pointwise.size
    return pd.Series(
        {
            "elpd_waic": float(pointwise.sum()),
            "se": float(np.sqrt(n * pointwise.var())),
            "p_waic": float(p_waic.sum()),
            "n_samples": s,
            "n_data_points": n,
            "warning": bool((p_waic > 0.4).any()),
            "waic_i": pointwise,
            "scale": "log",
        }
    )


COMPARE_COLUMNS = ("rank", "elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse", "warning")


def compare(idatas: dict[str, Any]) -> pd.DataFrame:
    """``az.compare`` by PSIS-LOO of fits given as ``{label: idata}``, with ArviZ 0.x's
    columns on both stacks (:data:`COMPARE_COLUMNS`): ``elpd_diff`` >= 0 is how much lower
    a model's elpd_loo is than the best one's, ``warning`` flags high Pareto k.

    ArviZ 1 names them ``elpd``/``p``, gives ``elpd_diff`` as a negative number and reports
    no ``warning`` column (it is taken from each model's ``loo``), and rounds unless told not to.
    """
    if not ARVIZ_1:
        return az.compare(idatas, ic="loo")[list(COMPARE_COLUMNS)]
    table = az.compare(idatas, round_to=None)
    table = table.rename(columns={"elpd": "elpd_loo", "p": "p_loo"})
    table["elpd_diff"] = -table["elpd_diff"]
    table["warning"] = [bool(az.loo(idatas[label]).warning) for label in table.index]
    return table[list(COMPARE_COLUMNS)]


# --- plots ------------------------------------------------------------------------------------
def plot_trace(ds: xr.Dataset, figsize: tuple[float, float] | None = None, **kwargs: Any) -> Any:
    """A trace plot (densities and traces, one row per variable) as a matplotlib Figure:
    ``az.plot_trace`` on ArviZ 0.x, ``plot_trace_dist`` (a ``PlotCollection``) on ArviZ 1.x."""
    if ARVIZ_1:
        figure = {"figure_kwargs": {"figsize": figsize}} if figsize is not None else {}
        tree = xr.DataTree.from_dict({"posterior": ds})
        pc = az.plot_trace_dist(tree, compact=False, backend="matplotlib", **figure, **kwargs)
        fig = pc.viz["figure"].item()
        # a title per panel, as ArviZ 0.x draws them (arviz-plots labels the axes instead)
        names = [str(v) for v in ds.data_vars]
        if len(fig.axes) == 2 * len(names):
            for k, ax in enumerate(fig.axes):
                ax.set_title(names[k // 2])
        return fig
    if figsize is not None:
        kwargs["figsize"] = figsize
    axes = az.plot_trace(ds, compact=False, **kwargs)
    return np.asarray(axes).ravel()[0].figure


# --- sampling ---------------------------------------------------------------------------------
def nutpie_adaptation(low_rank: bool) -> dict[str, Any]:
    """The keyword of ``nutpie.sample`` choosing a diagonal or low-rank mass matrix:
    ``adaptation=`` from nutpie 0.16.10, ``low_rank_modified_mass_matrix=`` before."""
    if tuple(int(v) for v in version("nutpie").split(".")[:3]) >= (0, 16, 10):
        return {"adaptation": "low_rank" if low_rank else "diag"}
    return {"low_rank_modified_mass_matrix": low_rank}


def lkj_corr_matrix_dist(n: int, eta: float) -> Any:
    """An unnamed LKJ(eta) random n x n correlation matrix, for ``pm.draw``: PyMC 6's
    ``LKJCorr`` is the Cholesky factor L of the correlation (R = L L'), PyMC 5's gives R itself
    with ``return_matrix=True``."""
    import pymc as pm

    if PYMC_6:
        chol = pm.LKJCorr.dist(n=n, eta=eta)
        return chol @ chol.mT
    return pm.LKJCorr.dist(n=n, eta=eta, return_matrix=True)


def lkj_corr_cholesky(name: str, n: int, eta: float) -> Any:
    """A named LKJ(eta) correlation as its Cholesky factor L (n x n, R = L L'): PyMC 6's
    ``LKJCorr`` is L itself, PyMC 5's gives R (``return_matrix=True``), factored here."""
    import pymc as pm
    import pytensor.tensor as pt

    if PYMC_6:
        return pm.LKJCorr(name, n=n, eta=eta)
    return pt.linalg.cholesky(pm.LKJCorr(name, n=n, eta=eta, return_matrix=True))


def lkj_cholesky_initval(n: int) -> dict[str, Any]:
    """Keyword arguments for ``pm.LKJCholeskyCov`` that fix its starting point.

    PyMC 6: ``initval`` = PyMC's own support point (the packed identity Cholesky factor) as a
    constant, because PyTensor 3.3's graph of that support point draws from ``sd_dist``, which
    fails for a StudentT ``sd_dist`` ("cannot set WRITEABLE flag"). PyMC 5: nothing, so that the
    same seed keeps giving the same draws as before.
    """
    if not PYMC_6:
        return {}
    packed_identity = np.zeros(n * (n + 1) // 2)
    packed_identity[np.cumsum(np.arange(1, n + 1)) - 1] = 1.0
    return {"initval": packed_identity}
