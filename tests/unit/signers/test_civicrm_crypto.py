"""CiviCRM sign keys and AuthX JWTs against the vectors computed with the real CryptoRegistry/CryptoJwt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.sandbox.civicrm_jwt import CryptoError, MalformedTokenError, decode_jwt, parse_sign_keys
from gateway.signers.civicrm_crypto import (
    SignKeyError,
    b64url_encode,
    derive_kid,
    hkdf_sha256,
    mint_jwt,
    php_base64_decode,
    signing_key_for_gateway,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "civicrm-authx-jwt.json").read_text()
)
ACCEPT = VECTORS["accept"]
REJECT = VECTORS["reject"]
SEMANTICS = VECTORS["authx_semantics"]
NOW = 1_700_000_000  # before every vector's exp, after none of their nbf
STRICT_ACCEPT = [v for v in ACCEPT if v["name"] != "secret-with-colons-is-truncated"]


def ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


@pytest.mark.parametrize("vector", ACCEPT, ids=ids(ACCEPT))
def test_server_parsing_matches_every_registry_key(vector: dict[str, Any]) -> None:
    keys = parse_sign_keys(vector["sign_keys"])
    assert [(k.kid, k.suite, k.weight, k.key.hex()) for k in keys] == [
        (k["kid"], k["suite"], k["weight"], k["key_hex"]) for k in vector["all_sign_keys"]
    ]


@pytest.mark.parametrize("vector", ACCEPT, ids=ids(ACCEPT))
def test_mint_reproduces_vector_byte_for_byte(vector: dict[str, Any]) -> None:
    key = next(k for k in parse_sign_keys(vector["sign_keys"]) if k.kid == vector["kid"])
    assert key.key.hex() == vector["derived_key_hex"]
    assert key.alg == vector["alg"]
    token = mint_jwt(vector["claims"], key)
    head, body, signature = token.split(".")
    assert php_base64_decode(head.replace("-", "+").replace("_", "/")).decode() == vector["header_json"]
    assert php_base64_decode(body.replace("-", "+").replace("_", "/")).decode() == vector["payload_json"]
    assert f"{head}.{body}" == vector["signing_input"]
    assert signature == vector["signature_b64url"]
    assert token == vector["jwt"]


@pytest.mark.parametrize("vector", ACCEPT, ids=ids(ACCEPT))
def test_decode_accepts_every_accept_vector(vector: dict[str, Any]) -> None:
    assert decode_jwt(vector["jwt"], parse_sign_keys(vector["sign_keys"]), NOW) == vector["claims"]


@pytest.mark.parametrize("vector", REJECT, ids=ids(REJECT))
def test_decode_refuses_every_reject_vector_with_the_server_message(vector: dict[str, Any]) -> None:
    with pytest.raises(CryptoError) as caught:
        decode_jwt(vector["jwt"], parse_sign_keys(vector["verifier_sign_keys"]), NOW)
    assert vector["decode_error"] == f"Civi\\Crypto\\Exception\\CryptoException: {caught.value}"


@pytest.mark.parametrize("vector", SEMANTICS, ids=ids(SEMANTICS))
def test_authx_semantic_vectors_are_validly_signed(vector: dict[str, Any]) -> None:
    assert decode_jwt(vector["jwt"], parse_sign_keys(vector["verifier_sign_keys"]), NOW) == vector["claims"]


def test_expiry_boundary_is_inclusive_like_php_jwt() -> None:
    vector = ACCEPT[0]
    keys = parse_sign_keys(vector["sign_keys"])
    exp = vector["claims"]["exp"]
    assert decode_jwt(vector["jwt"], keys, exp - 1)["exp"] == exp
    with pytest.raises(CryptoError, match="Expired token"):
        decode_jwt(vector["jwt"], keys, exp)


@pytest.mark.parametrize("vector", STRICT_ACCEPT, ids=ids(STRICT_ACCEPT))
def test_gateway_signs_with_the_first_jwt_entry(vector: dict[str, Any]) -> None:
    key = signing_key_for_gateway(vector["sign_keys"])
    assert key.kid == vector["all_sign_keys"][0]["kid"]
    assert key.key.hex() == vector["all_sign_keys"][0]["key_hex"]


def test_kid_is_base64url_sha1_of_suite_nul_key() -> None:
    key = bytes(range(32))
    assert derive_kid("jwt-hs256", key) == "pag0i-ty4NUGaGUwRaAOTEUrzNA"
    assert derive_kid("jwt-hs512", key) != derive_kid("jwt-hs256", key)
    assert "=" not in derive_kid("jwt-hs256", key)


def test_hkdf_matches_the_vector_derivation() -> None:
    assert hkdf_sha256(b"oracle-sign-secret-1").hex() == ACCEPT[0]["derived_key_hex"]
    with pytest.raises(SignKeyError):
        hkdf_sha256(b"")


def test_non_jwt_entries_are_skipped_by_signing_and_verification() -> None:
    keys = "aes-cbc:hkdf-sha256:some-aes-key jwt-hs256:hkdf-sha256:oracle-sign-secret-1"
    key = signing_key_for_gateway(keys)
    assert key.kid == ACCEPT[0]["kid"]
    assert decode_jwt(ACCEPT[0]["jwt"], parse_sign_keys(keys), NOW)["sub"] == "cid:2"


def test_no_jwt_key_at_all_fails_signature_verification() -> None:
    with pytest.raises(CryptoError, match=r"^Signature verification failed$"):
        decode_jwt(ACCEPT[0]["jwt"], parse_sign_keys("aes-cbc:hkdf-sha256:abc"), NOW)


@pytest.mark.parametrize(
    ("sign_keys", "fragment"),
    [
        ("jwt-hs256:hkdf-sha256:a:b", "no ':' inside the value"),
        ("aes-cbc:hkdf-sha256:only-aes", "no jwt-* entry"),
        ("jwt-hs256:hkdf-sha256:", "empty value"),
        ("jwt-hs256:pbkdf2:abc", "unknown kdf"),
        ("jwt-hs256:b64:not*base64", "not valid base64"),
        ("jwt-hs256:hkdf-sha256:a  jwt-hs256:hkdf-sha256:b", "entry #2 is empty"),
        ("jwt-rs256:hkdf-sha256:abc", "cannot sign with"),
        ("jwt-hs256", "must be <suite>:<kdf>:<value>"),
        ("", "entry #1 is empty"),
    ],
)
def test_gateway_refuses_sign_keys_it_would_misread(sign_keys: str, fragment: str) -> None:
    with pytest.raises(SignKeyError) as caught:
        signing_key_for_gateway(sign_keys)
    assert fragment in str(caught.value)


def test_refusal_messages_never_contain_the_secret() -> None:
    with pytest.raises(SignKeyError) as caught:
        signing_key_for_gateway("jwt-hs256:hkdf-sha256:topsecretvalue:tail")
    assert "topsecretvalue" not in str(caught.value)
    assert "topsecretvalue" not in repr(parse_sign_keys("jwt-hs256:hkdf-sha256:topsecretvalue")[0])


@pytest.mark.parametrize(
    ("sign_keys", "fragment"),
    [
        ("jwt-hs256:pbkdf2:abc", "unrecognized kdf"),
        ("jwt-hs256", "unrecognized kdf"),
        ("jwt-hs256:b64:", "empty"),
    ],
)
def test_server_parsing_refuses_keys_a_real_site_cannot_load(sign_keys: str, fragment: str) -> None:
    with pytest.raises(SignKeyError, match=fragment):
        parse_sign_keys(sign_keys)


def test_duplicate_entries_collapse_by_kid_like_the_registry() -> None:
    keys = parse_sign_keys("jwt-hs256:hkdf-sha256:x jwt-hs256::x")
    assert len(keys) == 1
    assert keys[0].weight == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AAECAw==", b"\x00\x01\x02\x03"),
        ("AAECAw", b"\x00\x01\x02\x03"),
        ("AA=EC*Aw", b"\x00\x01\x02\x03"),
        ("AAECA", b"\x00\x01\x02"),
        ("", b""),
    ],
)
def test_php_base64_decode_is_lenient_like_php(text: str, expected: bytes) -> None:
    assert php_base64_decode(text) == expected


def _forge(header: dict[str, Any] | str, payload: dict[str, Any] | str, key: bytes = b"k") -> str:
    import hashlib
    import hmac

    def seg(part: dict[str, Any] | str) -> str:
        return b64url_encode((part if isinstance(part, str) else json.dumps(part)).encode())

    signing = f"{seg(header)}.{seg(payload)}"
    return signing + "." + b64url_encode(hmac.new(key, signing.encode(), hashlib.sha256).digest())


KEYS = parse_sign_keys("jwt-hs256:hkdf-sha256:oracle-sign-secret-1")
KID = KEYS[0].kid


@pytest.mark.parametrize(
    ("token", "outcome"),
    [
        ("not-a-jwt", CryptoError),
        ("a.b", CryptoError),
        (_forge("{not json", {"sub": "cid:1"}), MalformedTokenError),
        (_forge({"typ": "JWT", "kid": KID}, {"sub": "cid:1"}), CryptoError),
        (_forge({"alg": "HS256", "kid": KID}, "7"), CryptoError),
        (_forge({"alg": "HS256", "kid": KID}, "null"), CryptoError),
        (_forge({"alg": "HS256", "kid": ["x"]}, {"sub": "cid:1"}), MalformedTokenError),
        (_forge({"alg": ["HS256"], "kid": KID}, {"sub": "cid:1"}), MalformedTokenError),
        (_forge({"alg": "HS256", "kid": KID}, {"sub": "cid:1"}, KEYS[0].key), dict),
        (_forge({"alg": "HS256", "kid": KID}, {"sub": "cid:1", "iat": NOW + 5}, KEYS[0].key), CryptoError),
        (_forge({"alg": "HS256", "kid": KID}, {"sub": "cid:1", "exp": "abc"}, KEYS[0].key), dict),
        (_forge({"alg": "HS256", "kid": KID}, {"sub": "cid:1", "exp": str(NOW)}, KEYS[0].key), CryptoError),
        (
            _forge({"alg": "HS256", "kid": KID}, {"sub": "cid:1", "nbf": "soon"}, KEYS[0].key),
            MalformedTokenError,
        ),
    ],
    ids=[
        "one-segment",
        "two-segments",
        "header-not-json",
        "no-alg",
        "payload-scalar",
        "payload-null",
        "kid-array",
        "alg-array",
        "valid",
        "iat-future",
        "exp-non-numeric",
        "exp-numeric-string",
        "nbf-text",
    ],
)
def test_malformed_tokens_fail_the_way_php_does(token: str, outcome: type) -> None:
    if outcome is dict:
        assert decode_jwt(token, KEYS, NOW)["sub"] == "cid:1"
        return
    with pytest.raises(outcome):
        decode_jwt(token, KEYS, NOW)
