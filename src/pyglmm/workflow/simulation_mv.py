"""Simulation of a multivariate model (``Design.mv``: ``mvbind(y1, y2) ~ ...``, ``bf() + bf()``).

Parameters are given in the nested format of :mod:`pyglmm.workflow.prior_draws`, with brms's
names of a multivariate model::

    {"b": {"y1_Intercept": 1.0, "y1_x": 0.5, "y2_Intercept": -1.0, "y2_x": 0.3},
     "sd": {"g": {"y1_Intercept": 0.8, "y2_Intercept": 0.6}},
     "cor": {"g": {("y1_Intercept", "y2_Intercept"): 0.6}},        # |p| across responses
     "sigma_y1": 1.0, "sigma_y2": 0.7,                               # per response
     "rescor": {("y1", "y2"): 0.5}}                                  # with rescor; pairs absent: 0

(student responses with ``rescor`` share one ``"nu"``). The group-level effects are drawn as
in any model (:func:`~pyglmm.workflow.simulation.draw_effects`: a block merged across the
responses by ``|p|`` has correlated columns), each response's linear predictor
``eta_k = X_k b_k + sum Z r`` over its columns (``posterior.design_eta(..., dpar=resp)``) and
``mu_k = linkinv_k(eta_k)``. Then per row i:

* with ``rescor`` (gaussian): ``y_i = mu_i + C z_i``, ``z_i ~ N(0, I_K)``, ``C = D chol(R)``,
  ``D = diag(sigma)``, so ``y_i ~ MvNormal(mu_i, D R D)``;
* with ``rescor`` (student): ``y_i = mu_i + C z_i sqrt(nu / w_i)``, ``w_i ~ chi2(nu)``, a
  multivariate Student-t with scale matrix ``D R D`` and ``nu`` degrees of freedom;
* without: each response from its family (``Family.draw``) independently.

A response that is missing in the model's data (possible without ``rescor``) stays missing in
the simulated data, so the simulated data set has the model's pattern of observed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ArgumentError
from ..posterior import design_eta
from ..results.params import ParamDraws
from .param_checks import family_value, number

if TYPE_CHECKING:
    from ..design import Design


def mv_param_keys(design: Design) -> set[str]:
    """The keys of the family parameters of ``params`` (``sigma_y1``, ..., ``rescor``)."""
    mv = design.mv
    assert mv is not None
    return {name for name, _, _ in mv.family_params()} | ({"rescor"} if mv.rescor else set())


def mv_family_values(design: Design, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The family parameters of ``params`` (module docstring) as one draw: ``sigma_y1`` ->
    (1,), ``rescor`` -> (1, K, K)."""
    mv = design.mv
    assert mv is not None
    out: dict[str, np.ndarray] = {}
    for name, k, p in mv.family_params():
        family = mv.families[k if k >= 0 else 0]
        out[name] = np.array([family_value(params, name, family, p)])
    if mv.rescor:
        out["rescor"] = _rescor_matrix(mv.responses, params.get("rescor"))[None]
    return out


def _rescor_matrix(responses: tuple[str, ...], spec: Any) -> np.ndarray:
    """The residual correlation matrix from ``params["rescor"]``: ``{(y1, y2): value}`` (pairs
    not given are 0), or one number for two responses."""
    k = len(responses)
    r = np.eye(k)
    if spec is None:
        raise ArgumentError(
            f"params is missing 'rescor': the residual correlations, e.g. "
            f"{{{(responses[0], responses[1])!r}: 0.5}}"
        )
    if not isinstance(spec, Mapping):
        if k != 2:
            raise ArgumentError(
                f"params['rescor'] must be a dict {{(resp1, resp2): value}} for {k} responses"
            )
        spec = {(responses[0], responses[1]): spec}
    for pair, value in spec.items():
        if not (isinstance(pair, tuple) and len(pair) == 2 and set(pair) <= set(responses)):
            raise ArgumentError(
                f"params['rescor'] keys must be pairs of responses {list(responses)}, got {pair!r}"
            )
        if pair[0] == pair[1]:
            raise ArgumentError(f"params['rescor'] pair {pair!r} repeats a response")
        v = number(value, f"['rescor'][{pair!r}]")
        if not -1 <= v <= 1:
            raise ArgumentError(f"params['rescor'][{pair!r}] must be in [-1, 1], got {v}")
        j, i = responses.index(pair[0]), responses.index(pair[1])
        r[j, i] = r[i, j] = v
    try:
        np.linalg.cholesky(r)
    except np.linalg.LinAlgError:
        raise ArgumentError(
            "params['rescor'] is not a valid correlation matrix (not positive definite)"
        ) from None
    return r


def draw_mv_responses(
    design: Design, pd_: ParamDraws, effects: dict[str, np.ndarray], rng: np.random.Generator
) -> np.ndarray:
    """Simulated responses (S x n x K) given the parameters and drawn effects (module
    docstring); NaN where the model's data miss a response."""
    mv = design.mv
    assert mv is not None
    mus, draws = [], []
    for k, resp in enumerate(mv.responses):
        family = mv.families[k]
        with np.errstate(over="ignore"):
            mus.append(family.linkinv_np(design_eta(design, pd_.dpar_b[resp], effects, dpar=resp)))
        if mv.rescor:
            continue
        params = {p: pd_.family[f"{p}_{resp}"] for p in family.params}
        trials = mv.trials[k]
        try:
            y = family.draw(rng, mus[k], params, None if trials is None else trials[None, :])
        except ValueError as err:
            raise ArgumentError(
                f"cannot draw {family.name} responses of {resp!r} (means up to "
                f"{np.nanmax(mus[k]):.3g}): {err}; the parameters imply extreme values"
            ) from None
        draws.append(np.asarray(y, dtype=float))
    if mv.rescor:
        mu = np.stack(mus, axis=-1)  # S x n x K
        sigma = np.column_stack([pd_.family[f"sigma_{r}"] for r in mv.responses])  # S x K
        chol = sigma[:, :, None] * np.linalg.cholesky(pd_.family["rescor"])
        e = np.einsum("skj,snj->snk", chol, rng.standard_normal(mu.shape))
        if "nu" in mv.shared_params:  # multivariate t: a normal over sqrt(chi2_nu / nu)
            nu = pd_.family["nu"][:, None]
            e = e * np.sqrt(nu / rng.chisquare(np.broadcast_to(nu, mu.shape[:2])))[..., None]
        y_all = mu + e
    else:
        y_all = np.stack(draws, axis=-1)
    return np.where(np.isnan(mv.Y)[None], np.nan, y_all)
