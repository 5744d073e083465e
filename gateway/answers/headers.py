"""The answer's headers: hop-by-hop and cookies dropped (gateway/wire/headers.py), every injected value
removed, and redirects to the CRM's own URL pointed at the gateway's public URL without the credential."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.answers.guard import CredentialGuard
from gateway.wire.headers import RESPONSE_DROP, connection_tokens

URL_HEADERS = ("location", "content-location")
DECODED_DROP = ("content-encoding", "content-length", "content-md5", "digest", "etag")
"""Headers that describe the bytes as the CRM sent them, wrong once the gateway decodes or rewrites them."""
_DECODED_OUT = RESPONSE_DROP | frozenset(DECODED_DROP)


class PublicUrl(NamedTuple):
    """Where the CRM lives (``origin`` + ``base_path``) and where the client reached it through the gateway
    (``public_origin`` + ``prefix``)."""

    origin: str
    base_path: str
    public_origin: str
    prefix: str


def answer_headers(
    upstream: CIMultiDictProxy[str], guard: CredentialGuard, public: PublicUrl, *, decoded: bool
) -> CIMultiDict[str]:
    drop = _DECODED_OUT if decoded else RESPONSE_DROP
    tokens = connection_tokens(upstream)
    out = CIMultiDict[str]()
    text = guard.text
    for name, value in upstream.items():
        low = name.lower()
        if low in drop or low in tokens:
            continue
        if low in URL_HEADERS:
            value = rewrite_url(value, guard, public)
        out.add(name, text(value))
    return out


def rewrite_url(value: str, guard: CredentialGuard, public: PublicUrl) -> str:
    """A URL header: query pairs carrying an injected value dropped; the CRM's own URL mapped to the
    gateway's. Anything it cannot parse is left to the guard's plain replacement."""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return value
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not guard.found_in(k) and not guard.found_in(v)]
        if len(kept) != len(pairs):
            query = urlencode(kept)
    scheme, netloc, path = parts.scheme, parts.netloc, parts.path
    own = not netloc or f"{scheme}://{netloc}".lower() == public.origin.lower()
    base = public.base_path.rstrip("/")
    if own and (path == base or path.startswith(base + "/")) and (netloc or path.startswith("/")):
        path = public.prefix + path[len(base) :]
        if netloc:
            scheme, _, netloc = public.public_origin.partition("://")
    return urlunsplit((scheme, netloc, path, query, parts.fragment))
