"""The CiviCRM dialect locates a request's route once per state of its view: every later question
(body needed, X-Requested-With, error style, identify) reuses it until the body or the path changes it."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gateway.dialects.base import RequestView
from gateway.dialects.civicrm.dialect import CiviCrmDialect
from gateway.dialects.civicrm.routes import Kind
from gateway.errors import BadRequest

FORM = "application/x-www-form-urlencoded"


def make_view(dialect: CiviCrmDialect, method: str, target: str, content_type: str = "") -> RequestView:
    url = URL("http://upstream.test" + target, encoded=True)
    headers = CIMultiDictProxy(CIMultiDict[str]())
    return RequestView(
        method, dialect.canonical_path(url.raw_path), url.raw_path, url.query, headers, content_type
    )


def set_form(view: RequestView, **fields: str) -> None:
    view.form = MultiDictProxy(MultiDict(fields))


def test_the_route_is_located_once_per_state_of_the_view() -> None:
    dialect = CiviCrmDialect()
    view = make_view(dialect, "GET", "/civicrm/ajax/api4/Contact/get")
    first = dialect.route(view)
    assert first.kind is Kind.API4
    assert dialect.needs_requested_with(view)
    dialect.identify(view)
    assert dialect.route(view) is first  # located again, it would be a new (equal) Route


def test_a_body_read_later_changes_the_route() -> None:
    dialect = CiviCrmDialect(cms="drupal")
    view = make_view(dialect, "POST", "/index.php", content_type=FORM)
    assert dialect.route(view).kind is Kind.OTHER  # the CMS entry point itself, before the body
    assert not dialect.needs_requested_with(view)
    set_form(view, q="civicrm/ajax/rest", entity="Contact", action="get")
    assert dialect.route(view).kind is Kind.AJAX_REST
    assert dialect.needs_requested_with(view)
    assert [(op.entity, op.action) for op in dialect.identify(view)] == [("Contact", "get")]


def test_a_changed_path_changes_the_route() -> None:
    dialect = CiviCrmDialect()
    view = make_view(dialect, "GET", "/civicrm/ajax/api4/Contact/get")
    assert dialect.route(view).entity == "Contact"
    view.path = "/civicrm/ajax/api4/Email/get"
    assert dialect.route(view).entity == "Email"


def test_each_dialect_locates_with_its_own_cms() -> None:
    view = make_view(CiviCrmDialect(), "GET", "/index.php?task=civicrm/ajax/rest")
    assert CiviCrmDialect(cms="joomla").route(view).kind is Kind.AJAX_REST
    with pytest.raises(BadRequest):
        CiviCrmDialect(cms="drupal").route(view)  # Drupal takes no route from 'task'


def test_a_refusal_is_given_every_time() -> None:
    dialect = CiviCrmDialect()
    view = make_view(dialect, "GET", "/civicrm/ajax/rest?q=civicrm/ajax/api4/Contact/get")
    for _ in range(2):
        with pytest.raises(BadRequest):
            dialect.route(view)
        assert not dialect.needs_requested_with(view)
