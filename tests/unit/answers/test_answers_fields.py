from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.answers.errors import AnswerUnreadable
from gateway.answers.fields import FieldFilter
from gateway.dialects.civicrm.answers import answer_fields as civi_fields
from gateway.dialects.espocrm.answers import answer_fields as espo_fields

CIVI = FieldFilter(frozenset({"api_key"}), civi_fields)
ESPO = FieldFilter(frozenset({"assigneduser", "teams"}), espo_fields)
JSON = "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"values": [{"id": 1, "api_key": "k"}]}, {"values": [{"id": 1}]}),
        ({"values": {"2": {"id": 2, "API_KEY": "k"}}}, {"values": {"2": {"id": 2}}}),  # v3 keyed by id
        (
            {"values": [{"id": 1, "contact_id.api_key": "k", "contact_id.email": "e"}]},
            {"values": [{"id": 1, "contact_id.email": "e"}]},
        ),  # implicit join
        ({"values": [{"c.api_key": "k", "c.id": 1}]}, {"values": [{"c.id": 1}]}),  # aliased self-join
        ({"values": [{"api_key:label": "k", "id": 3}]}, {"values": [{"id": 3}]}),  # pseudo-constant suffix
        ({"values": {"k-abc": {"id": 2, "api_key": "k-abc2"}}}, {"values": {"k-abc": {"id": 2}}}),  # index-ed
        (
            {"values": [{"id": 1, "api.Contact.get": {"values": [{"api_key": "k", "id": 9}]}}]},
            {"values": [{"id": 1, "api.Contact.get": {"values": [{"id": 9}]}}]},
        ),  # v3 chain
        (
            {"values": [{"Custom_Group.api_key": "k", "Custom_Group.color": "red"}]},
            {"values": [{"Custom_Group.color": "red"}]},
        ),  # custom.* style
        ({"values": [{"id": 1, "note": "about api_key"}]}, {"values": [{"id": 1, "note": "about api_key"}]}),
    ],
)
def test_civicrm_json_keys_carrying_a_denied_field_are_removed(answer: Any, expected: Any) -> None:
    assert json.loads(CIVI.apply(json.dumps(answer).encode(), JSON)) == expected


def test_an_escaped_key_is_still_a_key() -> None:
    body = b'{"values":[{"id":1,"api\\u005fkey":"k"}]}'
    assert json.loads(CIVI.apply(body, JSON)) == {"values": [{"id": 1}]}


def test_an_answer_without_the_field_is_passed_byte_for_byte() -> None:
    body = b'{ "values" : [ {"id": 1} ] }'
    assert CIVI.apply(body, JSON) is body


@pytest.mark.parametrize(
    ("record", "kept"),
    [
        ({"assignedUserId": "u", "assignedUserName": "N", "name": "x"}, {"name": "x"}),
        ({"teamsIds": ["t"], "teamsNames": {"t": "T"}, "teamsColumns": {}, "id": "1"}, {"id": "1"}),
        ({"name": "x", "accountId": "a"}, {"name": "x", "accountId": "a"}),
    ],
)
def test_espo_link_fields_are_matched_by_every_derived_key(
    record: dict[str, Any], kept: dict[str, Any]
) -> None:
    body = json.dumps({"list": [record]}).encode()
    assert json.loads(ESPO.apply(body, "application/json")) == {"list": [kept]}


def test_v3_xml_elements_are_removed() -> None:
    body = b"<ResultSet><Result><id>2</id><api_key>k</api_key><c.api_key/></Result></ResultSet>"
    assert CIVI.apply(body, "text/xml") == b"<ResultSet><Result><id>2</id></Result></ResultSet>"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"values":[{"api_key": "k"}', JSON),  # truncated JSON
        (b'Notice: x\n{"api_key":"k"}', JSON),  # PHP notice before the JSON
        (b"<r><api_key><x>k</x></api_key></r>", "text/xml"),  # element that is not a leaf
        (b"<html>api_key: k</html>", "text/html"),
        (b"id,api_key\n1,k\n", "text/csv"),
        (b"api_key=k", ""),
    ],
)
def test_what_cannot_be_filtered_is_refused(body: bytes, kind: str) -> None:
    with pytest.raises(AnswerUnreadable):
        CIVI.apply(body, kind)


def test_text_without_a_denied_name_and_media_pass() -> None:
    assert CIVI.apply(b"<html>ok</html>", "text/html") == b"<html>ok</html>"
    assert not CIVI.inspects("image/png")
    assert not CIVI.inspects("application/pdf")
    assert not CIVI.inspects("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert CIVI.inspects("application/octet-stream")
    assert CIVI.inspects("text/csv; charset=utf-8")
