"""The templated access line (gateway/observability/access_template.py) is ``fast_line``'s, byte for byte,
for the first request of a kind (the template made) and for the ones after (the template reused), and it
refuses (TypeError: the generic encoder takes over) exactly where ``fast_line`` does."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.observability import access_template
from gateway.observability.access_json import clean_route, fast_line
from gateway.observability.access_log import LimiterOutcome
from gateway.observability.access_template import templated_line


@pytest.fixture(autouse=True)
def no_templates() -> Iterator[None]:
    access_template._MIDDLES.clear()
    yield
    access_template._MIDDLES.clear()


def fields(**overrides: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "time": "2024-05-01T12:00:00.123Z",
        "request_id": "5f0c9a1e2b3d4c5e",
        "method": "GET",
        "route": "/api/v1/Lead",
        "principal": "bench-integration",
        "issuer": "https://idp.example.org",
        "upstream": "espo",
        "acting_as": "identities[0]",
        "operations": ("Lead.read", "Email.get@chain:api.Email.get"),
        "decision": "allow",
        "rule": "p:entities.Lead.read",
        "shadow": [],
        "status": 200,
        "duration_ms": 5.4321,
        "upstream_ms": 1.2345678,
        "bytes_in": 0,
        "bytes_out": 394,
        "limiter": LimiterOutcome(True, 998, "memory"),
        "reason": None,
        "client_ip": "127.0.0.1",
    }
    found.update(overrides)
    return found


def old(f: dict[str, Any]) -> str | type[TypeError]:
    try:
        return fast_line(**{**f, "route": clean_route(f["route"])})
    except TypeError:
        return TypeError


def new(f: dict[str, Any]) -> str | type[TypeError]:
    try:
        return templated_line(**f)
    except TypeError:
        return TypeError


CASES = {
    "typical": fields(),
    "refused early": fields(
        principal=None, issuer=None, upstream=None, acting_as=None, operations=(), rule=None, limiter=None
    ),
    "shadow and reason": fields(shadow=["s:entities.Email.default", "t:x"], reason="rate-limited"),
    "route with query and fragment": fields(route="/api/v1/Lead?x=1#f" + "a" * 3000),
    "long route": fields(route="/" + "b" * 5000),
    "quotes, controls and unicode": fields(principal='sv"c\\x\n\t\x01', route="/api/v1/Lé\u2028ad"),
    "lone surrogate": fields(acting_as="a\ud800b"),
    "not finite duration": fields(duration_ms=math.inf, upstream_ms=math.nan),
    "non-string principal": fields(principal=42),
    "unhashable principal": fields(principal=["a"]),
    "bool status": fields(status=True),
    "float status": fields(status=200.0),
    "str subclass principal": fields(principal=type("Named", (str,), {})("bench-integration")),
    "limiter without remaining": fields(limiter=LimiterOutcome(False, None, "redis")),
    "non-string operation": fields(operations=("Lead.read", 7)),
}


@pytest.mark.parametrize("case", CASES)
def test_the_templated_line_is_fast_lines_made_and_reused(case: str) -> None:
    f = CASES[case]
    assert new(f) == old(f)
    assert new(f) == old(f)  # from the template
    assert new({**f, "request_id": "other-id", "status": 429}) == old(
        {**f, "request_id": "other-id", "status": 429}
    )


def test_a_str_subclass_hitting_a_plain_strings_template_gives_the_generic_encoders_bytes() -> None:
    """A template made for ``"bench-integration"`` serves an equal ``str`` subclass: the line is the one
    the generic encoder writes for it (json encodes a ``str`` subclass as the string)."""
    plain = fields()
    subclassed = fields(principal=CASES["str subclass principal"]["principal"])
    assert new(plain) == old(plain)
    assert old(subclassed) is TypeError
    assert new(subclassed) == old(plain)
    principal = subclassed["principal"]
    assert json.dumps({"p": principal}) == json.dumps({"p": str(principal)})


def test_templates_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access_template, "MAX_TEMPLATES", 3)
    for n in range(10):
        f = fields(principal=f"p{n}")
        assert new(f) == old(f)
        assert len(access_template._MIDDLES) <= 3
    f = fields(principal="p0")
    assert new(f) == old(f)


TEXT = st.text(max_size=30)
MAYBE_TEXT = st.one_of(st.none(), TEXT, st.integers(), st.lists(TEXT, max_size=1))
NUMBER = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True), st.booleans(), st.none())


@settings(max_examples=400, deadline=None)
@given(
    method=st.one_of(st.sampled_from(["GET", "POST"]), TEXT),
    route=st.one_of(st.sampled_from(["/api/v1/Lead", "/a?b=1#c"]), st.text(max_size=60)),
    principal=MAYBE_TEXT,
    issuer=st.one_of(st.none(), TEXT),
    acting_as=MAYBE_TEXT,
    operations=st.lists(st.one_of(TEXT, st.integers()), max_size=3).map(tuple),
    decision=st.one_of(st.sampled_from(["allow", "deny"]), TEXT),
    rule=st.one_of(st.none(), TEXT),
    shadow=st.lists(TEXT, max_size=2),
    status=NUMBER,
    duration_ms=NUMBER,
    bytes_out=NUMBER,
    reason=st.one_of(st.none(), TEXT),
    request_id=TEXT,
)
def test_generated_fields_give_fast_lines_bytes_twice(**drawn: Any) -> None:
    f = fields(**drawn)
    assert new(f) == old(f)
    assert new(f) == old(f)
    again = {**f, "request_id": "x" + f["request_id"], "bytes_in": 17}
    assert new(again) == old(again)
