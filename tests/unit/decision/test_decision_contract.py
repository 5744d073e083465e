"""The pieces of the gateway <-> front proxy contract: the forwarded description, the refusal codec, the
header names, and how the headers to set upstream are found."""

from __future__ import annotations

import base64

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.decision import contract
from gateway.decision.answer import upstream_settings
from gateway.decision.denial import MAX_ENCODED, Denial, decode, encode
from gateway.decision.forwarded import read_forwarded, refuse_reserved_headers
from gateway.dialects.credentials import CLIENT_CREDENTIALS
from gateway.errors import BadRequest, GatewayError
from gateway.signers.base import OutboundRequest


def headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


def test_nginx_style() -> None:
    fwd = read_forwarded(
        headers(
            X_Original_Method="GET",
            X_Original_URI="/civi/x?a=1&b=%20#frag",
            X_Forwarded_Host="crm.example.org",
            X_Forwarded_For="10.0.0.1, 203.0.113.9",
            X_Forwarded_Proto="HTTPS",
        ),
        "127.0.0.1",
    )
    assert (fwd.style, fwd.method, fwd.host, fwd.scheme, fwd.client_ip) == (
        "nginx",
        "GET",
        "crm.example.org",
        "https",
        "203.0.113.9",
    )
    assert fwd.routing_path == "/civi/x"
    assert list(fwd.url.query.items()) == [("a", "1"), ("b", " ")]
    assert not fwd.declares_body


def test_forward_auth_style_falls_back_to_host_and_peer() -> None:
    fwd = read_forwarded(
        headers(X_Forwarded_Method="HEAD", X_Forwarded_Uri="/espo/api/v1/Lead", Host="h:8080"), "::1"
    )
    assert (fwd.style, fwd.method, fwd.host, fwd.client_ip, fwd.scheme) == (
        "forward-auth",
        "HEAD",
        "h:8080",
        "::1",
        "http",
    )


@pytest.mark.parametrize(
    ("length", "encoding", "declared"),
    [("", "", False), ("0", "", False), ("12", "", True), ("x", "", True), ("", "chunked", True)],
)
def test_a_declared_body(length: str, encoding: str, declared: bool) -> None:
    fwd = read_forwarded(
        headers(
            X_Original_Method="GET",
            X_Original_URI="/a",
            X_Original_Content_Length=length,
            X_Original_Transfer_Encoding=encoding,
        ),
        "127.0.0.1",
    )
    assert fwd.declares_body is declared


def test_repeated_description_is_refused() -> None:
    repeated = CIMultiDict([("X-Original-Method", "GET"), ("X-Original-URI", "/a"), ("X-Original-URI", "/b")])
    with pytest.raises(BadRequest, match="more than once"):
        read_forwarded(CIMultiDictProxy(repeated), "127.0.0.1")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("X-Crm-Set-X-Api-Key", "reserved-header"),
        ("x-crm-uri", "reserved-header"),
        ("X-Civi-Anything", "credential-header"),
        ("X-Hmac-Other", "credential-header"),
        ("Espo-Authorization-Extra", "credential-header"),
        ("X-Api-Key-2", "credential-header"),
    ],
)
def test_headers_the_client_may_not_send(name: str, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        refuse_reserved_headers(headers(**{name.replace("-", "_"): "x"}))
    assert caught.value.reason == reason


def test_credential_headers_every_front_proxy_strips_are_accepted() -> None:
    names = [*contract.SETTABLE, *contract.STRIPPED, "Accept", "X-Custom"]
    refuse_reserved_headers(CIMultiDictProxy(CIMultiDict((name, "v") for name in names)))


def test_the_stripped_headers_cover_every_credential_of_proxy_mode() -> None:
    covered = {name.lower() for name in (*contract.SETTABLE, *contract.STRIPPED)}
    assert CLIENT_CREDENTIALS.issubset(covered)
    assert not covered & contract.FRONT_SETS


def test_denial_round_trip() -> None:
    denial = Denial(
        429, "application/json", (("Retry-After", "7"), ("X-Request-ID", "r-12345678")), b'{"a":"\xc3\xa9"}'
    )
    assert decode(encode(denial)) == denial
    assert Denial(401, "t", (), b"").auth_request_status == 401
    assert Denial(429, "t", (), b"").auth_request_status == 403


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "!!!",
        _raw("[]"),
        _raw('{"s": 200, "t": "x", "h": [], "b": ""}'),
        _raw('{"s": true, "t": "x", "h": [], "b": ""}'),
        _raw('{"s": 403, "t": "x\\r\\nSet-Cookie: a", "h": [], "b": ""}'),
        _raw('{"s": 403, "t": "x", "h": [["Bad Name", "v"]], "b": ""}'),
        _raw('{"s": 403, "t": "x", "h": [["X-A", "v\\nX-B: 1"]], "b": ""}'),
        _raw('{"s": 403, "t": "x", "h": [], "b": "***"}'),
        "A" * (MAX_ENCODED + 4),
    ],
)
def test_denials_the_gateway_could_not_have_made_are_refused(value: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(value)
    assert caught.value.reason == "bad-denial"


def _outbound(**set_headers: str) -> OutboundRequest:
    return OutboundRequest(
        "GET", "/api/v1/Lead", [], CIMultiDict({k.replace("_", "-"): v for k, v in set_headers.items()})
    )


def test_settings_are_what_the_gateway_changed() -> None:
    client = CIMultiDict({"Accept": "*/*", "X-Requested-With": "XMLHttpRequest"})
    out = _outbound(
        Accept="*/*",
        X_Requested_With="XMLHttpRequest",
        X_Forwarded_For="10.0.0.1",
        X_Request_ID="r-12345678",
        X_Api_Key="k",
    )
    assert upstream_settings(out, client) == {
        "X-Crm-Set-X-Request-ID": "r-12345678",
        "X-Crm-Set-X-Api-Key": "k",
    }


@pytest.mark.parametrize(
    "changed", [{"Content-Type": "application/x-www-form-urlencoded"}, {"Cookie": "a=b"}]
)
def test_a_change_no_front_proxy_config_applies_is_an_error(changed: dict[str, str]) -> None:
    out = _outbound()
    out.headers.update(changed)
    with pytest.raises(GatewayError) as caught:
        upstream_settings(out, CIMultiDict())
    assert caught.value.reason == "decision-unsupported" and caught.value.status == 500
