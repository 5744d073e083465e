"""The per-request metrics keep their labelled children and skip unchanged gauge values: what is
scraped must be exactly what calling ``.labels(...)`` every time gave, also across a label-bounds change
(a reload that adds upstreams)."""

from __future__ import annotations

import random
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from gateway.observability import labels as lb
from gateway.observability.labels import LabelBounds
from gateway.observability.metrics import GatewayMetrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(metrics: GatewayMetrics) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(metrics.render()[0].decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def keyed(counts: Counter[tuple[tuple[str, str], ...]]) -> dict[frozenset[tuple[str, str]], float]:
    return {frozenset(labels): float(n) for labels, n in counts.items()}


UPSTREAMS = ["civi", "espo", "late", None]
ENTITIES = ["Contact", "contact", "Lead", "Zzqunknown", "<opaque>", None]
ACTIONS = ["get", "GET", "list", "frobnicate", "GET /x", None]
DECISIONS = ["allow", "deny", "shadow-deny", "error", "ratelimited", "maybe"]
STATUSES = [200, 201, 401, 404, 503, 700, None]
PRINCIPALS = ["svc-a", "svc-b", "bad value!", None]


def test_scraped_series_equal_what_the_events_add_up_to() -> None:
    metrics = GatewayMetrics(upstreams=["civi", "espo"], principal_label=True)
    rng = random.Random(5)
    requests: Counter[tuple[tuple[str, str], ...]] = Counter()
    durations: Counter[tuple[tuple[str, str], ...]] = Counter()
    upstream_durations: Counter[tuple[tuple[str, str], ...]] = Counter()
    rejections: Counter[tuple[tuple[str, str], ...]] = Counter()
    bytes_in: Counter[tuple[tuple[str, str], ...]] = Counter()
    bytes_out: Counter[tuple[tuple[str, str], ...]] = Counter()
    for n in range(3000):
        if n == 1500:  # a reload adds the upstream "late": its events stop counting as "other"
            metrics.bounds = LabelBounds(upstreams=["civi", "espo", "late"])
        b = metrics.bounds
        upstream, entity, action = rng.choice(UPSTREAMS), rng.choice(ENTITIES), rng.choice(ACTIONS)
        decision, status, principal = rng.choice(DECISIONS), rng.choice(STATUSES), rng.choice(PRINCIPALS)
        size_in, size_out = rng.choice([0, 0, 17]), rng.choice([0, 300])
        metrics.observe_request(
            upstream, entity, action, decision, status, 0.01, principal, bytes_in=size_in, bytes_out=size_out
        )
        up, sc = b.upstream(upstream), lb.status_class(status)
        requests[
            (
                ("upstream", up),
                ("entity", b.entity(entity)),
                ("action", b.action(action, entity)),
                ("decision", lb.one_of(decision, lb.DECISIONS)),
                ("status_class", sc),
                ("principal", b.principal(principal)),
            )
        ] += 1
        durations[(("upstream", up), ("status_class", sc))] += 1
        bytes_in[(("upstream", up),)] += size_in
        bytes_out[(("upstream", up),)] += size_out
        if upstream is not None:
            metrics.observe_upstream(upstream, status, 0.005)
            upstream_durations[(("upstream", up), ("status_class", sc))] += 1
            rejections[(("upstream", up),)] += status == 401
    s = scrape(metrics)
    assert named(s, "crmgw_requests_total") == keyed(requests)
    assert named(s, "crmgw_request_duration_seconds_count") == keyed(durations)
    assert named(s, "crmgw_upstream_duration_seconds_count") == keyed(upstream_durations)
    assert named(s, "crmgw_upstream_auth_rejections_total") == keyed(+rejections)
    assert named(s, "crmgw_request_bytes_total") == keyed(+bytes_in)
    assert named(s, "crmgw_response_bytes_total") == keyed(+bytes_out)
    assert {labels for labels in named(s, "crmgw_requests_total") if ("upstream", "late") in labels}


def test_load_gauges_read_the_last_value_set() -> None:
    metrics = GatewayMetrics(upstreams=["civi"])
    steps = [("civi", 1, 0), ("civi", 1, 0), ("civi", 0, 0), ("civi", 2, 3), ("civi", 2, 3), ("civi", -1, 1)]
    for upstream, inflight, queued in steps:
        metrics.set_inflight(upstream, inflight)
        metrics.set_queued(upstream, queued)
        s = scrape(metrics)
        assert named(s, "crmgw_inflight_requests")[frozenset({("upstream", "civi")})] == max(0, inflight)
        assert named(s, "crmgw_queued_requests")[frozenset({("upstream", "civi")})] == queued


def test_load_gauges_follow_a_label_bounds_change() -> None:
    metrics = GatewayMetrics(upstreams=["civi"])
    metrics.set_inflight("late", 4)
    metrics.bounds = LabelBounds(upstreams=["civi", "late"])
    metrics.set_inflight("late", 4)
    metrics.set_inflight("civi", 0)
    assert named(scrape(metrics), "crmgw_inflight_requests") == {
        frozenset({("upstream", "other")}): 4.0,
        frozenset({("upstream", "late")}): 4.0,
        frozenset({("upstream", "civi")}): 0.0,
    }


def test_load_gauges_changed_many_times_between_scrapes_read_the_last_value() -> None:
    rng = random.Random(5)
    metrics = GatewayMetrics(upstreams=["civi", "espo", "late"])
    last: dict[tuple[str, str], int] = {}
    for _ in range(20):
        for _ in range(rng.randint(0, 50)):
            upstream, gauge, value = (
                rng.choice(["civi", "espo", "late"]),
                rng.choice("iq"),
                rng.randint(-1, 9),
            )
            (metrics.set_inflight if gauge == "i" else metrics.set_queued)(upstream, value)
            last[(gauge, upstream)] = max(0, value)
        s = scrape(metrics)
        for (gauge, upstream), value in last.items():
            name = "crmgw_inflight_requests" if gauge == "i" else "crmgw_queued_requests"
            assert named(s, name)[frozenset({("upstream", upstream)})] == value


def test_load_gauge_series_appear_in_the_order_they_first_changed() -> None:
    metrics = GatewayMetrics(upstreams=["civi", "espo"])
    metrics.set_inflight("espo", 2)
    metrics.set_inflight("civi", 1)
    text = metrics.render()[0].decode()
    assert text.index('crmgw_inflight_requests{upstream="espo"}') < text.index(
        'crmgw_inflight_requests{upstream="civi"}'
    )
