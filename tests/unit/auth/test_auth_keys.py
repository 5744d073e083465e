from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from gateway.auth.keys import KeyFormatError, VerificationKey, parse_jwk, parse_jwks, parse_pem, select_key
from tests.support.jwt_factory import jwks, make_key

RSA, RSA2, EC, EC384, ED = (
    make_key("RS256"),
    make_key("RS256", 1),
    make_key("ES256"),
    make_key("ES384"),
    make_key("EdDSA"),
)


@pytest.mark.parametrize(
    ("key", "supported", "unsupported"),
    [
        (RSA, {"RS256", "RS512", "PS256"}, {"ES256", "HS256", "EdDSA", "none"}),
        (EC, {"ES256"}, {"ES384", "RS256", "HS256"}),
        (EC384, {"ES384"}, {"ES256", "ES512"}),
        (ED, {"EdDSA"}, {"ES256", "RS256"}),
    ],
)
def test_key_family_decides_algorithms(key: Any, supported: set[str], unsupported: set[str]) -> None:
    parsed = parse_pem(key.public_pem)
    assert all(parsed.supports(a) for a in supported)
    assert not any(parsed.supports(a) for a in unsupported)


def test_jwk_alg_member_restricts_the_key() -> None:
    parsed = parse_jwk({**RSA.jwk, "alg": "PS256"})
    assert parsed.supports("PS256") and not parsed.supports("RS256")


def test_parse_jwks_keeps_only_usable_signature_keys() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    from jwt.algorithms import RSAAlgorithm

    document = jwks(RSA, EC)
    document["keys"] += [
        {**RSA2.jwk, "use": "enc"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {**RSA.jwk, "kid": "priv", "d": "AQAB"},
        {**RSAAlgorithm.to_jwk(small, as_dict=True), "kid": "weak"},
        {"kty": "XYZ", "kid": "odd"},
        "not-a-key",
    ]
    assert [k.kid for k in parse_jwks(document)] == [RSA.kid, EC.kid]


@pytest.mark.parametrize("document", [[], {"keys": "x"}, {"no": "keys"}, "text"])
def test_parse_jwks_rejects_bad_documents(document: Any) -> None:
    with pytest.raises(KeyFormatError):
        parse_jwks(document)


def test_weak_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = small.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFormatError, match="2048"):
        parse_pem(pem.decode())


def test_certificate_pem_gives_its_public_key() -> None:
    private = RSA.private_key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    parsed = parse_pem(cert.public_bytes(serialization.Encoding.PEM).decode(), kid="c1")
    assert parsed.kid == "c1" and parsed.supports("RS256")


def _keys(*pairs: tuple[Any, str | None]) -> list[VerificationKey]:
    return [parse_pem(k.public_pem, kid) for k, kid in pairs]


@pytest.mark.parametrize(
    ("keys", "kid", "alg", "expected"),
    [
        pytest.param(_keys((RSA, "a"), (RSA2, "b")), "b", "RS256", "b", id="by-kid"),
        pytest.param(_keys((RSA, "a"), (RSA2, "b")), "c", "RS256", None, id="unknown-kid"),
        pytest.param(_keys((RSA, "a"), (EC, "e")), "e", "RS256", None, id="kid-of-wrong-type"),
        pytest.param(_keys((RSA, "a"), (EC, "e")), None, "ES256", "e", id="no-kid-one-key-of-type"),
        pytest.param(_keys((RSA, "a"), (RSA2, "b")), None, "RS256", None, id="no-kid-two-keys"),
        pytest.param(_keys((RSA, None)), "anything", "RS256", "kidless", id="kidless-key-takes-any-kid"),
        pytest.param(_keys((RSA, None), (RSA2, None)), "x", "RS256", None, id="two-kidless-keys"),
        pytest.param(_keys((RSA, "a")), None, "HS256", None, id="never-for-hmac"),
    ],
)
def test_select_key(keys: list[VerificationKey], kid: str | None, alg: str, expected: str | None) -> None:
    chosen = select_key(keys, kid, alg)
    if expected is None:
        assert chosen is None
    else:
        assert chosen is not None and (chosen.kid or "kidless") == expected
