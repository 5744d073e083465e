"""Every refusal the gateway can give, as data; dialects render them for the client."""

from __future__ import annotations

from collections.abc import Mapping

STATUS_REASON = "X-Status-Reason"
"""The header in which a refusal's message also travels: many CRM clients show only the status line
and this header (EspoCRM's own convention), so every refusal carries it."""


class GatewayError(Exception):
    """A refusal with an HTTP status, a stable machine reason and a client-safe message.

    The message is shown to the client: it must never contain a token or secret.
    """

    status: int = 500
    reason: str = "internal-error"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(GatewayError):
    status = 400
    reason = "bad-request"


class AuthenticationError(GatewayError):
    """401: no usable gateway token. ``reason`` is a short code such as ``token-expired``."""

    status = 401
    reason = "invalid-token"

    def __init__(self, message: str, *, reason: str = "invalid-token") -> None:
        super().__init__(message, reason=reason)
        self.headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{reason}"'


class Forbidden(GatewayError):
    status = 403
    reason = "forbidden"


class NotFound(GatewayError):
    status = 404
    reason = "not-found"


class PayloadTooLarge(GatewayError):
    status = 413
    reason = "payload-too-large"


class RateLimited(GatewayError):
    status = 429
    reason = "rate-limited"

    def __init__(self, message: str, *, retry_after: int, headers: Mapping[str, str] | None = None) -> None:
        merged = dict(headers or {})
        merged["Retry-After"] = str(max(1, retry_after))
        super().__init__(message, headers=merged)
        self.retry_after = retry_after


class BadGateway(GatewayError):
    status = 502
    reason = "upstream-unavailable"


class ServiceUnavailable(GatewayError):
    status = 503
    reason = "unavailable"


class GatewayTimeout(GatewayError):
    status = 504
    reason = "upstream-timeout"


class ConfigError(Exception):
    """Bad configuration: says which file, line, key and why. Never carries a secret value."""

    def __init__(
        self, reason: str, *, file: str = "<config>", line: int | None = None, key: str = ""
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {key}: {reason}" if key else f"{where}: {reason}")


def status_reason(error: GatewayError) -> str:
    """The error's message as one line of printable ASCII, fit for the ``X-Status-Reason`` header."""
    cleaned = "".join(ch if " " <= ch <= "~" else "?" for ch in " ".join(error.message.split()))
    return cleaned[:200]
