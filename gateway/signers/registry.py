"""The schemes a config may name: one line per scheme (a literal dict, no import side effects)."""

from __future__ import annotations

from gateway.signers import civicrm_authx, civicrm_keys, espo_apikey, espo_basic, espo_hmac
from gateway.signers.base import SignerSpec

SIGNERS: dict[str, SignerSpec] = {
    "civicrm-keys": civicrm_keys.SPEC,
    "authx-apikey": civicrm_authx.APIKEY,
    "authx-basic": civicrm_authx.BASIC,
    "authx-jwt": civicrm_authx.JWT,
    "espo-apikey": espo_apikey.SPEC,
    "espo-hmac": espo_hmac.SPEC,
    "espo-basic": espo_basic.BASIC,
    "espo-token": espo_basic.TOKEN,
}


def spec_for(scheme: str) -> SignerSpec | None:
    return SIGNERS.get(scheme)


def schemes() -> list[str]:
    return sorted(SIGNERS)


def credential_names() -> frozenset[str]:
    """Every option or identity field name any scheme treats as a credential: an ``auth`` option with
    one of these names is resolved as a secret whatever its scheme (a misplaced key stays hidden)."""
    return frozenset().union(*(s.secret_options | s.identity_fields for s in SIGNERS.values()))
