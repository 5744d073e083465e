"""Record scope by claim: an integration sees only the records a claim of its token names.

```yaml
scope:
  Contact: {field: id, claim: contact_ids}     # Contact records whose id is in the token's contact_ids
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.configfile.source import Section

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class RecordScope:
    entity: str
    field: str
    claim: str
    policy: str

    def values(self, claims: Mapping[str, Any]) -> tuple[str | int, ...] | None:
        """The claim's values (a scalar or a list of strings/integers); None when absent or unusable."""
        raw = claims.get(self.claim)
        items = raw if isinstance(raw, list) else [raw]
        if raw is None or not items:
            return None
        out: list[str | int] = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, str | int):
                return None
            out.append(item)
        return tuple(out)


def parse_scopes(s: Section, policy: str) -> list[RecordScope]:
    section = s.section("scope", {})
    scopes: list[RecordScope] = []
    for entity, raw in section.items():
        entry = Section(raw, section.file, f"{section.key}.{entity}", section.line_of(entity))
        field = entry.get("field", str)
        if not _FIELD.match(field):
            raise entry.error("field", f"must be a plain field name (no joins): {field!r}")
        claim = entry.get("claim", str)
        entry.done()
        scopes.append(RecordScope(entity=entity, field=field, claim=claim, policy=policy))
    return scopes
