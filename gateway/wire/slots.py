"""Where a client may put its gateway token: the same slots CRM clients already fill with their key.

Every configured slot is read, every occurrence collected (repeated headers and parameters too):
exactly one distinct token is accepted. Messages never contain a token.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from multidict import CIMultiDictProxy, MultiDictProxy

from gateway.errors import AuthenticationError

_Reader = Callable[[CIMultiDictProxy[str], MultiDictProxy[str], "MultiDictProxy[str] | None"], Iterator[str]]


def _bearer_any_case(value: str) -> str | None:
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else None


def _bearer_exact(value: str) -> str | None:
    """AuthX credential syntax: the scheme is case-sensitive, a bare value is not a credential."""
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme == "Bearer" else None


def _raw(value: str) -> str | None:
    return value.strip()


def _params(query: MultiDictProxy[str], form: MultiDictProxy[str] | None, name: str) -> Iterator[str]:
    yield from query.getall(name, [])
    if form is not None:
        yield from (v for v in form.getall(name, []) if isinstance(v, str))


def _authorization(
    headers: CIMultiDictProxy[str], query: MultiDictProxy[str], form: MultiDictProxy[str] | None
) -> Iterator[str]:
    return _each(_bearer_any_case, headers.getall("Authorization", []))


def _x_civi_auth(
    headers: CIMultiDictProxy[str], query: MultiDictProxy[str], form: MultiDictProxy[str] | None
) -> Iterator[str]:
    return _each(_bearer_exact, headers.getall("X-Civi-Auth", []))


def _authx_param(
    headers: CIMultiDictProxy[str], query: MultiDictProxy[str], form: MultiDictProxy[str] | None
) -> Iterator[str]:
    return _each(_bearer_exact, _params(query, form, "_authx"))


def _api_key_param(
    headers: CIMultiDictProxy[str], query: MultiDictProxy[str], form: MultiDictProxy[str] | None
) -> Iterator[str]:
    return _each(_raw, _params(query, form, "api_key"))


def _x_api_key(
    headers: CIMultiDictProxy[str], query: MultiDictProxy[str], form: MultiDictProxy[str] | None
) -> Iterator[str]:
    return _each(_raw, headers.getall("X-Api-Key", []))


def _each(parse: Callable[[str], str | None], values: Iterable[str]) -> Iterator[str]:
    for value in values:
        token = parse(value)
        if token:
            yield token


SLOT_READERS: dict[str, _Reader] = {
    "authorization": _authorization,
    "x-civi-auth": _x_civi_auth,
    "_authx": _authx_param,
    "api_key": _api_key_param,
    "x-api-key": _x_api_key,
}
KNOWN_SLOTS: tuple[str, ...] = tuple(SLOT_READERS)
PARAM_SLOTS: frozenset[str] = frozenset({"_authx", "api_key"})
"""The slots read from query or form parameters: never forwarded, whichever slots are configured."""


def extract_token(
    headers: CIMultiDictProxy[str],
    query: MultiDictProxy[str],
    form: MultiDictProxy[str] | None,
    slots: tuple[str, ...],
) -> str:
    """The one gateway token of a request, from the configured ``slots`` (see ``KNOWN_SLOTS``).

    Raises AuthenticationError ``missing-token`` (none found) or ``multiple-tokens`` (two different
    values); the same token repeated in several slots is accepted.
    """
    found: set[str] = set()
    for slot in slots:
        reader = SLOT_READERS.get(slot)
        if reader is None:
            raise ValueError(f"unknown token slot {slot!r}")
        found.update(reader(headers, query, form))
    if not found:
        raise AuthenticationError("no bearer token in the request", reason="missing-token")
    if len(found) > 1:
        raise AuthenticationError("the request carries two different tokens", reason="multiple-tokens")
    return found.pop()
