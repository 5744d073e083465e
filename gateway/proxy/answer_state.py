"""The state of one answer as llhttp (httptools) reads it: status, headers (within aiohttp's client limits),
body pieces, whether it is complete and whether the connection may carry another request after it."""

from __future__ import annotations

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.answers.errors import AnswerBroken

MAX_FIELD = 8190
MAX_HEADERS = 128
"""aiohttp's client limits: the bytes of one header line, the number of headers."""
HIGH_WATER = 256 * 1024
"""Answer bytes buffered before the connection stops reading (the client is slower than the CRM)."""

_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


class AnswerState:
    """The parser's callbacks; the connection (gateway/proxy/connection.py) supplies ``_wake`` (the body or
    head moved on) and ``_pause`` (stop reading until the body is consumed)."""

    __slots__ = (
        "_body",
        "_buffered",
        "_complete",
        "_eof_ends",
        "_error",
        "_head_bytes",
        "_head_done",
        "_head_request",
        "_headers",
        "_parser",
        "_paused",
        "_reason",
        "headers",
        "keep_alive",
        "method",
        "seen",
        "status",
    )

    def __init__(self) -> None:
        self._parser: httptools.HttpResponseParser | None = None
        self._error: BaseException | None = None
        self.method = "GET"
        self._reset(False)

    def _wake(self) -> None:
        raise NotImplementedError

    def _pause(self) -> None:
        raise NotImplementedError

    def _reset(self, head_request: bool) -> None:
        self._head_request = head_request
        self._head_done = self._complete = self._paused = self._eof_ends = False
        self._head_bytes = self._buffered = 0
        self._headers: CIMultiDict[str] = CIMultiDict()
        self.headers = _NO_HEADERS
        self._reason = b""
        self._body: list[bytes] = []
        self.status = 0
        self.keep_alive = False
        self.seen = False
        """A byte of this answer arrived (else a reused connection the CRM closed may be retried)."""

    @property
    def reason(self) -> str:
        return self._reason.decode("utf-8", "surrogateescape")

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None else None

    def on_message_begin(self) -> None:
        if self._complete:  # a second answer to one request: the connection is out of step
            self.keep_alive = False

    def on_status(self, status: bytes) -> None:
        if not self._complete:
            self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._complete:
            return
        if len(name) + len(value) > MAX_FIELD or len(self._headers) >= MAX_HEADERS:
            self._error = AnswerBroken("the CRM's answer headers are too large")
            raise self._error
        self._headers.add(name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        assert self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the final one follows
            if status == 101:
                self._error = AnswerBroken("the CRM switched protocols")
                raise self._error
            self._headers = CIMultiDict()
            self._reason = b""
            return
        self.status = status
        self.headers = CIMultiDictProxy(self._headers)
        self._head_done = True
        self.keep_alive = self._parser.should_keep_alive()
        headers = self._headers
        if self._head_request:
            self._complete = True
            self._parser = None  # llhttp would wait for a body a HEAD answer never has
        elif (
            "Content-Length" not in headers and "chunked" not in headers.get("Transfer-Encoding", "").lower()
        ):
            self._eof_ends = status not in (204, 304)  # the body ends when the connection closes
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._complete:  # a body after a HEAD answer: the connection is out of step
            self.keep_alive = False
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER:
            self._pause()
        self._wake()

    def on_message_complete(self) -> None:
        if not self._head_done:
            return
        if not self._complete:
            self._complete = True
            self._eof_ends = False
            self._wake()
