"""How a CRM finds a person: one small plug-in per dialect (listed in ``directories``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gateway.signers.base import OutboundRequest


class LookupUnreadable(Exception):
    """The CRM's answer to a look-up could not be read (an error, or an unexpected shape)."""


class Directory(Protocol):
    ways: Mapping[str, frozenset[str]]
    """Person field -> the ``by`` values this CRM can look it up by."""

    def request(self, field: str, by: str, value: str, base_path: str, dialect: object) -> OutboundRequest:
        """The one fixed, read-only request that finds ``value`` (never shaped by the client); ``dialect``
        is the upstream's configured dialect (its options say where the API lives)."""
        ...

    def matches(self, field: str, status: int, body: bytes) -> list[str]:
        """The distinct values of ``field`` in the answer; raises LookupUnreadable."""
        ...
