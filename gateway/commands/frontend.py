"""crm-gateway frontend nginx|caddy: print a front-proxy config for decision mode (docs/decision-mode.md)."""

from __future__ import annotations

import argparse

DEFAULT_LISTEN = "0.0.0.0:80"


def add_arguments(parser: argparse.ArgumentParser, default_config: str) -> None:
    parser.add_argument("server", choices=("nginx", "caddy"), help="the front proxy to configure")
    parser.add_argument("--config", default=default_config)
    parser.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT to serve (default {DEFAULT_LISTEN})"
    )
    parser.add_argument("--gateway", help="HOST:PORT of the gateway (default: its listen address)")
    parser.add_argument(
        "--snippet", action="store_true", help="nginx: only what goes inside http { }, for an existing nginx"
    )
    parser.add_argument("--workers", default="auto", help="nginx: worker_processes (default auto)")
    parser.add_argument("--admin", help="caddy: admin endpoint HOST:PORT (default: admin off)")


def frontend(args: argparse.Namespace) -> int:
    # imported here: building the CLI parser must not import what the config loader pulls in
    from gateway.config.loader import load_config
    from gateway.decision import caddy, nginx
    from gateway.decision.frontend_plan import make_plan

    config = load_config(args.config)
    plan = make_plan(config, listen=args.listen, gateway=args.gateway)
    if args.server == "caddy":
        text = caddy.caddyfile(plan, admin=args.admin)
    elif args.snippet:
        text = nginx.snippet(plan)
    else:
        text = nginx.standalone(plan, workers=str(args.workers))
    print(text, end="")
    return 0
