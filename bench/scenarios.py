"""The requests the benchmark sends, each to the gateway and (path without the prefix) straight upstream."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from bench.wrk import Load


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    method: str
    gateway_path: str
    upstream_path: str
    body: str = ""
    content_type: str = ""

    def load(self, token: str, *, via_gateway: bool) -> Load:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if self.content_type:
            headers["Content-Type"] = self.content_type
        return Load(
            path=self.gateway_path if via_gateway else self.upstream_path,
            method=self.method,
            headers=headers,
            body=self.body,
        )


_ESPO_PATH = "/api/v1/Lead?maxSize=5&select=name%2CemailAddress"
ESPO = Scenario(
    name="espo-hmac",
    description="GET EspoCRM Lead list, RS256 JWT in, HMAC-signed out",
    method="GET",
    gateway_path="/espo" + _ESPO_PATH,
    upstream_path=_ESPO_PATH,
)

_V4_PATH = "/civicrm/ajax/api4/Contact/get?params=" + quote(
    json.dumps({"select": ["display_name", "email_primary.email"], "limit": 25}, separators=(",", ":")),
    safe="",
)
CIVI_V4 = Scenario(
    name="civi-v4-authx",
    description="GET CiviCRM APIv4 Contact.get with an implicit join, AuthX JWT minted (and reused) out",
    method="GET",
    gateway_path="/civi" + _V4_PATH,
    upstream_path=_V4_PATH,
)

_V3_CHAIN = {"sequential": 1, "return": "display_name", "api.Email.get": {}, "api.Phone.get": {}}
CIVI_V3_CHAIN = Scenario(
    name="civi-v3-chain",
    description="POST CiviCRM APIv3 Contact.get chaining Email.get and Phone.get: form body parsed, "
    "every operation authorized, body re-encoded",
    method="POST",
    gateway_path="/civi/civicrm/ajax/rest",
    upstream_path="/civicrm/ajax/rest",
    body=urlencode({"entity": "Contact", "action": "get", "json": json.dumps(_V3_CHAIN)}),
    content_type="application/x-www-form-urlencoded",
)

ALL = (ESPO, CIVI_V4, CIVI_V3_CHAIN)
