"""Where the CiviCRM dialect finds the route, per CMS, and the dialect's own plumbing."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gateway.dialects import registry
from gateway.dialects.base import OPAQUE, RequestView
from gateway.dialects.civicrm.dialect import CiviCrmDialect, factory
from gateway.dialects.civicrm.routes import php_name, php_parse
from gateway.errors import BadRequest, ConfigError, Forbidden

WHERE = "upstreams.civi.options"
FORM = "application/x-www-form-urlencoded"


def make_view(
    dialect: CiviCrmDialect,
    method: str,
    target: str,
    form: list[tuple[str, str]] | None = None,
    content_type: str = "",
) -> RequestView:
    url = URL("http://upstream.test" + target, encoded=True)
    return RequestView(
        method,
        dialect.canonical_path(url.raw_path),
        url.raw_path,
        url.query,
        CIMultiDictProxy(CIMultiDict()),
        content_type or (FORM if form is not None else ""),
        None,
        MultiDictProxy(MultiDict(form)) if form is not None else None,
    )


Form = list[tuple[str, str]] | None


def first_op(cms: str, method: str, target: str, form: Form = None) -> tuple[str, str]:
    dialect = factory({"cms": cms}, WHERE)
    op = dialect.identify(make_view(dialect, method, target, form))[0]
    return op.entity, op.action


V3_GET = "entity=Contact&action=get"
CG = ("Contact", "get")
REST_PHP = "/sites/all/modules/civicrm/extern/rest.php"
AR, AP, APATH = "ambiguous-route", "ambiguous-parameter", "ambiguous-path"
V4_GET = "civicrm/ajax/api4/Contact/get"


@pytest.mark.parametrize(
    ("cms", "target", "expected"),
    [
        ("auto", f"/civicrm/ajax/rest?{V3_GET}", ("Contact", "get")),
        ("drupal", f"/civicrm/ajax/rest?{V3_GET}", ("Contact", "get")),
        ("drupal", f"/index.php?q=civicrm/ajax/rest&{V3_GET}", ("Contact", "get")),
        ("drupal", f"/?q={V4_GET}", ("Contact", "get")),
        ("backdrop", f"/{V4_GET}", ("Contact", "get")),
        ("standalone", f"/{V4_GET}/", ("Contact", "get")),
        ("wordpress", f"/wp-admin/admin.php?page=CiviCRM&q={V4_GET}", ("Contact", "get")),
        ("wordpress", f"/?civiwp=CiviCRM&q=civicrm/ajax/rest&{V3_GET}", ("Contact", "get")),
        ("wordpress", f"/wp-json/civicrm/v3/rest?{V3_GET}&json=1", ("Contact", "get")),
        ("wordpress", f"/?rest_route=/civicrm/v3/rest&{V3_GET}", ("Contact", "get")),
        ("wordpress", f"/wp-json/civicrm/v3/rest?rest_route=/civicrm/v3/rest&{V3_GET}", ("Contact", "get")),
        ("joomla", f"/administrator/index.php?option=com_civicrm&task={V4_GET}", ("Contact", "get")),
        ("joomla", f"/index.php?option=com_civicrm&task=civicrm/ajax/rest&{V3_GET}", ("Contact", "get")),
        ("auto", f"{REST_PHP}?{V3_GET}", ("Contact", "get")),
        ("wordpress", f"/wp-content/plugins/civicrm/civicrm/extern/rest.php?{V3_GET}", ("Contact", "get")),
        ("joomla", f"/administrator/components/com_civicrm/civicrm/extern/rest.php?{V3_GET}", CG),
        ("backdrop", f"/modules/civicrm/extern/rest.php?{V3_GET}", ("Contact", "get")),
        ("auto", f"/CiviCRM/Ajax/Rest?{V3_GET}", ("Contact", "get")),
        ("auto", f"/civicrm/ajax/rest?q=civicrm/ajax/rest&{V3_GET}", ("Contact", "get")),
        ("auto", f"/civicrm/api/json?{V3_GET}", ("Contact", "get")),
        ("auto", f"/?q=/{V4_GET}/", ("Contact", "get")),
    ],
)
def test_route_found_where_each_cms_puts_it(cms: str, target: str, expected: tuple[str, str]) -> None:
    assert first_op(cms, "GET", target) == expected


def test_route_in_a_post_body_counts_for_joomla_task() -> None:
    form = [("option", "com_civicrm"), ("task", "civicrm/ajax/rest"), ("entity", "Tag"), ("action", "create")]
    assert first_op("joomla", "POST", "/index.php", form) == ("Tag", "create")


@pytest.mark.parametrize(
    ("cms", "method", "target", "form", "reason"),
    [
        ("auto", "GET", f"/civicrm/ajax/rest?q={V4_GET}&{V3_GET}", None, AR),
        ("auto", "GET", f"/?q=civicrm/ajax/rest&q={V4_GET}", None, AP),
        ("auto", "POST", "/?q=civicrm/ajax/rest", [("q", f"{V4_GET}/x")], AP),
        ("auto", "GET", f"/index.php?q=civicrm/ajax/rest&task={V4_GET}", None, AR),
        ("auto", "GET", f"/wp-json/civicrm/v3/rest?rest_route=/wp/v2/users&{V3_GET}", None, AR),
        ("auto", "GET", "/index.php?option=com_users&task=civicrm/ajax/rest", None, AR),
        ("auto", "GET", f"/wp-admin/admin.php?page=shop&q=civicrm/ajax/rest&{V3_GET}", None, AR),
        ("auto", "GET", f"/wp-admin/admin.php?q=civicrm/ajax/rest&{V3_GET}", None, AR),
        ("auto", "GET", f"/node/1?q=civicrm/ajax/rest&{V3_GET}", None, AR),
        ("auto", "GET", f"/?q=civicrm/../civicrm/ajax/rest&{V3_GET}", None, APATH),
        ("auto", "GET", f"/?q=civicrm//ajax/rest&{V3_GET}", None, APATH),
        ("auto", "GET", f"/?q[]=civicrm/ajax/rest&{V3_GET}", None, AP),
        ("auto", "GET", f"/?q=civicrm/ajax/rest%2541&{V3_GET}", None, APATH),
        ("auto", "GET", "/civicrm/ajax/api4/Contact", None, "bad-route"),
        ("auto", "GET", f"{REST_PHP}?task=civicrm/ajax/rest&{V3_GET}", None, AR),
        ("drupal", "GET", f"/index.php?option=com_civicrm&task={V4_GET}", None, AR),
        ("drupal", "GET", "/?rest_route=/civicrm/v3/rest", None, AR),
        ("drupal", "GET", f"/wp-json/civicrm/v3/rest?{V3_GET}", None, AR),
        ("joomla", "GET", f"/{V4_GET}", None, AR),
        ("joomla", "GET", f"/index.php?q={V4_GET}", None, AR),
        ("wordpress", "GET", f"/index.php?option=com_civicrm&task={V4_GET}", None, AR),
    ],
)
def test_two_routes_or_a_foreign_route_location_is_a_bad_request(
    cms: str, method: str, target: str, form: Form, reason: str
) -> None:
    dialect = factory({"cms": cms}, WHERE)
    with pytest.raises(BadRequest) as info:
        dialect.identify(make_view(dialect, method, target, form))
    assert info.value.reason == reason


@pytest.mark.parametrize(
    "raw_path",
    ["/civicrm/ajax/%2e%2e/rest", "/civicrm//ajax/rest", "/civicrm/ajax%2Frest", "/civicrm/ajax/rest%2541"],
)
def test_ambiguous_paths_are_refused(raw_path: str) -> None:
    with pytest.raises(BadRequest) as info:
        factory({}, WHERE).canonical_path(raw_path)
    assert info.value.reason == "ambiguous-path"


@pytest.mark.parametrize(
    "target",
    ["/civicrm/login", "/?q=civicrm/authx/login", f"{REST_PHP}?q=civicrm/login"],
)
def test_login_routes_are_forbidden(target: str) -> None:
    with pytest.raises(Forbidden):
        first_op("auto", "GET", target)


@pytest.mark.parametrize(
    ("method", "target", "action"),
    [
        ("GET", "/civicrm/contact/view?cid=1", "GET civicrm/contact/view"),
        ("POST", "/civicrm/ajax/inline", "POST civicrm/ajax/inline"),
        ("GET", "/civicrm/ajax/api4/Contact/get/extra", "GET civicrm/ajax/api4/Contact/get/extra"),
        ("GET", "/some/page", "GET /some/page"),
        ("GET", "/index.php", "GET /index.php"),
        ("DELETE", "/wp-json/wp/v2/users/1", "DELETE wp-json/wp/v2/users/1"),
        ("GET", "/?q=civicrm/dashboard", "GET civicrm/dashboard"),
    ],
)
def test_everything_else_is_one_opaque_operation(method: str, target: str, action: str) -> None:
    dialect = factory({}, WHERE)
    ops = dialect.identify(make_view(dialect, method, target, [] if method == "POST" else None))
    assert [(op.entity, op.action) for op in ops] == [(OPAQUE, action)]
    assert ops[0].opaque


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("api.Email.get", ("api_Email_get", [])),
        (" return.display_name", ("return_display_name", [])),
        ("api.Email.get[email]", ("api_Email_get", ["email"])),
        ("a[b][]", ("a", ["b", None])),
        ("a[b", ("a_b", [])),
        ("a.b[c.d]x[e]", ("a_b", ["c.d"])),
        ("[x]", None),
    ],
)
def test_php_variable_names(name: str, expected: tuple[str, list[str | None]] | None) -> None:
    assert php_name(name) == expected


def test_php_parse_builds_arrays_and_last_value_wins() -> None:
    parsed = php_parse([("a", "1"), ("a", "2"), ("r[]", "x"), ("r[]", "y"), ("o[sort]", "name"), ("o", "z")])
    assert parsed == {"a": "2", "r": {"0": "x", "1": "y"}, "o": "z"}


def test_registered_and_credential_params() -> None:
    assert "civicrm" in registry.names()
    assert registry.DIALECTS["civicrm"].factory is factory
    built = registry.factory_for("civicrm")
    assert built is not None
    assert isinstance(built({}, "upstreams.civi.options"), CiviCrmDialect)
    assert CiviCrmDialect.credential_params == frozenset({"key", "api_key", "_authx", "_authxSiteKey"})


@pytest.mark.parametrize(
    ("raw", "forwarded"),
    [
        ("/civicrm/ajax/api4/Contact/get", "/civicrm/ajax/api4/Contact/get"),
        ("/civicrm/a%20b", "/civicrm/a%20b"),
        ("/caf%c3%a9/extern/rest.php", "/caf%C3%A9/extern/rest.php"),
        ("/%63ivicrm/ajax/rest", "/civicrm/ajax/rest"),
    ],
)
def test_forward_path_is_the_canonical_path_re_encoded(raw: str, forwarded: str) -> None:
    dialect = factory({}, WHERE)
    assert dialect.forward_path(make_view(dialect, "GET", raw)) == forwarded


@pytest.mark.parametrize(
    ("options", "target", "expected"),
    [
        ({}, f"/civicrm/ajax/rest?{V3_GET}", True),
        ({}, f"/{V4_GET}", True),
        ({}, f"/wp-admin/admin.php?page=CiviCRM&q={V4_GET}", True),
        ({}, "/civicrm/ajax/inline", True),
        ({}, f"{REST_PHP}?{V3_GET}", False),
        ({}, f"/wp-json/civicrm/v3/rest?{V3_GET}", False),
        ({}, "/civicrm/contact/view", False),
        ({"requested_with": False}, f"/{V4_GET}", False),
    ],
)
def test_needs_requested_with(options: dict[str, Any], target: str, expected: bool) -> None:
    dialect = factory(options, WHERE)
    assert dialect.needs_requested_with(make_view(dialect, "GET", target)) is expected


@pytest.mark.parametrize(
    ("method", "target", "content_type", "expected"),
    [
        ("GET", f"/{V4_GET}", "", False),
        ("HEAD", f"/civicrm/contact/view?{V3_GET}", FORM, True),
        ("HEAD", "/civicrm/contact/view", "", False),
        ("POST", "/civicrm/contact/view", FORM, True),
        ("POST", "/civicrm/contact/view", "multipart/form-data; boundary=x", True),
        ("POST", "/civicrm/contact/view", "application/json", False),
        ("POST", f"/{V4_GET}", "application/json", True),
        ("POST", "/sites/all/modules/civicrm/extern/rest.php", "", True),
        ("PUT", "/wp-json/civicrm/v3/rest", "application/json", True),
        ("POST", "/civicrm/ajax/rest?q=other", "application/json", False),
    ],
)
def test_body_needed(method: str, target: str, content_type: str, expected: bool) -> None:
    dialect = factory({}, WHERE)
    assert dialect.body_needed(make_view(dialect, method, target, content_type=content_type)) is expected


def test_identify_sees_the_body_once_it_is_read() -> None:
    dialect = factory({}, WHERE)
    view = make_view(dialect, "POST", "/civicrm/ajax/rest", content_type=FORM)
    assert dialect.body_needed(view)
    view.form = MultiDictProxy(MultiDict([("entity", "Email"), ("action", "create")]))
    assert [(op.entity, op.action) for op in dialect.identify(view)] == [("Email", "create")]


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"bogus": 1}, f"{WHERE}.bogus"),
        ({"cms": "typo3"}, f"{WHERE}.cms"),
        ({"cms": 3}, f"{WHERE}.cms"),
        ({"requested_with": "yes"}, f"{WHERE}.requested_with"),
        ({"fk_map": ["Contact"]}, f"{WHERE}.fk_map"),
        ({"fk_map": {"Contact": "Organization"}}, f"{WHERE}.fk_map.Contact"),
        ({"fk_map": {"Contact": {"org_id": 5}}}, f"{WHERE}.fk_map.Contact.org_id"),
        ({"fk_map": {"Contact": {"bad name": "Organization"}}}, f"{WHERE}.fk_map.Contact.bad name"),
        ({"fk_map": {"Bad Entity": {"x_id": "Contact"}}}, f"{WHERE}.fk_map"),
    ],
)
def test_bad_options_name_the_key(options: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        factory(options, WHERE)
    assert info.value.key == key


def test_good_options_are_applied() -> None:
    options = {"cms": "joomla", "requested_with": False, "fk_map": {"Contact": {"x_id": "Tag"}}}
    dialect = factory(options, WHERE)
    assert (dialect.cms, dialect.requested_with) == ("joomla", False)
    assert dialect.schema.fk_target("Contact", "x_id") == "Tag"
    assert dialect.schema.fk_target("Email", "contact_id") == "Contact"


def test_query_helper_round_trips_json() -> None:
    # guard for the other CiviCRM tests: urlencode + yarl keep JSON text intact
    target = "/civicrm/ajax/rest?" + urlencode({"json": '{"a": "b+c&d"}'})
    view = make_view(factory({}, WHERE), "GET", target)
    assert view.query["json"] == '{"a": "b+c&d"}'
