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

    __slots__ = ("_drop_out", "_passes", "_protected", "_protected_prefixes", "credentials", "prefixes")

    def __init__(self, credentials: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self.credentials = HTTP_CREDENTIALS | credentials
        self.prefixes = prefixes
        self._drop_out = HOP_BY_HOP | self.credentials | CLIENT_CONTROLLED
        protected = self.credentials | CLIENT_CONTROLLED | GATEWAY_SETS | HOP_BY_HOP
        self._protected = frozenset(fold(h) for h in protected)
        self._protected_prefixes = tuple(fold(p) for p in prefixes)
        self._passes: dict[str, bool] = {}

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
        tokens = connection_tokens(headers)
        passes, decided = self._passes, self.passes
        out = CIMultiDict[str]()
        for k, v in headers.items():
            keep = passes.get(k)
            if keep is None:
                keep = decided(k)
                if len(k) <= PASSES_NAME_MAX and len(passes) < PASSES_MAX:
                    passes[k] = keep
            if keep and not (tokens and k.lower() in tokens):
                out.add(k, v)
        return out

    def passes(self, name: str) -> bool:
        """Whether a client header of this name may go upstream (leaving aside what Connection names)."""
        low = name.lower()
        return (
            low not in self._drop_out
            and not low.startswith(self.prefixes)
            and "_" not in low
            and not self.disguised(name)
        )


PASSES_MAX = 4096
PASSES_NAME_MAX = 64
"""``HeaderRules.outbound`` keeps its decision for at most ``PASSES_MAX`` names of at most
``PASSES_NAME_MAX`` characters (as the client spelled them); others are decided per request."""


def connection_tokens(headers: CIMultiDictProxy[str]) -> frozenset[str]:
    """The lower-case header names a message's ``Connection`` header lists (hop-by-hop for it)."""
    values = headers.getall("Connection", ())
    if len(values) != 1:
        return frozenset(_connection_tokens(headers)) if values else _NONE
    value = values[0]
    tokens = _TOKENS.get(value)
    if tokens is None:
        tokens = frozenset(_connection_tokens(headers))
        if len(_TOKENS) < _TOKENS_KEPT:
            _TOKENS[value] = tokens
    return tokens


_TOKENS: dict[str, frozenset[str]] = {}
"""The tokens of a lone ``Connection`` value by that value: an upstream says ``keep-alive`` or ``close``."""
_TOKENS_KEPT = 64


_NONE: frozenset[str] = frozenset()


def inbound_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The upstream's response headers that may reach the client."""
    tokens = connection_tokens(headers)
    drop = RESPONSE_DROP | tokens if tokens else RESPONSE_DROP
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)
