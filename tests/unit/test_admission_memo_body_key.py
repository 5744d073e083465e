"""Bodies in the admission memo: which bodies may key a plan (small, no credential in any spelling a CRM
reads), what the key holds, and that a plan's outbound request equals the one built anew for the same body,
before and after signing, without signing changing the plan."""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gateway.admission_memo import (
    MEMO_BODY_BYTES,
    AdmissionMemo,
    BodyKey,
    Plan,
    memoisable_bytes,
    memoisable_form,
    template_of,
)
from gateway.assembly import build_dialect, build_signer
from gateway.config.loader import load_config_text
from gateway.dialects.base import RequestView
from gateway.identity.spec import ActingAs
from gateway.principal import Principal
from gateway.proxy.body import _read_anew, form_pairs
from gateway.proxy.outbound import build_outbound, dropped_params
from gateway.proxy.upstream import Upstream
from gateway.secrets import Secret
from gateway.signers.base import OutboundRequest
from tests.support.jwt_factory import make_key
from tests.support.stack import ENV, config_text

ALICE = Principal(subject="alice", issuer="https://idp", expires_at=2e9)
CHAIN = urlencode({"entity": "Contact", "action": "get", "json": '{"sequential":1,"api.Email.get":{}}'})


@pytest.mark.parametrize(
    ("pairs", "memoisable"),
    [
        pytest.param([("entity", "Contact"), ("json", '{"sequential":1}')], True, id="a plain v3 call"),
        pytest.param([("api_key", "secret")], False, id="a credential name"),
        pytest.param([("API_KEY", "secret")], False, id="in capitals"),
        pytest.param([("api.key", "secret")], False, id="a spelling PHP folds into api_key"),
        pytest.param([(" _authx", "Bearer t")], False, id="the _authx slot with a leading space"),
        pytest.param([("key", "site")], False, id="the site key"),
        pytest.param([("json", '{"api_key":"k"}')], False, id="a credential inside a value"),
        pytest.param([("json", '{"\\u0061pi_key":"k"}')], False, id="a JSON escape that could spell one"),
        pytest.param([("json", '{"monkey":1}')], False, id="any name holding a marker (fail closed)"),
        pytest.param([("x", "a" * (MEMO_BODY_BYTES + 1))], False, id="over the size bound"),
    ],
)
def test_which_form_bodies_may_key_a_plan(pairs: list[tuple[str, str]], memoisable: bool) -> None:
    assert memoisable_form(pairs, len(urlencode(pairs))) is memoisable


@pytest.mark.parametrize(
    ("body", "memoisable"),
    [
        pytest.param(b'{"firstName":"Ada","status":"New"}', True, id="a plain JSON object"),
        pytest.param(b'{"apiKey":"k"}', False, id="a credential name"),
        pytest.param(b'{"\\u0061piKey":"k"}', False, id="a JSON escape"),
        pytest.param(b'{"a":"%6bey"}', False, id="a URL escape"),
        pytest.param('{"a":"Ada"}'.encode("utf-16"), False, id="another encoding"),
        pytest.param('{"name":"Zoë"}'.encode(), False, id="non-ASCII (fail closed)"),
        pytest.param(b'{"a":"' + b"x" * MEMO_BODY_BYTES + b'"}', False, id="over the size bound"),
    ],
)
def test_which_other_bodies_may_key_a_plan(body: bytes, memoisable: bool) -> None:
    assert memoisable_bytes(body) is memoisable


def view(
    body: bytes | None, form: list[tuple[str, str]] | None = None, memoisable: bool = True
) -> RequestView:
    return RequestView(
        method="POST",
        path="/civicrm/ajax/rest",
        raw_path="/civicrm/ajax/rest",
        query=MultiDictProxy(MultiDict()),
        headers=CIMultiDictProxy(CIMultiDict({"Content-Type": "application/x-www-form-urlencoded"})),
        content_type="application/x-www-form-urlencoded",
        body=body,
        form=None if form is None else MultiDictProxy(MultiDict(form)),
        body_memoisable=memoisable,
    )


def test_the_body_keys_a_plan_only_when_the_reader_found_it_memoisable() -> None:
    memo, drop = AdmissionMemo(), dropped_params(frozenset())
    body = CHAIN.encode()
    first = memo.key("civi", drop, view(body, form_pairs(body)), ALICE, False)
    assert isinstance(first, BodyKey) and first[-1] == body
    assert first == memo.key("civi", drop, view(bytes(body), form_pairs(body)), ALICE, False)
    other = body.replace(b"Contact", b"Contacu")
    assert first != memo.key("civi", drop, view(other, form_pairs(other)), ALICE, False)
    assert memo.key("civi", drop, view(body, form_pairs(body), memoisable=False), ALICE, False) is None
    assert memo.key("civi", drop, view(None, [("entity", "Contact")]), ALICE, False) is None  # multipart


def test_body_plans_have_their_own_bound() -> None:
    memo = AdmissionMemo(size=4, bodied=2)
    out = OutboundRequest("POST", "/x", [], CIMultiDict({"X-Request-ID": "r"}), form=[("a", "1")])
    acting = ActingAs(0, {}, None, "fixed", "identities[0]")
    plan = Plan(ALICE, acting, (), "allow", "rule", (), (), out)
    keys = [BodyKey(("k", str(i).encode())) for i in range(3)]
    for key in keys:
        memo.put(key, plan)
    memo.put(("bodiless",), plan)
    assert len(memo) == 3
    assert memo.get(keys[0], ALICE) is None and memo.get(keys[2], ALICE) is plan
    assert memo.get(("bodiless",), ALICE) is plan


def upstreams() -> dict[str, Upstream]:
    """Each CiviCRM upstream of the test stack (every signer that rewrites a form), without connections:
    building and signing the outbound request reads only its config, dialect and signer."""
    text = config_text("http://127.0.0.1:9", "http://127.0.0.1:9", make_key("ES256"), policies=())
    config = load_config_text(text, "gateway.yaml", ENV)
    none = cast(Any, None)
    return {
        up.name: Upstream(up, build_dialect(up), build_signer(up), none, none, none, none)
        for up in config.upstreams
        if up.name.startswith("civi-")
    }


UPSTREAMS = upstreams()
IDENTITY = {
    "api_key": Secret("civi-contact-42-api-key"),
    "contact_id": Secret("42"),
    "username": Secret("svc_user"),
    "password": Secret("civi-password-42"),
}
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def outbound(up: Upstream, body: bytes, request_id: str) -> OutboundRequest:
    read_body, form, memoisable = _read_anew(body, True)
    v = view(read_body, list(form.items()) if form is not None else None, memoisable)
    return build_outbound(up, v, request_id=request_id, client_ip="10.0.0.1", scheme="https", host="gw")


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(st.tuples(TEXT, TEXT), max_size=5),
    name=st.sampled_from(sorted(UPSTREAMS)),
)
def test_a_plans_outbound_request_is_the_one_built_anew_before_and_after_signing(
    pairs: list[tuple[str, str]], name: str
) -> None:
    up = UPSTREAMS[name]
    body = urlencode([("entity", "Contact"), ("json", json.dumps({"x": 1})), *pairs]).encode()
    first = outbound(up, body, "r1")
    plan = Plan(ALICE, ActingAs(0, {}, None, "fixed", "i"), (), "allow", "r", (), (), template_of(first))
    kept = template_of(plan.template)
    for request_id in ("r2", "r3"):
        again, fresh = plan.outbound(request_id, "10.0.0.1", "https", "gw"), outbound(up, body, request_id)
        assert again == fresh
        up.signer.sign(again, IDENTITY, 2e9 - 100)
        up.signer.sign(fresh, IDENTITY, 2e9 - 100)
        assert again == fresh
    assert plan.template == kept  # signing a copy leaves the plan as it was
