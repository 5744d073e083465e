"""Credential names come from what dialects and signers declare (dialects/credentials.py): the tables
computed from the declarations are exactly the ones generic code spelled out before, every declared name
is stripped and hidden whether or not a config uses it, and a new dialect's or signer's names are honoured
without touching generic code."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.decision import contract
from gateway.dialects import credentials
from gateway.dialects.credentials import CLIENT_CREDENTIALS, CREDENTIAL_PREFIXES, outbound_headers
from gateway.dialects.registry import DIALECTS
from gateway.observability import redact
from gateway.observability.redact import REDACTED, scrub
from gateway.signers.registry import SIGNERS

OLD_CLIENT_CREDENTIALS = {
    "authorization",
    "x-civi-auth",
    "x-civi-key",
    "x-civi-site-key",
    "x-api-key",
    "x-hmac-authorization",
    "espo-authorization",
    "espo-authorization-by-token",
    "espo-authorization-code",
    "espo-authorization-create-token-secret",
    "x-another-user",
    "cookie",
    "http-espo-cgi-auth",
    "redirect-http-espo-cgi-auth",
    "http-espo-authorization",
    "redirect-http-espo-authorization",
}
OLD_PREFIXES = {"espo-authorization", "x-civi-", "x-hmac-", "x-api-key"}
OLD_SETTABLE = (
    "Authorization",
    "X-Civi-Auth",
    "X-Civi-Key",
    "X-Api-Key",
    "X-Hmac-Authorization",
    "Espo-Authorization",
    "Espo-Authorization-By-Token",
    "X-Requested-With",
    "X-Request-ID",
)
OLD_STRIPPED = (
    "Cookie",
    "Espo-Authorization-Code",
    "Espo-Authorization-Create-Token-Secret",
    "Forwarded",
    "Http-Espo-Authorization",
    "Http-Espo-Cgi-Auth",
    "Redirect-Http-Espo-Authorization",
    "Redirect-Http-Espo-Cgi-Auth",
    "X-Another-User",
    "X-Civi-Site-Key",
    "X-Forwarded-Port",
    "X-Http-Method",
    "X-Http-Method-Override",
    "X-Method-Override",
    "X-Real-Ip",
)
OLD_LOGGED_PARAMS = {
    "api_key",
    "_authx",
    "key",
    "site_key",
    "apikey",
    "access_token",
    "id_token",
    "refresh_token",
    "token",
    "password",
    "passwd",
    "secret",
    "client_secret",
    "jwt",
}


def test_the_tables_are_the_ones_generic_code_spelled_out_before() -> None:
    assert CLIENT_CREDENTIALS == OLD_CLIENT_CREDENTIALS
    assert set(CREDENTIAL_PREFIXES) == OLD_PREFIXES
    assert contract.SETTABLE == OLD_SETTABLE
    assert contract.STRIPPED == OLD_STRIPPED
    assert set(contract.WILDCARD_STRIPPED) == {f"{p}*" for p in OLD_PREFIXES}


def test_the_token_slots_are_the_ones_generic_code_spelled_out_before() -> None:
    slots = {(s.name, s.field, s.param, s.scheme) for s in credentials.TOKEN_SLOTS.values()}
    assert slots == {
        ("authorization", "Authorization", False, "bearer"),
        ("x-civi-auth", "X-Civi-Auth", False, "Bearer"),
        ("_authx", "_authx", True, "Bearer"),
        ("api_key", "api_key", True, "none"),
        ("x-api-key", "X-Api-Key", False, "none"),
    }
    assert {"_authx", "api_key"} == credentials.TOKEN_PARAMS


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_a_header_token_slot_is_one_of_the_dialects_credential_headers(name: str) -> None:
    dialect = DIALECTS[name].dialect
    headers = {slot.field.lower() for slot in dialect.token_slots if not slot.param}
    assert headers <= dialect.credential_headers


def test_logs_hide_every_parameter_they_hid_before_and_the_declared_ones_they_missed() -> None:
    logged = redact.CREDENTIAL_PARAMS
    # _authxSiteKey (AuthX's param flow) and sign_keys (a secret option) escaped redaction before
    assert logged == OLD_LOGGED_PARAMS | {"_authxSiteKey", "sign_keys"}
    assert OLD_CLIENT_CREDENTIALS | {"proxy-authorization", "set-cookie"} <= redact.CREDENTIAL_HEADERS


def _declared_headers() -> list[tuple[str, str]]:
    found = [(f"dialect {n}", h) for n, spec in DIALECTS.items() for h in spec.dialect.credential_headers]
    found += [(f"signer {n}", h) for n, s in SIGNERS.items() for h in (*s.headers, *s.proxy_only_headers)]
    return found


def _declared_params() -> list[tuple[str, str]]:
    found = [(f"dialect {n}", p) for n, spec in DIALECTS.items() for p in spec.dialect.credential_params]
    found += [(f"signer {n}", p) for n, s in SIGNERS.items() for p in (*s.params, *s.secret_options)]
    return found


@pytest.mark.parametrize(("owner", "header"), _declared_headers())
def test_every_declared_header_is_stripped_and_hidden(owner: str, header: str) -> None:
    client = CIMultiDictProxy(CIMultiDict([(header, "v4lue-of-a-credential"), ("Accept", "*/*")]))
    assert list(outbound_headers(client)) == ["Accept"], owner
    assert scrub(f"{header}: v4lue-of-a-credential") == f"{header}: {REDACTED}", owner


@pytest.mark.parametrize(("owner", "param"), _declared_params())
def test_every_declared_parameter_is_hidden(owner: str, param: str) -> None:
    assert scrub(f"/x?a=1&{param}=v4lue-of-a-credential") == f"/x?a=1&{param}={REDACTED}", owner


@pytest.mark.parametrize("scheme", sorted(SIGNERS))
def test_a_signer_injects_only_parameters_its_dialects_strip_from_clients(scheme: str) -> None:
    spec = SIGNERS[scheme]
    for dialect in spec.dialects:
        assert spec.params <= DIALECTS[dialect].dialect.credential_params


@pytest.mark.parametrize("scheme", sorted(SIGNERS))
def test_proxy_only_headers_belong_to_fields_a_front_proxy_cannot_apply(scheme: str) -> None:
    spec = SIGNERS[scheme]
    assert not spec.proxy_only_headers or spec.front_proxy_refused_fields
    assert not {h.lower() for h in spec.proxy_only_headers} & {h.lower() for h in credentials.SIGNED_HEADERS}


def test_an_undeclared_name_is_not_touched() -> None:
    """The made-up names below pass untouched until something declares them."""
    client = CIMultiDictProxy(CIMultiDict([("X-Acme-Token", "t0ken-value"), ("Accept", "*/*")]))
    assert "X-Acme-Token" in outbound_headers(client)
    assert scrub("X-Acme-Token: t0ken-value") == "X-Acme-Token: t0ken-value"


MADE_UP = textwrap.dedent(
    """
    from typing import ClassVar

    from gateway.dialects import registry
    from gateway.dialects.vocabulary import DialectRules
    from gateway.signers import registry as signers
    from gateway.signers.base import SignerSpec
    from gateway.wire.slots import TokenSlot

    class AcmeDialect:
        name: ClassVar[str] = "acme"
        vocabulary: ClassVar[DialectRules] = DialectRules("acme", entity_folds_case=False)
        credential_params: ClassVar[frozenset[str]] = frozenset({"acme_key"})
        credential_headers: ClassVar[frozenset[str]] = frozenset({"x-acme-token"})
        credential_prefixes: ClassVar[tuple[str, ...]] = ("acme-auth",)
        token_slots: ClassVar[tuple[TokenSlot, ...]] = (
            TokenSlot("acme-bearer", "X-Acme-Bearer"),
            TokenSlot("acme_jwt", "acme_jwt", param=True, scheme="none"),
        )

    registry.DIALECTS["acme"] = registry.DialectSpec(lambda options, where: AcmeDialect(), AcmeDialect)
    signers.SIGNERS["acme-sig"] = SignerSpec(
        scheme="acme-sig",
        factory=lambda options, where: None,
        identity_fields=frozenset(),
        dialects=frozenset({"acme"}),
        secret_options=frozenset({"acme_secret"}),
        headers=("X-Acme-Signature",),
        params=frozenset({"acme_sig"}),
    )

    from multidict import CIMultiDict, CIMultiDictProxy

    from gateway.decision import contract
    from gateway.observability.redact import REDACTED, scrub
    from gateway.dialects.credentials import outbound_headers

    sent = ["X-Acme-Token", "Acme-Auth-Extra", "X-Acme-Signature", "X-Acme.Token", "Accept"]
    client = CIMultiDictProxy(CIMultiDict((name, "s3cret-value") for name in sent))
    assert list(outbound_headers(client)) == ["Accept"], list(outbound_headers(client))

    assert "X-Acme-Signature" in contract.SETTABLE
    assert "X-Acme-Token" in contract.STRIPPED and "acme-auth*" in contract.WILDCARD_STRIPPED
    assert contract.unstrippable("Acme-Auth-Other") and contract.unstrippable("X_Acme_Token")

    for line in ("X-Acme-Token: s3cret-value", "acme-auth-v2: s3cret-value", "X-Acme-Signature: s3cret-value",
                 "/x?acme_key=s3cret-value", "/x?acme_sig=s3cret-value", "acme_secret=s3cret-value"):
        assert "s3cret" not in scrub(line) and REDACTED in scrub(line), line
    from multidict import MultiDict, MultiDictProxy

    from gateway.dialects.base import RequestView
    from gateway.dialects.credentials import TOKEN_PARAMS, TOKEN_SLOTS
    from gateway.wire.slots import extract_token

    assert list(TOKEN_SLOTS)[-2:] == ["acme-bearer", "acme_jwt"] and "acme_jwt" in TOKEN_PARAMS
    nothing = MultiDictProxy(MultiDict())
    bearer = CIMultiDictProxy(CIMultiDict({"X-Acme-Bearer": "Bearer t0ken-value"}))
    assert extract_token(bearer, nothing, None, (TOKEN_SLOTS["acme-bearer"],)) == "t0ken-value"
    query = MultiDictProxy(MultiDict({"acme_jwt": "t0ken-value"}))
    assert extract_token(bearer, query, None, (TOKEN_SLOTS["acme_jwt"],)) == "t0ken-value"
    assert not outbound_headers(bearer)
    assert "t0ken" not in scrub("/x?acme_jwt=t0ken-value")
    from gateway.frontends.cache import KEY

    assert "acme-bearer=$http_x_acme_bearer" in KEY

    # every dialect reads the new parameter slot as the gateway's, not as an unknown parameter of its own
    espo = registry.factory_for("espocrm")({}, "upstreams.espo.options")
    path = "/api/v1/Contact"
    view = RequestView("GET", path, path, query, CIMultiDictProxy(CIMultiDict()))
    assert [op.entity for op in espo.identify(view)] == ["Contact"]
    print("honoured")
    """
)


def test_a_made_up_dialect_and_signer_are_honoured_by_strip_contract_and_logs() -> None:
    """In a fresh interpreter: the tables are built once, at import, from the registries."""
    done = subprocess.run([sys.executable, "-c", MADE_UP], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "honoured"
