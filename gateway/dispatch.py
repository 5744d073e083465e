"""The main listener's request handler: proxy requests go straight to the pipeline, the rest to the app.

aiohttp's ``Application._handle`` resolves a route, builds the middleware chain and runs it for every
request; for the catch-all proxy route that is pure cost. This handler sends a request to the app only
when the app's router would pick one of its own endpoints (the health paths, matched as aiohttp matches
them) or when the client sent ``Expect`` (the app answers ``100 Continue``); every other request is what
the router's catch-all would give ``pipeline.handle``, so it runs ``pipeline.proxy`` on the pinned
runtime (``InFlight.pinned``) directly, and a decision endpoint request runs ``decision.endpoint.decision``
the same way. The answer is the same either way.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import PlainResource

from gateway.decision.endpoint import PINNED
from gateway.inflight import InFlight, PinnedHandler
from gateway.pipeline import CATCH_ALL, handle, proxy


def app_paths(app: web.Application) -> frozenset[str] | None:
    """The exact paths of the app's own endpoints, or None when a route other than plain paths and the
    proxy catch-all exists (then every request goes through the app)."""
    paths: set[str] = set()
    catch_all = False
    for resource in app.router.resources():
        if isinstance(resource, PlainResource):
            paths.add(resource.canonical)
        elif resource.canonical == CATCH_ALL and all(_proxies(route) for route in resource):
            catch_all = True
        else:
            return None
    return frozenset(paths) if catch_all else None


def pinned_paths(app: web.Application) -> dict[str, PinnedHandler]:
    """The app's own paths served by one any-method route whose handler has a pinned-runtime form (the
    decision endpoint): the dispatcher calls that form directly, as it calls the proxy."""
    found: dict[str, PinnedHandler] = {}
    for resource in app.router.resources():
        routes = list(resource)
        if isinstance(resource, PlainResource) and len(routes) == 1 and routes[0].method == hdrs.METH_ANY:
            direct = PINNED.get(routes[0].handler)
            if direct is not None:
                found[resource.canonical] = direct
    return found


def _proxies(route: web.AbstractRoute) -> bool:
    return route.handler is handle and route.method == hdrs.METH_ANY


def proxy_dispatcher(app: web.Application, routed: Handler, inflight: InFlight) -> Handler:
    """The handler for a frozen ``app`` (its routes are final); ``routed``: the app's own handler,
    used for everything when the app has other routes than plain paths and the proxy catch-all."""
    slow = routed
    owned = app_paths(app)
    if owned is None:
        return slow

    pinned = pinned_paths(app)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        path = request.rel_url.path_safe
        if path in owned or request.headers.get(hdrs.EXPECT):
            direct = pinned.get(path)
            if direct is not None and not request.headers.get(hdrs.EXPECT):
                return await inflight.pinned(request, direct)
            return await slow(request)
        return await inflight.pinned(request, proxy)

    return dispatch
