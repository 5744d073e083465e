"""Rate limits through a real gateway: scopes, cost per operation, headers, and 429s in each dialect."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from aiohttp import ClientResponse

from tests.support.redis_server import redis_server, redis_server_binary
from tests.support.stack import Stack, start_stack

__all__ = ["redis_server"]  # the fixture, imported for pytest

REST = "/civi-keys/sites/all/modules/civicrm/extern/rest.php"
V3_JSON = f"{REST}?entity=Contact&action=get&json=1"
V3_XML = f"{REST}?entity=Contact&action=get"
V4 = "/civi-jwt/civicrm/ajax/api4/Contact/get"
ESPO = "/espo-key/api/v1/Lead"

OTHER = """
  - match: {sub: svc-other}
    civi-keys: {api_key: '${env:CIVI_API_KEY}'}
    civi-jwt: {contact_id: 42}
    espo-key: {api_key: '${env:ESPO_API_KEY}'}
"""


def policy(limits: str = "") -> dict[str, str]:
    text = """
policy: limited
subjects: {principals: [svc-test, svc-other]}
entities:
  "*": {default: allow}
"""
    return {"limited": text + (f"limits:\n{limits}" if limits else "")}


def gateway_limits(*rules: str) -> str:
    return "ratelimit: {backend: memory, limits: [" + ", ".join(rules) + "]}"


async def stack_with(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, *, ratelimit: str = "", limits: str = ""
) -> Stack:
    return await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies=policy(limits),
        ratelimit=ratelimit,
        identities_extra=OTHER,
    )


def chained(count: int) -> str:
    """A v3 Contact.get with ``count`` chained calls: 1 + count operations."""
    entities = ["Email", "Phone", "Address", "Website", "Note", "Tag", "Group"][:count]
    return f"{REST}?entity=Contact&action=get&json=" + quote(
        json.dumps({f"api.{e}.get": {} for e in entities})
    )


def header_item(value: str) -> tuple[str, dict[str, int]]:
    """``"name";a=1;b=2`` -> ("name", {"a": 1, "b": 2})."""
    match = re.fullmatch(r'"([^"]*)"((?:;[a-z]+=\d+)*)', value)
    assert match, value
    params = dict(p.split("=") for p in match.group(2).split(";") if p)
    return match.group(1), {k: int(v) for k, v in params.items()}


async def statuses(stack: Stack, path: str, count: int, sub: str = "svc-test") -> list[int]:
    return [(await stack.client.get(path, headers=stack.bearer(sub))).status for _ in range(count)]


# -- cost: the operations a request touches --------------------------------------------------------


async def test_a_chained_v3_call_costs_one_per_operation(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await stack_with(
        aiohttp_server, aiohttp_client, tmp_path, ratelimit=gateway_limits("{rate: 6/hour, name: ops}")
    )
    resp = await stack.client.get(chained(5), headers=stack.bearer())
    assert resp.status == 200, await resp.text()
    assert header_item(resp.headers["RateLimit-Policy"]) == ("gateway:ops", {"q": 6, "w": 3600})
    assert header_item(resp.headers["RateLimit"]) == ("gateway:ops", {"r": 0, "t": 3600})
    assert "Retry-After" not in resp.headers
    # the six operations used the whole burst: even a single plain call is refused now
    refused = await stack.client.get(V3_JSON, headers=stack.bearer())
    assert refused.status == 429
    assert len(stack.civi_received) == 1
    # another principal has its own bucket; a request of 7 operations never fits a burst of 6
    assert (await stack.client.get(chained(6), headers=stack.bearer("svc-other"))).status == 429
    assert (await stack.client.get(chained(4), headers=stack.bearer("svc-other"))).status == 200
    assert len(stack.civi_received) == 2


async def test_batching_does_not_dodge_an_entity_action_limit(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await stack_with(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        limits="  - {name: contact-get, entity: Contact, action: get, rate: 3/hour}\n",
    )
    batch = {"a": ["Contact", "get", {}], "b": ["Contact", "get", {}], "c": ["Email", "get", {}]}
    url = f"{REST}?entity=api3&action=call&json=" + quote(json.dumps(batch))
    resp = await stack.client.get(url, headers=stack.bearer())
    assert resp.status == 200, await resp.text()
    assert header_item(resp.headers["RateLimit"]) == ("limited:contact-get", {"r": 1, "t": 2400})
    # a Contact.get chained under a Contact.get costs two: more than the one left, so nothing is charged
    resp = await stack.client.get(
        f"{REST}?entity=Contact&action=get&json=" + quote(json.dumps({"api.Contact.get": {}})),
        headers=stack.bearer(),
    )
    assert resp.status == 429
    assert header_item(resp.headers["RateLimit"]) == ("limited:contact-get", {"r": 1, "t": 2400})
    assert resp.headers["Retry-After"] == "1200"
    # operations the rule does not cover are not charged to it
    email = f"{REST}?entity=Email&action=get&json=1"
    assert await statuses(stack, email, 5) == [200] * 5
    assert await statuses(stack, V3_JSON, 2) == [200, 429]


# -- scopes: per principal, per upstream, global ---------------------------------------------------


@pytest.mark.parametrize(
    ("per", "expected"),
    [
        # svc-test x2 on civi-keys, svc-other x2 on civi-keys, svc-test x2 on espo-key
        ("principal", [200, 200, 200, 200, 200, 200]),
        ("upstream", [200, 200, 429, 429, 200, 200]),
        ("global", [200, 200, 429, 429, 429, 429]),
    ],
)
async def test_limit_scopes(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, per: str, expected: list[int]
) -> None:
    stack = await stack_with(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        ratelimit=gateway_limits(f"{{rate: 2/hour, per: {per}, name: scoped}}"),
    )
    got = [
        *await statuses(stack, V3_JSON, 2),
        *await statuses(stack, V3_JSON, 2, sub="svc-other"),
        *await statuses(stack, ESPO, 2),
    ]
    assert got == expected
    assert len(stack.received()) == expected.count(200)


async def test_the_most_restrictive_rule_is_advertised_and_all_are_charged(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await stack_with(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        ratelimit=gateway_limits("{rate: 100/hour, burst: 10, name: wide}"),
        limits="  - {name: leads, entity: Lead, rate: 2/minute}\n",
    )
    first = await stack.client.get(ESPO, headers=stack.bearer())
    assert header_item(first.headers["RateLimit-Policy"]) == ("limited:leads", {"q": 2, "w": 60})
    assert header_item(first.headers["RateLimit"]) == ("limited:leads", {"r": 1, "t": 30})
    await stack.client.get(ESPO, headers=stack.bearer())
    refused = await stack.client.get(ESPO, headers=stack.bearer())
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "30"
    account = await stack.client.get("/espo-key/api/v1/Account", headers=stack.bearer())
    assert account.status == 200
    assert header_item(account.headers["RateLimit"]) == ("gateway:wide", {"r": 7, "t": 108})


# -- 429 in the client's dialect -------------------------------------------------------------------


def v3_json(body: str, resp: ClientResponse) -> None:
    data = json.loads(body)
    assert data["is_error"] == 1 and data["error_code"] == "rate-limited"


def v3_xml(body: str, resp: ClientResponse) -> None:
    result = ElementTree.fromstring(body).find("Result")
    assert result is not None
    assert result.findtext("is_error") == "1" and result.findtext("error_code") == "rate-limited"


def v4_json(body: str, resp: ClientResponse) -> None:
    data = json.loads(body)
    assert data["error_code"] == "rate-limited" and data["status"] == 429 and data["error_message"]


def espo(body: str, resp: ClientResponse) -> None:
    assert "rate limit" in resp.headers["X-Status-Reason"].lower()
    assert json.loads(body)["reason"] == "rate-limited"


@pytest.mark.parametrize(
    ("path", "check", "content_type"),
    [
        (V3_JSON, v3_json, "application/json"),
        (V3_XML, v3_xml, "text/xml"),
        (V4, v4_json, "application/json"),
        (ESPO, espo, "application/json"),
    ],
    ids=["v3-json", "v3-xml", "v4", "espo"],
)
async def test_429_in_the_clients_dialect_with_headers(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, path: str, check: Any, content_type: str
) -> None:
    stack = await stack_with(
        aiohttp_server, aiohttp_client, tmp_path, ratelimit=gateway_limits("{rate: 1/minute, name: tight}")
    )
    token = stack.token()
    assert (await stack.client.get(path, headers={"X-Api-Key": token})).status == 200
    resp = await stack.client.get(path, headers={"X-Api-Key": token, "X-Request-ID": "rl-test-0001"})
    body = await resp.text()
    assert resp.status == 429, body
    assert resp.content_type == content_type
    check(body, resp)
    assert resp.headers["Retry-After"] == "60"
    assert header_item(resp.headers["RateLimit-Policy"]) == ("gateway:tight", {"q": 1, "w": 60})
    assert header_item(resp.headers["RateLimit"]) == ("gateway:tight", {"r": 0, "t": 60})
    assert resp.headers["X-Request-ID"] == "rl-test-0001"
    assert token not in body
    assert len(stack.received()) == 1


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_refused_request_charges_none_of_its_limits(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    if backend == "redis":
        if redis_server_binary() is None:
            pytest.skip("redis-server not installed")
        url = request.getfixturevalue("redis_server").url
        ratelimit = (
            f"ratelimit: {{backend: redis, url: '{url}', timeout_ms: 2000, "
            "limits: [{rate: 3/hour, name: ops}]}"
        )
    else:
        ratelimit = gateway_limits("{rate: 3/hour, name: ops}")
    stack = await stack_with(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        ratelimit=ratelimit,
        limits="  - {name: contact-get, entity: Contact, action: get, rate: 2/hour}\n",
    )
    # four operations: the Contact.get rule (cost 1) would admit it, the request-wide rule (cost 4) does not
    refused = await stack.client.get(chained(3), headers=stack.bearer())
    assert refused.status == 429
    assert header_item(refused.headers["RateLimit-Policy"])[0] == "gateway:ops"
    # so the Contact.get rule was not charged: both of its two operations are still there
    answers = [await stack.client.get(V3_JSON, headers=stack.bearer()) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert [header_item(a.headers["RateLimit"]) for a in answers[:2]] == [
        ("limited:contact-get", {"r": 1, "t": 1800}),
        ("limited:contact-get", {"r": 0, "t": 3600}),
    ]
    assert header_item(answers[2].headers["RateLimit-Policy"])[0] == "limited:contact-get"
