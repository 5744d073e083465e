"""The admission memo (gateway/admission_memo.py) changes nothing a client can observe: with the memo warm
(the same request with the same token admitted before), whatever can change between two identical
requests still decides, exactly as with the memo switched off. Each case runs twice, memo on and off, over
real sockets to a real aiohttp gateway and the sandbox CRMs, in proxy mode and through the decision
endpoint."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.admission_memo import AdmissionMemo, Plan
from gateway.decision import contract
from gateway.decision.denial import decode
from gateway.principal import Principal
from gateway.reload import Reloader
from gateway.sandbox.received import ReceivedRequest
from tests.integration.test_decision_support import API_KEY_READABLE, DECISION, POLICIES, Answer, send
from tests.integration.test_identity_people import LOOKUPS, RULES, lookups
from tests.support.people import STAFF_POLICY, SVC_POLICY, people_civi_config, people_espo_config
from tests.support.stack import ENV, Stack, start_stack

LEADS = "/espo-key/api/v1/Lead?maxSize=1"
CONTACTS = '/civi-jwt/civicrm/ajax/api4/Contact/get?params={"select":["id"]}'
MODES = ("memo", "no-memo")


class _Off(AdmissionMemo):
    """A memo that never answers: the gateway as it was without one."""

    def get(self, key: Hashable, principal: Principal) -> Plan | None:
        return None


def switch(stack: Stack, mode: str) -> None:
    if mode == "no-memo":
        stack.runtime.admissions = _Off()


async def gateway(
    aiohttp_server: Any, aiohttp_client: Any, root: Path, mode: str, *, decision: bool = True, **kwargs: Any
) -> Stack:
    root.mkdir(exist_ok=True)
    kwargs.setdefault("policies", POLICIES)
    if decision:
        kwargs["extra"] = DECISION + kwargs.get("extra", "")
    stack = await start_stack(aiohttp_server, aiohttp_client, root, **kwargs)
    switch(stack, mode)
    return stack


async def proxied(stack: Stack, target: str, headers: dict[str, str]) -> Answer:
    resp = await stack.client.get(URL(target, encoded=True), headers=headers)
    return Answer(resp.status, resp.headers, await resp.read())


async def decided(stack: Stack, target: str, headers: dict[str, str]) -> Answer:
    """The decision, or the refusal it encodes for nginx, as the client would see it."""
    asked = {**headers, "X-Original-Method": "GET", "X-Original-URI": target}
    answer = await send(str(stack.client.make_url("")).rstrip("/"), "GET", "/_crm_gateway/authz", asked)
    if contract.DENIAL in answer.headers:
        denial = decode(answer.headers[contract.DENIAL])
        return Answer(denial.status, CIMultiDictProxy(CIMultiDict(denial.headers)), denial.body)
    return answer


async def warm(stack: Stack, mode: str, target: str, headers: dict[str, str], *, status: int = 200) -> None:
    """The same request twice, both in proxy mode and through the decision endpoint; with the memo on,
    the second of each is answered from its plan."""
    hits = stack.runtime.admissions.hits
    for ask in (proxied, decided):
        for _ in range(2):
            assert (await ask(stack, target, headers)).status == status
    assert stack.runtime.admissions.hits - hits == (2 if mode == "memo" else 0)


@pytest.mark.parametrize("mode", MODES)
async def test_a_token_revoked_after_its_request_was_memoised_is_refused(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", mode)
    headers = stack.bearer()
    await warm(stack, mode, LEADS, headers)
    store = stack.runtime.authenticator.revocations.store
    await store.add("sub", "svc-test", time.time(), 3600)
    for ask in (proxied, decided):
        answer = await ask(stack, LEADS, headers)
        assert (answer.status, answer.reason) == (401, "token-revoked")


@pytest.mark.parametrize("mode", MODES)
async def test_a_memoised_token_past_its_exp_is_refused(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    now = [time.time()]
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", mode, clock=lambda: now[0])
    headers = stack.bearer(lifetime=60)
    await warm(stack, mode, LEADS, headers)
    now[0] += 120
    for ask in (proxied, decided):
        answer = await ask(stack, LEADS, headers)
        assert (answer.status, answer.reason) == (401, "token-expired")


DENY_LEADS = f"""
policy: test-allow-all
subjects: {{principals: [svc-test]}}
entities:
  Lead: {{read: deny}}
  "*": {{default: allow}}
{API_KEY_READABLE}"""


@pytest.mark.parametrize("mode", MODES)
async def test_a_reload_that_denies_the_request_drops_its_plan(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    reloaders: list[Reloader] = []
    root = tmp_path / "gw"

    def reloadable(app: web.Application) -> None:
        reloaders.append(Reloader(app, str(root / "gateway.yaml"), environ=ENV))

    stack = await gateway(aiohttp_server, aiohttp_client, root, mode, before_start=reloadable)
    headers = stack.bearer()
    await warm(stack, mode, LEADS, headers)
    before = stack.runtime
    (root / "policies" / "allow-all.yaml").write_text(DENY_LEADS)
    assert await reloaders[0].reload("test") == "ok"
    assert stack.runtime is not before and stack.runtime.authenticator is before.authenticator
    switch(stack, mode)
    for ask in (proxied, decided):
        answer = await ask(stack, LEADS, headers)
        assert (answer.status, answer.reason) == (403, "policy-denied")


LIMITED = {
    **POLICIES,
    "leads-limit": """
policy: leads-limit
subjects: {principals: [svc-test]}
limits:
  - {name: leads, entity: Lead, rate: 5/hour, burst: 5}
""",
}


@pytest.mark.parametrize("mode", MODES)
async def test_a_rate_limit_still_counts_and_refuses_memoised_requests(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", mode, policies=LIMITED)
    headers = stack.bearer()
    await warm(stack, mode, LEADS, headers)  # four of five
    assert (await proxied(stack, LEADS, headers)).status == 200
    for ask in (proxied, decided):
        answer = await ask(stack, LEADS, headers)
        assert (answer.status, answer.reason) == (429, "rate-limited")
        assert answer.headers["RateLimit"].startswith('"leads-limit:leads";r=0;')
    assert stack.metric("crmgw_ratelimited_total", upstream="espo-key", rule="leads-limit:leads") == 2


@pytest.mark.parametrize("mode", MODES)
async def test_an_open_breaker_refuses_memoised_requests_in_both_modes(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    stack = await gateway(
        aiohttp_server,
        aiohttp_client,
        tmp_path / "gw",
        mode,
        upstream_extra={"espo-basic": "breaker: {failures: 3, cooldown_seconds: 600}"},
        environ={"ESPO_PASSWORD": "not-the-password"},
    )
    headers, target = stack.bearer(), "/espo-basic/api/v1/Lead"
    hits = stack.runtime.admissions.hits
    for _ in range(2):  # the decision is taken while the breaker is closed
        assert (await decided(stack, target, headers)).status == 200
    for _ in range(3):  # the CRM refuses the gateway's password: the breaker opens
        assert (await proxied(stack, target, headers)).status == 401
    assert stack.runtime.admissions.hits - hits == (3 if mode == "memo" else 0)
    for ask in (proxied, decided):
        answer = await ask(stack, target, headers)
        assert (answer.status, answer.reason) == (503, "upstream-credential-rejected")
    assert stack.metric("crmgw_upstream_rejected_total", upstream="espo-basic", reason="breaker_open") == 2


@pytest.mark.parametrize("mode", MODES)
async def test_a_looked_up_person_is_looked_up_again_when_the_look_up_expires(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    stack = await gateway(
        aiohttp_server,
        aiohttp_client,
        tmp_path / "gw",
        mode,
        decision=False,  # these policies do not let a decision hand out CiviCRM answers
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
    target = "/civi-jwt-header/civicrm/ajax/api4/Contact/get?params=%7B%22select%22:%5B%22id%22%5D%7D"
    for _ in range(2):
        assert (await proxied(stack, target, headers)).status == 200
    assert len(lookups(stack)) == 1
    now[0] += 61  # past ttl_seconds: 60
    assert (await proxied(stack, target, headers)).status == 200
    assert len(lookups(stack)) == 2
    assert stack.runtime.admissions.hits == 0  # an identity from a look-up is never memoised


def minted(answer: Answer) -> dict[str, Any]:
    token = answer.headers[contract.set_header("X-Civi-Auth")].removeprefix("Bearer ")
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.parametrize("mode", MODES)
async def test_a_minted_authx_jwt_is_minted_anew_past_its_lifetime(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, mode: str
) -> None:
    now = [time.time()]
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", mode, clock=lambda: now[0])
    headers = stack.bearer(lifetime=3600)
    await warm(stack, mode, CONTACTS, headers)
    first = minted(await decided(stack, CONTACTS, headers))
    assert first["exp"] == int(now[0]) + 300
    now[0] += 400  # past the minted JWT's ttl_seconds: 300
    answer = await decided(stack, CONTACTS, headers)
    assert answer.status == 200
    assert minted(answer)["exp"] == int(now[0]) + 300


SAME = {
    "espo-key": "/espo-key/api/v1/Lead?maxSize=1&select=name&orderBy=name",
    "espo-hmac": "/espo-hmac/api/v1/Lead/some%24id",
    "civi-jwt": CONTACTS,
    "civi-keys": "/civi-keys/civicrm/extern/rest.php?entity=Contact&action=get&json=1",
    "civi-basic": "/civi-basic/civicrm/ajax/api4/Contact/get",
}


@pytest.mark.parametrize("name", SAME)
async def test_a_request_admitted_from_its_plan_goes_out_exactly_as_the_first(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path, name: str
) -> None:
    """Only the request's own id differs between the first request and the one its plan admits: the same
    upstream request in proxy mode, the same answer to the front proxy in decision mode."""
    now = time.time()
    stack = await gateway(aiohttp_server, aiohttp_client, tmp_path / "gw", "memo", clock=lambda: now)
    target, token = SAME[name], stack.token()
    sent: list[ReceivedRequest] = []
    statuses: list[int] = []
    for request_id in ("first-id", "second-id"):
        headers = {"X-Api-Key": token, "X-Request-ID": request_id, "X-Forwarded-For": request_id}
        statuses.append((await proxied(stack, target, headers)).status)
        [received] = stack.received()[len(sent) :]
        assert received.headers.pop("X-Request-ID") == request_id
        sent.append(received)
    assert sent[0] == sent[1]
    assert statuses[0] == statuses[1]
    if name == "civi-keys":  # its credential travels in the query: proxy mode only
        assert stack.runtime.admissions.hits == 1
        return
    answers = []
    for request_id in ("first-id", "second-id"):
        headers = {"X-Api-Key": token, "X-Request-ID": request_id}
        answer = await decided(stack, target, headers)
        assert answer.status == 200, answer.body
        told = CIMultiDict(answer.headers)
        assert told.popall(contract.set_header("X-Request-ID")) == [request_id]
        assert told.popall(contract.reply_header("X-Request-ID")) == [request_id]
        answers.append([(k, v) for k, v in told.items() if k.startswith("X-Crm-")])
    assert answers[0] == answers[1]
    assert stack.runtime.admissions.hits == 2
