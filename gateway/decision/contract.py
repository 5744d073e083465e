"""The header contract between the gateway and a front proxy, in one place (docs/decision-mode.md).

Front proxy -> gateway: the client's headers, plus the original request in nginx style
(``X-Original-Method``, ``X-Original-URI``) or Caddy/Traefik style (``X-Forwarded-Method``,
``X-Forwarded-Uri``, ``X-Forwarded-Host``).

Gateway -> front proxy, on 200: where to send it (``X-Crm-Upstream``, ``X-Crm-Uri`` = ``X-Crm-Path`` +
``?`` + ``X-Crm-Query``); ``X-Crm-Set-<Name>`` for every header in SETTABLE (a value: set it upstream;
empty: remove the client's, except ``X-Requested-With`` which then stays as the client sent it); and
``X-Crm-Reply-<Name>`` for every header in REPLY (a value: add it to the client's response). Every one of
those names is always present.
"""

from __future__ import annotations

from gateway.dialects.credentials import CLIENT_CREDENTIALS, CREDENTIAL_PREFIXES, SIGNED_HEADERS, disguised

RESERVED_PREFIX = "x-crm-"
UPSTREAM = "X-Crm-Upstream"
URI = "X-Crm-Uri"
PATH = "X-Crm-Path"
QUERY = "X-Crm-Query"
SET_PREFIX = "X-Crm-Set-"
REPLY_PREFIX = "X-Crm-Reply-"
DENIAL = "X-Crm-Denial"
"""On an nginx-style refusal: the response the client should see, encoded (see ``denial.py``)."""

REQUESTED_WITH = "X-Requested-With"
SETTABLE = (*SIGNED_HEADERS, REQUESTED_WITH, "X-Request-ID")
"""Every header a signer (its ``SignerSpec.headers``) or the pipeline may set upstream: the fixed names
front-proxy configs map."""

FRONT_SETS = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})
"""Set upstream by the front proxy itself, as the gateway would in proxy mode."""

REPLY = ("X-Request-ID", "RateLimit", "RateLimit-Policy")

_SETTABLE_LOWER = frozenset(name.lower() for name in SETTABLE)
STRIPPED = tuple(
    sorted(
        {name.title() for name in CLIENT_CREDENTIALS if name not in _SETTABLE_LOWER}
        | {"Forwarded", "X-Real-Ip", "X-Forwarded-Port", "X-Http-Method-Override", "X-Http-Method"}
        | {"X-Method-Override"}
    )
)
"""Client headers the front proxy removes before the upstream (besides SETTABLE, which it sets or
removes): every credential header of proxy mode and the spoofable forwarding headers."""

WILDCARD_STRIPPED = tuple(f"{prefix}*" for prefix in CREDENTIAL_PREFIXES)
"""Prefixes proxy mode strips; Caddy removes them by wildcard, nginx cannot: see ``unstrippable``."""

_KNOWN = _SETTABLE_LOWER | frozenset(name.lower() for name in STRIPPED)


def set_header(name: str) -> str:
    return SET_PREFIX + name


def reply_header(name: str) -> str:
    return REPLY_PREFIX + name


def unstrippable(header: str) -> bool:
    """A credential-looking client header that a front proxy without prefix removal would pass on."""
    low = header.lower()
    return (low.startswith(CREDENTIAL_PREFIXES) and low not in _KNOWN) or disguised(header)


def reserved(header: str) -> bool:
    """A client header in the gateway's own ``X-Crm-`` namespace (front proxies drop those first)."""
    return header.lower().startswith(RESERVED_PREFIX)
