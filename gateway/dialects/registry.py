"""The dialects a config may name: one line per CRM (a literal dict, no import side effects)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from gateway.dialects.base import Dialect, DialectBuilder, DialectFactory
from gateway.dialects.civicrm import dialect as civicrm
from gateway.dialects.civicrm.people import CiviCrmDirectory
from gateway.dialects.directory import Directory
from gateway.dialects.espocrm import dialect as espocrm
from gateway.dialects.espocrm.people import EspoCrmDirectory
from gateway.dialects.vocabulary import DialectRules


@dataclass(frozen=True, slots=True)
class DialectSpec:
    factory: DialectBuilder
    dialect: type[Dialect]
    """The class: what it declares without being built (vocabulary, credential names)."""
    directory: Directory | None = None
    """How the CRM looks a person up (identity look-ups), if it can."""

    @property
    def vocabulary(self) -> DialectRules:
        return self.dialect.vocabulary


DIALECTS: dict[str, DialectSpec] = {
    "civicrm": DialectSpec(civicrm.factory, civicrm.CiviCrmDialect, CiviCrmDirectory()),
    "espocrm": DialectSpec(espocrm.create, espocrm.EspoDialect, EspoCrmDirectory()),
}


def token_params() -> frozenset[str]:
    """Every parameter a dialect's token slot reads: each dialect is told them all, since
    ``identity.token_slots`` applies to every upstream."""
    return frozenset(
        slot.field for spec in DIALECTS.values() for slot in spec.dialect.token_slots if slot.param
    )


def factory_for(name: str) -> DialectFactory | None:
    spec = DIALECTS.get(name)
    return partial(spec.factory, token_params=token_params()) if spec else None


def directory_for(name: str) -> Directory | None:
    spec = DIALECTS.get(name)
    return spec.directory if spec else None


def vocabulary_for(name: str) -> DialectRules | None:
    spec = DIALECTS.get(name)
    return spec.vocabulary if spec else None


def vocabularies() -> tuple[DialectRules, ...]:
    return tuple(spec.vocabulary for spec in DIALECTS.values())


def names() -> list[str]:
    return sorted(DIALECTS)
