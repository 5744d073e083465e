"""/healthz, /readyz and /metrics: cheap, tokenless, never logged per call."""

from __future__ import annotations

from aiohttp import web

from gateway.keys import METRICS, STATE


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[STATE].runtime
    checks: dict[str, bool] = {"config": runtime is not None}
    if runtime is not None:
        checks["jwks"] = runtime.authenticator.ready()
        if runtime.config.ratelimit.backend == "redis" and runtime.config.ratelimit.on_error == "deny":
            checks["redis"] = await runtime.limiter.ping()
        revocations = runtime.authenticator.revocations
        if runtime.config.revocation.backend == "redis" and runtime.config.revocation.on_error == "deny":
            checks["revocation"] = revocations is not None and await revocations.ready()
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not-ready", "checks": checks}, status=200 if ready else 503
    )


async def metrics_endpoint(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render(request.headers.get("Accept"))
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def add_health_routes(app: web.Application, *, metrics: bool) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if metrics:
        app.router.add_get("/metrics", metrics_endpoint)
