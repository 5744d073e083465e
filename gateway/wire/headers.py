"""Header hygiene: what never crosses the gateway in either direction.

The CRMs' credential header names are not spelled here: ``HeaderRules`` is built once from what the
registered dialects and signers declare (``dialects/credentials.py`` builds the one in use)."""

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

HTTP_CREDENTIALS = frozenset({"authorization", "cookie"})
"""HTTP's own credential headers; the CRMs' come from their declarations."""

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


def fold(name: str) -> str:
    """A header name as PHP's ``$_SERVER`` may see it: case ignored, ``-``, ``_`` and ``.`` alike."""
    return name.lower().replace("-", "_").replace(".", "_")


_SPOOFING = frozenset(fold(h) for h in SPOOFING)


RESPONSE_DROP = HOP_BY_HOP | frozenset({"set-cookie", "content-length", "server", "www-authenticate"})


def _connection_tokens(headers: CIMultiDictProxy[str]) -> set[str]:
    tokens: set[str] = set()
    for value in headers.getall("Connection", ()):
        tokens.update(t.strip().lower() for t in value.split(",") if t.strip())
    return tokens


class HeaderRules:
    """What a client's request may carry upstream, given every credential header name (lower-case) and
    prefix the gateway knows: built once, used per request."""

    __slots__ = ("_drop_out", "_protected", "_protected_prefixes", "credentials", "prefixes")

    def __init__(self, credentials: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self.credentials = HTTP_CREDENTIALS | credentials
        self.prefixes = prefixes
        self._drop_out = HOP_BY_HOP | self.credentials | CLIENT_CONTROLLED
        protected = self.credentials | CLIENT_CONTROLLED | GATEWAY_SETS | HOP_BY_HOP
        self._protected = frozenset(fold(h) for h in protected)
        self._protected_prefixes = tuple(fold(p) for p in prefixes)

    def disguised(self, name: str) -> bool:
        """A header that is not spelled as a credential or gateway header but may reach PHP as one
        (``X.Api.Key``, ``X_Civi_Auth``), or that overrides the path or client address."""
        folded = fold(name)
        if folded in _SPOOFING:
            return True
        if name.lower() == folded.replace("_", "-"):  # spelled as the real header: handled by name
            return False
        return folded in self._protected or folded.startswith(self._protected_prefixes)

    def outbound(self, headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
        """The client's headers minus hop-by-hop, credentials, anything the gateway sets itself, and any
        ``disguised`` one.

        Names with an underscore are dropped too: some server set-ups hand ``X_Civi_Auth`` to PHP as the
        same variable as ``X-Civi-Auth`` (nginx and Apache drop such headers by default for that reason)."""
        tokens = _connection_tokens(headers)
        drop = self._drop_out | tokens if tokens else self._drop_out
        prefixes, disguised = self.prefixes, self.disguised
        return CIMultiDict(
            (k, v)
            for k, v in headers.items()
            if (low := k.lower()) not in drop
            and not low.startswith(prefixes)
            and "_" not in low
            and not disguised(k)
        )


def inbound_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The upstream's response headers that may reach the client."""
    tokens = _connection_tokens(headers)
    drop = RESPONSE_DROP | tokens if tokens else RESPONSE_DROP
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)
