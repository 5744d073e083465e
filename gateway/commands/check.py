"""crm-gateway check: load everything the gateway would load, report what is wrong, exit non-zero."""

from __future__ import annotations

import sys

from gateway.config.loader import load_config


def check(path: str, *, strict: bool = False) -> int:
    config = load_config(path)
    problems = list(config.warnings)
    for issue in config.policies.lint():
        problems.append(str(issue))
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    upstreams = ", ".join(f"{u.name} ({u.dialect_name}, {u.scheme})" for u in config.upstreams)
    rules = len(config.identities)
    print(f"ok: {path}: {len(config.upstreams)} upstream(s): {upstreams}; {rules} identity rule(s)")
    return 1 if strict and problems else 0
