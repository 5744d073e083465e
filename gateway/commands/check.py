"""crm-gateway check: load everything the gateway would load, report what is wrong, exit non-zero.

Every refusal names ``file:line: key: reason``. Some checks run inside a dialect or signer factory that
knows the key but not the file (``<config>``), or report the line of the enclosing section: those are
located here at the line of their key in the config file.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from gateway.config.loader import load_config
from gateway.config.model import GatewayConfig
from gateway.configfile.source import load_yaml_file
from gateway.errors import ConfigError

_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_UNKNOWN_FILE = "<config>"


def check(path: str, *, strict: bool = False) -> int:
    config = load_located(path)
    problems = list(config.warnings)
    for issue in config.policies.lint():
        problems.append(str(issue))
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    upstreams = ", ".join(f"{u.name} ({u.dialect_name}, {u.scheme})" for u in config.upstreams)
    rules = len(config.identities)
    print(f"ok: {path}: {len(config.upstreams)} upstream(s): {upstreams}; {rules} identity rule(s)")
    return 1 if strict and problems else 0


def load_located(path: str) -> GatewayConfig:
    """``load_config``; a ConfigError about the config file itself comes back with the file and the
    line of its key."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise locate(exc, path) from None


def locate(exc: ConfigError, path: str) -> ConfigError:
    if exc.file not in (_UNKNOWN_FILE, path) or not exc.key:
        return exc
    try:
        data = load_yaml_file(path)
    except ConfigError:
        return exc
    exact, deepest = key_line(data, exc.key)
    line = exact if exact is not None else deepest if deepest is not None else exc.line
    return ConfigError(
        exc.reason, file=path if exc.file == _UNKNOWN_FILE else exc.file, line=line, key=exc.key
    )


def key_line(data: Any, key: str) -> tuple[int | None, int | None]:
    """(line of ``key`` when the whole dotted path exists, line of the deepest part of it that does).
    ``upstreams.civi.options.cms`` and ``identity.issuers[0].algorithms`` are paths."""
    node, line, found = data, None, True
    for name, index in _KEY_PART.findall(key):
        if name:
            lines = getattr(node, "key_lines", None)
            if not isinstance(node, dict) or lines is None or name not in node:
                found = False
                break
            line, node = lines.get(name, line), node[name]
        else:
            position = int(index)
            if not isinstance(node, list) or position >= len(node):
                found = False
                break
            node = node[position]
            line = getattr(node, "line", line)
    return (line if found else None), line
