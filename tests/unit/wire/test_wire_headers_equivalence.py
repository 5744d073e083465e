"""The one-pass header filters give exactly what the composed filters they replaced gave: same names as
spelled, same values, same order, for random header sets built from every kind of name."""

from __future__ import annotations

import random

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.answers.guard import CredentialGuard
from gateway.answers.headers import DECODED_DROP, URL_HEADERS, PublicUrl, answer_headers, rewrite_url
from gateway.dialects.credentials import HEADERS
from gateway.wire import headers as hd
from gateway.wire.headers import HeaderRules

NAMES = [
    *("Accept", "accept", "User-Agent", "Content-Type", "X-Custom", "x-custom", "Link", "Refresh"),
    *("Connection", "connection", "Keep-Alive", "TE", "Upgrade", "Transfer-Encoding", "Content-Length"),
    *("Authorization", "X-Civi-Auth", "x-civi-whatever", "X-Hmac-Authorization", "X-Api-Key", "Cookie"),
    *("Espo-Authorization", "espo-authorization-code", "X-Forwarded-For", "Forwarded", "X-Request-ID"),
    *(
        "X_Civi_Auth",
        "X.Api.Key",
        "x.civi.key",
        "X-Original-URL",
        "Client-IP",
        "X_Custom",
        "X-Requested-With",
    ),
    *("Location", "Content-Location", "Set-Cookie", "Server", "WWW-Authenticate", "Content-Encoding"),
    *("ETag", "Digest", "Content-MD5", "Proxy-Connection", "Trailer"),
]
SITE, KEY = "site-key-1234567", "api/key+42"
GUARD = CredentialGuard([SITE, KEY])
PUBLIC = PublicUrl("https://crm.internal:8443", "/wp", "https://gw.example", "/civi")
VALUES = [
    "1",
    "close",
    "keep-alive, X-Custom",
    "x-custom,  Link ,",
    f"k={SITE}",
    "/wp/x?api_key=api%2Fkey%2B42",
]


def old_outbound(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    tokens = old_tokens(headers)
    drop = HEADERS._drop_out | tokens if tokens else HEADERS._drop_out
    return CIMultiDict(
        (k, v)
        for k, v in headers.items()
        if (low := k.lower()) not in drop
        and not low.startswith(HEADERS.prefixes)
        and "_" not in low
        and not HEADERS.disguised(k)
    )


def old_tokens(headers: CIMultiDictProxy[str]) -> set[str]:
    tokens: set[str] = set()
    for value in headers.getall("Connection", ()):
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def old_inbound(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    tokens = old_tokens(headers)
    drop = hd.RESPONSE_DROP | tokens if tokens else hd.RESPONSE_DROP
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


def old_answer(upstream: CIMultiDictProxy[str], decoded: bool) -> CIMultiDict[str]:
    headers = old_inbound(upstream)
    if decoded:
        for name in DECODED_DROP:
            headers.popall(name, None)
    out = CIMultiDict[str]()
    for name, value in headers.items():
        if name.lower() in URL_HEADERS:
            value = rewrite_url(value, GUARD, PUBLIC)
        out.add(name, GUARD.text(value))
    return out


def header_sets(count: int) -> list[CIMultiDictProxy[str]]:
    rng = random.Random(17)
    sets = []
    for _ in range(count):
        pairs = [(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randint(0, 12))]
        sets.append(CIMultiDictProxy(CIMultiDict(pairs)))
    return sets


SETS = header_sets(3000)


def items(headers: CIMultiDict[str]) -> list[tuple[str, str]]:
    return list(headers.items())


def test_outbound_headers_as_before() -> None:
    for headers in SETS:
        assert items(HEADERS.outbound(headers)) == items(old_outbound(headers)), headers


def test_inbound_headers_as_before() -> None:
    for headers in SETS:
        assert items(hd.inbound_headers(headers)) == items(old_inbound(headers)), headers


@pytest.mark.parametrize("decoded", [True, False])
def test_answer_headers_as_before(decoded: bool) -> None:
    for headers in SETS:
        assert items(answer_headers(headers, GUARD, PUBLIC, decoded=decoded)) == items(
            old_answer(headers, decoded)
        )


def test_long_and_many_names_are_decided_without_being_kept() -> None:
    rules = HeaderRules(HEADERS.credentials, HEADERS.prefixes)
    long_name = "X-" + "a" * 100
    many = [(long_name, "1"), *((f"X-N{i}", "1") for i in range(hd.PASSES_MAX + 10)), ("X_Civi_Auth", "1")]
    got = rules.outbound(CIMultiDictProxy(CIMultiDict(many)))
    assert items(got) == items(old_outbound(CIMultiDictProxy(CIMultiDict(many))))
    assert long_name not in rules._passes and len(rules._passes) == hd.PASSES_MAX
