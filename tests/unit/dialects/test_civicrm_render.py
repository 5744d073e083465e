"""Refusals rendered the way each kind of CiviCRM client reads them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gateway.dialects.base import RequestView
from gateway.dialects.civicrm.dialect import factory
from gateway.dialects.civicrm.render import Style, xml_text
from gateway.errors import AuthenticationError, BadRequest, Forbidden, GatewayError, RateLimited

DIALECT = factory({}, "upstreams.civi.options")
REST = "/sites/all/modules/civicrm/extern/rest.php"


def view_of(method: str, target: str, form: list[tuple[str, str]] | None = None) -> RequestView:
    url = URL("http://upstream.test" + target, encoded=True)
    return RequestView(
        method,
        url.path,
        url.raw_path,
        url.query,
        CIMultiDictProxy(CIMultiDict()),
        "application/x-www-form-urlencoded" if form is not None else "",
        None,
        MultiDictProxy(MultiDict(form)) if form is not None else None,
    )


@pytest.mark.parametrize(
    ("method", "target", "form", "style"),
    [
        ("POST", "/civicrm/ajax/api4/Contact/get", None, Style.V4),
        ("POST", "/civicrm/ajax/api4", [("calls", "{}")], Style.V4),
        ("GET", "/wp-admin/admin.php?page=CiviCRM&q=civicrm/ajax/api4/Contact/get", None, Style.V4),
        ("GET", "/civicrm/contact/view", None, Style.V4),
        ("GET", "/civicrm/ajax/rest?q=civicrm/ajax/api4/Contact/get", None, Style.V4),
        ("GET", "/civicrm/ajax/rest?entity=Contact&action=get&json=1", None, Style.V3_JSON),
        ("GET", "/civicrm/ajax/rest?entity=Contact&action=get&json=0", None, Style.V3_JSON),
        ("POST", "/civicrm/ajax/rest", [("json", '{"sequential":1}')], Style.V3_JSON),
        ("GET", f"{REST}?entity=Contact&action=get&json=%7B%7D", None, Style.V3_JSON),
        ("GET", "/civicrm/ajax/rest?entity=Contact&action=get", None, Style.V3_XML),
        ("GET", f"{REST}?entity=Contact&action=get&key=k", None, Style.V3_XML),
        ("GET", "/index.php?q=civicrm/ajax/rest&entity=Contact&action=get", None, Style.V3_XML),
        ("GET", "/wp-json/civicrm/v3/rest?entity=Contact&action=get", None, Style.V3_JSON),
        ("GET", "/civicrm/api/json?entity=Contact&action=get", None, Style.V3_JSON),
    ],
)
def test_style_follows_the_route_and_the_json_param(
    method: str, target: str, form: list[tuple[str, str]] | None, style: Style
) -> None:
    assert DIALECT.error_style(view_of(method, target, form)) is style


def test_v4_body_and_status() -> None:
    error = Forbidden("Contact delete is not allowed", reason="policy-denied")
    rendering = DIALECT.render_error(error, view_of("POST", "/civicrm/ajax/api4/Contact/delete"))
    assert (rendering.status, rendering.content_type) == (403, "application/json")
    assert json.loads(rendering.body) == {
        "error_code": "policy-denied",
        "error_message": "Contact delete is not allowed",
        "status": 403,
        "is_error": 1,
    }


def test_v3_json_body_keeps_the_real_status() -> None:
    error = BadRequest("Requests that modify data must use POST", reason="destructive-get")
    rendering = DIALECT.render_error(
        error, view_of("GET", "/civicrm/ajax/rest?entity=C&action=delete&json=1")
    )
    assert (rendering.status, rendering.content_type) == (400, "application/json")
    assert json.loads(rendering.body) == {
        "is_error": 1,
        "error_message": "Requests that modify data must use POST",
        "error_code": "destructive-get",
    }


def test_wordpress_rest_is_always_json() -> None:
    rendering = DIALECT.render_error(
        Forbidden("no"), view_of("GET", "/wp-json/civicrm/v3/rest?entity=C&action=get")
    )
    assert json.loads(rendering.body) == {"is_error": 1, "error_message": "no", "error_code": "forbidden"}


def test_v3_xml_is_civicrm_result_set_and_escaped() -> None:
    error = Forbidden("Fields <api_key> & 'others' are \"denied\"\x01", reason="field-denied")
    rendering = DIALECT.render_error(error, view_of("GET", f"{REST}?entity=Contact&action=get"))
    assert (rendering.status, rendering.content_type) == (403, "text/xml")
    text = rendering.body.decode()
    assert text.startswith(
        '<?xml version="1.0"?>\n<ResultSet xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    )
    assert "&lt;api_key&gt; &amp;" in text
    root = ET.fromstring(rendering.body)
    assert root.tag == "ResultSet"
    result = root.find("Result")
    assert result is not None
    assert {child.tag: child.text for child in result} == {
        "is_error": "1",
        "error_message": "Fields <api_key> & 'others' are \"denied\"\ufffd",
        "error_code": "field-denied",
    }


def test_no_view_means_v4_json() -> None:
    rendering = DIALECT.render_error(GatewayError("boom"), None)
    assert rendering.status == 500
    assert json.loads(rendering.body)["is_error"] == 1
    assert json.loads(rendering.body)["error_code"] == "internal-error"


@pytest.mark.parametrize(
    ("error", "header", "value"),
    [
        (AuthenticationError("expired", reason="token-expired"), "WWW-Authenticate", "Bearer"),
        (RateLimited("slow down", retry_after=7), "Retry-After", "7"),
    ],
)
def test_error_headers_are_kept_in_every_style(error: GatewayError, header: str, value: str) -> None:
    for target in ("/civicrm/ajax/api4/Contact/get", f"{REST}?entity=C&action=get", f"{REST}?json=1"):
        rendering = DIALECT.render_error(error, view_of("GET", target))
        assert rendering.status == error.status
        assert rendering.headers[header].startswith(value)
        assert b"is_error" in rendering.body and error.reason.encode() in rendering.body


def test_xml_text_escapes_markup() -> None:
    assert xml_text("a<b>&c") == "a&lt;b&gt;&amp;c"
