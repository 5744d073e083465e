"""The decision endpoint's framework floor: the minimal service answers the captured decision over a real
socket (a fresh request id each time, 401 for anything else), the floor ratios are computed from the
runs, and the in-process stage costs run on a warm runtime built from bench/gateway.yaml."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench import stage_costs
from bench.decision_floor import floor_figures, floor_lines, start_minimal
from bench.minimal_decision import ENDPOINT

URI = "/espo/api/v1/Lead?maxSize=5"
ANSWER: dict[str, Any] = {
    "authorization": "Bearer tok",
    "method": "GET",
    "uri": URI,
    "headers": [
        ["X-Crm-Upstream", "espo"],
        ["X-Crm-Uri", "/api/v1/Lead?maxSize=5"],
        ["X-Crm-Set-X-Hmac-Authorization", "c2lnbmVk"],
        ["X-Crm-Set-X-Request-ID", "captured-id"],
        ["X-Crm-Reply-X-Request-ID", "captured-id"],
        ["Cache-Control", "no-store"],
    ],
}


def ask(url: str, authorization: str, uri: str = URI) -> tuple[int, Any]:
    headers = {"Authorization": authorization, "X-Original-Method": "GET", "X-Original-URI": uri}
    request = urllib.request.Request(url + ENDPOINT, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["server", "app"])
def test_minimal_service_answers_the_captured_decision_with_a_fresh_request_id(
    tmp_path: Path, kind: str
) -> None:
    service = start_minimal(tmp_path, [ANSWER], kind)
    try:
        first_status, first = ask(service.url, "Bearer tok")
        second_status, second = ask(service.url, "Bearer tok")
        unknown_status, _ = ask(service.url, "Bearer other")
        other_uri_status, _ = ask(service.url, "Bearer tok", "/espo/api/v1/Account")
    finally:
        service.stop()
    assert (first_status, second_status, unknown_status, other_uri_status) == (200, 200, 401, 401)
    for name, value in ANSWER["headers"]:
        if "Request-ID" not in name:
            assert first[name] == value
    ids = {first["X-Crm-Set-X-Request-ID"], second["X-Crm-Set-X-Request-ID"]}
    assert len(ids) == 2 and "captured-id" not in ids
    assert first["X-Crm-Reply-X-Request-ID"] == first["X-Crm-Set-X-Request-ID"]


def run(rps: float, cpu: float | None = None, servers_cpu_s: float = 1.0) -> dict[str, Any]:
    out = {"requests_per_s": rps, "requests": int(rps * 10), "server_cpu_s": servers_cpu_s}
    return out | ({} if cpu is None else {"gateway_cpu_us_per_request": cpu})


def test_floor_figures_relate_each_decision_service_to_nginx_and_to_each_other() -> None:
    results = {
        "nginx_proxy": run(20000.0, servers_cpu_s=6.0),
        "nginx_decision": run(3000.0, 180.0, servers_cpu_s=8.1),
        "nginx_minimal_server": run(4000.0, 120.0, servers_cpu_s=8.8),
        "nginx_minimal_raw": run(5000.0, 40.0, servers_cpu_s=6.5),
    }
    floor = floor_figures(results)
    assert floor["gateway_vs_nginx_proxy"] == 0.15
    assert floor["minimal_server_vs_nginx_proxy"] == 0.2
    assert floor["gateway_vs_minimal_server_cpu"] == 1.5
    assert floor["gateway_vs_minimal_server_throughput"] == 0.75
    assert "minimal_app_vs_nginx_proxy" not in floor
    assert floor["nginx_proxy_cpu_us_per_request"] == 30.0
    assert floor["minimal_raw_vs_nginx_proxy"] == 0.25
    assert floor["gateway_vs_minimal_raw_cpu"] == 4.5
    assert floor["nginx_front_cpu_us_per_request"] == {"gateway": 90.0, "server": 100.0, "raw": 90.0}
    assert any(line.startswith("no framework (raw): 0.250 x nginx, 40.0 us") for line in floor_lines(floor))


@pytest.mark.timeout(120)
def test_stage_costs_time_every_piece_on_a_warm_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    assert stage_costs.main(["--number", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["stages_us"]) == 10
    assert all(us > 0 for name, us in out["stages_us"].items() if not name.startswith("signing"))
    assert out["sum_us"] == pytest.approx(sum(out["stages_us"].values()), abs=0.2)
    assert out["whole_decision_us"] > 0
