"""The admission memo: what ``admit()`` concluded for a request it has already admitted, so that a repeated
request skips the stages whose answer is a pure function of the request and its principal (identity rule,
identify, authorize, record scopes, the unsigned outbound request).

A plan is remembered only when nothing in it can change between two identical requests: no body was read
(the key holds everything else the stages read), the identity needs no look-up through the CRM (those
expire), and no record scope narrowed the request. The principal is part of the key by identity: the
verified-token cache hands out one ``Principal`` per token until its ``exp``, and the plan holds it, so its
id is never reused meanwhile (a principal without an expiry is never cached, so no plan is kept for it).
Authentication (expiry, revocation), rate limits, signing (a minted credential keeps its own lifetime), the
breaker, the access line and metrics still run per request. The memo belongs to one ``Runtime``: a reload
starts with an empty one.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import NamedTuple

from multidict import CIMultiDict

from gateway.dialects.base import Operation, RequestView
from gateway.dialects.credentials import CLIENT_CREDENTIALS, CREDENTIAL_PREFIXES
from gateway.identity.spec import ActingAs
from gateway.policy.cache import Memo
from gateway.principal import Principal
from gateway.proxy.outbound import set_forwarding
from gateway.ratelimit.base import Limit
from gateway.signers.base import OutboundRequest

MEMO_SIZE = 4096
"""Plans kept: beyond that the least recently used one goes."""

_UNREAD = frozenset({"x-request-id", "x-forwarded-for"})
"""Client headers no stage before signing reads and the outbound request never carries (the gateway sets
its own): their values stay out of the key, so a per-request id or a client address does not miss."""

_NAMES_REMEMBERED = 1024


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
    headers anew into each copy)."""

    def outbound(self, request_id: str, client_ip: str, scheme: str, host: str) -> OutboundRequest:
        """A fresh unsigned outbound request, as ``build_outbound`` would build it for this request."""
        t = self.template
        headers = CIMultiDict[str](t.headers)
        set_forwarding(headers, client_ip, scheme, host, request_id)
        return OutboundRequest(t.method, t.path, list(t.query), headers, t.base_path)


def template_of(out: OutboundRequest) -> OutboundRequest:
    """A copy of an unsigned outbound request without a body, kept apart from the one that is signed."""
    return OutboundRequest(out.method, out.path, list(out.query), CIMultiDict(out.headers), out.base_path)


class AdmissionMemo:
    """Plans by request key; bounded (least recently used out)."""

    __slots__ = ("_hidden", "_plans", "hits")

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._plans = Memo[Plan](size)
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
        """Everything the memoised stages read of the request; None when it carries a body that was read.
        Credential values (dropped before the upstream, read only by authentication) are left out, their
        names kept; so are ``drop_params``' values (the query parameters ``build_outbound`` removes)."""
        if view.body is not None or view.form is not None:
            return None
        hidden = self._hidden
        headers = []
        for name, value in view.headers.items():
            secret = hidden.get(name)
            if secret is None:
                secret = self._hide(name)
            headers.append((name, None) if secret else (name, value))
        query = tuple((k, None) if k in drop_params else (k, v) for k, v in view.query.items())
        return (
            upstream,
            front_proxy,
            id(principal),
            view.method,
            view.raw_path,
            view.path,
            view.content_type,
            query,
            tuple(headers),
        )

    def _hide(self, name: str) -> bool:
        low = name.lower()
        secret = low in CLIENT_CREDENTIALS or low.startswith(CREDENTIAL_PREFIXES) or low in _UNREAD
        if len(self._hidden) >= _NAMES_REMEMBERED:
            self._hidden.clear()
        self._hidden[name] = secret
        return secret

    def get(self, key: Hashable, principal: Principal) -> Plan | None:
        plan = self._plans.get(key)
        if plan is None or plan.principal is not principal:
            return None
        self.hits += 1
        return plan

    def put(self, key: Hashable, plan: Plan) -> None:
        self._plans.put(key, plan)

    def __len__(self) -> int:
        return len(self._plans)
