from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from multidict import CIMultiDict

from gateway.errors import ConfigError, Forbidden, GatewayError
from gateway.secrets import Secret
from gateway.signers.base import OutboundRequest
from gateway.signers.espo_hmac import EspoHmacSigner
from gateway.signers.registry import spec_for

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "espo-hmac.json").read_text())["vectors"]
WHERE = "upstreams.espo.auth"


def upstream_of(vector: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(upstream base path, signer options) that make the vector's API base path."""
    base = vector["base_path"]
    if base.endswith("/api/v1/index.php"):
        return base.removesuffix("/api/v1/index.php"), {"api_path": "/api/v1/index.php"}
    return base.removesuffix("/api/v1"), {}


def request_for(vector: dict[str, str], base_path: str, method: str | None = None) -> OutboundRequest:
    parts = urlsplit(vector["request_uri"])
    return OutboundRequest(
        method=method or vector["method"],
        path=parts.path,
        query=parse_qsl(parts.query, keep_blank_values=True),
        headers=CIMultiDict(),
        base_path=base_path,
    )


def identity(api_key: str, secret_key: str) -> dict[str, Secret]:
    return {"api_key": Secret(api_key), "secret_key": Secret(secret_key)}


def build(options: dict[str, object]) -> EspoHmacSigner:
    spec = spec_for("espo-hmac")
    assert spec is not None
    signer = spec.factory(options, WHERE)
    assert isinstance(signer, EspoHmacSigner)
    return signer


@pytest.mark.parametrize("digest", ["hex", "raw"])
@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['method']} {v['request_uri']}" for v in VECTORS])
def test_signer_reproduces_every_vector(vector: dict[str, str], digest: str) -> None:
    base_path, options = upstream_of(vector)
    signer = build({"digest": digest, **options})
    request = request_for(vector, base_path)

    signer.sign(request, identity(vector["api_key"], vector["secret_key"]), now=0.0)

    assert signer.resource_path(request) == vector["resource_path"]
    assert request.headers["X-Hmac-Authorization"] == vector[f"header_{digest}"]
    assert len(request.headers.getall("X-Hmac-Authorization")) == 1


def test_hex_is_the_default_digest() -> None:
    vector = VECTORS[0]
    request = request_for(vector, "")
    build({}).sign(request, identity(vector["api_key"], vector["secret_key"]), now=0.0)
    assert request.headers["X-Hmac-Authorization"] == vector["header_hex"]


def test_method_is_upper_cased_and_query_is_not_signed() -> None:
    vector = VECTORS[0]
    lower = request_for(vector, "", method="get")
    lower.query = [("maxSize", "5"), ("offset", "400")]
    build({}).sign(lower, identity(vector["api_key"], vector["secret_key"]), now=0.0)
    assert lower.headers["X-Hmac-Authorization"] == vector["header_hex"]


def test_trailing_slash_of_the_base_path_is_ignored() -> None:
    vector = next(v for v in VECTORS if v["base_path"] == "/crm/api/v1")
    request = request_for(vector, "/crm/")
    build({}).sign(request, identity(vector["api_key"], vector["secret_key"]), now=0.0)
    assert request.headers["X-Hmac-Authorization"] == vector["header_hex"]


def test_secrets_are_not_mixed_up_between_identities() -> None:
    first, second = VECTORS[0], next(v for v in VECTORS if v["api_key"] != VECTORS[0]["api_key"])
    signer = build({})
    for vector in (first, second, first):
        request = OutboundRequest("GET", "/api/v1/Lead", [], CIMultiDict())
        signer.sign(request, identity(vector["api_key"], vector["secret_key"]), now=0.0)
        expected = hmac.new(vector["secret_key"].encode(), b"GET /Lead", hashlib.sha256).hexdigest()
        sent = base64.b64decode(request.headers["X-Hmac-Authorization"]).decode()
        assert sent == f"{vector['api_key']}:{expected}"
    assert vector["secret_key"] not in repr(signer)


@pytest.mark.parametrize(
    ("path", "base_path"),
    [
        ("/Lead", ""),
        ("/api/v1", ""),
        ("/api/v1x/Lead", ""),
        ("/crm/api/v1/Lead", ""),
        ("/api/v1/Lead", "/crm"),
        ("/other/api/v1/Lead", "/crm"),
    ],
)
def test_a_path_outside_the_api_is_refused(path: str, base_path: str) -> None:
    request = OutboundRequest("GET", path, [], CIMultiDict(), base_path=base_path)
    with pytest.raises(Forbidden, match="not an EspoCRM API path"):
        build({}).sign(request, identity("key", "secret"), now=0.0)
    assert "X-Hmac-Authorization" not in request.headers


def test_the_signed_path_is_what_the_server_reencodes() -> None:
    request = OutboundRequest("GET", "/api/v1/Lead/(x)!*'", [], CIMultiDict())
    assert build({}).resource_path(request) == "/Lead/%28x%29%21%2A%27"


@pytest.mark.parametrize(
    ("options", "bad_key"),
    [
        ({"digest": "HEX"}, "digest"),
        ({"digest": "base64"}, "digest"),
        ({"digest": 1}, "digest"),
        ({"digest": Secret("hex")}, "digest"),
        ({"api_path": "api/v1"}, "api_path"),
        ({"api_path": "/api/v1/"}, "api_path"),
        ({"api_path": "/api v1"}, "api_path"),
        ({"api_path": "/api%2Fv1"}, "api_path"),
        ({"api_path": 1}, "api_path"),
        ({"nonce": True}, "nonce"),
        ({"secret_key": Secret("s3cr3t-value")}, "secret_key"),
    ],
)
def test_bad_options_are_refused_at_load(options: dict[str, object], bad_key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(options)
    assert caught.value.key == f"{WHERE}.{bad_key}"
    assert "s3cr3t-value" not in str(caught.value)


@pytest.mark.parametrize("api_path", ["", "/api/v1", "/api/v1/index.php", "/espo/api/v1"])
def test_good_api_paths_are_accepted(api_path: str) -> None:
    assert build({"api_path": api_path}).api_path == api_path


def test_registration() -> None:
    spec = spec_for("espo-hmac")
    assert spec is not None
    assert spec.identity_fields == frozenset({"api_key", "secret_key"})
    assert spec.dialects == frozenset({"espocrm"})


@pytest.mark.parametrize(
    "ident",
    [
        {"api_key": Secret("k")},
        {"api_key": Secret("k"), "secret_key": Secret("")},
        {"api_key": Secret("k\r\nX-Evil: 1"), "secret_key": Secret("topsecret")},
    ],
)
def test_an_unusable_identity_is_refused_without_leaking_it(ident: dict[str, Secret]) -> None:
    request = OutboundRequest("GET", "/api/v1/Lead", [], CIMultiDict())
    with pytest.raises(GatewayError) as caught:
        build({}).sign(request, ident, now=0.0)
    assert caught.value.status == 500
    assert "topsecret" not in str(caught.value) and "X-Evil" not in str(caught.value)
    assert "X-Hmac-Authorization" not in request.headers


@pytest.mark.parametrize("digest", ["hex", "raw"])
def test_a_remembered_signature_is_the_one_a_fresh_signer_computes(digest: str) -> None:
    """Headers are remembered by (method, base path, path); each signed again equals a fresh signer's."""
    signer = build({"digest": digest})
    cases = [
        ("GET", "/crm", "/crm/api/v1/Lead"),
        ("get", "/crm", "/crm/api/v1/Lead"),
        ("DELETE", "/crm", "/crm/api/v1/Lead"),
        ("GET", "", "/api/v1/Lead"),
        ("GET", "/crm", "/crm/api/v1/Lead/1"),
        ("GET", "/crm", "/crm/api/v1/" + "x" * 600),
    ]
    for _ in range(3):
        for who in (identity("key-a", "secret-a"), identity("key-b", "secret-b")):
            for method, base, path in cases:
                request = OutboundRequest(method, path, [], CIMultiDict(), base_path=base)
                fresh = OutboundRequest(method, path, [], CIMultiDict(), base_path=base)
                signer.sign(request, who, 0.0)
                build({"digest": digest}).sign(fresh, who, 0.0)
                assert request.headers["X-Hmac-Authorization"] == fresh.headers["X-Hmac-Authorization"]
                assert request.secrets == fresh.secrets


def test_a_refused_path_is_refused_every_time() -> None:
    signer = build({})
    for _ in range(3):
        request = OutboundRequest("GET", "/crm/other", [], CIMultiDict(), base_path="/crm")
        with pytest.raises(Forbidden):
            signer.sign(request, identity("k", "s"), 0.0)
        assert "X-Hmac-Authorization" not in request.headers


def test_remembered_signatures_stay_bounded() -> None:
    signer = build({})
    who = identity("k", "s")
    for number in range(3000):
        request = OutboundRequest("GET", f"/api/v1/Lead/{number}", [], CIMultiDict(), base_path="")
        signer.sign(request, who, 0.0)
    assert 0 < len(next(iter(signer._credentials.values())).signed) <= 1024
