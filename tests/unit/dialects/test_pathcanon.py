from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.dialects.pathcanon import SLIM_SAFE, canonicalise, encode_path
from gateway.errors import BadRequest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "/"),
        ("/", "/"),
        ("/civicrm/ajax/api4/Contact/get", "/civicrm/ajax/api4/Contact/get"),
        ("/%41ttachment/file/x", "/Attachment/file/x"),
        ("/caf%C3%A9", "/café"),
        ("/caf%c3%a9", "/café"),
        ("/café", "/café"),
        ("/Lead/", "/Lead/"),
        ("/a%20b", "/a b"),
        ("/a+b", "/a+b"),
        ("/a%252F", "/a%2F"),
        ("/.well-known/x", "/.well-known/x"),
        ("/a...b/...", "/a...b/..."),
    ],
)
def test_canonicalise_decodes_once(raw: str, expected: str) -> None:
    assert canonicalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "/a/../b",
        "/a/./b",
        "/..",
        "/a/..",
        "/a/%2e%2e/b",
        "/a/%2E/b",
        "/a/.%2e/b",
        "/a//b",
        "//a",
        "/a/b//",
        "/a%2Fb",
        "/a%2fb",
        "/a%5Cb",
        "/a%5cb",
        "/a\\b",
        "/a%00b",
        "/a%0Ab",
        "/a%7Fb",
        "/a%C2%85b",
        "/a\x01b",
        "/a%zzb",
        "/a%4",
        "/a%",
        "/a%C3",
        "/a%C3%28",
        "/a%FF",
        "/a\udcff",
        "a/b",
        "%2Fa",
    ],
)
def test_canonicalise_refuses_ambiguous_paths(raw: str) -> None:
    with pytest.raises(BadRequest) as info:
        canonicalise(raw)
    assert info.value.reason == "ambiguous-path"
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/civicrm/ajax/rest", "/civicrm/ajax/rest"),
        ("/café", "/caf%C3%A9"),
        ("/a b", "/a%20b"),
        ("/a%2F", "/a%252F"),
        ("/a?b#c", "/a%3Fb%23c"),
        ("/x!$&'()*+,;=y", "/x!$&'()*+,;=y"),
        ("/u-._~", "/u-._~"),
        ("/a:b@c", "/a%3Ab%40c"),
        ('/a"<>[]{}|^`', "/a%22%3C%3E%5B%5D%7B%7D%7C%5E%60"),
    ],
)
def test_encode_path(path: str, expected: str) -> None:
    assert encode_path(path) == expected


def test_encode_path_with_slim_safe_set_encodes_what_slim_would() -> None:
    assert encode_path("/A(b)!*'c:d@e&f=g+h$i,j;k", safe=SLIM_SAFE) == "/A%28b%29%21%2A%27c:d@e&f=g+h$i,j;k"


_segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\"), min_size=1
).filter(lambda s: s not in (".", ".."))


@given(st.lists(_segment, min_size=0, max_size=5), st.booleans(), st.sampled_from(["", SLIM_SAFE]))
def test_encode_then_canonicalise_round_trips(segments: list[str], trailing: bool, safe: str) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    encoded = encode_path(path, safe=safe or "/!$&'()*+,;=")
    assert encoded.isascii()
    assert unquote(encoded, errors="strict") == path
    assert canonicalise(encoded) == path
