"""The opt-in decision cache of a generated nginx config (docs/decision-mode.md#decision-cache).

nginx keeps the gateway's 200 answers to ``auth_request`` for a few seconds, keyed on everything the
decision reads from the request, so a repeated identical GET with the same token skips the gateway.
Only allow answers are kept (``proxy_cache_valid 200``): refusals, 429s and errors always ask again.
The TTL must stay below the life of what the answer carries: see ``limit_for``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.assembly import build_signer
from gateway.config.model import GatewayConfig
from gateway.dialects.credentials import TOKEN_SLOTS
from gateway.errors import ConfigError

MAX_SECONDS = 60
"""The longest TTL offered: a client token that expires, or a policy reload, waits at most this long."""
ZONE = "crm_decisions"
KEY = " ".join(
    (
        "$request_method $host $request_uri",
        *(
            f"{slot.name}=$http_{slot.field.lower().replace('-', '_')}"
            for slot in TOKEN_SLOTS.values()
            if not slot.param
        ),
    )
)
"""Everything the decision depends on: method, Host, the original target with its query (where the
parameter token slots are) and every header a token slot reads (each labelled, so a token moved from
one header to another is another key)."""
IGNORED_HEADERS = ("Cache-Control", "Expires", "Set-Cookie", "Vary", "X-Accel-Expires")
"""The answer says ``Cache-Control: no-store``; the TTL given here is the only one that counts."""
DEFAULT_STANDALONE_DIR = "decision_cache"
"""Relative to nginx's prefix (``nginx -p DIR``) in a whole nginx.conf."""
DEFAULT_SNIPPET_DIR = "/var/cache/nginx/crm-gateway-decisions"


@dataclass(frozen=True, slots=True)
class DecisionCache:
    seconds: int
    directory: str


def limit_for(config: GatewayConfig) -> tuple[int, str] | None:
    """(the exclusive bound on the TTL, the upstream that sets it), or None when only MAX_SECONDS binds."""
    bounds = [
        (limit, up.name)
        for up in config.upstreams
        if config.decision.serves(up.name) and (limit := build_signer(up).credential_lifetime) is not None
    ]
    return min(bounds) if bounds else None


def checked_seconds(config: GatewayConfig, seconds: int) -> int:
    """``seconds`` when nginx may keep decisions that long; ConfigError saying why not otherwise."""
    if not 0 <= seconds <= MAX_SECONDS:
        raise ConfigError(
            f"--decision-cache-seconds must be from 0 (off) to {MAX_SECONDS}, got {seconds}", file=config.file
        )
    bound = limit_for(config)
    # nginx serves an entry until the end of the second it expires in: up to seconds + 1 after the answer.
    if seconds and bound is not None and seconds + 1 > bound[0]:
        limit, upstream = bound
        scheme = config.upstream(upstream).scheme
        raise ConfigError(
            f"--decision-cache-seconds {seconds} is too long for upstream {upstream}: the credentials "
            f"its scheme {scheme} mints may have only {limit} s left when a decision hands them out; "
            f"use at most {max(0, limit - 1)}",
            file=config.file,
        )
    return seconds


def rate_limit_warning(config: GatewayConfig, seconds: int) -> str | None:
    """A warning when some rate limit covers a decision-mode upstream: it only sees cache misses."""
    if not seconds:
        return None
    decided = {up.name for up in config.upstreams if config.decision.serves(up.name)}
    covered = sorted(
        {name for policy in config.policies.policies if policy.limits for name in policy.upstreams & decided}
    )
    if config.ratelimit.limits:
        covered = sorted(decided)
    if not covered:
        return None
    return (
        f"warning: rate limits apply to decision-mode upstreams ({', '.join(covered)}), but with the "
        f"decision cache on ({seconds} s) the gateway's limiter and metrics only see cache misses; "
        "add nginx limit_req next to it (docs/decision-mode.md#decision-cache)"
    )


def http_lines(cache: DecisionCache) -> list[str]:
    """Inside ``http { }``: the cache zone (small: answers are headers only)."""
    inactive = max(cache.seconds * 2, 10)
    return [
        f"proxy_cache_path {cache.directory} levels=1:2 keys_zone={ZONE}:10m max_size=256m "
        f"inactive={inactive}s use_temp_path=off;",
    ]


def subrequest_lines(cache: DecisionCache) -> list[str]:
    """Inside the internal ``auth_request`` location."""
    return [
        f"proxy_cache {ZONE};",
        f'proxy_cache_key "{KEY}";',
        f"proxy_cache_valid 200 {cache.seconds}s;",
        "proxy_cache_lock on;",
        "proxy_cache_lock_timeout 5s;",
        f"proxy_ignore_headers {' '.join(IGNORED_HEADERS)};",
    ]
