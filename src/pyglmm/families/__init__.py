"""Response families: link, extra distributional parameters, likelihood and default priors.

A :class:`Family` maps the linear predictor ``eta`` to the mean ``mu = linkinv(eta)`` and
defines the observation distribution ``y ~ D(mu, theta)``, where ``theta`` are the family's own
parameters (``sigma`` for gaussian).

Modules: :mod:`.base` (:class:`Family`, ``LINKS``), :mod:`.registry` (``FAMILIES``,
``ALIASES``, :func:`family`), :mod:`.validation` (``ResponseError``), :mod:`.continuous`,
:mod:`.discrete`, :mod:`.survival` (weibull, exponential), :mod:`.zero_inflated`,
:mod:`.hurdle`, :mod:`.ordinal` (``cumulative``) and :mod:`.categorical`: the
families. Nothing outside this
package tests a family's name: what the rest of pyglmm needs to know is a :class:`Family`
attribute or method (``discrete``,
``positive_params``, ``information_factor``, ``marginalizable``, ``is_gaussian_identity``,
``expected_response``/``residual_variance`` for R^2, ``row_level_effects``, ...).

To add a family: one ``@register``-ed subclass of :class:`Family` in one of those modules
setting the class attributes (``name``, ``links``, ``params``,
``positive_params``, ``discrete``, ...) and implementing ``pymc_kwargs`` (PyMC's
arguments), ``draw`` and ``loglik`` (numpy; ``loglik`` must equal PyMC's logp),
``validate``, ``default_priors`` and, if it has a variance function, ``residual_variance``
(and ``expected_response`` when ``E[y]`` is not ``mu``); then its cases in
``tests/test_families.py``.

The families (brms's names and parameterizations) are tabulated in the docstrings of their
modules; ``FAMILIES`` maps each name to its class.

Default priors follow brms: with an identity link the Intercept prior is
``StudentT(3, median(y), max(2.5, mad(y)))`` (``log y`` for lognormal) and the sd priors use the
same scale; with any other link, ``StudentT(3, 0, 2.5)`` and ``HalfStudentT(3, 2.5)``. The
family parameters' priors are documented in each class.
"""

from __future__ import annotations

from .base import LINKS, Family
from .categorical import Categorical
from .continuous import Beta, Gamma, Gaussian, Lognormal, Student
from .discrete import Bernoulli, BetaBinomial, Binomial, NegativeBinomial, Poisson
from .hurdle import HurdleLognormal, HurdleNegBinomial, HurdlePoisson
from .ordinal import Cumulative
from .registry import ALIASES, FAMILIES, family, register
from .survival import Exponential, Weibull
from .zero_inflated import ZeroInflatedBinomial, ZeroInflatedNegBinomial, ZeroInflatedPoisson

__all__ = [
    "ALIASES",
    "FAMILIES",
    "LINKS",
    "Bernoulli",
    "Beta",
    "BetaBinomial",
    "Binomial",
    "Categorical",
    "Cumulative",
    "Exponential",
    "Family",
    "Gamma",
    "Gaussian",
    "HurdleLognormal",
    "HurdleNegBinomial",
    "HurdlePoisson",
    "Lognormal",
    "NegativeBinomial",
    "Poisson",
    "Student",
    "Weibull",
    "ZeroInflatedBinomial",
    "ZeroInflatedNegBinomial",
    "ZeroInflatedPoisson",
    "family",
    "register",
]
