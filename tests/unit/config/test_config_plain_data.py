"""GatewayConfig is plain data: frozen values all the way down, no built dialect, signer, policy set or
memo (the runtime builds those, gateway/assembly.py); and the runtime builds its own for every config."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from gateway.app import build_runtime
from gateway.config.loader import load_config
from gateway.config.model import GatewayConfig
from gateway.observability.metrics import GatewayMetrics
from gateway.secrets import Secret

CONFIG = """\
identity:
  issuers:
    - issuer: https://idp.test
      audiences: [crm-gateway]
      algorithms: [HS256]
      hs256_secrets: [a-test-secret-that-is-long-enough-0123456789]
upstreams:
  civi:
    dialect: civicrm
    url: http://127.0.0.1:9001
    match: {path_prefix: /civi}
    options: {cms: auto, allow_parameters: [debug]}
    auth: {scheme: authx-jwt, sign_keys: 'jwt-hs256:hkdf-sha256:sign-secret', flow: header}
  espo:
    dialect: espocrm
    url: http://127.0.0.1:9002
    match: {host: espo.example.test}
    options: {api_path: /crm/api/v1}
    auth: {scheme: espo-hmac}
identities: []
policies: [policies/]
ratelimit:
  limits: [{name: each, rate: 50/second}]
decision:
  trusted_proxies: [127.0.0.1/32]
  upstreams: [civi]
"""

POLICY = """\
policy: sales
subjects: {roles: [sales]}
upstreams: [civi, espo]
entities:
  Contact: {get: allow}
fields:
  Contact: {allow: [api_key]}
scope:
  Contact: {field: id, claim: contact_ids}
limits:
  - {name: reads, rate: 10/second}
"""

PLAIN = (str, int, float, bool, type(None), bytes, Path, Secret, re.Pattern)
NETWORKS = (ipaddress.IPv4Network, ipaddress.IPv6Network, ipaddress.IPv4Address, ipaddress.IPv6Address)


def loaded(tmp_path: Path) -> GatewayConfig:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "sales.yaml").write_text(POLICY)
    (tmp_path / "gateway.yaml").write_text(CONFIG)
    return load_config(tmp_path / "gateway.yaml", environ={})


def not_plain(value: Any, where: str) -> Iterator[str]:
    """Where ``value`` holds anything but frozen dataclasses, containers and plain values."""
    if isinstance(value, PLAIN + NETWORKS):
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if not type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            yield f"{where}: {type(value).__name__} is not frozen"
        for f in dataclasses.fields(value):
            yield from not_plain(getattr(value, f.name), f"{where}.{f.name}")
    elif isinstance(value, Mapping) and isinstance(value, dict | MappingProxyType):
        for key, item in value.items():
            yield from not_plain(key, f"{where}[{key!r}]")
            yield from not_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, tuple | frozenset | list):
        for i, item in enumerate(value):
            yield from not_plain(item, f"{where}[{i}]")
    else:
        yield f"{where}: {type(value).__module__}.{type(value).__name__}"


def test_the_loaded_config_holds_plain_frozen_values_only(tmp_path: Path) -> None:
    config = loaded(tmp_path)
    assert [p.name for p in config.policies.policies] == ["sales"]
    assert config.decision.upstreams == ("civi",)
    assert list(not_plain(config, "config")) == []


def test_the_walk_finds_a_built_object() -> None:
    class Built:
        pass

    @dataclasses.dataclass
    class Loose:
        x: int = 1

    found = list(not_plain({"a": (1, Built()), "b": Loose()}, "c"))
    assert found == ["c['a'][1]: test_config_plain_data.Built", "c['b']: Loose is not frozen"]


def test_options_cannot_be_changed_after_load(tmp_path: Path) -> None:
    up = loaded(tmp_path).upstream("espo")
    assert up.signer_options["api_path"] == up.dialect_options["api_path"] == "/crm/api/v1"
    with pytest.raises(TypeError):
        up.signer_options["api_path"] = "/other"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        up.scheme = "espo-basic"  # type: ignore[misc]


async def test_each_runtime_builds_its_own_dialects_signers_and_policy_memos(tmp_path: Path) -> None:
    config = loaded(tmp_path)
    first = await build_runtime(config, GatewayMetrics(upstreams=["civi", "espo"]))
    second = await build_runtime(config, GatewayMetrics(upstreams=["civi", "espo"]))
    try:
        assert first.policies is not second.policies
        assert first.policies.request_limits is not second.policies.request_limits
        for name in ("civi", "espo"):
            assert first.upstreams[name].dialect is not second.upstreams[name].dialect
            assert first.upstreams[name].signer is not second.upstreams[name].signer
            assert first.upstreams[name].config is config.upstream(name)
        assert first.policies.policies == config.policies.policies
    finally:
        await first.close()
        await second.close()
