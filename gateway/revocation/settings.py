"""``revocation:`` settings as a frozen value."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.secrets import Secret

KINDS = ("jti", "sub", "client")
"""What an entry names: one token (``jti``), every token of a subject, or of a client id."""


@dataclass(frozen=True, slots=True)
class RevocationConfig:
    backend: str = "memory"
    url: Secret | None = None
    """Redis URL; by default the limiter's (``ratelimit.url``)."""
    prefix: str = "{crmgw-rv}:"
    timeout_ms: int = 50
    on_error: str = "deny"
    """Redis down: ``deny`` refuses every token (503) until it answers; ``allow`` accepts, loudly."""
