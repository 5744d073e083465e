"""Record scopes: the dialect narrows a request to the records the principal's scopes allow, or refuses it.

The generic part: which operations touch a scoped entity, and the clauses (field, allowed values) each
scope yields from the token's claims. How the request is narrowed is the dialect's ``scope_records``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.dialects.base import Dialect, Operation, RequestView
from gateway.errors import Forbidden
from gateway.policy.scope import RecordScope
from gateway.principal import Principal


def _norm(entity: str) -> str:
    return entity.lower().replace("_", "")


def apply_record_scopes(
    dialect: Dialect,
    view: RequestView,
    ops: Sequence[Operation],
    scopes: Sequence[RecordScope],
    principal: Principal,
) -> None:
    if not scopes:
        return
    by_entity: dict[str, list[RecordScope]] = {}
    for scope in scopes:
        by_entity.setdefault(_norm(scope.entity), []).append(scope)
    touched = [op for op in ops if not op.opaque and _norm(op.entity) in by_entity]
    if not touched:
        return

    def clauses(entity: str) -> list[tuple[str, tuple[str | int, ...]]]:
        found: list[tuple[str, tuple[str | int, ...]]] = []
        for scope in by_entity.get(_norm(entity), []):
            values = scope.values(principal.claims)
            if values is None:
                raise Forbidden(
                    f"{entity} records are scoped by a claim this token does not carry",
                    reason="scope-claim-missing",
                )
            found.append((scope.field, values))
        return found

    dialect.scope_records(view, touched, clauses)
