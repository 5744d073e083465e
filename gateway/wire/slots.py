"""Where a client may put its gateway token: the same slots CRM clients already fill with their key.

A ``TokenSlot`` says which header or query/form parameter, and how its value reads. Each dialect
declares the slots its CRM's clients use (``Dialect.token_slots``); ``AUTHORIZATION`` is HTTP's own.
Every configured slot is read, every occurrence collected (repeated headers and parameters too):
exactly one distinct token is accepted. Messages never contain a token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from multidict import CIMultiDictProxy, MultiDictProxy

from gateway.errors import AuthenticationError

Scheme = Literal["bearer", "Bearer", "none"]
"""``bearer``: ``Bearer <token>``, the scheme in any case (RFC 6750); ``Bearer``: exactly that spelling,
a bare value is not a credential (CiviCRM AuthX syntax); ``none``: the whole value is the token."""


@dataclass(frozen=True, slots=True)
class TokenSlot:
    name: str
    """As ``identity.token_slots`` names it."""
    field: str
    """The header or parameter name."""
    param: bool = False
    """A query or form parameter (never forwarded, whichever slots are configured); else a header."""
    scheme: Scheme = "bearer"


AUTHORIZATION = TokenSlot("authorization", "Authorization")


def _token(value: str, scheme: Scheme) -> str | None:
    if scheme == "none":
        return value.strip()
    given, _, rest = value.strip().partition(" ")
    matches = given == "Bearer" if scheme == "Bearer" else given.lower() == "bearer"
    return rest.strip() if matches else None


def extract_token(
    headers: CIMultiDictProxy[str],
    query: MultiDictProxy[str],
    form: MultiDictProxy[str] | None,
    slots: tuple[TokenSlot, ...],
) -> str:
    """The one gateway token of a request, from the configured ``slots``.

    Raises AuthenticationError ``missing-token`` (none found) or ``multiple-tokens`` (two different
    values); the same token repeated in several slots is accepted.
    """
    found: str | None = None
    for slot in slots:
        if not slot.param:
            values: Iterable[str] = headers.getall(slot.field, ())
        elif form is None:
            values = query.getall(slot.field, ())
        else:
            values = [
                *query.getall(slot.field, ()),
                *(v for v in form.getall(slot.field, ()) if isinstance(v, str)),
            ]
        for value in values:
            token = _token(value, slot.scheme)
            if not token:
                continue
            if found is None:
                found = token
            elif token != found:
                raise AuthenticationError(
                    "the request carries two different tokens", reason="multiple-tokens"
                )
    if found is None:
        raise AuthenticationError("no bearer token in the request", reason="missing-token")
    return found
