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
