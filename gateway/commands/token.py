"""crm-gateway token: a development JWT signed with a local key, or (``--opaque``) an opaque access
token from an OAuth 2.0 token endpoint such as the sandbox IdP's (client credentials grant)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
from pathlib import Path
from urllib.parse import quote

import aiohttp

from gateway.auth.token_mint import mint_token

SECRET_ENV = "CRM_GATEWAY_CLIENT_SECRET"


def add_arguments(token: argparse.ArgumentParser) -> None:
    token.add_argument("--key", help="PEM private key file (or HS secret file with --alg HS256)")
    token.add_argument("--issuer")
    token.add_argument("--audience")
    token.add_argument("--sub", required=True)
    token.add_argument("--role", action="append", default=[])
    token.add_argument("--kid")
    token.add_argument("--alg", default="RS256")
    token.add_argument("--lifetime", type=int, default=3600)
    opaque = token.add_argument_group("opaque tokens (--opaque)")
    opaque.add_argument("--opaque", action="store_true", help="get an opaque token from --idp instead")
    opaque.add_argument("--idp", help="the IdP's base URL (its token endpoint is <idp>/oauth2/token)")
    opaque.add_argument("--client-id")
    opaque.add_argument("--client-secret-file", help=f"file with the client secret (default: ${SECRET_ENV})")
    opaque.add_argument("--scope", default="")


def token(args: argparse.Namespace) -> int:
    if args.opaque:
        return _opaque(args)
    missing = [f"--{name}" for name in ("key", "issuer", "audience") if not getattr(args, name)]
    if missing:
        print(f"crm-gateway token: {', '.join(missing)} required (or --opaque)", file=sys.stderr)
        return 2
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


def _opaque(args: argparse.Namespace) -> int:
    if args.client_secret_file:
        secret = Path(args.client_secret_file).read_text(encoding="utf-8").strip()
    else:
        secret = os.environ.get(SECRET_ENV, "")
    if not args.idp or not args.client_id or not secret:
        print(
            "crm-gateway token --opaque: --idp, --client-id and a client secret are required",
            file=sys.stderr,
        )
        return 2
    form = {"grant_type": "client_credentials", "subject": args.sub, "lifetime": str(args.lifetime)}
    if args.scope:
        form["scope"] = args.scope
    if args.audience:
        form["audience"] = args.audience
    try:
        print(
            asyncio.run(request_token(args.idp.rstrip("/") + "/oauth2/token", args.client_id, secret, form))
        )
    except TokenRequestError as exc:
        print(f"crm-gateway token --opaque: {exc}", file=sys.stderr)
        return 1
    return 0


class TokenRequestError(Exception):
    pass


async def request_token(url: str, client_id: str, secret: str, form: dict[str, str]) -> str:
    """An access token from ``url`` (client_secret_basic); never prints or raises the secret."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    headers = {
        "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
        "Accept": "application/json",
    }
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, data=form, headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as resp,
        ):
            body = await resp.json(content_type=None)
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise TokenRequestError(f"token endpoint unreachable or not JSON ({type(exc).__name__})") from None
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        error = body.get("error") if isinstance(body, dict) else None
        raise TokenRequestError(f"token endpoint answered HTTP {status} {error or ''}".strip())
    return str(body["access_token"])
