"""The identity stage: finish a Selection (look-ups through the CRM) into the identity a request acts as.

Runs after authentication and policy, so a token that was refused never causes a look-up. A look-up
uses the upstream's configured service identity for one fixed read-only request, and is cached.
Zero or several matches refuse the request (403 ``no-identity``), or try the next rule where the rule
says ``unresolved: next``; a CRM that cannot answer is a 503 and never falls through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp

from gateway.dialects.directory import LookupUnreadable
from gateway.dialects.registry import directory_for
from gateway.errors import GatewayError
from gateway.identities import Selection, Unresolved, acting_as, lookup_value
from gateway.identity.cache import Matches
from gateway.identity.spec import ActingAs, FromLookup, LookupConfig
from gateway.principal import Principal
from gateway.proxy.forward import form_encode, upstream_url
from gateway.proxy.upstream import Upstream
from gateway.secrets import Secret

if TYPE_CHECKING:
    from gateway.runtime import Runtime

MAX_ANSWER_BYTES = 1024 * 1024
LOOKUP_FAILED = "identity-lookup-failed"


async def resolve_identity(rt: Runtime, principal: Principal, up: Upstream, selection: Selection) -> ActingAs:
    """The identity this request acts as; raises Unresolved (403) or a 503 when the CRM cannot answer."""
    while True:
        try:
            return await _resolve(rt, principal, up, selection)
        except Unresolved:
            if selection.rule.unresolved != "next":
                raise
            selection = rt.identities.select(principal, up.config.name, start=selection.index + 1)


async def _resolve(rt: Runtime, principal: Principal, up: Upstream, selection: Selection) -> ActingAs:
    if selection.acting is not None:  # all fixed fields: built once for the rule
        return selection.acting
    fields = dict(selection.fields)
    for name, source in selection.pending.items():
        matches = await _look_up(rt, principal, up, name, source)
        if not matches:
            raise Unresolved(f"no one on the CRM matches this principal's {source.by} (for {name})")
        if len(matches) > 1:
            raise Unresolved(f"several records on the CRM match this principal's {source.by} (for {name})")
        try:
            value = selection.spec.checks[name](matches[0])
        except ValueError as exc:
            raise Unresolved(f"the CRM's answer for {name} {exc}") from None
        fields[name] = Secret(value, "lookup")
    return acting_as(selection, fields)


async def _look_up(rt: Runtime, principal: Principal, up: Upstream, name: str, source: FromLookup) -> Matches:
    resolver = rt.people
    if up.config.name not in resolver.configs:
        raise _failed("no look-up service identity is configured")
    config = resolver.configs[up.config.name]
    value = lookup_value(name, source, principal.claims)
    key = (name, source.by, value)
    return await resolver.caches[up.config.name].get(
        key, lambda: _fetch(rt, up, config, name, source.by, value)
    )


async def _fetch(rt: Runtime, up: Upstream, config: LookupConfig, name: str, by: str, value: str) -> Matches:
    directory = directory_for(up.config.dialect_name)
    assert directory is not None  # checked at load time
    out = directory.request(name, by, value, up.config.base_path, up.dialect)
    up.signer.sign(out, config.identity, rt.clock())
    data: bytes | None = out.body
    if out.form is not None:
        out.headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = form_encode(out.form).encode()
    session = up.session
    outcome = "error"
    try:
        async with session.request(
            out.method,
            upstream_url(up.config.origin, out),
            headers=out.headers,
            data=data,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=config.timeout_seconds),
        ) as response:
            body = await response.content.read(MAX_ANSWER_BYTES)
            matches = tuple(directory.matches(name, response.status, body))
        outcome = "found" if len(matches) == 1 else "several" if matches else "none"
        return matches
    except LookupUnreadable as exc:
        raise _failed(str(exc)) from None
    except (aiohttp.ClientError, TimeoutError):
        raise _failed("the CRM did not answer") from None
    finally:
        rt.metrics.identity_lookup(up.config.name, outcome)


def _failed(detail: str) -> GatewayError:
    return GatewayError(
        f"the CRM could not resolve who this principal is ({detail}); retry later",
        reason=LOOKUP_FAILED,
        status=503,
    )
