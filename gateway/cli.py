"""crm-gateway serve | check | explain | token | revoke | revocations | frontend | demo."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="processes sharing the port (SO_REUSEPORT); keep 1 under Kubernetes and scale with replicas",
    )
    serve.add_argument(
        "--grace-seconds", type=float, default=30.0, help="how long SIGTERM waits for requests in flight"
    )
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
    explain.add_argument(
        "--claim", action="append", default=[], help="'name=value', another claim for --sub (repeatable)"
    )
    explain.add_argument("--data", help="request body")
    explain.add_argument("--content-type", default=None)
    explain.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    explain.add_argument("method")
    explain.add_argument("url", help="gateway URL or path, e.g. /civi/civicrm/ajax/api4/Contact/get")

    token = sub.add_parser("token", help="mint a development JWT, or get an opaque token (--opaque)")
    from gateway.commands.token import add_arguments as token_arguments

    token_arguments(token)

    from gateway.commands.revoke import add_list_arguments, add_revoke_arguments

    add_revoke_arguments(
        sub.add_parser("revoke", help="revoke tokens before exp (by jti, sub or client)"), DEFAULT_CONFIG
    )
    add_list_arguments(
        sub.add_parser("revocations", help="list the revocation list's live entries"), DEFAULT_CONFIG
    )

    front = sub.add_parser("frontend", help="print an nginx or Caddy config for decision mode")
    from gateway.commands.frontend import add_arguments as frontend_arguments

    frontend_arguments(front, DEFAULT_CONFIG)

    demo = sub.add_parser("demo", help="run sandbox CRMs and the gateway on localhost, print curl lines")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument(
        "--root-port", type=int, default=None, help="EspoCRM at a root URL (default: --port + 1)"
    )
    demo.add_argument("--exit-after", type=float, default=None, help=argparse.SUPPRESS)
    return p


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _choose_metrics_dir(workers: int) -> str | None:
    """Several workers share metrics through files in $PROMETHEUS_MULTIPROC_DIR, which must be set
    before prometheus_client is first imported (gateway.observability imports it): a temporary one,
    returned to be removed at exit, unless the environment names one."""
    if workers <= 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    path = tempfile.mkdtemp(prefix="crmgw-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            temporary_metrics_dir = _choose_metrics_dir(args.workers)
            from gateway.server import serve

            return serve(
                args.config,
                host=args.host,
                port=args.port,
                workers=args.workers,
                grace=args.grace_seconds,
                watch=args.watch,
                remove_metrics_dir=temporary_metrics_dir,
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
        if args.command == "revoke":
            from gateway.commands.revoke import revoke

            return revoke(args)
        if args.command == "revocations":
            from gateway.commands.revoke import revocations

            return revocations(args)
        if args.command == "frontend":
            from gateway.commands.frontend import frontend

            return frontend(args)
        from gateway.demo import run_demo

        return run_demo(host=args.host, port=args.port, root_port=args.root_port, exit_after=args.exit_after)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
