"""The EspoCRM look-up: one fixed User list read, and how its answer is read (fail closed)."""

from __future__ import annotations

import json

import pytest

from gateway.dialects.directory import LookupUnreadable
from gateway.dialects.espocrm.dialect import EspoDialect, parse_options
from gateway.dialects.espocrm.people import EspoCrmDirectory

DIRECTORY = EspoCrmDirectory()


@pytest.mark.parametrize(("api_path", "path"), [("/api/v1", "/espo/api/v1/User"), ("", "/espo/User")])
def test_one_fixed_read_of_regular_users(api_path: str, path: str) -> None:
    out = DIRECTORY.request(
        "act_as", "email", "ada@example.org", "/espo", EspoDialect(parse_options({"api_path": api_path}, "o"))
    )
    assert (out.method, out.path, out.body, out.form) == ("GET", path, None, None)
    assert out.query == [
        ("select", "userName"),
        ("maxSize", "2"),
        ("where[0][type]", "equals"),
        ("where[0][attribute]", "emailAddress"),
        ("where[0][value]", "ada@example.org"),
        ("where[1][type]", "equals"),
        ("where[1][attribute]", "type"),
        ("where[1][value]", "regular"),
    ]


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ({"total": 0, "list": []}, []),
        ({"total": 1, "list": [{"id": "u1", "userName": "ada"}]}, ["ada"]),
        ({"total": 2, "list": [{"userName": "a"}, {"userName": "b"}]}, ["a", "b"]),
        ({"total": 3, "list": [{"userName": "a"}]}, ["a", "(more rows not read)"]),
    ],
)
def test_user_names_in_the_answer(answer: object, found: list[str]) -> None:
    assert DIRECTORY.matches("act_as", 200, json.dumps(answer).encode()) == found


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, b""),
        (403, b'{"message": "no access"}'),
        (200, b"not json"),
        (200, b'{"list": []}'),
        (200, b'{"total": true, "list": []}'),
        (200, b'{"total": 1, "list": [{"id": "u1"}]}'),
    ],
)
def test_an_unreadable_answer_is_a_failure_not_a_miss(status: int, body: bytes) -> None:
    with pytest.raises(LookupUnreadable):
        DIRECTORY.matches("act_as", status, body)
