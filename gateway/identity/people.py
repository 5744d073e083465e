"""The look-up caches of one runtime: one per upstream with a service identity."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.identity.cache import LookupCache
from gateway.identity.spec import LookupConfig


class PersonResolver:
    """Swapped whole with the runtime on reload (so a changed TTL or service identity starts afresh)."""

    def __init__(self, lookups: Mapping[str, LookupConfig], monotonic: Callable[[], float]) -> None:
        self.configs = dict(lookups)
        self.caches = {
            name: LookupCache(c.ttl_seconds, c.negative_ttl_seconds, c.max_entries, monotonic)
            for name, c in lookups.items()
        }
