from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from gateway.answers.guard import MARK, CredentialGuard

SECRET = "s3cr3t/key+with~odd&chars é"
PLAIN = "abcdefghij0123456789"


@pytest.mark.parametrize(
    "spelling",
    [
        SECRET,
        quote_plus(SECRET),
        quote(SECRET, safe=""),
        quote(SECRET, safe="").lower().replace("s3cr3t", "s3cr3t"),
        quote_plus(SECRET).replace("~", "%7E"),
        json.dumps(SECRET)[1:-1],
        json.dumps(SECRET)[1:-1].replace("/", "\\/"),
        "s3cr3t/key+with~odd&amp;chars é",
    ],
    ids=["raw", "quote_plus", "quote", "lower-hex", "php-tilde", "json", "json-slash", "html"],
)
def test_every_spelling_is_removed_from_bodies_and_headers(spelling: str) -> None:
    guard = CredentialGuard([SECRET])
    body = f'<a href="/x?api_key={spelling}&n=1">'.encode()
    cleaned = guard.body(body)
    assert spelling.encode() not in cleaned and MARK.encode() in cleaned
    assert spelling not in guard.text(f"https://crm/x?k={spelling}")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 19, 20, 64])
def test_a_value_split_across_chunks_is_still_caught(size: int) -> None:
    guard = CredentialGuard([PLAIN, "other-secret-value"])
    body = (b"x" * 5 + PLAIN.encode() + b"y" * 9 + b"other-secret-value") * 3
    scrubber = guard.stream()
    out = b"".join(scrubber.feed(body[i : i + size]) for i in range(0, len(body), size)) + scrubber.close()
    assert out == guard.body(body)
    assert PLAIN.encode() not in out and b"other-secret-value" not in out
    assert out.count(MARK.encode()) == 6


def test_nothing_to_guard_leaves_everything_alone() -> None:
    guard = CredentialGuard(["", ""])
    assert not guard
    scrubber = guard.stream()
    assert scrubber.feed(b"abc") + scrubber.close() == b"abc"
    assert guard.text("abc") == "abc"


def test_guards_built_alike_are_alike_and_each_redacts_only_its_own_values() -> None:
    """The spellings are compiled once per tuple of injected values; each guard still holds only its own."""
    first, again = (
        CredentialGuard(["s3cret/key", "", "hdr+value"]),
        CredentialGuard(("s3cret/key", "", "hdr+value")),
    )
    other = CredentialGuard(["another-one"])
    echo = 'x s3cret%2Fkey y hdr%2Bvalue z "another-one"'
    assert first.text(echo) == again.text(echo) == 'x [redacted] y [redacted] z "another-one"'
    assert other.text(echo) == 'x s3cret%2Fkey y hdr%2Bvalue z "[redacted]"'
    assert first.tail == again.tail and not CredentialGuard([])
