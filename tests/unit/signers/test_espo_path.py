from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.signers.espo_path import encode_decoded_path, filter_path, rawurldecode

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "espo-hmac.json").read_text())["vectors"]

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
PERCENTY = st.lists(st.sampled_from([*"%/aAfFzZ09 é()!*'+:;~", "%c3", "%A9", "%2F", "%25"])).map("".join)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/Lead", "/Lead"),
        ("/Lead/(x)!*'", "/Lead/%28x%29%21%2A%27"),
        ("/Contact/abc def", "/Contact/abc%20def"),
        ("/Document/été", "/Document/%C3%A9t%C3%A9"),
        ("/Document/%c3%a9", "/Document/%c3%a9"),
        ("/Document/%C3%A9", "/Document/%C3%A9"),
        ("/100%", "/100%25"),
        ("/%zz/%4", "/%25zz/%254"),
        ("/a:b@c&d=e+f$g,h;i~j-k_l.m/", "/a:b@c&d=e+f$g,h;i~j-k_l.m/"),
        ("/q?x#y", "/q%3Fx%23y"),
        ('/"<>[]{}|\\^`', "/%22%3C%3E%5B%5D%7B%7D%7C%5C%5E%60"),
        ("/\udce9t\xe9", "/%E9t%C3%A9"),
        ("/Lead/", "/Lead/"),
    ],
)
def test_filter_path_reencodes_like_slim_psr7(raw: str, expected: str) -> None:
    assert filter_path(raw) == expected


@pytest.mark.parametrize("vector", VECTORS, ids=[v["request_uri"] for v in VECTORS])
def test_filter_path_gives_every_vector_resource_path(vector: dict[str, str]) -> None:
    path = urlsplit(vector["request_uri"]).path
    assert filter_path(path)[len(vector["base_path"]) :] == vector["resource_path"]
    assert vector["signed_string"] == f"{vector['method']} {vector['resource_path']}"


@pytest.mark.parametrize(
    ("decoded", "expected"),
    [
        ("/api/v1/Document/été", "/api/v1/Document/%C3%A9t%C3%A9"),
        ("/Lead/(x)!*'", "/Lead/%28x%29%21%2A%27"),
        ("/a b/100%", "/a%20b/100%25"),
        ("/a+b:c@d", "/a+b:c@d"),
        ("/%41", "/%2541"),
        ("/q?x#y", "/q%3Fx%23y"),
    ],
)
def test_encode_decoded_path(decoded: str, expected: str) -> None:
    assert encode_decoded_path(decoded) == expected


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("%41", "A"),
        ("a+b", "a+b"),
        ("%zz%4", "%zz%4"),
        ("%c3%a9", "é"),
        ("%C3%A9", "é"),
        ("%E9", "\udce9"),
        ("x", "x"),
    ],
)
def test_rawurldecode_matches_php(encoded: str, expected: str) -> None:
    assert rawurldecode(encoded) == expected


@given(TEXT)
def test_encoded_path_is_a_filter_path_fixed_point_and_round_trips(path: str) -> None:
    encoded = encode_decoded_path(path)
    assert filter_path(encoded) == encoded
    assert unquote(encoded) == path
    assert rawurldecode(encoded) == path


@given(st.one_of(TEXT, PERCENTY))
def test_filter_path_is_idempotent_and_keeps_the_decoded_meaning(raw: str) -> None:
    filtered = filter_path(raw)
    assert filter_path(filtered) == filtered
    assert rawurldecode(filtered) == rawurldecode(raw)
    assert filtered.isascii()
