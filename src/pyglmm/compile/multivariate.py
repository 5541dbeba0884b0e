"""The likelihood of a multivariate model (``Design.mv``, :mod:`pyglmm.design.multivariate`).

:func:`~pyglmm.compile.build.build_model` builds each response's linear predictor as a
distributional part (``Intercept_y1``, ``beta_y1``, reported ``b_y1`` over ``y1_coef``; the
blocks' columns to their responses); this module adds the family parameters per response
(``sigma_y1``, ``sigma_y2``: brms's names) and the observations:

* ``rescor`` (gaussian responses): one multivariate normal per row,
  ``y_i ~ MvNormal(mu_i, Sigma)``, ``Sigma = D R D``, ``D = diag(sigma_y1, ..., sigma_yK)``,
  with the residual correlation ``R`` (``rescor``, dims ``resp x resp_``) ~ LKJ(eta):
  ``chol(Sigma) = D chol(R)`` from one ``LKJCholeskyCov`` (``L_rescor``) whose SDs are the
  sigmas, as a correlated block's (PyMC 5's ``LKJCorr`` checks its matrix in numba's object
  mode: 100 times slower); when the sigmas' priors are different distributions, each sigma
  is its own variable and the correlation an ``LKJCorr`` (``Lrescor``); student responses
  (brms's ``multi_student_t``): one multivariate t per row with the same scale matrix and one
  ``nu`` shared by the responses (prior: the student family's, ``Gamma(2, 0.1)``);
* otherwise each response's own likelihood (``y_y1``, dims ``obs_y1``) over the rows where it
  is observed.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .. import stack
from ..design import Design
from .blocks import _mvn_rows_random
from .listing import _Code, _kw


def mv_coords(design: Design) -> dict[str, Any]:
    """The dims of the responses: ``resp`` (and ``resp_``), and ``obs_<resp>`` (the rows where
    each response is observed)."""
    mv = design.mv
    if mv is None:
        return {}
    coords: dict[str, Any] = {"resp": list(mv.responses), "resp_": list(mv.responses)}
    for k, resp in enumerate(mv.responses):
        coords[f"obs_{resp}"] = mv.observed(k)
    return coords


def mv_likelihood(design: Design, priors: Any, code: _Code, etas: dict[str, Any]) -> None:
    """The family parameters and the observations of the multivariate ``design`` (module
    docstring), given each response's linear predictor ``etas[resp]``."""
    mv = design.mv
    assert mv is not None
    mus = []
    for k, resp in enumerate(mv.responses):
        family = mv.families[k]
        link = f"linkinv_{family.link}(eta_{resp})" if family.link != "identity" else f"eta_{resp}"
        code(f"mu_{resp} = {link}")
        mus.append(family.linkinv(etas[resp]))
    if mv.rescor:
        chol = _residual_chol(mv.responses, priors, code)
        mu_text = ", ".join(f"mu_{r}" for r in mv.responses)
        n_resp = len(mv.responses)
        if "nu" in mv.shared_params:  # student responses: one multivariate t, one nu
            p = priors.shared["nu"]
            code(f"nu = {p.code('nu')}")
            code(
                f"pm.MvStudentT('y', nu=nu, mu=pt.stack([{mu_text}], axis=1), chol=L_rescor, "
                "observed=Y, dims=('obs', 'resp'))"
            )
            pm.CustomDist(
                "y",
                pt.stack(mus, axis=1),
                chol,
                p.rv("nu"),
                logp=partial(_mvt_logp, n_resp),
                random=_mvt_rows_random,
                signature="(q),(q,q),()->(q)",
                observed=mv.Y,
                dims=("obs", "resp"),
            )
            return
        code(
            f"pm.MvNormal('y', mu=pt.stack([{mu_text}], axis=1), chol=L_rescor, observed=Y, "
            "dims=('obs', 'resp'))"
        )
        pm.CustomDist(  # forward substitution by hand (PyMC's MvNormal: ~50x slower)
            "y",
            pt.stack(mus, axis=1),
            chol,
            logp=partial(_mvn_logp, n_resp),
            random=_mvn_rows_random,
            signature="(q),(q,q)->(q)",
            observed=mv.Y,
            dims=("obs", "resp"),
        )
        return
    for k, resp in enumerate(mv.responses):
        family = mv.families[k]
        values = {}
        for name, p in priors.resp_family[resp].items():
            var = f"{name}_{resp}"
            code(f"{var} = {p.code(var)}")
            values[name] = p.rv(var)
        rows = mv.observed(k)
        y = mv.Y[rows, k]
        observed = y.astype(np.int64) if family.discrete else y
        trials = mv.trials[k]
        kwargs = family.pymc_kwargs(mus[k][rows], values, None if trials is None else trials[rows])
        args = family.pymc_args.replace("mu=mu", f"mu=mu_{resp}[obs_{resp}]")
        for name in values:
            args = args.replace(f"={name}", f"={name}_{resp}")
        code(f"pm.{family.pymc_dist}('y_{resp}', {args}, observed=y_{resp}, dims='obs_{resp}')")
        getattr(pm, family.pymc_dist)(f"y_{resp}", **kwargs, observed=observed, dims=f"obs_{resp}")


def _residual_chol(responses: tuple[str, ...], priors: Any, code: _Code) -> Any:
    """The Cholesky factor ``D L_R`` of the residual covariance, registering ``sigma_<resp>``
    and ``rescor``: one ``LKJCholeskyCov`` whose SDs are the sigmas when their priors are one
    distribution (as a correlated block's, :mod:`pyglmm.compile.blocks`), else each sigma its
    own variable and the correlation ``LKJCorr`` (``Lrescor``)."""
    n = len(responses)
    eta = float(priors.rescor.params.get("eta", 1.0))
    sig = [priors.resp_family[r]["sigma"] for r in responses]
    if len({(p.dist, tuple(sorted(p.params))) for p in sig}) == 1:
        params = {k: np.array([p.params[k] for p in sig]) for k in sig[0].params}
        code(
            f"L_rescor, rescor, sigma = pm.LKJCholeskyCov('L_rescor', n={n}, eta={eta:.4g}, "
            f"sd_dist=pm.{sig[0].dist}.dist({_kw(params)}, shape={n}))  # sigma_<resp> = sigma"
        )
        chol, corr, stds = pm.LKJCholeskyCov(
            "L_rescor",
            n=n,
            eta=eta,
            sd_dist=getattr(pm, sig[0].dist).dist(shape=n, **params),
            compute_corr=True,
            store_in_trace=False,
            **stack.lkj_cholesky_initval(n),
        )
        for k, resp in enumerate(responses):
            pm.Deterministic(f"sigma_{resp}", stds[k])
        pm.Deterministic("rescor", corr, dims=("resp", "resp_"))
        return chol
    sigmas = []
    for resp, p in zip(responses, sig, strict=True):
        code(f"sigma_{resp} = {p.code(f'sigma_{resp}')}")
        sigmas.append(p.rv(f"sigma_{resp}"))
    code(f"Lrescor = pm.LKJCorr('Lrescor', n={n}, eta={eta:.4g})  # Cholesky factor")
    corr_chol = stack.lkj_corr_cholesky("Lrescor", n, eta)
    pm.Deterministic("rescor", pt.dot(corr_chol, corr_chol.T), dims=("resp", "resp_"))
    sig_text = ", ".join(f"sigma_{r}" for r in responses)
    code(f"L_rescor = pt.stack([{sig_text}])[:, None] * Lrescor")
    return pt.stack(sigmas)[:, None] * corr_chol


def _whitened(n_resp: int, value: Any, mu: Any, chol: Any) -> tuple[Any, Any]:
    """``|C^-1 (y_i - mu_i)|^2`` per row and ``log det C`` for a lower-triangular ``C``
    (K x K), by forward substitution written out over the K responses
    (``z_k = (e_k - sum_{j<k} C_kj z_j) / C_kk``, vectors over rows). Cheaper than a
    triangular solve in nutpie's numba backend, and its gradient is elementwise."""
    while chol.ndim > 2:  # PyMC broadcasts the factor over the rows
        chol = chol[0]
    resid = value - mu
    zs: list[Any] = []
    for k in range(n_resp):
        acc = resid[..., k]
        for j in range(k):
            acc = acc - chol[k, j] * zs[j]
        zs.append(acc / chol[k, k])
    quad = sum(z**2 for z in zs)
    return quad, sum(pt.log(chol[k, k]) for k in range(n_resp))


def _mvn_logp(n_resp: int, value: Any, mu: Any, chol: Any) -> Any:
    """``log N(y_i | mu_i, C C')`` per row: ``-1/2 |z|^2 - sum_k log C_kk - K/2 log(2 pi)``."""
    quad, log_det = _whitened(n_resp, value, mu, chol)
    return -0.5 * quad - log_det - 0.5 * n_resp * np.log(2 * np.pi)


def _mvt_logp(n_resp: int, value: Any, mu: Any, chol: Any, nu: Any) -> Any:
    """The multivariate Student-t density per row with scale matrix ``C C'`` and ``nu``
    degrees of freedom (brms's ``multi_student_t``): ``lgamma((nu + K)/2) - lgamma(nu/2) -
    K/2 log(nu pi) - sum_k log C_kk - (nu + K)/2 log(1 + |z|^2 / nu)``."""
    quad, log_det = _whitened(n_resp, value, mu, chol)
    k = float(n_resp)
    const = pt.gammaln((nu + k) / 2) - pt.gammaln(nu / 2) - 0.5 * k * pt.log(nu * np.pi)
    return const - log_det - 0.5 * (nu + k) * pt.log1p(quad / nu)


def _mvt_rows_random(
    mu: np.ndarray, chol: np.ndarray, nu: np.ndarray, rng: np.random.Generator, size: Any
) -> np.ndarray:
    """Rows of a multivariate t: a multivariate normal's over ``sqrt(w / nu)``,
    ``w ~ chi2(nu)``."""
    e = _mvn_rows_random(np.zeros_like(mu), chol, rng, size)
    w = rng.chisquare(float(np.ravel(nu)[0]), e.shape[:-1])
    return np.asarray(mu) + e * np.sqrt(float(np.ravel(nu)[0]) / w)[..., None]
