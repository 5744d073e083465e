"""The dialects a config may name: one line per CRM (a literal dict, no import side effects)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.dialects.base import Dialect, DialectFactory
from gateway.dialects.civicrm import dialect as civicrm
from gateway.dialects.espocrm import dialect as espocrm
from gateway.dialects.vocabulary import DialectRules


@dataclass(frozen=True, slots=True)
class DialectSpec:
    factory: DialectFactory
    dialect: type[Dialect]
    """The class: what it declares without being built (vocabulary, credential names)."""

    @property
    def vocabulary(self) -> DialectRules:
        return self.dialect.vocabulary


DIALECTS: dict[str, DialectSpec] = {
    "civicrm": DialectSpec(civicrm.factory, civicrm.CiviCrmDialect),
    "espocrm": DialectSpec(espocrm.create, espocrm.EspoDialect),
}


def factory_for(name: str) -> DialectFactory | None:
    spec = DIALECTS.get(name)
    return spec.factory if spec else None


def vocabulary_for(name: str) -> DialectRules | None:
    spec = DIALECTS.get(name)
    return spec.vocabulary if spec else None


def vocabularies() -> tuple[DialectRules, ...]:
    return tuple(spec.vocabulary for spec in DIALECTS.values())


def names() -> list[str]:
    return sorted(DIALECTS)
