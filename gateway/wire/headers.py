"""Header hygiene: what never crosses the gateway in either direction."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.dialects import credentials

HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Trailers",
        "Transfer-Encoding",
        "Upgrade",
        "Proxy-Connection",
    )
)

HTTP_CREDENTIALS = frozenset({"authorization", "cookie"})
CLIENT_CREDENTIALS = HTTP_CREDENTIALS | credentials.CREDENTIAL_HEADERS
"""Never forwarded from a client: HTTP's own credential headers and every one a registered dialect or
signer declares (``dialects/credentials.py``)."""
CREDENTIAL_PREFIXES = credentials.CREDENTIAL_PREFIXES

CLIENT_CONTROLLED = frozenset(
    h.lower()
    for h in (
        "Host",
        "Content-Length",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "X-Forwarded-Host",
        "X-Forwarded-Port",
        "Forwarded",
        "X-Real-IP",
        "X-Request-ID",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
        "Expect",
    )
)

GATEWAY_SETS = frozenset({"x-requested-with"})
"""Set by the gateway or a signer upstream besides the credentials; a client may send them as spelled."""

SPOOFING = frozenset(
    h.lower()
    for h in (
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-Original-Host",
        "X-Host",
        "X-Forwarded-Prefix",
        "X-Forwarded-Server",
        "Client-IP",
        "True-Client-IP",
        "X-Client-IP",
        "X-Cluster-Client-IP",
        "CF-Connecting-IP",
    )
)
"""Headers some frameworks honour to override the routed path (a policy bypass) or the client address."""

_DROP_OUT = HOP_BY_HOP | CLIENT_CREDENTIALS | CLIENT_CONTROLLED


def fold(name: str) -> str:
    """A header name as PHP's ``$_SERVER`` may see it: case ignored, ``-``, ``_`` and ``.`` alike."""
    return name.lower().replace("-", "_").replace(".", "_")


_PROTECTED = frozenset(fold(h) for h in CLIENT_CREDENTIALS | CLIENT_CONTROLLED | GATEWAY_SETS | HOP_BY_HOP)
_PROTECTED_PREFIXES = tuple(fold(p) for p in CREDENTIAL_PREFIXES)
_SPOOFING = frozenset(fold(h) for h in SPOOFING)


def disguised(name: str) -> bool:
    """A header that is not spelled as a credential or gateway header but may reach PHP as one
    (``X.Api.Key``, ``X_Civi_Auth``), or that overrides the path or client address."""
    folded = fold(name)
    if folded in _SPOOFING:
        return True
    if name.lower() == folded.replace("_", "-"):  # spelled as the real header: handled by name
        return False
    return folded in _PROTECTED or folded.startswith(_PROTECTED_PREFIXES)


RESPONSE_DROP = HOP_BY_HOP | frozenset({"set-cookie", "content-length", "server", "www-authenticate"})


def _connection_tokens(headers: CIMultiDictProxy[str]) -> set[str]:
    tokens: set[str] = set()
    for value in headers.getall("Connection", ()):
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def outbound_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The client's headers minus hop-by-hop, credentials, anything the gateway sets itself, and any
    ``disguised`` one.

    Names with an underscore are dropped too: some server set-ups hand ``X_Civi_Auth`` to PHP as the
    same variable as ``X-Civi-Auth`` (nginx and Apache drop such headers by default for that reason)."""
    tokens = _connection_tokens(headers)
    drop = _DROP_OUT | tokens if tokens else _DROP_OUT
    return CIMultiDict(
        (k, v)
        for k, v in headers.items()
        if (low := k.lower()) not in drop
        and not low.startswith(CREDENTIAL_PREFIXES)
        and "_" not in low
        and not disguised(k)
    )


def inbound_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The upstream's response headers that may reach the client."""
    tokens = _connection_tokens(headers)
    drop = RESPONSE_DROP | tokens if tokens else RESPONSE_DROP
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)
