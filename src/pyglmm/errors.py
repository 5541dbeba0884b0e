"""The exceptions and warnings pyglmm raises for user input, in one place.

Every error is a :class:`PyglmmError`, so ``except pg.PyglmmError`` catches anything pyglmm
refuses; each is also a ``ValueError`` (what they were before this module existed), so code
that catches ``ValueError`` keeps working.

* :class:`FormulaError`: a formula that cannot be parsed (the message repeats the formula with a
  caret under the position).
* :class:`DesignError`: data that do not fit the formula (unknown column, single-level factor,
  missing values in new data, ...).
* :class:`PriorError`: a prior override that names an unknown class, group or term, or that is
  not a valid prior.
* :class:`FamilyError`: an unknown family or link, or a response the family cannot take.
* :class:`ArgumentError`: an argument value that cannot be used (``draws=0``, an unknown
  sampler or parameterization).
* :class:`FitFileError`: a file that is not a saved pyglmm fit, or one this pyglmm cannot read.
* :class:`UnsupportedModelError`: a model that an engine or a workflow step does not cover
  (``model.optimize()`` of a block with a structured or known covariance, ...).

:class:`ModelComparisonError`: models that cannot be compared (``pg.anova`` of fits to
different data).

:class:`SamplingWarning` is the warning issued after sampling (divergences, R-hat, ESS);
:class:`ConvergenceWarning` says a point fit's optimizer did not converge, and
:class:`SingularFitWarning` that a point fit is on the boundary (lme4's "boundary (singular)
fit").
"""

from __future__ import annotations


class PyglmmError(Exception):
    """Base class of the errors pyglmm raises for user input."""


class FormulaError(PyglmmError, ValueError):
    """A formula that cannot be parsed; ``str(err)`` shows the formula with a caret.

    Attributes: ``formula`` (the text), ``position`` (0-based character offset) and ``reason``.
    """

    def __init__(self, reason: str, formula: str, position: int) -> None:
        self.reason = reason
        self.formula = formula
        self.position = position
        caret = " " * max(position, 0) + "^"
        super().__init__(f"{reason}\n  {formula}\n  {caret}")


class DesignError(PyglmmError, ValueError):
    """Bad input data for a formula (unknown column, single-level factor, ...)."""


class PriorError(PyglmmError, ValueError):
    """A prior override that cannot be used (unknown class, group or term; not a prior)."""


class FamilyError(PyglmmError, ValueError):
    """An unknown family or link, or a response that the family cannot take."""


class ArgumentError(PyglmmError, ValueError):
    """An argument value pyglmm cannot use: ``draws=0``, an unknown sampler or
    parameterization, ``target_accept`` outside (0, 1), ..."""


class FitFileError(PyglmmError, ValueError):
    """A file that is not a saved pyglmm fit, or one this pyglmm cannot read."""


class UnsupportedModelError(PyglmmError, ValueError):
    """A valid model that this engine or step does not cover, e.g. the REML/ML point fit of
    a block with a known (``gr(g, cov = A)``) or structured (``ar1``, ``cs``) covariance."""


class UnsupportedTermError(FormulaError, UnsupportedModelError):
    """A term that is valid brms/lme4 syntax but that pyglmm does not fit yet (``me()`` inside
    a random-effect term): a :class:`FormulaError` (the caret under it) and an
    :class:`UnsupportedModelError` (catch either)."""


class ModelComparisonError(PyglmmError, ValueError):
    """Models that cannot be compared, e.g. ``pg.anova`` of fits to different data."""


class SingularFitWarning(UserWarning):
    """A point fit on the boundary of its parameter space (lme4's ``isSingular``)."""


class SamplingWarning(UserWarning):
    """Divergences, high R-hat or low ESS after sampling."""


class ConvergenceWarning(UserWarning):
    """A point fit (``model.optimize()``) whose optimizer did not converge."""
