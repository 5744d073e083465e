"""Acting as the person in decision mode (the gateway as authorizer behind a front proxy): the same
admission, so the credential the front proxy is told to set names the person; an identity the front proxy
cannot apply (EspoCRM's X-Another-User is outside the decision contract) is refused when the config loads."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from gateway.decision import contract
from gateway.decision.denial import decode
from gateway.errors import ConfigError
from tests.integration.test_decision_support import send
from tests.support.people import ADA, ESPO_ADMIN, ESPO_ADMIN_PASSWORD, people_civi_config, people_espo_config
from tests.support.stack import Stack, start_stack

POLICY = """
policy: staff
subjects: {roles: [staff]}
entities:
  Contact: {get: allow}
  Lead: {read: allow}
fields:
  "*": {allow: [api_key]}
"""
RULES = f"""
  - match: {{roles: staff}}
    civi-jwt: {{contact_id: {{claim: civicrm_contact_id}}}}
    espo-basic:
      username: {ESPO_ADMIN}
      password: '${{env:ESPO_ADMIN_PASSWORD}}'
      act_as: {{claim: preferred_username}}
"""
DECISION = "decision:\n  trusted_proxies: [127.0.0.1/32]\n  upstreams: [civi-jwt]\n"
GET = "/civi-jwt/civicrm/ajax/api4/Contact/get?params=" + quote(json.dumps({"select": ["id"]}), safe="")


async def decide(stack: Stack, target: str, **claims: Any) -> Any:
    asked = {
        **stack.bearer("staff-app", roles=["staff"], **claims),
        "X-Original-Method": "GET",
        "X-Original-URI": target,
    }
    return await send(str(stack.client.make_url("")).rstrip("/"), "GET", "/_crm_gateway/authz", asked)


def jwt_claims(bearer: str) -> Any:
    payload = bearer.removeprefix("Bearer ").split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_decision_mode_acts_as_the_person_or_refuses(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    stack = await start_stack(
        aiohttp_server,
        aiohttp_client,
        tmp_path,
        policies={"staff": POLICY},
        civi_config=people_civi_config(),
        espo_config=people_espo_config(),
        identities_extra=RULES,
        extra=DECISION,
        environ={"ESPO_ADMIN_PASSWORD": ESPO_ADMIN_PASSWORD},
    )
    allowed = await decide(stack, GET, civicrm_contact_id=ADA)
    assert allowed.status == 200
    assert jwt_claims(allowed.headers[contract.set_header("X-Civi-Auth")])["sub"] == f"cid:{ADA}"
    missing = await decide(stack, GET)
    assert decode(missing.headers[contract.DENIAL]).status == 403
    assert stack.civi_received == [] and stack.espo_received == []


async def test_an_act_as_identity_keeps_its_upstream_out_of_decision_mode(
    aiohttp_server: Any, aiohttp_client: Any, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as refused:
        await start_stack(
            aiohttp_server,
            aiohttp_client,
            tmp_path,
            policies={"staff": POLICY},
            civi_config=people_civi_config(),
            espo_config=people_espo_config(),
            identities_extra=RULES,
            extra=DECISION.replace("[civi-jwt]", "[civi-jwt, espo-basic]"),
            environ={"ESPO_ADMIN_PASSWORD": ESPO_ADMIN_PASSWORD},
        )
    assert refused.value.key == "decision.upstreams"
    assert "upstream espo-basic" in refused.value.reason and "uses act_as" in refused.value.reason
    assert "X-Another-User" in refused.value.reason
