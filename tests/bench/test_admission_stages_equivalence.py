"""The per-request admission stages trimmed for speed (docs/performance.md, "Per-request admission stages")
give exactly what the code they replaced gave: each old form is kept here and compared with the new one
on table cases and generated ones."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.errors import AuthenticationError, GatewayError
from gateway.ratelimit.base import (
    EPSILON,
    Cost,
    Limit,
    LimitResult,
    Verdict,
    check_request,
    gcra,
    most_restrictive,
    unlimited,
)
from gateway.ratelimit.headers import _policy, ratelimit_headers
from gateway.ratelimit.memory import MemoryLimiter
from gateway.ratelimit.redis import GCRA_SCRIPT, GCRA_SHA, RedisLimiter
from gateway.ratelimit.resp import pack
from gateway.secrets import Secret
from gateway.signers.base import Identity
from gateway.signers.options import identity_text
from gateway.wire.slots import AUTHORIZATION, TokenSlot, _token, extract_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def old_gcra(interval: float, burst: int, tat: float | None, now: float, cost: int) -> Verdict:
    """``base.gcra`` before its arithmetic moved to ``gcra_step`` (main at 899b245)."""
    used = (tat - now) / interval if tat is not None and tat > now else 0.0
    after = used + cost
    if after <= burst + EPSILON:
        left = burst - after + EPSILON
        return Verdict(
            True, now + after * interval, math.floor(left) if left > 0 else 0, after * interval, 0.0
        )
    left = burst - used + EPSILON
    return Verdict(
        False,
        now + used * interval,
        math.floor(left) if left > 0 else 0,
        used * interval,
        (after - burst) * interval,
    )


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(1e-3, 1e7, allow_nan=False),
    burst=st.integers(1, 2000),
    tat=st.none() | st.floats(-1e4, 1e4, allow_nan=False),
    now=st.floats(-1e4, 1e4, allow_nan=False),
    cost=st.integers(1, 2100),
)
def test_gcra_generated(rate: float, burst: int, tat: float | None, now: float, cost: int) -> None:
    assert gcra(1.0 / rate, burst, tat, now, cost) == old_gcra(1.0 / rate, burst, tat, now, cost)


class OldMemoryLimiter:
    """``MemoryLimiter.hit_now`` before the one- and two-limit path (main at 899b245)."""

    def __init__(self, clock: Clock, max_keys: int, sweep_every_s: float) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._sweep_every_s = sweep_every_s
        self._next_sweep = clock() + sweep_every_s
        self._tats: OrderedDict[str, float] = OrderedDict()

    def hit_now(self, limits: Sequence[Limit], cost: Cost) -> LimitResult:
        costs = check_request(limits, cost)
        if not limits:
            return unlimited("memory")
        now = self._clock()
        if now >= self._next_sweep:
            self._next_sweep = now + self._sweep_every_s
            for key in [key for key, tat in self._tats.items() if tat <= now]:
                del self._tats[key]
        tats = self._tats
        verdicts = [
            old_gcra(limit.interval, limit.burst, tats.get(limit.key), now, charge)
            for limit, charge in zip(limits, costs, strict=True)
        ]
        chosen = most_restrictive(verdicts) if len(verdicts) > 1 else 0
        verdict = verdicts[chosen]
        allowed = verdict.allowed
        if allowed:
            for limit, each in zip(limits, verdicts, strict=True):
                tats[limit.key] = each.new_tat
                tats.move_to_end(limit.key)
            while len(tats) > self._max_keys:
                tats.popitem(last=False)
        return LimitResult(
            allowed=allowed,
            limit=limits[chosen],
            remaining=verdict.remaining,
            reset_seconds=verdict.reset,
            retry_after_seconds=verdict.retry_after,
            backend="memory",
        )


LIMITS = [
    Limit("{p}:wide", 10.0, 5, "wide"),
    Limit("{p}:narrow", 2.0, 3, "narrow"),
    Limit("{p}:same", 10.0, 5, "same"),
    Limit("{q}:wide", 1_000_000.0, 1000, "fast"),
    Limit("{q}:slow", 0.5, 1, "slow"),
]

Step = tuple[float, list[int], list[int] | int]
"""Seconds to advance the clock, which limits (indexes into LIMITS), the cost."""

steps = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.001, 0.1, 0.5, 1.0, 3.0, 11.0]),
        st.lists(st.integers(0, len(LIMITS) - 1), min_size=0, max_size=4, unique=True),
        st.integers(1, 6),
        st.booleans(),
    ),
    max_size=60,
)


def run(
    limiter: MemoryLimiter | OldMemoryLimiter, clock: Clock, plan: list[tuple[float, list[int], int, bool]]
) -> list[object]:
    seen: list[object] = []
    for advance, chosen, cost, per_limit in plan:
        clock.now += advance
        limits = [LIMITS[i] for i in chosen]
        charge: Cost = [cost + i % 2 for i in range(len(limits))] if per_limit else cost
        seen.append(limiter.hit_now(limits, charge))
        seen.append(dict(limiter._tats))
        seen.append(list(limiter._tats))
    return seen


def both(max_keys: int = 100, sweep: float = 10.0) -> tuple[Clock, MemoryLimiter, Clock, OldMemoryLimiter]:
    new_clock, old_clock = Clock(), Clock()
    new = MemoryLimiter(clock=new_clock, max_keys=max_keys, sweep_every_s=sweep)
    return new_clock, new, old_clock, OldMemoryLimiter(old_clock, max_keys, sweep)


TABLE = {
    "one limit until refused": [(0.0, [0], 1, False)] * 7,
    "two limits, the narrow one refuses": [(0.0, [0, 1], 1, False)] * 6,
    "two limits, equal remaining, longer reset wins": [(0.0, [0, 2], 2, False)] * 4,
    "two limits, both refuse, longer wait wins": [(0.0, [1, 4], 1, False)] * 5,
    "per-limit costs": [(0.1, [1, 0], 1, True)] * 6,
    "three limits": [(0.0, [0, 1, 2], 1, False)] * 6,
    "no limits": [(0.0, [], 1, False)],
    "sweep and refill": [(0.0, [0, 1], 2, False), (11.0, [0, 1], 2, False), (0.0, [3, 4], 1, False)] * 3,
}


@pytest.mark.parametrize("plan", TABLE.values(), ids=TABLE.keys())
def test_memory_hit_table(plan: list[tuple[float, list[int], int, bool]]) -> None:
    new_clock, new, old_clock, old = both()
    assert run(new, new_clock, plan) == run(old, old_clock, plan)


@settings(max_examples=300, deadline=None)
@given(plan=steps, max_keys=st.integers(1, 6), sweep=st.sampled_from([0.5, 10.0]))
def test_memory_hit_generated(
    plan: list[tuple[float, list[int], int, bool]], max_keys: int, sweep: float
) -> None:
    new_clock, new, old_clock, old = both(max_keys, sweep)
    assert run(new, new_clock, plan) == run(old, old_clock, plan)


def test_memory_hit_refuses_what_it_refused() -> None:
    _, new, _, _ = both()
    with pytest.raises(ValueError, match="share a key"):
        new.hit_now([LIMITS[0], LIMITS[0]], 1)
    with pytest.raises(ValueError, match="at least 1"):
        new.hit_now([LIMITS[0]], 0)
    with pytest.raises(ValueError, match="one cost per limit"):
        new.hit_now([LIMITS[0], LIMITS[1]], [1])


def old_ratelimit_headers(result: LimitResult) -> dict[str, str]:
    """``ratelimit_headers`` before its values were remembered."""
    headers: dict[str, str] = {}

    def ceil_seconds(seconds: float) -> int:
        return max(0, math.ceil(seconds - 1e-9))

    if result.limit is not None:
        name, policy = _policy(result.limit)
        headers["RateLimit-Policy"] = policy
        headers["RateLimit"] = f"{name};r={max(0, result.remaining)};t={ceil_seconds(result.reset_seconds)}"
    if not result.allowed:
        headers["Retry-After"] = str(max(1, ceil_seconds(result.retry_after_seconds)))
    return headers


HEADER_CASES = {
    "admitted": LimitResult(True, LIMITS[0], 4, 0.1, 0.0, "memory"),
    "refused": LimitResult(False, LIMITS[1], 0, 1.5, 0.5, "redis"),
    "negative remaining": LimitResult(True, LIMITS[3], -2, 0.0, 0.0, "memory"),
    "reset on a whole second": LimitResult(True, LIMITS[4], 0, 2.0000000001, 0.0, "memory"),
    "no limit, admitted": LimitResult(True, None, 0, 0.0, 0.0, "open"),
    "no limit, refused": LimitResult(False, None, 0, 0.0, 3.2, "fallback"),
    "odd name": LimitResult(True, Limit("{x}", 1.0, 2, 'a"b\\c\u00e9'), 1, 0.3, 0.0, "memory"),
}


@pytest.mark.parametrize("result", HEADER_CASES.values(), ids=HEADER_CASES.keys())
def test_ratelimit_headers_table(result: LimitResult) -> None:
    for _ in range(2):  # rendered, then remembered
        assert ratelimit_headers(result) == old_ratelimit_headers(result)
        assert list(ratelimit_headers(result)) == list(old_ratelimit_headers(result))


@settings(max_examples=300, deadline=None)
@given(
    allowed=st.booleans(),
    limit=st.sampled_from([*LIMITS, None]),
    remaining=st.integers(-3, 2000),
    reset=st.floats(0.0, 1e6, allow_nan=False),
    retry=st.floats(0.0, 1e4, allow_nan=False),
)
def test_ratelimit_headers_generated(
    allowed: bool, limit: Limit | None, remaining: int, reset: float, retry: float
) -> None:
    result = LimitResult(allowed, limit, remaining, reset, retry, "memory")
    for _ in range(2):
        assert ratelimit_headers(result) == old_ratelimit_headers(result)


def old_extract_token(
    headers: CIMultiDictProxy[str],
    query: MultiDictProxy[str],
    form: MultiDictProxy[str] | None,
    slots: tuple[TokenSlot, ...],
) -> str:
    """``extract_token`` before it stopped at the second distinct token (main at 899b245)."""

    def values(slot: TokenSlot) -> Iterator[str]:
        if not slot.param:
            yield from headers.getall(slot.field, ())
            return
        yield from query.getall(slot.field, ())
        if form is not None:
            yield from (v for v in form.getall(slot.field, ()) if isinstance(v, str))

    found: set[str] = set()
    for slot in slots:
        for value in list(values(slot)) if slot.param else headers.getall(slot.field, ()):
            token = _token(value, slot.scheme)
            if token:
                found.add(token)
    if not found:
        raise AuthenticationError("no bearer token in the request", reason="missing-token")
    if len(found) > 1:
        raise AuthenticationError("the request carries two different tokens", reason="multiple-tokens")
    return found.pop()


SLOTS = (
    AUTHORIZATION,
    TokenSlot("x-civi-auth", "X-Civi-Auth", scheme="Bearer"),
    TokenSlot("_authx", "_authx", param=True, scheme="Bearer"),
    TokenSlot("api_key", "api_key", param=True, scheme="none"),
    TokenSlot("x-api-key", "X-Api-Key", scheme="none"),
)
FIELDS = [
    "Authorization",
    "authorization",
    "X-Civi-Auth",
    "X-Api-Key",
    "Accept",
    "_authx",
    "api_key",
    "other",
]
VALUES = [
    "Bearer t1",
    "bearer t1",
    "Bearer  t2 ",
    "t1",
    " t2",
    "Basic t1",
    "Bearer",
    "",
    "BEARER t3",
    "t1 t2",
]


def outcome(call: object, *args: object) -> tuple[str, str]:
    try:
        return "token", call(*args)  # type: ignore[operator]
    except AuthenticationError as exc:
        return "refused", exc.reason


pairs = st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from(VALUES)), max_size=5)


@settings(max_examples=400, deadline=None)
@given(
    headers=pairs,
    query=pairs,
    form=st.none() | pairs,
    slots=st.lists(st.sampled_from(SLOTS), min_size=1, max_size=5, unique=True),
)
def test_extract_token_generated(
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
    form: list[tuple[str, str]] | None,
    slots: list[TokenSlot],
) -> None:
    args = (
        CIMultiDictProxy(CIMultiDict(headers)),
        MultiDictProxy(MultiDict(query)),
        None if form is None else MultiDictProxy(MultiDict(form)),
        tuple(slots),
    )
    assert outcome(extract_token, *args) == outcome(old_extract_token, *args)


TOKEN_CASES = {
    "one header": ([("Authorization", "Bearer t1")], [], None),
    "same token in two slots": (
        [("Authorization", "Bearer t1"), ("X-Api-Key", "t1")],
        [("api_key", "t1")],
        None,
    ),
    "two tokens": ([("Authorization", "Bearer t1")], [("_authx", "Bearer t2")], None),
    "form only": ([], [], [("api_key", "t1")]),
    "form and query differ": ([], [("api_key", "t1")], [("api_key", "t2")]),
    "none": ([("Accept", "x")], [], None),
    "wrong scheme only": ([("Authorization", "Basic t1"), ("X-Civi-Auth", "bearer t1")], [], None),
}


@pytest.mark.parametrize(("headers", "query", "form"), TOKEN_CASES.values(), ids=TOKEN_CASES.keys())
def test_extract_token_table(
    headers: list[tuple[str, str]], query: list[tuple[str, str]], form: list[tuple[str, str]] | None
) -> None:
    args = (
        CIMultiDictProxy(CIMultiDict(headers)),
        MultiDictProxy(MultiDict(query)),
        None if form is None else MultiDictProxy(MultiDict(form)),
        SLOTS,
    )
    assert outcome(extract_token, *args) == outcome(old_extract_token, *args)


def old_identity_text(identity: Identity, name: str) -> str:
    """``identity_text`` before its one-line check became three substring searches."""
    secret = identity.get(name)
    if not isinstance(secret, Secret):
        raise GatewayError(f"CRM identity lacks {name}", reason="identity-misconfigured", status=500)
    value = secret.reveal()
    if not value or not frozenset("\r\n\0").isdisjoint(value):
        raise GatewayError(
            f"CRM identity {name} is empty or not one line", reason="identity-misconfigured", status=500
        )
    return value


def identity_outcome(call: object, identity: Identity) -> tuple[str, str]:
    try:
        return "text", call(identity, "api_key")  # type: ignore[operator]
    except GatewayError as exc:
        return exc.reason, str(exc)


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(alphabet=st.sampled_from(["a", "\r", "\n", "\0", " ", "\u00e9", "\t", "\x0b"]), max_size=6)
)
def test_identity_text_generated(value: str) -> None:
    for identity in ({"api_key": Secret(value)}, {"api_key": value}, {}):
        assert identity_outcome(identity_text, identity) == identity_outcome(old_identity_text, identity)  # type: ignore[arg-type]


def old_evalsha(prefix: str, limits: Sequence[Limit], costs: list[int]) -> bytes:
    """What the direct Redis path wrote for one hit before its commands were remembered (899b245)."""
    keys = [prefix + limit.key for limit in limits]
    args: list[str | int] = []
    for limit, charge in zip(limits, costs, strict=True):
        args += [repr(limit.interval * 1_000_000), limit.burst, charge]
    parts = [b"EVALSHA", GCRA_SHA.encode(), b"%d" % len(keys), *[key.encode() for key in keys]]
    parts += [arg.encode() if isinstance(arg, str) else b"%d" % arg for arg in args]
    return pack(parts)


@settings(max_examples=200, deadline=None)
@given(
    chosen=st.lists(st.integers(0, len(LIMITS) - 1), min_size=1, max_size=4, unique=True),
    cost=st.integers(1, 1000),
    prefix=st.sampled_from(["crmgw:rl:", "other:", ""]),
)
def test_redis_direct_command_generated(chosen: list[int], cost: int, prefix: str) -> None:
    limiter = RedisLimiter("redis://127.0.0.1:9/0", prefix=prefix)  # connects on the first call only
    direct = limiter._direct
    assert direct is not None and direct._script == GCRA_SCRIPT.encode()
    limits = [LIMITS[i] for i in chosen]
    costs = [cost + i for i in range(len(limits))]
    parts = direct.parts(*limiter._script_input(limits, costs))
    assert pack(parts) == old_evalsha(prefix, limits, costs)
