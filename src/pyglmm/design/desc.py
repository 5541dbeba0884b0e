"""The patsy ``ModelDesc`` of a fixed-effect part, combined term by term in linear time.

patsy evaluates ``a + b + c + ...`` as a left-nested tree and deduplicates the growing term
list at every ``+``, which is quadratic in the number of terms (3,000 ``I()`` terms: seconds
per parse). :func:`model_desc` parses each top-level term on its own and applies patsy's rules
for ``+`` and ``-`` (union and difference of term lists, the intercept switched by ``0``/``1``,
``-1``/``-0``, and by terms that carry their own intercept such as ``(1 + x)``) once per term,
so the result equals ``patsy.ModelDesc.from_formula(join_terms(terms))``.
"""

from __future__ import annotations

import patsy
from patsy.desc import INTERCEPT, Term


def _term(text: str) -> tuple[bool, list[Term]]:
    """Whether term ``text`` switches the intercept on (patsy's ``intercept``), and its terms."""
    rhs = patsy.ModelDesc.from_formula(f"0 + {text}").rhs_termlist
    return INTERCEPT in rhs, [t for t in rhs if t != INTERCEPT]


def model_desc(terms: list[tuple[str, str]]) -> patsy.ModelDesc:
    """``patsy.ModelDesc`` (right-hand side only) of the signed terms ``[(sign, text), ...]``
    of :func:`~pyglmm.formula.split_terms`; patsy's own ``PatsyError`` for a bad term."""
    removed = False  # patsy's intercept_removed: no intercept column
    listed: dict[Term, None] = {}
    for k, (sign, raw) in enumerate(terms):
        text = raw.strip()
        if text in ("0", "1"):  # "+ 0", "- 1" remove the intercept; "+ 1", "- 0" restore it
            removed = (sign == "+") == (text == "0")
            continue
        if sign == "-" and k == 0:  # patsy: unary minus only applies to 0 or 1
            return patsy.ModelDesc.from_formula(f"-{text}")
        intercept, found = _term(text)
        if k == 0:  # the first term's own state, e.g. "(x - 1) + z" has no intercept
            removed = INTERCEPT not in patsy.ModelDesc.from_formula(text).rhs_termlist
            listed.update(dict.fromkeys(found))
        elif sign == "+":
            listed.update(dict.fromkeys(found))
            removed = removed and not intercept
        else:
            for term in found:
                listed.pop(term, None)
            removed = removed or intercept
    return patsy.ModelDesc([], ([] if removed else [INTERCEPT]) + list(listed))
