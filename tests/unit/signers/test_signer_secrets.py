"""Every signer lists each value it injects (and each secret part of it) in ``OutboundRequest.secrets``:
whatever the request carries that the client did not send is covered by the answer's credential guard."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from gateway.secrets import Secret
from gateway.signers.base import OutboundRequest
from gateway.signers.registry import spec_for

SITE = Secret("site-key-123456", "test")
SIGN_KEYS = Secret("jwt-hs256:hkdf-sha256:oracle-sign-secret-1", "test")
IDENTITIES: dict[str, dict[str, str]] = {
    "civicrm-keys": {"api_key": "user-api-key"},
    "authx-apikey": {"api_key": "user-api-key"},
    "authx-basic": {"username": "svc", "password": "pass-word-1"},
    "authx-jwt": {"contact_id": "42"},
    "espo-apikey": {"api_key": "espo-api-key-1"},
    "espo-hmac": {"api_key": "espo-api-key-1", "secret_key": "espo-secret-1"},
    "espo-basic": {"username": "svc", "password": "pass-word-1"},
    "espo-token": {"username": "svc", "token": "token-value-1"},
}
OPTIONS: dict[str, dict[str, Any]] = {
    "civicrm-keys": {"site_key": SITE},
    "authx-apikey": {"site_key": SITE},
    "authx-basic": {"site_key": SITE},
    "authx-jwt": {"sign_keys": SIGN_KEYS},
}
CASES = [
    (scheme, flow)
    for scheme in IDENTITIES
    for flow in (("xheader", "header", "param") if scheme.startswith("authx") else (None,))
]


@pytest.mark.parametrize(("scheme", "flow"), CASES)
def test_every_injected_value_is_listed(scheme: str, flow: str | None) -> None:
    spec = spec_for(scheme)
    assert spec is not None
    options = {**OPTIONS.get(scheme, {}), **({"flow": flow} if flow else {})}
    signer = spec.factory(options, "upstreams.x.auth")
    out = OutboundRequest("GET", "/api/v1/Lead", [("a", "1")], CIMultiDict({"Accept": "*/*"}))
    signer.sign(out, {k: Secret(v, "test") for k, v in IDENTITIES[scheme].items()}, 1_700_000_000.0)
    added = [v for k, v in out.query if k != "a"] + [v for k, v in out.headers.items() if k != "Accept"]
    added = [v for v in added if v != "true"]  # Espo-Authorization-By-Token: true is no secret
    assert added
    for value in added:
        assert any(secret in value for secret in out.secrets), value
    for name, value in IDENTITIES[scheme].items():
        if name not in ("username", "contact_id"):
            assert value in out.secrets, name
