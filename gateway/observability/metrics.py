"""Every gateway metric, defined once, in its own registry per gateway instance.

The pipeline reports events with plain values (upstream name, entity, HTTP status, seconds); this
class bounds them into labels (see ``labels.py``), so a caller can never create an unbounded series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from gateway import __version__
from gateway.observability import labels as lb
from gateway.observability.labels import LabelBounds
from gateway.observability.multiprocess import multiprocess_enabled

NAMESPACE: Final = "crmgw"

LATENCY_BUCKETS: Final[tuple[float, ...]] = (
    *(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0),
)

BreakerState = Literal["closed", "open", "half-open"]
MultiprocessMode = Literal[
    "all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent"
]
MALFORMED_KINDS: Final = frozenset(
    {
        "bad-request-line",
        "bad-header",
        "missing-host",
        "too-large",
        "bad-method",
        "bad-body",
        "header-timeout",
        "connection-limit",
        "other",
    }
)
BREAKER_STATE_VALUES: Final[dict[str, int]] = {"closed": 0, "open": 1, "half-open": 2}

_SUFFIXES: Final[dict[str, tuple[str, ...]]] = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
}


LOOKUP_OUTCOMES = frozenset({"found", "none", "several", "error"})


class GatewayMetrics:
    """The gateway's metrics. One instance per application; ``render()`` serves ``/metrics``."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        principal_label: bool = False,
        upstreams: Iterable[str] = (),
        entities: Iterable[str] = (),
        actions: Iterable[str] = (),
        rules: Iterable[str] = (),
        version: str = __version__,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.bounds = LabelBounds(upstreams=upstreams, entities=entities, actions=actions, rules=rules)
        self.principal_label = principal_label
        self._clock = clock
        self._breaker_states: dict[tuple[str, str], str] = {}
        self._key_fetched_at: dict[str, float] = {}
        # Labelled children of the per-request metrics, by their (already bounded) label values:
        # ``.labels()`` validates and locks on every call. Never larger than the metrics' own series.
        self._request_series: dict[tuple[str, ...], tuple[Counter, Histogram]] = {}
        self._upstream_series: dict[tuple[str, str], Histogram] = {}
        self._upstream_counters: dict[tuple[Counter, str], Counter] = {}
        self._load_gauges: dict[tuple[Gauge, str], Gauge] = {}
        self._load_values: dict[tuple[Gauge, str], int] = {}
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

    # -- events the pipeline reports ------------------------------------------------------------

    def observe_request(
        self,
        upstream: str | None,
        entity: str | None,
        action: str | None,
        decision: str,
        status: int | None,
        duration_s: float,
        principal: str | None = None,
        *,
        bytes_in: int = 0,
        bytes_out: int = 0,
    ) -> None:
        """A client request finished. ``entity``/``action`` are the route's own operation (None when
        the request was refused before it was identified)."""
        b = self.bounds
        up, sc = b.upstream(upstream), lb.status_class(status)
        values: tuple[str, ...] = (
            up,
            b.entity(entity),
            b.action(action, entity),
            lb.one_of(decision, lb.DECISIONS),
            sc,
        )
        if self.principal_label:
            values += (b.principal(principal),)
        series = self._request_series.get(values)
        if series is None:
            series = self._request_series[values] = (
                self.requests.labels(*values),
                self.request_duration.labels(up, sc),
            )
        series[0].inc()
        series[1].observe(max(0.0, duration_s))
        if bytes_in > 0:
            self._upstream_counter(self.request_bytes, up).inc(bytes_in)
        if bytes_out > 0:
            self._upstream_counter(self.response_bytes, up).inc(bytes_out)

    def observe_upstream(self, upstream: str, status: int | None, duration_s: float) -> None:
        """The upstream answered a forwarded request (``status`` None: no answer, e.g. a timeout)."""
        key = (self.bounds.upstream(upstream), lb.status_class(status))
        child = self._upstream_series.get(key)
        if child is None:
            child = self._upstream_series[key] = self.upstream_duration.labels(*key)
        child.observe(max(0.0, duration_s))
        if status == 401:
            self._upstream_counter(self.upstream_auth_rejections, key[0]).inc()

    def _upstream_counter(self, counter: Counter, up: str) -> Counter:
        """``counter``'s child for the bounded upstream label ``up``, made on first use."""
        child = self._upstream_counters.get((counter, up))
        if child is None:
            child = self._upstream_counters[(counter, up)] = counter.labels(up)
        return child

    def auth_failure(self, reason: str) -> None:
        self.auth_failures.labels(lb.one_of(reason, lb.AUTH_REASONS)).inc()

    def policy_denial(self, upstream: str, entity: str, action: str) -> None:
        b = self.bounds
        self.policy_denials.labels(b.upstream(upstream), b.entity(entity), b.action(action, entity)).inc()

    def identity_lookup(self, upstream: str, outcome: str) -> None:
        """``found`` (one person), ``none``, ``several`` or ``error`` (the CRM could not answer)."""
        self.identity_lookups.labels(
            self.bounds.upstream(upstream), lb.one_of(outcome, LOOKUP_OUTCOMES)
        ).inc()

    def rate_limited(self, upstream: str, rule: str) -> None:
        self.ratelimited.labels(self.bounds.upstream(upstream), self.bounds.rule(rule)).inc()

    def set_inflight(self, upstream: str, count: int) -> None:
        self._set_load(self.inflight, upstream, max(0, count))

    def set_queued(self, upstream: str, count: int) -> None:
        self._set_load(self.queued, upstream, max(0, count))

    def _set_load(self, gauge: Gauge, upstream: str, value: int) -> None:
        """Only these methods set the load gauges, so a value equal to the last one set is no change."""
        key = (gauge, self.bounds.upstream(upstream))
        if self._load_values.get(key) == value:
            return
        child = self._load_gauges.get(key)
        if child is None:
            child = self._load_gauges[key] = gauge.labels(key[1])
        child.set(value)
        self._load_values[key] = value

    def upstream_rejection(self, upstream: str, reason: str) -> None:
        """Not forwarded: ``queue_full`` or ``breaker_open``."""
        self.upstream_rejected.labels(
            self.bounds.upstream(upstream), lb.one_of(reason, lb.UPSTREAM_REJECT_REASONS)
        ).inc()

    def jwks_fetch(self, issuer_index: int, outcome: str, fetched_at: float | None = None) -> None:
        """A JWKS fetch for the issuer at ``issuer_index`` in the config. An ``ok`` (or
        ``not_modified``) outcome restarts the key age clock at ``fetched_at`` (default now)."""
        index, out = lb.index_label(issuer_index), lb.one_of(outcome, lb.JWKS_OUTCOMES)
        self.jwks_fetches.labels(index, out).inc()
        if out in ("ok", "not_modified"):
            at = self._clock() if fetched_at is None else fetched_at
            self._key_fetched_at[index] = at
            self.jwks_last_fetch.labels(index).set(at)
            self._refresh_key_age()

    def _refresh_key_age(self) -> None:
        now = self._clock()
        for index, at in self._key_fetched_at.items():
            self.jwks_key_age.labels(index).set(max(0.0, now - at))

    def introspection(self, issuer_index: int, outcome: str) -> None:
        self.introspections.labels(
            lb.index_label(issuer_index), lb.one_of(outcome, lb.INTROSPECTION_OUTCOMES)
        ).inc()

    def revocation_refusal(self, reason: str) -> None:
        self.revocation_refusals.labels(lb.one_of(reason, lb.REVOCATION_REASONS)).inc()

    def redis_error(self) -> None:
        self.redis_errors.inc()

    def limiter_fallback(self, mode: str) -> None:
        """The limiter backend failed and ``on_error`` decided: ``allow``, ``deny`` or ``local``."""
        self.limiter_fallbacks.labels(lb.one_of(mode, lb.LIMITER_FALLBACK_MODES)).inc()

    def breaker_transition(self, upstream: str, identity_index: int, state: BreakerState) -> None:
        """A breaker changed state; entering ``open`` from another state counts as a trip."""
        up, index = self.bounds.upstream(upstream), lb.index_label(identity_index)
        value = BREAKER_STATE_VALUES.get(state)
        if value is None:
            return
        previous = self._breaker_states.get((up, index), "closed")
        self._breaker_states[(up, index)] = state
        self.breaker_state.labels(up, index).set(value)
        if state == "open" and previous != "open":
            self.breaker_trips.labels(up).inc()

    def config_reload(self, outcome: str) -> None:
        self.config_reloads.labels(lb.one_of(outcome, lb.RELOAD_OUTCOMES)).inc()

    def access_log_error(self) -> None:
        self.access_log_errors.inc()

    def malformed_request(self, kind: str) -> None:
        self.malformed_requests.labels(lb.one_of(kind, MALFORMED_KINDS)).inc()

    # -- exposition -------------------------------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition bytes and their content type: the classic text format (``version=0.0.4``)
        unless ``accept`` (the scraper's Accept header) asks for OpenMetrics or a newer text format."""
        encoder, content_type = choose_encoder(accept or "")
        self._refresh_key_age()
        if multiprocess_enabled():
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return encoder(merged), content_type
        return encoder(self.registry), content_type

    def sample_names(self) -> frozenset[str]:
        """Every sample name these metrics can expose (``crmgw_requests_total``, ``..._bucket``)."""
        names: set[str] = set()
        for family in self.registry.collect():
            for suffix in _SUFFIXES.get(family.type, ("",)):
                names.add(family.name + suffix)
        return frozenset(names)
