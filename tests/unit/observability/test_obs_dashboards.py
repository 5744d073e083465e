"""The Grafana dashboard, the alert rules and the metrics reference use only metrics that exist."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.observability.metrics import GatewayMetrics

ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "deploy" / "grafana" / "crm-auth-gateway.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
REFERENCE = ROOT / "docs" / "metrics.md"
METRIC_NAME = re.compile(r"\bcrmgw_[a-z0-9_]+")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def used_names(texts: Iterator[str]) -> set[str]:
    return {name for text in texts for name in METRIC_NAME.findall(text)}


@pytest.fixture(scope="module")
def defined() -> frozenset[str]:
    return GatewayMetrics().sample_names()


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def alerts() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return loaded


def balanced(expr: str) -> bool:
    depth = 0
    for char in expr:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def test_dashboard_uses_only_defined_metrics(dashboard: dict[str, Any], defined: frozenset[str]) -> None:
    used = used_names(strings(dashboard))
    assert used, "the dashboard queries no gateway metric"
    assert used <= defined, f"undefined metrics: {sorted(used - defined)}"


def test_dashboard_shape_and_required_panels(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "crm-auth-gateway"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in panels}
    assert all(balanced(e) for e in exprs.values())
    required = {
        "crmgw_requests_total": "decision",
        "crmgw_request_duration_seconds_bucket": "histogram_quantile(0.99",
        "crmgw_auth_failures_total": "reason",
        "crmgw_policy_denials_total": "entity",
        "crmgw_ratelimited_total": "rule",
        "crmgw_inflight_requests": "upstream",
        "crmgw_queued_requests": "upstream",
        "crmgw_breaker_state": "identity_index",
        "crmgw_jwks_key_age_seconds": "issuer_index",
        "crmgw_limiter_fallbacks_total": "mode",
    }
    for metric, detail in required.items():
        assert any(metric in e and detail in e for e in exprs.values()), metric
    assert any("histogram_quantile(0.5," in e for e in exprs.values())


def test_alert_rules_shape_and_metrics(alerts: dict[str, Any], defined: frozenset[str]) -> None:
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    assert all(group["name"] for group in alerts["groups"])
    assert all({"alert", "expr", "labels", "annotations"} <= set(rule) for rule in rules)
    assert all(balanced(rule["expr"]) for rule in rules)
    by_metric = {name: rule["alert"] for rule in rules for name in METRIC_NAME.findall(rule["expr"])}
    for metric in (
        "crmgw_upstream_duration_seconds_count",  # upstream error ratio
        "crmgw_limiter_fallbacks_total",
        "crmgw_breaker_state",
        "crmgw_jwks_last_fetch_timestamp_seconds",  # JWKS stale, exact across workers
    ):
        assert metric in by_metric
    used = used_names(strings(alerts))
    assert used <= defined, f"undefined metrics: {sorted(used - defined)}"


def test_reference_documents_every_metric_and_nothing_else(defined: frozenset[str]) -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    used = used_names(iter([text]))
    families = {name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") for name in defined}
    table = set(re.findall(r"^\| `(crmgw_[a-z0-9_]+)` \|", text, flags=re.MULTILINE))
    assert table == families
    assert used <= defined | families
