from __future__ import annotations

import jwt
import pytest

from gateway.auth.keys import parse_jwk
from gateway.auth.token_mint import generate_dev_key, jwk_thumbprint, mint_token


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "ES384", "EdDSA"])
def test_minted_token_verifies_with_the_public_jwk(algorithm: str) -> None:
    pem, jwk = generate_dev_key(algorithm)
    assert "PRIVATE KEY" in pem and "d" not in jwk
    assert jwk["kid"] == jwk_thumbprint(jwk) and jwk["alg"] == algorithm and jwk["use"] == "sig"
    token = mint_token(
        pem,
        issuer="https://idp",
        audience="gw",
        subject="svc",
        roles=["r1", "r2"],
        kid=jwk["kid"],
        algorithm=algorithm,
        lifetime_seconds=600,
        now=1000,
        extra={"scope": "read"},
    )
    key = parse_jwk(jwk)
    assert jwt.get_unverified_header(token)["kid"] == jwk["kid"]
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[algorithm],
        audience="gw",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["iss"] == "https://idp" and claims["sub"] == "svc" and claims["roles"] == ["r1", "r2"]
    assert (claims["iat"], claims["exp"], claims["scope"]) == (1000, 1600, "read")


def test_hmac_mint_uses_the_secret() -> None:
    secret = "x" * 32
    token = mint_token(
        secret, issuer="i", audience="a", subject="s", algorithm="HS256", now=0, extra={"exp": None}
    )
    assert "exp" not in jwt.decode(token, secret.encode(), algorithms=["HS256"], audience="a")


def test_thumbprint_is_rfc7638() -> None:
    # RFC 7638 section 3.1 example
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368Q"
        "QMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRw"
        "r3XPksINHaQ-G_xBni"
        "Iqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError):
        generate_dev_key("HS256")
    with pytest.raises(ValueError):
        mint_token("k", issuer="i", audience="a", subject="s", algorithm="none")
