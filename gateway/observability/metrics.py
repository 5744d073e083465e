"""The events the gateway reports, bounded into labels.

The pipeline reports events with plain values (upstream name, entity, HTTP status, seconds); this
class bounds them into labels (see ``labels.py``), so a caller can never create an unbounded series.
The families themselves are declared in ``families.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from gateway import __version__
from gateway.observability import labels as lb
from gateway.observability.families import MetricFamilies
from gateway.observability.labels import LabelBounds
from gateway.observability.multiprocess import multiprocess_enabled

BreakerState = Literal["closed", "open", "half-open"]
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

LOOKUP_OUTCOMES = frozenset({"found", "none", "several", "error"})
_RAW_SERIES_MAX = 4096


class GatewayMetrics(MetricFamilies):
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
        super().__init__(registry, principal_label=principal_label, version=version)
        self.bounds = LabelBounds(upstreams=upstreams, entities=entities, actions=actions, rules=rules)
        self._clock = clock
        self._breaker_states: dict[tuple[str, str], str] = {}
        self._key_fetched_at: dict[str, float] = {}
        # Labelled children of the per-request metrics, by their (already bounded) label values:
        # ``.labels()`` validates and locks on every call. Never larger than the metrics' own series.
        self._request_series: dict[tuple[str, ...], tuple[Counter, Histogram]] = {}
        self._raw_series: dict[tuple[object, ...], tuple[Counter, Histogram, str]] = {}
        """The same children by the values a request reported, before bounding: each bound is a pure
        function of its value for one ``bounds`` (admitted values stay admitted), emptied when the bounds
        change or it is full."""
        self._raw_bounds = self.bounds
        self._upstream_series: dict[tuple[str, str], Histogram] = {}
        self._upstream_counters: dict[tuple[Counter, str], Counter] = {}
        self._load_gauges: dict[tuple[Gauge, str], Gauge] = {}
        self._load_values: dict[tuple[Gauge, str], int] = {}
        self._load_reporters: dict[str, Callable[[int, int], None]] = {}
        self._load_deferred: dict[tuple[Gauge, str], None] | None = None if multiprocess_enabled() else {}
        """Load gauges whose value changed since the last render (None: each worker's values live in
        shared files that any worker's render reads, so a gauge is set at once)."""

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
        if self._raw_bounds is not self.bounds:  # a reload widened the label sets
            self._raw_bounds = self.bounds
            self._raw_series.clear()
        raw = (upstream, entity, action, decision, status, principal if self.principal_label else None)
        known = type(status) is int  # 200 and 200.0 are one dict key, but not one status class
        series = self._raw_series.get(raw) if known else None
        if series is None:
            series = self._series(upstream, entity, action, decision, status, principal)
            if known:
                if len(self._raw_series) >= _RAW_SERIES_MAX:
                    self._raw_series.clear()
                self._raw_series[raw] = series
        series[0].inc()
        series[1].observe(max(0.0, duration_s))
        if bytes_in > 0:
            self._upstream_counter(self.request_bytes, series[2]).inc(bytes_in)
        if bytes_out > 0:
            self._upstream_counter(self.response_bytes, series[2]).inc(bytes_out)

    def _series(
        self,
        upstream: str | None,
        entity: str | None,
        action: str | None,
        decision: str,
        status: int | None,
        principal: str | None,
    ) -> tuple[Counter, Histogram, str]:
        """The request counter and duration histogram children for these values, and the upstream label."""
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
        return series[0], series[1], up

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

    def load_reporter(self, upstream: str) -> Callable[[int, int], None]:
        """``set_inflight`` and ``set_queued`` for ``upstream`` in one call, as a guard tells
        ``(inflight, queued)``; made once per upstream name."""
        reporter = self._load_reporters.get(upstream)
        if reporter is None:
            reporter = self._load_reporters[upstream] = partial(self._report_load, upstream)
        return reporter

    def _report_load(self, upstream: str, inflight: int, queued: int) -> None:
        self._set_load(self.inflight, upstream, max(0, inflight))
        self._set_load(self.queued, upstream, max(0, queued))

    def set_inflight(self, upstream: str, count: int) -> None:
        self._set_load(self.inflight, upstream, max(0, count))

    def set_queued(self, upstream: str, count: int) -> None:
        self._set_load(self.queued, upstream, max(0, count))

    def _set_load(self, gauge: Gauge, upstream: str, value: int) -> None:
        """Only these methods set the load gauges, so a value equal to the last one set is no change.
        With values in this process's memory, only ``render`` reads them: the gauge is set then."""
        key = (gauge, self.bounds.upstream(upstream))
        if self._load_values.get(key) == value:
            return
        self._load_values[key] = value
        if self._load_deferred is not None:
            self._load_deferred[key] = None  # in the order they first changed, as the series are made
        else:
            self._load_gauge(key).set(value)

    def _load_gauge(self, key: tuple[Gauge, str]) -> Gauge:
        child = self._load_gauges.get(key)
        if child is None:
            child = self._load_gauges[key] = key[0].labels(key[1])
        return child

    def _apply_load(self) -> None:
        deferred = self._load_deferred
        if deferred:
            for key in deferred:
                self._load_gauge(key).set(self._load_values[key])
            deferred.clear()

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
        self._apply_load()
        if multiprocess_enabled():
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return encoder(merged), content_type
        return encoder(self.registry), content_type
