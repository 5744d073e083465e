"""A scripted mix of requests through the gateway, then /metrics scraped over HTTP: exact counter values,
and label values that stay bounded whatever the requests carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.stack import Stack, metric_samples, start_stack

POLICY = """
policy: mix
subjects: {principals: [svc-test, svc-bad]}
entities:
  Contact: {delete: deny, default: allow}
  "*": {default: allow}
limits:
  - {name: accounts, entity: Account, rate: 1/hour}
"""
BAD_IDENTITY = """
  - match: {sub: svc-bad}
    espo-key: {api_key: '${env:ESPO_BAD_KEY}'}
"""
RECORD_ID = "6a1b2c3d4e5f60718"
UNKNOWN_ENTITY = "Zzqunknownentity"
V4 = "/civi-jwt/civicrm/ajax/api4"


async def run_the_mix(stack: Stack) -> None:
    """Each request below is one line of the expected tables in the test."""
    client, ok = stack.client, stack.bearer()
    expired = {"Authorization": "Bearer " + stack.token(exp=1_000_000, iat=999_000, nbf=999_000)}
    script: list[tuple[str, str, dict[str, str], int]] = [
        ("GET", "/espo-key/api/v1/Lead", ok, 200),
        ("GET", "/espo-key/api/v1/Lead", ok, 200),
        ("GET", f"{V4}/Contact/get", ok, 200),
        ("POST", f"{V4}/Contact/delete", ok, 403),  # policy
        ("GET", "/espo-key/api/v1/Lead", {}, 401),  # no token
        ("GET", f"{V4}/Contact/get", expired, 401),
        ("GET", "/espo-key/api/v1/Account", ok, 200),
        ("GET", "/espo-key/api/v1/Account", ok, 429),
        ("GET", "/espo-key/api/v1/Lead", stack.bearer("svc-bad"), 401),  # EspoCRM refuses the key
        ("GET", f"{V4}/{UNKNOWN_ENTITY}/get", ok, 500),  # allowed by "*"; CiviCRM: no such API
        ("GET", f"/espo-key/api/v1/Lead/{RECORD_ID}", ok, 404),
        ("GET", "/nowhere/at/all", ok, 404),
    ]
    for method, path, headers, status in script:
        resp = await client.request(method, path, headers=headers)
        assert resp.status == status, (method, path, await resp.text())
    stack.set_civi_delay(0.5)
    resp = await client.get("/civi-apikey/civicrm/ajax/api4/Contact/get", headers=ok)
    assert resp.status == 504


def by_labels(text: str, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """Samples of ``name`` keyed by the values of ``labels`` in that order (other labels must not vary)."""
    out: dict[tuple[str, ...], float] = {}
    for pairs, value in metric_samples(text, name).items():
        found = dict(pairs)
        assert set(found) == set(labels), found
        out[tuple(found[label] for label in labels)] = value
    return out


async def test_exact_counters_after_a_scripted_mix(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={"mix": POLICY},
        environ={"ESPO_BAD_KEY": "5f4dcc3b5aa765d61d8327deb882cf99"},
        identities_extra=BAD_IDENTITY,
        upstream_extra={"civi-apikey": "timeouts: {read_seconds: 0.2, total_seconds: 1}"},
    )
    await run_the_mix(stack)
    resp = await stack.client.get("/metrics")
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()

    labels = ("upstream", "entity", "action", "decision", "status_class")
    assert by_labels(text, "crmgw_requests_total", *labels) == {
        ("espo-key", "Lead", "read", "allow", "2xx"): 2,
        ("civi-jwt", "Contact", "get", "allow", "2xx"): 1,
        ("civi-jwt", "Contact", "delete", "deny", "4xx"): 1,
        ("espo-key", "none", "none", "deny", "4xx"): 1,
        ("civi-jwt", "none", "none", "deny", "4xx"): 1,
        ("espo-key", "Account", "read", "allow", "2xx"): 1,
        ("espo-key", "Account", "read", "ratelimited", "4xx"): 1,
        ("espo-key", "Lead", "read", "allow", "4xx"): 2,  # EspoCRM's 401 and its 404
        ("civi-jwt", "other", "get", "allow", "5xx"): 1,
        ("none", "none", "none", "error", "4xx"): 1,
        ("civi-apikey", "Contact", "get", "error", "5xx"): 1,
    }
    assert by_labels(text, "crmgw_auth_failures_total", "reason") == {
        ("missing-token",): 1,
        ("token-expired",): 1,
    }
    assert by_labels(text, "crmgw_policy_denials_total", "upstream", "entity", "action") == {
        ("civi-jwt", "Contact", "delete"): 1
    }
    assert by_labels(text, "crmgw_ratelimited_total", "upstream", "rule") == {("espo-key", "mix:accounts"): 1}
    assert by_labels(text, "crmgw_upstream_auth_rejections_total", "upstream") == {("espo-key",): 1}
    assert by_labels(text, "crmgw_upstream_duration_seconds_count", "upstream", "status_class") == {
        ("espo-key", "2xx"): 3,
        ("espo-key", "4xx"): 2,
        ("civi-jwt", "2xx"): 1,
        ("civi-jwt", "5xx"): 1,
        ("civi-apikey", "other"): 1,
    }
    timed_out = by_labels(text, "crmgw_upstream_duration_seconds_sum", "upstream", "status_class")
    assert 0.2 <= timed_out[("civi-apikey", "other")] < 1.0  # the read timeout, not the CRM's 0.5 s
    durations = by_labels(text, "crmgw_request_duration_seconds_count", "upstream", "status_class")
    assert sum(durations.values()) == 13
    assert by_labels(text, "crmgw_upstream_rejected_total", "upstream", "reason") == {}
    assert by_labels(text, "crmgw_redis_errors_total") == {(): 0}

    # bounded labels: neither the unknown entity, nor the record id, nor a subject became a label value
    for family_text in (UNKNOWN_ENTITY, RECORD_ID, "svc-test", "svc-bad", "nowhere"):
        assert family_text not in text
    # the health and metrics endpoints are not requests of the gateway's own
    await stack.client.get("/healthz")
    await stack.client.get("/metrics")
    again = by_labels(
        await (await stack.client.get("/metrics")).text(),
        "crmgw_request_duration_seconds_count",
        "upstream",
        "status_class",
    )
    assert again == durations
