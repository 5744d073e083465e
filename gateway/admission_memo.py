"""The admission memo: what ``admit()`` concluded for a request it has already admitted, so that a repeated
request skips the stages whose answer is a pure function of the request and its principal (identity rule,
identify, authorize, record scopes, the unsigned outbound request).

A plan is remembered only when nothing in it can change between two identical requests: the key holds
everything the stages read, a body read included (its exact bytes), the identity needs no look-up through
the CRM (those expire), and no record scope narrowed the request. A body keys a plan only when the body
reader found it memoisable (``memoisable_form``, ``memoisable_bytes``): read whole, at most
``MEMO_BODY_BYTES`` long, and free of anything that could be a credential, so no client secret is kept in
a key; any other request whose body was read has no key. The principal is part of the key by identity:
the verified-token cache hands out one ``Principal`` per token until its ``exp``, and the plan holds it,
so its id is never reused meanwhile (a principal without an expiry is never cached, so no plan is kept
for it).
Authentication (expiry, revocation), rate limits, signing (a minted credential keeps its own lifetime), the
breaker, the access line and metrics still run per request. The memo belongs to one ``Runtime``: a reload
starts with an empty one.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import NamedTuple

from multidict import CIMultiDict

from gateway.answers.fields import FieldFilter
from gateway.dialects.base import Operation, RequestView
from gateway.dialects.credentials import CLIENT_CREDENTIALS, CREDENTIAL_PARAMS, CREDENTIAL_PREFIXES
from gateway.identity.spec import ActingAs
from gateway.policy.cache import Memo
from gateway.policy.engine import PolicySet
from gateway.principal import Principal
from gateway.proxy.outbound import set_forwarding
from gateway.proxy.upstream import Upstream
from gateway.ratelimit.base import Limit
from gateway.signers.base import OutboundRequest

MEMO_SIZE = 4096
"""Plans kept: beyond that the least recently used one goes."""

_UNREAD = frozenset({"x-request-id", "x-forwarded-for"})
"""Client headers no stage before signing reads and the outbound request never carries (the gateway sets
its own): their values stay out of the key, so a per-request id or a client address does not miss."""

_NAMES_REMEMBERED = 1024

MEMO_BODY_BYTES = 8192
"""The largest request body that keys a plan (its bytes are part of the key)."""
BODY_PLANS = 1024
"""Plans keyed by a body, and parsed bodies the body reader keeps (gateway/proxy/body.py): beyond that the
least recently used one goes. Each holds a body of at most ``MEMO_BODY_BYTES`` and its form (a plan also
the outbound copy, sharing the form's strings): a few MiB in the usual case, about 40 MiB at the very worst
(every entry a distinct 8 KiB body). Plans without a body: ``MEMO_SIZE``."""


def _markers(names: Iterable[str]) -> tuple[str, ...]:
    """The credential names, lower-case, without leading or trailing ``_``, none containing another."""
    cores = sorted({name.lower().strip("_") for name in names}, key=len)
    kept: list[str] = []
    for core in cores:
        if not any(k in core for k in kept):
            kept.append(core)
    return tuple(kept)


CREDENTIAL_MARKERS = _markers(CREDENTIAL_PARAMS)
"""What a memoised body may not contain anywhere, names or values: every credential parameter a dialect, a
signer or a token slot reads (``key`` covers ``api_key``, ``site_key``...), in a text lower-cased and with
the separators PHP folds into ``_`` in a name (space, ``.``, ``[``) folded the same way."""
_FOLD = str.maketrans({" ": "_", ".": "_", "[": "_"})
_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\r\n"


def _marked(text: str) -> bool:
    low = text.lower().translate(_FOLD)
    return any(m in low for m in CREDENTIAL_MARKERS) or "\\u" in low


def memoisable_form(pairs: Iterable[tuple[str, str]], size: int) -> bool:
    """A form body (``size`` bytes, its decoded ``pairs``) may key a plan: small, and no name or value holds
    a credential marker or a JSON escape (a ``json`` value is decoded again) that could spell one."""
    return size <= MEMO_BODY_BYTES and not any(_marked(f"{name}\n{value}") for name, value in pairs)


def memoisable_bytes(body: bytes) -> bool:
    """Any other body may key a plan when it is small, printable ASCII (no other encoding a reader could
    detect), and holds no credential marker nor an escape that could spell one."""
    if len(body) > MEMO_BODY_BYTES or body.translate(None, _PLAIN):
        return False
    text = body.decode("ascii")
    return "%" not in text and not _marked(text)


def answer_fields(
    policies: PolicySet, up: Upstream, principal: Principal, operations: Sequence[Operation]
) -> FieldFilter | None:
    """The fields the answer to this request may not carry, as a filter; None when there are none."""
    denied = policies.denied_fields(principal, up.config.name, operations)
    return FieldFilter(denied, up.dialect.answer_fields) if denied else None


class BodyKey(tuple[object, ...]):
    """The key of a request whose body was read: its plan is kept among the ``BODY_PLANS``."""

    __slots__ = ()


class Plan(NamedTuple):
    principal: Principal
    acting: ActingAs
    operations: tuple[Operation, ...]
    decision: str
    rule: str
    shadow: tuple[str, ...]
    charged: tuple[tuple[Limit, int], ...]
    """The rate limits the request is charged against, with their costs (still charged per request)."""
    template: OutboundRequest
    """The unsigned outbound request of the first such request (``outbound`` writes its ``FORWARDING``
    headers anew into each copy), its form or body included."""
    fields: FieldFilter | None = None
    """The answer filter for its principal and operations (``answer_fields``), shared by the requests it
    admits (the filter's own memo is a pure function of the denied fields)."""

    def outbound(self, request_id: str, client_ip: str, scheme: str, host: str) -> OutboundRequest:
        """A fresh unsigned outbound request, as ``build_outbound`` would build it for this request: its
        lists copied, since signing changes the query, the form and the headers in place."""
        t = self.template
        headers = CIMultiDict[str](t.headers)
        set_forwarding(headers, client_ip, scheme, host, request_id)
        form = None if t.form is None else list(t.form)
        return OutboundRequest(t.method, t.path, list(t.query), headers, t.base_path, form, t.body)


def template_of(out: OutboundRequest) -> OutboundRequest:
    """A copy of an unsigned outbound request, kept apart from the one that is signed (``body``, bytes, is
    shared)."""
    form = None if out.form is None else list(out.form)
    headers = CIMultiDict(out.headers)
    return OutboundRequest(out.method, out.path, list(out.query), headers, out.base_path, form, out.body)


class AdmissionMemo:
    """Plans by request key; bounded (least recently used out)."""

    __slots__ = ("_bodied", "_hidden", "_plans", "hits")

    def __init__(self, size: int = MEMO_SIZE, bodied: int = BODY_PLANS) -> None:
        self._plans = Memo[Plan](size)
        self._bodied = Memo[Plan](bodied)
        self._hidden: dict[str, bool] = {}
        self.hits = 0
        """Requests admitted from a plan (tests and benchmarks read it)."""

    def key(
        self,
        upstream: str,
        drop_params: frozenset[str],
        view: RequestView,
        principal: Principal,
        front_proxy: bool,
    ) -> Hashable | None:
        """Everything the memoised stages read of the request, the body read last (None when there is
        none); None when the body was read and is not ``view.body_memoisable``. Credential values (dropped
        before the upstream, read only by authentication) are left out, their names kept; so are
        ``drop_params``' values (the query parameters ``build_outbound`` removes)."""
        body = view.body
        if not view.body_memoisable if body is not None else view.form is not None:  # (a multipart form)
            return None
        hidden = self._hidden
        headers = []
        for name, value in view.headers.items():
            secret = hidden.get(name)
            if secret is None:
                secret = self._hide(name)
            headers.append((name, None) if secret else (name, value))
        query = tuple((k, None) if k in drop_params else (k, v) for k, v in view.query.items())
        key = (
            upstream,
            front_proxy,
            id(principal),
            view.method,
            view.raw_path,
            view.path,
            view.content_type,
            query,
            tuple(headers),
            body,
        )
        return key if body is None else BodyKey(key)

    def _hide(self, name: str) -> bool:
        low = name.lower()
        secret = low in CLIENT_CREDENTIALS or low.startswith(CREDENTIAL_PREFIXES) or low in _UNREAD
        if len(self._hidden) >= _NAMES_REMEMBERED:
            self._hidden.clear()
        self._hidden[name] = secret
        return secret

    def _memo(self, key: Hashable) -> Memo[Plan]:
        return self._bodied if isinstance(key, BodyKey) else self._plans

    def get(self, key: Hashable, principal: Principal) -> Plan | None:
        plan = self._memo(key).get(key)
        if plan is None or plan.principal is not principal:
            return None
        self.hits += 1
        return plan

    def put(self, key: Hashable, plan: Plan) -> None:
        self._memo(key).put(key, plan)

    def __len__(self) -> int:
        return len(self._plans) + len(self._bodied)
