"""Scrape-style tests: script events, render(), parse the exposition, assert exact samples."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability.families import LATENCY_BUCKETS
from gateway.observability.labels import LabelBounds
from gateway.observability.metrics import GatewayMetrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(metrics: GatewayMetrics) -> Samples:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (n, labels) in samples if n == name]


@pytest.fixture
def metrics() -> GatewayMetrics:
    return GatewayMetrics(upstreams=["civi", "espo"], entities=["Newsletter_Subscription"], version="9.9.9")


def test_scripted_request_series_gives_exact_samples(metrics: GatewayMetrics) -> None:
    metrics.observe_request("civi", "Contact", "get", "allow", 200, 0.004, bytes_in=10, bytes_out=300)
    metrics.observe_request("civi", "Contact", "get", "allow", 201, 0.2, bytes_out=100)
    metrics.observe_request("civi", "Contact", "delete", "deny", 403, 0.001)
    metrics.observe_request("espo", "Lead", "list", "ratelimited", 429, 0.0001)
    metrics.observe_request(None, None, None, "error", 404, 0.0002)
    s = scrape(metrics)

    common = {"upstream": "civi", "entity": "Contact"}
    assert value(s, "crmgw_requests_total", **common, action="get", decision="allow", status_class="2xx") == 2
    assert (
        value(s, "crmgw_requests_total", **common, action="delete", decision="deny", status_class="4xx") == 1
    )
    assert (
        value(
            s,
            "crmgw_requests_total",
            upstream="espo",
            entity="Lead",
            action="list",
            decision="ratelimited",
            status_class="4xx",
        )
        == 1
    )
    assert (
        value(
            s,
            "crmgw_requests_total",
            upstream="none",
            entity="none",
            action="none",
            decision="error",
            status_class="4xx",
        )
        == 1
    )
    assert value(s, "crmgw_request_duration_seconds_count", upstream="civi", status_class="2xx") == 2
    assert value(
        s, "crmgw_request_duration_seconds_sum", upstream="civi", status_class="2xx"
    ) == pytest.approx(0.204)
    assert value(s, "crmgw_request_bytes_total", upstream="civi") == 10
    assert value(s, "crmgw_response_bytes_total", upstream="civi") == 400
    assert ("crmgw_request_bytes_total", frozenset({("upstream", "espo")})) not in s
    assert value(s, "crmgw_build_info", version="9.9.9") == 1


def test_histogram_buckets_are_proxy_sized_and_cumulative(metrics: GatewayMetrics) -> None:
    assert LATENCY_BUCKETS[0] == 0.0005 and LATENCY_BUCKETS[-1] == 30.0
    assert list(LATENCY_BUCKETS) == sorted(LATENCY_BUCKETS)
    for seconds in (0.0004, 0.003, 0.003, 7.0, 45.0):
        metrics.observe_upstream("espo", 200, seconds)
    s = scrape(metrics)
    buckets = {
        labels["le"]: value(s, "crmgw_upstream_duration_seconds_bucket", **labels)
        for labels in series(s, "crmgw_upstream_duration_seconds_bucket")
    }
    assert set(buckets) == {str(b) for b in LATENCY_BUCKETS} | {"+Inf"}
    assert buckets["0.0005"] == 1
    assert buckets["0.0025"] == 1
    assert buckets["0.005"] == 3
    assert buckets["5.0"] == 3
    assert buckets["10.0"] == 4
    assert buckets["30.0"] == 4
    assert buckets["+Inf"] == 5


def test_upstream_401_counts_as_credential_rejection(metrics: GatewayMetrics) -> None:
    metrics.observe_upstream("espo", 401, 0.01)
    metrics.observe_upstream("espo", 401, 0.01)
    metrics.observe_upstream("espo", 403, 0.01)
    metrics.observe_upstream("espo", None, 5.0)
    s = scrape(metrics)
    assert value(s, "crmgw_upstream_auth_rejections_total", upstream="espo") == 2
    assert value(s, "crmgw_upstream_duration_seconds_count", upstream="espo", status_class="4xx") == 3
    assert value(s, "crmgw_upstream_duration_seconds_count", upstream="espo", status_class="other") == 1


def test_security_and_limiter_events(metrics: GatewayMetrics) -> None:
    metrics.auth_failure("token-expired")
    metrics.auth_failure("token-expired")
    metrics.auth_failure("eyJhbGciOiJIUzI1NiJ9.attacker-chosen")
    metrics.policy_denial("civi", "Contact", "delete")
    metrics.policy_denial("civi", "<opaque>", "/civicrm/some/route/12345")
    metrics.rate_limited("civi", "newsletter-sync#0")
    metrics.redis_error()
    metrics.redis_error()
    metrics.limiter_fallback("local")
    metrics.limiter_fallback("panic")
    metrics.config_reload("ok")
    metrics.access_log_error()
    s = scrape(metrics)
    assert value(s, "crmgw_auth_failures_total", reason="token-expired") == 2
    assert value(s, "crmgw_auth_failures_total", reason="other") == 1
    assert value(s, "crmgw_policy_denials_total", upstream="civi", entity="Contact", action="delete") == 1
    assert value(s, "crmgw_policy_denials_total", upstream="civi", entity="opaque", action="opaque") == 1
    assert value(s, "crmgw_ratelimited_total", upstream="civi", rule="newsletter-sync#0") == 1
    assert value(s, "crmgw_redis_errors_total") == 2
    assert value(s, "crmgw_limiter_fallbacks_total", mode="local") == 1
    assert value(s, "crmgw_limiter_fallbacks_total", mode="other") == 1
    assert value(s, "crmgw_config_reloads_total", outcome="ok") == 1
    assert value(s, "crmgw_access_log_errors_total") == 1


def test_queue_and_inflight_gauges_follow_the_last_value(metrics: GatewayMetrics) -> None:
    metrics.set_inflight("civi", 3)
    metrics.set_queued("civi", 2)
    metrics.set_inflight("civi", 1)
    metrics.set_queued("civi", -1)
    metrics.upstream_rejection("civi", "queue_full")
    metrics.upstream_rejection("civi", "breaker_open")
    metrics.upstream_rejection("civi", "queue_full")
    s = scrape(metrics)
    assert value(s, "crmgw_inflight_requests", upstream="civi") == 1
    assert value(s, "crmgw_queued_requests", upstream="civi") == 0
    assert value(s, "crmgw_upstream_rejected_total", upstream="civi", reason="queue_full") == 2
    assert value(s, "crmgw_upstream_rejected_total", upstream="civi", reason="breaker_open") == 1


def test_a_load_reporter_follows_a_reload_that_widens_the_upstream_labels() -> None:
    metrics = GatewayMetrics(upstreams=["civi"])
    report = metrics.load_reporter("espo")  # not yet a known upstream: its series is "other"
    report(3, 1)
    s = scrape(metrics)
    assert value(s, "crmgw_inflight_requests", upstream="other") == 3
    assert value(s, "crmgw_queued_requests", upstream="other") == 1
    metrics.bounds = LabelBounds(upstreams=["civi", "espo"])  # as gateway/reload.py widens them
    report(2, 0)  # the reporter a request already holds
    metrics.load_reporter("espo")(1, -1)
    s = scrape(metrics)
    assert value(s, "crmgw_inflight_requests", upstream="espo") == 1
    assert value(s, "crmgw_queued_requests", upstream="espo") == 0
    assert value(s, "crmgw_inflight_requests", upstream="other") == 3


def test_breaker_transitions_set_state_and_count_trips_once(metrics: GatewayMetrics) -> None:
    metrics.breaker_transition("espo", 2, "open")
    metrics.breaker_transition("espo", 2, "open")
    metrics.breaker_transition("espo", 2, "half-open")
    metrics.breaker_transition("espo", 2, "open")
    metrics.breaker_transition("espo", 0, "open")
    metrics.breaker_transition("espo", 0, "closed")
    s = scrape(metrics)
    assert value(s, "crmgw_breaker_state", upstream="espo", identity_index="2") == 1
    assert value(s, "crmgw_breaker_state", upstream="espo", identity_index="0") == 0
    assert value(s, "crmgw_breaker_trips_total", upstream="espo") == 3


def test_jwks_key_age_grows_with_the_clock_and_resets_on_success() -> None:
    now = [1000.0]
    metrics = GatewayMetrics(clock=lambda: now[0])
    metrics.jwks_fetch(0, "ok")
    now[0] = 1090.0
    metrics.jwks_fetch(0, "error")
    metrics.jwks_fetch(1, "cooldown")
    s = scrape(metrics)
    assert value(s, "crmgw_jwks_key_age_seconds", issuer_index="0") == 90
    assert series(s, "crmgw_jwks_key_age_seconds") == [{"issuer_index": "0"}]
    assert value(s, "crmgw_jwks_fetches_total", issuer_index="0", outcome="ok") == 1
    assert value(s, "crmgw_jwks_fetches_total", issuer_index="0", outcome="error") == 1
    assert value(s, "crmgw_jwks_fetches_total", issuer_index="1", outcome="cooldown") == 1
    metrics.jwks_fetch(0, "ok")
    now[0] = 1095.0
    assert value(scrape(metrics), "crmgw_jwks_key_age_seconds", issuer_index="0") == 5


def test_jwks_issuer_is_an_index_never_a_url(metrics: GatewayMetrics) -> None:
    metrics.jwks_fetch(-1, "ok")
    metrics.jwks_fetch("https://idp.example.org/certs", "ok")  # type: ignore[arg-type]
    s = scrape(metrics)
    assert value(s, "crmgw_jwks_fetches_total", issuer_index="other", outcome="ok") == 2
    assert b"idp.example.org" not in metrics.render()[0]


def test_principal_label_only_when_opted_in() -> None:
    plain = GatewayMetrics(upstreams=["civi"])
    plain.observe_request("civi", "Contact", "get", "allow", 200, 0.01, principal="svc-newsletter")
    assert b"svc-newsletter" not in plain.render()[0]
    assert "principal" not in series(scrape(plain), "crmgw_requests_total")[0]

    opted = GatewayMetrics(upstreams=["civi"], principal_label=True)
    opted.observe_request("civi", "Contact", "get", "allow", 200, 0.01, principal="svc-newsletter")
    opted.observe_request("civi", "Contact", "get", "deny", 401, 0.01)
    s = scrape(opted)
    labels = {"upstream": "civi", "entity": "Contact", "action": "get"}
    assert (
        value(
            s,
            "crmgw_requests_total",
            **labels,
            decision="allow",
            status_class="2xx",
            principal="svc-newsletter",
        )
        == 1
    )
    assert (
        value(s, "crmgw_requests_total", **labels, decision="deny", status_class="4xx", principal="none") == 1
    )


def test_two_instances_do_not_collide_and_registry_can_be_given() -> None:
    first, second = GatewayMetrics(upstreams=["civi"]), GatewayMetrics(upstreams=["civi"])
    first.redis_error()
    assert value(scrape(first), "crmgw_redis_errors_total") == 1
    assert value(scrape(second), "crmgw_redis_errors_total") == 0
    registry = CollectorRegistry()
    given = GatewayMetrics(registry)
    given.redis_error()
    assert registry.get_sample_value("crmgw_redis_errors_total") == 1


def test_render_speaks_openmetrics_when_asked(metrics: GatewayMetrics) -> None:
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_sample_names_cover_every_exposed_sample(metrics: GatewayMetrics) -> None:
    metrics.observe_request("civi", "Contact", "get", "allow", 200, 0.01, bytes_in=1, bytes_out=1)
    metrics.observe_upstream("civi", 401, 0.01)
    metrics.jwks_fetch(0, "ok")
    metrics.breaker_transition("civi", 0, "open")
    metrics.set_inflight("civi", 1)
    exposed = {name for (name, _labels) in scrape(metrics) if not name.endswith("_created")}
    assert exposed <= metrics.sample_names()
    assert {"crmgw_requests_total", "crmgw_request_duration_seconds_bucket", "crmgw_breaker_state"} <= exposed
