"""The quick benchmarks: the decision benchmark's gateway config loads (decision mode refuses upstreams
whose policies remove answer fields, so only the EspoCRM upstream the scenario uses is served in
decision mode), the endpoint-only check asks what nginx's auth_request asks, and the limiter benchmark
runs against a real redis-server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import limiter_quick
from bench.decision_bench import decision_config
from bench.decision_quick import ENDPOINT, asked
from bench.gateway import make_credentials
from bench.redis import redis_binary
from gateway.config.loader import load_config


def test_decision_config_loads_with_the_scenario_upstream_in_decision_mode(tmp_path: Path) -> None:
    credentials = make_credentials("http://127.0.0.1:9")
    config = load_config(decision_config(tmp_path), credentials.environ)
    assert config.decision.enabled
    assert config.decision.serves("espo")
    assert not config.decision.serves("civi")


def test_endpoint_load_carries_the_original_request() -> None:
    load = asked("tok")
    assert load.path == ENDPOINT
    assert load.headers["X-Original-Method"] == "GET"
    assert load.headers["X-Original-URI"].startswith("/espo/api/v1/Lead?")
    assert load.headers["Authorization"] == "Bearer tok"


@pytest.mark.skipif(redis_binary() is None, reason="redis-server not installed")
def test_limiter_quick_runs_against_a_real_redis(capsys: pytest.CaptureFixture[str]) -> None:
    assert limiter_quick.main(["-c", "4", "--hits", "64", "--repeat", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("min ")
