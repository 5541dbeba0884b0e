"""``pg.Model`` of a multivariate formula (brms's ``mvbind(y1, y2) ~ ...`` or
``pg.bf(...) + pg.bf(...)``): :func:`setup_multivariate` fills a :class:`~pyglmm.Model`'s
attributes from the stages of :mod:`pyglmm.design.multivariate`, :mod:`pyglmm.mv_priors` and
:mod:`pyglmm.compile.multivariate`.

``family``: one family for every response, or one per response (a list in the responses'
order, or a dict by response name). ``rescor``: residual correlations among the responses
(brms's ``set_rescor``); default (None): on when every response is gaussian or every response
is student (brms's default; the student responses then share one ``nu``: a multivariate t);
``rescor=True`` with other families, or a mix of gaussian and student responses, is a
:class:`FamilyError` (brms refuses them too).

Such a model is sampled by its PyMC model (no kernel, no block integrated out, no point fit:
``"auto"`` chooses centered or non-centered per block by rows per level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from .compile import resolve_parameterization
from .design.multivariate import build_mv_design
from .errors import FamilyError, FormulaError
from .families import Family
from .families import family as get_family
from .families.validation import ResponseError
from .formula import parse_formula, quote_columns
from .formula.distributional import MvFormula
from .mv_priors import build_mv_priors


def mv_families(family: Any, responses: Sequence[str]) -> list[Family]:
    """One :class:`Family` per response from ``Model``'s ``family`` argument."""
    if isinstance(family, Mapping):
        unknown = sorted(set(family) - set(responses))
        missing = [r for r in responses if r not in family]
        if unknown or missing:
            raise FamilyError(
                f"family: a dict needs one entry per response {list(responses)}"
                + (f"; unknown {unknown}" if unknown else "")
                + (f"; missing {missing}" if missing else "")
            )
        return _response_families([get_family(family[r]) for r in responses])
    if isinstance(family, (list, tuple)):
        if len(family) != len(responses):
            raise FamilyError(
                f"family: {len(family)} families for {len(responses)} responses {list(responses)}"
            )
        return _response_families([get_family(f) for f in family])
    one = get_family(family)
    return _response_families([one] * len(responses))


def _response_families(families: list[Family]) -> list[Family]:
    """``families``, refusing the ordinal ones (thresholds replace a response's intercept,
    which the multivariate design does not do yet)."""
    ordinal = sorted({f.name for f in families if f.thresholds})
    if ordinal:
        raise FamilyError(
            f"family {ordinal[0]!r} (ordinal) is not available in multivariate models yet"
        )
    return families


def setup_multivariate(
    model: Any,
    mvf: MvFormula,
    family: Any,
    priors: Mapping[str, Any] | None,
    parameterization: str | Mapping[str, str],
    missing: Literal["drop", "raise"],
    data2: Mapping[str, Any] | None,
    rescor: bool | None,
) -> None:
    """Set ``model``'s formula, design, family, priors and parameterization for the
    multivariate formula ``mvf`` (module docstring)."""
    data = model.data
    responses = mvf.responses
    families = mv_families(family, responses)
    kinds = {f.name for f in families}
    correlatable = len(kinds) == 1 and kinds <= {"gaussian", "student"}
    if rescor is None:
        rescor = correlatable
    elif rescor and not correlatable:
        got = ", ".join(f"{r}: {f.name}" for r, f in zip(responses, families, strict=True))
        raise FamilyError(
            f"rescor=True: residual correlations need every response gaussian or every response "
            f"student (brms's set_rescor), got {got}; use rescor=False"
        )
    if rescor and any(f.link != "identity" for f in families):
        raise FamilyError(
            "rescor=True: residual correlations need the identity link for every response; "
            "use rescor=False"
        )
    parsed = []
    for part in mvf.parts:
        if part.dpars:
            raise FormulaError(
                "distributional formulas of one response of a multivariate model "
                f"({', '.join(part.dpar_names)}) are not available yet",
                str(part),
                0,
            )
        text = part.formula
        parsed.append(replace(parse_formula(quote_columns(text, data.columns)), formula=text))
    text = str(mvf)
    model.bf = None
    model.formula = replace(parsed[0], formula=text)
    model.family = families[0]
    model.design = build_mv_design(
        responses, parsed, data, families, bool(rescor), text, missing=missing, data2=data2
    )
    mv = model.design.mv
    for k, fam in enumerate(families):
        rows = mv.observed(k)
        trials = mv.trials[k]
        try:
            fam.validate(mv.Y[rows, k], None if trials is None else trials[rows])
        except ResponseError as err:
            raise err.located(model.design.index[rows]) from None
    model.prior_set = build_mv_priors(model.design, priors)
    resolve_parameterization(
        parameterization, model.design.blocks, families[0], distributional=True
    )
