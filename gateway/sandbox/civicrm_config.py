"""The sandbox CiviCRM site's configuration: its keys, its AuthX settings and its contacts."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

DEFAULT_FLOW_CREDS: Mapping[str, tuple[str, ...]] = {
    # civicrm-core ext/authx/settings/authx.setting.php: every flow defaults to ['jwt'], these to both.
    "xheader": ("jwt", "api_key"),
    "header": ("jwt", "api_key"),
    "param": ("jwt", "api_key"),
    "legacyrest": ("jwt", "api_key"),
    "auto": ("jwt",),
    "login": ("jwt",),
}
DEFAULT_FLOW_USERS: Mapping[str, str] = {"legacyrest": "require"}
"""``authx_<flow>_user``: 'optional' unless listed ('require' or 'ignore')."""


@dataclass
class SandboxContact:
    id: int
    api_key: str | None
    display_name: str
    email: str = ""
    has_cms_user: bool = True
    permissions: frozenset[str] = frozenset()
    username: str | None = None
    password: str | None = None
    external_identifier: str | None = None
    extra_emails: tuple[str, ...] = ()

    @property
    def user_id(self) -> int | None:
        """The CMS user id (UFMatch) of this contact, if it has a CMS account."""
        return 1000 + self.id if self.has_cms_user else None

    def __repr__(self) -> str:
        return f"SandboxContact(id={self.id}, display_name={self.display_name!r}, user={self.has_cms_user})"


@dataclass
class CiviSandboxConfig:
    site_key: str
    sign_keys: str
    contacts: list[SandboxContact]
    authx_guards: tuple[str, ...] = ("site_key", "perm")
    authx_flow_creds: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_FLOW_CREDS))
    delay_seconds: float = 0.0
    authx_flow_users: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FLOW_USERS))
    clock: Callable[[], float] = time.time

    def contact(self, contact_id: int) -> SandboxContact | None:
        return next((c for c in self.contacts if c.id == contact_id), None)

    def __repr__(self) -> str:
        return f"CiviSandboxConfig(contacts={len(self.contacts)}, guards={self.authx_guards})"
