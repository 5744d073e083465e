"""build_app(config) -> aiohttp Application: start-up, clean-up and the few gateway-owned endpoints."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from gateway.assembly import build_limiter, build_policies, build_upstreams
from gateway.auth.authenticator import Authenticator
from gateway.config.model import GatewayConfig
from gateway.decision.endpoint import add_decision_routes
from gateway.health import add_health_routes
from gateway.identities import IdentityMap
from gateway.identity.people import PersonResolver
from gateway.keys import METRICS, STATE, State
from gateway.observability.access_log import AccessLogger
from gateway.observability.metrics import GatewayMetrics
from gateway.pipeline import handle
from gateway.ratelimit.base import Limiter
from gateway.revocation.checker import RevocationChecker, build_store
from gateway.routing import Router
from gateway.runtime import Runtime


def policy_entities(config: GatewayConfig) -> set[str]:
    return set(config.policies.entity_names())


async def build_runtime(
    config: GatewayConfig,
    metrics: GatewayMetrics,
    clock: Callable[[], float] | None = None,
    *,
    limiter: Limiter | None = None,
    authenticator: Authenticator | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Runtime:
    """``limiter`` / ``authenticator``: the running ones to keep (a reload with unchanged settings keeps
    the limiter's buckets and the JWKS cache, so an IdP that is down during a reload costs nothing)."""
    clock = clock or time.time
    issuer_index = {issuer.issuer: i for i, issuer in enumerate(config.auth.issuers)}

    def on_jwks_fetch(issuer: str, outcome: str) -> None:
        metrics.jwks_fetch(issuer_index.get(issuer, -1), outcome)

    fresh = authenticator is None
    if authenticator is None:
        authenticator = Authenticator(
            config.auth,
            clock=clock,
            on_jwks_fetch=on_jwks_fetch,
            on_introspection=lambda issuer, outcome: metrics.introspection(
                issuer_index.get(issuer, -1), outcome
            ),
            revocations=RevocationChecker(
                build_store(config.revocation, clock),
                on_error=config.revocation.on_error,
                leeway_seconds=config.auth.leeway_seconds,
                on_refusal=metrics.revocation_refusal,
            ),
        )
    runtime = Runtime(
        config=config,
        router=Router(config.upstreams),
        authenticator=authenticator,
        identities=IdentityMap(config.identities),
        limiter=limiter or build_limiter(config.ratelimit, metrics, monotonic),
        metrics=metrics,
        access_log=AccessLogger(enabled=config.observability.access_log, on_error=metrics.access_log_error),
        upstreams=build_upstreams(config, monotonic),
        policies=build_policies(config),
        clock=clock,
        monotonic=monotonic,
        people=PersonResolver(config.lookups, monotonic),
    )
    if fresh:
        await authenticator.start()
    return runtime


def build_app(
    config: GatewayConfig,
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> web.Application:
    max_body = max(up.max_body_bytes for up in config.upstreams)
    app = web.Application(client_max_size=max_body + 64 * 1024, handler_args={"max_field_size": 16384})
    metrics = GatewayMetrics(
        principal_label=config.observability.principal_label,
        upstreams=[up.name for up in config.upstreams],
        entities=policy_entities(config),
    )
    app[METRICS] = metrics
    state = app[STATE] = State()

    async def start(app: web.Application) -> None:
        state.runtime = await build_runtime(config, metrics, clock, monotonic=monotonic)

    async def stop(app: web.Application) -> None:
        if state.runtime is not None:
            await state.runtime.close()
            state.runtime = None

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    if config.observability.admin_port is None:
        add_health_routes(app, metrics=config.observability.metrics)
    add_decision_routes(app, config.decision)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def build_admin_app(main: web.Application) -> web.Application:
    """The health and metrics endpoints on their own port (observability.admin.port)."""
    admin = web.Application()
    admin[METRICS] = main[METRICS]
    admin[STATE] = main[STATE]
    add_health_routes(admin, metrics=True)
    return admin
