"""Metrics, access/audit log and request ids: what the gateway records about each request."""

from __future__ import annotations

from gateway.observability.labels import LabelBounds
from gateway.observability.logging import (
    AccessLogger,
    AccessRecord,
    LimiterOutcome,
    RedactingFilter,
    operation_strings,
    register_secret,
    setup_logging,
)
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.request_id import accept_or_generate

__all__ = [
    "AccessLogger",
    "AccessRecord",
    "GatewayMetrics",
    "LabelBounds",
    "LimiterOutcome",
    "RedactingFilter",
    "accept_or_generate",
    "operation_strings",
    "register_secret",
    "setup_logging",
]
