"""crm-gateway frontend nginx|caddy: print a front-proxy config for decision mode (docs/decision-mode.md)."""

from __future__ import annotations

import argparse
import sys

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
    parser.add_argument(
        "--decision-cache-seconds",
        type=int,
        default=0,
        metavar="N",
        help="nginx: keep allow decisions N seconds (default 0 = off; see docs/decision-mode.md)",
    )
    parser.add_argument(
        "--decision-cache-dir",
        metavar="DIR",
        help="nginx: the cache directory (default: decision_cache under nginx's prefix, or "
        "/var/cache/nginx/crm-gateway-decisions with --snippet)",
    )


def frontend(args: argparse.Namespace) -> int:
    # imported here: building the CLI parser must not import what the config loader pulls in
    from gateway.config.loader import load_config
    from gateway.errors import ConfigError
    from gateway.frontends import caddy, nginx
    from gateway.frontends.cache import DecisionCache, rate_limit_warning
    from gateway.frontends.plan import make_plan

    config = load_config(args.config)
    seconds: int = args.decision_cache_seconds
    if args.server == "caddy" and (seconds or args.decision_cache_dir):
        raise ConfigError("Caddy has no decision cache: --decision-cache-* apply to nginx only")
    cache = DecisionCache(seconds, args.decision_cache_dir or _default_dir(args.snippet)) if seconds else None
    plan = make_plan(config, listen=args.listen, gateway=args.gateway, cache=cache)
    warning = rate_limit_warning(config, seconds)
    if warning is not None:
        print(warning, file=sys.stderr)
    if args.server == "caddy":
        text = caddy.caddyfile(plan, admin=args.admin)
    elif args.snippet:
        text = nginx.snippet(plan, warning=warning)
    else:
        text = nginx.standalone(plan, workers=str(args.workers), warning=warning)
    print(text, end="")
    return 0


def _default_dir(snippet: bool) -> str:
    from gateway.frontends.cache import DEFAULT_SNIPPET_DIR, DEFAULT_STANDALONE_DIR

    return DEFAULT_SNIPPET_DIR if snippet else DEFAULT_STANDALONE_DIR
