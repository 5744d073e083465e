"""Every credential name the registered dialects and signers declare, gathered once from the two literal
registries: what proxy mode strips from a client's request (``HEADERS``, the rules of ``wire/headers.py``),
what a front proxy sets or removes (``decision/contract.py``), what no log line may show
(``observability/redact.py``).

A name counts for every upstream whether or not the config uses its dialect or signer (fail closed: a
client's ``X-Civi-Auth`` is stripped before an EspoCRM upstream too, and a disabled upstream's credential
names stay hidden in logs). Nothing here names a CRM: each fact lives in its dialect or signer.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.dialects.registry import DIALECTS, token_params
from gateway.signers.registry import SIGNERS
from gateway.wire.headers import HeaderRules
from gateway.wire.slots import AUTHORIZATION, TokenSlot


def _ordered(names: Iterable[str]) -> tuple[str, ...]:
    """First spelling of each name (case ignored), in registry order."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return tuple(seen.values())


SIGNED_HEADERS: tuple[str, ...] = _ordered(h for spec in SIGNERS.values() for h in spec.headers)
"""Headers some signer sets upstream and a front proxy can set from the decision, as sent."""

PROXY_ONLY_HEADERS: tuple[str, ...] = _ordered(
    h for spec in SIGNERS.values() for h in spec.proxy_only_headers
)
"""Headers only proxy mode sets (for identity fields a front proxy cannot apply)."""

TOKEN_SLOTS: dict[str, TokenSlot] = {
    slot.name: slot
    for slot in (AUTHORIZATION, *(s for spec in DIALECTS.values() for s in spec.dialect.token_slots))
}
"""Every slot ``identity.token_slots`` may name, HTTP's own first; all of them by default."""
TOKEN_PARAMS: frozenset[str] = token_params()
"""The parameters a token slot reads: stripped before any upstream, whichever slots are configured."""

_DIALECT_HEADERS = frozenset(h for spec in DIALECTS.values() for h in spec.dialect.credential_headers)
_SIGNER_HEADERS = frozenset(h.lower() for h in (*SIGNED_HEADERS, *PROXY_ONLY_HEADERS))
_SLOT_HEADERS = frozenset(slot.field.lower() for slot in TOKEN_SLOTS.values() if not slot.param)
CREDENTIAL_HEADERS: frozenset[str] = _DIALECT_HEADERS | _SIGNER_HEADERS | _SLOT_HEADERS
"""Lower-case names of every header a CRM reads a credential from, a signer injects or a token slot reads."""

CREDENTIAL_PREFIXES: tuple[str, ...] = _ordered(
    p for spec in DIALECTS.values() for p in spec.dialect.credential_prefixes
)
"""Lower-case prefixes of the CRMs' credential headers."""

_DIALECT_PARAMS = frozenset(p for spec in DIALECTS.values() for p in spec.dialect.credential_params)
_SIGNER_PARAMS = frozenset(p for spec in SIGNERS.values() for p in (*spec.params, *spec.secret_options))
CREDENTIAL_PARAMS: frozenset[str] = _DIALECT_PARAMS | _SIGNER_PARAMS | TOKEN_PARAMS
"""Query/form parameters a CRM reads a credential from, a signer injects or a token slot reads, and the
signers' secret option names (a config value printed as ``site_key=...``)."""

HEADERS = HeaderRules(CREDENTIAL_HEADERS, CREDENTIAL_PREFIXES)
"""The header hygiene in use: the CRMs' credential names declared by the registered dialects and signers."""
CLIENT_CREDENTIALS = HEADERS.credentials
outbound_headers = HEADERS.outbound
disguised = HEADERS.disguised
