from __future__ import annotations

from collections.abc import Sequence

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.dialects.credentials import TOKEN_SLOTS
from gateway.errors import AuthenticationError
from gateway.wire.slots import extract_token

ALL = tuple(TOKEN_SLOTS)
T = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
U = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ5In0.c2lnMg"

Pairs = Sequence[tuple[str, str]]


def _extract(
    headers: Pairs = (),
    query: Pairs = (),
    form: Pairs | None = None,
    slots: tuple[str, ...] = ALL,
) -> str:
    return extract_token(
        CIMultiDictProxy(CIMultiDict(headers)),
        MultiDictProxy(MultiDict(query)),
        MultiDictProxy(MultiDict(form)) if form is not None else None,
        tuple(TOKEN_SLOTS[name] for name in slots),
    )


@pytest.mark.parametrize(
    ("headers", "query", "form", "expected"),
    [
        pytest.param([("Authorization", f"Bearer {T}")], [], None, T, id="authorization"),
        pytest.param([("authorization", f"bearer {T}")], [], None, T, id="authorization-scheme-any-case"),
        pytest.param([("Authorization", f"BEARER   {T}  ")], [], None, T, id="authorization-extra-spaces"),
        pytest.param([("X-Civi-Auth", f"Bearer {T}")], [], None, T, id="x-civi-auth"),
        pytest.param([], [("_authx", f"Bearer {T}")], None, T, id="_authx-query"),
        pytest.param([], [], [("_authx", f"Bearer {T}")], T, id="_authx-form"),
        pytest.param([], [("api_key", T)], None, T, id="api_key-query"),
        pytest.param([], [], [("api_key", T)], T, id="api_key-form"),
        pytest.param([("X-Api-Key", T)], [], None, T, id="x-api-key"),
        pytest.param(
            [("Authorization", f"Bearer {T}"), ("X-Civi-Auth", f"Bearer {T}")],
            [("api_key", T)],
            [("_authx", f"Bearer {T}")],
            T,
            id="same-token-in-every-slot",
        ),
        pytest.param([("X-Api-Key", T), ("X-Api-Key", T)], [], None, T, id="same-header-repeated"),
        pytest.param(
            [("Authorization", "Basic dXNlcjpwYXNz"), ("X-Api-Key", T)],
            [],
            None,
            T,
            id="basic-is-not-a-gateway-token",
        ),
        pytest.param(
            [("X-Civi-Auth", f"bearer {U}"), ("X-Api-Key", T)],
            [],
            None,
            T,
            id="x-civi-auth-scheme-is-case-sensitive",
        ),
        pytest.param(
            [("X-Civi-Auth", U), ("X-Api-Key", T)], [], None, T, id="x-civi-auth-bare-value-ignored"
        ),
        pytest.param([], [("_authx", U), ("api_key", T)], None, T, id="_authx-bare-value-ignored"),
        pytest.param([("X-Api-Key", "")], [("api_key", T)], None, T, id="empty-values-ignored"),
    ],
)
def test_finds_the_token(headers: Pairs, query: Pairs, form: Pairs | None, expected: str) -> None:
    assert _extract(headers, query, form) == expected


@pytest.mark.parametrize(
    ("headers", "query", "form", "reason"),
    [
        pytest.param([], [], None, "missing-token", id="nothing"),
        pytest.param([("Authorization", "Basic dXNlcjpwYXNz")], [], None, "missing-token", id="basic-only"),
        pytest.param([("Authorization", "Bearer ")], [], None, "missing-token", id="empty-bearer"),
        pytest.param([("X-Civi-Auth", f"BEARER {T}")], [], None, "missing-token", id="civi-wrong-case"),
        pytest.param(
            [("Authorization", f"Bearer {T}"), ("X-Api-Key", U)], [], None, "multiple-tokens", id="two-slots"
        ),
        pytest.param(
            [("Authorization", f"Bearer {T}"), ("Authorization", f"Bearer {U}")],
            [],
            None,
            "multiple-tokens",
            id="repeated-header",
        ),
        pytest.param([], [("api_key", T), ("api_key", U)], None, "multiple-tokens", id="repeated-param"),
        pytest.param([], [("api_key", T)], [("api_key", U)], "multiple-tokens", id="query-and-form"),
        pytest.param(
            [],
            [("_authx", f"Bearer {T}")],
            [("_authx", f"Bearer {U}")],
            "multiple-tokens",
            id="_authx-query-and-form",
        ),
    ],
)
def test_refuses(headers: Pairs, query: Pairs, form: Pairs | None, reason: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        _extract(headers, query, form)
    assert caught.value.reason == reason
    assert caught.value.status == 401
    assert T not in str(caught.value) and U not in str(caught.value)


@pytest.mark.parametrize(
    ("slots", "expected"),
    [
        (("x-api-key",), T),
        (("api_key",), U),
        (("authorization", "x-civi-auth"), "missing-token"),
    ],
)
def test_only_configured_slots_are_read(slots: tuple[str, ...], expected: str) -> None:
    headers, query = [("X-Api-Key", T)], [("api_key", U)]
    if expected == "missing-token":
        with pytest.raises(AuthenticationError) as caught:
            _extract(headers, query, slots=slots)
        assert caught.value.reason == expected
    else:
        assert _extract(headers, query, slots=slots) == expected


def test_every_slot_clients_already_use_is_known_by_default() -> None:
    """HTTP's own slot first, then each dialect's, in registry order (the order of ``known:`` in errors)."""
    assert ALL == ("authorization", "x-civi-auth", "_authx", "api_key", "x-api-key")
