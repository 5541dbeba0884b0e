"""The registry of families: ``FAMILIES`` (name -> class), ``ALIASES`` and :func:`family`.

A concrete family joins it with the :func:`register` decorator, in the module that defines it;
its ``aliases`` become other accepted spellings.
"""

from __future__ import annotations

from typing import TypeVar

from ..errors import FamilyError
from .base import Family

FAMILIES: dict[str, type[Family]] = {}
# other spellings (brms's) -> name, filled from each family's ``aliases``
ALIASES: dict[str, str] = {}

F = TypeVar("F", bound=type[Family])


def register(cls: F) -> F:
    """Class decorator: add ``cls`` to ``FAMILIES`` under ``cls.name`` (and its aliases)."""
    for key in (cls.name, *cls.aliases):
        if not key or key in FAMILIES or key in ALIASES:
            raise ValueError(f"family name {key!r} of {cls.__name__} is empty or taken")
    FAMILIES[cls.name] = cls
    ALIASES.update({alias: cls.name for alias in cls.aliases})
    return cls


def family(name: str | Family, link: str | None = None) -> Family:
    """Look up a family by name: ``family("gaussian")``, ``family("binomial", link="probit")``."""
    if isinstance(name, Family):
        if link is not None and link != name.link:
            return type(name)(link=link)  # type: ignore[call-arg]
        return name
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in FAMILIES:
        raise FamilyError(f"unknown family {name!r}; available: {sorted(FAMILIES)}")
    cls = FAMILIES[key]
    return cls() if link is None else cls(link=link)  # type: ignore[call-arg]
