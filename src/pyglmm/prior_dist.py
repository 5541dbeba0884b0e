"""A prior distribution (:class:`Prior`, :func:`prior`), its checks, and the lookup of a
user's override in ``Model(priors=...)``'s nested dicts (used by :mod:`pyglmm.priors`, which
re-exports :class:`Prior`, :func:`prior` and :func:`r_mad`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm

from .brms_prior import brms_prior
from .errors import PriorError

# parameters that must be positive wherever a PyMC distribution has them (scales, shapes,
# rates, degrees of freedom, LKJ's eta); Cauchy's ``alpha`` is its location
POSITIVE_PARAMS = frozenset({"sigma", "tau", "nu", "lam", "scale", "alpha", "beta", "b", "eta"})
LOCATION_PARAMS = frozenset({("Cauchy", "alpha")})


def _check_params(dist: str, params: dict[str, float]) -> None:
    """Refuse parameter names the distribution does not take and impossible values, naming
    them (rather than failing inside the sampler)."""
    known = ["eta"] if dist == "LKJ" else _param_names(dist)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise PriorError(
            f"prior {dist}: unknown parameter(s) {unknown}; {dist} takes {known} "
            "(PyMC's names, e.g. pg.prior('Normal', mu=0, sigma=10))"
        )
    for name, value in params.items():
        if not np.isfinite(value):
            raise PriorError(f"prior {dist}: {name}={value} is not finite")
        if name in POSITIVE_PARAMS and (dist, name) not in LOCATION_PARAMS and value <= 0:
            raise PriorError(f"prior {dist}: {name} must be positive, got {name}={value:g}")
    if "lower" in params and "upper" in params and params["lower"] >= params["upper"]:
        raise PriorError(f"prior {dist}: lower must be below upper, got {params}")


def _param_names(dist: str) -> list[str]:
    """The parameters ``pm.<dist>.dist`` takes (its signature less ``*args``/``**kwargs``)."""
    import inspect

    signature = inspect.signature(getattr(pm, dist).dist)
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [n for n, par in signature.parameters.items() if par.kind not in kinds]


@dataclass(frozen=True)
class Prior:
    """A prior distribution: a PyMC distribution name and its parameters.

    ``pg.prior("HalfNormal", sigma=20)``; ``"LKJ"`` (parameter ``eta``) is the correlation
    prior. Parameters are stored as floats (PyMC mis-evaluates some integer arguments).
    """

    dist: str
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dist != "LKJ" and not hasattr(pm, self.dist):
            raise PriorError(f"unknown PyMC distribution {self.dist!r} in prior")
        try:
            params = {k: float(v) for k, v in self.params.items()}
        except (TypeError, ValueError):
            raise PriorError(
                f"prior {self.dist}{self.params}: parameters must be numbers"
            ) from None
        _check_params(self.dist, params)
        object.__setattr__(self, "params", params)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={_fmt(v)}" for k, v in self.params.items())
        return f"{self.dist}({args})"

    def dist_obj(self, shape: tuple[int, ...] | int | None = None) -> Any:
        """An unnamed PyMC distribution (``pm.X.dist``), e.g. for ``sd_dist``."""
        kwargs: dict[str, Any] = dict(self.params)
        if shape is not None:
            kwargs["shape"] = shape
        return getattr(pm, self.dist).dist(**kwargs)

    def rv(self, name: str, dims: Any = None) -> Any:
        """A named random variable in the current PyMC model context."""
        return getattr(pm, self.dist)(name, dims=dims, **self.params)

    def code(self, name: str, dims: Any = None) -> str:
        """The PyMC statement :meth:`rv` runs, for ``Model.code()``."""
        args = [repr(name)] + [f"{k}={_fmt(v)}" for k, v in self.params.items()]
        if dims is not None:
            args.append(f"dims={dims!r}")
        return f"pm.{self.dist}({', '.join(args)})"


def prior(dist: str, **params: float) -> Prior:
    """Make a :class:`Prior`: ``prior("StudentT", nu=3, mu=0, sigma=2.5)``."""
    return Prior(dist, dict(params))


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def r_mad(y: np.ndarray) -> float:
    """R's ``mad()``: 1.4826 * median(|y - median(y)|)."""
    return float(1.4826 * np.median(np.abs(y - np.median(y))))


def _lookup(spec: Any, keys: tuple[str, ...], default: Prior, cls: str) -> tuple[Prior, bool]:
    """Resolve a user spec that is a Prior or nested dicts keyed by ``keys`` in turn."""
    node = spec
    path = f"priors[{cls!r}]"
    for key in keys:
        if isinstance(node, (Prior, str)) or node is None:
            break
        if not isinstance(node, Mapping):
            raise PriorError(
                f"{path} must be a pg.prior(...) or a dict of them, got {type(node).__name__} "
                f"{node!r}"
            )
        node = node.get(key)
        path += f"[{key!r}]"
    if node is None:
        return default, False
    if isinstance(node, str):
        dist, params = brms_prior(node, cls, path)
        return Prior(dist, params), True
    if not isinstance(node, Prior):
        raise PriorError(
            f"{path} must be a pg.prior(...), e.g. pg.prior('Normal', mu=0, sigma=10); got "
            f"{type(node).__name__} {node!r}"
        )
    return node, True


def _check_keys(spec: Any, allowed: set[str], path: str, what: str) -> None:
    """Refuse keys of the override dict ``spec`` (at ``path``, e.g. ``priors['sd']``) that name
    no known ``what`` (coefficients, groups, terms)."""
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise PriorError(f"{path} names unknown {what} {unknown}; known: {sorted(allowed)}")
