"""crm-gateway serve | check | explain | token | demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.errors import ConfigError

DEFAULT_CONFIG = "/etc/crm-gateway/gateway.yaml"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crm-gateway", description="One JWT in, CRM-native credentials out.")
    p.add_argument("--version", action="version", version=f"crm-gateway {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", default=DEFAULT_CONFIG)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--grace-seconds", type=float, default=30.0, help="drain time on SIGTERM")
    serve.add_argument("--watch", action="store_true", help="reload when the config or a policy file changes")

    check = sub.add_parser("check", help="validate the config and policies, then exit")
    check.add_argument("--config", default=DEFAULT_CONFIG)
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")

    explain = sub.add_parser(
        "explain", help="show the operations a request touches and the decision for each"
    )
    explain.add_argument("--config", default=DEFAULT_CONFIG)
    who = explain.add_mutually_exclusive_group(required=True)
    who.add_argument("--token", help="a gateway JWT (verified like a request's)")
    who.add_argument("--sub", help="a principal subject, without a token")
    explain.add_argument("--role", action="append", default=[], help="a role for --sub (repeatable)")
    explain.add_argument("--scope", action="append", default=[], help="a scope for --sub (repeatable)")
    explain.add_argument("--data", help="request body")
    explain.add_argument("--content-type", default=None)
    explain.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    explain.add_argument("method")
    explain.add_argument("url", help="gateway URL or path, e.g. /civi/civicrm/ajax/api4/Contact/get")

    token = sub.add_parser("token", help="mint a development JWT from a local private key")
    token.add_argument(
        "--key", required=True, help="PEM private key file (or HS secret file with --alg HS256)"
    )
    token.add_argument("--issuer", required=True)
    token.add_argument("--audience", required=True)
    token.add_argument("--sub", required=True)
    token.add_argument("--role", action="append", default=[])
    token.add_argument("--kid")
    token.add_argument("--alg", default="RS256")
    token.add_argument("--lifetime", type=int, default=3600)

    demo = sub.add_parser("demo", help="run sandbox CRMs and the gateway on localhost, print curl lines")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--exit-after", type=float, default=None, help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            if args.workers > 1:
                from gateway.observability.multiprocess import prepare_multiprocess_dir

                prepare_multiprocess_dir()  # before prometheus_client is imported
            from gateway.server import serve

            return serve(
                args.config,
                host=args.host,
                port=args.port,
                workers=args.workers,
                grace=args.grace_seconds,
                watch=args.watch,
            )
        if args.command == "check":
            from gateway.commands.check import check

            return check(args.config, strict=args.strict)
        if args.command == "explain":
            from gateway.commands.explain import explain

            return explain(args)
        if args.command == "token":
            from gateway.commands.token import token

            return token(args)
        from gateway.demo import run_demo

        return run_demo(host=args.host, port=args.port, exit_after=args.exit_after)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
