"""The sandbox EspoCRM's configuration: its users (with their credentials) and its site settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class EspoUser:
    id: str
    user_name: str
    auth_method: str  # "ApiKey" | "Hmac" | "Password"
    api_key: str | None = None
    secret_key: str | None = None
    password: str | None = None
    token: str | None = None
    is_admin: bool = False
    is_portal: bool = False
    email: str | None = None

    @property
    def type(self) -> str:
        """``User.type``: admin, api, portal or regular."""
        if self.is_admin:
            return "admin"
        return "api" if self.is_api else "portal" if self.is_portal else "regular"

    def record(self) -> dict[str, object]:
        """What ``GET /User`` lists (never a credential)."""
        return {"id": self.id, "userName": self.user_name, "emailAddress": self.email, "type": self.type}

    @property
    def is_regular(self) -> bool:
        """``User::isRegular``: type ``regular`` (not admin, API, portal or system)."""
        return not (self.is_admin or self.is_api or self.is_portal)

    def __repr__(self) -> str:
        return f"EspoUser(id={self.id!r}, user_name={self.user_name!r}, auth_method={self.auth_method!r})"

    @property
    def is_api(self) -> bool:
        return self.auth_method in ("ApiKey", "Hmac")


@dataclass
class EspoSandboxConfig:
    users: list[EspoUser]
    base_path: str = ""
    max_failed_logins: int = 10
    attachment_size: int = 1024
    delay_seconds: float = 0.0
    clock: Callable[[], float] = time.time
    lockout_window_seconds: float = 60.0
    """EspoCRM's ``authFailedAttemptsPeriod`` (default 60 seconds)."""
    another_user_disabled: bool = False
    """EspoCRM's ``authAnotherUserDisabled``: refuse every ``X-Another-User``."""
