"""Client connections are capped below the file descriptor limit: with 256 descriptors, 300 half-sent
requests used to leave none for the gateway's own upstream connections."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from gateway.config.loader import load_config_text
from gateway.config.model import GatewayConfig
from gateway.serving import DEFAULT_MAX_CONNECTIONS, FD_RESERVE, connection_limits
from tests.support.jwt_factory import make_key
from tests.support.stack import ENV, config_text


@pytest.fixture(scope="module")
def config() -> GatewayConfig:
    text = config_text("http://127.0.0.1:9", "http://127.0.0.1:9", make_key("ES256"), policies=())
    return load_config_text(text, environ=ENV)


def test_the_default_cap_leaves_room_for_the_gateways_own_descriptors(
    config: GatewayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        assert connection_limits(config, open_files=256).max_connections == 256 - FD_RESERVE
        assert connection_limits(config, open_files=100_000).max_connections == DEFAULT_MAX_CONNECTIONS
    assert not caplog.text


def test_a_configured_cap_over_the_limit_is_lowered_with_a_warning(
    config: GatewayConfig, caplog: pytest.LogCaptureFixture
) -> None:
    big = replace(config, listen=replace(config.listen, max_connections=5000))
    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        assert connection_limits(big, open_files=1024).max_connections == 1024 - FD_RESERVE
    assert "file descriptor limit 1024" in caplog.text


def test_a_cap_within_the_limit_is_kept(config: GatewayConfig, caplog: pytest.LogCaptureFixture) -> None:
    small = replace(config, listen=replace(config.listen, max_connections=50))
    with caplog.at_level(logging.WARNING, logger="gateway.server"):
        assert connection_limits(small, open_files=1024).max_connections == 50
    assert not caplog.text
    assert connection_limits(config, open_files=None).max_connections >= 1
