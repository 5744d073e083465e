"""crm-gateway revoke | revocations: write to and read the revocation list the gateways share (Redis)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from gateway.config.loader import load_config
from gateway.config.model import GatewayConfig
from gateway.revocation.checker import build_store
from gateway.revocation.redis_store import RevocationUnavailable
from gateway.revocation.store import Entry, RevocationStore


def add_revoke_arguments(p: argparse.ArgumentParser, default_config: str) -> None:
    p.add_argument("--config", default=default_config)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--jti", help="one token, by its jti claim")
    what.add_argument("--sub", help="every token of this subject issued until now")
    what.add_argument(
        "--client", help="every token of this OAuth client id (client_id or azp) issued until now"
    )
    p.add_argument("--undo", action="store_true", help="remove the entry instead")


def add_list_arguments(p: argparse.ArgumentParser, default_config: str) -> None:
    p.add_argument("--config", default=default_config)


def revoke(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    kind, value = next((k, v) for k in ("jti", "sub", "client") if (v := getattr(args, k)) is not None)
    if not value:
        print("crm-gateway revoke: the value must not be empty", file=sys.stderr)
        return 2
    store = _shared_store(config)
    if store is None:
        return 2
    ttl = config.auth.max_lifetime_seconds + config.auth.leeway_seconds

    async def run() -> str:
        try:
            if args.undo:
                removed = await store.remove(kind, value)
                return f"removed {kind} {value}" if removed else f"no entry for {kind} {value}"
            entry = await store.add(kind, value, time.time(), ttl)
            return f"revoked {kind} {value} until {_when(entry.expires_at)}"
        finally:
            await store.close()

    return _report(run)


def revocations(args: argparse.Namespace) -> int:
    store = _shared_store(load_config(args.config))
    if store is None:
        return 2

    async def run() -> str:
        try:
            entries = await store.entries()
        finally:
            await store.close()
        return "\n".join(_line(e) for e in entries) if entries else "no revocations"

    return _report(run)


def _shared_store(config: GatewayConfig) -> RevocationStore | None:
    if config.revocation.backend != "redis":
        print(
            "crm-gateway: revocation.backend is memory (one process, not shared); "
            "the command needs revocation.backend: redis",
            file=sys.stderr,
        )
        return None
    from dataclasses import replace

    # an operator's command may wait longer for Redis than a request does
    return build_store(replace(config.revocation, timeout_ms=max(config.revocation.timeout_ms, 2000)))


def _report(run: Callable[[], Coroutine[Any, Any, str]]) -> int:
    try:
        print(asyncio.run(run()))
    except RevocationUnavailable as exc:
        print(f"crm-gateway: revocation list unavailable: {exc}", file=sys.stderr)
        return 1
    return 0


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _line(entry: Entry) -> str:
    return f"{entry.kind}\t{entry.value}\trevoked {_when(entry.revoked_at)}\tuntil {_when(entry.expires_at)}"
