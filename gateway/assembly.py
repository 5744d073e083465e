"""What the runtime builds from the plain configuration: each upstream's dialect, signer and connection
pool, the policy set with its memos, the limiter. The loader builds each dialect and signer once to
validate it; nothing here can fail on a config the loader accepted."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.clock import Clock
from gateway.config.model import GatewayConfig, RateLimitConfig, UpstreamConfig
from gateway.dialects import registry as dialects
from gateway.dialects.base import Dialect
from gateway.errors import ConfigError
from gateway.observability.metrics import GatewayMetrics
from gateway.policy.engine import PolicySet
from gateway.proxy.breaker import CredentialBreaker
from gateway.proxy.client import make_session
from gateway.proxy.guard import ConcurrencyGuard
from gateway.proxy.pool import Pool
from gateway.proxy.upstream import Upstream
from gateway.ratelimit.base import Limiter
from gateway.ratelimit.fallback import FallbackLimiter, OnError
from gateway.ratelimit.memory import MemoryLimiter
from gateway.ratelimit.redis import RedisLimiter
from gateway.signers import registry as signers
from gateway.signers.base import Signer

_FALLBACK_LABEL = {"fallback_allow": "allow", "fallback_deny": "deny", "fallback_local": "local"}


def build_dialect(up: UpstreamConfig) -> Dialect:
    factory = dialects.factory_for(up.dialect_name)
    if factory is None:
        raise ConfigError(f"unknown dialect {up.dialect_name!r}", key=f"upstreams.{up.name}.dialect")
    return factory(up.dialect_options, f"upstreams.{up.name}.options")


def build_signer(up: UpstreamConfig) -> Signer:
    spec = signers.spec_for(up.scheme)
    if spec is None:
        raise ConfigError(f"unknown scheme {up.scheme!r}", key=f"upstreams.{up.name}.auth.scheme")
    return spec.factory(up.signer_options, f"upstreams.{up.name}.auth")


def build_upstreams(
    config: GatewayConfig, monotonic: Callable[[], float] = time.monotonic
) -> dict[str, Upstream]:
    return {
        up.name: Upstream(
            config=up,
            dialect=build_dialect(up),
            signer=build_signer(up),
            session=make_session(up),
            pool=Pool(up),
            guard=ConcurrencyGuard(up.max_concurrency, up.queue_size, up.queue_timeout_seconds),
            breaker=CredentialBreaker(up.breaker_failures, up.breaker_cooldown_seconds, monotonic),
        )
        for up in config.upstreams
    }


def build_policies(config: GatewayConfig) -> PolicySet:
    return PolicySet(config.policies)


def build_limiter(config: RateLimitConfig, metrics: GatewayMetrics, monotonic: Clock) -> Limiter:
    local = MemoryLimiter(clock=monotonic, max_keys=config.max_keys)
    if config.backend == "memory" or config.url is None:
        return local

    def on_event(event: str) -> None:
        if event == "redis_error":
            metrics.redis_error()
        elif event in _FALLBACK_LABEL:
            metrics.limiter_fallback(_FALLBACK_LABEL[event])

    primary = RedisLimiter(config.url.reveal(), prefix=config.prefix, timeout_ms=config.timeout_ms)
    on_error: OnError = (
        "allow" if config.on_error == "allow" else "deny" if config.on_error == "deny" else "local"
    )
    return FallbackLimiter(primary, local, on_error, on_event, clock=monotonic)
