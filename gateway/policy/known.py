"""What the policy engine knows about each dialect: the vocabulary the dialect declares
(gateway/dialects/vocabulary.py), looked up by dialect name."""

from __future__ import annotations

from gateway.dialects.registry import vocabularies, vocabulary_for
from gateway.dialects.vocabulary import DEFAULT, GENERIC, WILDCARD, DialectRules, suggest, words

__all__ = [
    "DEFAULT",
    "GENERIC",
    "WILDCARD",
    "DialectRules",
    "is_custom_entity",
    "known_dialects",
    "rules_for",
    "suggest",
    "words",
]


def rules_for(dialect: str) -> DialectRules:
    """The rules for a dialect; an unknown dialect compares names exactly and knows no names."""
    return vocabulary_for(dialect) or GENERIC


def known_dialects() -> tuple[DialectRules, ...]:
    return vocabularies()


def is_custom_entity(dialect: str, name: str) -> bool:
    """Names the CRM generates for site-defined entities, which no fixed list can know."""
    return rules_for(dialect).custom_entity(name)
