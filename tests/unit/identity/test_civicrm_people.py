"""The CiviCRM look-up: the fixed request it sends, and how an answer is read (fail closed)."""

from __future__ import annotations

import json

import pytest

from gateway.dialects.civicrm.dialect import CiviCrmDialect
from gateway.dialects.civicrm.people import ROW_LIMIT, CiviCrmDirectory
from gateway.dialects.directory import LookupUnreadable

DIRECTORY = CiviCrmDirectory()


@pytest.mark.parametrize(
    ("by", "value", "cms", "path", "query", "where"),
    [
        ("email", "a@x.org", "auto", "/base/civicrm/ajax/api4/Email/get", [], ["email", "=", "a@x.org"]),
        ("uf_id", "1007", "drupal", "/base/civicrm/ajax/api4/UFMatch/get", [], ["uf_id", "=", 1007]),
        (
            "uf_name",
            "ada",
            "wordpress",
            "/base/wp-admin/admin.php",
            [("page", "CiviCRM"), ("q", "civicrm/ajax/api4/UFMatch/get")],
            ["uf_name", "=", "ada"],
        ),
        (
            "external_identifier",
            "EMP-7",
            "joomla",
            "/base/administrator/index.php",
            [("option", "com_civicrm"), ("task", "civicrm/ajax/api4/Contact/get")],
            ["external_identifier", "=", "EMP-7"],
        ),
    ],
)
def test_one_fixed_read(
    by: str, value: str, cms: str, path: str, query: list[tuple[str, str]], where: list[object]
) -> None:
    out = DIRECTORY.request("contact_id", by, value, "/base", CiviCrmDialect(cms=cms))
    assert (out.method, out.path, out.query) == ("POST", path, query)
    assert out.headers["X-Requested-With"] == "XMLHttpRequest"
    assert out.form is not None and [name for name, _ in out.form] == ["params"]
    params = json.loads(out.form[0][1])
    assert params["where"][0] == where
    assert params["limit"] == ROW_LIMIT


@pytest.mark.parametrize(
    ("values", "found"),
    [
        ([], []),
        ([{"contact_id": 7}], ["7"]),
        ([{"contact_id": 7}, {"contact_id": 7}], ["7"]),
        ([{"contact_id": 7}, {"contact_id": 8}], ["7", "8"]),
        ([{"id": 9}], ["9"]),
        ([{"contact_id": 7}] * ROW_LIMIT, ["7", "(more rows not read)"]),
    ],
)
def test_distinct_contacts_in_the_answer(values: list[dict[str, int]], found: list[str]) -> None:
    body = json.dumps({"values": values, "count": len(values)}).encode()
    assert DIRECTORY.matches("contact_id", 200, body) == found


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, b"HTTP 401 Invalid credential"),
        (403, json.dumps({"error_code": 0, "error_message": "Authorization failed"}).encode()),
        (200, b"<html>login</html>"),
        (200, json.dumps({"values": "x"}).encode()),
        (200, json.dumps({"values": [], "error_message": "DB Error"}).encode()),
        (200, json.dumps({"values": [{"contact_id": None}]}).encode()),
        (200, json.dumps({"values": [{"contact_id": True}]}).encode()),
    ],
)
def test_an_unreadable_answer_is_a_failure_not_a_miss(status: int, body: bytes) -> None:
    with pytest.raises(LookupUnreadable):
        DIRECTORY.matches("contact_id", status, body)
