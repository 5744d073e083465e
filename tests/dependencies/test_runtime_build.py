"""The gateway runs on aiohttp's compiled (llhttp) HTTP parser, not the pure-Python fallback, which is
slower and has had request-smuggling bugs of its own (GHSA-8495-4g3g-x7pr, GHSA-9548-qrrj-x5pj)."""

from __future__ import annotations

import os

import aiohttp.http_parser as http_parser
from aiohttp import web_protocol


def test_aiohttp_extensions_are_not_disabled() -> None:
    assert not os.environ.get("AIOHTTP_NO_EXTENSIONS"), "AIOHTTP_NO_EXTENSIONS is set"


def test_the_compiled_request_parser_is_in_use() -> None:
    compiled = getattr(http_parser, "HttpRequestParserC", None)
    assert compiled is not None, "aiohttp was installed without its C extensions"
    assert http_parser.HttpRequestParser is compiled
    assert getattr(web_protocol, "HttpRequestParser") is compiled  # noqa: B009 (not re-exported)
    assert compiled.__module__ == "aiohttp._http_parser"
