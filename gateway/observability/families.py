"""Every gateway metric family, declared once (name, help, labels, multiprocess mode), in its own
registry per gateway instance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gateway import __version__

NAMESPACE: Final = "crmgw"

LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    *(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0),
)

MultiprocessMode = Literal[
    "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent"
]

_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}


class MetricFamilies:
    """The families ``/metrics`` exposes; ``GatewayMetrics`` reports events into them."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        principal_label: bool = False,
        version: str = __version__,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.principal_label = principal_label
        request_labels = ["upstream", "entity", "action", "decision", "status_class"]
        if principal_label:
            request_labels.append("principal")

        counter, gauge, histogram = self._counter, self._gauge, self._histogram
        self.requests = counter("requests", "Client requests answered, by outcome.", request_labels)
        self.request_duration = histogram(
            "request_duration_seconds", "Time from request received to response finished."
        )
        self.upstream_duration = histogram(
            "upstream_duration_seconds", "Time the upstream CRM took to answer a forwarded request."
        )
        self.upstream_auth_rejections = counter(
            "upstream_auth_rejections", "Forwarded requests the upstream answered with 401.", ["upstream"]
        )
        self.auth_failures = counter(
            "auth_failures", "Requests refused because the gateway token was unusable.", ["reason"]
        )
        self.policy_denials = counter(
            "policy_denials", "Operations a policy denied.", ["upstream", "entity", "action"]
        )
        self.ratelimited = counter("ratelimited", "Requests refused by a rate limit.", ["upstream", "rule"])
        self.inflight = gauge("inflight_requests", "Requests being forwarded now.", ["upstream"], "livesum")
        self.queued = gauge(
            "queued_requests", "Requests waiting for an upstream slot.", ["upstream"], "livesum"
        )
        self.upstream_rejected = counter(
            "upstream_rejected", "Requests not forwarded: queue full or breaker open.", ["upstream", "reason"]
        )
        self.identity_lookups = counter(
            "identity_lookups",
            "Identity look-ups sent to a CRM (cache misses), by outcome.",
            ["upstream", "outcome"],
        )
        self.jwks_fetches = counter(
            "jwks_fetches", "JWKS fetches per configured issuer (by index).", ["issuer_index", "outcome"]
        )
        self.jwks_key_age = gauge(
            "jwks_key_age_seconds",
            "Seconds since the issuer's keys were last fetched.",
            ["issuer_index"],
            "livemin",
        )
        self.jwks_last_fetch = gauge(
            "jwks_last_fetch_timestamp_seconds",
            "Unix time of the issuer's last successful JWKS fetch (exact across --workers).",
            ["issuer_index"],
            "max",
        )
        self.introspections = counter(
            "introspections",
            "Token introspection requests per configured issuer (by index), by outcome.",
            ["issuer_index", "outcome"],
        )
        self.revocation_refusals = counter(
            "revocation_refusals",
            "Tokens refused by the revocation list: by what matched (jti, sub, client) or unavailable.",
            ["reason"],
        )
        self.redis_errors = counter("redis_errors", "Redis commands of the rate limiter that failed.")
        self.limiter_fallbacks = counter(
            "limiter_fallbacks", "Rate-limit decisions taken by the on_error fallback.", ["mode"]
        )
        self.breaker_state = gauge(
            "breaker_state",
            "Breaker state: 0 closed, 1 open, 2 half-open.",
            ["upstream", "identity_index"],
            "livemax",
        )
        self.breaker_trips = counter("breaker_trips", "Times a circuit breaker opened.", ["upstream"])
        self.config_reloads = counter("config_reloads", "Configuration reload attempts.", ["outcome"])
        self.request_bytes = counter("request_bytes", "Request body bytes from clients.", ["upstream"])
        self.response_bytes = counter("response_bytes", "Response body bytes sent to clients.", ["upstream"])
        self.access_log_errors = counter("access_log_errors", "Access log lines that could not be written.")
        self.malformed_requests = counter(
            "malformed_requests",
            "Requests refused before routing (unparsable HTTP, header timeout, connection cap), by kind.",
            ["kind"],
        )
        self.build_info = gauge("build_info", "Always 1; the running gateway version.", ["version"], "max")
        self.build_info.labels(version=version).set(1)

    def _counter(self, name: str, doc: str, labelnames: Sequence[str] = ()) -> Counter:
        return Counter(name, doc, labelnames, namespace=NAMESPACE, registry=self.registry)

    def _gauge(
        self, name: str, doc: str, labelnames: Sequence[str] = (), mode: MultiprocessMode = "all"
    ) -> Gauge:
        """``mode`` says how worker processes combine in multiprocess mode (``serve --workers N``)."""
        return Gauge(
            name, doc, labelnames, namespace=NAMESPACE, registry=self.registry, multiprocess_mode=mode
        )

    def _histogram(self, name: str, doc: str) -> Histogram:
        return Histogram(
            name,
            doc,
            ["upstream", "status_class"],
            namespace=NAMESPACE,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def sample_names(self) -> frozenset[str]:
        """Every sample name these metrics can expose (``crmgw_requests_total``, ``..._bucket``)."""
        names: set[str] = set()
        for family in self.registry.collect():
            for suffix in _SUFFIXES.get(family.type, ("",)):
                names.add(family.name + suffix)
        return frozenset(names)
