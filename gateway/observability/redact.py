"""What no log line may carry: registered secrets, bearer tokens, JWT-shaped strings, credential values.

``redact`` replaces registered secrets (configured keys, passwords) and ``scrub`` replaces anything that
looks like a client credential whoever logs it: ``Bearer x``, ``eyJ...`` compact JWS/JWE, the value after
a credential parameter (``api_key=``, ``_authx=``, ``key=``...) or a credential header (``X-Api-Key:``,
with ``-``, ``_`` and ``.`` folded). ``RedactingFilter`` applies both to every record a handler emits,
aiohttp's and asyncio's included, traceback text too.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Final

from gateway.dialects import credentials
from gateway.secrets import Secret

REDACTED: Final = "[REDACTED]"
MIN_SECRET_LENGTH: Final = 4
"""Shorter values are not registered: redacting every ``ab`` would make logs unreadable."""

_SEP = r"[-_.]?"
HTTP_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")
GENERIC_CREDENTIAL_PARAMS = (
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
)
CREDENTIAL_HEADERS: Final = frozenset(HTTP_CREDENTIAL_HEADERS) | credentials.CREDENTIAL_HEADERS
"""HTTP's credential headers and every one a registered dialect or signer declares; and below, any header
starting with a declared prefix, and every declared credential parameter (``dialects/credentials.py``)."""
CREDENTIAL_PARAMS: Final = frozenset(GENERIC_CREDENTIAL_PARAMS) | credentials.CREDENTIAL_PARAMS


def _folded(name: str) -> str:
    """A header name pattern where each ``-`` may also be ``_``, ``.`` or nothing."""
    return _SEP.join(part for part in re.split(r"-(?![^\[]*\])", name))


def _longest_first(names: Iterable[str]) -> list[str]:
    return sorted(names, key=lambda n: (-len(n), n))


def _header_patterns() -> list[str]:
    """Header names are tokens of letters, digits and ``-``: no escaping needed."""
    prefixed = [prefix + r"[\w.-]*" for prefix in credentials.CREDENTIAL_PREFIXES]
    return [_folded(h) for h in _longest_first([*prefixed, *CREDENTIAL_HEADERS])]


_SCRUB: Final = re.compile(
    "|".join(
        (
            # a header line: everything to the end of the value (a repr's \r\n escape or a quote ends it)
            r"(?P<header>(?:" + "|".join(_header_patterns()) + r")\s*:\s*)"
            r"[^\r\n'\"\\]+",
            r"(?P<param>(?<![\w-])(?:" + "|".join(_longest_first(map(re.escape, CREDENTIAL_PARAMS))) + r")"
            r"(?:%5D|\])?=)"
            r"[^&\s'\"\\;]+",
            r"(?P<scheme>\b(?:bearer|basic)\s+)[\w~+/.=-]{10,}",
            r"eyJ[\w-]*(?:\.[\w-]*){1,4}",
        )
    ),
    re.IGNORECASE,
)


def _scrub_match(match: re.Match[str]) -> str:
    kept = match.group("header") or match.group("param") or match.group("scheme") or ""
    return kept + REDACTED


def scrub(text: str) -> str:
    """``text`` with client credentials replaced (see the module docstring)."""
    return _SCRUB.sub(_scrub_match, text)


class _SecretRegistry:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._json_pattern: re.Pattern[str] | None = None
        self._json_forms: tuple[str, ...] | None = ()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            self._pattern = _alternation(self._values)
            forms = self._values | {json.dumps(v)[1:-1] for v in self._values}
            self._json_pattern = _alternation(forms)
            self._json_forms = tuple(sorted(forms)) if len(forms) <= FEW_FORMS else None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = self._json_pattern = None
            self._json_forms = ()

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """Matches any registered value in plain text."""
        return self._pattern

    @property
    def json_pattern(self) -> re.Pattern[str] | None:
        """Matches any registered value as it appears inside a JSON-encoded string."""
        return self._json_pattern

    def in_json(self, text: str) -> bool:
        """Whether ``json_pattern`` finds a registered value in ``text``: a substring test per form
        while there are few (faster than the alternation), the pattern beyond ``FEW_FORMS``."""
        forms = self._json_forms
        if forms is None:
            pattern = self._json_pattern
            return pattern is not None and pattern.search(text) is not None
        return any(form in text for form in forms)


FEW_FORMS = 32
"""Up to this many registered forms, ``in_json`` tests each as a substring."""


def _alternation(values: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)))


SECRETS: Final = _SecretRegistry()


def register_secret(value: str | Secret) -> None:
    """Redact ``value`` wherever it appears in a log line from now on (process-wide)."""
    SECRETS.add(value.reveal() if isinstance(value, Secret) else value)


def forget_secrets() -> None:
    """Drop every registered secret (tests; a config reload that re-registers its own)."""
    SECRETS.clear()


def redact_registered(text: str) -> str:
    pattern = SECRETS.pattern
    return text if pattern is None else pattern.sub(REDACTED, text)


def redact(text: str) -> str:
    """Registered secrets and client credentials replaced."""
    return scrub(redact_registered(text))


class RedactingFilter(logging.Filter):
    """Redacts a record's formatted message (msg and args) and its traceback text before any handler
    formats it. Put it on handlers: a handler filter sees records from every logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the template alone, drop the args
            message, record.args = str(record.msg), None
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
