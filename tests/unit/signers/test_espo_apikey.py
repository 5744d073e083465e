from __future__ import annotations

import pytest
from multidict import CIMultiDict

from gateway.errors import ConfigError, GatewayError
from gateway.secrets import Secret
from gateway.signers.base import OutboundRequest
from gateway.signers.espo_apikey import EspoApiKeySigner
from gateway.signers.registry import spec_for

WHERE = "upstreams.espo.auth"


def request() -> OutboundRequest:
    return OutboundRequest("GET", "/api/v1/Lead", [("maxSize", "5")], CIMultiDict())


def test_api_key_goes_into_x_api_key() -> None:
    spec = spec_for("espo-apikey")
    assert spec is not None
    outbound = request()
    signer = spec.factory({}, WHERE)
    assert isinstance(signer, EspoApiKeySigner)
    signer.sign(outbound, {"api_key": Secret("k-0123456789")}, now=0.0)
    assert outbound.headers.getall("X-Api-Key") == ["k-0123456789"]
    assert outbound.query == [("maxSize", "5")]
    assert spec.identity_fields == frozenset({"api_key"})
    assert spec.dialects == frozenset({"espocrm"})


@pytest.mark.parametrize("option", ["digest", "api_key", "header"])
def test_any_option_is_unknown(option: str) -> None:
    spec = spec_for("espo-apikey")
    assert spec is not None
    with pytest.raises(ConfigError) as caught:
        spec.factory({option: "x"}, WHERE)
    assert caught.value.key == f"{WHERE}.{option}"


@pytest.mark.parametrize(
    "identity",
    [{}, {"api_key": Secret("")}, {"api_key": Secret("abc\ndef")}, {"api_key": Secret("a\rb")}],
)
def test_an_unusable_api_key_is_refused(identity: dict[str, Secret]) -> None:
    spec = spec_for("espo-apikey")
    assert spec is not None
    outbound = request()
    with pytest.raises(GatewayError) as caught:
        spec.factory({}, WHERE).sign(outbound, identity, now=0.0)
    assert caught.value.status == 500
    assert "abc" not in caught.value.message
    assert "X-Api-Key" not in outbound.headers
