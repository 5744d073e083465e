"""crm-gateway token: a development JWT signed with a local key (never for production use)."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.auth.token_mint import mint_token


def token(args: argparse.Namespace) -> int:
    key = Path(args.key).read_text(encoding="utf-8")
    print(
        mint_token(
            key.strip() if args.alg.startswith("HS") else key,
            issuer=args.issuer,
            audience=args.audience,
            subject=args.sub,
            roles=args.role,
            kid=args.kid,
            algorithm=args.alg,
            lifetime_seconds=args.lifetime,
        )
    )
    return 0
