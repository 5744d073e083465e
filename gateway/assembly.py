"""The limiter a config asks for: memory, or Redis with its on_error fallback (the runtime builds it)."""

from __future__ import annotations

from gateway.clock import Clock
from gateway.config.model import RateLimitConfig
from gateway.observability.metrics import GatewayMetrics
from gateway.ratelimit.base import Limiter
from gateway.ratelimit.fallback import FallbackLimiter, OnError
from gateway.ratelimit.memory import MemoryLimiter
from gateway.ratelimit.redis import RedisLimiter

_FALLBACK_LABEL = {"fallback_allow": "allow", "fallback_deny": "deny", "fallback_local": "local"}


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
