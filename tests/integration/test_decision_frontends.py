"""Decision mode end to end: real nginx and Caddy, configured by ``crm-gateway frontend``, in front of the
sandbox CRMs, asking the gateway's decision endpoint and carrying the bytes themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_decision_support import (
    API_KEY_READABLE,
    DECISION,
    ESPO_DECIDED,
    FRONTENDS,
    Answer,
    Frontend,
    assert_no_secret_or_token,
    running_frontend,
    send,
)
from tests.support.stack import (
    ESPO_API_KEY,
    Stack,
    start_stack,
)

POLICY = (
    """
policy: decision-e2e
subjects: {principals: [svc-test]}
entities:
  Contact: {get: allow, read: allow, create: allow}
  Email: {get: allow, read: allow}
  Lead: {read: allow, create: allow}
  Account: {read: allow}
limits:
  - {name: accounts, entity: Account, rate: 1/hour}
"""
    + API_KEY_READABLE
)
ESPO_OPAQUE = f"""
policy: decision-e2e-espo
subjects: {{principals: [svc-test]}}
upstreams: [{", ".join(ESPO_DECIDED)}]
opaque: ["GET /App/user"]
"""
V4_CONTACTS = "/civicrm/ajax/api4/Contact/get?params=%7B%22select%22%3A%5B%22display_name%22%5D%7D"
Check = Callable[[dict[str, str]], bool]


@pytest.fixture
async def stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={"e2e": POLICY, "e2e-espo": ESPO_OPAQUE},
        extra=DECISION,
    )


@pytest.fixture(params=FRONTENDS)
def front(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Frontend]:
    with running_frontend(request.param, stack) as frontend:
        yield frontend


def forwarded_by_gateway(stack: Stack) -> float:
    """Requests the gateway itself sent upstream (proxy mode); decisions send nothing."""
    families = text_string_to_metric_families(stack.metrics_text())
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "crmgw_upstream_duration_seconds_count"
    )


def _bearer_value(value: str) -> bool:
    return value.startswith("Bearer ") and len(value) > 40


ALLOWED: list[tuple[str, str, dict[str, str], Check]] = [
    # (upstream, target below its prefix, extra request headers, what the CRM must have received)
    ("civi-jwt", V4_CONTACTS, {}, lambda h: _bearer_value(h["X-Civi-Auth"]) and "X-Civi-Key" not in h),
    (
        "civi-jwt-header",
        V4_CONTACTS,
        {},
        lambda h: _bearer_value(h["Authorization"]) and h["X-Requested-With"] == "XMLHttpRequest",
    ),
    ("civi-basic", V4_CONTACTS, {}, lambda h: h["X-Civi-Auth"].startswith("Basic ")),
    ("espo-key", "/api/v1/Lead?maxSize=2&select=name", {}, lambda h: h["X-Api-Key"] == ESPO_API_KEY),
    (
        "espo-hmac",
        "/api/v1/Contact?maxSize=1",
        {},
        lambda h: "X-Api-Key" not in h and "X-Hmac-Authorization" in h,
    ),
    ("espo-hmac-raw", "/api/v1/Lead", {}, lambda h: "X-Hmac-Authorization" in h),
    ("espo-basic", "/api/v1/App/user", {}, lambda h: "Espo-Authorization" in h and "Authorization" not in h),
    ("espo-token", "/api/v1/Lead", {}, lambda h: h["Espo-Authorization-By-Token"] == "true"),
]


async def test_allowed_reads_reach_the_crm_with_its_own_credential(front: Frontend, stack: Stack) -> None:
    token = stack.token()
    for upstream, target, extra, check in ALLOWED:
        sandbox = stack.civi_received if upstream.startswith("civi") else stack.espo_received
        before = len(sandbox)
        answer = await front.request(
            "GET", f"/{upstream}{target}", {"Authorization": f"Bearer {token}", **extra}
        )
        assert answer.status == 200, (upstream, answer.status, answer.body[:300])
        assert len(sandbox) == before + 1, upstream
        seen = sandbox[-1]
        assert check(seen.headers), (upstream, seen.headers)
        assert seen.headers["X-Request-ID"] == answer.headers["X-Request-ID"]
        assert seen.path_qs == target, upstream
    assert forwarded_by_gateway(stack) == 0
    assert_no_secret_or_token(stack, token)


async def test_host_routing_head_and_the_token_in_the_query(front: Frontend, stack: Stack) -> None:
    token = stack.token()
    answer = await front.request(
        "GET", "/api/v1/Lead?maxSize=1", {"Host": "espo.example.test", **stack.bearer()}
    )
    assert answer.status == 200, answer.body[:300]
    assert stack.espo_received[-1].headers["X-Api-Key"] == ESPO_API_KEY

    answer = await front.request("HEAD", "/espo-key/api/v1/Lead", stack.bearer())
    assert (answer.status, answer.body) == (200, b"")
    assert stack.espo_received[-1].method == "HEAD"

    # A token in the query is stripped from the URI the front proxy sends; the rest of the query stays.
    answer = await front.request("GET", f"/espo-key/api/v1/Lead?maxSize=1&api_key={token}&select=name")
    assert answer.status == 200, answer.body[:300]
    assert stack.espo_received[-1].path_qs == "/api/v1/Lead?maxSize=1&select=name"
    answer = await front.request("GET", f"/civi-jwt{V4_CONTACTS}&_authx=Bearer%20{token}")
    assert answer.status == 200, answer.body[:300]
    assert "_authx" not in stack.civi_received[-1].path_qs
    assert_no_secret_or_token(stack, token)


async def test_an_hmac_over_a_path_that_needs_encoding_is_the_one_the_crm_checks(
    front: Frontend, stack: Stack
) -> None:
    # "(" ")" "'" "!" and "é" are re-encoded by EspoCRM before it checks the signature: the front proxy must
    # send exactly the path the gateway signed. The record does not exist: 404 (not 401) proves the HMAC.
    for raw in ("/api/v1/Lead/a(1)!'", "/api/v1/Lead/caf%C3%A9", "/api/v1/Lead/x$y", "/api/v1/Lead/a%28b"):
        answer = await front.request("GET", f"/espo-hmac{raw}", stack.bearer())
        assert answer.status == 404, (raw, answer.status, answer.body[:200])
        assert "X-Hmac-Authorization" in stack.espo_received[-1].headers


async def test_client_credentials_never_reach_the_crm(front: Frontend, stack: Stack) -> None:
    token = stack.token()
    spoofed = {
        "Authorization": f"Bearer {token}",
        "X-Civi-Key": "client-site-key",
        "X-Civi-Site-Key": "client-site-key",
        "X-Another-User": "admin",
        "Espo-Authorization-By-Token": "true",
        "X-Hmac-Authorization": "forged",
        "Cookie": "auth-token=abc; auth-token-secret=def",
        "Http-Espo-Cgi-Auth": "Basic YWRtaW46YWRtaW4=",
        "Forwarded": "for=6.6.6.6",
        "X-Real-IP": "6.6.6.6",
        "X-Forwarded-For": "6.6.6.6",
        "X-Keep-Me": "yes",
    }
    answer = await front.request("GET", "/espo-key/api/v1/Lead", spoofed)
    assert answer.status == 200, answer.body[:300]
    seen = {k.lower(): v for k, v in stack.espo_received[-1].headers.items()}
    for name in spoofed:
        if name.lower() != "x-keep-me":
            assert seen.get(name.lower()) in (None, "127.0.0.1"), name
    assert seen["x-api-key"] == ESPO_API_KEY
    assert seen["x-keep-me"] == "yes"
    assert_no_secret_or_token(stack, token)

    # A credential-looking header a front proxy might not strip is refused, whatever the front proxy.
    before = len(stack.espo_received)
    answer = await front.request("GET", "/espo-key/api/v1/Lead", {**stack.bearer(), "X-Civi-Whatever": "x"})
    assert (answer.status, answer.reason) == (400, "credential-header")
    assert len(stack.espo_received) == before


async def test_the_client_cannot_speak_for_the_gateway(front: Frontend, stack: Stack) -> None:
    forged = {
        **stack.bearer(),
        "X-Crm-Upstream": "espo-basic",
        "X-Crm-Set-X-Api-Key": "stolen",
        "X-Crm-Uri": "/api/v1/User",
        "X-Original-URI": "/espo-key/api/v1/Contact",
        "X-Original-Method": "GET",
    }
    before = len(stack.espo_received)
    answer = await front.request("GET", "/espo-key/api/v1/Lead", forged)
    if front.kind == "nginx":  # nginx passes them on to the gateway, which refuses them
        assert (answer.status, answer.reason) == (400, "reserved-header")
        assert len(stack.espo_received) == before
    else:  # Caddy drops them first: the request is decided as sent
        assert answer.status == 200, answer.body[:300]
        seen = stack.espo_received[-1]
        assert (seen.path_qs, seen.headers["X-Api-Key"]) == ("/api/v1/Lead", ESPO_API_KEY)
        assert not any(name.lower().startswith(("x-crm-", "x-original-")) for name in seen.headers)
    before = len(stack.espo_received)
    answer = await front.request("DELETE", "/espo-key/api/v1/Lead/l1", forged)  # proxy mode in both
    assert (answer.status, answer.reason) == (403, "policy-denied")
    for path in ("/_crm_gateway/authz", "/_crm_gateway/authz/denial", "/_crm_gateway/%61uthz"):
        answer = await front.request("GET", path, forged)
        assert answer.status == 404, path
    assert len(stack.espo_received) == before


async def _same_refusal(front: Frontend, stack: Stack, target: str, headers: dict[str, str]) -> Answer:
    direct = await stack.client.get(target, headers=headers)
    answer = await front.request("GET", target, headers)
    assert answer.status == direct.status, (target, answer.status, answer.body[:300])
    assert answer.body == await direct.read(), target
    for name in ("Content-Type", "X-Status-Reason", "WWW-Authenticate", "Retry-After"):
        assert answer.headers.get(name) == direct.headers.get(name), (target, name)
    assert answer.headers["X-Request-ID"]
    return answer


async def test_refusals_look_as_in_proxy_mode_and_reach_nothing(front: Frontend, stack: Stack) -> None:
    received = len(stack.received())
    no_token = await _same_refusal(front, stack, f"/civi-jwt{V4_CONTACTS}", {})
    assert (no_token.status, no_token.reason) == (401, "missing-token")
    denied = await _same_refusal(front, stack, "/civi-jwt/civicrm/ajax/api4/Activity/get", stack.bearer())
    assert (denied.status, denied.reason, denied.json()["is_error"]) == (403, "policy-denied", 1)
    v3 = "/civi-jwt/civicrm/ajax/rest?entity=Activity&action=get&json=1"
    assert (await _same_refusal(front, stack, v3, stack.bearer())).status == 403
    espo = await _same_refusal(front, stack, "/espo-key/api/v1/User", stack.bearer())
    assert espo.status == 403 and espo.headers["X-Status-Reason"]
    expired = await _same_refusal(front, stack, "/espo-key/api/v1/Lead", stack.bearer(exp=1000))
    assert expired.status == 401
    assert len(stack.received()) == received


async def test_rate_limited_reads_get_429_with_retry_after(front: Frontend, stack: Stack) -> None:
    first = await front.request("GET", "/espo-key/api/v1/Account", stack.bearer())
    assert first.status == 200, first.body[:300]
    assert first.headers["RateLimit-Policy"].startswith('"decision-e2e:accounts";')
    before = len(stack.espo_received)
    limited = await front.request("GET", "/espo-key/api/v1/Account", stack.bearer())
    direct = await stack.client.get("/espo-key/api/v1/Account", headers=stack.bearer())
    assert (limited.status, direct.status) == (429, 429)
    assert limited.body == await direct.read()
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-Status-Reason"] == direct.headers["X-Status-Reason"]
    assert len(stack.espo_received) == before


async def test_requests_with_a_body_take_the_proxy_path(front: Frontend, stack: Stack) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded", **stack.bearer()}
    answer = await front.request(
        "POST", "/civi-jwt/civicrm/ajax/api4/Contact/get", form, b"params=%7B%22limit%22%3A1%7D"
    )
    assert answer.status == 200, answer.body[:300]
    assert forwarded_by_gateway(stack) == 1
    assert stack.civi_received[-1].body == b"params=%7B%22limit%22%3A1%7D"

    created = await front.request(
        "POST",
        "/espo-key/api/v1/Lead",
        {"Content-Type": "application/json", **stack.bearer()},
        b'{"lastName":"X"}',
    )
    assert created.status == 200, created.body[:300]
    assert forwarded_by_gateway(stack) == 2
    assert stack.espo_received[-1].headers["X-Api-Key"] == ESPO_API_KEY

    # A GET that declares a body goes to proxy mode too.
    answer = await front.request(
        "GET", "/espo-key/api/v1/Lead", {**stack.bearer(), "Content-Length": "2"}, b"{}"
    )
    assert answer.status == 200, answer.body[:300]
    assert forwarded_by_gateway(stack) == 3

    # An upstream left to proxy mode (civicrm-keys) is proxied for reads as well.
    v3 = "/civi-keys/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1"
    answer = await front.request("GET", v3, stack.bearer())
    assert answer.status == 200, answer.body[:300]
    assert forwarded_by_gateway(stack) == 4
    assert_no_secret_or_token(stack, stack.bearer()["Authorization"][7:])


async def test_the_decision_endpoint_refuses_untrusted_sources(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        extra="decision: {trusted_proxies: [192.0.2.0/24], upstreams: [espo-key]}",
    )
    headers = {**stack.bearer(), "X-Original-Method": "GET", "X-Original-URI": "/espo-key/api/v1/Lead"}
    for path in ("/_crm_gateway/authz", "/_crm_gateway/authz/denial"):
        answer = await send(str(stack.client.make_url("")).rstrip("/"), "GET", path, headers)
        assert (answer.status, answer.reason) == (403, "untrusted-proxy"), path
    assert stack.received() == []
