"""The admission memo with request bodies (gateway/admission_memo.py): a repeated request whose body was read
is admitted from its plan, keyed by the exact bytes, and nothing a client can observe changes. Each security
case runs with the memo warm and with it off, over real sockets to a real aiohttp gateway and the sandbox
CRMs, in proxy mode (the decision endpoint never reads a body)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from yarl import URL

from gateway.admission_memo import MEMO_BODY_BYTES
from gateway.proxy import body as body_reading
from gateway.reload import Reloader
from gateway.sandbox.received import ReceivedRequest
from tests.integration.test_admission_memo import MODES, gateway, switch
from tests.integration.test_decision_support import Answer
from tests.integration.test_identity_people import LOOKUPS, RULES, lookups
from tests.support.people import STAFF_POLICY, SVC_POLICY, people_civi_config, people_espo_config
from tests.support.stack import ALLOW_ALL, ENV, Stack

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CHAIN = "/civi-jwt/civicrm/ajax/rest"
CHAIN_JSON = {"sequential": 1, "return": "display_name", "api.Email.get": {}, "api.Phone.get": {}}
CHAIN_BODY = urlencode({"entity": "Contact", "action": "get", "json": json.dumps(CHAIN_JSON)}).encode()
"""The benchmark's v3 chain: Contact.get chaining Email.get and Phone.get, as a form body."""
V3_ALL = urlencode({"entity": "Contact", "action": "get", "json": '{"sequential":1}'}).encode()
V4 = "/civi-jwt/civicrm/ajax/api4/Contact/get"
V4_BODY = urlencode({"params": json.dumps({"select": ["id", "display_name"], "limit": 5})}).encode()


async def posted(
    stack: Stack,
    target: str,
    body: bytes,
    headers: dict[str, str],
    *,
    content_type: str = FORM,
    method: str = "POST",
) -> Answer:
    asked = {**headers, "Content-Type": content_type}
    resp = await stack.client.request(method, URL(target, encoded=True), data=body, headers=asked)
    return Answer(resp.status, resp.headers, await resp.read())


async def warm(stack: Stack, mode: str, target: str, body: bytes, headers: dict[str, str], **kw: Any) -> None:
    """The same request twice; with the memo on, the second is answered from its plan."""
    hits = stack.runtime.admissions.hits
    for _ in range(2):
        answer = await posted(stack, target, body, headers, **kw)
        assert answer.status == 200, answer.body[:300]
    assert stack.runtime.admissions.hits - hits == (1 if mode == "memo" else 0)


@pytest.mark.parametrize("mode", MODES)
async def test_a_token_revoked_after_its_body_request_was_memoised_is_refused(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", mode, decision=False)
    headers = stack.bearer()
    await warm(stack, mode, CHAIN, CHAIN_BODY, headers)
    await stack.runtime.authenticator.revocations.store.add("sub", "svc-test", time.time(), 3600)
    answer = await posted(stack, CHAIN, CHAIN_BODY, headers)
    assert (answer.status, answer.reason) == (401, "token-revoked")


@pytest.mark.parametrize("mode", MODES)
async def test_a_memoised_body_request_past_its_token_exp_is_refused(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    now = [time.time()]
    stack = await gateway(
        aiohttp_server, aiohttp_client, tmp_path / "gw", mode, decision=False, clock=lambda: now[0]
    )
    headers = stack.bearer(lifetime=60)
    await warm(stack, mode, CHAIN, CHAIN_BODY, headers)
    now[0] += 120
    answer = await posted(stack, CHAIN, CHAIN_BODY, headers)
    assert (answer.status, answer.reason) == (401, "token-expired")


DENY_CONTACTS = """
policy: test-allow-all
subjects: {principals: [svc-test]}
entities:
  Contact: {read: deny}
  "*": {default: allow}
"""


@pytest.mark.parametrize("mode", MODES)
async def test_a_reload_that_denies_the_body_request_drops_its_plan(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    reloaders: list[Reloader] = []
    root = tmp_path / "gw"

    def reloadable(app: web.Application) -> None:
        reloaders.append(Reloader(app, str(root / "gateway.yaml"), environ=ENV))

    stack = await gateway(aiohttp_server, aiohttp_client, root, mode, decision=False, before_start=reloadable)
    headers = stack.bearer()
    await warm(stack, mode, CHAIN, CHAIN_BODY, headers)
    (root / "policies" / "allow-all.yaml").write_text(DENY_CONTACTS)
    assert await reloaders[0].reload("test") == "ok"
    switch(stack, mode)
    answer = await posted(stack, CHAIN, CHAIN_BODY, headers)
    assert (answer.status, answer.reason) == (403, "policy-denied")


LIMITED = {
    "allow-all": ALLOW_ALL,
    "contacts-limit": """
policy: contacts-limit
subjects: {principals: [svc-test]}
limits:
  - {name: contacts, entity: Contact, rate: 5/hour, burst: 5}
""",
}


@pytest.mark.parametrize("mode", MODES)
async def test_a_rate_limit_still_counts_and_refuses_memoised_body_requests(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    stack = await gateway(
        aiohttp_server, aiohttp_client, tmp_path / "gw", mode, decision=False, policies=LIMITED
    )
    headers = stack.bearer()
    await warm(stack, mode, CHAIN, CHAIN_BODY, headers)
    statuses = [(await posted(stack, CHAIN, CHAIN_BODY, headers)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    answer = await posted(stack, CHAIN, CHAIN_BODY, headers)
    assert (answer.status, answer.reason) == (429, "rate-limited")
    assert answer.headers["RateLimit"].startswith('"contacts-limit:contacts";r=0;')
    assert stack.metric("crmgw_ratelimited_total", upstream="civi-jwt", rule="contacts-limit:contacts") == 2


LEAD = b'{"firstName":"Ada","lastName":"Lovelace"}'


@pytest.mark.parametrize("mode", MODES)
async def test_an_open_breaker_refuses_memoised_body_requests(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    stack = await gateway(
        aiohttp_server,
        aiohttp_client,
        tmp_path / "gw",
        mode,
        decision=False,
        upstream_extra={"espo-basic": "breaker: {failures: 3, cooldown_seconds: 600}"},
        environ={"ESPO_PASSWORD": "not-the-password"},
    )
    headers, target = stack.bearer(), "/espo-basic/api/v1/Lead"
    for _ in range(3):  # the CRM refuses the gateway's password: the breaker opens
        assert (await posted(stack, target, LEAD, headers, content_type=JSON)).status == 401
    assert stack.runtime.admissions.hits == (2 if mode == "memo" else 0)
    answer = await posted(stack, target, LEAD, headers, content_type=JSON)
    assert (answer.status, answer.reason) == (503, "upstream-credential-rejected")
    assert stack.metric("crmgw_upstream_rejected_total", upstream="espo-basic", reason="breaker_open") == 1


@pytest.mark.parametrize("mode", MODES)
async def test_a_looked_up_person_is_looked_up_again_for_a_body_request(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    stack = await gateway(
        aiohttp_server,
        aiohttp_client,
        tmp_path / "gw",
        mode,
        decision=False,
        policies={
            "staff": STAFF_POLICY.replace("roles: [staff]", "roles: [staff, contractor]"),
            "svc": SVC_POLICY,
        },
        civi_config=people_civi_config(),
        espo_config=people_espo_config(),
        identities_extra=RULES,
        extra=LOOKUPS,
    )
    now = [1000.0]
    stack.runtime.people.caches["civi-jwt-header"].clock = lambda: now[0]
    headers = stack.bearer("staff-app", roles=["staff"], email="ada@example.org")
    target = "/civi-jwt-header/civicrm/ajax/api4/Contact/get"
    body = urlencode({"params": json.dumps({"select": ["id"]})}).encode()
    for _ in range(2):
        assert (await posted(stack, target, body, headers)).status == 200
    assert len(lookups(stack)) == 1
    now[0] += 61  # past ttl_seconds: 60
    assert (await posted(stack, target, body, headers)).status == 200
    assert len(lookups(stack)) == 2
    assert stack.runtime.admissions.hits == 0  # an identity from a look-up is never memoised


def minted_exp(received: ReceivedRequest) -> int:
    token = received.headers["X-Civi-Auth"].removeprefix("Bearer ")
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


@pytest.mark.parametrize("mode", MODES)
async def test_a_minted_authx_jwt_is_minted_anew_for_a_memoised_body_request(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    now = [time.time()]
    stack = await gateway(
        aiohttp_server, aiohttp_client, tmp_path / "gw", mode, decision=False, clock=lambda: now[0]
    )
    headers = stack.bearer(lifetime=3600)
    await warm(stack, mode, CHAIN, CHAIN_BODY, headers)
    assert minted_exp(stack.civi_received[-1]) == int(now[0]) + 300
    now[0] += 400  # past the minted JWT's ttl_seconds: 300
    assert (await posted(stack, CHAIN, CHAIN_BODY, headers)).status == 200
    assert minted_exp(stack.civi_received[-1]) == int(now[0]) + 300


async def test_one_byte_more_is_another_request(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", "memo", decision=False)
    headers = stack.bearer()
    other = CHAIN_BODY.replace(b"sequential%22%3A+1", b"sequential%22%3A+0")
    assert len(other) == len(CHAIN_BODY) and other != CHAIN_BODY
    for body, hits in ((CHAIN_BODY, 0), (other, 0), (CHAIN_BODY, 1), (other, 2), (CHAIN_BODY + b"&", 2)):
        assert (await posted(stack, CHAIN, body, headers)).status == 200
        assert stack.runtime.admissions.hits == hits


def memo_text(stack: Stack) -> str:
    """Every key and value the memos of a body hold (the admission memo's and the body reader's)."""
    memo = stack.runtime.admissions
    held = (memo._plans._entries, memo._bodied._entries, body_reading._READ._entries)
    return repr([list(entries.items()) for entries in held])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("api_key", "{token}", id="the token in the api_key slot"),
        pytest.param("_authx", "Bearer {token}", id="the token in the _authx slot"),
    ],
)
async def test_a_body_carrying_a_credential_is_not_memoised(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, field: str, value: str
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", "memo", decision=False)
    token = stack.token()
    form = {
        "entity": "Contact",
        "action": "get",
        "json": json.dumps(CHAIN_JSON),
        field: value.format(token=token),
    }
    body = urlencode(form).encode()
    held = len(stack.runtime.admissions)
    for _ in range(3):
        answer = await posted(stack, CHAIN, body, {"Accept": "application/json"})
        assert answer.status == 200, answer.body[:300]
    assert stack.runtime.admissions.hits == 0
    assert len(stack.runtime.admissions) == held
    assert token not in memo_text(stack) and token[-20:] not in memo_text(stack)
    assert token not in stack.civi_received[-1].body.decode()  # the slot is stripped before CiviCRM


async def test_a_body_over_the_bound_is_not_memoised(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", "memo", decision=False)
    headers = stack.bearer()
    name = "Ada " * (MEMO_BODY_BYTES // 4)
    big = json.dumps({"firstName": name, "lastName": "Lovelace"}).encode()
    assert len(big) > MEMO_BODY_BYTES
    for _ in range(2):
        assert (await posted(stack, "/espo-hmac/api/v1/Lead", big, headers, content_type=JSON)).status == 200
    assert stack.runtime.admissions.hits == 0
    assert name not in memo_text(stack)
    small = json.dumps({"firstName": name[: MEMO_BODY_BYTES // 2], "lastName": "Lovelace"}).encode()
    for _ in range(2):
        assert (
            await posted(stack, "/espo-hmac/api/v1/Lead", small, headers, content_type=JSON)
        ).status == 200
    assert stack.runtime.admissions.hits == 1


SAME = {
    "v3 chain": ("POST", CHAIN, CHAIN_BODY, FORM),
    "v3 get, every field (the answer filter removes api_key)": ("POST", CHAIN, V3_ALL, FORM),
    "v4 POST": ("POST", V4, V4_BODY, FORM),
    "civi-keys v3 chain": ("POST", "/civi-keys/civicrm/extern/rest.php", CHAIN_BODY, FORM),
    "Espo POST": ("POST", "/espo-hmac/api/v1/Lead", LEAD, JSON),
    "Espo PUT": ("PUT", "/espo-hmac/api/v1/Lead/{id}", b'{"status":"In Process"}', JSON),
}
UNSTABLE = frozenset({"date", "x-request-id"})


@pytest.mark.parametrize("name", SAME)
async def test_a_body_request_admitted_from_its_plan_goes_out_and_comes_back_as_the_first(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, name: str
) -> None:
    """Only the request's own id differs between the first request and the one its plan admits: the same
    upstream request, and the same answer with the answer filter applied (``api_key`` is not readable)."""
    now = time.time()
    stack = await gateway(
        aiohttp_server,
        aiohttp_client,
        tmp_path / "gw",
        "memo",
        decision=False,
        clock=lambda: now,
        policies={"allow-all": ALLOW_ALL},
    )
    method, target, body, content_type = SAME[name]
    if "{id}" in target:
        created = await posted(stack, "/espo-hmac/api/v1/Lead", LEAD, stack.bearer(), content_type=JSON)
        target = target.format(id=created.json()["id"])
    token = stack.token()
    sent: list[ReceivedRequest] = []
    answers: list[tuple[int, list[tuple[str, str]], bytes]] = []
    hits = stack.runtime.admissions.hits
    for request_id in ("first-id", "second-id"):
        headers = {"X-Api-Key": token, "X-Request-ID": request_id, "X-Forwarded-For": request_id}
        before = len(stack.received())
        answer = await posted(stack, target, body, headers, content_type=content_type, method=method)
        assert answer.status == 200, answer.body[:300]
        assert answer.headers["X-Request-ID"] == request_id
        kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in UNSTABLE]
        answers.append((answer.status, kept, answer.body))
        [received] = stack.received()[before:]
        assert received.headers.pop("X-Request-ID") == request_id
        sent.append(received)
    assert stack.runtime.admissions.hits - hits == 1
    assert sent[0] == sent[1]
    assert sent[0].body  # the body went upstream
    if not name.startswith("Espo POST"):  # a second create answers with another record id
        assert answers[0] == answers[1]
    if name.startswith("v3"):
        values = json.loads(answers[1][2])["values"]
        assert values and all("display_name" in v and "api_key" not in v for v in values)
