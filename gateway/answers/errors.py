"""Refusals of an upstream answer the gateway cannot make safe (rendered in the client's dialect)."""

from __future__ import annotations

from gateway.errors import BadGateway


class AnswerUnreadable(BadGateway):
    """The answer must be inspected and cannot be: an unknown encoding, corrupt or unparsable content."""

    reason = "answer-unreadable"


class AnswerTooLarge(BadGateway):
    """The answer must be inspected and is larger than the upstream's ``max_answer_bytes``."""

    reason = "answer-too-large"


class AnswerBroken(Exception):
    """The upstream's answer cannot be read to its end (connection closed or answer malformed); the
    message says why and carries no secret. The caller decides: BadGateway, or a cut connection."""
