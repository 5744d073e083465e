"""Bounded metric label values: every label is drawn from a known, finite set, else ``other``.

Record ids, raw paths, query strings and subjects never become label values: an entity or action
outside the known set, an upstream outside the config, an unknown reason, all map to ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.dialects.registry import vocabularies


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


OTHER = "other"
NONE = "none"
OPAQUE_LABEL = "opaque"
_OPAQUE_ENTITY = "<opaque>"

KNOWN_ENTITIES: frozenset[str] = frozenset().union(*(v.metric_entities for v in vocabularies()))
KNOWN_ACTIONS: frozenset[str] = frozenset().union(*(v.metric_actions for v in vocabularies()))

# The AuthenticationError reasons gateway/auth raises (jwt.py, slots.py, authenticator.py).
AUTH_REASONS: frozenset[str] = _words(
    """
    missing-token multiple-tokens token-too-large malformed-token invalid-token bad-signature
    unsupported-algorithm unknown-key wrong-issuer wrong-audience missing-claim invalid-claim
    token-expired token-not-yet-valid lifetime-too-long no-identity inactive-token token-revoked
    """
)
DECISIONS: frozenset[str] = frozenset({"allow", "deny", "shadow-deny", "error", "ratelimited"})
UPSTREAM_REJECT_REASONS: frozenset[str] = frozenset({"queue_full", "breaker_open"})
JWKS_OUTCOMES: frozenset[str] = frozenset({"ok", "not_modified", "error", "timeout", "invalid", "cooldown"})
LIMITER_FALLBACK_MODES: frozenset[str] = frozenset({"allow", "deny", "local", "memory"})
RELOAD_OUTCOMES: frozenset[str] = frozenset({"ok", "error", "unchanged"})
INTROSPECTION_OUTCOMES: frozenset[str] = frozenset({"active", "inactive", "refused", "error", "busy"})
REVOCATION_REASONS: frozenset[str] = frozenset({"jti", "sub", "client", "unavailable"})

_SAFE_FREE_VALUE = re.compile(r"[A-Za-z0-9_.:@/+#*=,-]{1,128}")


def _fold(name: str) -> str:
    """Entity labels match case-insensitively, ignoring underscores (the loosest dialect's comparison)."""
    return name.lower().replace("_", "")


def one_of(value: str | None, allowed: frozenset[str]) -> str:
    """``value`` when it is in ``allowed``, else ``other``."""
    return value if value is not None and value in allowed else OTHER


def status_class(status: int | None) -> str:
    """``2xx`` .. ``5xx`` (and ``1xx``); anything else, or no status at all, is ``other``."""
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return f"{status // 100}xx"
    return OTHER


def index_label(index: int | None) -> str:
    """A config index (issuer, identity) as a label; never a URL or a name."""
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 10_000:
        return str(index)
    return OTHER


class AdmittedValues:
    """A label whose values are not known in advance (rule names, opted-in principals): the first
    ``limit`` distinct well-formed values are admitted as themselves, every later one is ``other``."""

    __slots__ = ("_admitted", "_limit")

    def __init__(self, seed: Iterable[str] = (), *, limit: int) -> None:
        self._admitted: set[str] = {s for s in seed if _SAFE_FREE_VALUE.fullmatch(s)}
        self._limit = len(self._admitted) + max(0, limit)

    def __call__(self, value: str | None) -> str:
        if value is None or value == "":
            return NONE
        if value in self._admitted:
            return value
        if len(self._admitted) >= self._limit or not _SAFE_FREE_VALUE.fullmatch(value):
            return OTHER
        self._admitted.add(value)
        return value


class LabelBounds:
    """The known label sets of one gateway: upstream names from its config, entities and actions
    from the CRMs plus any named in policies, rule names from its rate-limit config."""

    def __init__(
        self,
        *,
        upstreams: Iterable[str] = (),
        entities: Iterable[str] = (),
        actions: Iterable[str] = (),
        rules: Iterable[str] = (),
        rule_limit: int = 64,
        principal_limit: int = 1000,
    ) -> None:
        self.upstreams: frozenset[str] = frozenset(upstreams)
        self.entities: frozenset[str] = KNOWN_ENTITIES | {e for e in entities if e and e != "*"}
        self.actions: frozenset[str] = KNOWN_ACTIONS | {a for a in actions if a and a != "*"}
        self._folded_entities = {_fold(e): e for e in sorted(self.entities)}
        self._folded_actions = {a.lower(): a for a in sorted(self.actions)}
        self.rule = AdmittedValues(rules, limit=rule_limit)
        self.principal = AdmittedValues(limit=principal_limit)

    def upstream(self, name: str | None) -> str:
        if name is None:
            return NONE
        return name if name in self.upstreams else OTHER

    def entity(self, name: str | None) -> str:
        if name is None:
            return NONE
        if name == _OPAQUE_ENTITY:
            return OPAQUE_LABEL
        if name in self.entities:
            return name
        return self._folded_entities.get(_fold(name), OTHER)

    def action(self, name: str | None, entity: str | None = None) -> str:
        """An opaque operation carries its route in ``action``: that never becomes a label."""
        if entity == _OPAQUE_ENTITY:
            return OPAQUE_LABEL
        if name is None:
            return NONE
        if name in self.actions:
            return name
        return self._folded_actions.get(name.lower(), OTHER)
