"""EspoCRM canonical paths and forwarded paths: one path for the policy, the signer and the server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.dialects.base import RequestView
from gateway.dialects.espocrm.dialect import create, ucfirst
from gateway.dialects.espocrm.identify import Classifier
from gateway.dialects.espocrm.routes import OPAQUE_KIND, ROUTES, match_route
from gateway.errors import BadRequest
from gateway.signers.espo_path import filter_path, rawurldecode

DIALECT = create({}, "u")
VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "espo-hmac.json").read_text())["vectors"]


def view_of(path: str, method: str = "GET") -> RequestView:
    return RequestView(method, path, path, MultiDictProxy(MultiDict()), CIMultiDictProxy(CIMultiDict()))


def server_reads(forwarded: str) -> str:
    """What EspoCRM routes: slim/psr7 filterPath, then the router's rawurldecode."""
    return rawurldecode(filter_path(forwarded))


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/api/v1/Lead", "/api/v1/Lead"),
        ("/api/v1/lead", "/api/v1/Lead"),
        ("/api/v1/LEAD", "/api/v1/LEAD"),
        ("/api/v1/lead/abc/contacts", "/api/v1/Lead/abc/contacts"),
        ("/api/v1/Lead/action/Convert", "/api/v1/Lead/action/Convert"),
        ("/api/v1/%41ttachment/file/x", "/api/v1/Attachment/file/x"),
        ("/api/v1/%61ttachment/file/x", "/api/v1/Attachment/file/x"),
        ("/api/v1/metadata", "/api/v1/Metadata"),
        ("/api/v1/%C3%A9lan", "/api/v1/élan"),
        ("/api/v1/_x", "/api/v1/_x"),
        ("/api/v1/", "/api/v1/"),
        ("/api/v1", "/api/v1"),
        ("/api/v1/Lead/", "/api/v1/Lead/"),
        ("/api/v1/Contact/abc%20def", "/api/v1/Contact/abc def"),
        ("/client/lead", "/client/lead"),
        ("/api/v1/portal-access/p1/lead", "/api/v1/portal-access/p1/lead"),
        ("", "/"),
    ],
)
def test_canonical_path(raw: str, canonical: str) -> None:
    assert DIALECT.canonical_path(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "/api/v1/Contact/../User",
        "/api/v1/Contact/%2e%2e/User",
        "/api/v1/./Lead",
        "/api/v1//Lead",
        "//api/v1/Lead",
        "/api/v1/Lead%2F1",
        "/api/v1/Lead%5c1",
        "/api/v1/Lead/%zz",
        "/api/v1/Lead/%",
        "/api/v1/%2541ttachment/file/x",
        "/api/v1/Lead/100%25",
        "/api/v1/index.php/Lead",
        "/api/v1/INDEX.PHP/Lead",
    ],
)
def test_ambiguous_paths_are_refused(raw: str) -> None:
    with pytest.raises(BadRequest) as info:
        DIALECT.canonical_path(raw)
    assert info.value.reason == "ambiguous-path"
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("name", "expected"), [("lead", "Lead"), ("Lead", "Lead"), ("élan", "élan"), ("", ""), ("1a", "1a")]
)
def test_ucfirst_is_php_ucfirst(name: str, expected: str) -> None:
    assert ucfirst(name) == expected


@pytest.mark.parametrize(
    ("canonical", "forwarded"),
    [
        ("/api/v1/Lead", "/api/v1/Lead"),
        ("/api/v1/Contact/abc def", "/api/v1/Contact/abc%20def"),
        ("/api/v1/Document/été", "/api/v1/Document/%C3%A9t%C3%A9"),
        ("/api/v1/Lead/(x)!*'", "/api/v1/Lead/%28x%29%21%2A%27"),
        ("/api/v1/Lead/a+b:c@d", "/api/v1/Lead/a+b:c@d"),
    ],
)
def test_forward_path(canonical: str, forwarded: str) -> None:
    got = DIALECT.forward_path(view_of(canonical))
    assert got == forwarded
    assert filter_path(got) == got
    assert server_reads(got) == canonical


@pytest.mark.parametrize(
    "vector",
    [v for v in VECTORS if v["base_path"] == "/api/v1" and "index.php" not in v["request_uri"]],
    ids=lambda v: f"{v['method']} {v['request_uri'][:60]}",
)
def test_forwarded_path_is_what_the_real_server_signs(vector: dict[str, Any]) -> None:
    raw = vector["request_uri"].split("?", 1)[0]
    forwarded = DIALECT.forward_path(view_of(DIALECT.canonical_path(raw)))
    # The real server keeps the case of existing escapes; the gateway always sends upper case.
    expected = vector["resource_path"].replace("%c3%a9", "%C3%A9")
    assert forwarded == "/api/v1" + expected


segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/%\\", exclude_categories=("Cc", "Cs")),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..") and s.lower() != "index.php")


@given(st.lists(segment, min_size=1, max_size=4))
def test_forwarded_path_decodes_back_to_the_canonical_path(segments: list[str]) -> None:
    from urllib.parse import quote

    raw = "/api/v1/" + "/".join(quote(s, safe="") for s in segments)
    canonical = DIALECT.canonical_path(raw)
    forwarded = DIALECT.forward_path(view_of(canonical))
    assert filter_path(forwarded) == forwarded
    assert server_reads(forwarded) == canonical
    assert DIALECT.canonical_path(forwarded) == canonical


def test_route_table_matches_like_the_server() -> None:
    static = match_route("POST", "/Email/inbox/read")
    assert static is not None and static.route.pattern == "/Email/inbox/read"
    generic = match_route("GET", "/Email/inbox/read")
    assert generic is not None and generic.route.pattern == "/:controller/:id/:link"
    crm_first = match_route("GET", "/Meeting/action/attendees")
    assert crm_first is not None and crm_first.route.pattern == "/Meeting/:id/attendees"
    head = match_route("HEAD", "/Lead/1")
    assert head is not None and head.kind == "read"
    assert match_route("GET", "/Lead/") is None
    assert match_route("PATCH", "/Lead") is None


def test_every_classified_route_kind_has_a_handler() -> None:
    classifier = Classifier({}, allow_unknown_links=False)
    kinds = {route.kind for route in ROUTES} - {OPAQUE_KIND}
    assert kinds <= set(classifier._kinds)
