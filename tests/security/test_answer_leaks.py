"""No denied field and no injected credential reaches the client, whatever shape the CRM answers in:
chunked, compressed, large, joined/aliased keys, redirects and HTML error pages echoing the request URL.

Each case reshapes a real sandbox answer (gateway/sandbox/answer_modes.py) and scans everything the client
received (status line, every header, the body) for every configured secret and the other contact's key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gateway.sandbox.answer_modes import configure
from tests.support.stack import SECRETS, Stack, start_stack

OTHER_KEY = "admin-contact-key"
"""Contact 2's api_key: a field the test principal may not read."""
V3 = "/sites/all/modules/civicrm/extern/rest.php?entity=Contact&action=get&json=1&sequential=1"
AJAX = "/civicrm/ajax/rest?entity=Contact&action=get&json=1&sequential=1"
"""APIv3 through rest.php (site key + api_key) and through the AJAX route (AuthX)."""
V4 = "/civicrm/ajax/api4/Contact/get"
CIVI_UPSTREAMS = ("civi-keys", "civi-apikey", "civi-apikey-param", "civi-jwt", "civi-jwt-param", "civi-basic")


@dataclass
class Shape:
    name: str
    modes: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)


FILTERED_SHAPES = [
    Shape("plain"),
    Shape("chunked", {"chunked": True}),
    Shape("gzip", {"encoding": "gzip"}),
    Shape("deflate", {"encoding": "deflate"}),
    Shape("gzip-chunked", {"encoding": "gzip", "chunked": True}),
    Shape("large", {"pad_bytes": 300 * 1024}),
    Shape("large-chunked-gzip", {"pad_bytes": 600 * 1024, "chunked": True, "encoding": "gzip"}),
    Shape("aliases", {"aliases": True}),
    Shape("aliases-chunked-gzip", {"aliases": True, "chunked": True, "encoding": "gzip"}),
]


async def _stack(aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, **kw: Any) -> Stack:
    return await start_stack(aiohttp_server, aiohttp_client, tmp_path, **kw)


def _set(stack: Stack, modes: dict[str, Any]) -> None:
    configure(stack.civi.app, **modes)


async def _fetch(stack: Stack, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    resp = await stack.client.get(path, headers={**stack.bearer(), **(headers or {})}, allow_redirects=False)
    body = (await resp.read()).decode("utf-8", "replace")
    return resp.status, _headers(resp), body


def _headers(resp: Any) -> str:
    return "\n".join(f"{k.decode()}: {v.decode()}" for k, v in resp.raw_headers)


def assert_clean(*texts: str) -> None:
    seen = "\n".join(texts)
    for secret in (*SECRETS, OTHER_KEY):
        assert secret not in seen, f"leaked: {secret[:8]}..."


@pytest.mark.parametrize("shape", FILTERED_SHAPES, ids=lambda s: s.name)
@pytest.mark.parametrize("upstream", ["civi-keys", "civi-jwt"])
async def test_v3_answer_shapes_arrive_filtered(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, shape: Shape, upstream: str
) -> None:
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path)
    _set(stack, shape.modes)
    path = V3 if upstream == "civi-keys" else AJAX
    status, head, body = await _fetch(stack, f"/{upstream}{path}", {"Accept-Encoding": "gzip, br"})
    assert status == 200, body[:300]
    assert "Content-Encoding" not in head
    answer = json.loads(body)
    names = {v["display_name"] for v in answer["values"]}
    assert names == {"Admin", "Integration"}  # the records themselves arrive
    assert all(not any(k.endswith("api_key") or "api_key:" in k for k in v) for v in answer["values"])
    if shape.modes.get("aliases"):
        assert "contact_id.display_name" in answer["values"][0]  # the other joined fields arrive
    assert_clean(head, body)


@pytest.mark.parametrize("shape", FILTERED_SHAPES, ids=lambda s: s.name)
async def test_v4_answer_shapes_arrive_filtered(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, shape: Shape
) -> None:
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path)
    _set(stack, shape.modes)
    status, head, body = await _fetch(stack, f"/civi-apikey{V4}")
    assert status == 200, body[:300]
    values = json.loads(body)["values"]
    assert {v["display_name"] for v in values} >= {"Admin"}
    assert_clean(head, body)


async def test_the_field_stays_when_a_policy_allows_it_but_the_credential_never(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    allow = 'policy: key-admin\nsubjects: {principals: [svc-test]}\nentities: {"*": {default: allow}}\n'
    allow += "fields: {Contact: {allow: [api_key]}}\n"
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path, policies={"key-admin": allow})
    _set(stack, {"aliases": True, "chunked": True, "encoding": "gzip"})
    status, _, body = await _fetch(stack, f"/civi-keys{V3}")
    assert status == 200
    values = json.loads(body)["values"]
    admin = next(v for v in values if v["display_name"] == "Admin")
    assert admin["api_key"] == admin["c.api_key"] == OTHER_KEY
    own = next(v for v in values if v["display_name"] == "Integration")
    assert own["api_key"] == "[redacted]"  # the gateway's own credential for this principal


@pytest.mark.parametrize(
    ("modes", "extra", "reason"),
    [
        ({"encoding": "br"}, {}, "answer-unreadable"),
        ({"encoding": "gzip, gzip"}, {}, "answer-unreadable"),
        ({"pad_bytes": 20_000}, {"civi-keys": "max_answer_bytes: 8192"}, "answer-too-large"),
        ({"pad_bytes": 20_000, "chunked": True}, {"civi-keys": "max_answer_bytes: 8192"}, "answer-too-large"),
    ],
    ids=["unknown-encoding", "stacked-encodings", "too-large", "too-large-chunked"],
)
async def test_unfilterable_answers_are_refused_in_the_clients_dialect(
    aiohttp_server: Any,
    aiohttp_client: Any,
    tmp_path: Path,
    modes: dict[str, Any],
    extra: dict[str, str],
    reason: str,
) -> None:
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path, upstream_extra=extra)
    _set(stack, modes)
    status, head, body = await _fetch(stack, f"/civi-keys{V3}")
    assert status == 502
    answer = json.loads(body)
    assert answer["is_error"] == 1 and answer["error_code"] == reason  # APIv3's own error shape
    assert_clean(head, body)


@pytest.mark.parametrize("upstream", CIVI_UPSTREAMS)
async def test_a_redirect_echoing_the_url_loses_the_credential_and_points_at_the_gateway(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, upstream: str
) -> None:
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path)
    _set(stack, {"redirect": True, "chunked": True})
    status, head, body = await _fetch(stack, f"/{upstream}{V3}")
    assert status == 302
    assert_clean(head, body)
    resp = await stack.client.get(f"/{upstream}{V3}", headers=stack.bearer(), allow_redirects=False)
    location = urlsplit(resp.headers["Location"])
    gateway = stack.client.make_url("")
    assert (location.scheme, location.netloc) == (gateway.scheme, f"{gateway.host}:{gateway.port}")
    assert location.path == f"/{upstream}/sites/all/modules/civicrm/extern/rest.php"
    query = parse_qs(location.query)
    assert query["entity"] == ["Contact"] and query["json"] == ["1"]
    assert not {"key", "api_key", "_authx", "_authxSiteKey"} & set(query)
    assert stack.civi_received  # the gateway did not follow it
    assert len(stack.civi_received) == 2


@pytest.mark.parametrize("upstream", ["civi-apikey-param", "civi-jwt-param"])
async def test_an_html_error_page_echoing_the_url_arrives_without_the_credential(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, upstream: str
) -> None:
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path)
    _set(stack, {"html_error": True, "chunked": True})
    status, head, body = await _fetch(stack, f"/{upstream}{V3}")
    assert status == 500
    assert "While loading" in body and "[redacted]" in body
    assert_clean(head, body)


async def test_an_html_page_naming_a_denied_field_is_refused(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path)
    _set(stack, {"html_error": True})
    status, head, body = await _fetch(stack, f"/civi-keys{V3}")  # the page prints "api_key=..."
    assert status == 502 and json.loads(body)["error_code"] == "answer-unreadable"
    assert_clean(head, body)


ESPO_POLICY = """
policy: espo-no-account
subjects: {principals: [svc-test]}
entities: {"*": {default: allow}}
fields: {Contact: {deny: [account, lastName]}}
"""


@pytest.mark.parametrize("modes", [{}, {"aliases": True, "chunked": True, "encoding": "gzip"}])
async def test_espo_link_fields_are_filtered_under_every_key(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, modes: dict[str, Any]
) -> None:
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path, policies={"p": ESPO_POLICY})
    configure(stack.espo.app, **modes)
    resp = await stack.client.get("/espo-key/api/v1/Contact", headers=stack.bearer())
    assert resp.status == 200
    records = (await resp.json())["list"]
    assert {r["firstName"] for r in records} == {"Ada", "Grace", "Alan"}
    for record in records:
        assert not {k for k in record if k.lower().startswith(("account", "lastname"))}
    assert_clean(_headers(resp), json.dumps(records))


async def test_espo_link_field_keys_arrive_when_no_rule_denies_them(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await _stack(aiohttp_server, aiohttp_client, tmp_path)
    configure(stack.espo.app, aliases=True)
    resp = await stack.client.get("/espo-key/api/v1/Contact", headers=stack.bearer())
    records = (await resp.json())["list"]
    assert all({"accountId", "accountName", "lastName"} <= set(r) for r in records)
