"""crm-gateway explain: what a request touches, and the decision for each operation, without sending it."""

from __future__ import annotations

import argparse
import asyncio
import json
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gateway.auth.authenticator import Authenticator
from gateway.auth.principal import Principal
from gateway.config.loader import load_config
from gateway.config.model import GatewayConfig
from gateway.dialects.base import RequestView
from gateway.errors import GatewayError
from gateway.routing import Router


def _principal(config: GatewayConfig, args: argparse.Namespace) -> Principal:
    if args.sub is not None:
        claims = {"sub": args.sub, "roles": list(args.role), "scope": " ".join(args.scope)}
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


def build_view(config: GatewayConfig, args: argparse.Namespace) -> tuple[str, RequestView]:
    url = URL(args.url)
    headers = CIMultiDict[str]()
    for line in args.header:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    if args.content_type:
        headers["Content-Type"] = args.content_type
    elif args.data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    matched = Router(config.upstreams).match(url.host or headers.get("Host"), url.raw_path)
    if matched is None:
        raise GatewayError("no upstream matches this URL", reason="no-route", status=404)
    up, rel = matched
    content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
    view = RequestView(
        method=args.method.upper(),
        path=up.dialect.canonical_path(rel),
        raw_path=rel,
        query=url.query,
        headers=CIMultiDictProxy(headers),
        content_type=content_type,
    )
    if args.data is not None:
        view.body = args.data.encode()
        if content_type == "application/x-www-form-urlencoded":
            view.form = MultiDictProxy(MultiDict(parse_qsl(args.data, keep_blank_values=True)))
    return up.name, view


def explain(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    principal = _principal(config, args)
    try:
        upstream, view = build_view(config, args)
        ops = config.upstream(upstream).dialect.identify(view)
    except GatewayError as exc:
        print(json.dumps({"refused": exc.reason, "status": exc.status, "message": exc.message}, indent=2))
        return 1
    overall = config.policies.evaluate(principal, upstream, ops)
    report = {
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
            for op, d in config.policies.explain(principal, upstream, ops)
        ],
        "decision": "allow" if overall.allowed else "deny",
        "rule": overall.rule,
        "shadow": [{"rule": s.rule, "allowed": s.allowed} for s in overall.shadow],
    }
    print(json.dumps(report, indent=2))
    return 0 if overall.allowed else 1
