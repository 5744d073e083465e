"""crm-gateway explain: what a request touches, and the decision for each operation, without sending it.

The request is read the way the gateway reads one: the URL as sent (percent-encoded; nothing is
normalised before the dialect sees it) and the body only where the dialect reads bodies; then every
operation and the policy decision with its rule. A request the gateway would refuse before any policy
runs (a bad token, no route, a request the dialect cannot read safely) is reported as refused, with the
reason it would give.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gateway.assembly import build_dialect, build_policies
from gateway.auth.authenticator import Authenticator
from gateway.commands.check import load_located
from gateway.config.model import GatewayConfig
from gateway.dialects.base import Dialect, RequestView
from gateway.errors import BadRequest, GatewayError
from gateway.identities import IdentityMap, label_of, lookup_value
from gateway.principal import Principal
from gateway.routing import Router

FORM = "application/x-www-form-urlencoded"


def _principal(config: GatewayConfig, args: argparse.Namespace) -> Principal:
    if args.sub is not None:
        claims: dict[str, Any] = {"sub": args.sub, "roles": list(args.role), "scope": " ".join(args.scope)}
        for pair in getattr(args, "claim", []):
            name, eq, value = pair.partition("=")
            if not eq or not name:
                raise BadRequest(f"--claim {pair!r}: expected name=value")
            claims[name] = int(value) if value.isdigit() else value
        return Principal(
            subject=args.sub,
            issuer="(explain)",
            roles=frozenset(args.role),
            scopes=frozenset(args.scope),
            claims=claims,
        )

    async def verify() -> Principal:
        auth = Authenticator(config.auth)
        try:
            await auth.start()
            return await auth.authenticate(args.token)
        finally:
            await auth.close()

    return asyncio.run(verify())


def build_view(config: GatewayConfig, args: argparse.Namespace) -> tuple[str, Dialect, RequestView]:
    url = URL(args.url, encoded=True)
    headers = CIMultiDict[str]()
    for line in args.header:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    if args.content_type:
        headers["Content-Type"] = args.content_type
    elif args.data is not None:
        headers["Content-Type"] = FORM
    if args.data is not None:
        headers["Content-Length"] = str(len(args.data.encode()))
    matched = Router(config.upstreams).match(url.host or headers.get("Host"), url.raw_path)
    if matched is None:
        raise GatewayError("no upstream matches this URL", reason="no-route", status=404)
    up, rel = matched
    dialect = build_dialect(up)
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    view = RequestView(
        method=args.method.upper(),
        path=dialect.canonical_path(rel),
        raw_path=rel,
        query=url.query,
        headers=CIMultiDictProxy(headers),
        content_type=content_type,
    )
    if args.data is not None and dialect.body_needed(view):
        view.body = args.data.encode()
        if content_type == FORM:
            view.form = MultiDictProxy(MultiDict(parse_qsl(args.data, keep_blank_values=True)))
    return up.name, dialect, view


def _refused(error: GatewayError) -> int:
    print(json.dumps({"refused": error.reason, "status": error.status, "message": error.message}, indent=2))
    return 1


def explain(args: argparse.Namespace) -> int:
    config = load_located(args.config)
    try:
        principal = _principal(config, args)
        upstream, dialect, view = build_view(config, args)
        ops = dialect.identify(view)
    except GatewayError as error:
        return _refused(error)
    policies = build_policies(config)
    overall = policies.evaluate(principal, upstream, ops)
    report: dict[str, Any] = {
        "principal": principal.subject,
        "upstream": upstream,
        "path": view.path,
        "operations": [
            {
                "entity": op.entity,
                "action": op.action,
                "via": op.via,
                "fields": sorted(op.fields),
                "decision": "allow" if d.allowed else "deny",
                "rule": d.rule,
            }
            for op, d in policies.explain(principal, upstream, ops)
        ],
        "decision": "allow" if overall.allowed else "deny",
        "rule": overall.rule,
        "shadow": [{"rule": s.rule, "allowed": s.allowed} for s in overall.shadow],
        "acting_as": explain_identity(config, principal, upstream),
    }
    print(json.dumps(report, indent=2))
    return 0 if overall.allowed else 1


def explain_identity(config: GatewayConfig, principal: Principal, upstream: str) -> dict[str, Any]:
    """Which CRM identity the request would act as, and why (a look-up is described, not performed)."""
    try:
        selection = IdentityMap(config.identities).select(principal, upstream)
    except GatewayError as error:
        return {"refused": error.reason, "message": error.message}
    report: dict[str, Any] = {
        "rule": f"identities[{selection.index}]",
        "line": selection.rule.line,
        "identity": label_of(selection.index, selection.fields),
        "why": list(selection.why),
    }
    if selection.pending:
        report["lookups"] = [
            {
                "field": name,
                "by": source.by,
                "claim": source.claim,
                "value": lookup_value(name, source, principal.claims),
                "through": f"lookups.{upstream}.identity (not performed by explain)",
            }
            for name, source in selection.pending.items()
        ]
    if selection.rule.unresolved == "next":
        report["unresolved"] = "next: a failed look-up tries the next matching rule"
    return report
