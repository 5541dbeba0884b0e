"""Posterior computations of a multivariate model (``Design.mv``) in numpy.

Response k's linear predictor is its distributional part's (``linear_predictor(...,
dpar=resp)``, :mod:`pyglmm.posterior`), its mean ``mu_k = linkinv_k(eta_k)`` and its family
parameters the draws of ``<param>_<resp>`` (``sigma_y1``). Pointwise log-likelihood
(:func:`mv_pointwise_loglik`), per row i and draw s:

* per response (variable ``y_<resp>``, over the rows where it is observed):
  ``log p_k(y_ik | mu_ik, theta_k)``; with ``rescor`` the marginal normal of the response;
* jointly (variable ``y``, every row): with ``rescor`` the multivariate normal density
  ``log N(y_i | mu_i, Sigma)``, ``Sigma = D R D`` (``D = diag(sigma)``, ``R`` the residual
  correlation), computed through ``C = D chol(R)``:
  ``-1/2 |C^-1 (y_i - mu_i)|^2 - sum_k log C_kk - K/2 log(2 pi)`` (student responses: the
  multivariate Student-t density with scale ``Sigma`` and the shared ``nu``,
  :func:`mvt_logpdf`; each response's marginal is then Student-t(nu, mu_k, sigma_k)); without
  it the sum of the observed responses' densities.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.special import gammaln

from .design import Design
from .posterior import draw_chunks, flat_draws, linear_predictor


def resp_params(design: Design, post: xr.Dataset, k: int, draws: slice = slice(None)) -> dict:
    """The family parameters of response ``k`` (each (draws,))."""
    mv = design.mv
    assert mv is not None
    return {p: flat_draws(post, mv.param_var(k, p))[draws] for p in mv.families[k].params}


def rescor_chol(design: Design, post: xr.Dataset, draws: slice = slice(None)) -> np.ndarray:
    """``C = D chol(R)`` per draw (draws x K x K), the Cholesky factor of the residual
    covariance ``Sigma = D R D``."""
    mv = design.mv
    assert mv is not None
    sigma = np.column_stack([flat_draws(post, f"sigma_{r}")[draws] for r in mv.responses])  # S x K
    corr = flat_draws(post, "rescor")[draws]
    return sigma[:, :, None] * np.linalg.cholesky(corr)


def _whitened(resid: np.ndarray, chol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|C^-1 resid|^2`` (S x n) and ``log |det C|`` (S, 1) for residuals (S x n x K) and
    factors ``C`` (S x K x K)."""
    z = np.einsum("sij,snj->sni", np.linalg.inv(chol), resid)
    logdet = np.log(np.abs(np.diagonal(chol, axis1=1, axis2=2))).sum(-1)
    return (z**2).sum(-1), logdet[:, None]


def mvn_logpdf(resid: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """``log N(resid | 0, C C')`` for residuals (S x n x K) and factors ``C`` (S x K x K)."""
    quad, logdet = _whitened(resid, chol)
    return np.asarray(-0.5 * quad - logdet - 0.5 * resid.shape[-1] * np.log(2 * np.pi))


def mvt_logpdf(resid: np.ndarray, chol: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """The multivariate Student-t log density of residuals (S x n x K) with scale matrix
    ``C C'`` and ``nu`` (S,) degrees of freedom: ``lgamma((nu + K)/2) - lgamma(nu/2) -
    K/2 log(nu pi) - log |det C| - (nu + K)/2 log(1 + |C^-1 e|^2 / nu)``."""
    quad, logdet = _whitened(resid, chol)
    k, nu = resid.shape[-1], np.asarray(nu, dtype=float)[:, None]
    const = gammaln((nu + k) / 2) - gammaln(nu / 2) - 0.5 * k * np.log(nu * np.pi)
    return np.asarray(const - logdet - 0.5 * (nu + k) * np.log1p(quad / nu))


def mv_pointwise_loglik(design: Design, post: xr.Dataset) -> dict[str, np.ndarray]:
    """``{"y": chains x draws x rows (joint), "y_<resp>": chains x draws x observed rows}``
    (module docstring)."""
    mv = design.mv
    assert mv is not None
    chains, n_draw = post.sizes["chain"], post.sizes["draw"]
    total, n = chains * n_draw, design.n_obs
    n_resp = len(mv.responses)
    joint = np.zeros((total, n))
    per = {r: np.empty((total, mv.observed(k).size)) for k, r in enumerate(mv.responses)}
    for sl in draw_chunks(total, n * (n_resp + 1)):
        mus = []
        for k, resp in enumerate(mv.responses):
            family, rows = mv.families[k], mv.observed(k)
            mu = family.linkinv_np(linear_predictor(design, post, draws=sl, dpar=resp))
            mus.append(mu)
            trials = mv.trials[k]
            ll = family.loglik(
                mv.Y[rows, k],
                mu[:, rows],
                resp_params(design, post, k, sl),
                None if trials is None else trials[rows],
            )
            per[resp][sl] = ll
            if not mv.rescor:
                joint[sl, rows] += ll
        if mv.rescor:
            resid = mv.Y[None, :, :] - np.stack(mus, axis=-1)
            chol = rescor_chol(design, post, sl)
            if "nu" in mv.shared_params:  # student responses: one multivariate t
                joint[sl] = mvt_logpdf(resid, chol, flat_draws(post, "nu")[sl])
            else:
                joint[sl] = mvn_logpdf(resid, chol)
    out = {"y": joint.reshape(chains, n_draw, n)}
    for resp, ll in per.items():
        out[f"y_{resp}"] = ll.reshape(chains, n_draw, -1)
    return out
