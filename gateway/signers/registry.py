"""The explicit list of signers: importing a module registers its schemes."""

from __future__ import annotations

from gateway.signers import civicrm_authx, civicrm_keys, espo_apikey, espo_basic, espo_hmac
from gateway.signers.base import schemes, spec_for

__all__ = ["civicrm_authx", "civicrm_keys", "espo_apikey", "espo_basic", "espo_hmac", "schemes", "spec_for"]
