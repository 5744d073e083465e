"""The admission memo's key: everything the memoised stages read of a request, without a credential's value
(nor a request id or client address, which the gateway replaces); no key for a request whose body was read;
and a plan only for the principal object it was made for."""

from __future__ import annotations

from collections.abc import Hashable

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.admission_memo import AdmissionMemo, Plan, template_of
from gateway.dialects.base import RequestView
from gateway.dialects.civicrm.dialect import CiviCrmDialect
from gateway.identity.spec import ActingAs
from gateway.principal import Principal
from gateway.proxy.outbound import dropped_params
from gateway.signers.base import OutboundRequest

ALICE = Principal(subject="alice", issuer="https://idp", expires_at=2e9)
DROP = dropped_params(CiviCrmDialect.credential_params)


def view(
    headers: dict[str, str] | None = None, query: list[tuple[str, str]] | None = None, **fields: object
) -> RequestView:
    return RequestView(
        method=str(fields.pop("method", "GET")),
        path="/civicrm/ajax/api4/Contact/get",
        raw_path="/civicrm/ajax/api4/Contact/get",
        query=MultiDictProxy(MultiDict(query or [("params", "{}")])),
        headers=CIMultiDictProxy(CIMultiDict(headers or {"Accept": "application/json"})),
        **fields,  # type: ignore[arg-type]
    )


def key(memo: AdmissionMemo, v: RequestView, principal: Principal = ALICE) -> Hashable | None:
    return memo.key("civi", DROP, v, principal, False)


BASE = {"Accept": "application/json", "Authorization": "Bearer t1", "X-Request-ID": "r1"}


@pytest.mark.parametrize(
    ("changed", "same"),
    [
        pytest.param({"Authorization": "Bearer t2"}, True, id="another token: authentication decides"),
        pytest.param({"X-Request-ID": "r2"}, True, id="another request id"),
        pytest.param({"X-Civi-Key": "k"}, False, id="a credential header added"),
        pytest.param({"Accept": "text/html"}, False, id="another plain header value"),
        pytest.param({"X-HTTP-Method-Override": "DELETE"}, False, id="a header a dialect reads"),
        pytest.param({"Content-Type": "application/json"}, False, id="a content type"),
    ],
)
def test_which_headers_count(changed: dict[str, str], same: bool) -> None:
    memo = AdmissionMemo()
    assert (key(memo, view(BASE)) == key(memo, view({**BASE, **changed}))) is same


def test_credential_parameters_count_by_name_only() -> None:
    memo = AdmissionMemo()
    first = key(memo, view(query=[("params", "{}"), ("api_key", "secret-1")]))
    assert first == key(memo, view(query=[("params", "{}"), ("api_key", "secret-2")]))
    assert first != key(memo, view(query=[("params", "{}")]))
    assert first != key(memo, view(query=[("params", '{"limit":1}'), ("api_key", "secret-1")]))
    assert "secret-1" not in repr(first)


def test_method_and_principal_count_and_a_read_body_has_no_key() -> None:
    memo = AdmissionMemo()
    assert key(memo, view()) != key(memo, view(method="POST"))
    assert key(memo, view()) != key(memo, view(), Principal(subject="alice", issuer="https://idp"))
    assert key(memo, view(body=b"")) is None
    assert key(memo, view(form=MultiDictProxy(MultiDict()))) is None


def test_a_plan_answers_only_its_own_principal_object() -> None:
    memo = AdmissionMemo(size=2)
    out = OutboundRequest("GET", "/x", [], CIMultiDict({"X-Request-ID": "r"}))
    acting = ActingAs(0, {}, None, "fixed", "identities[0]")
    k = key(memo, view())
    assert k is not None
    memo.put(k, Plan(ALICE, acting, (), "allow", "rule", (), (), template_of(out)))
    twin = Principal(subject="alice", issuer="https://idp", expires_at=2e9)
    assert memo.get(k, twin) is None
    assert memo.get(k, ALICE) is not None and memo.hits == 1
    for extra in ("a", "b"):  # bounded: the least recently used plan goes
        memo.put((extra,), Plan(ALICE, acting, (), "allow", "rule", (), (), template_of(out)))
    assert memo.get(k, ALICE) is None and len(memo) == 2
