from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.answers.guard import CredentialGuard
from gateway.answers.headers import PublicUrl, answer_headers

SITE, KEY = "site-key-1234567", "api/key+42"
GUARD = CredentialGuard([SITE, KEY, "Bearer " + KEY])
PUBLIC = PublicUrl("https://crm.internal:8443", "/wp", "https://gw.example", "/civi")


def _run(headers: list[tuple[str, str]], decoded: bool = True) -> CIMultiDict[str]:
    return answer_headers(CIMultiDictProxy(CIMultiDict(headers)), GUARD, PUBLIC, decoded=decoded)


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (
            "https://crm.internal:8443/wp/civicrm/x?entity=Contact&key=site-key-1234567&api_key=api%2Fkey%2B42",
            "https://gw.example/civi/civicrm/x?entity=Contact",
        ),
        ("/wp/login?redirect_to=%2Fwp%2Fx%3Fapi_key%3Dapi%252Fkey%252B42", "/civi/login"),
        ("/wp/x?_authx=Bearer+api%2Fkey%2B42&a=1#top", "/civi/x?a=1#top"),
        ("https://other.example/wp/x?a=1", "https://other.example/wp/x?a=1"),
        ("https://other.example/p?k=site-key-1234567", "https://other.example/p"),
        ("/elsewhere?a=1", "/elsewhere?a=1"),
    ],
)
def test_location_loses_credentials_and_points_at_the_gateway(location: str, expected: str) -> None:
    assert _run([("Location", location)])["Location"] == expected


def test_every_other_header_is_scrubbed_and_hop_by_hop_dropped() -> None:
    out = _run(
        [
            ("Link", f"<https://crm.internal:8443/wp/x?api_key={KEY}>; rel=next"),
            ("Refresh", f"0; url=/wp/x?key={SITE}"),
            ("X-Debug", f"auth Bearer {KEY}"),
            ("Set-Cookie", f"s={SITE}"),
            ("Content-Encoding", "gzip"),
            ("Content-Length", "10"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "application/json"),
        ]
    )
    text = "\n".join(f"{k}: {v}" for k, v in out.items())
    assert SITE not in text and KEY not in text
    assert set(out) == {"Link", "Refresh", "X-Debug", "Content-Type"}
