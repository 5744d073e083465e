"""What a sandbox CRM received: one request, recorded before it is authenticated."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReceivedRequest:
    method: str
    path_qs: str
    """The request target exactly as received (raw path and query, nothing decoded)."""
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class ActedCall:
    """Who an authenticated call ran as: what the CRM's own change log would name."""

    acted_as: str
    """The contact id (CiviCRM) or user name (EspoCRM) whose permissions the call ran with."""
    logged_in_as: str
    """The credential's own contact id or user name (differs when an admin acts as another user)."""
    method: str
    path: str
