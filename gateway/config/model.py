"""The validated configuration: frozen plain values, checked once at load time, never re-checked per
request. It holds no built object: the runtime builds dialects, signers and the policy set from it
(gateway/assembly.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway.auth.settings import AuthSettings
from gateway.config.decision_model import DecisionConfig
from gateway.configfile.sources import Source
from gateway.identity.spec import IdentityRule, LookupConfig
from gateway.policy.model import LimitRule
from gateway.policy.policies import Policies
from gateway.revocation.settings import RevocationConfig
from gateway.secrets import Secret

DEFAULT_MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""The largest answer the field filter buffers and inspects (docs/security.md#answers)."""


@dataclass(frozen=True, slots=True)
class ListenConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    keepalive_timeout_seconds: float = 75.0
    header_timeout_seconds: float = 10.0
    max_connections: int | None = None
    """None: ``DEFAULT_MAX_CONNECTIONS``, or fewer when the file descriptor limit is lower."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    read: float = 60.0
    total: float = 300.0


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    name: str
    dialect_name: str
    origin: str
    base_path: str
    path_prefix: str | None
    hosts: tuple[str, ...]
    scheme: str
    dialect_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """``options``, as the dialect named ``dialect_name`` is built from them."""
    signer_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    """``auth`` less ``scheme`` (secrets as Secret), with the settings the signer shares with the dialect:
    what the signer of ``scheme`` is built from."""
    timeouts: Timeouts = Timeouts()
    max_body_bytes: int = 10 * 1024 * 1024
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    requested_with: bool = True
    max_connections: int = 100
    max_concurrency: int | None = None
    queue_size: int = 0
    queue_timeout_seconds: float = 5.0
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 60.0
    port: int | None = None
    """``match.port``: the upstream owns this listener port and is served at its root there."""


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    backend: str = "memory"
    url: Secret | None = None
    on_error: str = "local"
    timeout_ms: int = 50
    prefix: str = "crmgw:rl:"
    max_keys: int = 100_000
    limits: tuple[LimitRule, ...] = ()

    @property
    def cluster(self) -> bool:
        """Redis Cluster: every limiter key is kept in one hash slot (see gateway/limits.py)."""
        return self.backend == "redis" and self.url is not None and "+cluster://" in self.url.reveal()[:24]


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    access_log: bool = True
    log_level: str = "info"
    metrics: bool = True
    principal_label: bool = False
    admin_host: str | None = None
    admin_port: int | None = None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    file: str
    listen: ListenConfig
    auth: AuthSettings
    upstreams: tuple[UpstreamConfig, ...]
    identities: tuple[IdentityRule, ...]
    policies: Policies
    ratelimit: RateLimitConfig
    observability: ObservabilityConfig
    warnings: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = field(default=(), repr=False)
    decision: DecisionConfig = field(default_factory=DecisionConfig)
    lookups: Mapping[str, LookupConfig] = field(default_factory=dict)
    sources: tuple[Source, ...] = field(default=(), repr=False, compare=False)
    """What loading the config file read (``config.sources``): a reload compares them with now."""
    revocation: RevocationConfig = field(default_factory=RevocationConfig)

    def upstream(self, name: str) -> UpstreamConfig:
        for up in self.upstreams:
            if up.name == name:
                return up
        raise KeyError(name)
