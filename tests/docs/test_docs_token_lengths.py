"""docs/migration.md's token lengths are what the gateway's own tools produce."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.auth.token_mint import generate_dev_key, jwk_thumbprint, mint_token
from tests.docs.doc_blocks import DOCS
from tests.support.idp import start_idp

ROWS = {"RS256": "RS256 JWT (2048-bit key)", "ES256": "ES256 JWT", "EdDSA": "EdDSA JWT (Ed25519)"}


def documented(row: str) -> list[int]:
    text = (DOCS / "migration.md").read_text(encoding="utf-8")
    match = re.search(rf"^\| {re.escape(row)} \| (\d+) \|\s*(\d*)\s*\|$", text, re.M)
    assert match, f"no row {row!r} in migration.md"
    return [int(n) for n in match.groups() if n]


@pytest.mark.parametrize("algorithm", list(ROWS))
def test_jwt_lengths(algorithm: str) -> None:
    pem, jwk = generate_dev_key(algorithm)

    def mint(**options: Any) -> str:
        return mint_token(
            pem,
            issuer="https://idp.demo.invalid",
            audience="crm-gateway",
            subject="demo-integration",
            algorithm=algorithm,
            lifetime_seconds=8 * 3600,
            **options,
        )

    demo, full = mint(extra={"jti": None, "nbf": None}), mint(kid=jwk_thumbprint(jwk))
    assert documented(ROWS[algorithm]) == [len(demo), len(full)]


async def test_the_sandbox_idps_opaque_tokens(aiohttp_server: Any) -> None:
    idp = await start_idp(aiohttp_server)
    lengths = {len(await idp.mint()) for _ in range(5)}
    assert [*lengths] == documented("opaque, sandbox IdP")
