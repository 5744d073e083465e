"""The EspoCRM dialect remembers what depends only on a request's path and query (canonical path, route,
fields a list reads): a repeated request gets the same answer, a refused one is refused again, and the
memos stay bounded whatever the paths."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.dialects.base import RequestView
from gateway.dialects.espocrm.dialect import EspoDialect
from gateway.dialects.pathcanon import MEMO_PATH_LIMIT, canonicalise
from gateway.errors import BadRequest


def view(
    dialect: EspoDialect, method: str, raw_path: str, query: tuple[tuple[str, str], ...] = ()
) -> RequestView:
    return RequestView(
        method=method,
        path=dialect.canonical_path(raw_path),
        raw_path=raw_path,
        query=MultiDictProxy(MultiDict(query)),
        headers=CIMultiDictProxy(CIMultiDict[str]()),
    )


@pytest.mark.parametrize(
    "raw",
    [
        "/api/v1/%2e%2e/x",
        "/api/v1/a%2Fb",
        "/api/v1/a//b",
        "/api/v1/%ZZ",
        "/a" + "b" * MEMO_PATH_LIMIT + "/%2e",
    ],
)
def test_a_refused_path_is_refused_every_time(raw: str) -> None:
    for _ in range(3):
        with pytest.raises(BadRequest):
            canonicalise(raw)


@pytest.mark.parametrize("raw", ["/api/v1/Lead/%C3%A9t%C3%A9", "/x/" + "y" * (2 * MEMO_PATH_LIMIT)])
def test_a_path_reads_the_same_remembered_or_not(raw: str) -> None:
    assert canonicalise(raw) == canonicalise(raw) == canonicalise(raw + "/")[:-1]


def test_a_repeated_list_request_is_classified_the_same() -> None:
    dialect = EspoDialect()
    query = (("select", "name,emailAddress"), ("orderBy", "createdAt"))
    first = dialect.identify(view(dialect, "GET", "/api/v1/Lead", query))
    again = dialect.identify(view(dialect, "GET", "/api/v1/lead", query))
    assert first == again
    assert first[0].fields == {"name", "emailAddress", "createdAt"}
    other = dialect.identify(view(dialect, "GET", "/api/v1/Lead", (("select", "name"),)))
    assert other[0].fields == {"name"}


def test_the_method_is_part_of_the_route_memo() -> None:
    dialect = EspoDialect()
    assert dialect.identify(view(dialect, "GET", "/api/v1/Lead/1"))[0].action == "read"
    assert dialect.identify(view(dialect, "DELETE", "/api/v1/Lead/1"))[0].action == "delete"
    assert dialect.identify(view(dialect, "GET", "/api/v1/Lead/1"))[0].action == "read"


def test_an_unknown_list_parameter_is_refused_every_time() -> None:
    dialect = EspoDialect()
    for _ in range(3):
        with pytest.raises(BadRequest) as refused:
            dialect.identify(view(dialect, "GET", "/api/v1/Lead", (("maxSize", "5"), ("evil", "1"))))
        assert refused.value.reason == "unknown-parameter"


def test_the_memos_stay_bounded() -> None:
    dialect = EspoDialect()
    for number in range(5000):
        dialect.identify(view(dialect, "GET", f"/api/v1/Lead/{number}", (("select", f"f{number}"),)))
        dialect.identify(view(dialect, "GET", "/api/v1/Lead", (("select", f"f{number}"),)))
    assert len(dialect._routes) <= 4096
    assert len(dialect._classifier._read_memo) <= 4096
