"""The CiviCRM schema the dialect reads: entity names and where foreign keys point.

Entity names are canonicalised the way CiviCRM compares them, so a policy written for
``GroupContact`` also governs ``group_contact`` (APIv3) and ``groupcontact`` (APIv4 resolves
class names case-insensitively). Foreign keys drive APIv4 implicit joins
(``contact_id.display_name`` on Email reads Contact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from gateway.dialects.civicrm.entities import CORE_ENTITIES
from gateway.dialects.civicrm.fk import BUILTIN_FK, GENERIC_FK

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def v3_key(name: str) -> str:
    """How APIv3 compares entity names: punctuation and underscores dropped, case folded."""
    return _v3_key_cached(name) if len(name) <= 64 else _NOT_ALNUM.sub("", name).lower()


@lru_cache(maxsize=512)
def _v3_key_cached(name: str) -> str:
    return _NOT_ALNUM.sub("", name).lower()


def v3_camel(name: str) -> str:
    """CiviCRM's camel-casing of an unknown v3 entity (``my_thing`` -> ``MyThing``): the name
    whose api/v3 file the server would load."""
    munged = _NOT_ALNUM.sub("_", name.strip())
    return "".join(part[:1].upper() + part[1:] for part in munged.split("_"))


class Schema:
    """Entity names and foreign keys: the built-in facts merged with an upstream's ``fk_map``."""

    def __init__(self, fk_map: Mapping[str, Mapping[str, str]] | None = None) -> None:
        merged: dict[str, dict[str, str]] = {entity: dict(fks) for entity, fks in BUILTIN_FK.items()}
        for entity, fks in (fk_map or {}).items():
            merged.setdefault(entity, {}).update(fks)
        self._fk = merged
        self._generic = dict(GENERIC_FK) | merged.pop("*", {})
        names = self._names(CORE_ENTITIES, merged)
        self._by_v3_key: dict[str, str] = {}
        self._by_lower: dict[str, str] = {}
        for name in names:
            self._by_v3_key.setdefault(v3_key(name), name)
            self._by_lower.setdefault(name.lower(), name)

    @staticmethod
    def _names(core: Iterable[str], fks: Mapping[str, Mapping[str, str]]) -> list[str]:
        names = list(core)
        for entity, targets in fks.items():
            names.append(entity)
            names.extend(targets.values())
        return names

    def v3_entity(self, raw: str) -> str:
        """The canonical name of an APIv3 entity as CiviCRM would resolve ``raw``."""
        known = self._by_v3_key.get(v3_key(raw))
        return known if known is not None else v3_camel(raw)

    def v4_entity(self, raw: str) -> str:
        """The canonical name of an APIv4 entity: known names match case-insensitively (PHP class
        names do); others are kept as given."""
        return self._by_lower.get(raw.lower(), raw)

    def fk_target(self, entity: str, field: str) -> str | None:
        """The entity ``field`` on ``entity`` points to, or None when it is not a known single FK."""
        specific = self._fk.get(entity, {}).get(field)
        return specific if specific is not None else self._generic.get(field)
