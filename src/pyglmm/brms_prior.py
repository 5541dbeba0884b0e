"""brms's prior strings (``"normal(0, 10)"``, ``"student_t(3, 0, 2.5)"``, ``"lkj(2)"``) as a
PyMC distribution name and its parameters, from which :mod:`pyglmm.priors` builds the
:class:`~pyglmm.priors.Prior`, so ``Model(priors=...)`` takes brms's spelling beside
``pg.prior(...)``.

Arguments are positional, in Stan's order. brms bounds the classes that must be positive
(``sd`` and the family parameters such as ``sigma``, ``shape``, ``phi``) at 0, so there a
symmetric distribution with location 0 is its half version: ``normal(0, s)`` is
``HalfNormal(sigma=s)``, ``student_t(nu, 0, s)`` is ``HalfStudentT(nu, sigma=s)``,
``cauchy(0, s)`` is ``HalfCauchy(beta=s)``. A non-zero location there would be a truncated
distribution, which pyglmm does not offer (it says so). ``lkj(eta)`` (or
``lkj_corr_cholesky(eta)``) is the ``cor`` class's only prior.
"""

from __future__ import annotations

import re

from .errors import PriorError

# brms / Stan name -> (PyMC distribution, its parameters in Stan's argument order)
DISTRIBUTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "normal": ("Normal", ("mu", "sigma")),
    "student_t": ("StudentT", ("nu", "mu", "sigma")),
    "cauchy": ("Cauchy", ("alpha", "beta")),
    "double_exponential": ("Laplace", ("mu", "b")),
    "logistic": ("Logistic", ("mu", "s")),
    "exponential": ("Exponential", ("lam",)),
    "gamma": ("Gamma", ("alpha", "beta")),
    "inv_gamma": ("InverseGamma", ("alpha", "beta")),
    "lognormal": ("LogNormal", ("mu", "sigma")),
    "weibull": ("Weibull", ("alpha", "beta")),
    "beta": ("Beta", ("alpha", "beta")),
    "uniform": ("Uniform", ("lower", "upper")),
    "lkj": ("LKJ", ("eta",)),
    "lkj_corr_cholesky": ("LKJ", ("eta",)),
}
# on a class bounded at 0: the half version of a symmetric distribution with location 0
HALF = {
    "normal": ("HalfNormal", ("sigma",), 0),
    "student_t": ("HalfStudentT", ("nu", "sigma"), 1),
    "cauchy": ("HalfCauchy", ("beta",), 0),
}
# "ar": a structure's correlation in (-1, 1) (ar1's rho; cs's rho is looked up under "cor"
# but read as this class)
UNBOUNDED_CLASSES = frozenset({"b", "Intercept", "ar", "meanme"})
# the classes of correlation matrices (LKJ): group-level and measurement-error latent values
LKJ_CLASSES = frozenset({"cor", "corme", "rescor"})

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$")


def brms_prior(text: str, cls: str, where: str) -> tuple[str, dict[str, float]]:
    """(PyMC distribution, parameters) of brms's ``text`` for class ``cls`` (``where``: the
    position in the user's overrides, for messages; see the module docstring)."""
    match = _CALL.match(text)
    if match is None:
        raise PriorError(
            f"{where} = {text!r} is neither a pg.prior(...) nor a brms prior string such as "
            "'normal(0, 10)' or 'student_t(3, 0, 2.5)'"
        )
    name, body = match.group(1), match.group(2)
    if name not in DISTRIBUTIONS:
        raise PriorError(
            f"{where} = {text!r}: unknown brms distribution {name!r}; known: "
            f"{', '.join(sorted(DISTRIBUTIONS))}"
        )
    try:
        args = [float(a) for a in body.split(",")] if body.strip() else []
    except ValueError:
        raise PriorError(f"{where} = {text!r}: the arguments must be numbers") from None
    dist, params = DISTRIBUTIONS[name]
    if len(args) != len(params):
        raise PriorError(
            f"{where} = {text!r}: {name} takes {len(params)} argument(s) "
            f"({', '.join(params)} in Stan's order), got {len(args)}"
        )
    if (dist == "LKJ") != (cls in LKJ_CLASSES):
        raise PriorError(
            f"{where} = {text!r}: the {cls!r} class takes lkj(eta) and only it"
            if cls in LKJ_CLASSES
            else f"{where} = {text!r}: lkj() is the prior of the 'cor' class only (and of "
            "'corme', 'rescor')"
        )
    if cls not in UNBOUNDED_CLASSES and name in HALF:
        half, half_params, location = HALF[name]
        if args[location] != 0:
            raise PriorError(
                f"{where} = {text!r}: class {cls!r} is bounded at 0, where {name} with "
                f"location {args[location]:g} would be truncated; pyglmm takes location 0 "
                f"(the half distribution, {half})"
            )
        kept = [a for i, a in enumerate(args) if i != location]
        return half, dict(zip(half_params, kept, strict=True))
    return dist, dict(zip(params, args, strict=True))
