"""Response families: link, extra distributional parameters, likelihood and default priors.

A :class:`Family` maps the linear predictor ``eta`` to the mean ``mu = linkinv(eta)`` and
defines the observation distribution ``y ~ D(mu, theta)``, where ``theta`` are the family's own
parameters (``sigma`` for gaussian).

Modules: :mod:`.base` (:class:`Family`, ``LINKS``), :mod:`.registry` (``FAMILIES``,
``ALIASES``, :func:`family`), :mod:`.continuous` and :mod:`.discrete` (the families),
:mod:`.ordinal` (``cumulative``). Nothing outside this package tests a family's name: what
the rest of pyglmm needs to know is a :class:`Family` attribute or method (``discrete``,
``positive_params``, ``information_factor``, ``marginalizable``, ``is_gaussian_identity``,
``expected_response``/``residual_variance`` for R^2, ``row_level_effects``, ...).

To add a family: one ``@register``-ed subclass of :class:`Family` in :mod:`.continuous` or
:mod:`.discrete` setting the class attributes (``name``, ``links``, ``params``,
``positive_params``, ``discrete``, ...) and implementing ``pymc_kwargs`` (PyMC's
arguments), ``draw`` and ``loglik`` (numpy; ``loglik`` must equal PyMC's logp),
``validate``, ``default_priors`` and, if it has a variance function, ``residual_variance``
(and ``expected_response`` when ``E[y]`` is not ``mu``); then its cases in
``tests/test_families.py``.

The families (brms's names and parameterizations) are tabulated in the docstrings of
:mod:`.continuous` and :mod:`.discrete`; ``FAMILIES`` maps each name to its class.

Default priors follow brms: with an identity link the Intercept prior is
``StudentT(3, median(y), max(2.5, mad(y)))`` (``log y`` for lognormal) and the sd priors use the
same scale; with any other link, ``StudentT(3, 0, 2.5)`` and ``HalfStudentT(3, 2.5)``. The
family parameters' priors are documented in each class.
"""

from __future__ import annotations

from .base import LINKS, Family
from .continuous import Beta, Gamma, Gaussian, Lognormal, Student
from .discrete import Bernoulli, Binomial, NegativeBinomial, Poisson
from .ordinal import Cumulative
from .registry import ALIASES, FAMILIES, family, register

__all__ = [
    "ALIASES",
    "FAMILIES",
    "LINKS",
    "Bernoulli",
    "Beta",
    "Binomial",
    "Cumulative",
    "Family",
    "Gamma",
    "Gaussian",
    "Lognormal",
    "NegativeBinomial",
    "Poisson",
    "Student",
    "family",
    "register",
]
