"""Application keys shared by the app, the pipeline and the admin endpoints."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway.observability.metrics import GatewayMetrics
from gateway.runtime import Runtime


@dataclass(slots=True)
class State:
    """The live runtime; a reload replaces ``runtime`` in one assignment, between requests."""

    runtime: Runtime | None = None


STATE: web.AppKey[State] = web.AppKey("state", State)
METRICS: web.AppKey[GatewayMetrics] = web.AppKey("metrics", GatewayMetrics)
