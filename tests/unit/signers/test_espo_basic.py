from __future__ import annotations

import base64

import pytest
from multidict import CIMultiDict

from gateway.errors import ConfigError, GatewayError
from gateway.secrets import Secret
from gateway.signers.base import OutboundRequest
from gateway.signers.espo_basic import EspoBasicSigner, EspoTokenSigner
from gateway.signers.registry import spec_for

WHERE = "upstreams.espo.auth"


def sign(scheme: str, identity: dict[str, Secret]) -> CIMultiDict[str]:
    spec = spec_for(scheme)
    assert spec is not None
    outbound = OutboundRequest("GET", "/api/v1/App/user", [], CIMultiDict())
    spec.factory({}, WHERE).sign(outbound, identity, now=0.0)
    return outbound.headers


def decoded(value: str) -> str:
    return base64.b64decode(value, validate=True).decode()


def test_basic_sends_username_and_password() -> None:
    headers = sign("espo-basic", {"username": Secret("jane"), "password": Secret("pa:ss wörd")})
    assert decoded(headers["Espo-Authorization"]) == "jane:pa:ss wörd"
    assert "Espo-Authorization-By-Token" not in headers
    assert "Authorization" not in headers


def test_token_sends_username_token_and_the_by_token_flag() -> None:
    headers = sign("espo-token", {"username": Secret("jane"), "token": Secret("0123abcd")})
    assert decoded(headers["Espo-Authorization"]) == "jane:0123abcd"
    assert headers.getall("Espo-Authorization-By-Token") == ["true"]


@pytest.mark.parametrize(
    ("scheme", "fields", "signer_class"),
    [
        ("espo-basic", {"username", "password"}, EspoBasicSigner),
        ("espo-token", {"username", "token"}, EspoTokenSigner),
    ],
)
def test_registration_and_options(scheme: str, fields: set[str], signer_class: type) -> None:
    spec = spec_for(scheme)
    assert spec is not None
    assert isinstance(spec.factory({}, WHERE), signer_class)
    assert spec.identity_fields == frozenset(fields)
    assert spec.dialects == frozenset({"espocrm"})
    with pytest.raises(ConfigError) as caught:
        spec.factory({"realm": "x"}, WHERE)
    assert caught.value.key == f"{WHERE}.realm"


@pytest.mark.parametrize(
    ("scheme", "identity"),
    [
        ("espo-basic", {"username": Secret("ja:ne"), "password": Secret("hunter22")}),
        ("espo-basic", {"username": Secret(" jane"), "password": Secret("hunter22")}),
        ("espo-basic", {"username": Secret("jane"), "password": Secret("hunter22 ")}),
        ("espo-basic", {"username": Secret("jane")}),
        ("espo-token", {"username": Secret("jane"), "token": Secret("")}),
        ("espo-token", {"username": Secret("jane"), "token": Secret("hunter22\n")}),
    ],
)
def test_identities_the_server_would_refuse_are_refused(scheme: str, identity: dict[str, Secret]) -> None:
    with pytest.raises(GatewayError) as caught:
        sign(scheme, identity)
    assert "hunter22" not in caught.value.message
