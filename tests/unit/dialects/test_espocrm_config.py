"""EspoCRM dialect options (validated at load) and refusals rendered the way Espo clients read them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.configfile.source import load_yaml_text
from gateway.dialects import registry
from gateway.dialects.espocrm.dialect import EspoDialect, create, header_safe
from gateway.errors import (
    AuthenticationError,
    BadRequest,
    ConfigError,
    Forbidden,
    GatewayError,
    RateLimited,
)

WHERE = "upstreams.espo.dialect_options"


def test_registered_under_espocrm() -> None:
    assert registry.DIALECTS["espocrm"].factory is create
    factory = registry.factory_for("espocrm")
    assert factory is not None
    dialect = factory({}, WHERE)
    assert isinstance(dialect, EspoDialect)
    assert dialect.api_path == "/api/v1"


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"apipath": "/api/v1"}, f"{WHERE}.apipath"),
        ({"api_path": 1}, f"{WHERE}.api_path"),
        ({"api_path": "api/v1"}, f"{WHERE}.api_path"),
        ({"api_path": "/api//v1"}, f"{WHERE}.api_path"),
        ({"api_path": "/api/../v1"}, f"{WHERE}.api_path"),
        ({"api_path": "/api/v%31"}, f"{WHERE}.api_path"),
        ({"allow_unknown_links": "yes"}, f"{WHERE}.allow_unknown_links"),
        ({"link_map": ["Lead"]}, f"{WHERE}.link_map"),
        ({"link_map": {"Lead": "Project"}}, f"{WHERE}.link_map.Lead"),
        ({"link_map": {"Lead x": {"a": "B"}}}, f"{WHERE}.link_map.Lead x"),
        ({"link_map": {"Lead": {"projects": 3}}}, f"{WHERE}.link_map.Lead.projects"),
        ({"link_map": {"Lead": {"pro/jects": "Project"}}}, f"{WHERE}.link_map.Lead.pro/jects"),
        ({"link_map": {"Lead": {"projects": "Pro ject"}}}, f"{WHERE}.link_map.Lead.projects"),
    ],
)
def test_bad_options_name_their_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        create(options, WHERE)
    assert info.value.key == key


def test_option_errors_carry_the_yaml_line() -> None:
    options = load_yaml_text("api_path: /api/v1\nbogus: 1\n", "gateway.yaml")
    with pytest.raises(ConfigError) as info:
        create(options, WHERE)
    assert (info.value.key, info.value.line) == (f"{WHERE}.bogus", 2)


@pytest.mark.parametrize(
    ("value", "api_path"), [("/api/v1/", "/api/v1"), ("/", ""), ("", ""), ("/crm/api/v1", "/crm/api/v1")]
)
def test_api_path_is_normalised(value: str, api_path: str) -> None:
    assert create({"api_path": value}, WHERE).api_path == api_path


def test_link_map_merges_over_the_built_in_map() -> None:
    dialect = create({"link_map": {"Account": {"contacts": "Person", "projects": "Project"}}}, WHERE)
    assert dialect.links["Account"]["contacts"] == "Person"
    assert dialect.links["Account"]["projects"] == "Project"
    assert dialect.links["Account"]["opportunities"] == "Opportunity"
    assert create({}, WHERE).links["Account"]["contacts"] == "Contact"


# -- render_error --------------------------------------------------------------------------------

DIALECT = create({}, WHERE)


@pytest.mark.parametrize(
    "error",
    [
        Forbidden("Lead: delete is not allowed", reason="policy-denied"),
        BadRequest("Ambiguous request path: dot segment", reason="ambiguous-path"),
        AuthenticationError("token expired", reason="token-expired"),
        RateLimited("slow down", retry_after=7),
        GatewayError("boom"),
    ],
)
def test_render_error(error: GatewayError) -> None:
    rendered = DIALECT.render_error(error, None)
    assert rendered.status == error.status
    assert rendered.content_type == "application/json"
    assert rendered.headers["X-Status-Reason"] == error.message
    assert json.loads(rendered.body) == {"message": error.message, "reason": error.reason}
    for name, value in error.headers.items():
        assert rendered.headers[name] == value


def test_render_error_keeps_retry_after_and_www_authenticate() -> None:
    assert DIALECT.render_error(RateLimited("slow", retry_after=3), None).headers["Retry-After"] == "3"
    auth = DIALECT.render_error(AuthenticationError("no", reason="token-expired"), None).headers
    assert auth["WWW-Authenticate"].startswith("Bearer ")


def test_status_reason_is_header_safe() -> None:
    error = Forbidden("Zugriff verweigert: Kontakt «Müller»\r\nSet-Cookie: x=1")
    rendered = DIALECT.render_error(error, None)
    reason = rendered.headers["X-Status-Reason"]
    assert all(" " <= ch <= "~" for ch in reason)
    assert "\r" not in reason and "\n" not in reason
    assert reason.startswith("Zugriff verweigert: Kontakt ?M?ller? Set-Cookie")
    assert json.loads(rendered.body)["message"] == error.message


def test_status_reason_replaces_a_client_supplied_one_and_is_bounded() -> None:
    error = Forbidden("x" * 1000, headers={"x-status-reason": "spoofed"})
    headers = DIALECT.render_error(error, None).headers
    assert [k for k in headers if k.lower() == "x-status-reason"] == ["X-Status-Reason"]
    assert headers["X-Status-Reason"] == "x" * 200
    assert header_safe("a\tb  c") == "a b c"
