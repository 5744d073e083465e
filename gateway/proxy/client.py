"""One pooled keep-alive ClientSession per upstream, with that upstream's timeouts."""

from __future__ import annotations

import aiohttp

from gateway.config.model import UpstreamConfig


def make_session(upstream: UpstreamConfig) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=upstream.max_connections,
        limit_per_host=upstream.max_connections,
        keepalive_timeout=30,
        ttl_dns_cache=300,
        enable_cleanup_closed=True,
    )
    timeout = aiohttp.ClientTimeout(
        total=upstream.timeouts.total,
        sock_connect=upstream.timeouts.connect,
        sock_read=upstream.timeouts.read,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )
