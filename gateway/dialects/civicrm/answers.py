"""Which field a key of a CiviCRM answer carries, for the answer's field filter.

APIv4 answers a join or an implicit join under a dotted key (``contact_id.api_key``, ``c.api_key`` for a
join aliased ``c``, ``Custom_Group.field`` for custom fields), a pseudo-constant under ``field:label``; APIv3
under the plain name, chained results under ``api.Entity.action`` holding more records. The field is the
last dotted segment, lower-case, without its ``:suffix``: the same fold the policy uses on request fields.
"""

from __future__ import annotations


def answer_fields(key: str) -> tuple[str, ...]:
    return (key.split(":", 1)[0].rsplit(".", 1)[-1].strip().lower(),)
