"""Header hygiene: what never crosses the gateway in either direction."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

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

CLIENT_CREDENTIALS = frozenset(
    h.lower()
    for h in (
        "Authorization",
        "X-Civi-Auth",
        "X-Civi-Key",
        "X-Civi-Site-Key",
        "X-Api-Key",
        "X-Hmac-Authorization",
        "Espo-Authorization",
        "Espo-Authorization-By-Token",
        "Espo-Authorization-Code",
        "Espo-Authorization-Create-Token-Secret",
        "X-Another-User",
        "Cookie",
        "Http-Espo-Cgi-Auth",
        "Redirect-Http-Espo-Cgi-Auth",
        "Http-Espo-Authorization",
        "Redirect-Http-Espo-Authorization",
    )
)
CREDENTIAL_PREFIXES = ("espo-authorization", "x-civi-", "x-hmac-", "x-api-key")

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

_DROP_OUT = HOP_BY_HOP | CLIENT_CREDENTIALS | CLIENT_CONTROLLED

RESPONSE_DROP = HOP_BY_HOP | frozenset({"set-cookie", "content-length", "server", "www-authenticate"})


def _connection_tokens(headers: CIMultiDictProxy[str]) -> set[str]:
    tokens: set[str] = set()
    for value in headers.getall("Connection", ()):
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


def outbound_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The client's headers minus hop-by-hop, credentials and anything the gateway sets itself.

    Names with an underscore are dropped too: some server set-ups hand ``X_Civi_Auth`` to PHP as the
    same variable as ``X-Civi-Auth`` (nginx and Apache drop such headers by default for that reason)."""
    tokens = _connection_tokens(headers)
    drop = _DROP_OUT | tokens if tokens else _DROP_OUT
    return CIMultiDict(
        (k, v)
        for k, v in headers.items()
        if (low := k.lower()) not in drop and not low.startswith(CREDENTIAL_PREFIXES) and "_" not in low
    )


def inbound_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The upstream's response headers that may reach the client."""
    tokens = _connection_tokens(headers)
    drop = RESPONSE_DROP | tokens if tokens else RESPONSE_DROP
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)
