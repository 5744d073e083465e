"""Person fields as the signers check them, and what the signers do with them."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from gateway.secrets import Secret
from gateway.signers import civicrm_authx
from gateway.signers.base import OutboundRequest
from gateway.signers.civicrm_authx import AuthxJwtSigner, contact_id_check
from gateway.signers.civicrm_crypto import signing_key_for_gateway
from gateway.signers.espo_basic import EspoBasicSigner, EspoTokenSigner, user_name_check


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, "7"),
        ("42", "42"),
        (4294967295, "4294967295"),
        *[(bad, None) for bad in ("0", 0, -1, "07", True, 7.0, "7 ", "", [7], 4294967296, "1e3")],
    ],
)
def test_contact_id(value: Any, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            contact_id_check(value)
    else:
        assert contact_id_check(value) == expected


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        *[(good, True) for good in ("ada", "ada.lovelace@example.org", "jean paul", "a_b-c")],
        *[
            (bad, False)
            for bad in ("Ada", "", " ada", "ada ", "a  b", "a:b", "ada\r\nx", "ådå", 7, None, "a" * 256)
        ],
    ],
)
def test_espo_user_name(value: Any, ok: bool) -> None:
    if ok:
        assert user_name_check(value) == value
    else:
        with pytest.raises(ValueError):
            user_name_check(value)


def outbound() -> OutboundRequest:
    return OutboundRequest("GET", "/api/v1/Lead", [], CIMultiDict())


@pytest.mark.parametrize(
    ("signer", "identity"),
    [
        (EspoBasicSigner(), {"username": "gw_admin", "password": "pw-1"}),
        (EspoTokenSigner(), {"username": "gw_admin", "token": "tok-1"}),
    ],
)
def test_act_as_is_sent_as_x_another_user_and_only_then(signer: Any, identity: dict[str, str]) -> None:
    plain, acting = outbound(), outbound()
    signer.sign(plain, {k: Secret(v) for k, v in identity.items()}, 0.0)
    signer.sign(acting, {**{k: Secret(v) for k, v in identity.items()}, "act_as": Secret("ada")}, 0.0)
    assert "X-Another-User" not in plain.headers
    assert acting.headers["X-Another-User"] == "ada"
    assert acting.headers["Espo-Authorization"] == plain.headers["Espo-Authorization"]


def test_the_minted_token_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(civicrm_authx, "TOKEN_CACHE_SIZE", 3)
    signer = AuthxJwtSigner(signing_key_for_gateway("jwt-hs256:hkdf-sha256:abcdefghijkl"))
    first = signer.token_for("1", 1000.0)
    for cid in ("2", "3", "4"):
        signer.token_for(cid, 1000.0)
    assert len(signer._cache) == 3
    assert "1" not in signer._cache  # the oldest went first
    assert signer.token_for("4", 1001.0) == signer._cache["4"][0]
    assert signer.token_for("1", 1000.0) == first  # minted again: same claims, same second
