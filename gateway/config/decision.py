"""``decision:`` in gateway.yaml -> DecisionConfig, refusing at load time what a front proxy cannot apply.

```yaml
decision:
  path: /_crm_gateway/authz          # default
  trusted_proxies: [127.0.0.1/32]    # who may ask; everyone else is refused
  upstreams: [civi, espo]            # the upstreams answered in decision mode
```
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from gateway.config.decision_model import DEFAULT_PATH, DecisionConfig, Network
from gateway.config.model import UpstreamConfig
from gateway.config.upstreams import Parsed
from gateway.configfile.source import Section
from gateway.dialects.base import Dialect
from gateway.identity.spec import IdentityRule
from gateway.policy.answers import denies_answer_fields, relies_on_answer_filter
from gateway.policy.policies import Policies
from gateway.signers import registry as signers
from gateway.signers.base import Signer

RESERVED_PATHS = ("/healthz", "/readyz", "/metrics")
_PATH = re.compile(r"(/[A-Za-z0-9_.~-]+)+")
_UPSTREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def parse_decision(
    s: Section,
    upstreams: Sequence[Parsed],
    policies: Policies,
    identities: Sequence[IdentityRule] = (),
) -> DecisionConfig:
    """The section (an empty one means decision mode is off); ConfigError names file, line and key."""
    if not s.data:
        s.done()
        return DecisionConfig()
    enabled = s.get("enabled", bool, True)
    path = _path(s, [p.config for p in upstreams])
    networks = _networks(s)
    request_only = s.get("request_only_field_rules", bool, False)
    names = _upstreams(s, upstreams, policies, request_only, identities)
    s.done()
    if enabled and not networks:
        raise s.error("trusted_proxies", "name at least one front proxy address (CIDR) allowed to ask")
    if enabled and not names:
        raise s.error("upstreams", "name at least one upstream to answer in decision mode")
    return DecisionConfig(enabled=enabled, path=path, trusted_proxies=networks, upstreams=names)


def _path(s: Section, upstreams: Sequence[UpstreamConfig]) -> str:
    path: str = s.get("path", str, DEFAULT_PATH)
    if not _PATH.fullmatch(path) or any(seg in (".", "..") for seg in path.split("/")):
        raise s.error("path", "must be an absolute path of plain segments ([A-Za-z0-9_.~-]), no trailing '/'")
    if path in RESERVED_PATHS:
        raise s.error("path", f"{path} is one of the gateway's own endpoints")
    for up in upstreams:
        prefix = up.path_prefix
        if prefix is None:
            continue
        if _under(path, prefix) or _under(prefix, path):
            raise s.error("path", f"overlaps the path prefix {prefix} of upstream {up.name}")
    return path


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _networks(s: Section) -> tuple[Network, ...]:
    networks: list[Network] = []
    for text in s.str_list("trusted_proxies", []):
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise s.error("trusted_proxies", f"{text!r} is not an IP address or CIDR block") from None
    return tuple(networks)


def _upstreams(
    s: Section,
    upstreams: Sequence[Parsed],
    policies: Policies,
    request_only: bool,
    identities: Sequence[IdentityRule],
) -> tuple[str, ...]:
    by_name = {p.config.name: p for p in upstreams}
    names: list[str] = []
    for name in s.str_list("upstreams", []):
        parsed = by_name.get(name)
        if parsed is None:
            raise s.error("upstreams", f"unknown upstream {name!r}; known: {', '.join(by_name)}")
        reason = (
            unsupported_reason(parsed.config, parsed.signer)
            or identity_reason(parsed.config, identities)
            or answer_filter_reason(parsed.config, parsed.dialect, policies, request_only)
        )
        if reason is not None:
            raise s.error("upstreams", f"upstream {name}: {reason}")
        if name not in names:
            names.append(name)
    return tuple(names)


def unsupported_reason(up: UpstreamConfig, signer: Signer) -> str | None:
    """Why a front proxy could not apply this upstream's credential from response headers, if it cannot."""
    if not _UPSTREAM_NAME.fullmatch(up.name):
        return "decision-mode upstream names are 1-63 characters of [A-Za-z0-9_.-] (front proxies map them)"
    if up.port is not None:
        return (
            f"it is matched by listener port (match.port: {up.port}), and a front proxy asks on behalf of "
            "its own listener: the decision endpoint routes by host and path only; match it by host or "
            "path_prefix, or leave it to proxy mode"
        )
    return signer.front_proxy_refusal


def identity_reason(up: UpstreamConfig, identities: Sequence[IdentityRule]) -> str | None:
    """Why a front proxy could not apply the identity some rule gives this upstream, if it cannot."""
    spec = signers.spec_for(up.scheme)
    refused = spec.front_proxy_refused_fields if spec is not None else {}
    for rule in identities:
        crm = rule.crm.get(up.name)
        if crm is None:
            continue
        for name in sorted({*crm.fixed, *crm.derived} & refused.keys()):
            return (
                f"the identity at {rule.line} uses {name}: {refused[name]}; leave this upstream to proxy mode"
            )
    return None


def answer_filter_reason(
    up: UpstreamConfig, dialect: Dialect, policies: Policies, request_only: bool = False
) -> str | None:
    """Why the decision endpoint cannot serve this upstream: its policies rely on the answer filter
    (the dialect's built-in one, or fields a policy denies), which needs the CRM's answer, and the answer
    never passes through the gateway in decision mode. ``request_only``: the operator accepts that
    ``fields.<Entity>.deny`` holds for requests only there (``decision.request_only_field_rules``)."""
    denies = [] if request_only else denies_answer_fields(policies.policies, up.name, up.dialect_name)
    if denies:
        return (
            "proxy mode removes the fields a policy denies from this CRM's answers, which the decision "
            f"endpoint never sees, and these policies deny fields: {'; '.join(denies)}. Leave this upstream "
            "to proxy mode, drop those fields.<Entity>.deny entries, or accept that they hold for requests "
            "only (decision.request_only_field_rules: true)"
        )
    need = dialect.answer_filter
    if need is None:
        return None
    found = relies_on_answer_filter(policies.policies, up.name, up.dialect_name, need.entities, need.fields)
    if not found:
        return None
    fields = ", ".join(sorted(need.fields))
    return (
        f"proxy mode removes {fields} from this CRM's answers, which the decision endpoint never sees, and "
        f"these policies rely on that: {'; '.join(found)}. Allow {fields} in those policies' fields, or "
        "leave this upstream to proxy mode"
    )
