"""Rate limiting: GCRA in memory or in Redis, a fallback policy for Redis outages, RateLimit headers.

The Redis backend lives in ``gateway.ratelimit.redis`` and is imported only by whoever configures it.
"""

from __future__ import annotations

from gateway.ratelimit.base import Limit, Limiter, LimiterUnavailable, LimitResult, limit_key
from gateway.ratelimit.fallback import FallbackLimiter, OnError
from gateway.ratelimit.headers import ratelimit_headers
from gateway.ratelimit.memory import MemoryLimiter

__all__ = [
    "FallbackLimiter",
    "Limit",
    "LimitResult",
    "Limiter",
    "LimiterUnavailable",
    "MemoryLimiter",
    "OnError",
    "limit_key",
    "ratelimit_headers",
]
