"""The process logger set-up: JSON or plain text lines on stderr, registered secrets redacted."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from gateway.observability.jsonlines import dumps, redact_values, rfc3339_now
from gateway.observability.redact import RedactingFilter, redact


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message"}`` (+ ``request_id``, ``exc`` when present)."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": rfc3339_now(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if isinstance(request_id, str):
            fields["request_id"] = request_id
        if record.exc_info:
            fields["exc"] = record.exc_text or self.formatException(record.exc_info)
        return dumps(redact_values(fields))


class RedactingFormatter(logging.Formatter):
    """Plain text lines, with registered secrets redacted (tracebacks included)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(
    level: int | str = "INFO", json: bool = True, *, stream: TextIO | None = None
) -> logging.Handler:
    """Send ``gateway.*`` logs at ``level`` (and other libraries' warnings) to ``stream`` (stderr),
    as JSON lines or plain text, through a RedactingFilter. Calling it again replaces the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    handler.set_name("crmgw")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "crmgw"]:
        root.removeHandler(old)
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    root.setLevel(max(numeric, logging.WARNING))
    logging.getLogger("gateway").setLevel(numeric)
    return handler
